/* Collateral from a URL: keeps the TDX collateral of a daemon's policies
 * current. The document is fetched with the daemon's http_client on its loop
 * (the loop never waits on the network; handshakes meanwhile use whatever
 * collateral the policies already hold), parsed once per watched policy, and
 * fetched again well before the earliest nextUpdate among its items. A failed
 * fetch keeps the old collateral and retries with a growing delay. */
#include "daemon/daemon.h"

#include <string.h>

#include <event2/event.h>

#define MAX_WATCHED 4
#define MAX_BODY (4u << 20)
#define RETRY_MIN 5.0

struct daemon_collateral {
    struct event_base *base;
    http_client *http;
    http_client_req *req;
    struct event *timer;
    char *url;
    double refresh;
    double retry; /* current retry delay after a failure */
    tee_policy *watched[MAX_WATCHED];
    size_t n_watched;
    cc_buf body;
    int status;
    bool too_big;
    uint64_t fetches, failures;
    time_t next_update; /* of the collateral in use; 0 = none yet */
    char last_error[160];
};

double daemon_collateral_refresh_delay(time_t now, time_t next_update, double refresh)
{
    /* Half the time left before the first item goes stale, so a failed fetch
     * has the other half for its retries; never more than the interval. */
    double left = difftime(next_update, now);
    double d = left / 2 < refresh ? left / 2 : refresh;
    return d < RETRY_MIN ? RETRY_MIN : d;
}

static void schedule(daemon_collateral *c, double delay)
{
    struct timeval tv = {(time_t)delay, (suseconds_t)((delay - (double)(time_t)delay) * 1e6)};
    evtimer_add(c->timer, &tv);
}

static void failed(daemon_collateral *c, const char *why)
{
    c->failures++;
    snprintf(c->last_error, sizeof(c->last_error), "%s", why);
    CC_WARN("event=collateral_fetch_failed url=\"%s\" reason=\"%s\" retry_in=%.0f", c->url, why,
            c->retry);
    schedule(c, c->retry);
    c->retry = c->retry * 2 < c->refresh ? c->retry * 2 : c->refresh;
}

static int on_head(void *ud, int status, const http_header *h, size_t n)
{
    (void)h;
    (void)n;
    ((daemon_collateral *)ud)->status = status;
    return 0;
}

static void on_body(void *ud, const uint8_t *data, size_t len)
{
    daemon_collateral *c = ud;
    if (c->body.len + len > MAX_BODY) {
        c->too_big = true;
        return;
    }
    cc_buf_append(&c->body, data, len);
}

/* Parses the document once per watched policy (each owns its copy) and
 * hands it over; nothing changes unless every copy parsed. */
static int install(daemon_collateral *c, cc_err *err)
{
    tee_collateral *copies[MAX_WATCHED] = {0};
    for (size_t i = 0; i < c->n_watched; i++) {
        copies[i] = tee_collateral_parse((const char *)c->body.data, c->body.len, err);
        if (!copies[i]) {
            for (size_t k = 0; k < i; k++)
                tee_collateral_free(copies[k]);
            return -1;
        }
    }
    time_t next = 0;
    if (c->n_watched) tee_collateral_next_update(copies[0], &next);
    for (size_t i = 0; i < c->n_watched; i++)
        tee_policy_set_collateral(c->watched[i], copies[i], 0);
    c->next_update = next;
    return 0;
}

static void on_done(void *ud, http_client_result result, const char *error)
{
    daemon_collateral *c = ud;
    c->req = NULL;
    char why[160];
    cc_err err = {0};
    if (result != HTTP_CLIENT_OK) {
        failed(c, error ? error : "request failed");
    } else if (c->status != 200) {
        snprintf(why, sizeof(why), "HTTP status %d", c->status);
        failed(c, why);
    } else if (c->too_big) {
        failed(c, "document larger than 4 MiB");
    } else if (install(c, &err) < 0) {
        failed(c, err.msg);
    } else {
        c->fetches++;
        c->retry = RETRY_MIN;
        c->last_error[0] = 0;
        double delay = daemon_collateral_refresh_delay(time(NULL), c->next_update, c->refresh);
        CC_INFO("event=collateral_fetched url=\"%s\" next_update=%lld refresh_in=%.0f", c->url,
                (long long)c->next_update, delay);
        schedule(c, delay);
    }
    cc_buf_reset(&c->body);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    daemon_collateral *c = arg;
    c->status = 0;
    c->too_big = false;
    cc_buf_reset(&c->body);
    http_client_request req = {.method = "GET", .url = c->url, .timeout = 30};
    http_client_callbacks cb = {on_head, on_body, on_done};
    cc_err err = {0};
    c->req = http_client_start(c->http, &req, &cb, c, &err);
    if (!c->req) failed(c, err.msg);
}

daemon_collateral *daemon_collateral_new(struct event_base *base, const char *url, double refresh,
                                         cc_err *err)
{
    http_client *http = http_client_new(base, &(http_client_config){.max_connections = 2}, err);
    if (!http) return NULL;
    daemon_collateral *c = cc_calloc(1, sizeof(*c));
    c->base = base;
    c->http = http;
    c->url = cc_strdup(url);
    c->refresh = refresh > RETRY_MIN ? refresh : RETRY_MIN;
    c->retry = RETRY_MIN;
    c->timer = evtimer_new(base, on_timer, c);
    return c;
}

int daemon_collateral_watch(daemon_collateral *c, tee_policy *p, cc_err *err)
{
    if (c->n_watched == MAX_WATCHED)
        return cc_err_set(err, "collateral: more than %d policies", MAX_WATCHED);
    c->watched[c->n_watched++] = p;
    return 0;
}

void daemon_collateral_start(daemon_collateral *c)
{
    schedule(c, 0);
}

void daemon_collateral_stats(const daemon_collateral *c, uint64_t *fetches, uint64_t *failures,
                             time_t *next_update)
{
    if (fetches) *fetches = c->fetches;
    if (failures) *failures = c->failures;
    if (next_update) *next_update = c->next_update;
}

void daemon_collateral_free(daemon_collateral *c)
{
    if (!c) return;
    if (c->req) http_client_cancel(c->req);
    if (c->timer) event_free(c->timer);
    http_client_free(c->http);
    cc_buf_free(&c->body);
    free(c->url);
    free(c);
}
