/* A ledger file in a temporary folder for each test, and raw SQL on it (the
 * ledger's unit tests share these). */
#ifndef COCOON_TEST_LEDGER_FIXTURE_H
#define COCOON_TEST_LEDGER_FIXTURE_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <sqlite3.h>

#include "base/base.h"

typedef struct fixture {
    char dir[256];
    char path[300];
} fixture;

static inline int fixture_setup(void **state, const char *prefix)
{
    fixture *f = calloc(1, sizeof(*f));
    cc_tmp_template(f->dir, sizeof(f->dir), prefix);
    if (!mkdtemp(f->dir)) return -1;
    snprintf(f->path, sizeof(f->path), "%s/ledger.db", f->dir);
    *state = f;
    return 0;
}

static inline int teardown(void **state)
{
    fixture *f = *state;
    char cmd[400];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
    if (system(cmd) != 0) return -1;
    free(f);
    return 0;
}

static inline void sql(const char *path, const char *stmt)
{
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    char *msg = NULL;
    if (sqlite3_exec(db, stmt, NULL, NULL, &msg) != SQLITE_OK) fail_msg("%s: %s", stmt, msg);
    sqlite3_close(db);
}

#endif
