/*
 * `cocoon up`: a whole local network in one command. Starts a proxy, N
 * workers and a client on loopback (and, for --backend openai-http without a
 * URL, the fake OpenAI backend), with generated configs, registry and logs
 * under one directory; prints `ready http://127.0.0.1:PORT` once the client
 * serves the model; stops every child on SIGINT/SIGTERM, and stops the rest
 * when one child dies.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>

#include "base/base.h"
#include "cli/cli.h"
#include "crypto/crypto.h"
#include "engine/engine.h"
#include "tee/tee.h"

#define MAX_CHILDREN 40
#define READY_TIMEOUT 180.0 /* seconds: the embedded model loads before serving */
#define STOP_GRACE 5.0

typedef struct child {
    char name[32];
    pid_t pid;
    bool running;
} child;

typedef struct up_opts {
    int port;
    int workers;
    const char *backend;
    const char *backend_url;
    const char *model;
    const char *dir;
    int pow;
    const char *tee; /* "fake" (default: every link attested) or "none" */
} up_opts;

static volatile sig_atomic_t stop_signal;

static void on_stop_signal(int sig)
{
    stop_signal = sig;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: cocoon up [--port N] [--workers N] [--backend embedded|openai-http]\n"
               "                 [--backend-url URL] [--model FILE|NAME] [--dir DIR]\n"
               "                 [--pow-difficulty N] [--tee fake|none]\n"
               "\n"
               "Starts a proxy, N workers and a client on 127.0.0.1 and prints\n"
               "`ready http://127.0.0.1:PORT` when the OpenAI API answers. Ctrl-C stops all.\n"
               "  --port N          client HTTP port (default 10000; 0 = any free port)\n"
               "  --workers N       number of workers (default 1)\n"
               "  --backend KIND    embedded (default: the built-in engine) or openai-http\n"
               "  --backend-url URL an OpenAI-compatible server for openai-http (default: start\n"
               "                    the fake test backend)\n"
               "  --model M         GGUF file (embedded; default stories260K.gguf) or the served\n"
               "                    model name (openai-http)\n"
               "  --dir DIR         configs, registry and logs (default: a new temporary dir)\n"
               "  --tee KIND        fake (default): every link is attested with the fake TEE\n"
               "                    and the registry lists the genuine proxy and worker image\n"
               "                    hashes; none: no attestation (policy any, registry any)\n");
}

static double now(void)
{
    return cc_now_mono();
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* A free loopback port (bound then released: another process could take it
 * in between, which on a developer machine is rare enough). */
static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return -1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    int port = -1;
    if (bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    close(fd);
    return port;
}

/* Ports are picked before any daemon binds them, and the kernel may hand
 * out the same free port twice in a row: remember what was picked. */
typedef struct port_set {
    int used[MAX_CHILDREN + 8];
    size_t n;
} port_set;

static int pick_port(port_set *ps)
{
    for (int tries = 0; tries < 64; tries++) {
        int p = free_port();
        bool dup = false;
        for (size_t i = 0; i < ps->n; i++)
            dup |= ps->used[i] == p;
        if (p > 0 && !dup && ps->n < CC_ARRAY_LEN(ps->used)) {
            ps->used[ps->n++] = p;
            return p;
        }
    }
    return -1;
}

static bool port_in_use(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return false;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    bool used = bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0;
    close(fd);
    return used;
}

/* GET path on 127.0.0.1:port with HTTP/1.0; returns the body (heap) of a 200
 * answer, or NULL. Blocking with a short timeout: only used while starting. */
static char *http_get(int port, const char *path)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return NULL;
    struct timeval tv = {2, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        close(fd);
        return NULL;
    }
    char req[256];
    int n = snprintf(req, sizeof(req), "GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n", path);
    if (write(fd, req, (size_t)n) != n) {
        close(fd);
        return NULL;
    }
    cc_buf b = CC_BUF_INIT;
    for (;;) {
        cc_buf_reserve(&b, 4096);
        ssize_t r = read(fd, b.data + b.len, b.cap - b.len - 1);
        if (r <= 0) break;
        b.len += (size_t)r;
        if (b.len > (1 << 20)) break;
    }
    close(fd);
    cc_buf_append_u8(&b, 0);
    char *s = (char *)b.data;
    char *body = s ? strstr(s, "\r\n\r\n") : NULL;
    char *out = NULL;
    if (body && strncmp(s, "HTTP/1.", 7) == 0 && strncmp(s + 8, " 200", 4) == 0)
        out = cc_strdup(body + 4);
    cc_buf_free(&b);
    return out;
}

