/* TLS under net_conn: OpenSSL with a pair of memory BIOs per connection (tls.h; the
 * schemes and the threat model are in docs/security.md). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "base/fail.h"
#include "core/error.h"
#include "net/net_internal.h"
#include "net/tls.h"

/* One SSL_write_ex call at most this much (output bounds can be larger than an int). */
#define TLS_WRITE_CHUNK_BYTES (1u << 30)
/* "ballot-peer <from> <to>": the dialer's id, then the id it dials. */
#define TLS_PSK_IDENTITY_BYTES 32u
#define TLS_NODE_NAME_BYTES    32u
#define TLS_WHAT_BYTES         1200u

typedef enum tls_kind {
    TLS_PEER_PSK = 1,
    TLS_PEER_X509 = 2,
    TLS_CLIENTS = 3,
} tls_kind_t;

struct net_tls {
    tls_kind_t kind;
    SSL_CTX *ctx;
    uint32_t self_id;
    uint32_t node_count;
    net_peer_keys_t keys; /* TLS_PEER_PSK */
};

typedef struct net_tls_conn {
    net_tls_t *tls;
    SSL *ssl;
    BIO *rbio; /* ciphertext in */
    BIO *wbio; /* ciphertext out */
    bool accepting;
    bool ready;
    uint32_t peer_id;          /* proven by the handshake */
    uint32_t peer_id_expected; /* dialled peer links */
    char error[NET_TLS_ERROR_BYTES];
} net_tls_conn_t;

static int tls_conn_index = -1; /* SSL ex_data slot: the net_conn_t */
static const unsigned char tls_sid_ctx[] = "ballot";

static void tls_error_text(char *buf, size_t buf_bytes, const char *what)
{
    unsigned long e = ERR_get_error();
    char reason[160];
    if (e != 0) {
        ERR_error_string_n(e, reason, sizeof(reason));
    } else {
        snprintf(reason, sizeof(reason), "no detail");
    }
    ERR_clear_error();
    snprintf(buf, buf_bytes, "%s: %s", what, reason);
}

static int tls_fail(char *msg, size_t msg_bytes, const char *what)
{
    char text[NET_TLS_ERROR_BYTES + 64];
    tls_error_text(text, sizeof(text), what);
    return ballot_fail(BALLOT_EINVAL, msg, msg_bytes, "%s", text);
}

static void tls_node_name(uint32_t id, char *buf, size_t buf_bytes)
{
    snprintf(buf, buf_bytes, "%s%u", NET_TLS_NODE_NAME_PREFIX, id);
}

/* ---- PSK callbacks ---- */

static SSL_SESSION *tls_psk_session(SSL *ssl, const uint8_t *key)
{
    static const unsigned char aes128gcmsha256[] = {0x13, 0x01};
    const SSL_CIPHER *cipher = SSL_CIPHER_find(ssl, aes128gcmsha256);
    SSL_SESSION *sess = SSL_SESSION_new();
    if (cipher == NULL || sess == NULL ||
        !SSL_SESSION_set1_master_key(sess, key, NET_PEER_KEY_BYTES) ||
        !SSL_SESSION_set_cipher(sess, cipher) ||
        !SSL_SESSION_set_protocol_version(sess, TLS1_3_VERSION) ||
        !SSL_SESSION_set1_id_context(sess, tls_sid_ctx, sizeof(tls_sid_ctx) - 1)) {
        SSL_SESSION_free(sess);
        return NULL;
    }
    return sess;
}

static bool tls_parse_identity(const unsigned char *id, size_t len, uint32_t *from, uint32_t *to)
{
    char text[TLS_PSK_IDENTITY_BYTES];
    if (len == 0 || len >= sizeof(text)) {
        return false;
    }
    memcpy(text, id, len);
    text[len] = '\0';
    unsigned a = 0;
    unsigned b = 0;
    char tail = 0;
    if (sscanf(text, "ballot-peer %u %u%c", &a, &b, &tail) != 2) {
        return false;
    }
    *from = a;
    *to = b;
    return true;
}

