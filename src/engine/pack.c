/*
 * Q8_0, Q4_0, Q4_K and Q6_K weights repacked at load into groups of eight
 * interleaved rows (blk_q8_0x8, blk_q4_0x8, blk_q4_kx8, blk_q6_kx8 in
 * engine_int.h) for the AVX2 kernels of kernels_x8.c and kernels_x8_q6k.c. A group's eight rows are
 * rewritten in place through a buffer of one group: the layout has exactly the bytes of the eight
 * rows, so a model's resident weights do not grow (the file is mapped privately and writable, so
 * the rewritten pages are the process's own copies and the file's pages stay clean).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "engine/engine_int.h"

static void pack_q8_0(const uint8_t *src, size_t row_bytes, int nb, blk_q8_0x8 *out)
{
    for (int i = 0; i < nb; i++, out++)
        for (int r = 0; r < 8; r++) {
            const blk_q8_0 *b = (const blk_q8_0 *)(src + (size_t)r * row_bytes) + i;
            out->d[r] = b->d;
            for (int k = 0; k < 8; k++)
                memcpy(out->qs + 32 * k + 4 * r, b->qs + 4 * k, 4);
        }
}

static void pack_q4_0(const uint8_t *src, size_t row_bytes, int nb, blk_q4_0x8 *out)
{
    for (int i = 0; i < nb; i++, out++)
        for (int r = 0; r < 8; r++) {
            const blk_q4_0 *b = (const blk_q4_0 *)(src + (size_t)r * row_bytes) + i;
            out->d[r] = b->d;
            for (int m = 0; m < 4; m++)
                memcpy(out->qs + 32 * m + 4 * r, b->qs + 4 * m, 4);
        }
}

/* Makes [p, p + n) present and writable before it is rewritten. Left to
 * page faults, every page of a private file mapping faults twice (read, then
 * copy on write), and the copy-on-write replaces a page already mapped,
 * which costs a TLB flush each, across all of the process's threads: that
 * was most of a 143 MB Q8_0 model's 3 s load here. One populate call copies
 * the pages once, before they are ever mapped read-only. Best effort: on a
 * kernel without MADV_POPULATE_WRITE (Linux < 5.14) the faults do the same
 * work, slower. */
static void populate_write(uint8_t *p, size_t n)
{
#ifdef MADV_POPULATE_WRITE
    long page = sysconf(_SC_PAGESIZE);
    if (page <= 0 || n == 0) return;
    uintptr_t a = (uintptr_t)p & ~(uintptr_t)(page - 1);
    uintptr_t b = ((uintptr_t)p + n + (uintptr_t)page - 1) & ~(uintptr_t)(page - 1);
    (void)madvise((void *)a, b - a, MADV_POPULATE_WRITE);
#else
    (void)p;
    (void)n;
#endif
}

static void pack_q4_k(const uint8_t *src, size_t row_bytes, int nb, blk_q4_kx8 *out)
{
    for (int i = 0; i < nb; i++, out++)
        for (int r = 0; r < 8; r++) {
            const blk_q4_k *b = (const blk_q4_k *)(src + (size_t)r * row_bytes) + i;
            out->d[r] = b->d;
            out->dmin[r] = b->dmin;
            for (int p = 0; p < 3; p++)
                memcpy(out->scales + 32 * p + 4 * r, b->scales + 4 * p, 4);
            for (int m = 0; m < QK_K / 8; m++)
                memcpy(out->qs + 32 * m + 4 * r, b->qs + 4 * m, 4);
        }
}

/* Q6_K: a row's block is taken apart into its 256 unsigned 6-bit values
 * as ggml's dequantization does (half h, quarter k, column l: the low
 * nibble of ql[64h + 32(k % 2) + l], its high one for k >= 2; bits 2k of
 * qh[32h + l]), then laid out as blk_q6_kx8 says. */