/* True once /v1/models lists at least one model. */
static bool client_ready(int port, char *model_out, size_t n)
{
    char *body = http_get(port, "/v1/models");
    if (!body) return false;
    json_t *j = json_loads(body, 0, NULL);
    free(body);
    bool ok = false;
    json_t *data = j ? json_object_get(j, "data") : NULL;
    if (json_is_array(data) && json_array_size(data) > 0) {
        const char *id = json_string_value(json_object_get(json_array_get(data, 0), "id"));
        snprintf(model_out, n, "%s", id ? id : "");
        ok = true;
    }
    json_decref(j);
    return ok;
}

static int write_json(const char *dir, const char *name, json_t *obj, char *path_out, size_t n,
                      cc_err *err)
{
    snprintf(path_out, n, "%s/%s", dir, name);
    char *text = json_dumps(obj, JSON_INDENT(2));
    json_decref(obj);
    if (!text) return cc_err_set(err, "cannot serialise %s", name);
    size_t len = strlen(text);
    int rc = cc_write_file_atomic(path_out, text, len, 0644, err);
    free(text);
    return rc;
}

/* Starts prog with args, stdout/stderr appended to DIR/<name>.log. When
 * stdout_pipe is given, the child's stdout goes there instead. */
static pid_t spawn(const char *bin_dir, const char *prog, char *const args[], const char *dir,
                   const char *name, int *stdout_pipe, cc_err *err)
{
    char exe[PATH_MAX], logp[PATH_MAX];
    snprintf(exe, sizeof(exe), "%s/%s", bin_dir, prog);
    snprintf(logp, sizeof(logp), "%s/%s.log", dir, name);
    if (access(exe, X_OK) != 0) {
        cc_err_set(err, "%s not found next to cocoon (%s)", prog, exe);
        return -1;
    }
    int fds[2] = {-1, -1};
    if (stdout_pipe && pipe(fds) != 0) {
        cc_err_set(err, "pipe: %s", strerror(errno));
        return -1;
    }
    pid_t pid = fork();
    if (pid < 0) {
        cc_err_set(err, "fork: %s", strerror(errno));
        return -1;
    }
    if (pid == 0) {
        /* Die with cocoon up even if it is killed without a chance to clean up. */
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        signal(SIGINT, SIG_IGN); /* Ctrl-C reaches the group; we stop children in order */
        int log = open(logp, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (log >= 0) {
            dup2(log, 2);
            dup2(stdout_pipe ? fds[1] : log, 1);
        }
        int devnull = open("/dev/null", O_RDONLY);
        if (devnull >= 0) dup2(devnull, 0);
        char *argv[32];
        int k = 0;
        argv[k++] = exe;
        for (int i = 0; args[i] && k < 31; i++)
            argv[k++] = args[i];
        argv[k] = NULL;
        execv(exe, argv);
        _exit(127);
    }
    if (stdout_pipe) {
        close(fds[1]);
        *stdout_pipe = fds[0];
    }
    return pid;
}

/* Reads "listening PORT" from the fake backend's stdout. */
static int read_listening_port(int fd, double timeout)
{
    char buf[256];
    size_t len = 0;
    double end = now() + timeout;
    while (now() < end && len < sizeof(buf) - 1) {
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, 100) <= 0) continue;
        ssize_t r = read(fd, buf + len, sizeof(buf) - 1 - len);
        if (r <= 0) break;
        len += (size_t)r;
        buf[len] = 0;
        int port;
        char *line = strstr(buf, "listening ");
        if (line && strchr(line, '\n') && sscanf(line, "listening %d", &port) == 1) return port;
    }
    return -1;
}

