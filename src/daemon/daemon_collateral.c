/* Collateral from a URL: keeps the TDX collateral of a daemon's policies
 * current. The document is fetched with the daemon's http_client on its loop
 * (the loop never waits on the network; handshakes meanwhile use whatever
 * collateral the policies already hold), parsed once per watched policy, and
 * fetched again well before the earliest nextUpdate among its items. A failed
 * fetch keeps the old collateral and retries with a growing delay. */
#include "daemon/daemon.h"

#include <string.h>
#include <strings.h>

#include <event2/event.h>

#define MAX_WATCHED 4
#define MAX_BODY (4u << 20)
#define RETRY_MIN 5.0
#define LEARN_PERIOD 2   /* s between looks for platforms without collateral */
#define LEARN_RETRY 60.0 /* s before asking again for a family the PCS did not give */

/* The steps of a fetch round. A document source has one; a PCS source the
 * three answers every platform shares, then one TCB info per FMSPC. */
enum { STEP_DOC = 0, STEP_QE = 0, STEP_PCK_CRL = 1, STEP_ROOT_CRL = 2, STEP_TCB = 3 };
#define MAX_STEPS (STEP_TCB + TEE_POLICY_MAX_COLLATERALS)

typedef struct step {
    cc_buf body;
    char *chain; /* the issuer chain header, when the step's answer has one */
    int status;
    bool too_big;
} step;

struct daemon_collateral {
    struct event_base *base;
    http_client *http;
    http_client_req *req;
    struct event *timer;
    struct event *learn; /* pcs: looks for FMSPCs the policies met without collateral */
    char *url;
    double refresh;
    double retry; /* current retry delay after a failure */
    tee_policy *watched[MAX_WATCHED];
    size_t n_watched;
    bool pcs;
    uint8_t configured[TEE_POLICY_MAX_COLLATERALS][6]; /* collateral_fmspcs */
    size_t n_configured;
    uint8_t round[TEE_POLICY_MAX_COLLATERALS][6]; /* FMSPCs of the running round */
    size_t n_round;
    step steps[MAX_STEPS];
    size_t n_steps, cur;
    bool busy;
    double round_started; /* monotonic */
    uint64_t fetches, failures;
    time_t next_update; /* of the collateral in use; 0 = none yet */
    char last_error[160];
};

double daemon_collateral_refresh_delay(time_t now, time_t next_update, double refresh)
{
    /* Half the time left before the first item goes stale, so a failed fetch
     * has the other half for its retries; never more than the interval. */
    double left = difftime(next_update, now);
    double d = left / 2 < refresh ? left / 2 : refresh;
    return d < RETRY_MIN ? RETRY_MIN : d;
}

static void schedule(daemon_collateral *c, double delay)
{
    struct timeval tv = {(time_t)delay, (suseconds_t)((delay - (double)(time_t)delay) * 1e6)};
    evtimer_add(c->timer, &tv);
}

static void failed(daemon_collateral *c, const char *why)
{
    c->failures++;
    snprintf(c->last_error, sizeof(c->last_error), "%s", why);
    CC_WARN("event=collateral_fetch_failed url=\"%s\" reason=\"%s\" retry_in=%.0f", c->url, why,
            c->retry);
    schedule(c, c->retry);
    c->retry = c->retry * 2 < c->refresh ? c->retry * 2 : c->refresh;
}

static const char *chain_header(size_t i)
{
    if (i == STEP_QE) return "SGX-Enclave-Identity-Issuer-Chain";
    if (i == STEP_PCK_CRL) return "SGX-PCK-CRL-Issuer-Chain";
    if (i == STEP_ROOT_CRL) return NULL;
    return "TCB-Info-Issuer-Chain";
}

static int on_head(void *ud, int status, const http_header *h, size_t n)
{
    daemon_collateral *c = ud;
    step *st = &c->steps[c->cur];
    st->status = status;
    const char *want = c->pcs ? chain_header(c->cur) : NULL;
    for (size_t i = 0; want && i < n; i++)
        if (!strcasecmp(h[i].name, want) && strlen(h[i].value) < MAX_BODY) {
            free(st->chain);
            st->chain = cc_strdup(h[i].value);
        }
    return 0;
}

