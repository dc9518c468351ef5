/* `cocoon up` in three steps, internal to the cli layer:
 *   plan      (up_plan.c)      options, ports and paths -> every config, the
 *                              registry and each child's argv; pure, no I/O
 *   spawn     (up_spawn.c)     write the files, hash the images, start children
 *   supervise (up_supervise.c) wait until the client serves, watch the
 *                              children, stop them all in order
 * cmd_up.c strings them together. */
#ifndef COCOON_CLI_UP_H
#define COCOON_CLI_UP_H

#include <limits.h>
#include <stdio.h>
#include <sys/types.h>

#include "base/base.h"
#include "ton/ton.h"

#define UP_MAX_WORKERS 32
/* The fake backend, the proxy, the workers and the client. */
#define UP_MAX_CHILDREN (UP_MAX_WORKERS + 3)

typedef struct up_opts {
    int port; /* client HTTP port; 0 = pick a free one */
    int workers;
    const char *backend; /* "embedded" or "openai-http" */
    const char *backend_url;
    const char *model;
    const char *dir;
    int pow;
    int threads, slots; /* embedded workers' engine; 0 = its defaults */
    int context;        /* embedded workers' context per slot; 0 = the model's */
    /* embedded workers' (NULL: their defaults) */
    const char *kv_type, *context_overflow, *context_keep;
    const char *tee;      /* "fake" (default: every link attested) or "none" */
    const char *chain;    /* "local" (default: tools/tonsim) or "none" (free mode) */
    double chain_refresh; /* seconds between the daemons' reads of the root */
    const char *api_key;  /* the client's one API key (stored hashed), or NULL */
    int crash_limit;      /* this many deaths of one child within crash_window: stop all */
    int crash_window;     /* seconds */
    const char *sealing;  /* the client's "sealing": "required" (default), "preferred", "off" */
    const char *sealing_receipts; /* the client's "sealing_receipts" (NULL: its default) */
    bool help;
} up_opts;

/* Parses the arguments after "up" (argv[0] is "up"). */
int up_parse_opts(int argc, char **argv, up_opts *o, cc_err *err);
void up_usage(FILE *f);

/* Everything the plan needs that had to be found out first. */
typedef struct up_plan_input {
    const up_opts *opts;
    const char *bin_dir;     /* where cocoon-proxy etc. are */
    const char *dir;         /* configs, registry and logs */
    const char *model;       /* GGUF path (embedded) or the served name */
    const char *backend_url; /* NULL for the embedded engine */
    const char *fake_root;   /* the fake TEE root folder, NULL for --tee none */
    const char *model_hash;  /* hex SHA-256 of the served model's identifier */
    int proxy_workers_port, proxy_clients_port, proxy_http_port;
    int worker_http_port[UP_MAX_WORKERS];
    const char *chain_url; /* TON HTTP API of the local chain, NULL for --chain none */
    const char *root;      /* its root contract's address */
    /* The proxy's wallet key file and owner address (local chain), or NULL. */
    const char *proxy_wallet_key, *proxy_owner;
    const char *client_owner; /* local chain, or NULL */
    /* The client's wallet key file (written by up_chain_start from tonsim's
     * "client" wallet), relative to the configs; NULL: none. */
    const char *client_wallet;
    /* Per worker (local chain): its owner address and its own wallet's key
     * file (tonsim's "worker", "worker-2", ...: a wallet's seqno serves one
     * daemon); NULL: none. */
    const char *worker_owner[UP_MAX_WORKERS];
    const char *worker_wallet[UP_MAX_WORKERS];
} up_plan_input;

/* One daemon to start: cocoon-<role> --config DIR/<name>.json, logging to
 * DIR/<name>.log. */
typedef struct up_daemon {
    char name[32]; /* "proxy", "worker-1", ..., "client" */
    char role[16]; /* "proxy", "worker" or "client" */
    char exe[PATH_MAX];
    char config_path[PATH_MAX];
    json_t *config; /* owned: what config_path will hold */
    char *argv[4];  /* exe, "--config", config_path, NULL (into this struct) */
} up_daemon;

typedef struct up_plan {
    up_daemon daemon[UP_MAX_WORKERS + 2]; /* start order: proxy, workers, client */
    size_t n_daemons;
    json_t *registry; /* owned; with the fake TEE the image hashes are added
                       * by up_write_files, once the configs exist */
    char registry_path[PATH_MAX];
} up_plan;

/* Builds the plan; on failure nothing is left to free. */
int up_plan_build(const up_plan_input *in, up_plan *out, cc_err *err);
void up_plan_free(up_plan *p);

#define UP_MAX_CRASH_LIMIT 32

