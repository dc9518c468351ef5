/*
 * The speech-to-text validator over outside input: the first byte picks the
 * Content-Type (boundary) variant, the rest is the body. Properties: never
 * crashes or reads out of bounds; an accepted request's file lies inside the
 * body, its duration is finite and non-negative; every refusal is a 400 with
 * a message; parsing is deterministic.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "openai/openai.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const cts[] = {"multipart/form-data; boundary=XyZ",
                                      "multipart/form-data; boundary=\"a b\"",
                                      "multipart/form-data; boundary=-", "text/plain"};
    if (size < 1) return 0;
    const char *ct = cts[data[0] % 4];
    /* a copy of exactly the body, so reads past it are caught */
    uint8_t *body = malloc(size - 1 ? size - 1 : 1);
    memcpy(body, data + 1, size - 1);
    openai_audio a, b;
    openai_error e;
    int rc = openai_audio_parse(OPENAI_TRANSCRIPTION, ct, body, size - 1, &a, &e);
    if (rc == 0) {
        if (a.file < body || a.file + a.file_len > body + size - 1 || !a.model[0]) abort();
        if (a.is_wav && !(isfinite(a.seconds) && a.seconds >= 0)) abort();
    } else if (e.status != 400 || !e.message[0]) {
        abort();
    }
    if (openai_audio_parse(OPENAI_TRANSCRIPTION, ct, body, size - 1, &b, &e) != rc) abort();
    double s;
    char why[100];
    int w = openai_wav_duration(body, size - 1, &s, why, sizeof(why));
    if (w == 1 && !(isfinite(s) && s >= 0)) abort();
    if (w < 0 && !why[0]) abort();
    free(body);
    return 0;
}
