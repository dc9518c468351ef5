/* Validating accessors over jansson; messages name the field and the problem. */
#include "base.h"

#include <math.h>
#include <string.h>

json_t *cc_json_load_file(const char *path, cc_err *err)
{
    json_error_t je;
    json_t *j = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
    if (!j) {
        if (je.line < 1) /* never read: the text names the file and the reason */
            cc_err_set(err, "%s", je.text);
        else
            cc_err_set(err, "%s:%d:%d: %s", path, je.line, je.column, je.text);
        return NULL;
    }
    if (!json_is_object(j)) {
        json_decref(j);
        cc_err_set(err, "%s: top level must be a JSON object", path);
        return NULL;
    }
    return j;
}

json_t *cc_json_loadb(const char *data, size_t len, cc_err *err)
{
    json_error_t je;
    json_t *j = json_loadb(data, len, JSON_REJECT_DUPLICATES, &je);
    if (!j)
        cc_err_set(err, "invalid JSON at line %d column %d: %s", je.line, je.column, je.text);
    return j;
}

static const json_t *field(const json_t *obj, const char *key, bool required, cc_err *err,
                           int *rc)
{
    const json_t *v = json_object_get(obj, key);
    *rc = 0;
    if (!v || json_is_null(v)) {
        if (required)
            *rc = cc_err_set(err, "field \"%s\" is required", key);
        return NULL;
    }
    return v;
}

int cc_json_get_str(const json_t *obj, const char *key, bool required, const char **out,
                    cc_err *err)
{
    int rc;
    const json_t *v = field(obj, key, required, err, &rc);
    if (!v)
        return rc;
    if (!json_is_string(v))
        return cc_err_set(err, "field \"%s\" must be a string", key);
    *out = json_string_value(v);
    return 0;
}

int cc_json_get_int(const json_t *obj, const char *key, bool required, int64_t min, int64_t max,
                    int64_t *out, cc_err *err)
{
    int rc;
    const json_t *v = field(obj, key, required, err, &rc);
    if (!v)
        return rc;
    if (!json_is_integer(v))
        return cc_err_set(err, "field \"%s\" must be an integer", key);
    json_int_t x = json_integer_value(v);
    if (x < min || x > max)
        return cc_err_set(err, "field \"%s\" must be between %lld and %lld, got %lld", key,
                          (long long)min, (long long)max, (long long)x);
    *out = x;
    return 0;
}

int cc_json_get_double(const json_t *obj, const char *key, bool required, double min, double max,
                       double *out, cc_err *err)
{
    int rc;
    const json_t *v = field(obj, key, required, err, &rc);
    if (!v)
        return rc;
    if (!json_is_number(v))
        return cc_err_set(err, "field \"%s\" must be a number", key);
    double x = json_number_value(v);
    if (!isfinite(x) || x < min || x > max)
        return cc_err_set(err, "field \"%s\" must be between %g and %g, got %g", key, min, max, x);
    *out = x;
    return 0;
}

int cc_json_get_bool(const json_t *obj, const char *key, bool required, bool *out, cc_err *err)
{
    int rc;
    const json_t *v = field(obj, key, required, err, &rc);
    if (!v)
        return rc;
    if (!json_is_boolean(v))
        return cc_err_set(err, "field \"%s\" must be true or false", key);
    *out = json_is_true(v);
    return 0;
}

int cc_json_check_keys(const json_t *obj, const char *const *allowed, const char *where,
                       cc_err *err)
{
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)obj, key, v)
    {
        bool ok = false;
        for (size_t i = 0; allowed[i]; i++)
            if (strcmp(allowed[i], key) == 0)
                ok = true;
        if (!ok)
            return cc_err_set(err, "%s: unknown field \"%s\"", where, key);
    }
    return 0;
}
