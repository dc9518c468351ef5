/* Small helpers for configuration files: host:port addresses and paths
 * relative to the configuration file. */
#include "base.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cc_parse_hostport(const char *s, char *host, size_t host_len, uint16_t *port, cc_err *err)
{
    if (!s || !*s)
        return cc_err_set(err, "empty address (expected host:port)");
    const char *colon = strrchr(s, ':');
    const char *h = s;
    size_t hl;
    if (s[0] == '[') { /* [::1]:port */
        const char *close = strchr(s, ']');
        if (!close || close[1] != ':')
            return cc_err_set(err, "bad address \"%s\" (expected [ipv6]:port)", s);
        h = s + 1;
        hl = (size_t)(close - h);
        colon = close + 1;
    } else {
        if (!colon || colon == s)
            return cc_err_set(err, "bad address \"%s\" (expected host:port)", s);
        hl = (size_t)(colon - s);
    }
    if (hl == 0 || hl >= host_len)
        return cc_err_set(err, "bad address \"%s\" (host empty or too long)", s);
    int64_t p;
    cc_err perr;
    if (cc_parse_i64(colon + 1, 0, 65535, &p, &perr) < 0)
        return cc_err_set(err, "bad address \"%s\" (port must be 0..65535)", s);
    memcpy(host, h, hl);
    host[hl] = 0;
    *port = (uint16_t)p;
    return 0;
}

char *cc_path_relative_to(const char *file, const char *path)
{
    if (!path)
        return NULL;
    if (path[0] == '/' || !file)
        return cc_strdup(path);
    const char *slash = strrchr(file, '/');
    if (!slash)
        return cc_strdup(path);
    size_t dl = (size_t)(slash - file);
    size_t n = dl + 1 + strlen(path) + 1;
    char *out = cc_malloc(n);
    snprintf(out, n, "%.*s/%s", (int)dl, file, path);
    return out;
}
