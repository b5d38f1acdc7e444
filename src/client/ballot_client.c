#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "client/ballot_client.h"
#include "wire/resp.h"

#define CLIENT_HOST_BYTES 256u
#define CLIENT_PORT_BYTES 8u
#define CLIENT_READ_CHUNK (64u * 1024u)
#define CLIENT_LINE_MAX   (64u * 1024u)

struct ballot_client {
    int fd;
    SSL_CTX *ctx; /* NULL: plain TCP */
    SSL *ssl;
    uint8_t *buf;
    size_t start;
    size_t end;
    size_t cap;
};

static int client_fail(char *err, size_t err_bytes, const char *format, ...)
    __attribute__((format(printf, 3, 4)));

static int client_fail(char *err, size_t err_bytes, const char *format, ...)
{
    va_list ap;
    va_start(ap, format);
    vsnprintf(err, err_bytes, format, ap);
    va_end(ap);
    return -1;
}

static bool client_split(const char *address, char *host, char *port)
{
    const char *colon = strrchr(address, ':');
    if (colon == NULL || colon == address || strlen(colon + 1) == 0 ||
        strlen(colon + 1) >= CLIENT_PORT_BYTES || (size_t)(colon - address) >= CLIENT_HOST_BYTES) {
        return false;
    }
    size_t host_len = (size_t)(colon - address);
    if (address[0] == '[' && host_len >= 2 && address[host_len - 1] == ']') {
        memcpy(host, address + 1, host_len - 2);
        host[host_len - 2] = '\0';
    } else {
        memcpy(host, address, host_len);
        host[host_len] = '\0';
    }
    strcpy(port, colon + 1);
    return true;
}

