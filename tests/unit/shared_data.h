/* Paths into the workspace's shared test data (models, vocabularies,
 * fixtures): $COCOON_SHARED, or ../shared from the repository root, where
 * the tests run. Header-only, included as "../shared_data.h". */
#ifndef COCOON_TESTS_SHARED_DATA_H
#define COCOON_TESTS_SHARED_DATA_H

#include <stdio.h>
#include <stdlib.h>

/* rel (e.g. "models/stories260K.gguf") under the shared folder, into buf[n];
 * returns buf. */
static inline char *shared_data_path(char *buf, size_t n, const char *rel)
{
    const char *shared = getenv("COCOON_SHARED");
    snprintf(buf, n, "%s/%s", shared ? shared : "../shared", rel);
    return buf;
}

#endif
