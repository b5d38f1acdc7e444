/* Users, passwords, command categories and key patterns (acl.h; docs/security.md). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "server/acl.h"

struct acl {
    acl_user_t *users; /* sorted by name */
    uint32_t count;
    uint32_t cap;
};

static acl_user_t acl_open_user;
static acl_t acl_open_set = {.users = &acl_open_user, .count = 1, .cap = 1};

/* ---- the command catalogue ---- */

typedef struct acl_command {
    const char *name;
    const char *sub; /* NULL: the whole command; "*": any subcommand not listed */
    uint32_t cats;
} acl_command_t;

#define CAT_ADMIN_ONLY (ACL_CAT_ADMIN | ACL_CAT_SLOW | ACL_CAT_DANGEROUS)

/* Redis's categories for the commands Redis has; INFO is also @admin here (Redis has it in
 * @dangerous only) so that "+@admin" is enough for an operator. */
static const acl_command_t acl_commands[] = {
    {"get", NULL, ACL_CAT_READ | ACL_CAT_STRING | ACL_CAT_FAST},
    {"set", NULL, ACL_CAT_WRITE | ACL_CAT_STRING | ACL_CAT_SLOW},
    {"del", NULL, ACL_CAT_KEYSPACE | ACL_CAT_WRITE | ACL_CAT_SLOW},
    {"exists", NULL, ACL_CAT_KEYSPACE | ACL_CAT_READ | ACL_CAT_FAST},
    {"incr", NULL, ACL_CAT_WRITE | ACL_CAT_STRING | ACL_CAT_FAST},
    {"cas", NULL, ACL_CAT_WRITE | ACL_CAT_STRING | ACL_CAT_SLOW},
    {"dbsize", NULL, ACL_CAT_KEYSPACE | ACL_CAT_READ | ACL_CAT_FAST},
    {"incrby", NULL, ACL_CAT_WRITE | ACL_CAT_STRING | ACL_CAT_FAST},
    {"decr", NULL, ACL_CAT_WRITE | ACL_CAT_STRING | ACL_CAT_FAST},
    {"decrby", NULL, ACL_CAT_WRITE | ACL_CAT_STRING | ACL_CAT_FAST},
    {"incrbyfloat", NULL, ACL_CAT_WRITE | ACL_CAT_STRING | ACL_CAT_FAST},
    {"mget", NULL, ACL_CAT_READ | ACL_CAT_STRING | ACL_CAT_FAST},
    {"mset", NULL, ACL_CAT_WRITE | ACL_CAT_STRING | ACL_CAT_SLOW},
    {"msetnx", NULL, ACL_CAT_WRITE | ACL_CAT_STRING | ACL_CAT_SLOW},
    {"append", NULL, ACL_CAT_WRITE | ACL_CAT_STRING | ACL_CAT_FAST},
    {"strlen", NULL, ACL_CAT_READ | ACL_CAT_STRING | ACL_CAT_FAST},
    {"getrange", NULL, ACL_CAT_READ | ACL_CAT_STRING | ACL_CAT_SLOW},
    {"substr", NULL, ACL_CAT_READ | ACL_CAT_STRING | ACL_CAT_SLOW},
    {"setrange", NULL, ACL_CAT_WRITE | ACL_CAT_STRING | ACL_CAT_SLOW},
    {"setnx", NULL, ACL_CAT_WRITE | ACL_CAT_STRING | ACL_CAT_FAST},
    {"getset", NULL, ACL_CAT_WRITE | ACL_CAT_STRING | ACL_CAT_FAST},
    {"getdel", NULL, ACL_CAT_WRITE | ACL_CAT_STRING | ACL_CAT_FAST},
    {"getex", NULL, ACL_CAT_WRITE | ACL_CAT_STRING | ACL_CAT_FAST},
    {"setex", NULL, ACL_CAT_WRITE | ACL_CAT_STRING | ACL_CAT_SLOW},
    {"psetex", NULL, ACL_CAT_WRITE | ACL_CAT_STRING | ACL_CAT_SLOW},
    {"unlink", NULL, ACL_CAT_KEYSPACE | ACL_CAT_WRITE | ACL_CAT_FAST},
    {"type", NULL, ACL_CAT_KEYSPACE | ACL_CAT_READ | ACL_CAT_FAST},
    {"rename", NULL, ACL_CAT_KEYSPACE | ACL_CAT_WRITE | ACL_CAT_SLOW},
    {"renamenx", NULL, ACL_CAT_KEYSPACE | ACL_CAT_WRITE | ACL_CAT_FAST},
    {"copy", NULL, ACL_CAT_KEYSPACE | ACL_CAT_WRITE | ACL_CAT_SLOW},
    {"keys", NULL, ACL_CAT_KEYSPACE | ACL_CAT_READ | ACL_CAT_SLOW | ACL_CAT_DANGEROUS},
    {"scan", NULL, ACL_CAT_KEYSPACE | ACL_CAT_READ | ACL_CAT_SLOW},
    {"randomkey", NULL, ACL_CAT_KEYSPACE | ACL_CAT_READ | ACL_CAT_SLOW},
    {"touch", NULL, ACL_CAT_KEYSPACE | ACL_CAT_READ | ACL_CAT_FAST},
    {"flushdb", NULL, CAT_ADMIN_ONLY | ACL_CAT_KEYSPACE | ACL_CAT_WRITE},
    {"flushall", NULL, CAT_ADMIN_ONLY | ACL_CAT_KEYSPACE | ACL_CAT_WRITE},
    {"expire", NULL, ACL_CAT_KEYSPACE | ACL_CAT_WRITE | ACL_CAT_FAST},
    {"pexpire", NULL, ACL_CAT_KEYSPACE | ACL_CAT_WRITE | ACL_CAT_FAST},
    {"expireat", NULL, ACL_CAT_KEYSPACE | ACL_CAT_WRITE | ACL_CAT_FAST},
    {"pexpireat", NULL, ACL_CAT_KEYSPACE | ACL_CAT_WRITE | ACL_CAT_FAST},
    {"persist", NULL, ACL_CAT_KEYSPACE | ACL_CAT_WRITE | ACL_CAT_FAST},
    {"ttl", NULL, ACL_CAT_KEYSPACE | ACL_CAT_READ | ACL_CAT_FAST},
    {"pttl", NULL, ACL_CAT_KEYSPACE | ACL_CAT_READ | ACL_CAT_FAST},
    {"expiretime", NULL, ACL_CAT_KEYSPACE | ACL_CAT_READ | ACL_CAT_FAST},
    {"pexpiretime", NULL, ACL_CAT_KEYSPACE | ACL_CAT_READ | ACL_CAT_FAST},
    {"multi", NULL, ACL_CAT_TRANSACTION | ACL_CAT_FAST},
    {"exec", NULL, ACL_CAT_TRANSACTION | ACL_CAT_SLOW},
    {"discard", NULL, ACL_CAT_TRANSACTION | ACL_CAT_FAST},
    {"watch", NULL, ACL_CAT_TRANSACTION | ACL_CAT_FAST},
    {"unwatch", NULL, ACL_CAT_TRANSACTION | ACL_CAT_FAST},
    {"reset", NULL, ACL_CAT_FAST | ACL_CAT_CONNECTION},
    {"eval", NULL, ACL_CAT_SCRIPTING | ACL_CAT_SLOW},
    {"evalsha", NULL, ACL_CAT_SCRIPTING | ACL_CAT_SLOW},
    {"script", NULL, ACL_CAT_SCRIPTING | ACL_CAT_SLOW},
    {"ping", NULL, ACL_CAT_FAST | ACL_CAT_CONNECTION},
    {"echo", NULL, ACL_CAT_FAST | ACL_CAT_CONNECTION},
    {"select", NULL, ACL_CAT_FAST | ACL_CAT_CONNECTION},
    {"quit", NULL, ACL_CAT_FAST | ACL_CAT_CONNECTION},
    {"readonly", NULL, ACL_CAT_FAST | ACL_CAT_CONNECTION},
    {"readwrite", NULL, ACL_CAT_FAST | ACL_CAT_CONNECTION},
    {"auth", NULL, ACL_CAT_FAST | ACL_CAT_CONNECTION},
    {"hello", NULL, ACL_CAT_FAST | ACL_CAT_CONNECTION},
    {"time", NULL, ACL_CAT_FAST},
    {"command", NULL, ACL_CAT_SLOW | ACL_CAT_CONNECTION},
    {"info", NULL, ACL_CAT_ADMIN | ACL_CAT_SLOW | ACL_CAT_DANGEROUS},
    {"config", NULL, CAT_ADMIN_ONLY},
    {"ballot.transfer", NULL, CAT_ADMIN_ONLY},
    {"ballot.snapshot", NULL, CAT_ADMIN_ONLY},
    {"slowlog", NULL, CAT_ADMIN_ONLY},
    {"cluster", NULL, ACL_CAT_SLOW},
    {"ballot.member", NULL, CAT_ADMIN_ONLY},
    {"client", "setname", ACL_CAT_SLOW | ACL_CAT_CONNECTION},
    {"client", "getname", ACL_CAT_SLOW | ACL_CAT_CONNECTION},
    {"client", "id", ACL_CAT_SLOW | ACL_CAT_CONNECTION},
    {"client", "info", ACL_CAT_SLOW | ACL_CAT_CONNECTION},
    {"client", "setinfo", ACL_CAT_SLOW | ACL_CAT_CONNECTION},
    {"client", "no-touch", ACL_CAT_SLOW | ACL_CAT_CONNECTION},
    {"client", "reply", ACL_CAT_SLOW | ACL_CAT_CONNECTION},
    {"client", "no-evict", CAT_ADMIN_ONLY | ACL_CAT_CONNECTION},
    {"client", "list", CAT_ADMIN_ONLY | ACL_CAT_CONNECTION},
    {"client", "kill", CAT_ADMIN_ONLY | ACL_CAT_CONNECTION},
    {"client", "*", CAT_ADMIN_ONLY | ACL_CAT_CONNECTION},
    {"acl", "whoami", ACL_CAT_SLOW},
    {"acl", "cat", ACL_CAT_SLOW},
    {"acl", "list", CAT_ADMIN_ONLY},
    {"acl", "users", CAT_ADMIN_ONLY},
    {"acl", "*", CAT_ADMIN_ONLY},
};
#define ACL_COMMAND_COUNT (sizeof(acl_commands) / sizeof(acl_commands[0]))
_Static_assert(ACL_COMMAND_COUNT <= 64u * ACL_COMMANDS_WORDS,
               "one bit per command in acl_user_t.allowed");

