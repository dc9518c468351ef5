/*
 * /jsonstats, /stats (HTML), /metrics (Prometheus text) and /healthz, all
 * rendered from one JSON object the daemon fills on demand.
 */
#include "http_internal.h"

#include <ctype.h>
#include <dirent.h>
#include <sys/resource.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct http_stats_page {
    double started; /* monotonic seconds at registration, for /perf's uptime */
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

static void prom_number(cc_buf *out, double x)
{
    if (x == floor(x) && fabs(x) < 9e15)
        cc_buf_append_fmt(out, "%.0f", x);
    else
        cc_buf_append_fmt(out, "%.9g", x);
}

/* "# HELP" and "# TYPE" of one metric; the help names the JSON path it
 * comes from (path: the metric name's source keys joined with '.'). */
static void prom_head(cc_buf *out, const cc_buf *name, const cc_buf *path, const char *type)
{
    cc_buf_append_str(out, "# HELP ");
    cc_buf_append(out, name->data, name->len);
    cc_buf_append_str(out, " /jsonstats ");
    for (size_t i = 0; i < path->len; i++) { /* help text escapes only '\\' and newlines */
        uint8_t c = path->data[i];
        if (c == '\\' || c == '\n')
            cc_buf_append_str(out, c == '\n' ? "\\n" : "\\\\");
        else
            cc_buf_append_u8(out, c);
    }
    cc_buf_append_str(out, "\n# TYPE ");
    cc_buf_append(out, name->data, name->len);
    cc_buf_append_fmt(out, " %s\n", type);
}

/* An object {"type":"histogram","buckets":{"LE":count,...,"+Inf":count},
 * "sum":S,"count":N} (cumulative counts, as http_histogram_json makes it). */
static bool prom_histogram(cc_buf *out, const cc_buf *name, const cc_buf *path, const json_t *v)
{
    const json_t *type = json_object_get(v, "type");
    const json_t *buckets = json_object_get(v, "buckets");
    if (!json_is_string(type) || strcmp(json_string_value(type), "histogram") != 0 ||
        !json_is_object(buckets))
        return false;
    prom_head(out, name, path, "histogram");
    const char *le;
    json_t *n;
    json_object_foreach((json_t *)buckets, le, n)
    {
        cc_buf_append(out, name->data, name->len);
        cc_buf_append_str(out, "_bucket{le=\"");
        for (const char *p = le; *p; p++) /* bounds are numbers or +Inf: nothing to escape */
            if (isalnum((unsigned char)*p) || strchr(".+-", *p)) cc_buf_append_u8(out, (uint8_t)*p);
        cc_buf_append_str(out, "\"} ");
        prom_number(out, json_number_value(n));
        cc_buf_append_u8(out, '\n');
    }
    cc_buf_append(out, name->data, name->len);
    cc_buf_append_str(out, "_sum ");
    prom_number(out, json_number_value(json_object_get(v, "sum")));
    cc_buf_append_u8(out, '\n');
    cc_buf_append(out, name->data, name->len);
    cc_buf_append_str(out, "_count ");
    prom_number(out, json_number_value(json_object_get(v, "count")));
    cc_buf_append_u8(out, '\n');
    return true;
}

