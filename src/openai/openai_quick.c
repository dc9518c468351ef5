/*
 * The common request checked by one scan of its text, without building a
 * JSON tree (openai.h, openai_parse_quick): the client validates every
 * request before it enters the network, and jansson's parse (a node and a
 * hash table entry per value) was a visible share of its CPU per request.
 *
 * The scan knows a small set of fields in their plain forms and nothing
 * else; it reads the text as jansson does (RFC 8259: strict UTF-8, paired
 * surrogates, no \u0000, nothing after the document) and, when it accepts,
 * fills the request exactly as openai_parse would. Whenever it meets
 * anything outside that set, or a value openai_parse would refuse, it
 * declines and openai_parse decides, with its message: so it never gives a
 * verdict of its own (fuzz_openai_request holds it to that).
 */
#include "openai/openai_int.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    const uint8_t *p, *end;
} qscan;

static void q_ws(qscan *s)
{
    while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
        s->p++;
}

static int hex4(const uint8_t *p)
{
    int v = 0;
    for (int i = 0; i < 4; i++) {
        uint8_t c = p[i];
        int d = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                       : -1;
        if (d < 0) return -1;
        v = v * 16 + d;
    }
    return v;
}

/* A \u escape at p (after the backslash, at the 'u'); returns its length up
 * to the end of a surrogate pair, or 0 when jansson refuses it. */
static size_t q_unicode(const uint8_t *p, const uint8_t *end)
{
    if (end - p < 5) return 0;
    int v = hex4(p + 1);
    if (v <= 0) return 0; /* a bad digit, or \u0000 (refused without JSON_ALLOW_NUL) */
    if (v >= 0xDC00 && v <= 0xDFFF) return 0; /* a lone low surrogate */
    if (v < 0xD800 || v > 0xDBFF) return 5;
    if (end - p < 11 || p[5] != '\\' || p[6] != 'u') return 0;
    int w = hex4(p + 7);
    return w >= 0xDC00 && w <= 0xDFFF ? 11 : 0;
}

/* One UTF-8 character of two or more bytes at p; returns its length, or 0
 * when it is not well formed (overlong, a surrogate, beyond U+10FFFF). */
static size_t q_utf8(const uint8_t *p, const uint8_t *end)
{
    uint8_t c = p[0];
    size_t n;
    uint32_t v;
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2;
        v = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        v = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        v = c & 0x07;
    } else {
        return 0;
    }
    if ((size_t)(end - p) < n) return 0;
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xC0) != 0x80) return 0;
        v = (v << 6) | (p[i] & 0x3F);
    }
    if ((n == 3 && (v < 0x800 || (v >= 0xD800 && v <= 0xDFFF))) ||
        (n == 4 && (v < 0x10000 || v > 0x10FFFF)))
        return 0;
    return n;
}

/* A string at s->p ('"' checked by the caller). *raw: its bytes between the
 * quotes; *plain: no escape among them (so they are its value). */
static bool q_string(qscan *s, const uint8_t **raw, size_t *len, bool *plain)
{
    const uint8_t *start = ++s->p;
    *plain = true;
    while (s->p < s->end) {
        uint8_t c = *s->p;
        if (c == '"') {
            *raw = start;
            *len = (size_t)(s->p - start);
            s->p++;
            return true;
        }
        if (c < 0x20) return false;
        if (c == '\\') {
            *plain = false;
            if (s->end - s->p < 2) return false;
            c = s->p[1];
            if (c == 'u') {
                size_t n = q_unicode(s->p + 1, s->end);
                if (!n) return false;
                s->p += 1 + n;
                continue;
            }
            if (!memchr("\"\\/bfnrt", c, 8)) return false;
            s->p += 2;
            continue;
        }
        if (c >= 0x80) {
            size_t n = q_utf8(s->p, s->end);
            if (!n) return false;
            s->p += n;
            continue;
        }
        s->p++;
    }
    return false;
}

/* A number at s->p read as jansson reads it: *integer when it has neither
 * fraction nor exponent (then *iv is its value), *dv its value as a
 * double. Declines long numbers and exponents of three digits or more, so
 * that no number it accepts can overflow (range questions are jansson's). */
