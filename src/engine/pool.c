/*
 * Thread pool for the forward pass. A token of a small model is a few dozen
 * tiny matrix products, so handing work out must cost well under a
 * microsecond: workers spin on a generation counter for a short while before
 * sleeping on a condition variable, and the caller spins for completion.
 * After the spin budget (~100 us) idle workers sleep, so an idle engine
 * costs no CPU.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

#include "engine/engine_int.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define cpu_relax() _mm_pause()
#else
#define cpu_relax() ((void)0)
#endif

#define SPIN_ROUNDS 4000

struct engine_pool;

typedef struct pool_worker {
    struct engine_pool *pool;
    int index;
    pthread_t th;
} pool_worker;

struct engine_pool {
    int n_threads; /* including the caller */
    pool_worker *workers;
    _Atomic uint64_t gen;
    _Atomic int pending;
    _Atomic int sleeping;
    _Atomic bool stop;
    void (*fn)(void *arg, int i, int n);
    void *arg;
    int n;
    pthread_mutex_t mu;
    pthread_cond_t cv;
};

static void *worker_main(void *p)
{
    pool_worker *w = p;
    engine_pool *pool = w->pool;
    uint64_t seen = 0;
    for (;;) {
        uint64_t g = atomic_load_explicit(&pool->gen, memory_order_acquire);
        for (int i = 0; g == seen && i < SPIN_ROUNDS; i++) {
            cpu_relax();
            g = atomic_load_explicit(&pool->gen, memory_order_acquire);
        }
        if (g == seen) {
            atomic_fetch_add(&pool->sleeping, 1);
            pthread_mutex_lock(&pool->mu);
            while ((g = atomic_load(&pool->gen)) == seen && !atomic_load(&pool->stop))
                pthread_cond_wait(&pool->cv, &pool->mu);
            pthread_mutex_unlock(&pool->mu);
            atomic_fetch_sub(&pool->sleeping, 1);
        }
        if (atomic_load(&pool->stop)) return NULL;
        seen = g;
        if (w->index < pool->n) {
            pool->fn(pool->arg, w->index, pool->n);
            atomic_fetch_sub_explicit(&pool->pending, 1, memory_order_release);
        }
    }
}

engine_pool *engine_pool_new(int threads)
{
    if (threads <= 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        threads = n > 0 ? (int)n : 1;
    }
    if (threads > 256) threads = 256;
    engine_pool *p = cc_calloc(1, sizeof(*p));
    p->n_threads = threads;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    p->workers = cc_calloc((size_t)threads, sizeof(pool_worker));
    for (int i = 1; i < threads; i++) {
        p->workers[i].pool = p;
        p->workers[i].index = i;
        if (pthread_create(&p->workers[i].th, NULL, worker_main, &p->workers[i]) != 0) {
            p->n_threads = i; /* run with what we got */
            break;
        }
    }
    return p;
}

void engine_pool_free(engine_pool *p)
{
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    atomic_store(&p->stop, true);
    atomic_fetch_add(&p->gen, 1);
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    for (int i = 1; i < p->n_threads; i++)
        pthread_join(p->workers[i].th, NULL);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    free(p->workers);
    free(p);
}

int engine_pool_threads(const engine_pool *p)
{
    return p->n_threads;
}

void engine_pool_run(engine_pool *p, int n, void (*fn)(void *arg, int i, int n), void *arg)
{
    if (n > p->n_threads) n = p->n_threads;
    if (n <= 1) {
        fn(arg, 0, 1);
        return;
    }
    p->fn = fn;
    p->arg = arg;
    p->n = n;
    atomic_store_explicit(&p->pending, n - 1, memory_order_relaxed);
    atomic_fetch_add(&p->gen, 1); /* seq_cst: pairs with the sleepers' check */
    if (atomic_load(&p->sleeping) > 0) {
        pthread_mutex_lock(&p->mu);
        pthread_cond_broadcast(&p->cv);
        pthread_mutex_unlock(&p->mu);
    }
    fn(arg, 0, n);
    while (atomic_load_explicit(&p->pending, memory_order_acquire) > 0)
        cpu_relax();
}