/* Dialer: offer K(self, target) under the identity "ballot-peer self target". */
static int tls_psk_use_cb(SSL *ssl, const EVP_MD *md, const unsigned char **id, size_t *idlen,
                          SSL_SESSION **sess)
{
    (void)md;
    net_conn_t *conn = SSL_get_ex_data(ssl, tls_conn_index);
    net_tls_conn_t *t = conn->tls;
    const net_peer_keys_t *keys = &t->tls->keys;
    static char identity[TLS_PSK_IDENTITY_BYTES];
    uint32_t to = t->peer_id_expected;
    *sess = NULL;
    if (to == 0 || to > NET_PEER_KEY_NODES_MAX || !keys->have[to]) {
        return 0;
    }
    int n = snprintf(identity, sizeof(identity), "ballot-peer %u %u", keys->node_id, to);
    *sess = tls_psk_session(ssl, keys->key[to]);
    if (*sess == NULL) {
        return 0;
    }
    *id = (const unsigned char *)identity;
    *idlen = (size_t)n;
    return 1;
}

/* Acceptor: the identity must name another member dialling this node; the key is the pair's.
 * An unknown identity finds no session, and with no certificate the handshake fails. */
static int tls_psk_find_cb(SSL *ssl, const unsigned char *id, size_t idlen, SSL_SESSION **sess)
{
    net_conn_t *conn = SSL_get_ex_data(ssl, tls_conn_index);
    net_tls_conn_t *t = conn->tls;
    const net_peer_keys_t *keys = &t->tls->keys;
    uint32_t from = 0;
    uint32_t to = 0;
    *sess = NULL;
    if (!tls_parse_identity(id, idlen, &from, &to) || to != keys->node_id || from == 0 ||
        from > NET_PEER_KEY_NODES_MAX || !keys->have[from]) {
        snprintf(t->error, sizeof(t->error), "unknown PSK identity");
        return 1;
    }
    *sess = tls_psk_session(ssl, keys->key[from]);
    if (*sess == NULL) {
        return 0;
    }
    t->peer_id = from;
    return 1;
}

/* ---- contexts ---- */

