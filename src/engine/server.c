/*
 * The scheduler: one thread owns every context (slot) and serves queued
 * requests, one step per active slot in turn (a prompt chunk or one token),
 * so several requests progress together and a long prompt does not stall
 * the others. Callers never wait for it: submit and cancel only touch the
 * queue or an atomic flag.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine_int.h"

/* Prompt tokens per round (and per prompt chunk), less the generated tokens of the round but
 * at least PROMPT_MIN: a round is then two forward passes of 64 tokens. */
#define PROMPT_CHUNK 128
#define PROMPT_MIN 32
/* Prompt tokens a job must gain to wait for another job's prompt rather than start at once:
 * waiting for a BOS or a word or two would delay it for nothing. */
#define SHARE_MIN_WAIT 16

struct engine_job {
    engine_server *srv;
    engine_request *req;
    engine_job_callbacks cb;
    void *ud;
    _Atomic bool cancel;
    int n;                 /* choices */
    engine_seq **seq;      /* [n]; choices after the first start once its prompt is in */
    int *slot;             /* [n] the slot each choice runs on */
    engine_finish *finish; /* [n] */
    int running;           /* choices not finished yet */
    engine_tokens prompt;  /* kept for the choices that start from the first one's cache */
    int n_keep;            /* the prompt's tokens a shift keeps (engine_seq_params.n_keep) */
    /* Set while the job waits for another job's prompt (in progress on another slot) that
     * starts like its own, to copy that prefix rather than compute it a second time. */
    engine_job *donor;
    engine_job *next;
};

struct engine_server {
    engine_model *m;
    engine_pool *pool;
    int n_slots;
    engine_overflow overflow;
    engine_keep keep;
    engine_ctx **ctx;
    engine_job **slot_job;
    int *slot_choice;      /* which of its job's choices a busy slot runs */
    engine_gvocab *gvocab; /* built on the first request with a grammar (scheduler thread) */
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    engine_job *q_head, *q_tail;
    bool stop, cancel_pending;
    engine_server_stats st; /* under mu */
    int prompt_next;        /* the slot whose prompt is served first in the next round */
};

static void job_free(engine_job *j)
{
    for (int c = 0; c < j->n; c++)
        engine_seq_free(j->seq[c]);
    free(j->seq);
    free(j->slot);
    free(j->finish);
    engine_tokens_free(&j->prompt);
    engine_request_free(j->req);
    free(j);
}

/* The slots a job still holds become free. */
static void release_slots(engine_server *s, engine_job *j)
{
    for (int i = 0; i < s->n_slots; i++)
        if (s->slot_job[i] == j) s->slot_job[i] = NULL;
}

static void start_waiters(engine_server *s, const engine_job *donor);

static void job_done(engine_server *s, engine_job *j, engine_job_status status,
                     engine_finish finish, const char *error)
{
    release_slots(s, j);
    /* Jobs waiting for this one's prompt start now, from what its cache holds. */
    start_waiters(s, j);
    engine_job_result res = {status, finish, {0, 0, 0}, error, j->n, j->finish};
    j->finish[0] = status == ENGINE_JOB_OK ? j->finish[0] : finish;
    res.finish = j->finish[0];
    if (j->seq[0]) { /* the prompt once: the other choices copied its cache */
        res.usage.prompt_tokens = (int64_t)engine_seq_prompt_tokens(j->seq[0]);
        res.usage.cached_tokens = (int64_t)engine_seq_cached_tokens(j->seq[0]);
    }
    for (int c = 0; c < j->n; c++)
        if (j->seq[c]) res.usage.completion_tokens += (int64_t)engine_seq_generated(j->seq[c]);
    pthread_mutex_lock(&s->mu);
    s->st.prompt_tokens += res.usage.prompt_tokens;
    s->st.completion_tokens += res.usage.completion_tokens;
    pthread_mutex_unlock(&s->mu);
    if (j->cb.on_done) j->cb.on_done(j->ud, &res);
    job_free(j);
}

static void job_cancelled(engine_server *s, engine_job *j)
{
    job_done(s, j, ENGINE_JOB_CANCELLED, ENGINE_FINISH_STOP, "cancelled");
}

/* A request that cannot run (e.g. the prompt is too long): refused before
 * any output. */
