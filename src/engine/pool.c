/*
 * Thread pool for the forward pass. A token of a small model is a few dozen
 * tiny matrix products, so handing work out must cost well under a
 * microsecond, and on a shared machine a worker may not get a CPU in time:
 *
 *  - work is cut into chunks that threads claim from a shared ticket, so the
 *    caller simply does all the chunks itself when the workers are late;
 *  - the ticket holds (generation << 32 | next chunk) so a worker that wakes
 *    up late can never claim a chunk of a job that is already finished;
 *  - workers spin for a short while (~100 us) before sleeping on a condition
 *    variable, so an idle engine costs no CPU.
 */
#include <pthread.h>
#include <sched.h>
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

#define SPIN_ROUNDS 2000

struct engine_pool;

typedef struct pool_worker {
    struct engine_pool *pool;
    int index;
    pthread_t th;
} pool_worker;

struct engine_pool {
    int n_threads; /* including the caller */
    pool_worker *workers;
    _Atomic uint64_t ticket; /* generation << 32 | next chunk */
    _Atomic uint32_t done;   /* chunks finished in this generation */
    _Atomic int sleeping;
    _Atomic bool stop;
    /* The current job, written by the caller before it publishes the ticket. */
    void (*fn)(void *arg, int chunk, int n_chunks, int thread);
    void *arg;
    /* Atomic because a late worker may read it (before its claim fails)
     * while the caller sets up the next job. */
    _Atomic uint32_t n_chunks;
    pthread_mutex_t mu;
    pthread_cond_t cv;
};

/* Claims and runs chunks of generation `gen` until none are left. */
static void run_chunks(engine_pool *p, uint64_t gen, int thread)
{
    uint64_t t = atomic_load_explicit(&p->ticket, memory_order_acquire);
    for (;;) {
        if (t >> 32 != gen) return;
        uint32_t next = (uint32_t)t;
        /* n_chunks belongs to `gen` while the ticket says gen: the caller
         * rewrites it only after every chunk of gen is done. */
        uint32_t n = atomic_load_explicit(&p->n_chunks, memory_order_relaxed);
        if (next >= n) return;
        if (!atomic_compare_exchange_weak_explicit(&p->ticket, &t, t + 1, memory_order_acq_rel,
                                                   memory_order_acquire))
            continue;
        p->fn(p->arg, (int)next, (int)n, thread);
        atomic_fetch_add_explicit(&p->done, 1, memory_order_release);
        t = atomic_load_explicit(&p->ticket, memory_order_acquire);
    }
}

static void *worker_main(void *arg)
{
    pool_worker *w = arg;
    engine_pool *p = w->pool;
    uint64_t seen = 0;
    for (;;) {
        uint64_t g = atomic_load_explicit(&p->ticket, memory_order_acquire) >> 32;
        for (int i = 0; g == seen && i < SPIN_ROUNDS; i++) {
            cpu_relax();
            g = atomic_load_explicit(&p->ticket, memory_order_acquire) >> 32;
        }
        if (g == seen) {
            atomic_fetch_add(&p->sleeping, 1);
            pthread_mutex_lock(&p->mu);
            while ((g = atomic_load(&p->ticket) >> 32) == seen && !atomic_load(&p->stop))
                pthread_cond_wait(&p->cv, &p->mu);
            pthread_mutex_unlock(&p->mu);
            atomic_fetch_sub(&p->sleeping, 1);
        }
        if (atomic_load(&p->stop)) return NULL;
        seen = g;
        run_chunks(p, g, w->index);
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
    atomic_fetch_add(&p->ticket, (uint64_t)1 << 32);
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

void engine_pool_run(engine_pool *p, int n_chunks,
                     void (*fn)(void *arg, int chunk, int n, int thread), void *arg)
{
    if (n_chunks <= 0) return;
    if (n_chunks == 1 || p->n_threads <= 1) {
        for (int i = 0; i < n_chunks; i++)
            fn(arg, i, n_chunks, 0);
        return;
    }
    p->fn = fn;
    p->arg = arg;
    atomic_store_explicit(&p->n_chunks, (uint32_t)n_chunks, memory_order_relaxed);
    atomic_store_explicit(&p->done, 0, memory_order_relaxed);
    uint64_t gen = (atomic_load_explicit(&p->ticket, memory_order_relaxed) >> 32) + 1;
    atomic_store(&p->ticket, gen << 32); /* seq_cst: pairs with the sleepers' check */
    if (atomic_load(&p->sleeping) > 0) {
        pthread_mutex_lock(&p->mu);
        pthread_cond_broadcast(&p->cv);
        pthread_mutex_unlock(&p->mu);
    }
    run_chunks(p, gen, 0);
    /* Wait for chunks other threads claimed; yield if one was preempted. */
    for (int spins = 0; atomic_load_explicit(&p->done, memory_order_acquire) < (uint32_t)n_chunks;
         spins++) {
        if (spins < 4000)
            cpu_relax();
        else
            sched_yield();
    }
}
