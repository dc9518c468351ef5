/* The stats server, logging start and signal-driven main loop the three
 * daemons share. */
#include "daemon/daemon.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

http_server *daemon_stats_http_new(struct event_base *base, const char *host, int port,
                                   const daemon_http_limits *lim, const char *title,
                                   http_stats_fill fill, http_health_fn healthy, void *ud,
                                   cc_err *err)
{
    http_server_config hc = {.host = host, .port = port};
    if (lim) daemon_http_limits_apply(lim, &hc);
    http_server *s = http_server_new(base, &hc, err);
    if (!s) {
        cc_err_prefix(err, "stats HTTP on %s:%u", host, (unsigned)port);
        return NULL;
    }
    http_server_add_stats(s, title, fill, healthy, ud);
    return s;
}

void daemon_json_add_peer_info(json_t *entry, const tee_peer_info *pi)
{
    if (!pi) return;
    char hex[65] = "";
    if (pi->quote_verified) cc_hex_encode(pi->image_hash, 32, hex);
    json_object_set_new(entry, "image_hash", json_string(hex));
    json_object_set_new(entry, "attestation", json_string(pi->summary));
}

json_t *daemon_json_counts(const daemon_count *counts, size_t n)
{
    json_t *o = json_object();
    for (size_t i = 0; i < n; i++)
        json_object_set_new(o, counts[i].name, json_integer((json_int_t)counts[i].value));
    return o;
}

void daemon_log_start(const char *component, const char *log_level)
{
    cc_log_init(component, cc_log_level_from_string(log_level));
    cc_log_buffered(true); /* daemon_run() flushes on a timer */
    signal(SIGPIPE, SIG_IGN);
}

int daemon_args_split(int argc, char **argv, const char **config, char ***rest, int *nrest)
{
    char **r = cc_calloc((size_t)argc + 1, sizeof(char *));
    int n = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h") || !strcmp(argv[i], "--version")) {
            free(r);
            *rest = NULL;
            *nrest = 0;
            return strcmp(argv[i], "--version") ? 1 : 2;
        }
        if (!strcmp(argv[i], "--config") && i + 1 < argc)
            *config = argv[++i];
        else
            r[n++] = argv[i];
    }
    *rest = r;
    *nrest = n;
    return 0;
}

static void on_signal(evutil_socket_t sig, short what, void *ud)
{
    (void)what;
    CC_INFO("event=signal sig=%d action=stop", (int)sig);
    event_base_loopbreak(ud);
}

static void on_log_flush(evutil_socket_t fd, short what, void *ud)
{
    (void)fd, (void)what, (void)ud;
    cc_log_flush();
}

void daemon_run(struct event_base *base)
{
    struct event *sigint = evsignal_new(base, SIGINT, on_signal, base);
    struct event *sigterm = evsignal_new(base, SIGTERM, on_signal, base);
    /* Log lines reach stderr within 100 ms: soon enough for a person or a test watching the log,
     * rare enough that a busy daemon writes many lines per write(2). */
    struct event *flush = event_new(base, -1, EV_PERSIST, on_log_flush, NULL);
    const struct timeval every = {0, 100 * 1000};
    event_add(sigint, NULL);
    event_add(sigterm, NULL);
    event_add(flush, &every);
    event_base_dispatch(base);
    event_free(sigint);
    event_free(sigterm);
    event_free(flush);
    cc_log_flush();
}
