/* HPKE against every base-mode vector of RFC 9180 for our two suites
 * (Appendix B.1.1 and B.2.1), and the failures a sealed stream must show. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdint.h>
#include <string.h>

#include "crypto/crypto.h"

typedef struct {
    int seq;
    const char *aad, *nonce, *ct;
} enc_vector;

typedef struct {
    const char *exporter_context, *value;
} export_vector;

typedef struct {
    crypto_hpke_aead aead;
    const char *info, *ikmE, *pkEm, *skEm, *ikmR, *pkRm, *skRm, *enc;
    const char *key, *base_nonce, *exporter_secret;
    enc_vector encs[6];
    export_vector exports[3];
} suite_vector;

static const char PT[] = "4265617574792069732074727574682c20747275746820626561757479";

static const suite_vector vectors[] = {
    {
        .aead = CRYPTO_HPKE_AES128GCM,
        .info = "4f6465206f6e2061204772656369616e2055726e",
        .ikmE = "7268600d403fce431561aef583ee1613527cff655c1343f29812e66706df3234",
        .pkEm = "37fda3567bdbd628e88668c3c8d7e97d1d1253b6d4ea6d44c150f741f1bf4431",
        .skEm = "52c4a758a802cd8b936eceea314432798d5baf2d7e9235dc084ab1b9cfa2f736",
        .ikmR = "6db9df30aa07dd42ee5e8181afdb977e538f5e1fec8a06223f33f7013e525037",
        .pkRm = "3948cfe0ad1ddb695d780e59077195da6c56506b027329794ab02bca80815c4d",
        .skRm = "4612c550263fc8ad58375df3f557aac531d26850903e55a9f23f21d8534e8ac8",
        .enc = "37fda3567bdbd628e88668c3c8d7e97d1d1253b6d4ea6d44c150f741f1bf4431",
        .key = "4531685d41d65f03dc48f6b8302c05b0",
        .base_nonce = "56d890e5accaaf011cff4b7d",
        .exporter_secret = "45ff1c2e220db587171952c0592d5f5ebe103f1561a2614e38f2ffd47e99e3f8",
        .encs =
            {
                {0, "436f756e742d30", "56d890e5accaaf011cff4b7d",
                 "f938558b5d72f1a23810b4be2ab4f84331acc02fc97babc53a52ae8218a355a96d8770ac83d07bea8"
                 "7e13c512a"},
                {1, "436f756e742d31", "56d890e5accaaf011cff4b7c",
                 "af2d7e9ac9ae7e270f46ba1f975be53c09f8d875bdc8535458c2494e8a6eab251c03d0c22a56b8ca4"
                 "2c2063b84"},
                {2, "436f756e742d32", "56d890e5accaaf011cff4b7f",
                 "498dfcabd92e8acedc281e85af1cb4e3e31c7dc394a1ca20e173cb72516491588d96a19ad4a683518"
                 "973dcc180"},
                {4, "436f756e742d34", "56d890e5accaaf011cff4b79",
                 "583bd32bc67a5994bb8ceaca813d369bca7b2a42408cddef5e22f880b631215a09fc0012bc69fccaa"
                 "251c0246d"},
                {255, "436f756e742d323535", "56d890e5accaaf011cff4b82",
                 "7175db9717964058640a3a11fb9007941a5d1757fda1a6935c805c21af32505bf106deefec4a49ac3"
                 "8d71c9e0a"},
                {256, "436f756e742d323536", "56d890e5accaaf011cff4a7d",
                 "957f9800542b0b8891badb026d79cc54597cb2d225b54c00c5238c25d05c30e3fbeda97d2e0e1aba4"
                 "83a2df9f2"},
            },
        .exports =
            {
                {"", "3853fe2b4035195a573ffc53856e77058e15d9ea064de3e59f4961d0095250ee"},
                {"00", "2e8f0b54673c7029649d4eb9d5e33bf1872cf76d623ff164ac185da9e88c21a5"},
                {"54657374436f6e74657874",
                 "e9e43065102c3836401bed8c3c3c75ae46be1639869391d62c61f1ec7af54931"},
            },
    },
    {
        .aead = CRYPTO_HPKE_CHACHA20POLY1305,
        .info = "4f6465206f6e2061204772656369616e2055726e",
        .ikmE = "909a9b35d3dc4713a5e72a4da274b55d3d3821a37e5d099e74a647db583a904b",
        .pkEm = "1afa08d3dec047a643885163f1180476fa7ddb54c6a8029ea33f95796bf2ac4a",
        .skEm = "f4ec9b33b792c372c1d2c2063507b684ef925b8c75a42dbcbf57d63ccd381600",
        .ikmR = "1ac01f181fdf9f352797655161c58b75c656a6cc2716dcb66372da835542e1df",
        .pkRm = "4310ee97d88cc1f088a5576c77ab0cf5c3ac797f3d95139c6c84b5429c59662a",
        .skRm = "8057991eef8f1f1af18f4a9491d16a1ce333f695d4db8e38da75975c4478e0fb",
        .enc = "1afa08d3dec047a643885163f1180476fa7ddb54c6a8029ea33f95796bf2ac4a",
        .key = "ad2744de8e17f4ebba575b3f5f5a8fa1f69c2a07f6e7500bc60ca6e3e3ec1c91",
        .base_nonce = "5c4d98150661b848853b547f",
        .exporter_secret = "a3b010d4994890e2c6968a36f64470d3c824c8f5029942feb11e7a74b2921922",
        .encs =
            {
                {0, "436f756e742d30", "5c4d98150661b848853b547f",
                 "1c5250d8034ec2b784ba2cfd69dbdb8af406cfe3ff938e131f0def8c8b60b4db21993c62ce81883d2"
                 "dd1b51a28"},
                {1, "436f756e742d31", "5c4d98150661b848853b547e",
                 "6b53c051e4199c518de79594e1c4ab18b96f081549d45ce015be002090bb119e85285337cc95ba5f5"
                 "9992dc98c"},
                {2, "436f756e742d32", "5c4d98150661b848853b547d",
                 "71146bd6795ccc9c49ce25dda112a48f202ad220559502cef1f34271e0cb4b02b4f10ecac6f48c32f"
                 "878fae86b"},
                {4, "436f756e742d34", "5c4d98150661b848853b547b",
                 "63357a2aa291f5a4e5f27db6baa2af8cf77427c7c1a909e0b37214dd47db122bb153495ff0b02e9e5"
                 "4a50dbe16"},
                {255, "436f756e742d323535", "5c4d98150661b848853b5480",
                 "18ab939d63ddec9f6ac2b60d61d36a7375d2070c9b683861110757062c52b8880a5f6b3936da9cd6c"
                 "23ef2a95c"},
                {256, "436f756e742d323536", "5c4d98150661b848853b557f",
                 "7a4a13e9ef23978e2c520fd4d2e757514ae160cd0cd05e556ef692370ca53076214c0c40d4c728d6e"
                 "d9e727a5b"},
            },
        .exports =
            {
                {"", "4bbd6243b8bb54cec311fac9df81841b6fd61f56538a775e7c80a9f40160606e"},
                {"00", "8c1df14732580e5501b00f82b10a1647b40713191b7c1240ac80e2b68808ba69"},
                {"54657374436f6e74657874",
                 "5acb09211139c43b3090489a9da433e8a30ee7188ba8b0a9a1ccf0c229283e53"},
            },
    },
};

static size_t unhex(const char *hex, uint8_t *out, size_t cap)
{
    size_t n = strlen(hex) / 2;
    assert_true(n <= cap);
    assert_int_equal(cc_hex_decode(hex, out, n, NULL), 0);
    return n;
}

static void assert_hex(const uint8_t *got, size_t n, const char *want)
{
    uint8_t w[256];
    assert_int_equal(unhex(want, w, sizeof(w)), n);
    assert_memory_equal(got, w, n);
}

static void run_vector(const suite_vector *v)
{
    uint8_t ikm[64], info[64], sk[32], pk[32], pkR[32], skR[32], enc[32], pt[64], aad[32];
    size_t ikm_len, info_len = unhex(v->info, info, sizeof(info));
    size_t pt_len = unhex(PT, pt, sizeof(pt));

    ikm_len = unhex(v->ikmE, ikm, sizeof(ikm));
    assert_int_equal(crypto_hpke_derive_keypair(ikm, ikm_len, sk, pk, NULL), 0);
    assert_hex(sk, 32, v->skEm);
    assert_hex(pk, 32, v->pkEm);
    uint8_t ikmR[64];
    size_t ikmR_len = unhex(v->ikmR, ikmR, sizeof(ikmR));
    assert_int_equal(crypto_hpke_derive_keypair(ikmR, ikmR_len, skR, pkR, NULL), 0);
    assert_hex(skR, 32, v->skRm);
    assert_hex(pkR, 32, v->pkRm);

    crypto_hpke_ctx s, r;
    assert_int_equal(
        crypto_hpke_setup_sender(v->aead, pkR, info, info_len, ikm, ikm_len, enc, &s, NULL), 0);
    assert_hex(enc, 32, v->enc);
    size_t nk = v->aead == CRYPTO_HPKE_AES128GCM ? 16 : 32;
    assert_hex(s.key, nk, v->key);
    assert_hex(s.base_nonce, 12, v->base_nonce);
    assert_hex(s.exporter_secret, 32, v->exporter_secret);
    assert_int_equal(crypto_hpke_setup_receiver(v->aead, enc, skR, info, info_len, &r, NULL), 0);
    assert_memory_equal(r.key, s.key, sizeof(s.key));

    /* Seal and open in order; compare the sequence numbers the RFC lists. */
    size_t k = 0;
    for (int seq = 0; seq <= 256; seq++) {
        uint8_t ct[128], back[64];
        size_t aad_len;
        if (k < 6 && v->encs[k].seq == seq) {
            aad_len = unhex(v->encs[k].aad, aad, sizeof(aad));
        } else {
            aad_len = 3;
            memcpy(aad, "any", 3);
        }
        assert_int_equal(crypto_hpke_seal(&s, aad, aad_len, pt, pt_len, ct, NULL), 0);
        if (k < 6 && v->encs[k].seq == seq) {
            assert_hex(ct, pt_len + 16, v->encs[k].ct);
            k++;
        }
        assert_int_equal(crypto_hpke_open(&r, aad, aad_len, ct, pt_len + 16, back, NULL), 0);
        assert_memory_equal(back, pt, pt_len);
    }
    assert_int_equal(k, 6);

    for (int i = 0; i < 3; i++) {
        uint8_t ectx[32], out[32];
        size_t n = unhex(v->exports[i].exporter_context, ectx, sizeof(ectx));
        assert_int_equal(crypto_hpke_export(&s, ectx, n, out, 32, NULL), 0);
        assert_hex(out, 32, v->exports[i].value);
        assert_int_equal(crypto_hpke_export(&r, ectx, n, out, 32, NULL), 0);
        assert_hex(out, 32, v->exports[i].value);
    }
    crypto_hpke_clear(&s);
    crypto_hpke_clear(&r);
}

