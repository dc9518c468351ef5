/*
 * Internal: byte-level BPE pre-tokenizers. A pre-tokenizer is a list of
 * regular expressions applied in turn, as llama.cpp does for each
 * tokenizer.ggml.pre name: each one splits every piece so far into its
 * matches and the text between them. BPE merges then never cross a piece.
 */
#ifndef COCOON_ENGINE_PRETOK_H
#define COCOON_ENGINE_PRETOK_H

#include "engine/engine_int.h"

typedef struct eng_rx eng_rx;
/* Compiles a pattern (UTF-8); NULL with a message for what is unsupported. */
eng_rx *eng_rx_compile(const char *pattern, cc_err *err);
void eng_rx_free(eng_rx *r);
/* Memory of the class runs already scanned in one subject, so that trying
 * every position of a long run stays linear. Reset it (for the regex about
 * to be used) whenever the subject changes. */
typedef struct eng_rx_runs {
    size_t *v;
    size_t n;
} eng_rx_runs;
void eng_rx_runs_reset(eng_rx_runs *m, const eng_rx *r);
void eng_rx_runs_free(eng_rx_runs *m);
/* Length in code points of the match starting at pos in cp[0..n) (the
 * subject ends at n for $ and lookaheads), 0 when none. runs: NULL, or reset
 * for this regex and subject. */
size_t eng_rx_match_at(const eng_rx *r, const uint32_t *cp, size_t n, size_t pos,
                       eng_rx_runs *runs);

typedef struct eng_pretok {
    const char *name; /* the canonical name of the regex family */
    eng_rx **rx;
    size_t n_rx;
    bool ignore_merges; /* a whole piece that is a token is taken as is (llama-3) */
} eng_pretok;

/* The pre-tokenizer for a tokenizer.ggml.pre name (NULL or "default": the
 * default list). Unknown names are an error, not a silent fallback. */
int eng_pretok_init(eng_pretok *p, const char *pre, cc_err *err);
void eng_pretok_free(eng_pretok *p);

typedef struct eng_span {
    size_t start, len; /* in code points */
} eng_span;

/* Splits cp[0..n) into pieces; *out (owned by the caller) gets *n_out spans
 * in order, covering all of it. */
void eng_pretok_split(const eng_pretok *p, const uint32_t *cp, size_t n, eng_span **out,
                      size_t *n_out);

size_t eng_utf8_decode(const char *s, size_t n, uint32_t *cp);

#endif