static bool q_number(qscan *s, bool *integer, int64_t *iv, double *dv)
{
    const uint8_t *start = s->p;
    bool neg = false;
    if (*s->p == '-') {
        neg = true;
        s->p++;
    }
    const uint8_t *digits = s->p;
    int64_t v = 0;
    while (s->p < s->end && *s->p >= '0' && *s->p <= '9') {
        if (s->p - digits == 18) return false; /* 18 digits always fit an int64 */
        v = v * 10 + (*s->p - '0');
        s->p++;
    }
    size_t nd = (size_t)(s->p - digits);
    if (nd == 0 || (nd > 1 && *digits == '0')) return false;
    *integer = true;
    if (s->p < s->end && *s->p == '.') {
        *integer = false;
        const uint8_t *f = ++s->p;
        while (s->p < s->end && *s->p >= '0' && *s->p <= '9' && s->p - f < 40)
            s->p++;
        if (s->p == f || (s->p < s->end && *s->p >= '0' && *s->p <= '9')) return false;
    }
    if (s->p < s->end && (*s->p == 'e' || *s->p == 'E')) {
        *integer = false;
        s->p++;
        if (s->p < s->end && (*s->p == '+' || *s->p == '-')) s->p++;
        const uint8_t *x = s->p;
        while (s->p < s->end && *s->p >= '0' && *s->p <= '9')
            if (++s->p - x > 2) return false;
        if (s->p == x) return false;
    }
    if (*integer) {
        *iv = neg ? -v : v;
        *dv = (double)*iv;
        return true;
    }
    char buf[72];
    size_t n = (size_t)(s->p - start);
    memcpy(buf, start, n);
    buf[n] = 0;
    *dv = strtod(buf, NULL); /* as jansson's own strtod; in the C locale, as daemons run */
    return true;
}

static bool q_literal(qscan *s, const char *w, size_t n)
{
    if ((size_t)(s->end - s->p) < n || memcmp(s->p, w, n) != 0) return false;
    s->p += n;
    return true;
}

typedef enum { V_NULL, V_TRUE, V_FALSE, V_INT, V_REAL, V_STRING } vtype;

typedef struct {
    vtype t;
    int64_t i;
    double d;
    const uint8_t *s;
    size_t len;
    bool plain;
} qval;

/* A scalar value at s->p; containers are declined (their fields are read by
 * the callers that expect them). */
static bool q_scalar(qscan *s, qval *v)
{
    if (s->p >= s->end) return false;
    switch (*s->p) {
    case '"':
        v->t = V_STRING;
        return q_string(s, &v->s, &v->len, &v->plain);
    case 't':
        v->t = V_TRUE;
        return q_literal(s, "true", 4);
    case 'f':
        v->t = V_FALSE;
        return q_literal(s, "false", 5);
    case 'n':
        v->t = V_NULL;
        return q_literal(s, "null", 4);
    default: {
        if (*s->p != '-' && (*s->p < '0' || *s->p > '9')) return false;
        bool integer;
        if (!q_number(s, &integer, &v->i, &v->d)) return false;
        v->t = integer ? V_INT : V_REAL;
        return true;
    }
    }
}

/* Walks an object's members: *key is the next member's plain key and s->p
 * is at its value. Returns 1 for a member, 0 at the end, -1 to decline (a
 * key with an escape, or malformed text). *first: true before the first. */
static int q_member(qscan *s, bool *first, const uint8_t **key, size_t *klen)
{
    q_ws(s);
    if (s->p >= s->end) return -1;
    if (*s->p == '}') {
        s->p++;
        return 0;
    }
    if (!*first) {
        if (*s->p++ != ',') return -1;
        q_ws(s);
    }
    *first = false;
    bool plain;
    if (s->p >= s->end || *s->p != '"' || !q_string(s, key, klen, &plain) || !plain) return -1;
    q_ws(s);
    if (s->p >= s->end || *s->p++ != ':') return -1;
    q_ws(s);
    return s->p < s->end ? 1 : -1;
}

static bool key_is(const uint8_t *k, size_t kl, const char *name)
{
    return kl == strlen(name) && memcmp(k, name, kl) == 0;
}

static bool str_is(const qval *v, const char *name)
{
    return v->t == V_STRING && v->plain && key_is(v->s, v->len, name);
}

/* One chat message: an object of "role" (system, developer, user or
 * assistant), "content" (a string) and optionally "name" (a string). */