static const struct {
    const char *name;
    uint32_t bit;
} acl_categories[] = {
    {"keyspace", ACL_CAT_KEYSPACE},
    {"read", ACL_CAT_READ},
    {"write", ACL_CAT_WRITE},
    {"string", ACL_CAT_STRING},
    {"fast", ACL_CAT_FAST},
    {"slow", ACL_CAT_SLOW},
    {"admin", ACL_CAT_ADMIN},
    {"dangerous", ACL_CAT_DANGEROUS},
    {"connection", ACL_CAT_CONNECTION},
    {"transaction", ACL_CAT_TRANSACTION},
    {"scripting", ACL_CAT_SCRIPTING},
};
#define ACL_CATEGORY_COUNT (sizeof(acl_categories) / sizeof(acl_categories[0]))
/* The catalogue's bit set. */
typedef struct acl_bits {
    uint64_t w[ACL_COMMANDS_WORDS];
} acl_bits_t;

static void acl_bits_all(uint64_t *bits)
{
    for (uint32_t i = 0; i < ACL_COMMANDS_WORDS; i++) {
        uint32_t from = i * 64u;
        uint32_t n = ACL_COMMAND_COUNT > from ? (uint32_t)ACL_COMMAND_COUNT - from : 0u;
        bits[i] = n >= 64u ? UINT64_MAX : (UINT64_C(1) << n) - 1u;
    }
}