static int client_connect_fd(const struct addrinfo *ai, uint32_t timeout_ms)
{
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        return -1;
    }
    int rc = connect(fd, ai->ai_addr, ai->ai_addrlen);
    if (rc != 0 && errno == EINPROGRESS) {
        struct pollfd p = {.fd = fd, .events = POLLOUT};
        int soerr = 0;
        socklen_t len = sizeof(soerr);
        rc = poll(&p, 1, (int)timeout_ms) == 1 &&
                     getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) == 0 && soerr == 0
                 ? 0
                 : -1;
        if (soerr != 0) {
            errno = soerr;
        } else if (rc != 0) {
            errno = ETIMEDOUT;
        }
    }
    if (rc != 0) {
        int saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    struct timeval tv = {.tv_sec = timeout_ms / 1000u, .tv_usec = (timeout_ms % 1000u) * 1000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return fd;
}

/* The last OpenSSL error as text, or what errno says when there is none. */
static const char *client_tls_error(char *buf, size_t buf_bytes)
{
    unsigned long e = ERR_get_error();
    if (e == 0) {
        snprintf(buf, buf_bytes, "%s", errno != 0 ? strerror(errno) : "handshake failed");
    } else {
        ERR_error_string_n(e, buf, buf_bytes);
    }
    ERR_clear_error();
    return buf;
}

static int client_start_tls(ballot_client_t *client, const char *address, const char *host,
                            const ballot_client_tls_t *tls, char *err, size_t err_bytes)
{
    char why[256];
    client->ctx = SSL_CTX_new(TLS_client_method());
    if (client->ctx == NULL) {
        return client_fail(err, err_bytes, "%s: TLS: %s", address,
                           client_tls_error(why, sizeof(why)));
    }
    SSL_CTX_set_min_proto_version(client->ctx, TLS1_2_VERSION);
    if (tls->ca_file != NULL ? SSL_CTX_load_verify_locations(client->ctx, tls->ca_file, NULL) != 1
                             : SSL_CTX_set_default_verify_paths(client->ctx) != 1) {
        return client_fail(err, err_bytes, "--cacert %s: %s",
                           tls->ca_file != NULL ? tls->ca_file : "(system)",
                           client_tls_error(why, sizeof(why)));
    }
    if (tls->cert_file != NULL &&
        SSL_CTX_use_certificate_chain_file(client->ctx, tls->cert_file) != 1) {
        return client_fail(err, err_bytes, "--cert %s: %s", tls->cert_file,
                           client_tls_error(why, sizeof(why)));
    }
    if (tls->key_file != NULL &&
        (SSL_CTX_use_PrivateKey_file(client->ctx, tls->key_file, SSL_FILETYPE_PEM) != 1 ||
         SSL_CTX_check_private_key(client->ctx) != 1)) {
        return client_fail(err, err_bytes, "--key %s: %s", tls->key_file,
                           client_tls_error(why, sizeof(why)));
    }
    SSL_CTX_set_verify(client->ctx, tls->skip_verify ? SSL_VERIFY_NONE : SSL_VERIFY_PEER, NULL);
    client->ssl = SSL_new(client->ctx);
    if (client->ssl == NULL || SSL_set_fd(client->ssl, client->fd) != 1) {
        return client_fail(err, err_bytes, "%s: TLS: %s", address,
                           client_tls_error(why, sizeof(why)));
    }
    unsigned char ip[16];
    bool is_ip = inet_pton(AF_INET, host, ip) == 1 || inet_pton(AF_INET6, host, ip) == 1;
    if (!tls->skip_verify) {
        X509_VERIFY_PARAM *param = SSL_get0_param(client->ssl);
        if (is_ip ? X509_VERIFY_PARAM_set1_ip_asc(param, host) != 1
                  : X509_VERIFY_PARAM_set1_host(param, host, 0) != 1) {
            return client_fail(err, err_bytes, "%s: TLS: cannot check the name %s", address, host);
        }
    }
    if (!is_ip) {
        SSL_set_tlsext_host_name(client->ssl, host);
    }
    errno = 0;
    if (SSL_connect(client->ssl) != 1) {
        long verify = SSL_get_verify_result(client->ssl);
        if (verify != X509_V_OK) {
            return client_fail(err, err_bytes, "%s: TLS: server certificate refused: %s", address,
                               X509_verify_cert_error_string(verify));
        }
        return client_fail(err, err_bytes, "%s: TLS handshake failed: %s", address,
                           client_tls_error(why, sizeof(why)));
    }
    return 0;
}

int ballot_client_connect_tls(const char *address, uint32_t timeout_ms,
                              const ballot_client_tls_t *tls, ballot_client_t **out, char *err,
                              size_t err_bytes)
{
    char host[CLIENT_HOST_BYTES];
    char port[CLIENT_PORT_BYTES];
    if (!client_split(address, host, port)) {
        return client_fail(err, err_bytes, "'%s' is not host:port", address);
    }
    struct addrinfo hints;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    struct addrinfo *res = NULL;
    int rc = getaddrinfo(host, port, &hints, &res);
    if (rc != 0 || res == NULL) {
        return client_fail(err, err_bytes, "%s: %s", address, gai_strerror(rc));
    }
    int fd = client_connect_fd(res, timeout_ms);
    freeaddrinfo(res);
    if (fd < 0) {
        return client_fail(err, err_bytes, "%s: %s", address, strerror(errno));
    }
    ballot_client_t *client = calloc(1, sizeof(*client));
    if (client == NULL) {
        close(fd);
        return client_fail(err, err_bytes, "%s: out of memory", address);
    }
    client->fd = fd;
    if (tls != NULL && tls->enabled &&
        client_start_tls(client, address, host, tls, err, err_bytes) != 0) {
        ballot_client_close(client);
        return -1;
    }
    *out = client;
    return 0;
}

int ballot_client_connect(const char *address, uint32_t timeout_ms, ballot_client_t **out,
                          char *err, size_t err_bytes)
{
    return ballot_client_connect_tls(address, timeout_ms, NULL, out, err, err_bytes);
}

void ballot_client_close(ballot_client_t *client)
{
    if (client != NULL) {
        if (client->ssl != NULL) {
            SSL_free(client->ssl);
        }
        if (client->ctx != NULL) {
            SSL_CTX_free(client->ctx);
        }
        close(client->fd);
        free(client->buf);
        free(client);
    }
}

/* One read or write on the connection, through TLS when it has it; like read(2). */
static ssize_t client_io(ballot_client_t *c, bool writing, void *bytes, size_t size)
{
    if (c->ssl == NULL) {
        return writing ? write(c->fd, bytes, size) : read(c->fd, bytes, size);
    }
    int chunk = size > (size_t)(1u << 30) ? (1 << 30) : (int)size;
    errno = 0;
    int n = writing ? SSL_write(c->ssl, bytes, chunk) : SSL_read(c->ssl, bytes, chunk);
    if (n > 0) {
        return n;
    }
    int e = SSL_get_error(c->ssl, n);
    ERR_clear_error();
    if (e == SSL_ERROR_ZERO_RETURN) {
        return 0;
    }
    if (e == SSL_ERROR_SYSCALL && errno == 0) {
        return 0; /* the peer closed without a close_notify */
    }
    if (errno == 0) {
        errno = EPROTO;
    }
    return -1;
}

/* Makes sure at least `need` unread bytes are buffered. */
static int client_fill(ballot_client_t *c, size_t need, char *err, size_t err_bytes)
{
    /* Bounded: each read adds at least one byte, and need is bounded by the reply limit. */
    while (c->end - c->start < need) {
        if (c->start > 0 && c->start == c->end) {
            c->start = c->end = 0;
        }
        if (c->cap - c->end < CLIENT_READ_CHUNK) {
            size_t cap = c->cap == 0 ? CLIENT_READ_CHUNK * 2 : c->cap * 2;
            if (cap > BALLOT_CLIENT_REPLY_BYTES_MAX * 2) {
                return client_fail(err, err_bytes, "reply too large");
            }
            uint8_t *grown = realloc(c->buf, cap);
            if (grown == NULL) {
                return client_fail(err, err_bytes, "out of memory");
            }
            c->buf = grown;
            c->cap = cap;
        }
        ssize_t n = client_io(c, false, c->buf + c->end, c->cap - c->end);
        if (n == 0) {
            return client_fail(err, err_bytes, "connection closed by the server");
        }
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return client_fail(err, err_bytes, "read: %s",
                               errno == EAGAIN ? "timed out" : strerror(errno));
        }
        c->end += (size_t)n;
    }
    return 0;
}