static bool q_message(qscan *s, bool *user)
{
    if (s->p >= s->end || *s->p++ != '{') return false;
    bool first = true, role = false, content = false, name = false;
    const uint8_t *k;
    size_t kl;
    int m;
    while ((m = q_member(s, &first, &k, &kl)) == 1) {
        qval v;
        if (!q_scalar(s, &v)) return false;
        if (key_is(k, kl, "role") && !role) {
            *user = str_is(&v, "user");
            role =
                str_is(&v, "system") || str_is(&v, "developer") || *user || str_is(&v, "assistant");
            if (!role) return false;
        } else if (key_is(k, kl, "content") && !content && v.t == V_STRING) {
            content = true;
        } else if (key_is(k, kl, "name") && !name && v.t == V_STRING) {
            name = true;
        } else {
            return false;
        }
    }
    return m == 0 && role && content;
}

/* The messages; opening and opening_len: the conversation's opening, as
 * openai_scan_opening finds it (length 0 when it has none). */
static bool q_messages(qscan *s, const uint8_t **opening, size_t *opening_len)
{
    if (s->p >= s->end || *s->p++ != '[') return false;
    size_t n = 0;
    const uint8_t *first = NULL;
    *opening_len = 0;
    for (;;) {
        q_ws(s);
        if (s->p >= s->end) return false;
        if (*s->p == ']') {
            s->p++;
            return n > 0;
        }
        if (n && *s->p++ != ',') return false;
        q_ws(s);
        if (!first) first = s->p;
        bool user = false;
        if (!q_message(s, &user)) return false;
        if (user && !*opening_len && n < OPENAI_OPENING_MAX_MESSAGES) {
            *opening = first;
            *opening_len = (size_t)(s->p - first);
        }
        n++;
    }
}

/* "stream_options": {"include_usage": bool-or-null} (nothing else here). */
static bool q_stream_options(qscan *s, bool *include_usage)
{
    if (s->p >= s->end || *s->p++ != '{') return false;
    bool first = true, seen = false;
    const uint8_t *k;
    size_t kl;
    int m;
    while ((m = q_member(s, &first, &k, &kl)) == 1) {
        qval v;
        if (!key_is(k, kl, "include_usage") || seen || !q_scalar(s, &v)) return false;
        seen = true;
        if (v.t != V_NULL && v.t != V_TRUE && v.t != V_FALSE) return false;
        *include_usage = v.t == V_TRUE;
    }
    return m == 0;
}

/* The fields the scan knows; each may occur once. */
enum {
    F_MODEL,
    F_MESSAGES,
    F_PROMPT,
    F_STREAM,
    F_STREAM_OPTIONS,
    F_MAX_TOKENS,
    F_MAX_COMPLETION_TOKENS,
    F_TEMPERATURE,
    F_TOP_P,
    F_PRESENCE_PENALTY,
    F_FREQUENCY_PENALTY,
    F_N,
    F_USER,
    F_COUNT
};
static const char *const field_names[F_COUNT] = {"model",
                                                 "messages",
                                                 "prompt",
                                                 "stream",
                                                 "stream_options",
                                                 "max_tokens",
                                                 "max_completion_tokens",
                                                 "temperature",
                                                 "top_p",
                                                 "presence_penalty",
                                                 "frequency_penalty",
                                                 "n",
                                                 "user"};

static int field_of(const uint8_t *k, size_t kl)
{
    for (int f = 0; f < F_COUNT; f++)
        if (key_is(k, kl, field_names[f])) return f;
    return -1;
}

/* A number in [min, max] (null: absent, *out kept); integer asks a JSON integer. */
static bool q_range(const qval *v, bool integer, double min, double max, double *out)
{
    if (v->t == V_NULL) return true;
    if (v->t != V_INT && (integer || v->t != V_REAL)) return false;
    if (!(v->d >= min && v->d <= max)) return false;
    *out = v->d;
    return true;
}