static void stop_children(child *ch, size_t n)
{
    /* Client first, proxy last: requests drain in the natural order. */
    for (size_t i = n; i-- > 0;)
        if (ch[i].running) kill(ch[i].pid, SIGTERM);
    double end = now() + STOP_GRACE;
    for (;;) {
        bool any = false;
        for (size_t i = 0; i < n; i++) {
            if (!ch[i].running) continue;
            int st;
            pid_t r = waitpid(ch[i].pid, &st, WNOHANG);
            if (r == ch[i].pid || (r < 0 && errno == ECHILD))
                ch[i].running = false;
            else
                any = true;
        }
        if (!any) return;
        if (now() > end) break;
        sleep_ms(50);
    }
    for (size_t i = 0; i < n; i++)
        if (ch[i].running) {
            fprintf(stderr, "cocoon up: %s did not stop, killing it\n", ch[i].name);
            kill(ch[i].pid, SIGKILL);
            waitpid(ch[i].pid, NULL, 0);
            ch[i].running = false;
        }
}

/* Returns the index of a child that exited (and reports it), or -1. */
static int reap(child *ch, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (!ch[i].running) continue;
        int st;
        if (waitpid(ch[i].pid, &st, WNOHANG) == ch[i].pid) {
            ch[i].running = false;
            if (WIFSIGNALED(st))
                fprintf(stderr, "cocoon up: %s (pid %d) was killed by signal %d\n", ch[i].name,
                        (int)ch[i].pid, WTERMSIG(st));
            else
                fprintf(stderr, "cocoon up: %s (pid %d) exited with status %d\n", ch[i].name,
                        (int)ch[i].pid, WEXITSTATUS(st));
            return (int)i;
        }
    }
    return -1;
}

static int parse_opts(int argc, char **argv, up_opts *o, cc_err *err)
{
    *o = (up_opts){.port = 10000, .workers = 1, .backend = "embedded", .pow = 12, .tee = "fake"};
    for (int i = 1; i < argc; i++) {
        const char *f = argv[i];
        if (i + 1 >= argc) return cc_err_set(err, "%s needs a value", f);
        const char *v = argv[++i];
        int64_t x;
        if (!strcmp(f, "--port")) {
            if (cc_parse_i64(v, 0, 65535, &x, err) < 0) return cc_err_prefix(err, "--port");
            o->port = (int)x;
        } else if (!strcmp(f, "--workers")) {
            if (cc_parse_i64(v, 1, 32, &x, err) < 0) return cc_err_prefix(err, "--workers");
            o->workers = (int)x;
        } else if (!strcmp(f, "--pow-difficulty")) {
            if (cc_parse_i64(v, 0, 28, &x, err) < 0) return cc_err_prefix(err, "--pow-difficulty");
            o->pow = (int)x;
        } else if (!strcmp(f, "--backend")) {
            if (strcmp(v, "embedded") && strcmp(v, "openai-http"))
                return cc_err_set(err, "--backend: expected embedded or openai-http, got \"%s\"",
                                  v);
            o->backend = v;
        } else if (!strcmp(f, "--backend-url"))
            o->backend_url = v;
        else if (!strcmp(f, "--model"))
            o->model = v;
        else if (!strcmp(f, "--dir"))
            o->dir = v;
        else if (!strcmp(f, "--tee")) {
            if (strcmp(v, "fake") && strcmp(v, "none"))
                return cc_err_set(err, "--tee: expected fake or none, got \"%s\"", v);
            o->tee = v;
        } else
            return cc_err_set(err, "unknown option %s", f);
    }
    if (o->backend_url && strcmp(o->backend, "openai-http") != 0)
        return cc_err_set(err, "--backend-url needs --backend openai-http");
    return 0;
}

/* The network-wide fake TEE root under dir (kept when --dir is reused). */
static int setup_fake_root(const char *dir, char *root, size_t root_n, cc_err *err)
{
    if ((size_t)snprintf(root, root_n, "%s/fake-tee-root", dir) >= root_n)
        return cc_err_set(err, "directory name too long");
    char pem[PATH_MAX + 64];
    snprintf(pem, sizeof(pem), "%s/fake_root.pem", root);
    if (access(pem, R_OK) != 0 && tee_fake_root_init(root, false, err) < 0) return -1;
    return 0;
}

/* The image hash the fake TEE gives the genuine cocoon-<role> binary started
 * with config_path: the registry lists it, so a changed binary or a changed
 * measured setting is refused. */
