/* A fake TEE root in a fresh folder under $TMPDIR, for the unit tests of
 * every layer that checks attestation (tee, daemon). Header-only, so any
 * test program linked with the tee layer can include it as "../tee_fixture.h". */
#ifndef COCOON_TESTS_TEE_FIXTURE_H
#define COCOON_TESTS_TEE_FIXTURE_H

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "tee/tee.h"

/* Creates the folder (named after tag) into dir[n] and a fake root in it;
 * returns 0, or -1 after printing why (the folder is removed again). */
static inline int tee_fixture_root_create(char *dir, size_t n, const char *tag)
{
    cc_tmp_template(dir, n, tag);
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return -1;
    }
    cc_err err = {0};
    if (tee_fake_root_init(dir, false, &err) < 0) {
        fprintf(stderr, "fake TEE root in %s: %s\n", dir, err.msg);
        rmdir(dir);
        return -1;
    }
    return 0;
}

/* Removes the root's two files and the folder. */
static inline void tee_fixture_root_remove(const char *dir)
{
    static const char *const files[] = {"fake_root.key", "fake_root.pem"};
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        char path[1024];
        snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
        unlink(path);
    }
    rmdir(dir);
}

#endif