static void test_rfc9180_aes128gcm(void **state)
{
    (void)state;
    run_vector(&vectors[0]);
}

static void test_rfc9180_chacha20poly1305(void **state)
{
    (void)state;
    run_vector(&vectors[1]);
}

/* A sealed stream: tampered, reordered, dropped and replayed messages fail. */
static void test_stream_failures(void **state)
{
    (void)state;
    uint8_t skR[32], pkR[32], enc[32];
    assert_int_equal(crypto_x25519_keygen(skR, pkR), 0);
    crypto_hpke_ctx s, r;
    assert_int_equal(crypto_hpke_setup_sender(CRYPTO_HPKE_CHACHA20POLY1305, pkR,
                                              (const uint8_t *)"req", 3, NULL, 0, enc, &s, NULL),
                     0);
    uint8_t c[3][21], out[5];
    const char *msgs[3] = {"part0", "part1", "part2"};
    for (int i = 0; i < 3; i++)
        assert_int_equal(crypto_hpke_seal(&s, NULL, 0, msgs[i], 5, c[i], NULL), 0);

    /* Another info (another request) cannot open them. */
    assert_int_equal(crypto_hpke_setup_receiver(CRYPTO_HPKE_CHACHA20POLY1305, enc, skR,
                                                (const uint8_t *)"other", 5, &r, NULL),
                     0);
    assert_int_equal(crypto_hpke_open(&r, NULL, 0, c[0], 21, out, NULL), -1);

    cc_err err;
    assert_int_equal(crypto_hpke_setup_receiver(CRYPTO_HPKE_CHACHA20POLY1305, enc, skR,
                                                (const uint8_t *)"req", 3, &r, NULL),
                     0);
    /* Reordered: part 1 first fails, and the failure does not advance the counter. */
    assert_int_equal(crypto_hpke_open(&r, NULL, 0, c[1], 21, out, &err), -1);
    assert_int_equal(r.seq, 0);
    /* Tampered. */
    c[0][2] ^= 1;
    assert_int_equal(crypto_hpke_open(&r, NULL, 0, c[0], 21, out, NULL), -1);
    c[0][2] ^= 1;
    /* A wrong aad. */
    assert_int_equal(crypto_hpke_open(&r, "x", 1, c[0], 21, out, NULL), -1);
    /* Truncated below the tag. */
    assert_int_equal(crypto_hpke_open(&r, NULL, 0, c[0], 15, out, NULL), -1);
    assert_int_equal(crypto_hpke_open(&r, NULL, 0, c[0], 21, out, NULL), 0);
    assert_memory_equal(out, "part0", 5);
    /* Replayed. */
    assert_int_equal(crypto_hpke_open(&r, NULL, 0, c[0], 21, out, NULL), -1);
    /* Dropped part 1: part 2 does not open in its place. */
    assert_int_equal(crypto_hpke_open(&r, NULL, 0, c[2], 21, out, NULL), -1);
    assert_int_equal(crypto_hpke_open(&r, NULL, 0, c[1], 21, out, NULL), 0);
    assert_int_equal(crypto_hpke_open(&r, NULL, 0, c[2], 21, out, NULL), 0);
    assert_memory_equal(out, "part2", 5);

    /* A low-order public key (all zeros) is refused instead of giving a known secret. */
    uint8_t zero[32] = {0};
    assert_int_equal(
        crypto_hpke_setup_sender(CRYPTO_HPKE_AES128GCM, zero, NULL, 0, NULL, 0, enc, &s, &err), -1);
    assert_int_equal(
        crypto_hpke_setup_receiver(CRYPTO_HPKE_AES128GCM, zero, skR, NULL, 0, &r, &err), -1);
    /* An unknown AEAD id is refused. */
    assert_int_equal(
        crypto_hpke_setup_sender((crypto_hpke_aead)2, pkR, NULL, 0, NULL, 0, enc, &s, &err), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc9180_aes128gcm),
        cmocka_unit_test(test_rfc9180_chacha20poly1305),
        cmocka_unit_test(test_stream_failures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