static void on_body(void *ud, const uint8_t *data, size_t len)
{
    daemon_collateral *c = ud;
    step *st = &c->steps[c->cur];
    if (st->body.len + len > MAX_BODY) {
        st->too_big = true;
        return;
    }
    cc_buf_append(&st->body, data, len);
}

static void note_next_update(time_t *next, const tee_collateral *col)
{
    time_t t;
    if (tee_collateral_next_update(col, &t) == 0 && (*next == 0 || t < *next)) *next = t;
}

/* Document source: parses the document once per watched policy (each owns
 * its copy) and hands it over; nothing changes unless every copy parsed. */
static int install_document(daemon_collateral *c, cc_err *err)
{
    const cc_buf *b = &c->steps[STEP_DOC].body;
    tee_collateral *copies[MAX_WATCHED] = {0};
    for (size_t i = 0; i < c->n_watched; i++) {
        copies[i] = tee_collateral_parse((const char *)b->data, b->len, err);
        if (!copies[i]) {
            for (size_t k = 0; k < i; k++)
                tee_collateral_free(copies[k]);
            return -1;
        }
    }
    time_t next = 0;
    if (c->n_watched) note_next_update(&next, copies[0]);
    for (size_t i = 0; i < c->n_watched; i++)
        tee_policy_set_collateral(c->watched[i], copies[i], 0);
    c->next_update = next;
    return 0;
}

static tee_pcs_response response(const step *st)
{
    return (tee_pcs_response){st->body.data, st->body.len, st->chain};
}

/* PCS source: one collateral per FMSPC whose TCB info came, put into every
 * watched policy. A platform family whose TCB info failed keeps what it
 * had; the round fails only when none could be built. */
static int install_pcs(daemon_collateral *c, cc_err *err)
{
    tee_pcs_response qe = response(&c->steps[STEP_QE]);
    tee_pcs_response crl = response(&c->steps[STEP_PCK_CRL]);
    tee_pcs_response root = response(&c->steps[STEP_ROOT_CRL]);
    time_t next = 0;
    size_t good = 0;
    for (size_t f = 0; f < c->n_round; f++) {
        const step *st = &c->steps[STEP_TCB + f];
        char hex[13];
        cc_hex_encode(c->round[f], 6, hex);
        cc_err e = {0};
        if (st->status != 200 || st->too_big) {
            cc_err_set(&e, "TCB info for FMSPC %s: HTTP status %d%s", hex, st->status,
                       st->too_big ? " (too big)" : "");
        } else {
            tee_pcs_response tcb = response(st);
            for (size_t i = 0; i < c->n_watched && !e.msg[0]; i++) {
                tee_collateral *col = tee_collateral_from_pcs(&tcb, &qe, &crl, &root, &e);
                uint8_t got[6];
                if (col && (tee_collateral_fmspc(col, got) < 0 || memcmp(got, c->round[f], 6))) {
                    tee_collateral_free(col);
                    col = NULL;
                    cc_err_set(&e, "the TCB info is not for the FMSPC asked");
                }
                if (col) note_next_update(&next, col);
                if (!col || tee_policy_put_collateral(c->watched[i], col, &e) < 0)
                    cc_err_prefix(&e, "FMSPC %s", hex);
            }
        }
        if (e.msg[0]) {
            CC_WARN("event=collateral_fmspc_failed url=\"%s\" reason=\"%s\"", c->url, e.msg);
            snprintf(c->last_error, sizeof(c->last_error), "%.159s", e.msg);
            *err = e;
        } else {
            good++;
        }
    }
    if (!good) return c->n_round ? -1 : 0;
    c->next_update = next;
    return 0;
}

/* The FMSPCs to ask for: the configured ones, then those the policies met
 * without collateral. */
