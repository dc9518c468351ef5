/* Internal: the vocabulary tables shared by vocab.c, tokenize.c and bpe.c. */
#ifndef COCOON_ENGINE_VOCAB_H
#define COCOON_ENGINE_VOCAB_H

#include "engine/engine_int.h"
#include "engine/pretok.h"

enum {
    ENGINE_TOKTYPE_NORMAL = 1,
    ENGINE_TOKTYPE_UNKNOWN = 2,
    ENGINE_TOKTYPE_CONTROL = 3,
    ENGINE_TOKTYPE_USER = 4,
    ENGINE_TOKTYPE_UNUSED = 5,
    ENGINE_TOKTYPE_BYTE = 6,
};

typedef struct eng_merge {
    const char *a, *b;
    size_t la, lb;
} eng_merge;

struct eng_vocab {
    engine_tok_kind kind;
    int n;
    const char **pieces; /* point into the GGUF mapping (not NUL-terminated) */
    uint32_t *lens;
    float *scores;
    int32_t *types;
    char *text; /* output text of every token, concatenated */
    uint32_t *text_off, *text_len;
    int32_t *ht; /* open addressing, id + 1, 0 = empty */
    size_t ht_cap;
    int32_t bos, eos, eot, unk;
    bool add_bos, add_space_prefix;
    bool *is_end;
    int32_t byte_tok[256]; /* SentencePiece byte fallback ids, -1 when absent */
    int32_t *special;      /* control, user-defined and unknown tokens with text, longest first */
    size_t n_special;
    eng_pretok pre;    /* byte-level BPE only */
    eng_merge *merges; /* rank = index */
    size_t n_merges;
    int32_t *merge_ht; /* rank + 1 */
    size_t merge_cap;
};

int32_t eng_vocab_lookup(const eng_vocab *v, const char *p, size_t n);
int32_t eng_merge_rank(const eng_vocab *v, const char *a, size_t na, const char *b, size_t nb);
/* Appends the BPE tokens of plain text (no special tokens inside). */
void eng_bpe_encode(const eng_vocab *v, const char *text, size_t len, engine_tokens *out);

#endif
