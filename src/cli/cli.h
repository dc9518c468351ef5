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

/* Helpers shared between command groups. */
#include "base/base.h"
/* cmd_tee.c: loads a proxy / worker / client config file and appends the
 * settings that daemon measures into its fake-TEE quote (RTMR2). */
int cli_measure_daemon_config(const char *role, const char *path, cc_buf *out, cc_err *err);
/* cmd_tee_probe.c: `cocoon tee probe HOST:PORT ...` (argv[1] is "probe"). */
int cli_tee_probe(int argc, char **argv);

/* default_model.c: finds stories260K.gguf: $COCOON_SHARED/models,
 * ../shared/models beside the current directory, the running binary or its
 * parents, the cache dir ($XDG_CACHE_HOME or ~/.cache)/cocoon/models;
 * otherwise downloads it from its public URL into the cache (unless
 * COCOON_NO_DOWNLOAD is set). Every candidate must have the known SHA-256. */
int cli_default_model_path(char *out, size_t n, cc_err *err);
#define CLI_DEFAULT_MODEL_SHA256 "270cba1bd5109f42d03350f60406024560464db173c0e387d91f0426d3bd256d"
#define CLI_DEFAULT_MODEL_URL                                                                      \
    "https://huggingface.co/ggml-org/models/resolve/main/tinyllamas/stories260K.gguf"
/* Downloads the default model from url into dir/stories260K.gguf, checking
 * its SHA-256 first (url is a parameter for tests). */
int cli_fetch_model(const char *url, const char *dir, char *out, size_t n, cc_err *err);

#endif