static bool acl_bits_are_all(const uint64_t *bits)
{
    uint64_t all[ACL_COMMANDS_WORDS];
    acl_bits_all(all);
    return memcmp(all, bits, sizeof(all)) == 0;
}

static void acl_bits_clear(uint64_t *bits)
{
    memset(bits, 0, ACL_COMMANDS_WORDS * sizeof(uint64_t));
}

uint32_t acl_command_count(void)
{
    return (uint32_t)ACL_COMMAND_COUNT;
}

const char *acl_command_name(uint32_t index, char *buf, size_t buf_bytes)
{
    const acl_command_t *c = &acl_commands[index];
    if (c->sub == NULL) {
        snprintf(buf, buf_bytes, "%s", c->name);
    } else {
        snprintf(buf, buf_bytes, "%s|%s", c->name, c->sub);
    }
    return buf;
}

uint32_t acl_command_categories(uint32_t index)
{
    return acl_commands[index].cats;
}

static bool acl_word_is(const uint8_t *word, size_t size, const char *name)
{
    return strlen(name) == size && strncasecmp((const char *)word, name, size) == 0;
}

int acl_command_lookup(const uint8_t *name, uint32_t size, const uint8_t *sub, uint32_t sub_size)
{
    int any = -1;
    for (uint32_t i = 0; i < ACL_COMMAND_COUNT; i++) {
        const acl_command_t *c = &acl_commands[i];
        if (!acl_word_is(name, size, c->name)) {
            continue;
        }
        if (c->sub == NULL) {
            return (int)i;
        }
        if (strcmp(c->sub, "*") == 0) {
            any = (int)i;
        } else if (sub != NULL && acl_word_is(sub, sub_size, c->sub)) {
            return (int)i;
        }
    }
    return any;
}

uint32_t acl_category_count(void)
{
    return (uint32_t)ACL_CATEGORY_COUNT;
}

