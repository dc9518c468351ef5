/*
 * Streaming detokenizer with stop strings. Text is released only when it
 * can no longer be part of a stop string and does not end in the middle of
 * a UTF-8 character (byte-fallback tokens deliver characters a byte at a
 * time), so what was streamed never has to be taken back.
 */
#include <stdlib.h>
#include <string.h>

#include "engine/engine_int.h"

struct engine_detok {
    const engine_model *m;
    char **stops;
    size_t n_stops;
    cc_buf pending;
};

engine_detok *engine_detok_new(const engine_model *m, const char *const *stops, size_t n_stops)
{
    engine_detok *d = cc_calloc(1, sizeof(*d));
    d->m = m;
    d->stops = cc_calloc(n_stops ? n_stops : 1, sizeof(char *));
    for (size_t i = 0; i < n_stops; i++)
        if (stops[i] && stops[i][0]) d->stops[d->n_stops++] = cc_strdup(stops[i]);
    return d;
}

void engine_detok_free(engine_detok *d)
{
    if (!d) return;
    for (size_t i = 0; i < d->n_stops; i++)
        free(d->stops[i]);
    free(d->stops);
    cc_buf_free(&d->pending);
    free(d);
}

/* Bytes at the end of p that start an incomplete UTF-8 character. */
static size_t utf8_incomplete_tail(const uint8_t *p, size_t n)
{
    for (size_t back = 1; back <= 3 && back <= n; back++) {
        uint8_t c = p[n - back];
        if ((c & 0xC0) == 0x80) continue; /* continuation byte: keep looking for the lead */
        size_t need = (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 1;
        return need > back ? back : 0;
    }
    return 0;
}

bool engine_detok_push(engine_detok *d, int32_t id, int32_t prev_id, cc_buf *out)
{
    size_t len;
    const char *t = engine_token_text(d->m, id, &len);
    /* SentencePiece drops the dummy space of the first word after BOS. */
    if (engine_model_tok_kind(d->m) == ENGINE_TOK_SPM && prev_id >= 0 &&
        prev_id == engine_model_bos(d->m) && len && t[0] == ' ') {
        t++;
        len--;
    }
    if (len) cc_buf_append(&d->pending, t, len);
    const char *p = (const char *)d->pending.data;
    size_t n = d->pending.len;
    /* A stop string anywhere in the pending text ends generation. */
    size_t cut = SIZE_MAX;
    for (size_t i = 0; i < d->n_stops; i++) {
        const char *hit = n ? memmem(p, n, d->stops[i], strlen(d->stops[i])) : NULL;
        if (hit && (size_t)(hit - p) < cut) cut = (size_t)(hit - p);
    }
    if (cut != SIZE_MAX) {
        if (cut) cc_buf_append(out, p, cut);
        cc_buf_reset(&d->pending);
        return true;
    }
    /* Hold back the longest suffix that is a prefix of some stop string. */
    size_t hold = 0;
    for (size_t i = 0; i < d->n_stops; i++) {
        size_t sl = strlen(d->stops[i]);
        for (size_t k = CC_MIN(sl - 1, n); k > hold; k--)
            if (!memcmp(p + n - k, d->stops[i], k)) {
                hold = k;
                break;
            }
    }
    size_t inc = utf8_incomplete_tail(d->pending.data, n);
    hold = CC_MAX(hold, inc);
    if (n > hold) {
        cc_buf_append(out, p, n - hold);
        cc_buf_consume(&d->pending, n - hold);
    }
    return false;
}

void engine_detok_flush(engine_detok *d, cc_buf *out)
{
    if (d->pending.len) cc_buf_append(out, d->pending.data, d->pending.len);
    cc_buf_reset(&d->pending);
}