static void job_refuse(engine_server *s, engine_job *j, const char *msg)
{
    for (int c = 0; c < j->n; c++) {
        engine_seq_free(j->seq[c]);
        j->seq[c] = NULL;
    }
    job_done(s, j, ENGINE_JOB_REFUSED, ENGINE_FINISH_STOP, msg);
}

/* Choice c's sequence parameters: the request's, with its own random stream. */
static void seq_params(const engine_job *j, int c, engine_seq_params *p)
{
    const engine_request *r = j->req;
    memset(p, 0, sizeof(*p));
    p->sp = r->sp;
    p->sp.seed = r->sp.seed + (uint64_t)c * 0x9e3779b97f4a7c15ull;
    p->max_tokens = r->max_tokens;
    p->stops = (const char *const *)r->stops;
    p->n_stops = r->n_stops;
    p->logprobs = r->logprobs;
    p->prompt_chunk = PROMPT_CHUNK;
    p->grammar = r->grammar;
    if (r->grammar && !j->srv->gvocab) j->srv->gvocab = engine_gvocab_new(j->srv->m);
    p->gvocab = j->srv->gvocab;
    p->context_shift = j->srv->overflow == ENGINE_OVERFLOW_SHIFT;
    p->n_keep = j->n_keep;
}

size_t engine_system_part_tokens(const engine_model *m, const engine_tokens *prompt,
                                 const char *system_part, bool parse_special)
{
    /* Compared id by id: a token may straddle the boundary (the system part's last characters
     * merged with the next turn's first ones), so the common prefix is what the prompt's ids
     * hold of it. */
    engine_tokens sys = {0};
    cc_err err = {0};
    size_t n = 0;
    if (engine_tokenize(m, system_part, strlen(system_part), true, parse_special, &sys, &err) == 0)
        while (n < sys.n && n < prompt->n && sys.ids[n] == prompt->ids[n])
            n++;
    engine_tokens_free(&sys);
    return n;
}

/* The prompt's tokens a shift keeps, once per request: 0 (BOS only) unless a shift keeps the
 * system part. */
static int system_tokens(const engine_server *s, const engine_job *j)
{
    const engine_request *r = j->req;
    if (s->overflow != ENGINE_OVERFLOW_SHIFT || s->keep != ENGINE_KEEP_SYSTEM || !r->system_part)
        return 0;
    return (int)engine_system_part_tokens(s->m, &j->prompt, r->system_part, r->parse_special);
}

/* Starts a tokenized job's first choice on its slot. */
static bool job_begin(engine_server *s, engine_job *j)
{
    cc_err err = {0};
    engine_seq_params p;
    seq_params(j, 0, &p);
    j->seq[0] = engine_seq_new(s->ctx[j->slot[0]], &j->prompt, &p, &err);
    if (!j->seq[0]) {
        job_refuse(s, j, err.msg);
        return false;
    }
    if (j->cb.on_start) j->cb.on_start(j->ud);
    return true;
}

/* The first choice has read the prompt: every other choice starts from a copy of its cache
 * (re-evaluating only the last prompt token, for its own logits). */
static int fork_choices(engine_server *s, engine_job *j, cc_err *err)
{
    engine_ctx *src = s->ctx[j->slot[0]];
    for (int c = 1; c < j->n; c++) {
        engine_ctx *dst = s->ctx[j->slot[c]];
        if (engine_ctx_copy_prefix(dst, src, (int)j->prompt.n, err) < 0) return -1;
        engine_seq_params p;
        seq_params(j, c, &p);
        j->seq[c] = engine_seq_new(dst, &j->prompt, &p, err);
        if (!j->seq[c]) return -1;
    }
    return 0;
}

static int n_free_slots(const engine_server *s)
{
    int n = 0;
    for (int i = 0; i < s->n_slots; i++)
        n += !s->slot_job[i];
    return n;
}

/* Slots a queued job needs before it can start (one that can never get them is taken and
 * refused at once). */
static int slots_needed(const engine_server *s, const engine_job *j)
{
    return j->n <= s->n_slots ? j->n : 1;
}

/* A slot keeps its cache after a job: the free slot sharing the longest
 * prefix with the prompt (a conversation's earlier turns, a common system
 * prompt) saves recomputing it. */
