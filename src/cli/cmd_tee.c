/* Placeholder until this command group lands; replaced by its owner. */
#include <stdio.h>

#include "cli/cli.h"

int cli_cmd_quote(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "cocoon quote: not available in this build\n");
    return 1;
}

int cli_cmd_cert(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "cocoon cert: not available in this build\n");
    return 1;
}

int cli_cmd_tee(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "cocoon tee: not available in this build\n");
    return 1;
}
