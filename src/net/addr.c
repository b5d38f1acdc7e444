#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "net/net.h"

#define ADDR_PORT_TEXT_BYTES 8u

/* Splits "host:port" or "[v6]:port" into host and port text. */
static bool addr_split(const char *text, char *host, char *port)
{
    const char *colon = NULL;
    const char *host_start = text;
    size_t host_len = 0;
    if (text[0] == '[') {
        const char *close = strchr(text, ']');
        if (close == NULL || close[1] != ':') {
            return false;
        }
        host_start = text + 1;
        host_len = (size_t)(close - host_start);
        colon = close + 1;
    } else {
        colon = strrchr(text, ':');
        if (colon == NULL) {
            return false;
        }
        host_len = (size_t)(colon - text);
    }
    size_t port_len = strlen(colon + 1);
    if (host_len == 0 || host_len >= NET_HOST_BYTES_MAX || port_len == 0 ||
        port_len >= ADDR_PORT_TEXT_BYTES) {
        return false;
    }
    memcpy(host, host_start, host_len);
    host[host_len] = '\0';
    memcpy(port, colon + 1, port_len + 1);
    return true;
}

int net_addr_parse(const char *text, net_addr_t *out, char *msg, size_t msg_bytes)
{
    memset(out, 0, sizeof(*out));
    char port_text[ADDR_PORT_TEXT_BYTES];
    if (text == NULL || !addr_split(text, out->host, port_text)) {
        snprintf(msg, msg_bytes, "'%s' is not host:port", text != NULL ? text : "");
        return BALLOT_EINVAL;
    }
    char *end = NULL;
    long port = strtol(port_text, &end, 10);
    if (*end != '\0' || port < 1 || port > 65535) {
        snprintf(msg, msg_bytes, "'%s': port must be 1..65535", text);
        return BALLOT_EINVAL;
    }
    out->port = (uint16_t)port;
    struct addrinfo hints;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    struct addrinfo *res = NULL;
    int rc = getaddrinfo(out->host, port_text, &hints, &res);
    if (rc != 0 || res == NULL) {
        snprintf(msg, msg_bytes, "'%s': cannot resolve host: %s", text, gai_strerror(rc));
        return BALLOT_EINVAL;
    }
    memcpy(&out->sockaddr, res->ai_addr, res->ai_addrlen);
    freeaddrinfo(res);
    return BALLOT_OK;
}

const char *net_addr_format(const net_addr_t *addr, char *buf, size_t buf_bytes)
{
    if (strchr(addr->host, ':') != NULL) {
        snprintf(buf, buf_bytes, "[%s]:%u", addr->host, (unsigned)addr->port);
    } else {
        snprintf(buf, buf_bytes, "%s:%u", addr->host, (unsigned)addr->port);
    }
    return buf;
}