bool openai_parse_quick(openai_kind kind, const void *body, size_t len, openai_request *out)
{
    if (kind != OPENAI_CHAT && kind != OPENAI_COMPLETION) return false;
    openai_request r;
    openai_request_defaults(&r, kind);
    qscan s = {body, (const uint8_t *)body + len};
    q_ws(&s);
    if (s.p >= s.end || *s.p++ != '{') return false;
    bool seen[F_COUNT] = {false};
    bool first = true, stream_options = false;
    const uint8_t *model = NULL;
    size_t model_len = 0;
    double max_tokens = 0, max_completion_tokens = 0, n = 1;
    const uint8_t *k;
    size_t kl;
    int m;
    while ((m = q_member(&s, &first, &k, &kl)) == 1) {
        int f = field_of(k, kl);
        if (f < 0 || seen[f]) return false;
        seen[f] = true;
        if (f == F_MESSAGES) {
            const uint8_t *opening = NULL;
            if (kind != OPENAI_CHAT || !q_messages(&s, &opening, &r.opening_len)) return false;
            r.opening_off = r.opening_len ? (size_t)(opening - (const uint8_t *)body) : 0;
            continue;
        }
        if (f == F_STREAM_OPTIONS && *s.p == '{') {
            if (!q_stream_options(&s, &r.include_usage)) return false;
            stream_options = true;
            continue;
        }
        qval v;
        if (!q_scalar(&s, &v)) return false;
        bool ok = true;
        switch (f) {
        case F_MODEL:
            ok = v.t == V_STRING && v.plain && v.len > 0;
            model = v.s;
            model_len = v.len;
            break;
        case F_PROMPT:
            ok = kind == OPENAI_COMPLETION && v.t == V_STRING;
            r.prompt_is_text = true;
            break;
        case F_STREAM:
            ok = v.t == V_TRUE || v.t == V_FALSE || v.t == V_NULL;
            r.stream = v.t == V_TRUE;
            break;
        case F_STREAM_OPTIONS:
            ok = v.t == V_NULL;
            break;
        case F_MAX_TOKENS:
            ok = q_range(&v, true, 1, OPENAI_MAX_TOKENS, &max_tokens);
            break;
        case F_MAX_COMPLETION_TOKENS:
            ok = q_range(&v, true, 1, OPENAI_MAX_TOKENS, &max_completion_tokens);
            break;
        case F_TEMPERATURE:
            ok = q_range(&v, false, 0, 2, &r.temperature);
            break;
        case F_TOP_P:
            ok = q_range(&v, false, 0, 1, &r.top_p);
            break;
        case F_PRESENCE_PENALTY:
            ok = q_range(&v, false, -2, 2, &r.presence_penalty);
            break;
        case F_FREQUENCY_PENALTY:
            ok = q_range(&v, false, -2, 2, &r.frequency_penalty);
            break;
        case F_N:
            ok = q_range(&v, true, 1, OPENAI_MAX_CHOICES, &n);
            break;
        case F_USER:
            ok = v.t == V_STRING || v.t == V_NULL;
            break;
        }
        if (!ok) return false;
    }
    q_ws(&s);
    if (m != 0 || s.p != s.end || !model) return false;
    if (kind == OPENAI_CHAT ? !seen[F_MESSAGES] : !r.prompt_is_text) return false;
    if (stream_options && !r.stream) return false; /* refused by openai_parse, with its message */
    r.n = (int64_t)n;
    r.best_of = r.n;
    r.max_tokens = max_completion_tokens ? (int64_t)max_completion_tokens : (int64_t)max_tokens;
    r.model_copy = cc_strndup((const char *)model, model_len);
    r.model = r.model_copy;
    *out = r;
    return true;
}

/* Any value at s->p, checked as jansson would read it; containers nest at
 * most 64 deep (jansson allows more: deeper ones are declined). */
static bool q_value(qscan *s, int depth)
{
    if (s->p >= s->end || depth > 64) return false;
    uint8_t c = *s->p;
    if (c != '{' && c != '[') {
        qval v;
        return q_scalar(s, &v);
    }
    s->p++;
    uint8_t close = c == '{' ? '}' : ']';
    q_ws(s);
    if (s->p < s->end && *s->p == close) {
        s->p++;
        return true;
    }
    for (;;) {
        if (close == '}') {
            const uint8_t *k;
            size_t kl;
            bool plain;
            if (s->p >= s->end || *s->p != '"' || !q_string(s, &k, &kl, &plain)) return false;
            q_ws(s);
            if (s->p >= s->end || *s->p++ != ':') return false;
            q_ws(s);
        }
        if (!q_value(s, depth + 1)) return false;
        q_ws(s);
        if (s->p >= s->end) return false;
        c = *s->p++;
        if (c == close) return true;
        if (c != ',') return false;
        q_ws(s);
    }
}

