/*
 * /jsonstats, /stats (HTML), /metrics (Prometheus text) and /healthz, all
 * rendered from one JSON object the daemon fills on demand.
 */
#include "http_internal.h"

#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

struct http_stats_page {
    char *title;
    http_stats_fill fill;
    http_health_fn healthy;
    void *ud;
};

void http_stats_page_free(http_stats_page *p)
{
    if (!p) return;
    free(p->title);
    free(p);
}

/* ------------------------------------------------------------------ HTML */

static void html_escape(cc_buf *b, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '<':
            cc_buf_append_str(b, "&lt;");
            break;
        case '>':
            cc_buf_append_str(b, "&gt;");
            break;
        case '&':
            cc_buf_append_str(b, "&amp;");
            break;
        case '"':
            cc_buf_append_str(b, "&quot;");
            break;
        case '\'':
            cc_buf_append_str(b, "&#39;");
            break;
        default:
            cc_buf_append_u8(b, (uint8_t)*s);
        }
    }
}

static void html_value(cc_buf *b, const json_t *v, int depth);

static void html_table(cc_buf *b, const json_t *obj, int depth)
{
    cc_buf_append_str(b, "<table>\n");
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)obj, key, v)
    {
        cc_buf_append_str(b, "<tr><th>");
        html_escape(b, key);
        cc_buf_append_str(b, "</th><td>");
        html_value(b, v, depth + 1);
        cc_buf_append_str(b, "</td></tr>\n");
    }
    cc_buf_append_str(b, "</table>");
}

static void html_value(cc_buf *b, const json_t *v, int depth)
{
    if (depth > 32) { /* hostile depth cannot blow the stack */
        cc_buf_append_str(b, "&hellip;");
        return;
    }
    if (json_is_object(v)) {
        html_table(b, v, depth);
    } else if (json_is_array(v)) {
        cc_buf_append_str(b, "<ol>");
        size_t i;
        json_t *e;
        json_array_foreach((json_t *)v, i, e)
        {
            cc_buf_append_str(b, "<li>");
            html_value(b, e, depth + 1);
            cc_buf_append_str(b, "</li>");
        }
        cc_buf_append_str(b, "</ol>");
    } else if (json_is_string(v)) {
        html_escape(b, json_string_value(v));
    } else {
        char *s = json_dumps(v, JSON_ENCODE_ANY);
        html_escape(b, s ? s : "?");
        free(s);
    }
}

char *http_stats_html(const char *title, const json_t *obj)
{
    cc_buf b = CC_BUF_INIT;
    cc_buf_append_str(&b, "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>");
    html_escape(&b, title);
    cc_buf_append_str(&b, "</title><style>body{font-family:sans-serif;margin:1em}"
                          "table{border-collapse:collapse;margin:2px 0}"
                          "th,td{border:1px solid #ccc;padding:2px 6px;text-align:left;"
                          "vertical-align:top}th{background:#f4f4f4}</style></head><body>\n<h1>");
    html_escape(&b, title);
    cc_buf_append_str(&b, "</h1>\n");
    if (json_is_object(obj))
        html_table(&b, obj, 0);
    else
        html_value(&b, obj, 0);
    cc_buf_append_str(&b, "\n<p><a href=\"/jsonstats\">JSON</a> &middot; "
                          "<a href=\"/metrics\">metrics</a></p></body></html>\n");
    return cc_buf_steal_str(&b);
}

/* ------------------------------------------------------------ Prometheus */

static void metric_name_append(cc_buf *name, const char *part)
{
    if (name->len) cc_buf_append_u8(name, '_');
    for (const char *p = part; *p; p++)
        cc_buf_append_u8(name, isalnum((unsigned char)*p) ? (uint8_t)*p : '_');
}

static void prom_walk(cc_buf *out, cc_buf *name, const json_t *v, int depth)
{
    if (depth > 32) return;
    size_t mark = name->len;
    if (json_is_object(v)) {
        const char *key;
        json_t *e;
        json_object_foreach((json_t *)v, key, e)
        {
            metric_name_append(name, key);
            prom_walk(out, name, e, depth + 1);
            name->len = mark;
        }
        return;
    }
    double x;
    if (json_is_integer(v))
        x = (double)json_integer_value(v);
    else if (json_is_real(v))
        x = json_real_value(v);
    else if (json_is_boolean(v))
        x = json_is_true(v) ? 1 : 0;
    else
        return; /* strings and arrays are not metrics */
    cc_buf_append(out, name->data, name->len);
    if (x == floor(x) && fabs(x) < 9e15)
        cc_buf_append_fmt(out, " %.0f\n", x);
    else
        cc_buf_append_fmt(out, " %.9g\n", x);
}

char *http_stats_prometheus(const char *prefix, const json_t *obj)
{
    cc_buf out = CC_BUF_INIT, name = CC_BUF_INIT;
    metric_name_append(&name, prefix ? prefix : "cocoon");
    prom_walk(&out, &name, obj, 0);
    cc_buf_free(&name);
    cc_buf_append_str(&out, "");
    return cc_buf_steal_str(&out);
}

/* ------------------------------------------------------------- handlers */

static json_t *collect(http_stats_page *p)
{
    json_t *obj = json_object();
    if (p->fill) p->fill(p->ud, obj);
    return obj;
}

static void jsonstats_cb(http_req *r, void *ud)
{
    json_t *obj = collect(ud);
    http_reply_json(r, 200, obj);
    json_decref(obj);
}

static void stats_cb(http_req *r, void *ud)
{
    http_stats_page *p = ud;
    json_t *obj = collect(p);
    char *html = http_stats_html(p->title, obj);
    http_reply(r, 200, "text/html; charset=utf-8", html, strlen(html));
    free(html);
    json_decref(obj);
}

static void metrics_cb(http_req *r, void *ud)
{
    json_t *obj = collect(ud);
    char *text = http_stats_prometheus("cocoon", obj);
    http_reply(r, 200, "text/plain; version=0.0.4", text, strlen(text));
    free(text);
    json_decref(obj);
}

static void healthz_cb(http_req *r, void *ud)
{
    http_stats_page *p = ud;
    const char *detail = NULL;
    bool ok = p->healthy ? p->healthy(p->ud, &detail) : true;
    cc_buf b = CC_BUF_INIT;
    cc_buf_append_str(&b, ok ? "ok" : "unhealthy");
    if (detail && detail[0]) cc_buf_append_fmt(&b, ": %s", detail);
    cc_buf_append_u8(&b, '\n');
    http_reply(r, ok ? 200 : 503, "text/plain", b.data, b.len);
    cc_buf_free(&b);
}

void http_server_add_stats(http_server *s, const char *title, http_stats_fill fill,
                           http_health_fn healthy, void *ud)
{
    http_stats_page **slot = http_server_stats_slot(s);
    http_stats_page_free(*slot);
    http_stats_page *p = cc_calloc(1, sizeof(*p));
    p->title = cc_strdup(title ? title : "cocoon");
    p->fill = fill;
    p->healthy = healthy;
    p->ud = ud;
    *slot = p;
    http_server_route(s, "GET", "/jsonstats", jsonstats_cb, p);
    http_server_route(s, "GET", "/stats", stats_cb, p);
    http_server_route(s, "GET", "/metrics", metrics_cb, p);
    http_server_route(s, "GET", "/healthz", healthz_cb, p);
}
