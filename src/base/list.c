/* The intrusive doubly-linked list of base.h: daemons keep their requests,
 * connections and calls in lists threaded through the objects themselves,
 * so unlinking one is O(1) and needs no allocation. */
#include "base.h"

void cc_list_push_front(cc_list *l, cc_list_node *n)
{
    n->prev = NULL;
    n->next = l->first;
    if (l->first)
        l->first->prev = n;
    else
        l->last = n;
    l->first = n;
}

void cc_list_push_back(cc_list *l, cc_list_node *n)
{
    n->next = NULL;
    n->prev = l->last;
    if (l->last)
        l->last->next = n;
    else
        l->first = n;
    l->last = n;
}

bool cc_list_contains(const cc_list *l, const cc_list_node *n)
{
    /* Only the first node has no predecessor: any other linked node has one. */
    return n->prev != NULL || l->first == n;
}

void cc_list_remove(cc_list *l, cc_list_node *n)
{
    if (!cc_list_contains(l, n)) return;
    if (n->prev)
        n->prev->next = n->next;
    else
        l->first = n->next;
    if (n->next)
        n->next->prev = n->prev;
    else
        l->last = n->prev;
    n->prev = n->next = NULL;
}

size_t cc_list_count(const cc_list *l)
{
    size_t k = 0;
    for (const cc_list_node *n = l->first; n; n = n->next)
        k++;
    return k;
}
