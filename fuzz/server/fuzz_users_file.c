/* libFuzzer target for the users-file parser (src/server/acl.h). Input: the file's bytes.
 * Checked: no crash or out-of-bounds access; a file that parses stays within the stated
 * bounds; every user, written back as its ACL LIST line, parses again to the same user
 * (permissions, key patterns, passwords, on/off). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/check.h"
#include "server/acl.h"

#define FUZZ_LINE_BYTES 16384

static void check_round_trip(const acl_user_t *u)
{
    static char line[FUZZ_LINE_BYTES];
    acl_user_describe(u, line, sizeof(line));
    assert(strlen(line) < sizeof(line) - 1);
    acl_t *again = NULL;
    char err[ACL_ERROR_BYTES];
    if (acl_parse(line, strlen(line), "list", &again, err, sizeof(err)) != 0) {
        /* Only an enabled user whose passwords were all reset is refused again. */
        assert(u->enabled && !u->nopass && u->password_count == 0);
        return;
    }
    assert(acl_user_count(again) == 1);
    const acl_user_t *v = acl_user_at(again, 0);
    assert(strcmp(u->name, v->name) == 0);
    assert(u->enabled == v->enabled);
    assert(u->nopass == v->nopass);
    assert(memcmp(u->allowed, v->allowed, sizeof(u->allowed)) == 0);
    assert(u->allkeys == v->allkeys);
    assert(u->password_count == v->password_count);
    assert(memcmp(u->passwords, v->passwords, sizeof(u->passwords[0]) * u->password_count) == 0);
    if (!u->allkeys) {
        assert(u->pattern_count == v->pattern_count);
        for (uint32_t i = 0; i < u->pattern_count; i++) {
            assert(strcmp(u->patterns[i], v->patterns[i]) == 0);
        }
    }
    acl_free(again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    acl_t *acl = NULL;
    char err[ACL_ERROR_BYTES];
    if (acl_parse((const char *)data, size, "fuzz", &acl, err, sizeof(err)) != 0) {
        assert(acl == NULL);
        assert(strncmp(err, "fuzz:", 5) == 0);
        return 0;
    }
    uint32_t count = acl_user_count(acl);
    assert(count <= ACL_USERS_MAX);
    for (uint32_t i = 0; i < count; i++) {
        const acl_user_t *u = acl_user_at(acl, i);
        assert(strlen(u->name) > 0 && strlen(u->name) < ACL_NAME_BYTES_MAX);
        assert(u->password_count <= ACL_PASSWORDS_MAX);
        assert(u->pattern_count <= ACL_PATTERNS_MAX);
        assert(i == 0 || strcmp(acl_user_at(acl, i - 1)->name, u->name) < 0);
        assert(acl_find_user(acl, (const uint8_t *)u->name, strlen(u->name)) == u);
        for (uint32_t p = 0; p < u->pattern_count; p++) {
            /* Matching a pattern against itself and the input is bounded and safe. */
            (void)acl_user_may_access(u, (const uint8_t *)u->patterns[p], strlen(u->patterns[p]));
        }
        (void)acl_user_may_access(u, data, size < 512 ? size : 512);
        check_round_trip(u);
    }
    acl_free(acl);
    return 0;
}