static int best_free_slot(const engine_server *s, const engine_tokens *t)
{
    int best = -1;
    size_t best_len = 0;
    for (int i = 0; i < s->n_slots; i++) {
        if (s->slot_job[i]) continue;
        const int32_t *have = engine_ctx_tokens(s->ctx[i]);
        size_t n = (size_t)engine_ctx_reusable(s->ctx[i]), k = 0;
        while (k < n && k < t->n && have[k] == t->ids[k])
            k++;
        if (best < 0 || k > best_len) {
            best = i;
            best_len = k;
        }
    }
    return best;
}

static size_t common_prefix(const int32_t *a, size_t na, const int32_t *b, size_t nb)
{
    size_t k = 0;
    while (k < na && k < nb && a[k] == b[k])
        k++;
    return k;
}

/* Before job j starts on its first slot: the longest start of its prompt that some other slot
 * holds is copied into its own (a system prompt or a conversation shared by requests that
 * run at the same time: the KV entries of a prefix are the same bits whoever computed them,
 * and copying them costs far less than computing them). When a job still reading its prompt
 * will hold a longer one, j waits for it instead (donor) and returns true; it starts when the
 * donor's prompt is in or the donor ends (start_waiters). */
static bool share_prefix(engine_server *s, engine_job *j)
{
    int own = j->slot[0];
    const engine_tokens *p = &j->prompt;
    /* engine_seq_new evaluates the last prompt token in any case, for its logits */
    size_t cap = p->n ? p->n - 1 : 0;
    size_t have =
        CC_MIN(cap, common_prefix(engine_ctx_tokens(s->ctx[own]),
                                  (size_t)engine_ctx_reusable(s->ctx[own]), p->ids, p->n));
    size_t now = have, later = have;
    int from = -1;
    engine_job *donor = NULL;
    for (int i = 0; i < s->n_slots; i++) {
        if (i == own) continue;
        size_t k = CC_MIN(cap, common_prefix(engine_ctx_tokens(s->ctx[i]),
                                             (size_t)engine_ctx_reusable(s->ctx[i]), p->ids, p->n));
        if (k > now) {
            now = k;
            from = i;
        }
        /* A prompt being read: its slot will hold all of it (not a job that waits itself,
         * so no job waits for a waiting one). */
        engine_job *d = s->slot_job[i];
        if (d && d != j && s->slot_choice[i] == 0 && d->seq[0] && engine_seq_in_prompt(d->seq[0])) {
            k = CC_MIN(cap, common_prefix(d->prompt.ids, d->prompt.n, p->ids, p->n));
            if (k > later) {
                later = k;
                donor = d;
            }
        }
    }
    if (donor && later >= now + SHARE_MIN_WAIT) {
        j->donor = donor;
        return true;
    }
    cc_err err = {0};
    /* A failed copy leaves the slot as it was: the prompt is then computed as usual. */
    if (from >= 0) engine_ctx_copy_prefix(s->ctx[own], s->ctx[from], (int)now, &err);
    return false;
}

/* The jobs waiting for donor's prompt: each looks again for the longest prefix (now in the
 * donor's slot, or still to come from another job) and starts or waits anew. */
static void start_waiters(engine_server *s, const engine_job *donor)
{
    for (int i = 0; i < s->n_slots; i++) {
        engine_job *w = s->slot_job[i];
        if (!w || w->donor != donor || s->slot_choice[i] != 0) continue;
        w->donor = NULL;
        if (!share_prefix(s, w)) job_begin(s, w);
    }
}

/* Tokenizes the jobs just taken from the queue and puts each on its slots. */
static void begin_jobs(engine_server *s, engine_job **jobs, int n)
{
    for (int k = 0; k < n; k++) {
        engine_job *j = jobs[k];
        cc_err err = {0};
        if (engine_tokenize(s->m, j->req->prompt, strlen(j->req->prompt), true,
                            j->req->parse_special, &j->prompt, &err)) {
            job_refuse(s, j, err.msg);
            continue;
        }
        j->n_keep = system_tokens(s, j);
        int n_ctx = engine_ctx_size(s->ctx[0]);
        if (s->overflow == ENGINE_OVERFLOW_ERROR && j->req->max_tokens_asked &&
            j->req->max_tokens > 0 && (int64_t)j->prompt.n + j->req->max_tokens > n_ctx) {
            /* As OpenAI's API answers: refused before any work, the sizes named. */
            char msg[192];
            snprintf(msg, sizeof(msg),
                     "this model's context holds %d tokens; the prompt has %zu and max_tokens "
                     "asks for %lld more",
                     n_ctx, j->prompt.n, (long long)j->req->max_tokens);
            job_refuse(s, j, msg);
            continue;
        }
        if (j->n > s->n_slots) {
            char msg[96];
            snprintf(msg, sizeof(msg), "%d choices asked for; this engine runs at most %d", j->n,
                     s->n_slots);
            job_refuse(s, j, msg);
            continue;
        }
        for (int c = 0; c < j->n; c++) {
            int slot = best_free_slot(s, &j->prompt);
            s->slot_job[slot] = j;
            s->slot_choice[slot] = c;
            j->slot[c] = slot;
        }
        if (!share_prefix(s, j)) job_begin(s, j);
    }
}

