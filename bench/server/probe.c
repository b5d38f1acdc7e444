/* ballot-bench-probe: the measurements bench.sh needs that redis-benchmark does not make.
 *
 *   fsync DIR COUNT          p50/p99 of a 256-byte append + fdatasync in DIR (the floor a
 *                            replicated write cannot beat on this disk)
 *   rtt COUNT                p50/p99 of a 1-byte TCP ping-pong over loopback
 *   failover PID ADDRS       kill -9 PID, then SET through ADDRS (host:port,...) until one
 *                            is acknowledged; prints the milliseconds from kill to that ack
 *   load ADDR COUNT KEY VAL  COUNT distinct keys of KEY bytes with VAL-byte values,
 *                            pipelined 256 deep
 *
 * Output lines are `name value` pairs for bench.sh to read. */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define PROBE_SAMPLES_MAX 100000u
#define PROBE_ADDRS_MAX   16u
#define PROBE_PIPELINE    256u
#define PROBE_BUF_BYTES   (1u << 20)
#define PROBE_FAILOVER_MS 30000u
#define PROBE_RETRY_US    2000u

static uint64_t probe_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static int probe_cmp(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a;
    uint64_t y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void probe_report(const char *name, uint64_t *samples, size_t n)
{
    qsort(samples, n, sizeof(*samples), probe_cmp);
    printf("%s_p50_us %llu\n%s_p99_us %llu\n", name, (unsigned long long)samples[n / 2], name,
           (unsigned long long)samples[(n * 99) / 100]);
}

static size_t probe_count(const char *text)
{
    long n = strtol(text, NULL, 10);
    if (n < 1 || n > (long)PROBE_SAMPLES_MAX) {
        fprintf(stderr, "probe: count must be 1..%u\n", PROBE_SAMPLES_MAX);
        exit(2);
    }
    return (size_t)n;
}

static int probe_fsync(const char *dir, size_t n)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/probe-fsync.tmp", dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        perror(path);
        return 1;
    }
    uint64_t *samples = calloc(n, sizeof(*samples));
    char record[256];
    memset(record, 'r', sizeof(record));
    for (size_t i = 0; i < n; i++) {
        uint64_t t0 = probe_now_us();
        if (write(fd, record, sizeof(record)) != (ssize_t)sizeof(record) || fdatasync(fd) != 0) {
            perror("write/fdatasync");
            return 1;
        }
        samples[i] = probe_now_us() - t0;
    }
    close(fd);
    unlink(path);
    probe_report("fdatasync", samples, n);
    free(samples);
    return 0;
}

static void *probe_echo(void *arg)
{
    int listener = *(int *)arg;
    int fd = accept(listener, NULL, NULL);
    char byte;
    while (fd >= 0 && read(fd, &byte, 1) == 1 && write(fd, &byte, 1) == 1) {
    }
    if (fd >= 0) {
        close(fd);
    }
    return NULL;
}

static int probe_rtt(size_t n)
{
    int listener = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(addr);
    if (bind(listener, (struct sockaddr *)&addr, sizeof(addr)) != 0 || listen(listener, 1) != 0 ||
        getsockname(listener, (struct sockaddr *)&addr, &len) != 0) {
        perror("listen");
        return 1;
    }
    pthread_t t;
    pthread_create(&t, NULL, probe_echo, &listener);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0) {
        perror("connect");
        return 1;
    }
    uint64_t *samples = calloc(n, sizeof(*samples));
    char byte = 'x';
    for (size_t i = 0; i < n; i++) {
        uint64_t t0 = probe_now_us();
        if (write(fd, &byte, 1) != 1 || read(fd, &byte, 1) != 1) {
            perror("ping");
            return 1;
        }
        samples[i] = probe_now_us() - t0;
    }
    close(fd);
    pthread_join(t, NULL);
    close(listener);
    probe_report("loopback_rtt", samples, n);
    free(samples);
    return 0;
}

static int probe_connect(const char *address, uint32_t timeout_ms)
{
    char host[256];
    const char *colon = strrchr(address, ':');
    if (colon == NULL || (size_t)(colon - address) >= sizeof(host)) {
        return -1;
    }
    memcpy(host, address, (size_t)(colon - address));
    host[colon - address] = '\0';
    struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM};
    struct addrinfo *res = NULL;
    if (getaddrinfo(host, colon + 1, &hints, &res) != 0) {
        return -1;
    }
    int fd = socket(res->ai_family, SOCK_STREAM, 0);
    struct timeval tv = {.tv_sec = timeout_ms / 1000u, .tv_usec = (timeout_ms % 1000u) * 1000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(fd, res->ai_addr, res->ai_addrlen) != 0) {
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    return fd;
}

