/*
 * Internal: Unicode character classes for the tokenizers, from a table
 * generated at build time out of the Unicode Character Database
 * (src/engine/unigen.py), so \p{L}, \p{N}, \s ... match what the reference
 * tokenizers (Python/Rust regex engines) see, not an approximation.
 */
#ifndef COCOON_ENGINE_UNICODE_H
#define COCOON_ENGINE_UNICODE_H

#include <stddef.h>
#include <stdint.h>

enum eng_ucd_flag {
    ENG_U_L = 1 << 0,  /* letter (general category L*) */
    ENG_U_N = 1 << 1,  /* number */
    ENG_U_P = 1 << 2,  /* punctuation */
    ENG_U_S = 1 << 3,  /* symbol */
    ENG_U_M = 1 << 4,  /* mark */
    ENG_U_Z = 1 << 5,  /* separator */
    ENG_U_C = 1 << 6,  /* other: control, format, surrogate, private use */
    ENG_U_WS = 1 << 7, /* White_Space property (what \s means) */
    ENG_U_LU = 1 << 8,
    ENG_U_LL = 1 << 9,
    ENG_U_LT = 1 << 10,
    ENG_U_LM = 1 << 11,
    ENG_U_LO = 1 << 12,
    ENG_U_ND = 1 << 13,
};

typedef struct eng_ucd_range {
    uint32_t lo, hi;
    uint32_t flags;
} eng_ucd_range;

/* Sorted, non-overlapping; code points not covered are unassigned (no bits). */
extern const eng_ucd_range eng_ucd_ranges[];
extern const size_t eng_ucd_n_ranges;

uint32_t eng_ucd_flags(uint32_t cp);

#endif