static void plan_round(daemon_collateral *c)
{
    c->n_round = 0;
    uint8_t seen[TEE_POLICY_MAX_COLLATERALS][6];
    for (size_t i = 0; i < c->n_configured + c->n_watched; i++) {
        size_t n = 0;
        if (i < c->n_configured) {
            memcpy(seen[0], c->configured[i], 6);
            n = 1;
        } else {
            n = tee_policy_missing_fmspcs(c->watched[i - c->n_configured], seen,
                                          TEE_POLICY_MAX_COLLATERALS);
        }
        for (size_t k = 0; k < n && c->n_round < TEE_POLICY_MAX_COLLATERALS; k++) {
            bool dup = false;
            for (size_t r = 0; r < c->n_round && !dup; r++)
                dup = !memcmp(c->round[r], seen[k], 6);
            if (!dup) memcpy(c->round[c->n_round++], seen[k], 6);
        }
    }
}

static void start_step(daemon_collateral *c);

static void finish_round(daemon_collateral *c)
{
    c->busy = false;
    cc_err err = {0};
    for (size_t i = 0; i < c->n_steps; i++) {
        const step *st = &c->steps[i];
        bool per_fmspc = c->pcs && i >= STEP_TCB;
        if (per_fmspc) continue; /* judged one by one in install_pcs */
        char why[160];
        if (st->status != 200 || st->too_big) {
            snprintf(why, sizeof(why), "%sHTTP status %d%s", c->pcs ? "PCS: " : "", st->status,
                     st->too_big ? " (answer larger than 4 MiB)" : "");
            failed(c, why);
            return;
        }
    }
    if ((c->pcs ? install_pcs(c, &err) : install_document(c, &err)) < 0) {
        failed(c, err.msg);
        return;
    }
    c->fetches++;
    c->retry = RETRY_MIN;
    if (!err.msg[0]) c->last_error[0] = 0;
    double delay = c->next_update
                       ? daemon_collateral_refresh_delay(time(NULL), c->next_update, c->refresh)
                       : c->refresh;
    CC_INFO("event=collateral_fetched url=\"%s\" platforms=%zu next_update=%lld refresh_in=%.0f",
            c->url, c->pcs ? c->n_round : (size_t)1, (long long)c->next_update, delay);
    schedule(c, delay);
}

static void on_done(void *ud, http_client_result result, const char *error)
{
    daemon_collateral *c = ud;
    c->req = NULL;
    if (result != HTTP_CLIENT_OK) {
        c->busy = false;
        failed(c, error ? error : "request failed");
        return;
    }
    c->cur++;
    if (c->cur < c->n_steps)
        start_step(c);
    else
        finish_round(c);
}

static void step_url(const daemon_collateral *c, size_t i, char *out, size_t n)
{
    if (!c->pcs) {
        snprintf(out, n, "%s", c->url);
        return;
    }
    if (i == STEP_QE) {
        snprintf(out, n, "%s/tdx/certification/v4/qe/identity", c->url);
    } else if (i == STEP_PCK_CRL) {
        snprintf(out, n, "%s/sgx/certification/v4/pckcrl?ca=platform&encoding=der", c->url);
    } else if (i == STEP_ROOT_CRL) {
        snprintf(out, n, "%s/sgx/certification/v4/rootcacrl", c->url);
    } else {
        char hex[13];
        cc_hex_encode(c->round[i - STEP_TCB], 6, hex);
        snprintf(out, n, "%s/tdx/certification/v4/tcb?fmspc=%s", c->url, hex);
    }
}

static void start_step(daemon_collateral *c)
{
    step *st = &c->steps[c->cur];
    cc_buf_reset(&st->body);
    free(st->chain);
    st->chain = NULL;
    st->status = 0;
    st->too_big = false;
    char url[2200];
    step_url(c, c->cur, url, sizeof(url));
    http_client_request req = {.method = "GET", .url = url, .timeout = 30};
    http_client_callbacks cb = {on_head, on_body, on_done};
    cc_err err = {0};
    c->req = http_client_start(c->http, &req, &cb, c, &err);
    if (!c->req) {
        c->busy = false;
        failed(c, err.msg);
    }
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    daemon_collateral *c = arg;
    if (c->busy) return;
    if (c->pcs) {
        plan_round(c);
        if (!c->n_round) return; /* nothing to ask for yet: the learn timer starts one */
    }
    c->round_started = cc_now_mono();
    c->n_steps = c->pcs ? STEP_TCB + c->n_round : 1;
    c->cur = 0;
    c->busy = true;
    start_step(c);
}

