/* What the proxy's ledger costs: one durable commit (WAL, synchronous=FULL)
 * with k changed accounts, against the same in-memory bookkeeping without a
 * commit as the baseline. Prints one JSON line per figure. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ledger/ledger.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void request(ledger *l, int i)
{
    char owner[32];
    snprintf(owner, sizeof(owner), "0:%04x", i);
    ledger_client *c = ledger_client_get(l, owner, true);
    ledger_worker *w = ledger_worker_get(l, owner, true);
    ledger_client_reserve(c, 0);
    ledger_client_deduct(c, 100);
    ledger_client_release(c, 0);
    ledger_worker_add(w, 100);
}

int main(int argc, char **argv)
{
    double seconds = argc > 1 ? atof(argv[1]) : 1.0;
    char dir[256];
    cc_tmp_template(dir, sizeof(dir), "cc-bench-ledger");
    if (!mkdtemp(dir)) return 1;
    char path[300];
    snprintf(path, sizeof(path), "%s/ledger.db", dir);
    uint8_t key[32] = {7};
    cc_err err;
    ledger *l = ledger_open(path, key, &err);
    if (!l) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    /* Baseline: the accounting a request does, without persisting it. */
    long n = 0;
    double t0 = now();
    while (now() - t0 < seconds)
        for (int k = 0; k < 1000; k++)
            request(l, (int)(n++ % 64));
    double base = (now() - t0) / (double)n;
    printf("{\"bench\":\"ledger\",\"op\":\"request_accounting\",\"ns_per_op\":%.1f}\n", base * 1e9);
    static const int batch[] = {1, 16, 256};
    for (size_t b = 0; b < sizeof(batch) / sizeof(batch[0]); b++) {
        long commits = 0;
        t0 = now();
        while (now() - t0 < seconds) {
            for (int k = 0; k < batch[b]; k++)
                request(l, k);
            if (ledger_commit(l, false, &err) < 0) {
                fprintf(stderr, "%s\n", err.msg);
                return 1;
            }
            commits++;
        }
        double per = (now() - t0) / (double)commits;
        printf("{\"bench\":\"ledger\",\"op\":\"commit\",\"changed_accounts\":%d,"
               "\"us_per_commit\":%.1f,\"commits_per_s\":%.0f,\"requests_per_s\":%.0f,"
               "\"baseline_ns_per_request\":%.1f}\n",
               batch[b] * 2, per * 1e6, 1.0 / per, batch[b] / per, base * 1e9);
    }
    ledger_close(l);
    unlink(path);
    char more[320];
    snprintf(more, sizeof(more), "%s-wal", path);
    unlink(more);
    snprintf(more, sizeof(more), "%s-shm", path);
    unlink(more);
    rmdir(dir);
    return 0;
}
