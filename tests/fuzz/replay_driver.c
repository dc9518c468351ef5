/*
 * Stand-in for libFuzzer's main in builds without clang: feeds every seed file,
 * then deterministic mutations of each (truncations, bit flips, byte
 * insertions, random bytes) to LLVMFuzzerTestOneInput. A crash or sanitizer
 * report fails the test; the real fuzzing runs in the COCOON_FUZZ build.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rng_next(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static void run_copy(const uint8_t *data, size_t size)
{
    /* A fresh heap copy of the exact size lets ASan catch any over-read. */
    uint8_t *copy = malloc(size ? size : 1);
    memcpy(copy, data, size);
    LLVMFuzzerTestOneInput(copy, size);
    free(copy);
}

static void mutate_and_run(const uint8_t *seed, size_t n)
{
    run_copy(seed, n);
    for (size_t cut = 0; cut < n; cut += 1 + n / 64)
        run_copy(seed, cut);
    uint8_t *buf = malloc(n + 16);
    for (int round = 0; round < 300; round++) {
        memcpy(buf, seed, n);
        size_t len = n;
        int edits = 1 + (int)(rng_next() % 4);
        for (int e = 0; e < edits && len; e++) {
            size_t pos = (size_t)(rng_next() % len);
            switch (rng_next() % 4) {
            case 0: buf[pos] ^= (uint8_t)(1u << (rng_next() % 8)); break;
            case 1: buf[pos] = (uint8_t)rng_next(); break;
            case 2: buf[pos] = (rng_next() & 1) ? 0xff : 0x00; break;
            default:
                if (len < n + 16) {
                    memmove(buf + pos + 1, buf + pos, len - pos);
                    buf[pos] = (uint8_t)rng_next();
                    len++;
                }
            }
        }
        run_copy(buf, len);
    }
    free(buf);
}

int main(int argc, char **argv)
{
    size_t files = 0;
    for (int i = 1; i < argc; i++) {
        DIR *d = opendir(argv[i]);
        if (!d)
            continue;
        struct dirent *de;
        while ((de = readdir(d))) {
            if (de->d_name[0] == '.')
                continue;
            char path[4096];
            snprintf(path, sizeof(path), "%s/%s", argv[i], de->d_name);
            FILE *f = fopen(path, "rb");
            if (!f)
                continue;
            uint8_t *data = malloc(1 << 20);
            size_t n = fread(data, 1, 1 << 20, f);
            fclose(f);
            mutate_and_run(data, n);
            free(data);
            files++;
        }
        closedir(d);
    }
    for (int i = 0; i < 2000; i++) {
        uint8_t rnd[256];
        size_t n = (size_t)(rng_next() % sizeof(rnd));
        for (size_t k = 0; k < n; k++)
            rnd[k] = (uint8_t)rng_next();
        run_copy(rnd, n);
    }
    printf("replayed %zu seed files with mutations and 2000 random inputs\n", files);
    return 0;
}
