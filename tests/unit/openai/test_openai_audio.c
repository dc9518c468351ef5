/* Speech to text: the multipart parser, the WAV header reader and the
 * validator of /v1/audio/{transcriptions,translations}. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "openai/openai.h"

#define CT "multipart/form-data; boundary=XyZ"

/* A canonical 16-bit PCM WAV header for `samples` mono samples at `rate`,
 * followed by the samples (silence). */
static size_t make_wav(uint8_t *out, uint32_t rate, uint32_t samples)
{
    uint32_t data = samples * 2;
    uint8_t h[44] = {'R', 'I', 'F', 'F', 0,  0, 0,   0,   'W', 'A', 'V', 'E', 'f', 'm', 't',
                     ' ', 16,  0,   0,   0,  1, 0,   1,   0,   0,   0,   0,   0,   0,   0,
                     0,   0,   2,   0,   16, 0, 'd', 'a', 't', 'a', 0,   0,   0,   0};
    uint32_t riff = 36 + data, br = rate * 2;
    memcpy(h + 4, &riff, 4); /* the tests run on little-endian machines only */
    memcpy(h + 24, &rate, 4);
    memcpy(h + 28, &br, 4);
    memcpy(h + 40, &data, 4);
    memcpy(out, h, 44);
    memset(out + 44, 0, data);
    return 44 + data;
}

typedef struct body {
    uint8_t *d;
    size_t n;
} body;

static void add(body *b, const void *p, size_t n)
{
    b->d = realloc(b->d, b->n + n);
    memcpy(b->d + b->n, p, n);
    b->n += n;
}

static void add_s(body *b, const char *s)
{
    add(b, s, strlen(s));
}

static void field(body *b, const char *name, const char *value)
{
    char h[300];
    snprintf(h, sizeof(h), "--XyZ\r\nContent-Disposition: form-data; name=\"%s\"\r\n\r\n", name);
    add_s(b, h);
    add_s(b, value);
    add_s(b, "\r\n");
}

static void file(body *b, const uint8_t *d, size_t n, const char *filename)
{
    char h[300];
    snprintf(h, sizeof(h),
             "--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"%s\"\r\n"
             "Content-Type: audio/wav\r\n\r\n",
             filename);
    add_s(b, h);
    add(b, d, n);
    add_s(b, "\r\n");
}

static void close_body(body *b)
{
    add_s(b, "--XyZ--\r\n");
}

static uint8_t wav[44 + 32000 * 2];

static void test_wav_duration(void **state)
{
    (void)state;
    size_t n = make_wav(wav, 16000, 24000);
    double s = 0;
    char why[100];
    assert_int_equal(openai_wav_duration(wav, n, &s, why, sizeof(why)), 1);
    assert_true(s > 1.4999 && s < 1.5001);
    /* not RIFF at all: another format */
    assert_int_equal(openai_wav_duration((const uint8_t *)"ID3\x04....", 10, &s, why, sizeof(why)),
                     0);
    /* a data chunk that claims more than the file */
    uint8_t bad[44 + 100];
    make_wav(bad, 16000, 50);
    uint32_t big = 1000;
    memcpy(bad + 40, &big, 4);
    assert_int_equal(openai_wav_duration(bad, sizeof(bad), &s, why, sizeof(why)), -1);
    assert_non_null(strstr(why, "past the end"));
    /* an inconsistent byte rate */
    make_wav(bad, 16000, 50);
    uint32_t br = 12345;
    memcpy(bad + 28, &br, 4);
    assert_int_equal(openai_wav_duration(bad, sizeof(bad), &s, why, sizeof(why)), -1);
    assert_non_null(strstr(why, "byte rate"));
    /* a compressed format cannot be billed from the header */
    make_wav(bad, 16000, 50);
    bad[20] = 0x55; /* MP3 in WAV */
    assert_int_equal(openai_wav_duration(bad, sizeof(bad), &s, why, sizeof(why)), -1);
    /* truncated inside the header */
    assert_int_equal(openai_wav_duration(wav, 30, &s, why, sizeof(why)), -1);
    /* an extra chunk (odd-sized, padded) before data is skipped */
    uint8_t ext[44 + 10 + 40];
    make_wav(ext, 8000, 20);
    memmove(ext + 36 + 10, ext + 36, 8 + 40);
    memcpy(ext + 36, "LIST\x01\x00\x00\x00x\x00", 10);
    assert_int_equal(openai_wav_duration(ext, sizeof(ext), &s, why, sizeof(why)), 1);
    assert_true(s > 0.00249 && s < 0.00251); /* 40 bytes at 16000 bytes a second */
}

