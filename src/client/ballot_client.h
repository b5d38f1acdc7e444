/* A small blocking RESP2 client for Ballot nodes (the `ballot` tool uses it; so can tests
 * and scripts). One connection, one request at a time, every wait bounded by a timeout. */
#ifndef BALLOT_CLIENT_BALLOT_CLIENT_H
#define BALLOT_CLIENT_BALLOT_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BALLOT_CLIENT_ERROR_BYTES 256u
/* Largest reply accepted (a 1 MiB value plus framing, or a long INFO). */
#define BALLOT_CLIENT_REPLY_BYTES_MAX ((size_t)8u * 1024u * 1024u)
/* Elements of an array reply (arrays of arrays are refused). */
#define BALLOT_CLIENT_ARRAY_MAX 4096u
/* Arguments of one command. */
#define BALLOT_CLIENT_ARGS_MAX 256u

typedef enum ballot_reply_type {
    BALLOT_REPLY_STATUS = 1,  /* +text */
    BALLOT_REPLY_ERROR = 2,   /* -text */
    BALLOT_REPLY_INTEGER = 3, /* :n */
    BALLOT_REPLY_BULK = 4,    /* $len bytes */
    BALLOT_REPLY_NIL = 5,     /* $-1 or *-1 */
    BALLOT_REPLY_ARRAY = 6,   /* *n of non-array elements */
} ballot_reply_type_t;

typedef struct ballot_reply {
    ballot_reply_type_t type;
    int64_t integer;
    char *text; /* STATUS, ERROR, BULK: NUL-terminated copy (BULK may also hold NULs) */
    size_t size;
    struct ballot_reply *elements; /* ARRAY */
    size_t element_count;
} ballot_reply_t;

typedef struct ballot_client ballot_client_t;

/* Client TLS (docs/security.md "Clients: TLS"). The server's certificate is checked against
 * ca_file (or the system's CAs when NULL) and must name the host connected to (a DNS or IP
 * subject alternative name) unless skip_verify; cert_file/key_file present a client
 * certificate for mutual TLS. */
typedef struct ballot_client_tls {
    bool enabled;
    const char *ca_file;
    const char *cert_file;
    const char *key_file;
    bool skip_verify;
} ballot_client_tls_t;

/* Connects to "host:port" within timeout_ms. 0, or -1 with a reason in err. */
int ballot_client_connect(const char *address, uint32_t timeout_ms, ballot_client_t **out,
                          char *err, size_t err_bytes);
/* The same over TLS when tls is non-NULL and enabled (the handshake within timeout_ms). */
int ballot_client_connect_tls(const char *address, uint32_t timeout_ms,
                              const ballot_client_tls_t *tls, ballot_client_t **out, char *err,
                              size_t err_bytes);
/* Sends one command and reads its reply (free it with ballot_reply_free). 0, or -1 on a
 * connection, timeout or protocol failure (the connection is then unusable). */
int ballot_client_command(ballot_client_t *client, uint32_t argc, const char *const *argv,
                          const size_t *argv_len, ballot_reply_t *reply, char *err,
                          size_t err_bytes);
void ballot_client_close(ballot_client_t *client);
void ballot_reply_free(ballot_reply_t *reply);

/* Finds "key:" in an INFO text and copies its value; false when absent. */
bool ballot_info_field(const char *info, const char *key, char *value, size_t value_bytes);

#endif
