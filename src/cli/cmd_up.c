/*
 * `cocoon up`: a whole local network in one command. Starts a proxy, N
 * workers and a client on loopback (and, for --backend openai-http without a
 * URL, the fake OpenAI backend), with generated configs, registry and logs
 * under one directory; prints `ready http://127.0.0.1:PORT` once the client
 * serves the model; restarts a child that dies (with a growing delay), stops
 * every child on SIGINT/SIGTERM or when one keeps dying (a crash loop). The steps are in up_plan.c,
 * up_spawn.c and up_supervise.c (see up.h); this file finds out what the plan needs.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <arpa/inet.h>

#include "cli/cli.h"
#include "cli/up.h"
#include "crypto/crypto.h"
#include "engine/engine.h"

static bool port_in_use(int port);

/* The first port of the kernel's ephemeral range (outgoing connections and
 * bind(0) take theirs from it). */
static int ephemeral_low(void)
{
    int low = 32768, high = 0;
    FILE *f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "r");
    if (f) {
        if (fscanf(f, "%d %d", &low, &high) != 2) low = 32768;
        fclose(f);
    }
    return low;
}

/* A free loopback port, picked at random from the 8192 ports just below the
 * ephemeral range: the daemon binds it only later, and a port from the
 * ephemeral range could meanwhile become the local end of any outgoing
 * connection on the machine. (The test suite's picker takes the 8192 ports
 * above these, so a `cocoon up` in one test never races another test.) */