const char *acl_category_name(uint32_t index)
{
    return acl_categories[index].name;
}

uint32_t acl_category_bit(uint32_t index)
{
    return acl_categories[index].bit;
}

uint32_t acl_category_find(const uint8_t *name, size_t size)
{
    for (size_t i = 0; i < ACL_CATEGORY_COUNT; i++) {
        if (acl_word_is(name, size, acl_categories[i].name)) {
            return acl_categories[i].bit;
        }
    }
    return 0;
}

/* ---- matching ---- */

/* Does the one-character token at pattern[*at] (not '*') match c? Advances *at past it. */
static bool acl_glob_token(const char *pattern, size_t size, size_t *at, uint8_t c)
{
    size_t p = *at;
    if (pattern[p] == '?') {
        *at = p + 1;
        return true;
    }
    if (pattern[p] == '\\' && p + 1 < size) {
        *at = p + 2;
        return (uint8_t)pattern[p + 1] == c;
    }
    if (pattern[p] == '[') {
        size_t close = p + 1;
        if (close < size && pattern[close] == '^') {
            close++;
        }
        /* Bounded by the pattern's size. */
        while (close < size && pattern[close] != ']') {
            close += (pattern[close] == '\\' && close + 1 < size) ? 2u : 1u;
        }
        if (close < size) {
            size_t q = p + 1;
            bool negate = pattern[q] == '^';
            q += negate ? 1u : 0u;
            bool hit = false;
            while (q < close) {
                if (pattern[q] == '\\' && q + 1 < close) {
                    hit = hit || (uint8_t)pattern[q + 1] == c;
                    q += 2;
                } else if (q + 2 < close && pattern[q + 1] == '-') {
                    uint8_t lo = (uint8_t)pattern[q];
                    uint8_t hi = (uint8_t)pattern[q + 2];
                    if (lo > hi) {
                        uint8_t t = lo;
                        lo = hi;
                        hi = t;
                    }
                    hit = hit || (c >= lo && c <= hi);
                    q += 3;
                } else {
                    hit = hit || (uint8_t)pattern[q] == c;
                    q++;
                }
            }
            *at = close + 1;
            return negate ? !hit : hit;
        }
        /* No closing ']': a literal '['. */
    }
    *at = p + 1;
    return (uint8_t)pattern[p] == c;
}

bool acl_glob_match(const char *pattern, size_t pattern_size, const uint8_t *text, size_t text_size)
{
    size_t p = 0;
    size_t t = 0;
    size_t star_p = SIZE_MAX;
    size_t star_t = 0;
    /* Every token matches one character, so returning to the last '*' with one more
     * character swallowed is enough: at most pattern_size * text_size steps. */
    while (t < text_size) {
        if (p < pattern_size && pattern[p] == '*') {
            while (p < pattern_size && pattern[p] == '*') {
                p++;
            }
            if (p == pattern_size) {
                return true;
            }
            star_p = p;
            star_t = t;
            continue;
        }
        size_t next = p;
        if (p < pattern_size && acl_glob_token(pattern, pattern_size, &next, text[t])) {
            p = next;
            t++;
        } else if (star_p != SIZE_MAX) {
            p = star_p;
            t = ++star_t;
        } else {
            return false;
        }
    }
    while (p < pattern_size && pattern[p] == '*') {
        p++;
    }
    return p == pattern_size;
}

bool acl_addr_is_loopback(const char *peer_text)
{
    const char *colon = strrchr(peer_text, ':');
    if (colon == NULL) {
        return false;
    }
    size_t host = (size_t)(colon - peer_text);
    if (host >= 4 && strncmp(peer_text, "127.", 4) == 0) {
        return true;
    }
    if (host == 3 && strncmp(peer_text, "::1", 3) == 0) {
        return true;
    }
    return host > 11 && strncasecmp(peer_text, "::ffff:127.", 11) == 0;
}

/* ---- users ---- */

bool acl_user_unrestricted(const acl_user_t *user)
{
    return user->allkeys && acl_bits_are_all(user->allowed);
}

bool acl_user_may_run(const acl_user_t *user, int command)
{
    return command >= 0 && (uint32_t)command < ACL_COMMAND_COUNT &&
           (user->allowed[(uint32_t)command / 64u] & (UINT64_C(1) << ((uint32_t)command % 64u))) !=
               0;
}

bool acl_user_may_access(const acl_user_t *user, const uint8_t *key, size_t size)
{
    if (user->allkeys) {
        return true;
    }
    for (uint32_t i = 0; i < user->pattern_count; i++) {
        const char *p = user->patterns[i];
        if (acl_glob_match(p, strlen(p), key, size)) {
            return true;
        }
    }
    return false;
}

