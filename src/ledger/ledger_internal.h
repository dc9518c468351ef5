/* Shared between the ledger's files; not part of its API. */
#ifndef COCOON_LEDGER_INTERNAL_H
#define COCOON_LEDGER_INTERNAL_H

#include "ledger/ledger.h"

void ledger__payments_commit_db(ledger_payments *p, int32_t seqno);
void ledger__payments_commit_chain(ledger_payments *p, int32_t seqno);
void ledger__payments_free(ledger_payments *p);

#endif
