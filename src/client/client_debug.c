/* COCOON's request debugging on the client (runners/client/
 * ClientRunningRequest.cpp, ClientRunner.hpp): the X-Cocoon-* timing headers
 * on every answer, and, for a request with "enable_debug": true, a "debug"
 * object (the proxy's and the worker's debug JSON from the final info, and
 * the client's own timings) added to the answer and kept under the request's
 * "request_guid" for GET /request/debuglogentry?request_guid=... */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "client/client_internal.h"

#define TIMING_PREFIX "X-Cocoon-"

void client_debug_timing_headers(creq *r, const tl_http_response *resp)
{
    client *c = r->c;
    r->head_wall = cc_now_wall();
    /* The proxy's and the worker's timings travel as headers of the
     * http.response; COCOON's client copies every header of it, ours only
     * these (the rest is hop-by-hop or ours to set). */
    for (size_t i = 0; resp && i < resp->headers.n; i++) {
        const tl_http_header *h = &resp->headers.items[i];
        size_t pl = strlen(TIMING_PREFIX);
        if (h->name.len <= pl || h->name.len > 64 || h->value.len > 64 ||
            strncasecmp((const char *)h->name.data, TIMING_PREFIX, pl) != 0)
            continue;
        char name[65], value[65]; /* lengths checked above; memcpy, not printf, per header */
        memcpy(name, h->name.data, h->name.len);
        name[h->name.len] = 0;
        memcpy(value, h->value.data, h->value.len);
        value[h->value.len] = 0;
        /* header injection: only printable bytes pass */
        bool ok = true;
        for (const char *p = name; *p && ok; p++)
            ok = *p > ' ' && *p < 127 && *p != ':';
        for (const char *p = value; *p && ok; p++)
            ok = *p >= ' ' && *p < 127;
        if (ok) c->io->reply_header(r->hreq, name, value);
    }
    char v[32];
    cc_fmt_fixed(v, r->start_wall, 6);
    c->io->reply_header(r->hreq, "X-Cocoon-Client-Start", v);
    cc_fmt_fixed(v, r->head_wall, 6);
    c->io->reply_header(r->hreq, "X-Cocoon-Client-End", v);
}

/* A peer's debug string: its JSON when it is JSON, else the text itself
 * (COCOON's client would throw on it). */
static json_t *peer_debug(tl_bytes s)
{
    json_t *j = json_loadb((const char *)s.data, s.len, JSON_DECODE_ANY, NULL);
    return j ? j : json_stringn((const char *)s.data, s.len);
}

static json_t *debug_object(const creq *r, const tl_client_queryFinalInfo *fi)
{
    json_t *v = json_object();
    if (fi && (fi->flags & 1u)) {
        if (fi->proxy_debug.len) json_object_set_new(v, "proxy", peer_debug(fi->proxy_debug));
        if (fi->worker_debug.len) json_object_set_new(v, "worker", peer_debug(fi->worker_debug));
    }
    json_t *cl = json_object();
    json_object_set_new(cl, "type", json_string("client_stats"));
    json_object_set_new(cl, "start_time", json_real(r->start_wall));
    json_object_set_new(cl, "answer_receive_start_at", json_real(r->head_wall));
    json_object_set_new(cl, "answer_receive_end_at", json_real(cc_now_wall()));
    json_object_set_new(v, "client", cl);
    return v;
}

static void log_put(client *c, const uint8_t key[32], const ckey *api_key, char *json)
{
    client_debug_log *lg = &c->debug_log;
    for (size_t i = 0; i < CLIENT_DEBUG_LOG_SIZE; i++)
        if (lg->e[i].json && !memcmp(lg->e[i].key, key, 32)) {
            free(json); /* COCOON keeps the first entry of a guid */
            return;
        }
    client_debug_entry *e = &lg->e[lg->next];
    free(e->json);
    memcpy(e->key, key, 32);
    e->api_key = api_key;
    e->json = json;
    lg->next = (lg->next + 1) % CLIENT_DEBUG_LOG_SIZE;
}

/* With API keys, an entry is only given to the key whose request made it:
 * the debug object carries the peers' timings and the request's route, which
 * another key's holder has no business reading. */
const char *client_debug_find(const client *c, const char *guid, const ckey *api_key)
{
    uint8_t key[32];
    crypto_sha256(guid, strlen(guid), key);
    for (size_t i = 0; i < CLIENT_DEBUG_LOG_SIZE; i++)
        if (c->debug_log.e[i].json && !memcmp(c->debug_log.e[i].key, key, 32))
            return c->debug_log.e[i].api_key == api_key ? c->debug_log.e[i].json : NULL;
    return NULL;
}

void client_debug_log_clear(client *c)
{
    for (size_t i = 0; i < CLIENT_DEBUG_LOG_SIZE; i++)
        free(c->debug_log.e[i].json);
    memset(&c->debug_log, 0, sizeof(c->debug_log));
}

void client_debug_finish(creq *r, const tl_client_queryFinalInfo *fi, cc_buf *tail)
{
    if (!r->debug) return;
    json_t *v = debug_object(r, fi);
    if (r->has_guid) log_put(r->c, r->guid_key, r->api_key, json_dumps(v, JSON_COMPACT));
    /* A collected JSON object gets the debug object as its "debug" member;
     * anything else (an SSE stream, a body that is not one object) gets
     * {"debug":...} on a line after it, as COCOON's client writes it. */
    json_t *body = !r->http_started && r->body.len
                       ? json_loadb((const char *)r->body.data, r->body.len, 0, NULL)
                       : NULL;
    if (body && json_is_object(body)) {
        json_object_set(body, "debug", v);
        char *s = json_dumps(body, JSON_COMPACT);
        r->body.len = 0;
        cc_buf_append_fmt(&r->body, "%s\n", s);
        free(s);
    } else {
        json_t *w = json_pack("{s:O}", "debug", v);
        char *s = json_dumps(w, JSON_COMPACT);
        cc_buf_append_fmt(r->http_started ? tail : &r->body, "%s\n", s);
        free(s);
        json_decref(w);
    }
    json_decref(body);
    json_decref(v);
}

/* GET /request/debuglogentry?request_guid=G: the debug object of the
 * request sent with that guid, or {} (ClientRunner.hpp
 * http_get_request_debug_info). The guid is taken as written in the URL,
 * without %-decoding, as COCOON's URL parser does. */
void client_api_debuglog(http_req *hreq, void *ud)
{
    client *c = ud;
    ckey *key;
    if (client_keys_identify(c, hreq, &key) < 0) return;
    const char *q = c->io->req_query(hreq);
    char guid[300] = "";
    for (const char *p = q; p && *p;) {
        const char *end = strchr(p, '&');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        if (n > 13 && !strncmp(p, "request_guid=", 13) && n - 13 < sizeof(guid))
            snprintf(guid, sizeof(guid), "%.*s", (int)(n - 13), p + 13);
        p = end ? end + 1 : p + n;
    }
    const char *j = client_debug_find(c, guid, key);
    if (!j) j = "{}";
    c->io->reply(hreq, 200, "application/json", j, strlen(j));
}
