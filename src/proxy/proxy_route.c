/* Worker choice (see proxy_route.h). */
#include "proxy/proxy_route.h"

#include <string.h>

#include "registry/registry.h"

/* Until a worker has finished a request its average is unknown; assume one
 * second so a new worker with queued requests does not look free. */
#define ROUTE_DEFAULT_AVG 1.0
#define ROUTE_EWMA_WEIGHT 0.2

bool proxy_route_model_matches(const char *announced, const char *requested)
{
    /* COCOON's proxy keys workers by the base name alone (router's
     * ProxyWorkerConnectionInfo), so the full identifier is no request name:
     * the registry already pins which identifiers may serve that name. */
    return registry_model_base_eq(announced, requested);
}

static bool qualifies(const proxy_route_worker *w, const char *model, int32_t max_coefficient,
                      uint64_t exclude_id)
{
    return w->enabled && !w->barred && w->id != exclude_id &&
           proxy_route_model_matches(w->model, model) && w->coefficient <= max_coefficient &&
           (w->max_active <= 0 || w->active < w->max_active);
}

long proxy_route_pick(const proxy_route_worker *const *ws, size_t n, const char *model,
                      int32_t max_coefficient, uint64_t exclude_id, uint64_t rnd)
{
    long best = -1;
    double best_score = 0;
    size_t ties = 0;
    for (size_t i = 0; i < n; i++) {
        const proxy_route_worker *w = ws[i];
        if (!qualifies(w, model, max_coefficient, exclude_id)) continue;
        double avg = w->avg_time > 0 ? w->avg_time : ROUTE_DEFAULT_AVG;
        double score = (double)w->active * avg;
        int cmp;
        if (best < 0)
            cmp = -1;
        else if (score != best_score)
            cmp = score < best_score ? -1 : 1;
        else if (w->active != ws[best]->active)
            cmp = w->active < ws[best]->active ? -1 : 1;
        else
            cmp = 0;
        if (cmp < 0) {
            best = (long)i;
            best_score = score;
            ties = 1;
        } else if (cmp == 0) {
            /* Reservoir sampling over the tied workers: each ends up chosen
             * with equal probability using a single random value. */
            ties++;
            if ((rnd % ties) == 0) best = (long)i;
            rnd /= ties;
        }
    }
    return best;
}

long proxy_route_prefer(const proxy_route_worker *const *ws, size_t n, long pick,
                        uint64_t prefer_id, const char *model, int32_t max_coefficient,
                        uint64_t exclude_id)
{
    if (pick < 0 || !prefer_id || ws[pick]->id == prefer_id) return pick;
    for (size_t i = 0; i < n; i++)
        if (ws[i]->id == prefer_id)
            return qualifies(ws[i], model, max_coefficient, exclude_id) &&
                           ws[i]->active <= ws[pick]->active
                       ? (long)i
                       : pick;
    return pick;
}

uint64_t proxy_affinity_get(const proxy_affinity *a, uint64_t key)
{
    size_t slot = key % PROXY_AFFINITY_SLOTS;
    return key && a->key[slot] == key ? a->worker[slot] : 0;
}

void proxy_affinity_put(proxy_affinity *a, uint64_t key, uint64_t worker_id)
{
    if (!key) return;
    size_t slot = key % PROXY_AFFINITY_SLOTS;
    a->key[slot] = key;
    a->worker[slot] = worker_id;
}

int proxy_route_why_none(const proxy_route_worker *const *ws, size_t n, const char *model,
                         int32_t max_coefficient, uint64_t exclude_id)
{
    int why = 0;
    for (size_t i = 0; i < n; i++) {
        const proxy_route_worker *w = ws[i];
        if (w->barred || w->id == exclude_id || !proxy_route_model_matches(w->model, model))
            continue;
        int r;
        if (!w->enabled)
            r = 1;
        else if (w->coefficient > max_coefficient)
            r = 2;
        else
            r = 3;
        /* Report the reason closest to success. */
        if (r > why) why = r;
    }
    return why;
}

double proxy_route_update_avg(double avg, double sample)
{
    if (sample < 0) sample = 0;
    if (avg <= 0) return sample;
    return avg + ROUTE_EWMA_WEIGHT * (sample - avg);
}