static void test_form_parse(void **state)
{
    (void)state;
    body b = {0};
    field(&b, "model", "whisper");
    field(&b, "prompt", "hello\r\n--XyZ is not a boundary here? it is");
    close_body(&b);
    openai_form f;
    openai_error e;
    /* the prompt above holds CRLF--XyZ, which ends the part early: the rest
     * is then not a valid delimiter line */
    assert_int_equal(openai_form_parse(CT, b.d, b.n, &f, &e), -1);
    assert_string_equal(e.code, "invalid_multipart");
    free(b.d);
    b = (body){0};
    field(&b, "model", "whisper");
    field(&b, "empty", "");
    close_body(&b);
    assert_int_equal(openai_form_parse(CT, b.d, b.n, &f, &e), 0);
    assert_int_equal(f.n, 2);
    assert_string_equal(f.parts[0].name, "model");
    assert_int_equal(f.parts[0].len, 7);
    assert_memory_equal(f.parts[0].data, "whisper", 7);
    assert_int_equal(f.parts[1].len, 0);
    /* quoted boundary, other parameters, case-insensitive media type */
    assert_int_equal(
        openai_form_parse("Multipart/Form-Data; charset=utf-8; boundary=\"XyZ\"", b.d, b.n, &f, &e),
        0);
    /* without the final CRLF too */
    assert_int_equal(openai_form_parse(CT, b.d, b.n - 2, &f, &e), 0);
    /* refusals, each with a message */
    static const char *const bad_ct[] = {
        NULL,
        "application/json",
        "multipart/form-data",
        "multipart/form-data; boundary=",
        "multipart/form-data; boundary=\"a\"; boundary=b",
        "multipart/form-data; boundary=\"unterminated",
        "multipart/form-data; "
        "boundary=01234567890123456789012345678901234567890123456789012345678901"
        "234567890"};
    for (size_t i = 0; i < sizeof(bad_ct) / sizeof(bad_ct[0]); i++) {
        assert_int_equal(openai_form_parse(bad_ct[i], b.d, b.n, &f, &e), -1);
        assert_int_equal(e.status, 400);
        assert_true(strlen(e.message) > 10);
    }
    /* wrong boundary, trailing garbage, truncation */
    assert_int_equal(openai_form_parse("multipart/form-data; boundary=XyW", b.d, b.n, &f, &e), -1);
    add_s(&b, "junk");
    assert_int_equal(openai_form_parse(CT, b.d, b.n, &f, &e), -1);
    assert_non_null(strstr(e.message, "follow the closing"));
    for (size_t cut = 0; cut + 4 < b.n - 4; cut++)
        assert_int_equal(openai_form_parse(CT, b.d, cut, &f, &e), -1);
    free(b.d);
    /* a part without Content-Disposition, or with LF-only lines */
    const char *nodisp = "--XyZ\r\nContent-Type: text/plain\r\n\r\nx\r\n--XyZ--\r\n";
    assert_int_equal(openai_form_parse(CT, (const uint8_t *)nodisp, strlen(nodisp), &f, &e), -1);
    assert_non_null(strstr(e.message, "Content-Disposition"));
    const char *lf = "--XyZ\nContent-Disposition: form-data; name=\"a\"\n\nx\n--XyZ--\n";
    assert_int_equal(openai_form_parse(CT, (const uint8_t *)lf, strlen(lf), &f, &e), -1);
    const char *noname = "--XyZ\r\nContent-Disposition: form-data; filename=\"a\"\r\n\r\nx\r\n"
                         "--XyZ--\r\n";
    assert_int_equal(openai_form_parse(CT, (const uint8_t *)noname, strlen(noname), &f, &e), -1);
    const char *esc = "--XyZ\r\nContent-Disposition: form-data; name=\"a\\\"b\"; "
                      "filename=\"c;d.wav\"\r\n\r\nx\r\n--XyZ--\r\n";
    assert_int_equal(openai_form_parse(CT, (const uint8_t *)esc, strlen(esc), &f, &e), 0);
    assert_string_equal(f.parts[0].name, "a\"b");
    assert_true(f.parts[0].has_filename);
    assert_string_equal(f.parts[0].filename, "c;d.wav");
    /* too many parts */
    b = (body){0};
    for (int i = 0; i <= OPENAI_FORM_MAX_PARTS; i++)
        field(&b, "x", "1");
    close_body(&b);
    assert_int_equal(openai_form_parse(CT, b.d, b.n, &f, &e), -1);
    assert_non_null(strstr(e.message, "more than"));
    free(b.d);
}

