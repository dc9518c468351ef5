/*
 * Finding the default model (stories260K.gguf) without user action, for
 * `cocoon up` and `cocoon-worker --model stories260K` (the engine itself does
 * no network I/O; the worker resolves the name to a path before loading).
 *
 * Search order: $COCOON_SHARED/models, ../shared/models beside the current
 * directory, the running binary's directory and its parents (a build tree
 * or repository checkout inside the workspace), then the user cache
 * ($XDG_CACHE_HOME or ~/.cache)/cocoon/models. Failing all, the file is
 * downloaded from its public URL into the cache; every candidate (found or
 * downloaded) must have the known SHA-256.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "worker/worker.h"
#include "crypto/crypto.h"
#include "http/http.h"

#define MODEL_FILE "stories260K.gguf"
#define MODEL_SIZE 1185376

static bool file_ok(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size != MODEL_SIZE) return false;
    uint8_t h[32];
    char hex[65];
    if (crypto_sha256_file(path, h, NULL)) return false;
    cc_hex_encode(h, 32, hex);
    return strcmp(hex, WORKER_DEFAULT_MODEL_SHA256) == 0;
}

static bool try_dir(const char *dir, char *out, size_t n)
{
    char path[PATH_MAX];
    if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, MODEL_FILE) >= sizeof(path))
        return false;
    if (!file_ok(path)) return false;
    char *real = realpath(path, NULL);
    bool fits = real && strlen(real) < n;
    if (fits) strcpy(out, real);
    free(real);
    return fits;
}

static int cache_dir(char *out, size_t n)
{
    const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    int k;
    if (xdg && xdg[0])
        k = snprintf(out, n, "%s/cocoon/models", xdg);
    else if (home && home[0])
        k = snprintf(out, n, "%s/.cache/cocoon/models", home);
    else
        return -1;
    return k > 0 && (size_t)k < n ? 0 : -1;
}

int worker_fetch_model(const char *url, const char *dir, char *out, size_t n, cc_err *err)
{
    cc_buf body = CC_BUF_INIT;
    int rc;
    if (cc_str_has_prefix(url, "file://")) { /* an offline mirror (and the tests) */
        struct stat st;
        rc = stat(url + 7, &st) == 0 && st.st_size > 2 * MODEL_SIZE
                 ? cc_err_set(err, "%s is larger than %s can be", url + 7, MODEL_FILE)
                 : cc_read_file(url + 7, &body, err);
    } else {
        /* twice the size: anything larger is not the file we want */
        rc = http_get_blocking(url, 120, 2 * MODEL_SIZE, 5, &body, err);
    }
    if (rc < 0) {
        cc_buf_free(&body);
        return cc_err_prefix(err, "download of %s failed", MODEL_FILE);
    }
    uint8_t h[32];
    char hex[65];
    crypto_sha256(body.data, body.len, h);
    cc_hex_encode(h, 32, hex);
    if (strcmp(hex, WORKER_DEFAULT_MODEL_SHA256) != 0) {
        cc_buf_free(&body);
        return cc_err_set(err, "downloaded %s has SHA-256 %s, expected %s", MODEL_FILE, hex,
                          WORKER_DEFAULT_MODEL_SHA256);
    }
    char path[PATH_MAX];
    if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, MODEL_FILE) >= sizeof(path)) {
        cc_buf_free(&body);
        return cc_err_set(err, "cache path too long");
    }
    int wrc =
        cc_mkdirs(dir, 0755, err) ? -1 : cc_write_file_atomic(path, body.data, body.len, 0644, err);
    cc_buf_free(&body);
    if (wrc) return -1;
    if (strlen(path) >= n) return cc_err_set(err, "model path too long");
    strcpy(out, path);
    return 0;
}

int worker_default_model_path(char *out, size_t n, cc_err *err)
{
    char dir[PATH_MAX];
    const char *shared = getenv("COCOON_SHARED");
    if (shared && shared[0]) {
        if ((size_t)snprintf(dir, sizeof(dir), "%s/models", shared) < sizeof(dir) &&
            try_dir(dir, out, n))
            return 0;
    }
    if (try_dir("../shared/models", out, n)) return 0;
    /* The binary's directory and up to four parents, each with
     * ../shared/models (e.g. build/bin → repository → workspace). */
    char exe[PATH_MAX];
    ssize_t k = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (k > 0) {
        exe[k] = 0;
        for (int up = 0; up < 5; up++) {
            char *slash = strrchr(exe, '/');
            if (!slash || slash == exe) break;
            *slash = 0;
            if ((size_t)snprintf(dir, sizeof(dir), "%s/../shared/models", exe) >= sizeof(dir))
                continue;
            if (try_dir(dir, out, n)) return 0;
        }
    }
    if (cache_dir(dir, sizeof(dir)) == 0) {
        if (try_dir(dir, out, n)) return 0;
        if (getenv("COCOON_NO_DOWNLOAD"))
            return cc_err_set(err, "%s not found and downloads are disabled", MODEL_FILE);
        if (worker_fetch_model(WORKER_DEFAULT_MODEL_URL, dir, out, n, err) == 0) return 0;
        return cc_err_prefix(err, "%s not found locally", MODEL_FILE);
    }
    return cc_err_set(err, "%s not found and no cache directory (set HOME)", MODEL_FILE);
}

bool worker_model_is_name(const char *model)
{
    if (!model || !model[0] || strchr(model, '/')) return false;
    size_t n = strlen(model);
    return !(n >= 5 && strcmp(model + n - 5, ".gguf") == 0);
}

int worker_model_resolve(const char *model, char **path, cc_err *err)
{
    *path = NULL;
    struct stat st;
    if (!worker_model_is_name(model) || stat(model, &st) == 0) return 0; /* a path */
    if (strcmp(model, WORKER_DEFAULT_MODEL_NAME) != 0)
        return cc_err_set(err,
                          "model \"%s\": no such file, and the only model known by name is "
                          "%s",
                          model, WORKER_DEFAULT_MODEL_NAME);
    char out[PATH_MAX];
    if (worker_default_model_path(out, sizeof(out), err) < 0) return -1;
    *path = cc_strdup(out);
    return 0;
}