/* Reads one "\r\n"-terminated line; *line points into the buffer (NUL replaces '\r'). */
static int client_line(ballot_client_t *c, char **line, char *err, size_t err_bytes)
{
    size_t scanned = 0;
    for (;;) {
        uint8_t *start = c->buf + c->start;
        size_t have = c->end - c->start;
        for (; scanned + 1 < have; scanned++) {
            if (start[scanned] == '\r' && start[scanned + 1] == '\n') {
                start[scanned] = '\0';
                *line = (char *)start;
                c->start += scanned + 2;
                return 0;
            }
        }
        if (have > CLIENT_LINE_MAX) {
            return client_fail(err, err_bytes, "protocol error: line too long");
        }
        if (client_fill(c, have + 1, err, err_bytes) != 0) {
            return -1;
        }
    }
}

static int client_parse_int(const char *text, int64_t *out)
{
    char *end = NULL;
    errno = 0;
    long long v = strtoll(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0') {
        return -1;
    }
    *out = (int64_t)v;
    return 0;
}

static int client_copy_text(ballot_reply_t *reply, const char *text, size_t size)
{
    reply->text = malloc(size + 1);
    if (reply->text == NULL) {
        return -1;
    }
    memcpy(reply->text, text, size);
    reply->text[size] = '\0';
    reply->size = size;
    return 0;
}

/* One non-array value whose first line was just read. */
static int client_scalar(ballot_client_t *c, char *line, ballot_reply_t *reply, char *err,
                         size_t err_bytes)
{
    int64_t n = 0;
    memset(reply, 0, sizeof(*reply));
    switch (line[0]) {
    case '+':
    case '-':
        reply->type = line[0] == '+' ? BALLOT_REPLY_STATUS : BALLOT_REPLY_ERROR;
        return client_copy_text(reply, line + 1, strlen(line + 1));
    case ':':
        reply->type = BALLOT_REPLY_INTEGER;
        if (client_parse_int(line + 1, &reply->integer) != 0) {
            break;
        }
        return 0;
    case '$':
        if (client_parse_int(line + 1, &n) != 0 || n < -1) {
            break;
        }
        if (n == -1) {
            reply->type = BALLOT_REPLY_NIL;
            return 0;
        }
        if ((uint64_t)n > BALLOT_CLIENT_REPLY_BYTES_MAX) {
            break;
        }
        if (client_fill(c, (size_t)n + 2, err, err_bytes) != 0) {
            return -1;
        }
        reply->type = BALLOT_REPLY_BULK;
        if (client_copy_text(reply, (const char *)c->buf + c->start, (size_t)n) != 0) {
            return client_fail(err, err_bytes, "out of memory");
        }
        c->start += (size_t)n + 2;
        return 0;
    default:
        break;
    }
    return client_fail(err, err_bytes, "protocol error: unexpected reply '%.40s'", line);
}