static int tls_ctx_new(bool peer, tls_kind_t kind, net_tls_t **out, char *msg, size_t msg_bytes)
{
    if (tls_conn_index < 0) {
        tls_conn_index = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
    }
    net_tls_t *tls = calloc(1, sizeof(*tls));
    if (tls == NULL) {
        return ballot_fail(BALLOT_ENOMEM, msg, msg_bytes, "out of memory");
    }
    tls->kind = kind;
    tls->ctx = SSL_CTX_new(TLS_method());
    if (tls->ctx == NULL) {
        free(tls);
        return tls_fail(msg, msg_bytes, "cannot create a TLS context");
    }
    SSL_CTX_set_min_proto_version(tls->ctx, peer ? TLS1_3_VERSION : TLS1_2_VERSION);
    /* No resumption tickets: every connection proves itself afresh. */
    SSL_CTX_set_num_tickets(tls->ctx, 0);
    SSL_CTX_set_session_id_context(tls->ctx, tls_sid_ctx, sizeof(tls_sid_ctx) - 1);
    SSL_CTX_set_session_cache_mode(tls->ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_options(tls->ctx, SSL_OP_NO_TICKET | SSL_OP_NO_RENEGOTIATION);
    *out = tls;
    return BALLOT_OK;
}

int net_tls_peer_psk(const net_peer_keys_t *keys, net_tls_t **out, char *msg, size_t msg_bytes)
{
    net_tls_t *tls = NULL;
    int rc = tls_ctx_new(true, TLS_PEER_PSK, &tls, msg, msg_bytes);
    if (rc != BALLOT_OK) {
        return rc;
    }
    tls->keys = *keys;
    tls->self_id = keys->node_id;
    tls->node_count = keys->node_count;
    /* The PSK's hash is SHA-256: only suites built on it can use it. */
    if (SSL_CTX_set_ciphersuites(tls->ctx, "TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256") !=
        1) {
        net_tls_free(tls);
        return tls_fail(msg, msg_bytes, "cannot set the TLS 1.3 cipher suites");
    }
    SSL_CTX_set_psk_use_session_callback(tls->ctx, tls_psk_use_cb);
    SSL_CTX_set_psk_find_session_callback(tls->ctx, tls_psk_find_cb);
    /* A dialler that is offered a certificate instead of the PSK has nothing to trust it
     * with: verification fails. */
    SSL_CTX_set_verify(tls->ctx, SSL_VERIFY_PEER, NULL);
    *out = tls;
    return BALLOT_OK;
}

static int tls_load_pair(net_tls_t *tls, const char *cert_file, const char *key_file, char *msg,
                         size_t msg_bytes)
{
    char what[TLS_WHAT_BYTES];
    if (SSL_CTX_use_certificate_chain_file(tls->ctx, cert_file) != 1) {
        snprintf(what, sizeof(what), "cannot load certificate %s", cert_file);
        return tls_fail(msg, msg_bytes, what);
    }
    if (SSL_CTX_use_PrivateKey_file(tls->ctx, key_file, SSL_FILETYPE_PEM) != 1) {
        snprintf(what, sizeof(what), "cannot load private key %s", key_file);
        return tls_fail(msg, msg_bytes, what);
    }
    if (SSL_CTX_check_private_key(tls->ctx) != 1) {
        snprintf(what, sizeof(what), "%s does not match %s", key_file, cert_file);
        return tls_fail(msg, msg_bytes, what);
    }
    return BALLOT_OK;
}

static int tls_load_ca(net_tls_t *tls, const char *ca_file, char *msg, size_t msg_bytes)
{
    char what[TLS_WHAT_BYTES];
    if (SSL_CTX_load_verify_locations(tls->ctx, ca_file, NULL) != 1) {
        snprintf(what, sizeof(what), "cannot load CA certificates %s", ca_file);
        return tls_fail(msg, msg_bytes, what);
    }
    SSL_CTX_set_verify(tls->ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    return BALLOT_OK;
}

/* The node a certificate names: exactly one of ballot-node-1..N, else 0. */
static uint32_t tls_cert_node(X509 *cert, uint32_t node_count)
{
    uint32_t found = 0;
    for (uint32_t id = 1; id <= node_count; id++) {
        char name[TLS_NODE_NAME_BYTES];
        tls_node_name(id, name, sizeof(name));
        if (X509_check_host(cert, name, 0, X509_CHECK_FLAG_NO_WILDCARDS, NULL) == 1) {
            if (found != 0) {
                return 0;
            }
            found = id;
        }
    }
    return found;
}

int net_tls_peer_x509(uint32_t self_id, uint32_t node_count, const char *cert_file,
                      const char *key_file, const char *ca_file, net_tls_t **out, char *msg,
                      size_t msg_bytes)
{
    net_tls_t *tls = NULL;
    int rc = tls_ctx_new(true, TLS_PEER_X509, &tls, msg, msg_bytes);
    if (rc != BALLOT_OK) {
        return rc;
    }
    tls->self_id = self_id;
    tls->node_count = node_count;
    rc = tls_load_pair(tls, cert_file, key_file, msg, msg_bytes);
    if (rc == BALLOT_OK) {
        rc = tls_load_ca(tls, ca_file, msg, msg_bytes);
    }
    if (rc == BALLOT_OK) {
        X509 *own = SSL_CTX_get0_certificate(tls->ctx);
        uint32_t named = own != NULL ? tls_cert_node(own, node_count) : 0;
        if (named != self_id) {
            char name[TLS_NODE_NAME_BYTES];
            tls_node_name(self_id, name, sizeof(name));
            rc = ballot_fail(BALLOT_EINVAL, msg, msg_bytes,
                             "--peer-cert %s does not name this node as %s (it names %s%u)",
                             cert_file, name, named != 0 ? NET_TLS_NODE_NAME_PREFIX : "no node ",
                             named);
        }
    }
    if (rc != BALLOT_OK) {
        net_tls_free(tls);
        return rc;
    }
    *out = tls;
    return BALLOT_OK;
}

int net_tls_server(const char *cert_file, const char *key_file, const char *ca_file,
                   net_tls_t **out, char *msg, size_t msg_bytes)
{
    net_tls_t *tls = NULL;
    int rc = tls_ctx_new(false, TLS_CLIENTS, &tls, msg, msg_bytes);
    if (rc != BALLOT_OK) {
        return rc;
    }
    rc = tls_load_pair(tls, cert_file, key_file, msg, msg_bytes);
    if (rc == BALLOT_OK && ca_file != NULL && ca_file[0] != '\0') {
        rc = tls_load_ca(tls, ca_file, msg, msg_bytes);
    }
    if (rc != BALLOT_OK) {
        net_tls_free(tls);
        return rc;
    }
    *out = tls;
    return BALLOT_OK;
}

void net_tls_free(net_tls_t *tls)
{
    if (tls == NULL) {
        return;
    }
    SSL_CTX_free(tls->ctx);
    OPENSSL_cleanse(&tls->keys, sizeof(tls->keys));
    free(tls);
}

/* ---- connections ---- */

int net_tls_conn_start(net_conn_t *conn, net_tls_t *tls, bool accepting, uint32_t peer_id_expected)
{
    net_tls_conn_t *t = calloc(1, sizeof(*t));
    if (t == NULL) {
        return BALLOT_ENOMEM;
    }
    t->tls = tls;
    t->accepting = accepting;
    t->peer_id_expected = peer_id_expected;
    t->ssl = SSL_new(tls->ctx);
    t->rbio = BIO_new(BIO_s_mem());
    t->wbio = BIO_new(BIO_s_mem());
    if (t->ssl == NULL || t->rbio == NULL || t->wbio == NULL) {
        BIO_free(t->rbio);
        BIO_free(t->wbio);
        SSL_free(t->ssl);
        free(t);
        ERR_clear_error();
        return BALLOT_ENOMEM;
    }
    /* An empty memory BIO means "no more yet", not end of file. */
    BIO_set_mem_eof_return(t->rbio, -1);
    SSL_set_bio(t->ssl, t->rbio, t->wbio);
    SSL_set_ex_data(t->ssl, tls_conn_index, conn);
    conn->tls = t;
    if (accepting) {
        SSL_set_accept_state(t->ssl);
        return BALLOT_OK;
    }
    SSL_set_connect_state(t->ssl);
    if (tls->kind == TLS_PEER_X509) {
        char name[TLS_NODE_NAME_BYTES];
        tls_node_name(peer_id_expected, name, sizeof(name));
        SSL_set_hostflags(t->ssl, X509_CHECK_FLAG_NO_WILDCARDS);
        if (SSL_set1_host(t->ssl, name) != 1) {
            ERR_clear_error();
            return BALLOT_ENOMEM;
        }
    }
    net_tls_pump(conn); /* the ClientHello */
    return BALLOT_OK;
}

void net_tls_conn_free(net_conn_t *conn)
{
    net_tls_conn_t *t = conn->tls;
    if (t == NULL) {
        return;
    }
    SSL_free(t->ssl); /* frees both BIOs */
    free(t);
    conn->tls = NULL;
}

static void tls_close(net_conn_t *conn, const char *what)
{
    net_tls_conn_t *t = conn->tls;
    if (t->error[0] == '\0') {
        tls_error_text(t->error, sizeof(t->error), what);
    }
    ERR_clear_error();
    net_conn_close_reason(conn, NET_CLOSE_TLS, 0);
}

/* The handshake passed: check who is on the other side. */
static bool tls_check_peer(net_conn_t *conn)
{
    net_tls_conn_t *t = conn->tls;
    net_tls_t *tls = t->tls;
    if (tls->kind == TLS_CLIENTS) {
        return true;
    }
    if (tls->kind == TLS_PEER_PSK) {
        if (!SSL_session_reused(t->ssl)) {
            snprintf(t->error, sizeof(t->error), "the peer did not use the cluster's PSK");
            return false;
        }
        if (!t->accepting) {
            t->peer_id = t->peer_id_expected;
        }
    } else {
        X509 *cert = SSL_get0_peer_certificate(t->ssl);
        uint32_t named = cert != NULL ? tls_cert_node(cert, tls->node_count) : 0;
        if (named == 0 || SSL_get_verify_result(t->ssl) != X509_V_OK) {
            snprintf(t->error, sizeof(t->error),
                     "the peer's certificate names no single %sN of this cluster",
                     NET_TLS_NODE_NAME_PREFIX);
            return false;
        }
        t->peer_id = named;
    }
    if (t->peer_id == 0 || t->peer_id == tls->self_id ||
        (!t->accepting && t->peer_id != t->peer_id_expected)) {
        snprintf(t->error, sizeof(t->error), "the peer proved node id %u, which cannot be right",
                 t->peer_id);
        return false;
    }
    return true;
}

/* Called from I/O callbacks and the flush, which run before the loop's check phase: listing
 * the connection is enough for its output to go out in this iteration. */
static void tls_output_waiting(net_conn_t *conn)
{
    if (BIO_ctrl_pending(conn->tls->wbio) > 0 || conn->write_len > 0) {
        net_conn_mark_dirty(conn);
    }
}

void net_tls_pump(net_conn_t *conn)
{
    net_tls_conn_t *t = conn->tls;
    if (conn->closing) {
        return;
    }
    if (!t->ready) {
        int rc = SSL_do_handshake(t->ssl);
        if (rc != 1) {
            int err = SSL_get_error(t->ssl, rc);
            if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
                tls_output_waiting(conn);
                return;
            }
            /* Send the alert, if any, then close. */
            tls_output_waiting(conn);
            tls_close(conn, "TLS handshake failed");
            return;
        }
        if (!tls_check_peer(conn)) {
            tls_close(conn, "TLS peer refused");
            return;
        }
        t->ready = true;
        if (conn->pending != NULL && conn->pending->until_tls) {
            net_conn_established(conn);
        }
    }
    tls_output_waiting(conn);
    /* Decrypt as much as fits, deliver, again. Bounded: every pass either takes bytes out
     * of the ciphertext buffer, or stops. */
    while (!conn->closing && !conn->paused) {
        bool got = false;
        int err = SSL_ERROR_NONE;
        while (!conn->closing) {
            if (!net_conn_make_read_room(conn)) {
                if (SSL_pending(t->ssl) > 0 || BIO_ctrl_pending(t->rbio) > 0) {
                    err = SSL_ERROR_SSL + 1000; /* over the bound */
                }
                break;
            }
            size_t n = 0;
            if (SSL_read_ex(t->ssl, conn->read_buf + conn->read_end,
                            conn->read_cap - conn->read_end, &n) == 1) {
                conn->read_end += n;
                got = true;
                continue;
            }
            err = SSL_get_error(t->ssl, 0);
            break;
        }
        if (got) {
            net_conn_deliver(conn);
        }
        if (conn->closing) {
            return;
        }
        if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
            break;
        }
        if (err == SSL_ERROR_ZERO_RETURN) {
            net_conn_close_reason(conn, NET_CLOSE_EOF, 0);
            return;
        }
        if (err == SSL_ERROR_SSL + 1000) {
            if (!got) {
                net_conn_close_reason(conn, NET_CLOSE_READ_BOUND, 0);
                return;
            }
            continue; /* the owner consumed: there may be room now */
        }
        if (err != SSL_ERROR_NONE) {
            tls_close(conn, "TLS record refused");
            return;
        }
        if (!got) {
            break;
        }
    }
    tls_output_waiting(conn);
}

