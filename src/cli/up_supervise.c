/* `cocoon up`, step 3: wait until the network serves, watch the children
 * (restarting one that dies, up_restart.c says when) and stop them all in
 * order. */
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>

#include "cli/up.h"

#define READY_TIMEOUT 180.0 /* seconds: the embedded model loads before serving */
#define STOP_GRACE 5.0

/* Set by the signal handler; the only state a handler may touch. */
static volatile sig_atomic_t stop_signal;

static void on_stop_signal(int sig)
{
    stop_signal = sig;
}

void up_catch_stop_signals(void)
{
    struct sigaction sa = {.sa_handler = on_stop_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* GET path on 127.0.0.1:port with HTTP/1.0; returns the body (heap) of a 200
 * answer, or NULL. Blocking with a short timeout: only used while starting. */
static char *http_get(int port, const char *path, const char *api_key)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return NULL;
    struct timeval tv = {2, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        close(fd);
        return NULL;
    }
    char req[1024];
    int n = snprintf(req, sizeof(req), "GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n%s%.400s%s\r\n", path,
                     api_key ? "Authorization: Bearer " : "", api_key ? api_key : "",
                     api_key ? "\r\n" : "");
    if (n < 0 || (size_t)n >= sizeof(req)) {
        close(fd);
        return NULL;
    }
    if (write(fd, req, (size_t)n) != n) {
        close(fd);
        return NULL;
    }
    cc_buf b = CC_BUF_INIT;
    for (;;) {
        cc_buf_reserve(&b, 4096);
        ssize_t r = read(fd, b.data + b.len, b.cap - b.len - 1);
        if (r <= 0) break;
        b.len += (size_t)r;
        if (b.len > (1 << 20)) break;
    }
    close(fd);
    cc_buf_append_u8(&b, 0);
    char *s = (char *)b.data;
    char *body = s ? strstr(s, "\r\n\r\n") : NULL;
    char *out = NULL;
    if (body && strncmp(s, "HTTP/1.", 7) == 0 && strncmp(s + 8, " 200", 4) == 0)
        out = cc_strdup(body + 4);
    cc_buf_free(&b);
    return out;
}

/* True once /v1/models lists at least one model. */
static bool client_ready(int port, const char *api_key, char *model_out, size_t n)
{
    char *body = http_get(port, "/v1/models", api_key);
    if (!body) return false;
    json_t *j = json_loads(body, 0, NULL);
    free(body);
    bool ok = false;
    json_t *data = j ? json_object_get(j, "data") : NULL;
    if (json_is_array(data) && json_array_size(data) > 0) {
        const char *id = json_string_value(json_object_get(json_array_get(data, 0), "id"));
        snprintf(model_out, n, "%s", id ? id : "");
        ok = true;
    }
    json_decref(j);
    return ok;
}

/* Returns the index of a child that exited (and reports it), or -1. */
static int reap(up_children *ch)
{
    for (size_t i = 0; i < ch->n; i++) {
        up_child *c = &ch->c[i];
        if (!c->running) continue;
        int st;
        if (waitpid(c->pid, &st, WNOHANG) == c->pid) {
            c->running = false;
            if (WIFSIGNALED(st))
                fprintf(stderr, "cocoon up: %s (pid %d) was killed by signal %d\n", c->name,
                        (int)c->pid, WTERMSIG(st));
            else
                fprintf(stderr, "cocoon up: %s (pid %d) exited with status %d\n", c->name,
                        (int)c->pid, WEXITSTATUS(st));
            return (int)i;
        }
    }
    return -1;
}

int up_wait_ready(up_children *ch, int port, const char *api_key, const char *dir, char *served,
                  size_t n)
{
    double deadline = cc_now_mono() + READY_TIMEOUT;
    while (!client_ready(port, api_key, served, n)) {
        if (stop_signal) {
            fprintf(stderr, "cocoon up: signal %d, stopping\n", (int)stop_signal);
            return 1;
        }
        if (reap(ch) >= 0) {
            fprintf(stderr, "cocoon up: a process died while starting; logs are in %s\n", dir);
            return -1;
        }
        if (cc_now_mono() > deadline) {
            fprintf(stderr, "cocoon up: the network was not ready after %.0f s; logs are in %s\n",
                    READY_TIMEOUT, dir);
            return -1;
        }
        sleep_ms(100);
    }
    return 0;
}

/* Starts the children whose restart is due; a child that cannot even be
 * forked is tried again after its backoff rather than given up on. */
static void restart_due(up_children *ch, const char *dir, double now)
{
    for (size_t i = 0; i < ch->n; i++) {
        up_child *c = &ch->c[i];
        if (c->running || c->restart_at <= 0 || now < c->restart_at) continue;
        cc_err err = {0};
        pid_t pid = up_spawn(c->argv[0], c->argv + 1, dir, c->name, NULL, &err);
        if (pid < 0) {
            fprintf(stderr, "cocoon up: cannot restart %s: %s; trying again in 5 s\n", c->name,
                    err.msg);
            c->restart_at = now + 5;
            continue;
        }
        c->pid = pid;
        c->running = true;
        c->restart_at = 0;
        c->restarts++;
        fprintf(stderr, "cocoon up: %s restarted (pid %d, restart %u)\n", c->name, (int)pid,
                c->restarts);
    }
}

int up_supervise(up_children *ch, const char *dir, const up_restart_policy *pol)
{
    while (!stop_signal) {
        int i;
        while ((i = reap(ch)) >= 0) {
            up_child *c = &ch->c[i];
            double now = cc_now_mono();
            if (!c->argv) {
                fprintf(stderr, "cocoon up: %s cannot be restarted, stopping; logs are in %s\n",
                        c->name, dir);
                return 1;
            }
            double delay = up_restart_after_death(c, pol, now);
            if (delay < 0) {
                fprintf(stderr,
                        "cocoon up: %s died %d times within %.0f s, stopping everything; "
                        "logs are in %s\n",
                        c->name, pol->crash_limit, pol->crash_window, dir);
                return 1;
            }
            fprintf(stderr, "cocoon up: restarting %s in %.1f s (its log: %s/%s.log)\n", c->name,
                    delay, dir, c->name);
            c->restart_at = now + delay;
        }
        restart_due(ch, dir, cc_now_mono());
        sleep_ms(100);
    }
    fprintf(stderr, "cocoon up: signal %d, stopping\n", (int)stop_signal);
    return 0;
}

void up_stop_children(up_children *ch)
{
    /* Client first, proxy last: requests drain in the natural order. */
    for (size_t i = ch->n; i-- > 0;)
        if (ch->c[i].running) kill(ch->c[i].pid, SIGTERM);
    double end = cc_now_mono() + STOP_GRACE;
    for (;;) {
        bool any = false;
        for (size_t i = 0; i < ch->n; i++) {
            up_child *c = &ch->c[i];
            if (!c->running) continue;
            int st;
            pid_t r = waitpid(c->pid, &st, WNOHANG);
            if (r == c->pid || (r < 0 && errno == ECHILD))
                c->running = false;
            else
                any = true;
        }
        if (!any) return;
        if (cc_now_mono() > end) break;
        sleep_ms(50);
    }
    for (size_t i = 0; i < ch->n; i++) {
        up_child *c = &ch->c[i];
        if (!c->running) continue;
        fprintf(stderr, "cocoon up: %s did not stop, killing it\n", c->name);
        kill(c->pid, SIGKILL);
        waitpid(c->pid, NULL, 0);
        c->running = false;
    }
}
