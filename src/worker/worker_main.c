/* main() of cocoon-worker: config, backend choice, signals, the loop. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "daemon/daemon.h"
#include "worker/worker.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: cocoon-worker --config FILE.json [--backend embedded|openai-http]\n"
               "         [--backend-url URL] [--model NAME|FILE.gguf] [--model-name NAME]\n"
               "         [--coefficient N] [--max-active N] [--http HOST:PORT]\n"
               "         [--proxy HOST:PORT]... [--log-level debug|info|warn|error]\n");
}

static worker_backend *make_backend(struct event_base *base, const worker_config *cfg, cc_err *err)
{
    if (strcmp(cfg->backend, "openai-http") == 0) {
        backend_openai_http_config bc = {.url = cfg->backend_url,
                                         .model = cfg->model,
                                         .api_key = cfg->api_key,
                                         .health_interval = cfg->health_interval,
                                         /* Never fewer backend connections than the requests we
                                          * advertise, or the excess queues silently inside curl;
                                          * a few more for the health poll. */
                                         .max_connections =
                                             cfg->max_active > 0 ? cfg->max_active + 4 : 0};
        return backend_openai_http_new(base, &bc, err);
    }
    backend_embedded_config bc = {.model_path = cfg->model,
                                  .model_name = cfg->model_name,
                                  .threads = cfg->threads,
                                  .slots = cfg->slots};
    return backend_embedded_new(base, &bc, err);
}

int worker_main(int argc, char **argv)
{
    const char *config = NULL;
    /* --config first, then the overrides in order. */
    char **rest;
    int nrest;
    if (daemon_args_split(argc, argv, &config, &rest, &nrest)) {
        usage(stdout);
        return 0;
    }
    worker_config cfg;
    cc_err err = {0};
    worker_config_init(&cfg);
    int rc = 1;
    struct event_base *base = NULL;
    worker *w = NULL;
    if ((config && worker_config_load(config, &cfg, &err) < 0) ||
        worker_config_apply_flags(&cfg, nrest, rest, &err) < 0 ||
        worker_config_validate(&cfg, &err) < 0) {
        fprintf(stderr, "cocoon-worker: %s\n", err.msg);
        if (!config) usage(stderr);
        rc = 2;
        goto out;
    }
    daemon_log_start("worker", cfg.log_level);
    base = event_base_new();
    worker_backend *backend = make_backend(base, &cfg, &err);
    if (!backend) {
        CC_ERROR("event=backend_failed error=\"%s\"", err.msg);
        goto out;
    }
    w = worker_new(base, &cfg, backend, &err);
    if (!w) {
        CC_ERROR("event=start_failed error=\"%s\"", err.msg);
        goto out;
    }
    daemon_run(base);
    rc = 0;
out:
    worker_free(w);
    if (base) event_base_free(base);
    worker_config_clear(&cfg);
    free(rest);
    if (rc != 2) CC_INFO("event=exit rc=%d", rc);
    return rc;
}
