/* Load generator for bench/lockd_bench.py (compiled by it with cc -O2).
 *
 *   lockd_load run PORT EXCLUSIVE_CONNS SHARED_CONNS SECONDS MAX_OPS DEPTH
 *   lockd_load paced PORT EXCLUSIVE_CONNS SHARED_CONNS SECONDS RATE DEPTH
 *   lockd_load cycles PORT COUNT
 *
 * run: EXCLUSIVE_CONNS connections loop "g bench:N" / "r bench:N" on a
 * name of their own, SHARED_CONNS loop "sg bench:shared" / "sr
 * bench:shared", until SECONDS pass or MAX_OPS replies came (0: no limit).
 * DEPTH 1 sends one command and waits for its reply; DEPTH 2 sends the get
 * and its release in one write (pipelined, as the protocol allows) and
 * waits for both. Latency is per command: from the write that carried it
 * to the read that brought its reply. One thread, epoll: the client must
 * cost less CPU than the server it measures.
 * paced: the same connections and commands (DEPTH as above), but each
 * connection sends its next command (or g+r pair) when it is due (RATE
 * commands/s in all, evenly spread), and latency counts from when it was
 * due: a slow
 * reply that delays the next command is not hidden (no coordinated
 * omission). A 100 us timerfd tick paces the sends.
 * cycles: COUNT times connect, "g cycle:I", read the reply, close.
 * Prints one line of key=value pairs.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#define MAX_US 1000000
static long histogram[MAX_US + 1];

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static int dial(int port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        perror("connect");
        exit(2);
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

static long percentile(long total, double p) {
    long want = (long)(total * p), seen = 0;
    for (long us = 0; us <= MAX_US; us++) {
        seen += histogram[us];
        if (seen > want) return us;
    }
    return MAX_US;
}

typedef struct {
    int fd, pending, phase;
    double sent_at;
    char get[64], put[64], both[128];
    int get_len, put_len, both_len;
} conn_t;

static void send_next(conn_t *c, int depth, double t) {
    const char *msg = depth == 2 ? c->both : (c->phase ? c->put : c->get);
    int len = depth == 2 ? c->both_len : (c->phase ? c->put_len : c->get_len);
    if (write(c->fd, msg, len) != len) { perror("write"); exit(2); }
    c->pending = depth;
    c->sent_at = t;
}

static void setup(conn_t *conns, int n, int nex, int port, int ep);

static int run(int port, int nex, int nsh, double seconds, long max_ops, int depth) {
    int n = nex + nsh, ep = epoll_create1(0);
    conn_t *conns = calloc(n, sizeof *conns);
    setup(conns, n, nex, port, ep);
    for (int i = 0; i < n; i++)
        conns[i].both_len = sprintf(conns[i].both, "%s%s", conns[i].get, conns[i].put);
    long ops = 0, failures = 0;
    double start = now(), end = start + seconds;
    for (int i = 0; i < n; i++) send_next(&conns[i], depth, now());
    struct epoll_event events[512];
    char buf[65536];
    int active = n;
    while (active > 0) {
        int k = epoll_wait(ep, events, 512, 2000);
        if (k == 0) { fprintf(stderr, "no reply for 2 s\n"); return 3; }
        double t = now();
        int stop = t > end || (max_ops && ops >= max_ops);
        for (int j = 0; j < k; j++) {
            conn_t *c = &conns[events[j].data.u32];
            ssize_t got = read(c->fd, buf, sizeof buf);
            if (got <= 0) { fprintf(stderr, "server closed a connection\n"); return 3; }
            for (ssize_t q = 0; q < got; q++) {
                if (q == 0 || buf[q - 1] == '\n') failures += buf[q] == '0';
                if (buf[q] != '\n') continue;
                long us = (long)((t - c->sent_at) * 1e6);
                histogram[us > MAX_US ? MAX_US : us]++;
                ops++;
                c->pending--;
            }
            if (c->pending == 0) {
                c->phase ^= 1;
                if (stop) {  /* leave every connection with its lock released */
                    if (depth == 2 || c->phase == 0) { active--; c->pending = -1; continue; }
                }
                send_next(c, depth, t);
            }
        }
    }
    double elapsed = now() - start;
    printf("ops=%ld elapsed_s=%.3f ops_per_s=%.0f p50_us=%ld p99_us=%ld max_us=%ld failures=%ld\n", ops, elapsed,
           ops / elapsed, percentile(ops, 0.50), percentile(ops, 0.99), percentile(ops, 0.999999), failures);
    for (int i = 0; i < n; i++) close(conns[i].fd);
    return failures ? 1 : 0;
}

static void setup(conn_t *conns, int n, int nex, int port, int ep) {
    for (int i = 0; i < n; i++) {
        conn_t *c = &conns[i];
        c->fd = dial(port);
        if (i < nex) {
            c->get_len = sprintf(c->get, "g bench:%d\n", i);
            c->put_len = sprintf(c->put, "r bench:%d\n", i);
        } else {
            c->get_len = sprintf(c->get, "sg bench:shared\n");
            c->put_len = sprintf(c->put, "sr bench:shared\n");
        }
        struct epoll_event e = {.events = EPOLLIN, .data.u32 = i};
        epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &e);
    }
}

