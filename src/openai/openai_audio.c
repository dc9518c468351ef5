/*
 * Speech to text (/v1/audio/transcriptions, /v1/audio/translations): the one
 * validator of their multipart bodies, and the WAV header reader that gives
 * the audio's duration for billing. The client checks with it before a
 * request enters the network and the worker reads the same verdict, so an
 * upload the client let through is billed by the rule the client expected.
 *
 * Billing rule (docs/payments.md): audio is billed per second, as tokens at
 * the worker's audio_tokens_per_second. A WAV file's duration is read here
 * from its header (data bytes / byte rate); the backend decodes every other
 * format, so its duration is the one the backend reports, which only the
 * verbose_json answer carries: other formats must ask for verbose_json.
 */
#include "openai/openai.h"

#include <math.h> /* isfinite: a macro, no libm */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define bad openai_error_param

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint16_t le16(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

static int wav_bad(char *why, size_t cap, const char *msg)
{
    snprintf(why, cap, "%s", msg);
    return -1;
}

int openai_wav_duration(const uint8_t *d, size_t n, double *seconds, char *why, size_t why_len)
{
    if (n < 12 || memcmp(d, "RIFF", 4) != 0 || memcmp(d + 8, "WAVE", 4) != 0) return 0;
    /* The RIFF size covers what follows its field; a writer that streamed
     * may leave it short or at the maximum, so it is only bounded by the file. */
    uint64_t riff_end = (uint64_t)le32(d + 4) + 8;
    if (riff_end < 12) return wav_bad(why, why_len, "WAV: the RIFF size is too small");
    size_t end = riff_end < n ? (size_t)riff_end : n;
    size_t pos = 12;
    uint32_t byte_rate = 0;
    bool have_fmt = false;
    while (pos + 8 <= end) {
        const uint8_t *ck = d + pos;
        uint64_t size = le32(ck + 4);
        uint64_t body = pos + 8;
        if (memcmp(ck, "fmt ", 4) == 0) {
            if (have_fmt) return wav_bad(why, why_len, "WAV: two fmt chunks");
            if (size < 16 || body + size > end)
                return wav_bad(why, why_len, "WAV: the fmt chunk is truncated");
            const uint8_t *f = d + body;
            uint16_t format = le16(f), channels = le16(f + 2), align = le16(f + 12),
                     bits = le16(f + 14);
            uint32_t rate = le32(f + 4);
            byte_rate = le32(f + 8);
            if (format != 1 && format != 3 && format != 0xFFFE)
                return wav_bad(why, why_len,
                               "WAV: only PCM, IEEE float or extensible formats can be billed");
            if (channels < 1 || channels > 64 || rate < 1 || rate > 768000 || bits < 8 ||
                bits > 64 || bits % 8 != 0)
                return wav_bad(why, why_len,
                               "WAV: channels, sample rate or bit depth out of range");
            if (align != (uint32_t)channels * bits / 8 || byte_rate != (uint64_t)rate * align)
                return wav_bad(why, why_len, "WAV: block align or byte rate inconsistent");
            have_fmt = true;
        } else if (memcmp(ck, "data", 4) == 0) {
            if (!have_fmt) return wav_bad(why, why_len, "WAV: the data chunk precedes fmt");
            if (body + size > n)
                return wav_bad(why, why_len, "WAV: the data chunk runs past the end of the file");
            *seconds = (double)size / (double)byte_rate;
            return 1;
        }
        pos = (size_t)CC_MIN(body + size + (size & 1), (uint64_t)SIZE_MAX);
    }
    return wav_bad(why, why_len, have_fmt ? "WAV: no data chunk" : "WAV: no fmt chunk");
}

static bool text_ok(const openai_form_part *p)
{
    return memchr(p->data, '\0', p->len) == NULL;
}

static const char *const formats[] = {"json", "text", "srt", "verbose_json", "vtt"};

static bool field_is(const openai_form_part *p, const char *s)
{
    return p->len == strlen(s) && memcmp(p->data, s, p->len) == 0;
}

/* A decimal number field (the form's fields are text). */
static int number(const openai_form_part *p, double min, double max, double *out, openai_error *e)
{
    char buf[40];
    if (p->len == 0 || p->len >= sizeof(buf))
        return bad(e, p->name, "'%s' must be a number in [%g, %g]", p->name, min, max);
    memcpy(buf, p->data, p->len);
    buf[p->len] = '\0';
    char *end;
    double v = strtod(buf, &end);
    if (*end || !isfinite(v) || v < min || v > max || buf[0] == ' ')
        return bad(e, p->name, "'%s' must be a number in [%g, %g]", p->name, min, max);
    *out = v;
    return 0;
}

int openai_audio_parse(openai_kind kind, const char *content_type, const uint8_t *body, size_t len,
                       openai_audio *out, openai_error *e)
{
    memset(out, 0, sizeof(*out));
    out->kind = kind;
    openai_form *f = cc_calloc(1, sizeof(*f));
    int rc = -1;
    if (openai_form_parse(content_type, body, len, f, e) < 0) goto done;
    const openai_form_part *file = NULL, *model = NULL;
    bool granular = false;
    for (size_t i = 0; i < f->n; i++) {
        const openai_form_part *p = &f->parts[i];
        bool repeatable =
            strcmp(p->name, "timestamp_granularities[]") == 0 || strcmp(p->name, "include[]") == 0;
        for (size_t k = 0; k < i && !repeatable; k++)
            if (strcmp(f->parts[k].name, p->name) == 0) {
                bad(e, p->name, "'%s' is given twice", p->name);
                goto done;
            }
        if (strcmp(p->name, "file") == 0) {
            file = p;
            continue;
        }
        if (p->has_filename) {
            bad(e, p->name, "'%s' must be a text field, not a file", p->name);
            goto done;
        }
        if (!text_ok(p) || p->len > 65536) {
            bad(e, p->name, "'%s' must be text of at most 65536 bytes", p->name);
            goto done;
        }
        if (strcmp(p->name, "model") == 0) {
            if (p->len == 0 || p->len >= sizeof(out->model)) {
                bad(e, "model", "'model' must be 1..256 bytes");
                goto done;
            }
            model = p;
        } else if (strcmp(p->name, "response_format") == 0) {
            size_t k = 0;
            while (k < CC_ARRAY_LEN(formats) && !field_is(p, formats[k]))
                k++;
            if (k == CC_ARRAY_LEN(formats)) {
                bad(e, "response_format",
                    "'response_format' must be one of json, text, srt, verbose_json, vtt");
                goto done;
            }
            out->format = (openai_audio_format)k;
        } else if (strcmp(p->name, "temperature") == 0) {
            if (number(p, 0, 1, &out->temperature, e) < 0) goto done;
        } else if (strcmp(p->name, "timestamp_granularities[]") == 0) {
            if (!field_is(p, "word") && !field_is(p, "segment")) {
                bad(e, p->name, "'timestamp_granularities[]' must be word or segment");
                goto done;
            }
            granular = true;
        } else if (strcmp(p->name, "language") == 0) {
            /* ISO-639-1 (vLLM and faster-whisper also take a few longer codes) */
            bool ok = p->len >= 2 && p->len <= 8;
            for (size_t k = 0; ok && k < p->len; k++)
                ok = (p->data[k] >= 'a' && p->data[k] <= 'z') || p->data[k] == '-';
            if (!ok) {
                bad(e, "language", "'language' must be an ISO-639-1 code such as 'en'");
                goto done;
            }
        } else if (strcmp(p->name, "prompt") == 0) {
            if (p->len > 8192) {
                bad(e, "prompt", "'prompt' must be at most 8192 bytes");
                goto done;
            }
        } else if (strcmp(p->name, "stream") == 0) {
            if (!field_is(p, "false")) {
                bad(e, "stream", "streamed transcriptions are not supported");
                goto done;
            }
        } /* other fields pass through: servers add their own */
    }
    if (!model) {
        bad(e, "model", "'model' is a required field");
        goto done;
    }
    if (!file) {
        bad(e, "file", "'file' is a required field (an audio file upload)");
        goto done;
    }
    if (!file->has_filename || !file->filename[0]) {
        bad(e, "file", "'file' must be a file upload with a filename");
        goto done;
    }
    if (file->len == 0 || file->len > OPENAI_AUDIO_MAX_BYTES) {
        bad(e, "file", "'file' must hold 1..%u bytes of audio", OPENAI_AUDIO_MAX_BYTES);
        goto done;
    }
    if (granular && out->format != OPENAI_AUDIO_VERBOSE_JSON) {
        bad(e, "timestamp_granularities[]",
            "'timestamp_granularities[]' needs response_format verbose_json");
        goto done;
    }
    char why[120];
    int w = openai_wav_duration(file->data, file->len, &out->seconds, why, sizeof(why));
    if (w < 0) {
        bad(e, "file", "'file' is not a valid WAV file: %s", why);
        goto done;
    }
    out->is_wav = w == 1;
    if (!out->is_wav && out->format != OPENAI_AUDIO_VERBOSE_JSON) {
        bad(e, "response_format",
            "audio other than WAV is billed on the duration the backend reports, so it needs "
            "response_format verbose_json");
        goto done;
    }
    memcpy(out->model, model->data, model->len);
    out->model[model->len] = '\0';
    out->file = file->data;
    out->file_len = file->len;
    rc = 0;
done:
    free(f);
    return rc;
}

int openai_parse_audio(openai_kind kind, const char *content_type, const uint8_t *body, size_t len,
                       openai_request *out, openai_error *e)
{
    memset(out, 0, sizeof(*out));
    out->kind = kind;
    out->temperature = 1;
    out->top_p = 1;
    out->repetition_penalty = 1;
    out->n = 1;
    out->best_of = 1;
    out->max_coefficient = -1;
    openai_audio a;
    if (openai_audio_parse(kind, content_type, body, len, &a, e) < 0) return -1;
    out->temperature = a.temperature;
    out->body = json_pack("{s:s}", "model", a.model);
    if (!out->body) /* jansson refuses a model name that is not UTF-8 */
        return bad(e, "model", "'model' must be UTF-8 text");
    out->model = json_string_value(json_object_get(out->body, "model"));
    return 0;
}

int64_t openai_audio_tokens(double seconds, int64_t tokens_per_second)
{
    if (!(seconds > 0) || tokens_per_second <= 0) return 0;
    double x = seconds * (double)tokens_per_second;
    if (!(x < (double)INT32_MAX)) return INT32_MAX;
    int64_t t = (int64_t)x; /* ceil without libm */
    if ((double)t < x) t++;
    return t < 1 ? 1 : t;
}
