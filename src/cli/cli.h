/*
 * cli — the `cocoon` command. main.c dispatches on the first argument to one
 * cli_cmd_* function per command group, each in its own file (cmd_<group>.c).
 * Each returns the process exit code: 0 success, 1 failure, 2 usage error.
 */
#ifndef COCOON_CLI_H
#define COCOON_CLI_H

int cli_cmd_up(int argc, char **argv);     /* cmd_up.c: a whole local network */
int cli_cmd_engine(int argc, char **argv); /* cmd_engine.c: generate | bench | synth */
int cli_cmd_quote(int argc, char **argv);  /* cmd_tee.c: show | verify */
int cli_cmd_cert(int argc, char **argv);   /* cmd_tee.c: gen | show */
int cli_cmd_tee(int argc, char **argv);    /* cmd_tee.c: init-fake-root | ... */
int cli_cmd_ton(int argc, char **argv);    /* cmd_ton.c: boc | address */
int cli_cmd_wallet(int argc, char **argv); /* cmd_ton.c: new | address | balance | send */
int cli_cmd_root(int argc, char **argv);   /* cmd_ton.c: show | owner operations */
/* cmd_receipt.c: verify */
int cli_cmd_receipt(int argc, char **argv);
int cli_cmd_client(int argc, char **argv); /* cmd_owner.c: status | topup | withdraw | close */
int cli_cmd_worker(int argc, char **argv); /* cmd_owner.c: status | payout */
int cli_cmd_proxy(int argc, char **argv);  /* cmd_owner.c: status | topup | withdraw */

/* Helpers shared between command groups. */
#include "base/base.h"
#include "worker/worker.h"
/* cmd_tee.c: loads a proxy / worker / client config file and appends the
 * settings that daemon measures into its fake-TEE quote (RTMR2). */
int cli_measure_daemon_config(const char *role, const char *path, cc_buf *out, cc_err *err);
/* cmd_tee_probe.c: `cocoon tee probe HOST:PORT ...` (argv[1] is "probe"). */
int cli_tee_probe(int argc, char **argv);

/* The default model (stories260K.gguf): found or downloaded the way
 * cocoon-worker --model stories260K does it (src/worker/worker_model.c). */
#define CLI_DEFAULT_MODEL_SHA256 WORKER_DEFAULT_MODEL_SHA256
#define CLI_DEFAULT_MODEL_URL WORKER_DEFAULT_MODEL_URL
static inline int cli_default_model_path(char *out, size_t n, cc_err *err)
{
    return worker_default_model_path(out, n, err);
}
static inline int cli_fetch_model(const char *url, const char *dir, char *out, size_t n,
                                  cc_err *err)
{
    return worker_fetch_model(url, dir, out, n, err);
}

#endif