static int paced(int port, int nex, int nsh, double seconds, double rate, int depth) {
    int n = nex + nsh, ep = epoll_create1(0);
    conn_t *conns = calloc(n, sizeof *conns);
    double *due = calloc(n, sizeof *due);
    setup(conns, n, nex, port, ep);
    for (int i = 0; i < n; i++)
        conns[i].both_len = sprintf(conns[i].both, "%s%s", conns[i].get, conns[i].put);
    double period = depth * n / rate;  /* each connection's interval between sends */
    int tick = timerfd_create(CLOCK_MONOTONIC, 0);
    struct itimerspec spec = {.it_interval = {0, 100000}, .it_value = {0, 100000}};
    timerfd_settime(tick, 0, &spec, NULL);
    struct epoll_event te = {.events = EPOLLIN, .data.u32 = (unsigned)n};
    epoll_ctl(ep, EPOLL_CTL_ADD, tick, &te);
    double start = now(), end = start + seconds;
    for (int i = 0; i < n; i++) due[i] = start + period * i / n;
    long ops = 0, failures = 0, late_sends = 0;
    struct epoll_event events[512];
    char buf[65536];
    int draining = 0;
    for (;;) {
        int k = epoll_wait(ep, events, 512, 2000);
        if (k == 0) { fprintf(stderr, "no reply for 2 s\n"); return 3; }
        double t = now();
        if (t > end) draining = 1;
        for (int j = 0; j < k; j++) {
            unsigned id = events[j].data.u32;
            if (id == (unsigned)n) { uint64_t x; if (read(tick, &x, sizeof x) < 0) {} continue; }
            conn_t *c = &conns[id];
            ssize_t got = read(c->fd, buf, sizeof buf);
            if (got <= 0) { fprintf(stderr, "server closed a connection\n"); return 3; }
            for (ssize_t q = 0; q < got; q++) {
                if (q == 0 || buf[q - 1] == '\n') failures += buf[q] == '0';
                if (buf[q] != '\n') continue;
                long us = (long)((t - c->sent_at) * 1e6);  /* sent_at holds the due time */
                histogram[us > MAX_US ? MAX_US : us]++;
                ops++;
                if (--c->pending == 0) {
                    if (depth == 1) c->phase ^= 1;
                    due[id] += period;
                }
            }
        }
        int idle = 1;
        for (int i = 0; i < n; i++) {
            conn_t *c = &conns[i];
            if (c->pending) { idle = 0; continue; }
            if (draining && c->phase == 0) continue;  /* holds nothing: done */
            idle = 0;
            if (due[i] > t) continue;
            late_sends += t - due[i] > 0.001;
            const char *msg = depth == 2 ? c->both : (c->phase ? c->put : c->get);
            int len = depth == 2 ? c->both_len : (c->phase ? c->put_len : c->get_len);
            if (write(c->fd, msg, len) != len) { perror("write"); return 2; }
            c->pending = depth;
            c->sent_at = due[i];
        }
        if (draining && idle) break;
    }
    double elapsed = now() - start;
    printf("ops=%ld elapsed_s=%.3f ops_per_s=%.0f p50_us=%ld p99_us=%ld max_us=%ld failures=%ld late_sends=%ld\n", ops,
           elapsed, ops / elapsed, percentile(ops, 0.50), percentile(ops, 0.99), percentile(ops, 0.999999), failures,
           late_sends);
    return failures ? 1 : 0;
}

static int cycles(int port, long count) {
    char line[64], buf[256];
    double start = now();
    for (long i = 0; i < count; i++) {
        int fd = dial(port);
        int len = sprintf(line, "g cycle:%ld\n", i % 1000);
        if (write(fd, line, len) != len || read(fd, buf, sizeof buf) <= 0) { perror("cycle"); return 2; }
        close(fd);
    }
    printf("cycles=%ld elapsed_s=%.3f\n", count, now() - start);
    return 0;
}

int main(int argc, char **argv) {
    if (argc == 8 && !strcmp(argv[1], "run"))
        return run(atoi(argv[2]), atoi(argv[3]), atoi(argv[4]), atof(argv[5]), atol(argv[6]), atoi(argv[7]));
    if (argc == 8 && !strcmp(argv[1], "paced"))
        return paced(atoi(argv[2]), atoi(argv[3]), atoi(argv[4]), atof(argv[5]), atof(argv[6]), atoi(argv[7]));
    if (argc == 4 && !strcmp(argv[1], "cycles")) return cycles(atoi(argv[2]), atol(argv[3]));
    fprintf(stderr, "usage: lockd_load run PORT EXCL SHARED SECONDS MAX_OPS DEPTH | paced PORT EXCL SHARED SECONDS RATE DEPTH"
                    " | cycles PORT COUNT\n");
    return 64;
}