void acl_hash_hex(const void *bytes, size_t size, char out[2 * ACL_HASH_BYTES + 1])
{
    uint8_t digest[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    if (EVP_Digest(bytes, size, digest, &n, EVP_sha256(), NULL) != 1 || n != ACL_HASH_BYTES) {
        memset(digest, 0, sizeof(digest));
    }
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < ACL_HASH_BYTES; i++) {
        out[2 * i] = hex[digest[i] >> 4];
        out[2 * i + 1] = hex[digest[i] & 15u];
    }
    out[2 * ACL_HASH_BYTES] = '\0';
    OPENSSL_cleanse(digest, sizeof(digest));
}

bool acl_authenticate(const acl_user_t *user, uint8_t *password, size_t size)
{
    uint8_t digest[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    bool hashed =
        EVP_Digest(password, size, digest, &n, EVP_sha256(), NULL) == 1 && n == ACL_HASH_BYTES;
    OPENSSL_cleanse(password, size);
    if (user == NULL || !user->enabled || !hashed) {
        return false;
    }
    bool ok = user->nopass;
    for (uint32_t i = 0; i < user->password_count; i++) {
        ok = (CRYPTO_memcmp(user->passwords[i], digest, ACL_HASH_BYTES) == 0) || ok;
    }
    OPENSSL_cleanse(digest, sizeof(digest));
    return ok;
}

static void acl_append(char *buf, size_t buf_bytes, size_t *len, const char *text)
{
    size_t n = strlen(text);
    if (*len + n + 1 < buf_bytes) {
        memcpy(buf + *len, text, n);
        *len += n;
        buf[*len] = '\0';
    }
}

void acl_user_describe(const acl_user_t *user, char *buf, size_t buf_bytes)
{
    size_t len = 0;
    buf[0] = '\0';
    acl_append(buf, buf_bytes, &len, "user ");
    acl_append(buf, buf_bytes, &len, user->name);
    acl_append(buf, buf_bytes, &len, user->enabled ? " on" : " off");
    if (user->nopass) {
        acl_append(buf, buf_bytes, &len, " nopass");
    }
    for (uint32_t i = 0; i < user->password_count; i++) {
        char hex[2 * ACL_HASH_BYTES + 2];
        hex[0] = '#';
        for (size_t b = 0; b < ACL_HASH_BYTES; b++) {
            snprintf(hex + 1 + 2 * b, 3, "%02x", user->passwords[i][b]);
        }
        acl_append(buf, buf_bytes, &len, " ");
        acl_append(buf, buf_bytes, &len, hex);
    }
    if (user->allkeys) {
        acl_append(buf, buf_bytes, &len, " ~*");
    }
    for (uint32_t i = 0; !user->allkeys && i < user->pattern_count; i++) {
        acl_append(buf, buf_bytes, &len, " ~");
        acl_append(buf, buf_bytes, &len, user->patterns[i]);
    }
    acl_append(buf, buf_bytes, &len, " resetchannels");
    if (acl_bits_are_all(user->allowed)) {
        acl_append(buf, buf_bytes, &len, " +@all");
    } else {
        acl_append(buf, buf_bytes, &len, " -@all");
        acl_append(buf, buf_bytes, &len, user->rules);
    }
}

/* ---- the set ---- */

static int acl_user_compare(const void *a, const void *b)
{
    return strcmp(((const acl_user_t *)a)->name, ((const acl_user_t *)b)->name);
}

uint32_t acl_user_count(const acl_t *acl)
{
    return acl->count;
}

const acl_user_t *acl_user_at(const acl_t *acl, uint32_t index)
{
    return index < acl->count ? &acl->users[index] : NULL;
}

const acl_user_t *acl_find_user(const acl_t *acl, const uint8_t *name, size_t size)
{
    for (uint32_t i = 0; i < acl->count; i++) {
        const char *n = acl->users[i].name;
        if (strlen(n) == size && memcmp(n, name, size) == 0) {
            return &acl->users[i];
        }
    }
    return NULL;
}

const acl_user_t *acl_initial_user(const acl_t *acl)
{
    const acl_user_t *d = acl_find_user(acl, (const uint8_t *)"default", 7);
    return d != NULL && d->enabled && d->nopass ? d : NULL;
}

bool acl_default_is_open(const acl_t *acl)
{
    return acl_initial_user(acl) != NULL;
}

void acl_free(acl_t *acl)
{
    if (acl == NULL || acl == &acl_open_set) {
        return;
    }
    if (acl->users != NULL) {
        OPENSSL_cleanse(acl->users, (size_t)acl->cap * sizeof(acl->users[0]));
    }
    free(acl->users);
    free(acl);
}

static acl_user_t *acl_add_user(acl_t *acl)
{
    if (acl->count == acl->cap) {
        uint32_t cap = acl->cap == 0 ? 4u : acl->cap * 2u;
        acl_user_t *users = realloc(acl->users, (size_t)cap * sizeof(*users));
        if (users == NULL) {
            return NULL;
        }
        acl->users = users;
        acl->cap = cap;
    }
    acl_user_t *u = &acl->users[acl->count++];
    memset(u, 0, sizeof(*u));
    return u;
}

acl_t *acl_open(void)
{
    acl_user_t *u = &acl_open_user;
    snprintf(u->name, sizeof(u->name), "default");
    u->enabled = true;
    u->nopass = true;
    u->allkeys = true;
    acl_bits_all(u->allowed);
    return &acl_open_set;
}

/* ---- parsing ---- */

typedef struct acl_parse_state {
    const char *name;
    uint32_t line;
    char *err;
    size_t err_bytes;
} acl_parse_state_t;

static int acl_fail(acl_parse_state_t *st, const char *format, ...)
    __attribute__((format(printf, 2, 3)));

static int acl_fail(acl_parse_state_t *st, const char *format, ...)
{
    char what[ACL_ERROR_BYTES];
    va_list ap;
    va_start(ap, format);
    vsnprintf(what, sizeof(what), format, ap);
    va_end(ap);
    snprintf(st->err, st->err_bytes, "%s:%u: %s", st->name, st->line, what);
    return -1;
}

static int acl_hex_digit(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

static int acl_rule_password(acl_parse_state_t *st, acl_user_t *u, const char *hex)
{
    if (strlen(hex) != 2 * ACL_HASH_BYTES) {
        return acl_fail(st, "'#' must be followed by a SHA-256 hash as 64 hex digits "
                            "(ballot passwd makes one)");
    }
    uint8_t digest[ACL_HASH_BYTES];
    for (size_t i = 0; i < ACL_HASH_BYTES; i++) {
        int hi = acl_hex_digit(hex[2 * i]);
        int lo = acl_hex_digit(hex[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            return acl_fail(st, "'#' must be followed by a SHA-256 hash as 64 hex digits");
        }
        digest[i] = (uint8_t)(hi << 4 | lo);
    }
    u->nopass = false;
    for (uint32_t i = 0; i < u->password_count; i++) {
        if (memcmp(u->passwords[i], digest, sizeof(digest)) == 0) {
            return 0;
        }
    }
    if (u->password_count >= ACL_PASSWORDS_MAX) {
        return acl_fail(st, "more than %u passwords for user '%s'", ACL_PASSWORDS_MAX, u->name);
    }
    memcpy(u->passwords[u->password_count++], digest, sizeof(digest));
    return 0;
}

static int acl_rule_pattern(acl_parse_state_t *st, acl_user_t *u, const char *pattern)
{
    size_t n = strlen(pattern);
    if (n == 0 || n >= ACL_PATTERN_BYTES_MAX) {
        return acl_fail(st, "key pattern '~%.64s' is empty or longer than %u bytes", pattern,
                        ACL_PATTERN_BYTES_MAX - 1);
    }
    if (strcmp(pattern, "*") == 0) {
        u->allkeys = true;
        return 0;
    }
    for (uint32_t i = 0; i < u->pattern_count; i++) {
        if (strcmp(u->patterns[i], pattern) == 0) {
            return 0;
        }
    }
    if (u->pattern_count >= ACL_PATTERNS_MAX) {
        return acl_fail(st, "more than %u key patterns for user '%s'", ACL_PATTERNS_MAX, u->name);
    }
    memcpy(u->patterns[u->pattern_count++], pattern, n + 1);
    return 0;
}

static int acl_rule_text(acl_parse_state_t *st, acl_user_t *u, const char *rule)
{
    size_t len = strlen(u->rules);
    size_t n = strlen(rule);
    if (len + n + 2 > sizeof(u->rules)) {
        return acl_fail(st, "the command rules of user '%s' are longer than %u bytes", u->name,
                        ACL_RULES_BYTES_MAX - 2);
    }
    u->rules[len] = ' ';
    for (size_t i = 0; i <= n; i++) {
        char c = rule[i];
        u->rules[len + 1 + i] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
    }
    return 0;
}

/* +@cat, -@cat, +cmd, -cmd, +cmd|sub, -cmd|sub. */
static int acl_rule_command(acl_parse_state_t *st, acl_user_t *u, const char *rule)
{
    bool add = rule[0] == '+';
    const char *what = rule + 1;
    acl_bits_t bits = {{0}};
    if (what[0] == '@') {
        const char *cat = what + 1;
        if (strcasecmp(cat, "all") == 0) {
            acl_bits_all(bits.w);
        } else {
            uint32_t bit = acl_category_find((const uint8_t *)cat, strlen(cat));
            if (bit == 0) {
                return acl_fail(st, "unknown command category '%.64s' (ACL CAT lists them)", cat);
            }
            for (uint32_t i = 0; i < ACL_COMMAND_COUNT; i++) {
                bits.w[i / 64u] |= (acl_commands[i].cats & bit) != 0 ? UINT64_C(1) << (i % 64u) : 0;
            }
        }
    } else {
        const char *bar = strchr(what, '|');
        size_t name_len = bar != NULL ? (size_t)(bar - what) : strlen(what);
        for (uint32_t i = 0; i < ACL_COMMAND_COUNT; i++) {
            const acl_command_t *c = &acl_commands[i];
            if (!acl_word_is((const uint8_t *)what, name_len, c->name)) {
                continue;
            }
            if (bar == NULL ||
                (c->sub != NULL && strcmp(c->sub, "*") != 0 && strcasecmp(bar + 1, c->sub) == 0)) {
                bits.w[i / 64u] |= UINT64_C(1) << (i % 64u);
            }
        }
        acl_bits_t none = {{0}};
        if (memcmp(&bits, &none, sizeof(bits)) == 0) {
            return acl_fail(st, "unknown command '%.64s' in rule '%.80s'", what, rule);
        }
    }
    for (uint32_t i = 0; i < ACL_COMMANDS_WORDS; i++) {
        u->allowed[i] = add ? (u->allowed[i] | bits.w[i]) : (u->allowed[i] & ~bits.w[i]);
    }
    return acl_rule_text(st, u, rule);
}

static int acl_rule(acl_parse_state_t *st, acl_user_t *u, const char *rule)
{
    if (strcasecmp(rule, "on") == 0) {
        u->enabled = true;
    } else if (strcasecmp(rule, "off") == 0) {
        u->enabled = false;
    } else if (strcasecmp(rule, "nopass") == 0) {
        u->nopass = true;
        u->password_count = 0;
        OPENSSL_cleanse(u->passwords, sizeof(u->passwords));
    } else if (strcasecmp(rule, "resetpass") == 0) {
        u->nopass = false;
        u->password_count = 0;
        OPENSSL_cleanse(u->passwords, sizeof(u->passwords));
    } else if (rule[0] == '#') {
        return acl_rule_password(st, u, rule + 1);
    } else if (rule[0] == '>' || rule[0] == '<' || rule[0] == '!') {
        return acl_fail(st,
                        "plaintext passwords and password removal ('%c...') are not "
                        "accepted: give '#' and the password's SHA-256 (ballot passwd)",
                        rule[0]);
    } else if (rule[0] == '~') {
        return acl_rule_pattern(st, u, rule + 1);
    } else if (rule[0] == '%') {
        return acl_fail(st, "read/write key permissions ('%%R~', '%%W~') are not supported; "
                            "use '~pattern'");
    } else if (strcasecmp(rule, "allkeys") == 0) {
        u->allkeys = true;
    } else if (strcasecmp(rule, "resetkeys") == 0) {
        u->allkeys = false;
        u->pattern_count = 0;
    } else if (rule[0] == '&' || strcasecmp(rule, "allchannels") == 0 ||
               strcasecmp(rule, "resetchannels") == 0) {
        /* Pub/Sub channels: ballotd has no Pub/Sub, nothing to grant. */
    } else if (strcasecmp(rule, "allcommands") == 0) {
        return acl_rule_command(st, u, "+@all");
    } else if (strcasecmp(rule, "nocommands") == 0) {
        acl_bits_clear(u->allowed);
        u->rules[0] = '\0';
    } else if (strcasecmp(rule, "reset") == 0) {
        char name[ACL_NAME_BYTES_MAX];
        memcpy(name, u->name, sizeof(name));
        OPENSSL_cleanse(u, sizeof(*u));
        memcpy(u->name, name, sizeof(name));
    } else if ((rule[0] == '+' || rule[0] == '-') && rule[1] != '\0') {
        if (strcasecmp(rule, "-@all") == 0) {
            acl_bits_clear(u->allowed);
            u->rules[0] = '\0';
            return 0;
        }
        return acl_rule_command(st, u, rule);
    } else {
        return acl_fail(st, "unknown rule '%.80s'", rule);
    }
    return 0;
}

static bool acl_name_valid(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n >= ACL_NAME_BYTES_MAX) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if ((unsigned char)name[i] <= ' ' || (unsigned char)name[i] > '~') {
            return false;
        }
    }
    return true;
}

/* One line, NUL-terminated and writable. */
static int acl_parse_line(acl_parse_state_t *st, acl_t *acl, char *line)
{
    char *save = NULL;
    char *word = strtok_r(line, " \t\r", &save);
    if (word == NULL || word[0] == '#') {
        return 0;
    }
    if (strcmp(word, "user") != 0) {
        return acl_fail(st, "expected `user NAME RULE...`, not '%.64s'", word);
    }
    char *name = strtok_r(NULL, " \t\r", &save);
    if (name == NULL || !acl_name_valid(name)) {
        return acl_fail(st, "user name missing, longer than %u bytes, or not printable ASCII",
                        ACL_NAME_BYTES_MAX - 1);
    }
    for (uint32_t i = 0; i < acl->count; i++) {
        if (strcmp(acl->users[i].name, name) == 0) {
            return acl_fail(st, "user '%s' is defined twice", name);
        }
    }
    if (acl->count >= ACL_USERS_MAX) {
        return acl_fail(st, "more than %u users", ACL_USERS_MAX);
    }
    acl_user_t *u = acl_add_user(acl);
    if (u == NULL) {
        return acl_fail(st, "out of memory");
    }
    memcpy(u->name, name, strlen(name) + 1);
    /* Bounded by the line's length. */
    for (char *rule = strtok_r(NULL, " \t\r", &save); rule != NULL;
         rule = strtok_r(NULL, " \t\r", &save)) {
        if (acl_rule(st, u, rule) != 0) {
            return -1;
        }
    }
    if (u->enabled && !u->nopass && u->password_count == 0) {
        return acl_fail(st,
                        "user '%s' is on but has no password: add '#<sha256>' or 'nopass' "
                        "(or 'off')",
                        name);
    }
    return 0;
}

int acl_parse(const char *text, size_t size, const char *name, acl_t **out, char *err,
              size_t err_bytes)
{
    acl_parse_state_t st = {.name = name, .line = 0, .err = err, .err_bytes = err_bytes};
    if (size > ACL_FILE_BYTES_MAX) {
        return acl_fail(&st, "larger than %zu bytes", ACL_FILE_BYTES_MAX);
    }
    acl_t *acl = calloc(1, sizeof(*acl));
    char *line = malloc(ACL_LINE_BYTES_MAX + 1);
    if (acl == NULL || line == NULL) {
        free(acl);
        free(line);
        return acl_fail(&st, "out of memory");
    }
    int rc = 0;
    size_t at = 0;
    /* Bounded by the text's size: each round consumes one line. */
    while (rc == 0 && at < size) {
        st.line++;
        const char *nl = memchr(text + at, '\n', size - at);
        size_t n = nl != NULL ? (size_t)(nl - (text + at)) : size - at;
        if (n > ACL_LINE_BYTES_MAX) {
            rc = acl_fail(&st, "line longer than %u bytes", ACL_LINE_BYTES_MAX);
        } else if (memchr(text + at, '\0', n) != NULL) {
            rc = acl_fail(&st, "the line holds a NUL byte");
        } else {
            memcpy(line, text + at, n);
            line[n] = '\0';
            rc = acl_parse_line(&st, acl, line);
            OPENSSL_cleanse(line, n);
        }
        at += n + 1;
    }
    free(line);
    if (rc != 0) {
        acl_free(acl);
        return -1;
    }
    if (acl->count > 1) {
        qsort(acl->users, acl->count, sizeof(acl->users[0]), acl_user_compare);
    }
    *out = acl;
    return 0;
}

int acl_load_file(const char *path, acl_t **out, char *err, size_t err_bytes)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        snprintf(err, err_bytes, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    char *text = malloc(ACL_FILE_BYTES_MAX + 1);
    if (text == NULL) {
        fclose(f);
        snprintf(err, err_bytes, "%s: out of memory", path);
        return -1;
    }
    size_t size = fread(text, 1, ACL_FILE_BYTES_MAX + 1, f);
    bool failed = ferror(f) != 0;
    fclose(f);
    int rc = -1;
    if (failed) {
        snprintf(err, err_bytes, "%s: cannot read", path);
    } else if (size > ACL_FILE_BYTES_MAX) {
        snprintf(err, err_bytes, "%s: larger than %zu bytes", path, ACL_FILE_BYTES_MAX);
    } else {
        rc = acl_parse(text, size, path, out, err, err_bytes);
    }
    OPENSSL_cleanse(text, size < ACL_FILE_BYTES_MAX ? size : ACL_FILE_BYTES_MAX);
    free(text);
    return rc;
}