/* One SET; 1 when acknowledged with +OK. */
static int probe_set_once(const char *address, uint64_t n)
{
    int fd = probe_connect(address, 5000);
    if (fd < 0) {
        return 0;
    }
    char req[128];
    char value[32];
    int vlen = snprintf(value, sizeof(value), "%llu", (unsigned long long)n);
    int len = snprintf(req, sizeof(req), "*3\r\n$3\r\nSET\r\n$8\r\nfailover\r\n$%d\r\n%s\r\n", vlen,
                       value);
    char reply[256];
    ssize_t got = -1;
    if (write(fd, req, (size_t)len) == len) {
        got = read(fd, reply, sizeof(reply));
    }
    close(fd);
    return got >= 3 && memcmp(reply, "+OK", 3) == 0;
}

static int probe_failover(const char *pid_text, const char *addrs)
{
    char list[PROBE_ADDRS_MAX][256];
    size_t count = 0;
    for (const char *at = addrs; *at != '\0' && count < PROBE_ADDRS_MAX;) {
        size_t n = strcspn(at, ",");
        snprintf(list[count++], sizeof(list[0]), "%.*s", (int)n, at);
        at += n + (at[n] == ',' ? 1 : 0);
    }
    pid_t pid = (pid_t)strtol(pid_text, NULL, 10);
    uint64_t t0 = probe_now_us();
    if (pid <= 1 || kill(pid, SIGKILL) != 0) {
        perror("kill");
        return 1;
    }
    for (uint64_t attempt = 0; probe_now_us() - t0 < PROBE_FAILOVER_MS * 1000u; attempt++) {
        if (probe_set_once(list[attempt % count], attempt)) {
            printf("failover_ms %.1f\n", (double)(probe_now_us() - t0) / 1000.0);
            return 0;
        }
        usleep(PROBE_RETRY_US);
    }
    printf("failover_ms timeout\n");
    return 1;
}

static int probe_load(const char *address, size_t count, size_t key_bytes, size_t value_bytes)
{
    int fd = probe_connect(address, 30000);
    if (fd < 0 || key_bytes < 4 || key_bytes > 64 || value_bytes > 4096) {
        fprintf(stderr, "probe: cannot connect or bad sizes\n");
        return 1;
    }
    char *buf = malloc(PROBE_BUF_BYTES);
    char value[4097];
    memset(value, 'v', value_bytes);
    value[value_bytes] = '\0';
    uint64_t errors = 0;
    uint64_t t0 = probe_now_us();
    for (size_t done = 0; done < count;) {
        size_t batch = count - done < PROBE_PIPELINE ? count - done : PROBE_PIPELINE;
        size_t len = 0;
        for (size_t i = 0; i < batch; i++) {
            char key[80];
            snprintf(key, sizeof(key), "k%0*zu", (int)(key_bytes - 1), done + i);
            len += (size_t)snprintf(buf + len, PROBE_BUF_BYTES - len,
                                    "*3\r\n$3\r\nSET\r\n$%zu\r\n%s\r\n$%zu\r\n%s\r\n", key_bytes,
                                    key, value_bytes, value);
        }
        if (write(fd, buf, len) != (ssize_t)len) {
            perror("write");
            return 1;
        }
        size_t lines = 0;
        /* Bounded: each read returns bytes or fails (5 s timeout). */
        while (lines < batch) {
            ssize_t n = read(fd, buf, PROBE_BUF_BYTES);
            if (n <= 0) {
                perror("read");
                return 1;
            }
            for (ssize_t i = 0; i < n; i++) {
                errors += buf[i] == '-';
                lines += buf[i] == '\n';
            }
        }
        done += batch;
    }
    printf("load_keys %zu\nload_errors %llu\nload_seconds %.2f\n", count,
           (unsigned long long)errors, (double)(probe_now_us() - t0) / 1e6);
    free(buf);
    close(fd);
    return errors == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
    if (argc == 4 && strcmp(argv[1], "fsync") == 0) {
        return probe_fsync(argv[2], probe_count(argv[3]));
    }
    if (argc == 3 && strcmp(argv[1], "rtt") == 0) {
        return probe_rtt(probe_count(argv[2]));
    }
    if (argc == 4 && strcmp(argv[1], "failover") == 0) {
        return probe_failover(argv[2], argv[3]);
    }
    if (argc == 6 && strcmp(argv[1], "load") == 0) {
        return probe_load(argv[2], (size_t)strtoull(argv[3], NULL, 10),
                          (size_t)strtoull(argv[4], NULL, 10), (size_t)strtoull(argv[5], NULL, 10));
    }
    fprintf(stderr, "usage: ballot-bench-probe fsync DIR COUNT | rtt COUNT | failover PID "
                    "ADDRS | load ADDR COUNT KEY_BYTES VALUE_BYTES\n");
    return 2;
}
