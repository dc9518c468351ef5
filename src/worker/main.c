/* cocoon-worker: see src/worker/worker.h. */
#include "worker/worker.h"

int main(int argc, char **argv)
{
    return worker_main(argc, argv);
}
