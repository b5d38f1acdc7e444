/* Client users and their permissions (ACLs), as Redis has them: a users file read at start,
 * one `user NAME RULE...` line per user; every command belongs to categories; a user may run
 * the commands its rules allow, on the keys its patterns match. docs/security.md ("Clients:
 * users and ACLs") describes the file, the categories and the checks.
 *
 * Nothing here changes after loading: the users of a running ballotd are fixed, so that
 * clients can point at their user without reference counts. Passwords are kept only as
 * SHA-256 digests; the plaintext a client sends is wiped once hashed. */
#ifndef BALLOT_SERVER_ACL_H
#define BALLOT_SERVER_ACL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Bounds of a users file. */
#define ACL_FILE_BYTES_MAX    ((size_t)1u << 20)
#define ACL_LINE_BYTES_MAX    4096u
#define ACL_USERS_MAX         1024u
#define ACL_NAME_BYTES_MAX    64u /* NUL included */
#define ACL_PASSWORDS_MAX     8u  /* per user */
#define ACL_PATTERNS_MAX      32u /* per user */
#define ACL_PATTERN_BYTES_MAX 256u
#define ACL_RULES_BYTES_MAX   1024u /* the command rules of a user, as ACL LIST shows them */
#define ACL_HASH_BYTES        32u   /* SHA-256 */
#define ACL_ERROR_BYTES       512u
/* A command name with its subcommand ("client|list"), NUL included. */
#define ACL_COMMAND_NAME_BYTES 40u

/* Command categories (bits). */
enum {
    ACL_CAT_KEYSPACE = 1u << 0,
    ACL_CAT_READ = 1u << 1,
    ACL_CAT_WRITE = 1u << 2,
    ACL_CAT_STRING = 1u << 3,
    ACL_CAT_FAST = 1u << 4,
    ACL_CAT_SLOW = 1u << 5,
    ACL_CAT_ADMIN = 1u << 6,
    ACL_CAT_DANGEROUS = 1u << 7,
    ACL_CAT_CONNECTION = 1u << 8,
    ACL_CAT_TRANSACTION = 1u << 9,
    ACL_CAT_SCRIPTING = 1u << 10,
};

/* Bits of the command catalogue: one per command. */
#define ACL_COMMANDS_WORDS 2u

typedef struct acl_user {
    char name[ACL_NAME_BYTES_MAX];
    bool enabled;
    bool nopass;
    bool allkeys;
    uint32_t password_count;
    uint8_t passwords[ACL_PASSWORDS_MAX][ACL_HASH_BYTES];
    uint32_t pattern_count;
    char patterns[ACL_PATTERNS_MAX][ACL_PATTERN_BYTES_MAX];
    uint64_t allowed[ACL_COMMANDS_WORDS]; /* bit i: command i of the catalogue */
    char rules[ACL_RULES_BYTES_MAX];
} acl_user_t;

typedef struct acl acl_t;

/* The users of a ballotd started without a users file: `default`, enabled, without a
 * password, every command, every key (Redis's default). A static set: acl_free ignores it. */
acl_t *acl_open(void);
/* Parses a users file's text; `name` is used in messages ("name:line: what"). 0, or -1
 * with a reason in err (and *out untouched). */
int acl_parse(const char *text, size_t size, const char *name, acl_t **out, char *err,
              size_t err_bytes);
/* Reads and parses a users file. 0, or -1 with "path:line: reason" in err. */
int acl_load_file(const char *path, acl_t **out, char *err, size_t err_bytes);
void acl_free(acl_t *acl);

uint32_t acl_user_count(const acl_t *acl);
/* Users sorted by name. */
const acl_user_t *acl_user_at(const acl_t *acl, uint32_t index);
const acl_user_t *acl_find_user(const acl_t *acl, const uint8_t *name, size_t size);
/* The user a new connection starts as: `default` when it is enabled and needs no password;
 * NULL (the connection must AUTH) otherwise. */
const acl_user_t *acl_initial_user(const acl_t *acl);
/* True when `default` is enabled without a password (protected mode then applies). */
bool acl_default_is_open(const acl_t *acl);

/* Checks a password: hashes it, then wipes the plaintext in place (OPENSSL_cleanse).
 * A disabled user never passes; a nopass user accepts any password. */
bool acl_authenticate(const acl_user_t *user, uint8_t *password, size_t size);
/* SHA-256 of bytes as 64 lowercase hex digits and a NUL. */
void acl_hash_hex(const void *bytes, size_t size, char out[2 * ACL_HASH_BYTES + 1]);

/* The command catalogue: every command ballotd answers, with subcommands for those whose
 * subcommands differ in category. */
uint32_t acl_command_count(void);
/* "get" or "client|list". */
const char *acl_command_name(uint32_t index, char *buf, size_t buf_bytes);
uint32_t acl_command_categories(uint32_t index);
/* The catalogue entry of a command (and its subcommand, for those that have them): an
 * unknown subcommand maps to an entry that only @admin grants. -1 for an unknown command. */
int acl_command_lookup(const uint8_t *name, uint32_t size, const uint8_t *sub, uint32_t sub_size);

uint32_t acl_category_count(void);
const char *acl_category_name(uint32_t index);
uint32_t acl_category_bit(uint32_t index);
/* The bit of a category name ("read", without '@'), 0 when unknown. */
uint32_t acl_category_find(const uint8_t *name, size_t size);

/* True when every command and every key is allowed (checks can be skipped). */
bool acl_user_unrestricted(const acl_user_t *user);
bool acl_user_may_run(const acl_user_t *user, int command);
bool acl_user_may_access(const acl_user_t *user, const uint8_t *key, size_t size);
/* The user as one ACL LIST line ("user alice on #... ~app:* resetchannels -@all +@read"). */
void acl_user_describe(const acl_user_t *user, char *buf, size_t buf_bytes);

/* Redis's glob: '*', '?', '[abc]', '[a-z]', '[^x]' and '\' escapes, case-sensitive.
 * Time bounded by pattern size times text size. */
bool acl_glob_match(const char *pattern, size_t pattern_size, const uint8_t *text,
                    size_t text_size);

/* Protected mode: is this remote address ("host:port", as net_conn_peer_text gives it)
 * on the loopback interface (127.0.0.0/8, ::1, ::ffff:127.0.0.0/104)? */
bool acl_addr_is_loopback(const char *peer_text);

#endif