/* pcs: a quote from a platform family without collateral starts a round at
 * once rather than at the next refresh (the peer's next attempt then finds
 * it); a family the last round asked for in vain waits LEARN_RETRY, so an
 * unknown FMSPC does not make every look a round. */
static void on_learn(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    daemon_collateral *c = arg;
    if (c->busy) return;
    bool retry_due = cc_now_mono() - c->round_started >= LEARN_RETRY;
    uint8_t m[TEE_POLICY_MAX_COLLATERALS][6];
    for (size_t i = 0; i < c->n_watched; i++) {
        size_t n = tee_policy_missing_fmspcs(c->watched[i], m, TEE_POLICY_MAX_COLLATERALS);
        for (size_t k = 0; k < n; k++) {
            bool asked = false;
            for (size_t r = 0; r < c->n_round && !asked; r++)
                asked = !memcmp(c->round[r], m[k], 6);
            if (!asked || retry_due) {
                evtimer_del(c->timer);
                schedule(c, 0);
                return;
            }
        }
    }
}

daemon_collateral *daemon_collateral_new(struct event_base *base, const char *url, double refresh,
                                         cc_err *err)
{
    http_client *http = http_client_new(base, &(http_client_config){.max_connections = 2}, err);
    if (!http) return NULL;
    daemon_collateral *c = cc_calloc(1, sizeof(*c));
    c->base = base;
    c->http = http;
    c->url = cc_strdup(url);
    c->refresh = refresh > RETRY_MIN ? refresh : RETRY_MIN;
    c->retry = RETRY_MIN;
    c->timer = evtimer_new(base, on_timer, c);
    return c;
}

int daemon_collateral_use_pcs(daemon_collateral *c, const uint8_t (*fmspcs)[6], size_t n,
                              cc_err *err)
{
    if (n > TEE_POLICY_MAX_COLLATERALS)
        return cc_err_set(err, "collateral_fmspcs: at most %d", TEE_POLICY_MAX_COLLATERALS);
    c->pcs = true;
    if (n) memcpy(c->configured, fmspcs, n * 6);
    c->n_configured = n;
    /* the base URL without a trailing slash */
    size_t len = strlen(c->url);
    while (len && c->url[len - 1] == '/')
        c->url[--len] = 0;
    if (!c->learn) {
        c->learn = event_new(c->base, -1, EV_PERSIST, on_learn, c);
        struct timeval tv = {LEARN_PERIOD, 0};
        event_add(c->learn, &tv);
    }
    return 0;
}

int daemon_collateral_watch(daemon_collateral *c, tee_policy *p, cc_err *err)
{
    if (c->n_watched == MAX_WATCHED)
        return cc_err_set(err, "collateral: more than %d policies", MAX_WATCHED);
    c->watched[c->n_watched++] = p;
    return 0;
}

void daemon_collateral_start(daemon_collateral *c)
{
    schedule(c, 0);
}

void daemon_collateral_stats(const daemon_collateral *c, uint64_t *fetches, uint64_t *failures,
                             time_t *next_update)
{
    if (fetches) *fetches = c->fetches;
    if (failures) *failures = c->failures;
    if (next_update) *next_update = c->next_update;
}

void daemon_collateral_free(daemon_collateral *c)
{
    if (!c) return;
    if (c->req) http_client_cancel(c->req);
    if (c->timer) event_free(c->timer);
    if (c->learn) event_free(c->learn);
    http_client_free(c->http);
    for (size_t i = 0; i < MAX_STEPS; i++) {
        cc_buf_free(&c->steps[i].body);
        free(c->steps[i].chain);
    }
    free(c->url);
    free(c);
}
