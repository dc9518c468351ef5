/* Placeholder until this command group lands; replaced by its owner. */
#include <stdio.h>

#include "cli/cli.h"

int cli_cmd_ton(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "cocoon ton: not available in this build\n");
    return 1;
}

int cli_cmd_wallet(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "cocoon wallet: not available in this build\n");
    return 1;
}

int cli_cmd_root(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "cocoon root: not available in this build\n");
    return 1;
}
