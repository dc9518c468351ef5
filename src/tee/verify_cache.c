/* Verified-platform cache (see tee.h): successful platform checks remembered
 * by SHA-256 of the bytes they read, with the time window in which they hold. */
#include <string.h>

#include "tee/tee_internal.h"

#define SLOTS 256

typedef struct slot {
    uint8_t key[32];
    double expires; /* clock seconds; 0 = empty */
    tee__platform_verdict v;
} slot;

struct tee_verify_cache {
    double ttl;
    tee_clock_fn clock;
    void *clock_ud;
    uint64_t hits, misses;
    slot slots[SLOTS];
};

static double clock_now(const tee_verify_cache *c)
{
    return c->clock ? c->clock(c->clock_ud) : cc_now_mono();
}

tee_verify_cache *tee_verify_cache_new(double ttl_seconds)
{
    tee_verify_cache *c = cc_calloc(1, sizeof(*c));
    c->ttl = ttl_seconds;
    return c;
}

void tee_verify_cache_clear(tee_verify_cache *c)
{
    if (!c) return;
    for (int i = 0; i < SLOTS; i++)
        EVP_PKEY_free(c->slots[i].v.att_key);
    memset(c->slots, 0, sizeof(c->slots));
}

void tee_verify_cache_free(tee_verify_cache *c)
{
    tee_verify_cache_clear(c);
    free(c);
}

void tee_verify_cache_set_ttl(tee_verify_cache *c, double ttl_seconds)
{
    c->ttl = ttl_seconds;
    tee_verify_cache_clear(c);
}

void tee_verify_cache_set_clock(tee_verify_cache *c, tee_clock_fn fn, void *ud)
{
    c->clock = fn;
    c->clock_ud = ud;
    tee_verify_cache_clear(c);
}

void tee_verify_cache_stats(const tee_verify_cache *c, uint64_t *hits, uint64_t *misses)
{
    if (hits) *hits = c ? c->hits : 0;
    if (misses) *misses = c ? c->misses : 0;
}

bool tee__verify_cache_get(tee_verify_cache *c, const uint8_t key[32], time_t at,
                           tee__platform_verdict *out)
{
    if (!c || c->ttl <= 0) return false;
    double now = clock_now(c);
    for (int i = 0; i < SLOTS; i++) {
        slot *s = &c->slots[i];
        if (s->expires <= now || memcmp(s->key, key, 32) != 0) continue;
        /* A verdict reached at one time says nothing about a time outside the
         * window where everything it relied on was valid. */
        if (at < s->v.valid_from || at > s->v.valid_until) break;
        c->hits++;
        *out = s->v;
        return true;
    }
    c->misses++;
    return false;
}

void tee__verify_cache_put(tee_verify_cache *c, const uint8_t key[32],
                           const tee__platform_verdict *v)
{
    if (!c || c->ttl <= 0) return;
    double now = clock_now(c);
    slot *victim = &c->slots[0];
    for (int i = 0; i < SLOTS; i++) {
        slot *s = &c->slots[i];
        if (s->expires <= now || memcmp(s->key, key, 32) == 0) {
            victim = s;
            break;
        }
        if (s->expires < victim->expires) victim = s;
    }
    EVP_PKEY_free(victim->v.att_key);
    memcpy(victim->key, key, 32);
    victim->expires = now + c->ttl;
    victim->v = *v;
    if (v->att_key) EVP_PKEY_up_ref(v->att_key);
}