static void slot_fail(engine_server *s, int i, const char *msg)
{
    engine_job *j = s->slot_job[i];
    engine_ctx_truncate(s->ctx[i], 0);
    job_done(s, j, ENGINE_JOB_FAILED, ENGINE_FINISH_STOP, msg);
}

/* Sends what a decode step produced; ends the job when its last choice finished. */
static void slot_emit(engine_server *s, int i, const cc_buf *text, engine_step *st)
{
    engine_job *j = s->slot_job[i];
    int c = s->slot_choice[i];
    st->choice = c;
    if ((text->len || st->has_token) && j->cb.on_step)
        j->cb.on_step(j->ud, text->len ? (const char *)text->data : "", text->len, st);
    if (st->finished) {
        s->slot_job[i] = NULL;
        j->finish[c] = st->finish;
        if (--j->running == 0) job_done(s, j, ENGINE_JOB_OK, j->finish[0], NULL);
    }
}

/* One round, one batched step (engine_ctx_step_batch): a sampled token for each generating
 * slot, and prompt chunks of the slots still reading their prompts, PROMPT_CHUNK tokens in all
 * minus the generated ones (at least PROMPT_MIN), so the weights are read once for all of
 * them and a long prompt, or many arriving together, delay the generating slots by one
 * bounded step a round. The prompts are served from the slot after the last one served,
 * so every prompt moves. */
static void run_round(engine_server *s)
{
    engine_ctx *ctx[ENGINE_STEP_MAX];
    const int32_t *run[ENGINE_STEP_MAX];
    int32_t next_tok[ENGINE_STEP_MAX];
    int count[ENGINE_STEP_MAX], slot[ENGINE_STEP_MAX], n = 0, nd = 0;
    cc_buf text = CC_BUF_INIT;
    for (int i = 0; i < s->n_slots; i++) {
        engine_job *j = s->slot_job[i];
        if (!j) continue;
        if (atomic_load_explicit(&j->cancel, memory_order_relaxed)) {
            /* Whatever the slots computed stays a valid cache prefix. */
            job_cancelled(s, j);
            continue;
        }
        engine_seq *q = j->seq[s->slot_choice[i]];
        if (!q || engine_seq_in_prompt(q)) continue; /* waits, or reads its prompt below */
        engine_step st;
        cc_err err = {0};
        cc_buf_reset(&text);
        int32_t next;
        if (engine_seq_sample(q, &text, &st, &next, &err)) {
            slot_fail(s, i, err.msg);
            continue;
        }
        slot_emit(s, i, &text, &st);
        if (next >= 0) {
            next_tok[n] = next;
            ctx[n] = s->ctx[i];
            run[n] = &next_tok[n];
            count[n] = 1;
            slot[n++] = i;
        }
    }
    cc_buf_free(&text);
    nd = n;
    /* Slots are read again: a job may have ended above, or a waiting one started. */
    size_t budget = (size_t)CC_MAX(PROMPT_CHUNK - nd, PROMPT_MIN);
    for (int k = 0, first = s->prompt_next; k < s->n_slots && budget > 0; k++) {
        int i = (first + k) % s->n_slots;
        engine_job *j = s->slot_job[i];
        if (!j || atomic_load_explicit(&j->cancel, memory_order_relaxed)) continue;
        engine_seq *q = j->seq[s->slot_choice[i]];
        const int32_t *toks;
        size_t take = q ? engine_seq_prompt_next(q, budget, &toks) : 0;
        if (!take) continue;
        ctx[n] = s->ctx[i];
        run[n] = toks;
        count[n] = (int)take;
        slot[n++] = i;
        budget -= take;
        s->prompt_next = (i + 1) % s->n_slots;
    }
    if (!n) return;
    cc_err err = {0};
    int rc = engine_ctx_step_batch(ctx, run, count, n, &err);
    for (int k = 0; k < n; k++) {
        int i = slot[k];
        engine_job *j = s->slot_job[i];
        if (!j) continue; /* its job ended during the round (a failed or cancelled choice) */
        if (rc) {
            slot_fail(s, i, err.msg);
            continue;
        }
        engine_seq *q = j->seq[s->slot_choice[i]];
        engine_seq_set_logits(q, engine_ctx_logits(ctx[k]));
        if (k < nd || s->slot_choice[i] != 0 || engine_seq_in_prompt(q)) continue;
        /* The first choice's prompt is in: the other choices start from its cache, and so
         * do the jobs that waited for it. */
        cc_err ferr = {0};
        if (j->n > 1 && fork_choices(s, j, &ferr) < 0)
            slot_fail(s, i, ferr.msg);
        else
            start_waiters(s, j);
    }
}

