/* Unit tests of the users file, the permission checks, key patterns, passwords and the
 * protected-mode address classifier (src/server/acl.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "server/acl.h"
#include "server/config.h"

/* SHA-256 of "secret". */
#define SECRET_HASH "2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b"

static acl_t *parse_ok(const char *text)
{
    acl_t *acl = NULL;
    char err[ACL_ERROR_BYTES];
    int rc = acl_parse(text, strlen(text), "users.acl", &acl, err, sizeof(err));
    if (rc != 0) {
        fail_msg("unexpected parse error: %s", err);
    }
    return acl;
}

static void parse_fails(const char *text, const char *expected)
{
    acl_t *acl = NULL;
    char err[ACL_ERROR_BYTES];
    assert_int_equal(acl_parse(text, strlen(text), "users.acl", &acl, err, sizeof(err)), -1);
    assert_null(acl);
    if (strstr(err, expected) == NULL) {
        fail_msg("error '%s' does not contain '%s'", err, expected);
    }
}

static int cmd(const char *name, const char *sub)
{
    return acl_command_lookup((const uint8_t *)name, (uint32_t)strlen(name), (const uint8_t *)sub,
                              sub != NULL ? (uint32_t)strlen(sub) : 0);
}

static bool key_ok(const acl_user_t *u, const char *key)
{
    return acl_user_may_access(u, (const uint8_t *)key, strlen(key));
}

static const acl_user_t *user(const acl_t *acl, const char *name)
{
    const acl_user_t *u = acl_find_user(acl, (const uint8_t *)name, strlen(name));
    assert_non_null(u);
    return u;
}

static void parse_users_and_rules(void **state)
{
    (void)state;
    acl_t *acl = parse_ok("# comment\n"
                          "\n"
                          "user default off\n"
                          "user alice on #" SECRET_HASH " ~app:* ~tmp:? +@read +@write -del\n"
                          "user admin on #" SECRET_HASH " allkeys allcommands\n"
                          "user mon on nopass +info +client|list\n");
    assert_int_equal(acl_user_count(acl), 4);
    /* Sorted by name. */
    assert_string_equal(acl_user_at(acl, 0)->name, "admin");
    assert_string_equal(acl_user_at(acl, 3)->name, "mon");
    assert_null(acl_initial_user(acl));
    assert_false(acl_default_is_open(acl));

    const acl_user_t *alice = user(acl, "alice");
    assert_true(acl_user_may_run(alice, cmd("get", NULL)));
    assert_true(acl_user_may_run(alice, cmd("SET", NULL)));
    assert_true(acl_user_may_run(alice, cmd("exists", NULL)));
    assert_false(acl_user_may_run(alice, cmd("del", NULL)));
    assert_false(acl_user_may_run(alice, cmd("config", NULL)));
    assert_false(acl_user_may_run(alice, cmd("ballot.transfer", NULL)));
    assert_false(acl_user_may_run(alice, cmd("client", "list")));
    assert_false(acl_user_may_run(alice, cmd("info", NULL)));
    assert_false(acl_user_may_run(alice, cmd("nosuch", NULL)));
    assert_true(key_ok(alice, "app:1"));
    assert_true(key_ok(alice, "tmp:x"));
    assert_false(key_ok(alice, "tmp:xy"));
    assert_false(key_ok(alice, "other"));
    assert_false(acl_user_unrestricted(alice));

    const acl_user_t *admin = user(acl, "admin");
    assert_true(acl_user_unrestricted(admin));

    const acl_user_t *mon = user(acl, "mon");
    assert_true(acl_user_may_run(mon, cmd("client", "list")));
    assert_false(acl_user_may_run(mon, cmd("client", "kill")));
    /* An unknown subcommand maps to an entry only @admin grants. */
    assert_false(acl_user_may_run(mon, cmd("client", "bogus")));
    assert_true(acl_user_may_run(admin, cmd("client", "bogus")));
    assert_false(key_ok(mon, "anything"));

    char line[4096];
    acl_user_describe(alice, line, sizeof(line));
    assert_string_equal(line, "user alice on #" SECRET_HASH
                              " ~app:* ~tmp:? resetchannels -@all +@read +@write -del");
    acl_user_describe(user(acl, "default"), line, sizeof(line));
    assert_string_equal(line, "user default off resetchannels -@all");
    acl_free(acl);
}

static void parse_default_nopass(void **state)
{
    (void)state;
    acl_t *acl = parse_ok("user default on nopass ~* +@read\n");
    assert_true(acl_default_is_open(acl));
    const acl_user_t *d = acl_initial_user(acl);
    assert_non_null(d);
    assert_true(acl_user_may_run(d, cmd("get", NULL)));
    assert_false(acl_user_may_run(d, cmd("set", NULL)));
    acl_free(acl);

    acl_t *open = acl_open();
    assert_true(acl_default_is_open(open));
    assert_true(acl_user_unrestricted(acl_initial_user(open)));
    acl_free(open); /* ignored: static */
}

