/*
 * Worker choice for a request (internal to the proxy; pure, unit-tested).
 *
 * Among the enabled workers serving the model whose coefficient is at most
 * the request's max_coefficient and whose active requests are below their cap,
 * pick the least expected wait `active × average request time`; ties go to
 * the fewest active requests, then to a random one (so equal workers share
 * load instead of the first one taking everything).
 */
#ifndef COCOON_PROXY_ROUTE_H
#define COCOON_PROXY_ROUTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct proxy_route_worker {
    uint64_t id;         /* the proxy's id for the worker connection */
    const char *model;   /* borrowed */
    int32_t coefficient; /* price coefficient x1000 */
    int32_t max_active;  /* cap on concurrent requests (<= 0: no cap) */
    int32_t active;      /* requests running now */
    bool enabled;        /* handshake complete and not disabled */
    bool barred;         /* the registry no longer allows its model or image: as if absent */
    double avg_time;     /* average request time in seconds (0 = no history yet) */
} proxy_route_worker;

/* Returns the index in ws of the chosen worker, or -1 when none qualifies.
 * exclude_id (0 = none) skips one worker (the one a retried request failed on).
 * rnd is a random value used only to break exact ties. */
long proxy_route_pick(const proxy_route_worker *const *ws, size_t n, const char *model,
                      int32_t max_coefficient, uint64_t exclude_id, uint64_t rnd);

/* Why no worker qualified, for the error sent to the client: 0 no worker has
 * the model, 1 all are disabled, 2 all are above max_coefficient, 3 all busy. */
int proxy_route_why_none(const proxy_route_worker *const *ws, size_t n, const char *model,
                         int32_t max_coefficient, uint64_t exclude_id);

/* True when a worker announcing `announced` serves a request for `requested`:
 * `requested` is the announced identifier's base name (the part before '@',
 * registry_model_base_len), as COCOON matches them. */
bool proxy_route_model_matches(const char *announced, const char *requested);

/* Prefix affinity: given pick (an index or -1), the index of the worker whose
 * id is prefer_id when it qualifies and runs no more requests than the pick,
 * so that a conversation returns to the worker holding its cached prefix
 * without queueing behind others; otherwise pick. */
long proxy_route_prefer(const proxy_route_worker *const *ws, size_t n, long pick,
                        uint64_t prefer_id, const char *model, int32_t max_coefficient,
                        uint64_t exclude_id);

/* The proxy's memory of which worker served a conversation: a cache of
 * PROXY_AFFINITY_SLOTS slots indexed by the key (keys are uniform hashes made
 * by the client, so a direct-mapped table is enough; a newer key takes an
 * older one's slot). Key 0 means none. */
#define PROXY_AFFINITY_SLOTS 4096
typedef struct proxy_affinity {
    uint64_t key[PROXY_AFFINITY_SLOTS];
    uint64_t worker[PROXY_AFFINITY_SLOTS];
} proxy_affinity;

/* The worker id last recorded for key, or 0. */
uint64_t proxy_affinity_get(const proxy_affinity *a, uint64_t key);
void proxy_affinity_put(proxy_affinity *a, uint64_t key, uint64_t worker_id);

/* Folds one finished request's duration into a running average (an
 * exponentially weighted mean so the figure follows load changes). */
double proxy_route_update_avg(double avg, double sample);

#endif