static void *sched_main(void *arg)
{
    engine_server *s = arg;
    for (;;) {
        pthread_mutex_lock(&s->mu);
        for (;;) {
            int active = 0;
            for (int i = 0; i < s->n_slots; i++)
                active += s->slot_job[i] != NULL;
            if (s->stop || active || s->cancel_pending ||
                (s->q_head && n_free_slots(s) >= slots_needed(s, s->q_head)))
                break;
            pthread_cond_wait(&s->cv, &s->mu);
        }
        if (s->stop) {
            pthread_mutex_unlock(&s->mu);
            break;
        }
        /* Cancelled jobs still in the queue leave it now. */
        engine_job *dropped = NULL, **pp = &s->q_head;
        s->q_tail = NULL;
        while (*pp) {
            engine_job *j = *pp;
            if (atomic_load(&j->cancel)) {
                *pp = j->next;
                j->next = dropped;
                dropped = j;
                s->st.queued--;
            } else {
                s->q_tail = j;
                pp = &j->next;
            }
        }
        s->cancel_pending = false;
        /* Take as many queued jobs as there are free slots. */
        engine_job *start[64];
        int n_start = 0, n_free = n_free_slots(s);
        while (s->q_head && n_start < 64 && slots_needed(s, s->q_head) <= n_free) {
            engine_job *j = s->q_head;
            n_free -= slots_needed(s, j);
            s->q_head = j->next;
            if (!s->q_head) s->q_tail = NULL;
            start[n_start++] = j;
            s->st.queued--;
        }
        int active = 0;
        for (int i = 0; i < s->n_slots; i++)
            active += s->slot_job[i] != NULL;
        s->st.active = active + n_start;
        pthread_mutex_unlock(&s->mu);

        while (dropped) {
            engine_job *next = dropped->next;
            job_cancelled(s, dropped);
            dropped = next;
        }
        double t0 = cc_now_mono();
        begin_jobs(s, start, n_start);
        run_round(s);
        pthread_mutex_lock(&s->mu);
        s->st.busy_seconds += cc_now_mono() - t0;
        pthread_mutex_unlock(&s->mu);
    }
    /* Shutting down: everything still here is cancelled. */
    for (int i = 0; i < s->n_slots; i++)
        if (s->slot_job[i]) {
            job_cancelled(s, s->slot_job[i]);
            s->slot_job[i] = NULL;
        }
    engine_job *j = s->q_head;
    s->q_head = s->q_tail = NULL;
    while (j) {
        engine_job *next = j->next;
        job_cancelled(s, j);
        j = next;
    }
    return NULL;
}