static void parse_errors_name_line(void **state)
{
    (void)state;
    parse_fails("user a on nopass\nuser b on #abc\n", "users.acl:2: '#' must be followed");
    parse_fails("user a on nopass\n\nuser a off\n", "users.acl:3: user 'a' is defined twice");
    parse_fails("usr a on\n", "users.acl:1: expected `user NAME RULE...`");
    parse_fails("user\n", "users.acl:1: user name missing");
    parse_fails("user a on >plain\n", "users.acl:1: plaintext passwords");
    parse_fails("user a on nopass +@nosuch\n", "users.acl:1: unknown command category 'nosuch'");
    parse_fails("user a on nopass +lpush\n", "users.acl:1: unknown command 'lpush'");
    parse_fails("user a on nopass +client|nosuch\n", "unknown command 'client|nosuch'");
    parse_fails("user a on nopass sideways\n", "users.acl:1: unknown rule 'sideways'");
    parse_fails("user a on\n", "users.acl:1: user 'a' is on but has no password");
    parse_fails("user a on nopass ~\n", "users.acl:1: key pattern");
    parse_fails("user a on nopass %R~x\n", "not supported");
    {
        static const char nul[] = "user a on nopass\nuser b o\0n\n";
        acl_t *acl = NULL;
        char err[ACL_ERROR_BYTES];
        assert_int_equal(acl_parse(nul, sizeof(nul) - 1, "users.acl", &acl, err, sizeof(err)), -1);
        assert_non_null(strstr(err, "users.acl:2: the line holds a NUL byte"));
    }
    char *big = malloc(ACL_LINE_BYTES_MAX + 16);
    assert_non_null(big);
    memset(big, 'x', ACL_LINE_BYTES_MAX + 8);
    big[ACL_LINE_BYTES_MAX + 8] = '\0';
    parse_fails(big, "users.acl:1: line longer than");
    free(big);
}

static void load_file_errors(void **state)
{
    (void)state;
    acl_t *acl = NULL;
    char err[ACL_ERROR_BYTES];
    assert_int_equal(acl_load_file("/nonexistent/users.acl", &acl, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "/nonexistent/users.acl: cannot open"));
    char path[] = "/tmp/ballot-acl-test-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char text[] = "user default off\nuser ops on #" SECRET_HASH " +@all ~*\nuser x on\n";
    assert_int_equal(write(fd, text, sizeof(text) - 1), (ssize_t)(sizeof(text) - 1));
    close(fd);
    assert_int_equal(acl_load_file(path, &acl, err, sizeof(err)), -1);
    char expected[64];
    snprintf(expected, sizeof(expected), "%s:3:", path);
    assert_non_null(strstr(err, expected));
    unlink(path);
}

static void passwords(void **state)
{
    (void)state;
    acl_t *acl = parse_ok("user a on #" SECRET_HASH "\nuser b off #" SECRET_HASH "\n"
                          "user c on nopass\n");
    uint8_t pw[] = "secret";
    assert_true(acl_authenticate(user(acl, "a"), pw, 6));
    /* The plaintext is wiped. */
    assert_memory_equal(pw, "\0\0\0\0\0\0", 6);
    uint8_t wrong[] = "secreT";
    assert_false(acl_authenticate(user(acl, "a"), wrong, 6));
    uint8_t pw2[] = "secret";
    assert_false(acl_authenticate(user(acl, "b"), pw2, 6)); /* disabled */
    uint8_t any[] = "anything";
    assert_true(acl_authenticate(user(acl, "c"), any, 8));
    uint8_t none[] = "secret";
    assert_false(acl_authenticate(NULL, none, 6));
    char hex[2 * ACL_HASH_BYTES + 1];
    acl_hash_hex("secret", 6, hex);
    assert_string_equal(hex, SECRET_HASH);
    acl_free(acl);
}

static bool glob(const char *pattern, const char *text)
{
    return acl_glob_match(pattern, strlen(pattern), (const uint8_t *)text, strlen(text));
}

