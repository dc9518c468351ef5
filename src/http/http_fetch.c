/* A blocking GET for command-line tools (http.h, "blocking fetch"): the
 * event-loop client on a private loop, following redirects by hand, since
 * the client itself never does (a daemon decides where it talks to). */
#include "http.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <event2/event.h>

typedef struct {
    bool finished;
    http_client_result res;
    char error[256];
    int status;
    char *location; /* of a redirect */
    cc_buf *out;
    size_t max_body;
    bool too_big;
} fetch_state;

static int fetch_head(void *ud, int status, const http_header *h, size_t n)
{
    fetch_state *f = ud;
    f->status = status;
    for (size_t i = 0; i < n; i++)
        if (!strcasecmp(h[i].name, "Location")) {
            free(f->location);
            f->location = cc_strdup(h[i].value);
        }
    return 0;
}

static void fetch_body(void *ud, const uint8_t *data, size_t len)
{
    fetch_state *f = ud;
    if (f->status < 200 || f->status >= 300 || f->too_big) return;
    if (f->out->len + len > f->max_body) {
        f->too_big = true;
        return;
    }
    cc_buf_append(f->out, data, len);
}

static void fetch_done(void *ud, http_client_result res, const char *error)
{
    fetch_state *f = ud;
    f->finished = true;
    f->res = res;
    snprintf(f->error, sizeof f->error, "%s", error ? error : "");
}

/* The next URL of a redirect: absolute, or an absolute path on the same
 * origin. NULL for anything else. */
static char *resolve_location(const char *base, const char *loc)
{
    if (!strncasecmp(loc, "http://", 7) || !strncasecmp(loc, "https://", 8)) return cc_strdup(loc);
    if (loc[0] != '/' || loc[1] == '/') return NULL;
    const char *host = strstr(base, "://");
    if (!host) return NULL;
    const char *path = strchr(host + 3, '/');
    size_t origin = path ? (size_t)(path - base) : strlen(base);
    cc_buf b = CC_BUF_INIT;
    cc_buf_append(&b, base, origin);
    cc_buf_append_fmt(&b, "%s", loc);
    return cc_buf_steal_str(&b);
}

int http_get_blocking(const char *url, double timeout, size_t max_body, int max_redirects,
                      cc_buf *out, cc_err *err)
{
    struct event_base *loop = event_base_new();
    if (!loop) return cc_err_set(err, "cannot create an event loop");
    http_client *c = http_client_new(loop, NULL, err);
    if (!c) {
        event_base_free(loop);
        return -1;
    }
    char *cur = cc_strdup(url);
    int rc = -1;
    for (int hop = 0;; hop++) {
        out->len = 0;
        fetch_state f = {.out = out, .max_body = max_body};
        http_client_request rq = {.method = "GET", .url = cur, .timeout = timeout};
        static const http_client_callbacks cbs = {fetch_head, fetch_body, fetch_done};
        if (!http_client_start(c, &rq, &cbs, &f, err)) break;
        while (!f.finished) /* the request's timeout ends the wait */
            event_base_loop(loop, EVLOOP_ONCE);
        if (f.res != HTTP_CLIENT_OK) {
            cc_err_set(err, "GET %s: %s", cur,
                       f.res == HTTP_CLIENT_ERR_TIMEOUT ? "timed out" : f.error);
        } else if (f.status >= 300 && f.status < 400 && f.location) {
            char *next = resolve_location(cur, f.location);
            if (!next)
                cc_err_set(err, "GET %s: unusable redirect to \"%.200s\"", cur, f.location);
            else if (hop >= max_redirects)
                cc_err_set(err, "GET %s: more than %d redirects", url, max_redirects);
            free(f.location);
            if (next && hop < max_redirects) {
                free(cur);
                cur = next;
                continue;
            }
            free(next);
            break;
        } else if (f.status < 200 || f.status >= 300) {
            cc_err_setc(err, f.status, "GET %s: HTTP %d", cur, f.status);
        } else if (f.too_big) {
            cc_err_set(err, "GET %s: body larger than %zu bytes", cur, max_body);
        } else {
            rc = 0;
        }
        free(f.location);
        break;
    }
    free(cur);
    http_client_free(c);
    event_base_free(loop);
    return rc;
}
