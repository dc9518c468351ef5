/* Placeholder until this command group lands; replaced by its owner. */
#include <stdio.h>

#include "cli/cli.h"

int cli_cmd_engine(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "cocoon engine: not available in this build\n");
    return 1;
}