static void glob_patterns(void **state)
{
    (void)state;
    assert_true(glob("*", ""));
    assert_true(glob("app:*", "app:"));
    assert_true(glob("app:*", "app:x:y"));
    assert_false(glob("app:*", "ap"));
    assert_false(glob("app:*", "APP:x"));
    assert_true(glob("a?c", "abc"));
    assert_false(glob("a?c", "ac"));
    assert_true(glob("a*b*c", "aXXbYYc"));
    assert_false(glob("a*b*c", "aXXbYY"));
    assert_true(glob("[abc]x", "bx"));
    assert_false(glob("[abc]x", "dx"));
    assert_true(glob("[^abc]x", "dx"));
    assert_true(glob("[a-c]", "b"));
    assert_true(glob("[c-a]", "b"));
    assert_false(glob("[a-c]", "d"));
    assert_true(glob("\\*", "*"));
    assert_false(glob("\\*", "x"));
    assert_true(glob("[", "["));
    assert_true(glob("*x*x*x*x*y", "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxy"));
    assert_false(glob("*x*x*x*x*y", "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"));
}

static void loopback_addresses(void **state)
{
    (void)state;
    assert_true(acl_addr_is_loopback("127.0.0.1:5000"));
    assert_true(acl_addr_is_loopback("127.0.0.2:5000"));
    assert_true(acl_addr_is_loopback("127.255.1.9:1"));
    assert_true(acl_addr_is_loopback("::1:5000"));
    assert_true(acl_addr_is_loopback("::ffff:127.0.0.1:5000"));
    assert_false(acl_addr_is_loopback("10.0.0.1:5000"));
    assert_false(acl_addr_is_loopback("192.0.2.1:5000"));
    assert_false(acl_addr_is_loopback("128.0.0.1:5000"));
    assert_false(acl_addr_is_loopback("::2:5000"));
    assert_false(acl_addr_is_loopback("fe80::1:5000"));
    assert_false(acl_addr_is_loopback("::ffff:10.0.0.1:5000"));
    assert_false(acl_addr_is_loopback("?"));
    assert_false(acl_addr_is_loopback(""));
}

static void catalogue(void **state)
{
    (void)state;
    char name[ACL_COMMAND_NAME_BYTES];
    for (uint32_t i = 0; i < acl_command_count(); i++) {
        /* Every command is in at least one category. */
        assert_true(acl_command_categories(i) != 0);
        acl_command_name(i, name, sizeof(name));
        assert_true(strlen(name) > 0);
    }
    assert_true(acl_category_find((const uint8_t *)"ADMIN", 5) == ACL_CAT_ADMIN);
    assert_true(acl_category_find((const uint8_t *)"all", 3) == 0);
    uint32_t admin_only[] = {
        (uint32_t)cmd("config", NULL),   (uint32_t)cmd("ballot.transfer", NULL),
        (uint32_t)cmd("client", "list"), (uint32_t)cmd("client", "kill"),
        (uint32_t)cmd("acl", "list"),    (uint32_t)cmd("info", NULL)};
    for (size_t i = 0; i < sizeof(admin_only) / sizeof(admin_only[0]); i++) {
        assert_true((acl_command_categories(admin_only[i]) & ACL_CAT_ADMIN) != 0);
    }
}

static void config_flags(void **state)
{
    (void)state;
    static server_config_t cfg;
    char err[CONFIG_ERROR_BYTES];
    char *argv1[] = {"ballotd", "--id", "1", "--data-dir", "/tmp/x", "--client", "127.0.0.1:1"};
    assert_int_equal(config_parse(&cfg, 7, argv1, err, sizeof(err)), CONFIG_OK);
    assert_true(cfg.protected_mode);
    assert_true(acl_default_is_open(cfg.acl));
    config_release(&cfg);
    char *argv2[] = {"ballotd", "--id",     "1",           "--data-dir",
                     "/tmp/x",  "--client", "127.0.0.1:1", "--protected-mode",
                     "no"};
    assert_int_equal(config_parse(&cfg, 9, argv2, err, sizeof(err)), CONFIG_OK);
    assert_false(cfg.protected_mode);
    config_release(&cfg);
    char *argv3[] = {"ballotd",     "--id",         "1",
                     "--data-dir",  "/tmp/x",       "--client",
                     "127.0.0.1:1", "--users-file", "/nonexistent/users"};
    assert_int_equal(config_parse(&cfg, 9, argv3, err, sizeof(err)), CONFIG_ERROR);
    assert_non_null(strstr(err, "--users-file: /nonexistent/users: cannot open"));
    char *argv4[] = {"ballotd", "--id",     "1",           "--data-dir",
                     "/tmp/x",  "--client", "127.0.0.1:1", "--protected-mode",
                     "maybe"};
    assert_int_equal(config_parse(&cfg, 9, argv4, err, sizeof(err)), CONFIG_ERROR);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parse_users_and_rules),
        cmocka_unit_test(parse_default_nopass),
        cmocka_unit_test(parse_errors_name_line),
        cmocka_unit_test(load_file_errors),
        cmocka_unit_test(passwords),
        cmocka_unit_test(glob_patterns),
        cmocka_unit_test(loopback_addresses),
        cmocka_unit_test(catalogue),
        cmocka_unit_test(config_flags),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
