/* main() of cocoon-worker: its backend choice; the rest is daemon_main(). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "daemon/daemon.h"
#include "worker/worker.h"

static worker_backend *make_backend(struct event_base *base, const worker_config *cfg, cc_err *err)
{
    if (strcmp(cfg->backend, "openai-http") == 0) {
        backend_openai_http_config bc = {.url = cfg->backend_url,
                                         .model = cfg->model,
                                         .api_key = cfg->api_key,
                                         .health_interval = cfg->health_interval,
                                         .audio_tokens_per_second = cfg->audio_tokens_per_second,
                                         .max_connecting = cfg->backend_max_connecting,
                                         .connect_timeout = cfg->backend_connect_timeout,
                                         /* Never fewer backend connections than the requests we
                                          * advertise, or the excess queues silently in the client;
                                          * a few more for the health poll. */
                                         .max_connections =
                                             cfg->max_active > 0 ? cfg->max_active + 4 : 0};
        return backend_openai_http_new(base, &bc, err);
    }
    /* "stories260K" names the default model: found (or fetched) as cocoon up does. */
    char *resolved = NULL;
    if (worker_model_resolve(cfg->model, &resolved, err) < 0) return NULL;
    backend_embedded_config bc = {.model_path = resolved ? resolved : cfg->model,
                                  .model_name = cfg->model_name,
                                  .chat_template_path = cfg->chat_template,
                                  .threads = cfg->threads,
                                  .slots = cfg->slots,
                                  .context = cfg->context,
                                  .kv_type = cfg->kv_type,
                                  .context_overflow = cfg->context_overflow,
                                  .context_keep = cfg->context_keep};
    worker_backend *b = backend_embedded_new(base, &bc, err);
    free(resolved);
    return b;
}

/* The backend first: worker_new() takes it over and announces its model. */
static worker *start(struct event_base *base, const worker_config *cfg, cc_err *err)
{
    worker_backend *backend = make_backend(base, cfg, err);
    if (!backend) {
        cc_err_prefix(err, "backend");
        return NULL;
    }
    return worker_new(base, cfg, backend, err);
}

DAEMON_DEFINE_ROLE(worker,
                   "usage: cocoon-worker --config FILE.json [--backend embedded|openai-http]\n"
                   "         [--backend-url URL] [--model NAME|FILE.gguf] [--model-name NAME]\n"
                   "         [--coefficient N] [--max-active N] [--threads N] [--slots N]\n"
                   "         [--context N] [--kv-type f16|q8_0] [--context-overflow error|shift]\n"
                   "         [--context-keep system|bos]\n"
                   "         [--http HOST:PORT]\n"
                   "         [--proxy HOST:PORT]... [--log-level debug|info|warn|error]\n"
                   "         [--chain URL --root ADDR [--chain-refresh SECONDS]] [--version]\n"
                   "defaults: --backend embedded, --coefficient 1000, --max-active by backend,\n"
                   "          --threads, --slots and --context by the engine and the model,\n"
                   "          --kv-type f16, --context-overflow error, --context-keep system,\n"
                   "          --http 127.0.0.1:12000 (stats),\n"
                   "          --chain none, --chain-refresh 60, --log-level info\n",
                   false, &worker_config_ops, start, worker_free);

int worker_main(int argc, char **argv)
{
    return daemon_main(&worker_role, argc, argv);
}