static int client_read_reply(ballot_client_t *c, ballot_reply_t *reply, char *err, size_t err_bytes)
{
    char *line = NULL;
    if (client_line(c, &line, err, err_bytes) != 0) {
        return -1;
    }
    if (line[0] != '*') {
        return client_scalar(c, line, reply, err, err_bytes);
    }
    int64_t count = 0;
    memset(reply, 0, sizeof(*reply));
    if (client_parse_int(line + 1, &count) != 0 || count < -1 ||
        count > (int64_t)BALLOT_CLIENT_ARRAY_MAX) {
        return client_fail(err, err_bytes, "protocol error: bad array length");
    }
    if (count == -1) {
        reply->type = BALLOT_REPLY_NIL;
        return 0;
    }
    reply->type = BALLOT_REPLY_ARRAY;
    reply->elements = calloc((size_t)count + 1, sizeof(*reply->elements));
    if (reply->elements == NULL) {
        return client_fail(err, err_bytes, "out of memory");
    }
    for (int64_t i = 0; i < count; i++) {
        if (client_line(c, &line, err, err_bytes) != 0) {
            ballot_reply_free(reply);
            return -1;
        }
        if (line[0] == '*' || client_scalar(c, line, &reply->elements[i], err, err_bytes) != 0) {
            ballot_reply_free(reply);
            return client_fail(err, err_bytes, "protocol error: nested or bad array");
        }
        reply->element_count++;
    }
    return 0;
}

int ballot_client_command(ballot_client_t *client, uint32_t argc, const char *const *argv,
                          const size_t *argv_len, ballot_reply_t *reply, char *err,
                          size_t err_bytes)
{
    const uint8_t *args[BALLOT_CLIENT_ARGS_MAX];
    uint32_t lens[BALLOT_CLIENT_ARGS_MAX];
    if (argc == 0 || argc > BALLOT_CLIENT_ARGS_MAX) {
        return client_fail(err, err_bytes, "bad argument count");
    }
    for (uint32_t i = 0; i < argc; i++) {
        args[i] = (const uint8_t *)argv[i];
        lens[i] = (uint32_t)(argv_len != NULL ? argv_len[i] : strlen(argv[i]));
    }
    wire_buf_t out;
    wire_buf_init(&out);
    if (resp_request_encode(&out, argc, args, lens) != 0) {
        wire_buf_free(&out);
        return client_fail(err, err_bytes, "out of memory");
    }
    size_t sent = 0;
    /* Bounded: each write sends at least one byte or fails. */
    while (sent < out.size) {
        ssize_t n = client_io(client, true, out.bytes + sent, out.size - sent);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            wire_buf_free(&out);
            return client_fail(err, err_bytes, "write: %s", strerror(errno));
        }
        sent += (size_t)n;
    }
    wire_buf_free(&out);
    return client_read_reply(client, reply, err, err_bytes);
}

void ballot_reply_free(ballot_reply_t *reply)
{
    if (reply == NULL) {
        return;
    }
    for (size_t i = 0; i < reply->element_count; i++) {
        free(reply->elements[i].text);
    }
    free(reply->elements);
    free(reply->text);
    memset(reply, 0, sizeof(*reply));
}

bool ballot_info_field(const char *info, const char *key, char *value, size_t value_bytes)
{
    size_t key_len = strlen(key);
    const char *at = info;
    /* Bounded by the text's length: each step moves past one line. */
    while (at != NULL && *at != '\0') {
        if (strncmp(at, key, key_len) == 0 && at[key_len] == ':') {
            const char *v = at + key_len + 1;
            size_t n = strcspn(v, "\r\n");
            if (n >= value_bytes) {
                n = value_bytes - 1;
            }
            memcpy(value, v, n);
            value[n] = '\0';
            return true;
        }
        at = strchr(at, '\n');
        at = at != NULL ? at + 1 : NULL;
    }
    return false;
}