static int free_port(void)
{
    int hi = ephemeral_low() - 8192, lo = hi - 8192;
    for (int tries = 0; lo >= 1024 && tries < 256; tries++) {
        int p = lo + (int)(crypto_random_u64() % (uint64_t)(hi - lo));
        if (!port_in_use(p)) return p;
    }
    /* A machine with an unusual range: let the kernel choose. */
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

/* Ports are picked before any daemon binds them: remember what was picked. */
typedef struct port_set {
    int used[UP_MAX_WORKERS + 8];
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

/* --dir, or a new temporary folder. */
static int make_dir(const up_opts *o, char dir[PATH_MAX], cc_err *err)
{
    if (o->dir) {
        if (cc_mkdirs(o->dir, 0755, err) < 0) return cc_err_prefix(err, "--dir %s", o->dir);
        if (!realpath(o->dir, dir)) return cc_err_set(err, "--dir %s: %s", o->dir, strerror(errno));
        return 0;
    }
    cc_tmp_template(dir, PATH_MAX, "cocoon-up");
    if (!mkdtemp(dir)) return cc_err_set(err, "mkdtemp: %s", strerror(errno));
    return 0;
}

/* Everything up to the spawned daemons; the children started so far are in
 * ch either way. */
/* The stats ports `cocoon up` gave the proxy and the workers. */
typedef struct up_stats_ports {
    int proxy;
    int worker[UP_MAX_WORKERS];
} up_stats_ports;

static int start(up_opts *o, const char *bin_dir, const char *dir, up_children *ch,
                 up_stats_ports *sp, cc_err *err)
{
    port_set ports = {.n = 0};
    if (o->port == 0)
        o->port = pick_port(&ports);
    else if (port_in_use(o->port))
        return cc_err_set(err, "port %d is already in use (choose another with --port)", o->port);
    else
        ports.used[ports.n++] = o->port;

    char model_path[PATH_MAX] = "", fake_url[64];
    const char *model = o->model, *backend_url = o->backend_url;
    if (!strcmp(o->backend, "embedded")) {
        if (!model) {
            if (cli_default_model_path(model_path, sizeof(model_path), err) < 0) return -1;
            model = model_path;
        } else if (realpath(model, model_path)) {
            model = model_path;
        }
    } else if (!backend_url) {
        /* No server given: the fake backend stands in (tests, demos). */
        int port = up_start_fake_backend(bin_dir, dir, ch, err);
        if (port < 0) return -1;
        snprintf(fake_url, sizeof(fake_url), "http://127.0.0.1:%d", port);
        backend_url = fake_url;
        if (!model) model = "fake-model";
    }
    if (!model)
        return cc_err_set(err, "--backend openai-http needs --model NAME (the served model)");

    char fake_root[PATH_MAX + 32], model_hash[65];
    bool fake_tee = !strcmp(o->tee, "fake");
    if (fake_tee && up_setup_fake_root(dir, fake_root, sizeof(fake_root), err) < 0)
        return cc_err_prefix(err, "fake TEE");
    if (served_model_hash(o->backend, model, model_hash, err) < 0) return -1;
    up_plan_input in = {.opts = o,
                        .bin_dir = bin_dir,
                        .dir = dir,
                        .model = model,
                        .backend_url = backend_url,
                        .fake_root = fake_tee ? fake_root : NULL,
                        .model_hash = model_hash,
                        .proxy_workers_port = pick_port(&ports),
                        .proxy_clients_port = pick_port(&ports),
                        .proxy_http_port = pick_port(&ports)};
    for (int i = 0; i < o->workers; i++)
        in.worker_http_port[i] = sp->worker[i] = pick_port(&ports);
    sp->proxy = in.proxy_http_port;
    up_chain chain;
    bool local_chain = !strcmp(o->chain, "local");
    if (local_chain) {
        if (!fake_tee)
            return cc_err_set(err, "--chain local lists the fake TEE's images in the root: use "
                                   "--tee fake, or --chain none with --tee none");
        if (up_chain_start(bin_dir, dir, o->workers, ch, &chain, err) < 0) return -1;
        in.chain_url = chain.url;
        in.root = chain.root;
        in.proxy_wallet_key = chain.proxy_key_file;
        in.proxy_owner = chain.proxy_owner;
        in.client_owner = chain.client_owner;
        if (chain.client_wallet[0]) in.client_wallet = chain.client_wallet;
        for (int i = 0; i < o->workers; i++) {
            in.worker_owner[i] = chain.worker_owner[i];
            if (chain.worker_wallet[i][0]) in.worker_wallet[i] = chain.worker_wallet[i];
        }
    }

    up_plan *plan = malloc(sizeof(*plan)); /* large: PATH_MAX names per daemon */
    if (!plan) return cc_err_set(err, "out of memory");
    int rc = up_plan_build(&in, plan, err);
    if (rc == 0) {
        rc = up_write_files(plan, fake_tee, err);
        /* The root must list the images before the proxy reads it. */
        if (rc == 0 && local_chain) rc = up_chain_register(&chain, plan->registry, err);
        if (rc == 0) rc = up_spawn_daemons(plan, dir, ch, err);
        up_plan_free(plan);
    }
    free(plan);
    return rc;
}

int cli_cmd_up(int argc, char **argv)
{
    up_opts o;
    cc_err err = {0};
    if (up_parse_opts(argc, argv, &o, &err) < 0) {
        fprintf(stderr, "cocoon up: %s (`cocoon up --help` lists the options)\n", err.msg);
        return 2;
    }
    if (o.help) {
        up_usage(stdout);
        return 0;
    }
    char bin_dir[PATH_MAX], dir[PATH_MAX];
    if (bin_dir_of_self(bin_dir, sizeof(bin_dir)) < 0) {
        fprintf(stderr, "cocoon up: cannot find the directory of the cocoon binary\n");
        return 1;
    }
    if (make_dir(&o, dir, &err) < 0) {
        fprintf(stderr, "cocoon up: %s\n", err.msg);
        return 1;
    }
    up_catch_stop_signals();
    up_children ch = {.n = 0};
    int rc = 1;
    up_stats_ports sp = {0};
    if (start(&o, bin_dir, dir, &ch, &sp, &err) < 0) {
        fprintf(stderr, "cocoon up: %s\n", err.msg);
        goto out;
    }
    fprintf(stderr, "cocoon up: starting in %s (logs: *.log there)\n", dir);
    char served[256] = "";
    int ready = up_wait_ready(&ch, o.port, o.api_key, dir, served, sizeof(served));
    if (ready != 0) {
        rc = ready > 0 ? 0 : 1;
        goto out;
    }
    printf("ready http://127.0.0.1:%d\n", o.port);
    fflush(stdout);
    fprintf(stderr,
            "cocoon up: stats: client http://127.0.0.1:%d/stats, proxy http://127.0.0.1:%d/stats",
            o.port, sp.proxy);
    for (int i = 0; i < o.workers; i++)
        fprintf(stderr, ", worker-%d http://127.0.0.1:%d/stats", i + 1, sp.worker[i]);
    fprintf(stderr, "\n");
    fprintf(stderr,
            "cocoon up: model \"%s\" is served; try:\n"
            "  curl http://127.0.0.1:%d/v1/chat/completions -H 'Content-Type: application/json' "
            "%s%s%s-d '{\"model\":\"%s\",\"messages\":[{\"role\":\"user\",\"content\":\"Once "
            "upon a time\"}],\"max_tokens\":32}'\n"
            "cocoon up: Ctrl-C stops everything\n",
            served, o.port, o.api_key ? "-H 'Authorization: Bearer " : "",
            o.api_key ? o.api_key : "", o.api_key ? "' " : "", served);
    up_restart_policy pol = up_restart_policy_of(&o);
    rc = up_supervise(&ch, dir, &pol);
out:
    up_stop_children(&ch);
    up_children_free(&ch);
    return rc;
}
