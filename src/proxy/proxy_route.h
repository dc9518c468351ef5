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

/* Folds one finished request's duration into a running average (an
 * exponentially weighted mean so the figure follows load changes). */
double proxy_route_update_avg(double avg, double sample);

#endif
