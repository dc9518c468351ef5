/* `cocoon up`: when a dead child is started again. Pure bookkeeping on the
 * child's recent deaths, so the policy is unit-tested without processes. */
#include <stdlib.h>
#include <string.h>

#include "cli/up.h"

up_restart_policy up_restart_policy_of(const up_opts *o)
{
    return (up_restart_policy){.crash_limit = o->crash_limit,
                               .crash_window = o->crash_window,
                               .backoff_min = 0.5,
                               .backoff_max = 30};
}

double up_restart_after_death(up_child *c, const up_restart_policy *p, double now)
{
    /* Keep the newest deaths only: the limit is at most UP_MAX_CRASH_LIMIT. */
    if (c->n_crash_at == UP_MAX_CRASH_LIMIT) {
        memmove(c->crash_at, c->crash_at + 1, (UP_MAX_CRASH_LIMIT - 1) * sizeof(double));
        c->n_crash_at--;
    }
    c->crash_at[c->n_crash_at++] = now;
    int recent = 0;
    for (int i = 0; i < c->n_crash_at; i++)
        if (now - c->crash_at[i] < p->crash_window) recent++;
    if (recent >= p->crash_limit) return -1;
    /* A child that ran quietly for a whole window starts again at once-ish;
     * one that keeps dying waits longer each time, so a broken config does
     * not spin the machine while the limit is not reached yet. */
    double d = p->backoff_min;
    for (int i = 1; i < recent && d < p->backoff_max; i++)
        d *= 2;
    return d < p->backoff_max ? d : p->backoff_max;
}

void up_child_set_argv(up_child *c, const char *exe, char *const args[])
{
    size_t n = 0;
    while (args[n])
        n++;
    c->argv = cc_calloc(n + 2, sizeof(char *));
    c->argv[0] = cc_strdup(exe);
    for (size_t i = 0; i < n; i++)
        c->argv[i + 1] = cc_strdup(args[i]);
}

void up_children_free(up_children *ch)
{
    for (size_t i = 0; i < ch->n; i++) {
        char **a = ch->c[i].argv;
        for (size_t k = 0; a && a[k]; k++)
            free(a[k]);
        free(a);
        ch->c[i].argv = NULL;
    }
}