/* A transcription body with a WAV and the given extra fields (name, value pairs). */
static body audio_body(const char *const *kv, size_t n_kv)
{
    body b = {0};
    size_t n = make_wav(wav, 16000, 16000);
    field(&b, "model", "whisper");
    for (size_t i = 0; i + 1 < n_kv; i += 2)
        field(&b, kv[i], kv[i + 1]);
    file(&b, wav, n, "hello.wav");
    close_body(&b);
    return b;
}

static void expect_refused(const char *const *kv, size_t n_kv, const char *param)
{
    body b = audio_body(kv, n_kv);
    openai_audio a;
    openai_error e;
    assert_int_equal(openai_audio_parse(OPENAI_TRANSCRIPTION, CT, b.d, b.n, &a, &e), -1);
    assert_int_equal(e.status, 400);
    assert_string_equal(e.param, param);
    free(b.d);
}

static void test_audio_validator(void **state)
{
    (void)state;
    static const char *const all[] = {"language",
                                      "en",
                                      "prompt",
                                      "hello cocoon",
                                      "response_format",
                                      "verbose_json",
                                      "temperature",
                                      "0.2",
                                      "timestamp_granularities[]",
                                      "word",
                                      "timestamp_granularities[]",
                                      "segment",
                                      "x_extension",
                                      "passed through"};
    body b = audio_body(all, 14);
    openai_audio a;
    openai_error e;
    assert_int_equal(openai_audio_parse(OPENAI_TRANSCRIPTION, CT, b.d, b.n, &a, &e), 0);
    assert_string_equal(a.model, "whisper");
    assert_int_equal(a.format, OPENAI_AUDIO_VERBOSE_JSON);
    assert_true(a.is_wav);
    assert_true(a.seconds > 0.999 && a.seconds < 1.001);
    assert_true(a.temperature > 0.19 && a.temperature < 0.21);
    assert_int_equal(a.file_len, 44 + 32000);
    openai_request r;
    assert_int_equal(openai_parse_audio(OPENAI_TRANSCRIPTION, CT, b.d, b.n, &r, &e), 0);
    assert_string_equal(r.model, "whisper");
    assert_false(r.stream);
    assert_int_equal(r.max_coefficient, -1);
    openai_request_clear(&r);
    free(b.d);

    static const char *const fmt[] = {"response_format", "mp3"};
    expect_refused(fmt, 2, "response_format");
    static const char *const temp[] = {"temperature", "1.5"};
    expect_refused(temp, 2, "temperature");
    static const char *const temp2[] = {"temperature", "0.5x"};
    expect_refused(temp2, 2, "temperature");
    static const char *const gran[] = {"timestamp_granularities[]", "word"};
    expect_refused(gran, 2, "timestamp_granularities[]"); /* needs verbose_json */
    static const char *const lang[] = {"language", "English"};
    expect_refused(lang, 2, "language");
    static const char *const twice[] = {"model", "again"};
    expect_refused(twice, 2, "model");
    static const char *const stream[] = {"stream", "true"};
    expect_refused(stream, 2, "stream");

    /* no file, no model, an empty file, a file that is not WAV without verbose_json */
    b = (body){0};
    field(&b, "model", "whisper");
    close_body(&b);
    assert_int_equal(openai_audio_parse(OPENAI_TRANSLATION, CT, b.d, b.n, &a, &e), -1);
    assert_string_equal(e.param, "file");
    free(b.d);
    b = (body){0};
    file(&b, wav, 100, "a.wav");
    close_body(&b);
    assert_int_equal(openai_audio_parse(OPENAI_TRANSLATION, CT, b.d, b.n, &a, &e), -1);
    assert_string_equal(e.param, "model");
    free(b.d);
    b = (body){0};
    field(&b, "model", "whisper");
    file(&b, (const uint8_t *)"ID3\x04 mp3 bytes", 14, "a.mp3");
    close_body(&b);
    assert_int_equal(openai_audio_parse(OPENAI_TRANSCRIPTION, CT, b.d, b.n, &a, &e), -1);
    assert_string_equal(e.param, "response_format");
    assert_non_null(strstr(e.message, "verbose_json"));
    free(b.d);
    b = (body){0};
    field(&b, "model", "whisper");
    field(&b, "response_format", "verbose_json");
    file(&b, (const uint8_t *)"ID3\x04 mp3 bytes", 14, "a.mp3");
    close_body(&b);
    assert_int_equal(openai_audio_parse(OPENAI_TRANSCRIPTION, CT, b.d, b.n, &a, &e), 0);
    assert_false(a.is_wav);
    free(b.d);
    /* a broken WAV is refused, not billed as "other audio" */
    b = (body){0};
    field(&b, "model", "whisper");
    field(&b, "response_format", "verbose_json");
    file(&b, wav, 30, "a.wav");
    close_body(&b);
    assert_int_equal(openai_audio_parse(OPENAI_TRANSCRIPTION, CT, b.d, b.n, &a, &e), -1);
    assert_string_equal(e.param, "file");
    free(b.d);
    /* the file given as a text field */
    b = (body){0};
    field(&b, "model", "whisper");
    field(&b, "file", "not a file");
    close_body(&b);
    assert_int_equal(openai_audio_parse(OPENAI_TRANSCRIPTION, CT, b.d, b.n, &a, &e), -1);
    assert_string_equal(e.param, "file");
    free(b.d);
}

static void test_audio_tokens(void **state)
{
    (void)state;
    assert_int_equal(openai_audio_tokens(1.5, 10), 15);
    assert_int_equal(openai_audio_tokens(1.51, 10), 16);
    assert_int_equal(openai_audio_tokens(0.001, 10), 1);
    assert_int_equal(openai_audio_tokens(0, 10), 0);
    assert_int_equal(openai_audio_tokens(3, 0), 0);
    assert_int_equal(openai_audio_tokens(1e12, 1000000), INT32_MAX);
}

static void test_paths(void **state)
{
    (void)state;
    assert_int_equal(openai_kind_for_path("/v1/audio/transcriptions"), OPENAI_TRANSCRIPTION);
    assert_int_equal(openai_kind_for_path("/v1/audio/translations"), OPENAI_TRANSLATION);
    assert_int_equal(openai_kind_for_path("/v1/audio/speech"), 0);
    assert_true(openai_kind_is_audio(OPENAI_TRANSLATION));
    assert_false(openai_kind_is_audio(OPENAI_EMBEDDING));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wav_duration),    cmocka_unit_test(test_form_parse),
        cmocka_unit_test(test_audio_validator), cmocka_unit_test(test_audio_tokens),
        cmocka_unit_test(test_paths),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
