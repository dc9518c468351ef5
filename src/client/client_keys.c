/* API keys of the client's OpenAI endpoint: who may call it and how much
 * each caller may spend. Keys are compared by SHA-256, in constant time
 * over every configured key, so neither the key nor which key matched
 * leaks through timing. Budgets are checked before a request goes out and
 * charged with the token usage the network reports at its end: requests in
 * flight together may overrun a budget by their own size, never more. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "client/client_internal.h"
#include "crypto/crypto.h"

void client_keys_init(client *c, const client_config *cfg)
{
    c->n_keys = cfg->n_api_keys;
    c->keys = cc_calloc(c->n_keys + 1, sizeof(*c->keys));
    for (size_t i = 0; i < c->n_keys; i++)
        c->keys[i].cfg = cfg->api_keys[i];
    c->price_per_token = cfg->price_per_token;
}

static int64_t utc_day(void)
{
    return (int64_t)time(NULL) / 86400;
}

static void roll_day(ckey *k)
{
    int64_t d = utc_day();
    if (d == k->day) return;
    k->day = d;
    k->tokens_day = k->nano_day = 0;
}

static int refuse(client *c, http_req *h, int status, const char *code, const char *type,
                  const char *msg)
{
    openai_error e;
    openai_error_set(&e, status, code, "%s", msg);
    if (type) e.type = type;
    c->io->reply_error(h, &e);
    return -1;
}

/* The token of "Authorization: Bearer TOKEN", or NULL. */
static const char *bearer(const char *auth)
{
    if (!auth || strncasecmp(auth, "Bearer ", 7) != 0) return NULL;
    auth += 7;
    while (*auth == ' ')
        auth++;
    return *auth ? auth : NULL;
}

int client_keys_identify(client *c, http_req *h, ckey **out)
{
    *out = NULL;
    if (c->n_keys == 0) return 0;
    const char *auth = c->io->req_header ? c->io->req_header(h, "Authorization") : NULL;
    const char *token = bearer(auth);
    if (!token) {
        c->unauthorized++;
        return refuse(c, h, 401, "invalid_api_key", NULL,
                      "You didn't provide an API key: send \"Authorization: Bearer KEY\"");
    }
    uint8_t hash[32];
    crypto_sha256(token, strlen(token), hash);
    ckey *found = NULL;
    for (size_t i = 0; i < c->n_keys; i++) {
        uint8_t diff = 0;
        for (size_t b = 0; b < 32; b++)
            diff |= (uint8_t)(hash[b] ^ c->keys[i].cfg.sha256[b]);
        /* no early exit: every key is compared */
        if (diff == 0) found = &c->keys[i];
    }
    if (!found) {
        c->unauthorized++;
        return refuse(c, h, 401, "invalid_api_key", NULL, "Incorrect API key provided");
    }
    *out = found;
    return 0;
}

int client_keys_check(client *c, http_req *h, ckey **out)
{
    ckey *k;
    if (client_keys_identify(c, h, &k) < 0) return -1;
    *out = NULL;
    if (!k) return 0;
    roll_day(k);
    const client_api_key *b = &k->cfg;
    const char *what = NULL;
    int64_t used = 0, budget = 0;
    if (b->budget_tokens_day && k->tokens_day >= b->budget_tokens_day)
        what = "daily token", used = k->tokens_day, budget = b->budget_tokens_day;
    else if (b->budget_tokens_total && k->tokens_total >= b->budget_tokens_total)
        what = "total token", used = k->tokens_total, budget = b->budget_tokens_total;
    else if (b->budget_nano_day && k->nano_day >= b->budget_nano_day)
        what = "daily nanoTON", used = k->nano_day, budget = b->budget_nano_day;
    else if (b->budget_nano_total && k->nano_total >= b->budget_nano_total)
        what = "total nanoTON", used = k->nano_total, budget = b->budget_nano_total;
    if (what) {
        k->refused_quota++;
        char msg[200];
        snprintf(msg, sizeof(msg), "API key '%s' has used its %s budget (%lld of %lld)",
                 k->cfg.name, what, (long long)used, (long long)budget);
        return refuse(c, h, 429, "insufficient_quota", "insufficient_quota", msg);
    }
    k->requests++;
    *out = k;
    return 0;
}

void client_keys_charge(client *c, ckey *k, int64_t total_tokens)
{
    if (!k || total_tokens <= 0) return;
    roll_day(k);
    /* What the proxy may charge at most: every token at the client's highest
     * accepted coefficient (x1000 = 1.0). */
    __int128 nano128 = (__int128)total_tokens * c->price_per_token * c->max_coefficient / 1000;
    int64_t nano = nano128 > INT64_MAX / 4 ? INT64_MAX / 4 : (int64_t)nano128;
    k->tokens_day += total_tokens;
    k->tokens_total += total_tokens;
    k->nano_day += nano;
    k->nano_total += nano;
    client_keys_store_mark(c);
}

json_t *client_keys_stats(const client *c)
{
    json_t *a = json_array();
    for (size_t i = 0; i < c->n_keys; i++) {
        const ckey *k = &c->keys[i];
        bool today = k->day == utc_day();
        json_t *o = json_object();
        json_object_set_new(o, "name", json_string(k->cfg.name));
        json_object_set_new(o, "requests", json_integer((json_int_t)k->requests));
        json_object_set_new(o, "refused_quota", json_integer((json_int_t)k->refused_quota));
        json_object_set_new(o, "tokens_day", json_integer(today ? k->tokens_day : 0));
        json_object_set_new(o, "tokens_total", json_integer(k->tokens_total));
        json_object_set_new(o, "nano_day", json_integer(today ? k->nano_day : 0));
        json_object_set_new(o, "nano_total", json_integer(k->nano_total));
        json_object_set_new(o, "budget_tokens_day", json_integer(k->cfg.budget_tokens_day));
        json_object_set_new(o, "budget_tokens_total", json_integer(k->cfg.budget_tokens_total));
        json_object_set_new(o, "budget_nano_day", json_integer(k->cfg.budget_nano_day));
        json_object_set_new(o, "budget_nano_total", json_integer(k->cfg.budget_nano_total));
        json_array_append_new(a, o);
    }
    return a;
}