engine_server *engine_server_new(engine_model *m, const engine_server_config *cfg, cc_err *err)
{
    engine_server *s = cc_calloc(1, sizeof(*s));
    s->m = m;
    s->n_slots = cfg->slots > 0 ? CC_MIN(cfg->slots, 64) : 4;
    s->overflow = cfg->overflow;
    s->keep = cfg->keep;
    s->pool = engine_pool_new(cfg->threads);
    s->ctx = cc_calloc((size_t)s->n_slots, sizeof(engine_ctx *));
    s->slot_job = cc_calloc((size_t)s->n_slots, sizeof(engine_job *));
    s->slot_choice = cc_calloc((size_t)s->n_slots, sizeof(int));
    for (int i = 0; i < s->n_slots; i++) {
        s->ctx[i] = engine_ctx_new_kv(m, s->pool, cfg->n_ctx, cfg->kv_type, err);
        if (!s->ctx[i]) goto fail;
    }
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    if (pthread_create(&s->th, NULL, sched_main, s) != 0) {
        cc_err_set(err, "cannot start the scheduler thread");
        pthread_mutex_destroy(&s->mu);
        pthread_cond_destroy(&s->cv);
        goto fail;
    }
    return s;
fail:
    for (int i = 0; i < s->n_slots; i++)
        engine_ctx_free(s->ctx[i]);
    free(s->ctx);
    free(s->slot_job);
    free(s->slot_choice);
    engine_pool_free(s->pool);
    free(s);
    engine_model_free(m);
    return NULL;
}

void engine_server_free(engine_server *s)
{
    if (!s) return;
    pthread_mutex_lock(&s->mu);
    s->stop = true;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->th, NULL);
    for (int i = 0; i < s->n_slots; i++)
        engine_ctx_free(s->ctx[i]);
    free(s->ctx);
    free(s->slot_job);
    free(s->slot_choice);
    engine_gvocab_free(s->gvocab);
    engine_pool_free(s->pool);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    engine_model_free(s->m);
    free(s);
}

const engine_model *engine_server_model(const engine_server *s)
{
    return s->m;
}

int engine_server_slots(const engine_server *s)
{
    return s->n_slots;
}

engine_job *engine_server_submit(engine_server *s, engine_request *req,
                                 const engine_job_callbacks *cb, void *ud)
{
    engine_job *j = cc_calloc(1, sizeof(*j));
    j->srv = s;
    j->req = req;
    j->cb = *cb;
    j->ud = ud;
    j->n = req->n_choices > 1 ? req->n_choices : 1;
    j->running = j->n;
    j->seq = cc_calloc((size_t)j->n, sizeof(engine_seq *));
    j->slot = cc_calloc((size_t)j->n, sizeof(int));
    j->finish = cc_calloc((size_t)j->n, sizeof(engine_finish));
    pthread_mutex_lock(&s->mu);
    if (s->q_tail)
        s->q_tail->next = j;
    else
        s->q_head = j;
    s->q_tail = j;
    s->st.requests++;
    s->st.queued++;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
    return j;
}

void engine_job_cancel(engine_job *j)
{
    engine_server *s = j->srv;
    atomic_store(&j->cancel, true);
    /* A queued job is dropped right away (its on_done comes from the
     * scheduler thread, like every callback). */
    pthread_mutex_lock(&s->mu);
    s->cancel_pending = true;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

void engine_server_get_stats(engine_server *s, engine_server_stats *out)
{
    pthread_mutex_lock(&s->mu);
    *out = s->st;
    pthread_mutex_unlock(&s->mu);
}

bool engine_overflow_parse(const char *name, engine_overflow *out)
{
    if (!strcmp(name, "error"))
        *out = ENGINE_OVERFLOW_ERROR;
    else if (!strcmp(name, "shift"))
        *out = ENGINE_OVERFLOW_SHIFT;
    else
        return false;
    return true;
}

const char *engine_overflow_name(engine_overflow o)
{
    return o == ENGINE_OVERFLOW_SHIFT ? "shift" : "error";
}

bool engine_keep_parse(const char *name, engine_keep *out)
{
    if (!strcmp(name, "system"))
        *out = ENGINE_KEEP_SYSTEM;
    else if (!strcmp(name, "bos"))
        *out = ENGINE_KEEP_BOS;
    else
        return false;
    return true;
}

const char *engine_keep_name(engine_keep k)
{
    return k == ENGINE_KEEP_BOS ? "bos" : "system";
}

void engine_request_free(engine_request *r)
{
    if (!r) return;
    free(r->prompt);
    free(r->system_part);
    for (size_t i = 0; i < r->n_stops; i++)
        free(r->stops[i]);
    free((void *)r->sp.bias_ids);
    free((void *)r->sp.bias_values);
    engine_grammar_free(r->grammar);
    free(r);
}