static void pack_q6_k(const uint8_t *src, size_t row_bytes, int nb, blk_q6_kx8 *out)
{
    uint8_t q[QK_K];
    for (int i = 0; i < nb; i++, out++)
        for (int r = 0; r < 8; r++) {
            const blk_q6_k *b = (const blk_q6_k *)(src + (size_t)r * row_bytes) + i;
            out->d[r] = b->d;
            for (int s = 0; s < QK_K / 16; s++)
                out->scales[16 * (s / 2) + 2 * r + s % 2] = b->scales[s];
            for (int h = 0; h < 2; h++)
                for (int k = 0; k < 4; k++)
                    for (int l = 0; l < 32; l++) {
                        int lo = b->ql[64 * h + 32 * (k & 1) + l] >> (k >= 2 ? 4 : 0) & 0xF;
                        int hi = b->qh[32 * h + l] >> (2 * k) & 3;
                        q[128 * h + 32 * k + l] = (uint8_t)(lo | hi << 4);
                    }
            for (int s = 0; s < QK_K / 16; s++)
                for (int j = 0; j < 4; j++) {
                    const uint8_t *v = q + 16 * s + j; /* v[4c]: column 4c + j, c < 4 */
                    uint8_t *o = out->qs + 96 * s + 4 * r + j;
                    for (int k = 0; k < 3; k++)
                        o[32 * k] = (uint8_t)(v[4 * k] | (v[12] >> 2 * k & 3) << 6);
                }
        }
}

int eng_pack_rows8(uint32_t type, uint8_t *data, int rows, int cols, size_t row_bytes)
{
    _Static_assert(sizeof(blk_q8_0x8) == 8 * sizeof(blk_q8_0), "Q8_0 group size");
    _Static_assert(sizeof(blk_q4_0x8) == 8 * sizeof(blk_q4_0), "Q4_0 group size");
    _Static_assert(sizeof(blk_q4_kx8) == 8 * sizeof(blk_q4_k), "Q4_K group size");
    _Static_assert(sizeof(blk_q6_kx8) == 8 * sizeof(blk_q6_k), "Q6_K group size");
    if (!eng_cpu_avx2() || cols <= 0 || cols % 32 || rows < 8) return 0;
    int nb = cols / 32;
    if (type == ENGINE_T_Q4_K) {
        if (cols % QK_K || cols > ENG_X8_Q4K_MAX_COLS) return 0;
        nb = cols / QK_K;
    }
    if (type == ENGINE_T_Q8_0   ? row_bytes != (size_t)nb * sizeof(blk_q8_0)
        : type == ENGINE_T_Q4_0 ? row_bytes != (size_t)nb * sizeof(blk_q4_0)
        : type == ENGINE_T_Q4_K ? row_bytes != (size_t)nb * sizeof(blk_q4_k)
        : type == ENGINE_T_Q6_K
            ? cols % QK_K || row_bytes != (size_t)(cols / QK_K) * sizeof(blk_q6_k)
            : true)
        return 0;
    size_t group = 8 * row_bytes;
    populate_write(data, (size_t)(rows / 8) * group);
    uint8_t *tmp = cc_malloc(group);
    int groups = rows / 8;
    for (int g = 0; g < groups; g++) {
        uint8_t *p = data + (size_t)g * group;
        memcpy(tmp, p, group);
        if (type == ENGINE_T_Q8_0)
            pack_q8_0(tmp, row_bytes, nb, (blk_q8_0x8 *)p);
        else if (type == ENGINE_T_Q6_K)
            pack_q6_k(tmp, row_bytes, cols / QK_K, (blk_q6_kx8 *)p);
        else if (type == ENGINE_T_Q4_0)
            pack_q4_0(tmp, row_bytes, nb, (blk_q4_0x8 *)p);
        else
            pack_q4_k(tmp, row_bytes, nb, (blk_q4_kx8 *)p);
    }
    free(tmp);
    return groups * 8;
}
