/* The `cocoon` command: dispatch to the command groups. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

static const struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *help;
} commands[] = {
    {"up", cli_cmd_up, "start a local network (proxy, workers, client) on loopback"},
    {"engine", cli_cmd_engine, "embedded inference engine: generate, bench, synth"},
    {"quote", cli_cmd_quote, "TDX quotes: show, verify"},
    {"cert", cli_cmd_cert, "RA-TLS certificates: gen, show"},
    {"tee", cli_cmd_tee, "TEE providers: init-fake-root"},
    {"ton", cli_cmd_ton, "TON data: boc, address"},
    {"wallet", cli_cmd_wallet, "wallet v5r1: new, address, balance, send"},
    {"root", cli_cmd_root, "root registry contract: show and owner operations"},
    {"receipt", cli_cmd_receipt, "sealed answers' receipts: verify (offline, with the evidence)"},
    {"client", cli_cmd_client, "client contract of an owner: status, topup, withdraw, close"},
    {"worker", cli_cmd_worker, "worker contract of an owner: status, payout"},
    {"proxy", cli_cmd_proxy, "proxy contract of an owner: status, topup (stake), withdraw"},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: cocoon COMMAND [ARGS...]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        fprintf(f, "  %-8s %s\n", commands[i].name, commands[i].help);
    fprintf(f, "\n`cocoon COMMAND --help` describes each command.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version")) {
        printf("cocoon %s\n", COCOON_VERSION);
        return 0;
    }
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        if (!strcmp(argv[1], commands[i].name)) return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "cocoon: unknown command \"%s\"\n", argv[1]);
    usage(stderr);
    return 2;
}
