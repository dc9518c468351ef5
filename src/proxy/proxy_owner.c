/* Client owners for the fair limits (proxy_internal.h, powner). Owners are
 * few and looked up only at a client's handshake, so a list will do. */
#include <stdlib.h>
#include <string.h>

#include "proxy/proxy_internal.h"
#include "ton/ton.h"

powner *proxy_owner_get(proxy *p, const char *address)
{
    if (address)
        cc_list_foreach (powner, o, &p->owners, node)
            if (o->address && strcmp(o->address, address) == 0) {
                o->refs++;
                return o;
            }
    powner *o = cc_calloc(1, sizeof(*o));
    o->p = p;
    o->address = address ? cc_strdup(address) : NULL;
    o->refs = 1;
    cc_list_push_front(&p->owners, &o->node);
    return o;
}

void proxy_owner_put(powner *o)
{
    if (!o || --o->refs > 0) return;
    /* Nothing of it is left: no client, no request (a request holds a
     * reference while it waits or runs). */
    if (o->waiting) cc_list_remove(&o->p->waiting, &o->wait_node);
    cc_list_remove(&o->p->owners, &o->node);
    free(o->address);
    free(o);
}

powner *proxy_client_owner(pclient *c)
{
    if (!c->owner) c->owner = proxy_owner_get(c->p, NULL);
    return c->owner;
}

/* The key of an owner address: its raw form, so that the raw and the
 * user-friendly spellings of one wallet are one owner. No key (NULL) for
 * the zero address, which our client announces when it has no owner, or
 * an address that does not parse: such a connection is an owner of its own,
 * as it would otherwise share one line with every anonymous client. */
static const char *owner_key(const char *address, char *buf, size_t n)
{
    static const uint8_t zero[32];
    ton_addr a;
    cc_err err;
    if (!address || !*address || ton_addr_parse(address, &a, NULL, NULL, &err) < 0 || a.none ||
        memcmp(a.hash, zero, 32) == 0)
        return NULL;
    ton_addr_to_raw(&a, buf, n);
    return buf;
}

void proxy_client_set_owner(pclient *c, const char *address)
{
    if (!cc_list_empty(&c->reqs)) return;
    char buf[80];
    const char *key = owner_key(address, buf, sizeof(buf));
    if (!key && c->owner && !c->owner->address) return; /* keeps its own */
    powner *o = proxy_owner_get(c->p, key);
    proxy_owner_put(c->owner);
    c->owner = o;
}