/* A started child process. */
typedef struct up_child {
    char name[32];
    pid_t pid;
    bool running;
    /* How to start it again (owned, NULL-terminated, argv[0] the program);
     * NULL: it is not restarted. */
    char **argv;
    double restart_at; /* cc_now_mono() when to start it again; 0: not due */
    unsigned restarts;
    /* Monotonic times of its latest deaths, newest last (the crash-loop
     * window and the backoff are computed from them). */
    double crash_at[UP_MAX_CRASH_LIMIT];
    int n_crash_at;
} up_child;

typedef struct up_children {
    up_child c[UP_MAX_CHILDREN];
    size_t n;
} up_children;

/* Starts bin_dir/prog with args (NULL-terminated, after argv[0]); stdout and
 * stderr go to DIR/<name>.log, or stdout to a pipe returned in *stdout_pipe. */
pid_t up_spawn(const char *exe, char *const args[], const char *dir, const char *name,
               int *stdout_pipe, cc_err *err);
/* Starts the fake OpenAI backend and returns its port (-1 on failure). */
int up_start_fake_backend(const char *bin_dir, const char *dir, up_children *ch, cc_err *err);
/* Creates the network's fake TEE root under dir (kept when dir is reused). */
int up_setup_fake_root(const char *dir, char *root, size_t root_n, cc_err *err);
/* Writes the daemons' configs, then (with the fake TEE) adds the genuine
 * image hashes to the registry, then writes the registry. */
int up_write_files(up_plan *p, bool fake_tee, cc_err *err);
/* Starts the plan's daemons in order and records them in ch. */
int up_spawn_daemons(const up_plan *p, const char *dir, up_children *ch, cc_err *err);

/* The local chain (up_chain.c): tools/tonsim started with the network's
 * prices, its root contract and owner wallet. */
typedef struct up_chain {
    char url[96];  /* "http://127.0.0.1:PORT" */
    char root[80]; /* raw address */
    ton_wallet owner;
    uint8_t owner_priv[32];
    /* tonsim's "proxy" wallet: its key file (DIR/proxy-wallet.json, 0600),
     * given to the proxy, and its address, the proxy's owner. */
    char proxy_key_file[PATH_MAX];
    char proxy_owner[80];
    /* tonsim's "client" wallet and one wallet per worker ("worker",
     * "worker-2", ...): the owners of the client's and each worker's
     * accounts (and so of their contracts). */
    char client_owner[80];
    char client_wallet[32]; /* "client-wallet.json" once written (0600), else "" */
    char worker_owner[UP_MAX_WORKERS][80];
    char worker_wallet[UP_MAX_WORKERS][32]; /* "worker-wallet.json", "worker-2-wallet.json", ... */
} up_chain;
/* Starts tonsim (node and tools/tonsim/tonsim.js found from bin_dir or
 * $COCOON_TONSIM) with a wallet for each of `workers` workers and records it
 * in ch as "tonsim". */
int up_chain_start(const char *bin_dir, const char *dir, int workers, up_children *ch, up_chain *c,
                   cc_err *err);
/* Registers the registry JSON's image and model hashes in the root with one
 * transfer of the owner wallet (the root runs it before this returns). */
int up_chain_register(const up_chain *c, const json_t *registry, cc_err *err);

/* Waits until the client on port lists a model (copied to served); returns
 * 0, 1 when a stop signal came, -1 when a child died or the time ran out. */
int up_wait_ready(up_children *ch, int port, const char *api_key, const char *dir, char *served,
                  size_t n);
/* When a dead child is started again (up_restart.c; pure, unit-tested). */
typedef struct up_restart_policy {
    int crash_limit;     /* deaths of one child within crash_window that stop cocoon up */
    double crash_window; /* seconds */
    double backoff_min;  /* delay after an isolated death, doubled per recent one */
    double backoff_max;
} up_restart_policy;
/* The defaults (5 deaths in 60 s; 0.5 s doubling up to 30 s) with the
 * options' crash_limit and crash_window. */
up_restart_policy up_restart_policy_of(const up_opts *o);
/* Records a death of c at `now`; returns the delay before starting it again,
 * or -1 when it died crash_limit times within crash_window (a crash loop). */
double up_restart_after_death(up_child *c, const up_restart_policy *p, double now);
/* Copies argv (NULL-terminated) into c->argv, for restarts. */
void up_child_set_argv(up_child *c, const char *exe, char *const args[]);
/* Frees what up_child_set_argv kept, for every child. */
void up_children_free(up_children *ch);

/* Runs until a stop signal (returns 0) or a crash loop (returns 1); a child
 * that dies is started again after a backoff, and logged. */
int up_supervise(up_children *ch, const char *dir, const up_restart_policy *pol);
/* Stops every running child: client first, proxy last, SIGKILL after a grace. */
void up_stop_children(up_children *ch);
/* Installs the SIGINT/SIGTERM handlers the two waits above follow. */
void up_catch_stop_signals(void);

#endif
