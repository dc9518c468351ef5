/* `cocoon up`, step 2: write the plan's files and start the processes. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/up.h"
#include "tee/tee.h"

pid_t up_spawn(const char *exe, char *const args[], const char *dir, const char *name,
               int *stdout_pipe, cc_err *err)
{
    char logp[PATH_MAX];
    if ((size_t)snprintf(logp, sizeof(logp), "%s/%s.log", dir, name) >= sizeof(logp))
        return cc_err_set(err, "path too long under %s", dir);
    if (access(exe, X_OK) != 0) return cc_err_set(err, "%s not found next to cocoon", exe);
    int fds[2] = {-1, -1};
    if (stdout_pipe && pipe(fds) != 0) return cc_err_set(err, "pipe: %s", strerror(errno));
    pid_t pid = fork();
    if (pid < 0) {
        if (stdout_pipe) {
            close(fds[0]);
            close(fds[1]);
        }
        return cc_err_set(err, "fork: %s", strerror(errno));
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
        argv[k++] = (char *)exe;
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
    double end = cc_now_mono() + timeout;
    while (cc_now_mono() < end && len < sizeof(buf) - 1) {
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

int up_start_fake_backend(const char *bin_dir, const char *dir, up_children *ch, cc_err *err)
{
    char exe[PATH_MAX];
    snprintf(exe, sizeof(exe), "%s/cocoon-fake-backend", bin_dir);
    char *args[] = {"--port", "0", NULL};
    int out = -1;
    pid_t pid = up_spawn(exe, args, dir, "fake-backend", &out, err);
    if (pid < 0) return -1;
    up_child *c = &ch->c[ch->n++];
    *c = (up_child){.name = "fake-backend", .pid = pid, .running = true};
    /* Generous: it prints its port at once, but a loaded machine or a
     * sanitizer build can take seconds to get there. */
    int port = read_listening_port(out, 60);
    close(out);
    if (port <= 0)
        return cc_err_set(err, "the fake backend did not start (see %s/fake-backend.log)", dir);
    /* A restart must come back on the port the workers were given. */
    char port_s[16];
    snprintf(port_s, sizeof(port_s), "%d", port);
    char *again[] = {"--port", port_s, NULL};
    up_child_set_argv(c, exe, again);
    return port;
}

int up_setup_fake_root(const char *dir, char *root, size_t root_n, cc_err *err)
{
    if ((size_t)snprintf(root, root_n, "%s/fake-tee-root", dir) >= root_n)
        return cc_err_set(err, "directory name too long");
    char pem[PATH_MAX + 64];
    snprintf(pem, sizeof(pem), "%s/fake_root.pem", root);
    if (access(pem, R_OK) != 0 && tee_fake_root_init(root, false, err) < 0) return -1;
    return 0;
}

static int write_json(const char *path, const json_t *obj, cc_err *err)
{
    char *text = json_dumps(obj, JSON_INDENT(2));
    if (!text) return cc_err_set(err, "cannot serialise %s", path);
    int rc = cc_write_file_atomic(path, text, strlen(text), 0644, err);
    free(text);
    return rc;
}

/* The image hash the fake TEE gives the genuine binary started with its
 * config: the registry lists it, so a changed binary or a changed measured
 * setting is refused. */
static int daemon_image_hash(const up_daemon *d, char hex[65], cc_err *err)
{
    cc_buf measured = CC_BUF_INIT;
    uint8_t h[32];
    int rc = cli_measure_daemon_config(d->role, d->config_path, &measured, err);
    if (rc == 0) rc = tee_fake_image_hash(d->exe, measured.data, measured.len, h, err);
    cc_buf_free(&measured);
    if (rc == 0) cc_hex_encode(h, 32, hex);
    return rc;
}

static bool json_array_contains_string(const json_t *a, const char *s)
{
    for (size_t i = 0; i < json_array_size(a); i++)
        if (!strcmp(json_string_value(json_array_get(a, i)), s)) return true;
    return false;
}

int up_write_files(up_plan *p, bool fake_tee, cc_err *err)
{
    for (size_t i = 0; i < p->n_daemons; i++)
        if (write_json(p->daemon[i].config_path, p->daemon[i].config, err) < 0) return -1;
    if (fake_tee) {
        json_t *ph = json_array(), *wh = json_array();
        json_object_set_new(p->registry, "proxy_image_hashes", ph);
        json_object_set_new(p->registry, "worker_image_hashes", wh);
        for (size_t i = 0; i < p->n_daemons; i++) {
            const up_daemon *d = &p->daemon[i];
            json_t *list = !strcmp(d->role, "proxy") ? ph : !strcmp(d->role, "worker") ? wh : NULL;
            if (!list) continue;
            char hex[65];
            if (daemon_image_hash(d, hex, err) < 0) return -1;
            if (!json_array_contains_string(list, hex))
                json_array_append_new(list, json_string(hex));
        }
    }
    return write_json(p->registry_path, p->registry, err);
}

int up_spawn_daemons(const up_plan *p, const char *dir, up_children *ch, cc_err *err)
{
    for (size_t i = 0; i < p->n_daemons; i++) {
        const up_daemon *d = &p->daemon[i];
        pid_t pid = up_spawn(d->exe, d->argv + 1, dir, d->name, NULL, err);
        if (pid < 0) return -1;
        up_child *c = &ch->c[ch->n++];
        *c = (up_child){.pid = pid, .running = true};
        cc_str_copy(c->name, sizeof(c->name), d->name);
        up_child_set_argv(c, d->exe, d->argv + 1);
    }
    return 0;
}