void net_tls_on_ciphertext(net_conn_t *conn, const uint8_t *bytes, size_t size)
{
    net_tls_conn_t *t = conn->tls;
    if (size > 0 && BIO_write(t->rbio, bytes, (int)size) != (int)size) {
        tls_close(conn, "out of memory for TLS input");
        return;
    }
    net_tls_pump(conn);
}

size_t net_tls_encrypt(net_conn_t *conn)
{
    net_tls_conn_t *t = conn->tls;
    if (t->ready && conn->write_len > 0) {
        size_t done = 0;
        /* Bounded by write_len / TLS_WRITE_CHUNK_BYTES; a memory BIO takes everything. */
        while (done < conn->write_len) {
            size_t chunk = conn->write_len - done;
            if (chunk > TLS_WRITE_CHUNK_BYTES) {
                chunk = TLS_WRITE_CHUNK_BYTES;
            }
            size_t n = 0;
            if (SSL_write_ex(t->ssl, conn->write_buf + done, chunk, &n) != 1 || n == 0) {
                tls_close(conn, "TLS write failed");
                return 0;
            }
            done += n;
        }
        conn->write_len = 0;
    }
    return BIO_ctrl_pending(t->wbio);
}

void net_tls_take(net_conn_t *conn, uint8_t *dst, size_t size)
{
    size_t done = 0;
    /* Bounded: size is what the BIO holds; each read takes at least one byte. */
    while (done < size) {
        size_t chunk = size - done > INT32_MAX ? INT32_MAX : size - done;
        int n = BIO_read(conn->tls->wbio, dst + done, (int)chunk);
        if (n <= 0) {
            break;
        }
        done += (size_t)n;
    }
}

bool net_conn_tls_ready(const net_conn_t *conn)
{
    return conn->tls == NULL || conn->tls->ready;
}

bool net_conn_is_tls(const net_conn_t *conn)
{
    return conn->tls != NULL;
}

uint32_t net_conn_tls_peer_id(const net_conn_t *conn)
{
    return conn->tls != NULL && conn->tls->ready ? conn->tls->peer_id : 0;
}

const char *net_conn_tls_error(const net_conn_t *conn)
{
    return conn->tls != NULL ? conn->tls->error : "";
}
