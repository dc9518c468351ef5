/* COCOON's token pricing (runners/helpers/Ton.h, runners/helpers/CountTokens.cpp). */
#include "ledger/ledger.h"

int64_t ledger_adjust_tokens(int64_t n, int64_t coefficient, int32_t mult)
{
    /* The same double expression, in the same order, as COCOON's
     * adjust_tokens(): a proxy and a worker of either implementation then
     * agree on every adjusted count. */
    return (int64_t)((double)n * ((double)coefficient * 0.001) * (double)mult * 0.0001);
}

static int64_t non_negative(int64_t v)
{
    return v < 0 ? 0 : v;
}

void ledger_adjust_usage(const ledger_usage *u, int32_t coefficient, const ledger_multipliers *m,
                         ledger_tokens *out)
{
    out->prompt = ledger_adjust_tokens(non_negative(u->prompt - u->cached), coefficient, m->prompt);
    out->cached = ledger_adjust_tokens(non_negative(u->cached), coefficient, m->cached);
    out->completion = ledger_adjust_tokens(non_negative(u->completion - u->reasoning), coefficient,
                                           m->completion);
    out->reasoning = ledger_adjust_tokens(non_negative(u->reasoning), coefficient, m->reasoning);
    out->total = out->prompt + out->cached + out->completion + out->reasoning;
}

int64_t ledger_safe_div(int64_t a, int64_t b)
{
    return b > 0 ? a / b : 1000000000000LL;
}
