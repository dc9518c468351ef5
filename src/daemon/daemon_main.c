/* main() of the three daemons: command line, config, logging, the loop and
 * teardown in one sequence; each role supplies its config functions and
 * how its daemon starts and stops. */
#include "daemon/daemon.h"

#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>

#include <event2/event.h>

/* Loads, overrides and validates cfg; prints the error as the daemon's. */
static int configure(const daemon_role *role, void *cfg, const char *path, int argc, char **argv)
{
    const daemon_config_ops *ops = role->config;
    cc_err err = {0};
    if (!path && role->config_required) {
        /* Say what is wrong first: a bad flag, or the missing --config. */
        if (ops->apply_flags(cfg, argc, argv, &err) < 0)
            fprintf(stderr, "cocoon-%s: %s\n", role->name, err.msg);
        else
            fprintf(stderr, "cocoon-%s: --config FILE is required\n", role->name);
        fputs(role->usage, stderr);
        return -1;
    }
    int rc = path ? daemon_config_load_file(ops, path, cfg, &err) : 0;
    if (rc == 0) rc = ops->apply_flags(cfg, argc, argv, &err);
    if (rc == 0 && (rc = ops->validate(cfg, &err)) < 0 && path)
        daemon_config_error_at(path, false, &err); /* a field the file holds: say where */
    if (rc < 0) {
        fprintf(stderr, "cocoon-%s: %s\n", role->name, err.msg);
        if (!path) fputs(role->usage, stderr);
        return -1;
    }
    return 0;
}

int daemon_main(const daemon_role *role, int argc, char **argv)
{
    const char *path = NULL;
    char **rest;
    int nrest;
    int asked = daemon_args_split(argc, argv, &path, &rest, &nrest);
    if (asked == 2) {
        printf("cocoon-%s %s\n", role->name, COCOON_VERSION);
        return 0;
    }
    if (asked) {
        fputs(role->usage, stdout);
        return 0;
    }
    /* Every relayed answer passes through buffers of tens of KiB that are freed at its end;
     * with glibc's defaults the heap top was given back and faulted in again on every request
     * (8 % of the worker's CPU at 30 connections). Keeping up to 32 MiB of free heap, and
     * a fixed mmap threshold (the dynamic one moves these sizes between mmap and the heap),
     * costs no more memory than the peak already took. */
    mallopt(M_MMAP_THRESHOLD, 1 << 20);
    mallopt(M_TRIM_THRESHOLD, 32 << 20);
    const daemon_config_ops *ops = role->config;
    void *cfg = cc_calloc(1, ops->size);
    ops->init(cfg);
    int rc = 2;
    if (configure(role, cfg, path, nrest, rest) == 0) {
        const daemon_config *common = (const daemon_config *)((char *)cfg + ops->common_offset);
        daemon_log_start(role->name, common->log_level);
        struct event_base *base = event_base_new();
        cc_err err = {0};
        void *d = role->start(base, cfg, &err);
        rc = 1;
        if (!d) {
            CC_ERROR("event=start_failed error=\"%s\"", err.msg);
        } else {
            daemon_run(base);
            role->stop(d);
            rc = 0;
        }
        event_base_free(base);
        CC_INFO("event=exit rc=%d", rc);
    }
    ops->clear(cfg);
    free(cfg);
    free(rest);
    return rc;
}