/* The state of one token-cap field for openai_scan_top. */
static void cap_field(const qval *v, int *state, int64_t *value)
{
    *state = v->t == V_NULL ? OPENAI_TOP_NULL : v->t == V_INT ? OPENAI_TOP_INT : OPENAI_TOP_OTHER;
    *value = v->t == V_INT ? v->i : 0;
}

bool openai_scan_top(const void *body, size_t len, openai_top *out)
{
    memset(out, 0, sizeof(*out));
    qscan s = {body, (const uint8_t *)body + len};
    q_ws(&s);
    if (s.p >= s.end || *s.p++ != '{') return false;
    /* the keys seen, to refuse duplicates: a request has a few dozen at most */
    enum { MAX_KEYS = 64 };
    const uint8_t *keys[MAX_KEYS];
    size_t lens[MAX_KEYS];
    bool first = true;
    const uint8_t *k;
    size_t kl;
    int m;
    while ((m = q_member(&s, &first, &k, &kl)) == 1) {
        if (out->n_keys == MAX_KEYS) return false;
        for (size_t i = 0; i < out->n_keys; i++)
            if (lens[i] == kl && memcmp(keys[i], k, kl) == 0) return false;
        keys[out->n_keys] = k;
        lens[out->n_keys++] = kl;
        bool model = key_is(k, kl, "model"), stream = key_is(k, kl, "stream"),
             mt = key_is(k, kl, "max_tokens"), mct = key_is(k, kl, "max_completion_tokens");
        if (key_is(k, kl, "stream_options")) out->has_stream_options = true;
        if (!model && !stream && !mt && !mct) {
            if (!q_value(&s, 1)) return false;
            continue;
        }
        if (*s.p == '{' || *s.p == '[') {
            if (!q_value(&s, 1)) return false;
            if (mt) out->max_tokens = OPENAI_TOP_OTHER;
            if (mct) out->max_completion_tokens = OPENAI_TOP_OTHER;
            continue;
        }
        qval v;
        if (!q_scalar(&s, &v)) return false;
        if (model && v.t == V_STRING && v.plain) {
            out->model = v.s;
            out->model_len = v.len;
        }
        if (stream) out->stream = v.t == V_TRUE;
        if (mt) cap_field(&v, &out->max_tokens, &out->max_tokens_value);
        if (mct) cap_field(&v, &out->max_completion_tokens, &out->max_completion_tokens_value);
    }
    if (m != 0) return false;
    out->close_at = (size_t)(s.p - 1 - (const uint8_t *)body);
    q_ws(&s);
    return s.p == s.end;
}

/* One message of the opening: its raw text is walked, and *user says whether
 * its "role" is "user". */
static bool q_opening_message(qscan *s, bool *user)
{
    if (s->p >= s->end || *s->p++ != '{') return false;
    *user = false;
    bool first = true;
    const uint8_t *k;
    size_t kl;
    int m;
    while ((m = q_member(s, &first, &k, &kl)) == 1) {
        if (key_is(k, kl, "role") && *s->p == '"') {
            qval v;
            if (!q_scalar(s, &v)) return false;
            *user = str_is(&v, "user");
        } else if (!q_value(s, 2)) {
            return false;
        }
    }
    return m == 0;
}

bool openai_scan_opening(const void *body, size_t len, size_t *off, size_t *n)
{
    qscan s = {body, (const uint8_t *)body + len};
    q_ws(&s);
    if (s.p >= s.end || *s.p++ != '{') return false;
    bool first = true;
    const uint8_t *k;
    size_t kl;
    int m;
    while ((m = q_member(&s, &first, &k, &kl)) == 1) {
        if (!key_is(k, kl, "messages")) {
            if (!q_value(&s, 1)) return false;
            continue;
        }
        if (*s.p++ != '[') return false;
        const uint8_t *start = NULL;
        for (int i = 0; i < OPENAI_OPENING_MAX_MESSAGES; i++) {
            q_ws(&s);
            if (i > 0) {
                if (s.p >= s.end || *s.p++ != ',') return false; /* also the array's end */
                q_ws(&s);
            }
            if (!start) start = s.p;
            bool user;
            if (!q_opening_message(&s, &user)) return false;
            if (user) {
                *off = (size_t)(start - (const uint8_t *)body);
                *n = (size_t)(s.p - start);
                return true;
            }
        }
        return false;
    }
    return false;
}