static int daemon_image_hash(const char *bin_dir, const char *role, const char *config_path,
                             char hex[65], cc_err *err)
{
    char exe[PATH_MAX + 32];
    snprintf(exe, sizeof(exe), "%s/cocoon-%s", bin_dir, role);
    cc_buf measured = CC_BUF_INIT;
    uint8_t h[32];
    int rc = cli_measure_daemon_config(role, config_path, &measured, err);
    if (rc == 0) rc = tee_fake_image_hash(exe, measured.data, measured.len, h, err);
    cc_buf_free(&measured);
    if (rc == 0) cc_hex_encode(h, 32, hex);
    return rc;
}

/* The model hash (DESIGN §5.3) of what the workers will announce: for the
 * embedded engine "name@sha256:<file hash>", for a server the model name. */
static int served_model_hash(const char *backend, const char *model, char hex[65], cc_err *err)
{
    char *id =
        !strcmp(backend, "embedded") ? engine_model_identifier(model, NULL, err) : cc_strdup(model);
    if (!id) return -1;
    uint8_t h[32];
    crypto_sha256(id, strlen(id), h);
    cc_hex_encode(h, 32, hex);
    free(id);
    return 0;
}

static bool json_array_contains_string(const json_t *a, const char *s)
{
    for (size_t i = 0; i < json_array_size(a); i++)
        if (!strcmp(json_string_value(json_array_get(a, i)), s)) return true;
    return false;
}

/* tee / policy / fake_root fields of a daemon config; workers and clients
 * also get the registry, so they refuse a proxy whose image is not listed. */
static void add_tee_fields(json_t *cfg, const char *fake_root, bool check_proxy)
{
    if (!fake_root) return;
    json_object_set_new(cfg, "tee", json_string("fake"));
    json_object_set_new(cfg, "policy", json_string("fake"));
    json_object_set_new(cfg, "fake_root", json_string(fake_root));
    if (check_proxy) json_object_set_new(cfg, "registry", json_string("registry.json"));
}

static int bin_dir_of_self(char *out, size_t n)
{
    ssize_t r = readlink("/proc/self/exe", out, n - 1);
    if (r <= 0) return -1;
    out[r] = 0;
    char *slash = strrchr(out, '/');
    if (!slash) return -1;
    *slash = 0;
    return 0;
}

