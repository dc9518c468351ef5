/* Helpers shared by the TON command groups (cmd_ton.c, cmd_ton_wallet.c):
 * argument parsing, wallet key files, amounts, BoC input and sending a
 * wallet transfer. Internal to the cli layer. */
#ifndef COCOON_CLI_TON_CLI_H
#define COCOON_CLI_TON_CLI_H

#include "ton/ton.h"

#define TCLI_MAX_POS 8
#define TCLI_MAX_OPTS 24

typedef struct tcli_args {
    const char *pos[TCLI_MAX_POS];
    int n_pos;
    const char *names[TCLI_MAX_OPTS];
    const char *values[TCLI_MAX_OPTS]; /* "" for flags */
    int n_opts;
} tcli_args;

/* Parses argv[first..] with cc_args: "--flag" for names in `flags`, "--name
 * VALUE" (or --name=VALUE) for names in `valued`, anything else positional.
 * Returns 0, 1 when --help was given (the caller prints its usage), or -1
 * after printing the error with the command name. */
int tcli_parse(int argc, char **argv, int first, const char *const *flags,
               const char *const *valued, const char *cmd, tcli_args *out);
const char *tcli_opt(const tcli_args *a, const char *name); /* NULL if absent */
bool tcli_flag(const tcli_args *a, const char *name);

/* Wallet keys file: {"version":"v5r1","workchain":0,"network_global_id":-239,
 * "private_key":"<hex seed>","public_key":"<hex>"} (mode 0600). */
typedef struct tcli_keys {
    uint8_t priv[32], pub[32];
    ton_wallet wallet;
    int32_t global_id;
} tcli_keys;
int tcli_keys_load(const char *path, tcli_keys *k, cc_err *err);
int tcli_keys_save(const char *path, const tcli_keys *k, cc_err *err);

/* "1.5" TON -> nanoton (at most 9 decimals). */
int tcli_parse_ton(const char *text, uint64_t *nano, cc_err *err);
/* nanoton -> "1.500000000" */
void tcli_format_ton(uint64_t nano, char out[32]);
/* A BoC given as hex, base64 or @FILE (binary or text). */
ton_cell *tcli_load_boc(const char *arg, cc_err *err);
char *tcli_boc_hex(const ton_cell *c); /* crc32c, no index; caller frees */
int tcli_parse_hash(const char *hex, uint8_t out[32], cc_err *err);
/* --api URL (or $COCOON_TON_API); prints the error and returns NULL if absent. */
ton_api *tcli_api(const tcli_args *a, const char *cmd);

/* Sends one internal message from the key file's wallet: reads the seqno,
 * attaches the StateInit when the wallet is not deployed yet, signs with
 * send mode 3 and, with wait, polls until the seqno moves (so the next
 * transfer can follow). Fills report with address, seqno and hash. */
int tcli_send(ton_api *api, const tcli_keys *k, const ton_int_msg *m, bool wait, json_t *report,
              cc_err *err);

void tcli_print_json(json_t *j); /* prints and releases */

/* The StateInit of a party's contract ("client", "worker" or "proxy") from
 * the root's current params (codes, prices and delays all enter it, so they
 * come from the chain). proxy_contract is not used for "proxy". */
ton_cell *tcli_party_init(ton_api *api, const char *kind, const ton_addr *root,
                          const ton_addr *owner, const ton_addr *proxy_contract,
                          const uint8_t proxy_pub[32], cc_err *err);

#endif