static void prom_walk(cc_buf *out, cc_buf *name, cc_buf *path, const json_t *v, int depth)
{
    if (depth > 32) return;
    size_t mark = name->len, pmark = path->len;
    if (json_is_object(v)) {
        if (prom_histogram(out, name, path, v)) return;
        const char *key;
        json_t *e;
        json_object_foreach((json_t *)v, key, e)
        {
            metric_name_append(name, key);
            if (path->len) cc_buf_append_u8(path, '.');
            cc_buf_append_str(path, key);
            prom_walk(out, name, path, e, depth + 1);
            name->len = mark;
            path->len = pmark;
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
    /* Gauges: a figure may go down (a restart, a refund, active requests). */
    prom_head(out, name, path, "gauge");
    cc_buf_append(out, name->data, name->len);
    cc_buf_append_u8(out, ' ');
    prom_number(out, x);
    cc_buf_append_u8(out, '\n');
}

char *http_stats_prometheus(const char *prefix, const json_t *obj)
{
    cc_buf out = CC_BUF_INIT, name = CC_BUF_INIT, path = CC_BUF_INIT;
    metric_name_append(&name, prefix ? prefix : "cocoon");
    prom_walk(&out, &name, &path, obj, 0);
    cc_buf_free(&name);
    cc_buf_free(&path);
    cc_buf_append_str(&out, "");
    return cc_buf_steal_str(&out);
}

/* ------------------------------------------------------------ histograms */

void http_histogram_init(http_histogram *h, const double *bounds, size_t n)
{
    memset(h, 0, sizeof(*h));
    h->n = n < HTTP_HISTOGRAM_MAX ? n : HTTP_HISTOGRAM_MAX;
    memcpy(h->bounds, bounds, h->n * sizeof(*bounds));
}

void http_histogram_add(http_histogram *h, double x)
{
    /* One increment in the first bucket that holds x (above the last bound: only count). */
    for (size_t i = 0; i < h->n; i++)
        if (x <= h->bounds[i]) {
            h->counts[i]++;
            break;
        }
    h->count++;
    h->sum += x;
}

json_t *http_histogram_json(const http_histogram *h)
{
    json_t *b = json_object();
    uint64_t below = 0; /* Prometheus buckets are cumulative */
    for (size_t i = 0; i < h->n; i++) {
        char le[32];
        snprintf(le, sizeof(le), "%g", h->bounds[i]);
        below += h->counts[i];
        json_object_set_new(b, le, json_integer((json_int_t)below));
    }
    json_object_set_new(b, "+Inf", json_integer((json_int_t)h->count));
    return json_pack("{s:s,s:o,s:f,s:I}", "type", "histogram", "buckets", b, "sum", h->sum, "count",
                     (json_int_t)h->count);
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
    json_t *o = json_pack("{s:s}", "status", ok ? "ok" : "unhealthy");
    if (detail && detail[0] && !(ok && strcmp(detail, "ok") == 0))
        json_object_set_new(o, "detail", json_string(detail));
    http_reply_json(r, ok ? 200 : 503, o);
    json_decref(o);
}

/* The VmRSS, VmHWM and Threads lines of /proc/self/status (0 when absent). */
static void proc_status(long *rss_kib, long *hwm_kib, long *threads)
{
    *rss_kib = *hwm_kib = *threads = 0;
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return;
    char line[256];
    while (fgets(line, sizeof(line), f)) {
        if (!strncmp(line, "VmRSS:", 6)) *rss_kib = strtol(line + 6, NULL, 10);
        if (!strncmp(line, "VmHWM:", 6)) *hwm_kib = strtol(line + 6, NULL, 10);
        if (!strncmp(line, "Threads:", 8)) *threads = strtol(line + 8, NULL, 10);
    }
    fclose(f);
}

static long open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d) return -1;
    long n = 0;
    for (struct dirent *e; (e = readdir(d));)
        n += e->d_name[0] != '.';
    closedir(d);
    return n - 1; /* the directory stream's own descriptor */
}

/* COCOON's /perf (BaseRunner.cpp, generate_perf_stats) prints its actor
 * scheduler's figures as text; ours prints what a person tuning a daemon
 * looks at first: CPU time, memory, descriptors, threads, context switches. */
static void perf_cb(http_req *r, void *ud)
{
    http_stats_page *p = ud;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    long rss, hwm, threads;
    proc_status(&rss, &hwm, &threads);
    char text[1024];
    int n = snprintf(text, sizeof(text),
                     "daemon %s\n"
                     "uptime_s %.3f\n"
                     "cpu_user_s %.6f\n"
                     "cpu_system_s %.6f\n"
                     "rss_kib %ld\n"
                     "rss_peak_kib %ld\n"
                     "threads %ld\n"
                     "open_fds %ld\n"
                     "voluntary_context_switches %ld\n"
                     "involuntary_context_switches %ld\n",
                     p->title, cc_now_mono() - p->started,
                     (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6,
                     (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6, rss, hwm,
                     threads, open_fds(), ru.ru_nvcsw, ru.ru_nivcsw);
    http_reply(r, 200, "text/plain; charset=utf-8", text, n > 0 ? (size_t)n : 0);
}

void http_server_add_stats(http_server *s, const char *title, http_stats_fill fill,
                           http_health_fn healthy, void *ud)
{
    http_stats_page **slot = http_server_stats_slot(s);
    http_stats_page_free(*slot);
    http_stats_page *p = cc_calloc(1, sizeof(*p));
    p->title = cc_strdup(title ? title : "cocoon");
    p->started = cc_now_mono();
    p->fill = fill;
    p->healthy = healthy;
    p->ud = ud;
    *slot = p;
    http_server_route(s, "GET", "/jsonstats", jsonstats_cb, p);
    http_server_route(s, "GET", "/stats", stats_cb, p);
    http_server_route(s, "GET", "/metrics", metrics_cb, p);
    http_server_route(s, "GET", "/healthz", healthz_cb, p);
    http_server_route(s, "GET", "/perf", perf_cb, p);
}