int cli_cmd_up(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return 0;
        }
    up_opts o;
    cc_err err = {0};
    if (parse_opts(argc, argv, &o, &err) < 0) {
        fprintf(stderr, "cocoon up: %s\n", err.msg);
        usage(stderr);
        return 2;
    }
    char bin_dir[PATH_MAX], dir[PATH_MAX];
    if (bin_dir_of_self(bin_dir, sizeof(bin_dir)) < 0) {
        fprintf(stderr, "cocoon up: cannot find the directory of the cocoon binary\n");
        return 1;
    }
    if (o.dir) {
        if (cc_mkdirs(o.dir, 0755, &err) < 0 || !realpath(o.dir, dir)) {
            fprintf(stderr, "cocoon up: --dir %s: %s\n", o.dir, err.msg[0] ? err.msg : "bad");
            return 1;
        }
    } else {
        const char *tmp = getenv("TMPDIR");
        snprintf(dir, sizeof(dir), "%s/cocoon-up-XXXXXX", tmp && *tmp ? tmp : "/tmp");
        if (!mkdtemp(dir)) {
            fprintf(stderr, "cocoon up: mkdtemp: %s\n", strerror(errno));
            return 1;
        }
    }
    port_set ports = {.n = 0};
    if (o.port == 0)
        o.port = pick_port(&ports);
    else if (port_in_use(o.port)) {
        fprintf(stderr, "cocoon up: port %d is already in use (choose another with --port)\n",
                o.port);
        return 1;
    } else {
        ports.used[ports.n++] = o.port;
    }

    struct sigaction sa = {.sa_handler = on_stop_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    child ch[MAX_CHILDREN];
    size_t nch = 0;
    int rc = 1;
    char model_path[PATH_MAX] = "";
    const char *model = o.model;
    const char *backend_url = o.backend_url;
    char fake_url[64];

    if (!strcmp(o.backend, "embedded")) {
        if (!model) {
            if (engine_default_model_path(model_path, sizeof(model_path), &err) < 0) {
                fprintf(stderr, "cocoon up: %s\n", err.msg);
                return 1;
            }
            model = model_path;
        } else if (realpath(model, model_path)) {
            model = model_path;
        }
    } else if (!backend_url) {
        /* No server given: the fake backend stands in (tests, demos). */
        char *args[] = {"--port", "0", NULL};
        int out = -1;
        pid_t pid = spawn(bin_dir, "cocoon-fake-backend", args, dir, "fake-backend", &out, &err);
        if (pid < 0) {
            fprintf(stderr, "cocoon up: %s\n", err.msg);
            return 1;
        }
        ch[nch++] = (child){"fake-backend", pid, true};
        int port = read_listening_port(out, 10);
        close(out);
        if (port <= 0) {
            fprintf(stderr, "cocoon up: the fake backend did not start (see %s/fake-backend.log)\n",
                    dir);
            goto out;
        }
        snprintf(fake_url, sizeof(fake_url), "http://127.0.0.1:%d", port);
        backend_url = fake_url;
        if (!model) model = "fake-model";
    }
    if (!model) {
        fprintf(stderr, "cocoon up: --backend openai-http needs --model NAME (the served model)\n");
        goto out;
    }

    int wport = pick_port(&ports), cport = pick_port(&ports), sport = pick_port(&ports);
    char addr[64], path[PATH_MAX], proxy_cfg[PATH_MAX], client_cfg[PATH_MAX];
    char fake_root_buf[PATH_MAX + 32];
    const char *fake_root = NULL;
    if (!strcmp(o.tee, "fake")) {
        if (setup_fake_root(dir, fake_root_buf, sizeof(fake_root_buf), &err) < 0) {
            fprintf(stderr, "cocoon up: fake TEE: %s\n", err.msg);
            goto out;
        }
        fake_root = fake_root_buf;
    }

    /* The daemons' configs come first: with the fake TEE, their measured
     * settings are part of the image hashes the registry lists. */
    json_t *pc = json_object();
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", wport);
    json_object_set_new(pc, "listen_workers", json_string(addr));
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", cport);
    json_object_set_new(pc, "listen_clients", json_string(addr));
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", sport);
    json_object_set_new(pc, "listen_http", json_string(addr));
    json_object_set_new(pc, "registry", json_string("registry.json"));
    json_object_set_new(pc, "pow_difficulty", json_integer(o.pow));
    add_tee_fields(pc, fake_root, false);
    if (write_json(dir, "proxy.json", pc, proxy_cfg, sizeof(proxy_cfg), &err) < 0) goto fail;
    for (int i = 0; i < o.workers; i++) {
        json_t *wc = json_object();
        snprintf(addr, sizeof(addr), "127.0.0.1:%d", wport);
        json_object_set_new(wc, "proxies", json_pack("[s]", addr));
        snprintf(addr, sizeof(addr), "127.0.0.1:%d", pick_port(&ports));
        json_object_set_new(wc, "listen_http", json_string(addr));
        json_object_set_new(wc, "backend", json_string(o.backend));
        json_object_set_new(wc, "model", json_string(model));
        if (backend_url) json_object_set_new(wc, "backend_url", json_string(backend_url));
        add_tee_fields(wc, fake_root, true);
        char file[48];
        snprintf(file, sizeof(file), "worker-%d.json", i + 1);
        if (write_json(dir, file, wc, path, sizeof(path), &err) < 0) goto fail;
    }
    json_t *cc = json_object();
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", o.port);
    json_object_set_new(cc, "listen_http", json_string(addr));
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", cport);
    json_object_set_new(cc, "proxies", json_pack("[s]", addr));
    add_tee_fields(cc, fake_root, true);
    if (write_json(dir, "client.json", cc, client_cfg, sizeof(client_cfg), &err) < 0) goto fail;

    /* Registry: the served model only; with the fake TEE only the genuine
     * proxy and worker images, without it any image. */
    json_t *reg = json_pack("{s:i, s:s, s:s, s:[], s:[{s:s, s:s}]}", "version", 1,
                            "proxy_image_hashes", "any", "worker_image_hashes", "any",
                            "model_hashes", "proxies", "address", "", "worker_address", "");
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", cport);
    json_object_set_new(json_array_get(json_object_get(reg, "proxies"), 0), "address",
                        json_string(addr));
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", wport);
    json_object_set_new(json_array_get(json_object_get(reg, "proxies"), 0), "worker_address",
                        json_string(addr));
    char hex[65];
    if (served_model_hash(o.backend, model, hex, &err) < 0) {
        json_decref(reg);
        goto fail;
    }
    json_array_append_new(json_object_get(reg, "model_hashes"), json_string(hex));
    if (fake_root) {
        json_t *ph = json_array(), *wh = json_array();
        json_object_set_new(reg, "proxy_image_hashes", ph);
        json_object_set_new(reg, "worker_image_hashes", wh);
        if (daemon_image_hash(bin_dir, "proxy", proxy_cfg, hex, &err) < 0) {
            json_decref(reg);
            goto fail;
        }
        json_array_append_new(ph, json_string(hex));
        for (int i = 0; i < o.workers; i++) {
            char wpath[PATH_MAX + 32];
            snprintf(wpath, sizeof(wpath), "%s/worker-%d.json", dir, i + 1);
            if (daemon_image_hash(bin_dir, "worker", wpath, hex, &err) < 0) {
                json_decref(reg);
                goto fail;
            }
            if (!json_array_contains_string(wh, hex)) json_array_append_new(wh, json_string(hex));
        }
    }
    if (write_json(dir, "registry.json", reg, path, sizeof(path), &err) < 0) goto fail;

    {
        char *args[] = {"--config", proxy_cfg, NULL};
        pid_t pid = spawn(bin_dir, "cocoon-proxy", args, dir, "proxy", NULL, &err);
        if (pid < 0) goto fail;
        ch[nch++] = (child){"proxy", pid, true};
    }
    for (int i = 0; i < o.workers; i++) {
        char name[32];
        snprintf(name, sizeof(name), "worker-%d", i + 1);
        char wpath[PATH_MAX + 64];
        snprintf(wpath, sizeof(wpath), "%s/%s.json", dir, name);
        char *args[] = {"--config", wpath, NULL};
        pid_t pid = spawn(bin_dir, "cocoon-worker", args, dir, name, NULL, &err);
        if (pid < 0) goto fail;
        ch[nch] = (child){"", pid, true};
        snprintf(ch[nch].name, sizeof(ch[nch].name), "%s", name);
        nch++;
    }
    {
        char *args[] = {"--config", client_cfg, NULL};
        pid_t pid = spawn(bin_dir, "cocoon-client", args, dir, "client", NULL, &err);
        if (pid < 0) goto fail;
        ch[nch++] = (child){"client", pid, true};
    }

    fprintf(stderr, "cocoon up: starting in %s (logs: *.log there)\n", dir);
    char served[256] = "";
    double deadline = now() + READY_TIMEOUT;
    while (!client_ready(o.port, served, sizeof(served))) {
        if (stop_signal) goto stop;
        if (reap(ch, nch) >= 0) {
            fprintf(stderr, "cocoon up: a process died while starting; logs are in %s\n", dir);
            goto out;
        }
        if (now() > deadline) {
            fprintf(stderr, "cocoon up: the network was not ready after %.0f s; logs are in %s\n",
                    READY_TIMEOUT, dir);
            goto out;
        }
        sleep_ms(100);
    }
    printf("ready http://127.0.0.1:%d\n", o.port);
    fflush(stdout);
    fprintf(stderr,
            "cocoon up: model \"%s\" is served; try:\n"
            "  curl http://127.0.0.1:%d/v1/chat/completions -H 'Content-Type: application/json' "
            "-d '{\"model\":\"%s\",\"messages\":[{\"role\":\"user\",\"content\":\"Once upon a "
            "time\"}],\"max_tokens\":32}'\n"
            "cocoon up: Ctrl-C stops everything\n",
            served, o.port, served);
    while (!stop_signal) {
        if (reap(ch, nch) >= 0) {
            fprintf(stderr, "cocoon up: stopping the others; logs are in %s\n", dir);
            goto out;
        }
        sleep_ms(100);
    }
stop:
    fprintf(stderr, "cocoon up: signal %d, stopping\n", (int)stop_signal);
    rc = 0;
    goto out;
fail:
    fprintf(stderr, "cocoon up: %s\n", err.msg);
out:
    stop_children(ch, nch);
    return rc;
}
