/* Command-line options (see base.h): one parser for every program, so the
 * messages for an unknown option or a missing value are the same everywhere. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"

static const cc_opt *find(const cc_opt *opts, size_t n, const char *name, size_t len, size_t *index)
{
    for (size_t i = 0; i < n; i++)
        if (strlen(opts[i].name) == len && !strncmp(opts[i].name, name, len)) {
            *index = i;
            return &opts[i];
        }
    return NULL;
}

/* "-" is stdin by convention and "-5" a negative number: both positional. */
static bool looks_like_option(const char *s)
{
    return s[0] == '-' && s[1] && !(s[1] >= '0' && s[1] <= '9');
}

int cc_args_parse(const cc_opt *opts, size_t n_opts, int argc, char *const *argv, cc_args *out,
                  cc_err *err)
{
    memset(out, 0, sizeof(*out));
    out->opts = opts;
    out->n_opts = n_opts;
    if (n_opts > CC_ARGS_MAX_OPTS) return cc_err_set(err, "too many options declared");
    bool options_done = false;
    for (int i = 0; i < argc; i++) {
        const char *s = argv[i];
        if (options_done || !looks_like_option(s)) {
            if (out->n_pos == CC_ARGS_MAX_POS)
                return cc_err_set(err, "too many arguments (at most %d)", CC_ARGS_MAX_POS);
            out->pos[out->n_pos++] = s;
            continue;
        }
        if (!strcmp(s, "--")) {
            options_done = true;
            continue;
        }
        if (!strcmp(s, "--help") || !strcmp(s, "-h")) {
            out->help = true;
            continue;
        }
        const char *eq = s[1] == '-' ? strchr(s, '=') : NULL;
        size_t len = eq ? (size_t)(eq - s) : strlen(s);
        size_t k;
        const cc_opt *o = find(opts, n_opts, s, len, &k);
        if (!o) return cc_err_set(err, "unknown option %.*s", (int)len, s);
        if (!o->metavar) {
            if (eq) return cc_err_set(err, "option %s takes no value", o->name);
            out->value[k] = "";
            continue;
        }
        if (eq) {
            out->value[k] = eq + 1;
            continue;
        }
        /* The next word is the value, unless there is none or it is one of
         * the options (then the value was forgotten, not meant). */
        size_t other;
        const char *next = i + 1 < argc ? argv[i + 1] : NULL;
        if (!next || (looks_like_option(next) && (find(opts, n_opts, next, strlen(next), &other) ||
                                                  !strcmp(next, "--help") || !strcmp(next, "-h"))))
            return cc_err_set(err, "option %s needs a value (%s)", o->name, o->metavar);
        out->value[k] = next;
        i++;
    }
    return 0;
}

const char *cc_args_get(const cc_args *a, const char *name)
{
    size_t k;
    if (!find(a->opts, a->n_opts, name, strlen(name), &k)) {
        /* A programming error in the caller, not bad input. */
        fprintf(stderr, "cc_args_get: %s is not a declared option\n", name);
        abort();
    }
    return a->value[k];
}

bool cc_args_flag(const cc_args *a, const char *name)
{
    return cc_args_get(a, name) != NULL;
}

int cc_args_i64(const cc_args *a, const char *name, int64_t min, int64_t max, int64_t *out,
                cc_err *err)
{
    const char *v = cc_args_get(a, name);
    if (!v) return 0;
    if (cc_parse_i64(v, min, max, out, err) < 0) return cc_err_prefix(err, "%s", name);
    return 0;
}

int cc_args_int(const cc_args *a, const char *name, int min, int max, int *out, cc_err *err)
{
    int64_t x = *out;
    if (cc_args_i64(a, name, min, max, &x, err) < 0) return -1;
    *out = (int)x;
    return 0;
}

int cc_args_double(const cc_args *a, const char *name, double *out, cc_err *err)
{
    const char *v = cc_args_get(a, name);
    if (!v) return 0;
    char *end;
    double x = strtod(v, &end);
    if (end == v || *end || !isfinite(x))
        return cc_err_set(err, "%s: expected a number, got \"%s\"", name, v);
    *out = x;
    return 0;
}

void cc_args_usage(FILE *f, const cc_opt *opts, size_t n_opts)
{
    for (size_t i = 0; i < n_opts; i++) {
        char head[64];
        snprintf(head, sizeof(head), "%s%s%s", opts[i].name, opts[i].metavar ? " " : "",
                 opts[i].metavar ? opts[i].metavar : "");
        fprintf(f, "  %-24s %s", head, opts[i].help ? opts[i].help : "");
        if (opts[i].def) fprintf(f, " (default %s)", opts[i].def);
        fputc('\n', f);
    }
    fprintf(f, "  %-24s %s\n", "--help", "print this help and exit");
}
