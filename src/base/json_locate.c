/* Where a field is in a JSON text: config errors name the file, line and
 * column of the field they are about. jansson keeps no positions in the
 * values it builds, so the text is scanned again: a small recursive walk
 * that only tracks lines, columns and nesting, over a text jansson has
 * already accepted (a malformed one simply yields "not found"). */
#include <stdlib.h>
#include <string.h>

#include "base/base.h"

typedef struct scan {
    const char *s;
    size_t n, i;
    int line, col;
    int depth;
} scan;

static void adv(scan *t)
{
    if (t->i >= t->n) return;
    if (t->s[t->i] == '\n') {
        t->line++;
        t->col = 1;
    } else if (((unsigned char)t->s[t->i] & 0xC0) != 0x80) {
        t->col++; /* columns count characters, as jansson's do */
    }
    t->i++;
}

static void ws(scan *t)
{
    while (t->i < t->n && strchr(" \t\r\n", t->s[t->i]) && t->s[t->i])
        adv(t);
}

/* A string at t->i: [*b, *e) is its raw content (escapes not decoded). */
static bool str(scan *t, size_t *b, size_t *e)
{
    if (t->i >= t->n || t->s[t->i] != '"') return false;
    adv(t);
    *b = t->i;
    while (t->i < t->n && t->s[t->i] != '"') {
        if (t->s[t->i] == '\\') adv(t);
        adv(t);
    }
    if (t->i >= t->n) return false;
    *e = t->i;
    adv(t);
    return true;
}

static bool skip_value(scan *t);

static bool skip_container(scan *t, char close)
{
    if (++t->depth > 256) return false;
    adv(t);
    ws(t);
    if (t->i < t->n && t->s[t->i] == close) {
        adv(t);
        t->depth--;
        return true;
    }
    for (;;) {
        if (close == '}') {
            size_t b, e;
            ws(t);
            if (!str(t, &b, &e)) return false;
            ws(t);
            if (t->i >= t->n || t->s[t->i] != ':') return false;
            adv(t);
        }
        if (!skip_value(t)) return false;
        ws(t);
        if (t->i >= t->n) return false;
        char ch = t->s[t->i];
        adv(t);
        if (ch == close) break;
        if (ch != ',') return false;
    }
    t->depth--;
    return true;
}

static bool skip_value(scan *t)
{
    ws(t);
    if (t->i >= t->n) return false;
    char ch = t->s[t->i];
    if (ch == '{') return skip_container(t, '}');
    if (ch == '[') return skip_container(t, ']');
    if (ch == '"') {
        size_t b, e;
        return str(t, &b, &e);
    }
    size_t start = t->i;
    while (t->i < t->n && !strchr(",]} \t\r\n", t->s[t->i]))
        adv(t);
    return t->i > start;
}

/* One step of a path: a key (".name" or the first "name") or an index ("[3]").
 * Returns the length consumed, 0 at the end, -1 when malformed. */
static int next_step(const char *p, const char **key, size_t *klen, long *index)
{
    if (!*p) return 0;
    if (*p == '[') {
        char *end;
        *index = strtol(p + 1, &end, 10);
        if (end == p + 1 || *end != ']' || *index < 0) return -1;
        *key = NULL;
        return (int)(end + 1 - p);
    }
    const char *s = *p == '.' ? p + 1 : p;
    size_t k = strcspn(s, ".[");
    if (k == 0) return -1;
    *key = s;
    *klen = k;
    return (int)(s + k - p);
}

int cc_json_locate(const char *text, size_t len, const char *path, int *line, int *col)
{
    scan t = {.s = text, .n = len, .line = 1, .col = 1};
    const char *p = path;
    ws(&t);
    for (;;) {
        const char *key;
        size_t klen = 0;
        long index = 0;
        int used = next_step(p, &key, &klen, &index);
        if (used <= 0) return -1;
        p += used;
        bool last = *p == '\0';
        ws(&t);
        if (t.i >= t.n) return -1;
        if (key) {
            if (t.s[t.i] != '{') return -1;
            adv(&t);
            bool found = false;
            for (;;) {
                ws(&t);
                int kl = t.line, kc = t.col;
                size_t b, e;
                if (!str(&t, &b, &e)) return -1;
                ws(&t);
                if (t.i >= t.n || t.s[t.i] != ':') return -1;
                adv(&t);
                if (e - b == klen && memcmp(t.s + b, key, klen) == 0) {
                    if (last) {
                        *line = kl;
                        *col = kc;
                        return 0;
                    }
                    found = true;
                    break;
                }
                if (!skip_value(&t)) return -1;
                ws(&t);
                if (t.i >= t.n || t.s[t.i] != ',') return -1; /* '}': no such key */
                adv(&t);
            }
            if (!found) return -1;
        } else {
            if (t.s[t.i] != '[') return -1;
            adv(&t);
            for (long k = 0; k < index; k++) {
                if (!skip_value(&t)) return -1;
                ws(&t);
                if (t.i >= t.n || t.s[t.i] != ',') return -1;
                adv(&t);
            }
            ws(&t);
            if (t.i >= t.n || t.s[t.i] == ']') return -1;
            if (last) {
                *line = t.line;
                *col = t.col;
                return 0;
            }
        }
    }
}

/* Appends one path component to out (a '.' before a key, none before "[i]"). */
static bool append(char *out, size_t cap, size_t *o, const char *c, size_t n)
{
    bool dot = *o > 0 && c[0] != '[';
    if (*o + dot + n + 1 > cap) return false;
    if (dot) out[(*o)++] = '.';
    memcpy(out + *o, c, n);
    *o += n;
    out[*o] = '\0';
    return true;
}

/* The field a config error message is about. Messages name it as
 * `field "PATH"`, and those that pass through an enclosing field are
 * prefixed by it: `field "http": field "max_connections" must be ...`,
 * `field "http": unknown field "x"`, `api_keys[0]: unknown field "x"`,
 * `proxies[1]: bad address` ("config: unknown field" is the top level).
 * Every such name, in order, makes one path. */
int cc_json_error_field(const char *msg, char *out, size_t cap)
{
    size_t o = 0;
    out[0] = '\0';
    const char *u = strstr(msg, ": ");
    /* a bare path before the first ": " (no quotes, no spaces), as in
     * "proxies[1]: bad address" */
    if (u && u > msg && !memchr(msg, '"', (size_t)(u - msg)) &&
        !memchr(msg, ' ', (size_t)(u - msg)) && !(u - msg == 6 && !strncmp(msg, "config", 6)) &&
        !append(out, cap, &o, msg, (size_t)(u - msg)))
        return -1;
    const char *p = msg;
    for (;;) {
        const char *f = strstr(p, "field \"");
        if (!f) break;
        f += 7;
        const char *e = strchr(f, '"');
        if (!e || e == f) return -1;
        if (!append(out, cap, &o, f, (size_t)(e - f))) return -1;
        p = e + 1;
        /* an index written after the quotes: field "x"[3] */
        if (*p == '[') {
            const char *b = strchr(p, ']');
            if (b && !append(out, cap, &o, p, (size_t)(b + 1 - p))) return -1;
        }
        /* only names joined by ": " belong to one path */
        if (strncmp(p, ": ", 2) != 0 && strncmp(p, ": unknown", 9) != 0) break;
    }
    return o ? 0 : -1;
}
