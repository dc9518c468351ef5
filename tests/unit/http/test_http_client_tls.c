/*
 * The outbound client over https: a certificate made at run time for the
 * name "localhost" only, served by a blocking TLS server on a thread. The
 * client trusts the system CA store, which OpenSSL lets SSL_CERT_FILE point
 * elsewhere, so the test trusts its own certificate without a test hook.
 * Checked: a trusted certificate for the URL's name works (and SNI carries
 * the name); the same certificate for another host (an IP) is refused; an
 * untrusted one is refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "http/http.h"

typedef struct tls_srv {
    int fd;
    int port;
    SSL_CTX *ctx;
    int served;        /* handshakes completed */
    char sni[64];      /* the last server name the client sent */
    volatile int stop; /* set by the test thread before the last connect */
    pthread_t thread;
} tls_srv;

static X509 *make_cert(EVP_PKEY **key_out)
{
    EVP_PKEY *key = EVP_EC_gen("P-256");
    assert_non_null(key);
    X509 *x = X509_new();
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), -60);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    X509_set_pubkey(x, key);
    X509_NAME *n = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)"localhost", -1, -1,
                               0);
    X509_set_issuer_name(x, n);
    X509V3_CTX v3;
    X509V3_set_ctx_nodb(&v3);
    X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
    X509_EXTENSION *san = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name, "DNS:localhost");
    X509_add_ext(x, san, -1);
    X509_EXTENSION_free(san);
    X509_EXTENSION *bc = X509V3_EXT_conf_nid(NULL, &v3, NID_basic_constraints, "critical,CA:TRUE");
    X509_add_ext(x, bc, -1);
    X509_EXTENSION_free(bc);
    assert_true(X509_sign(x, key, EVP_sha256()) > 0);
    *key_out = key;
    return x;
}

/* Serves connections one at a time: handshake, read a head, answer, close. */
static void *serve(void *arg)
{
    tls_srv *s = arg;
    for (;;) {
        int c = accept(s->fd, NULL, NULL);
        if (c < 0 || s->stop) {
            if (c >= 0) close(c);
            return NULL;
        }
        SSL *ssl = SSL_new(s->ctx);
        SSL_set_fd(ssl, c);
        if (SSL_accept(ssl) == 1) {
            const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
            snprintf(s->sni, sizeof(s->sni), "%s", name ? name : "");
            s->served++;
            char buf[4096];
            size_t len = 0;
            while (len < sizeof(buf) - 1) {
                int n = SSL_read(ssl, buf + len, (int)(sizeof(buf) - 1 - len));
                if (n <= 0) break;
                len += (size_t)n;
                buf[len] = 0;
                if (strstr(buf, "\r\n\r\n")) break;
            }
            const char *reply = "HTTP/1.1 200 OK\r\nContent-Length: 6\r\nConnection: close\r\n\r\n"
                                "secret";
            SSL_write(ssl, reply, (int)strlen(reply));
            SSL_shutdown(ssl);
        }
        SSL_free(ssl);
        close(c);
    }
}

typedef struct resp {
    int status;
    cc_buf body;
    bool done;
    http_client_result result;
    char error[256];
} resp;

static int on_head(void *ud, int status, const http_header *h, size_t n)
{
    ((resp *)ud)->status = status;
    return 0;
}

static void on_body(void *ud, const uint8_t *d, size_t n)
{
    cc_buf_append(&((resp *)ud)->body, d, n);
}

static void on_done(void *ud, http_client_result res, const char *err)
{
    resp *r = ud;
    r->done = true;
    r->result = res;
    snprintf(r->error, sizeof(r->error), "%s", err ? err : "");
}

static const http_client_callbacks cbs = {on_head, on_body, on_done};

static void heartbeat_cb(evutil_socket_t fd, short what, void *arg) {}

/* One GET with a fresh client (the CA store is read when a client first
 * needs TLS). */
static void get(struct event_base *base, const char *url, resp *r)
{
    memset(r, 0, sizeof(*r));
    http_client *cli = http_client_new(base, NULL, NULL);
    http_client_request req = {"GET", url, NULL, 0, NULL, 0, 20};
    assert_non_null(http_client_start(cli, &req, &cbs, r, NULL));
    double end = cc_now_mono() + 30;
    while (!r->done && cc_now_mono() < end)
        event_base_loop(base, EVLOOP_ONCE);
    assert_true(r->done);
    http_client_free(cli);
}

static void test_https(void **state)
{
    EVP_PKEY *key;
    X509 *cert = make_cert(&key);
    char path[256];
    cc_tmp_template(path, sizeof(path), "cocoon-test-ca"); /* $TMPDIR, as every test */
    int pf = mkstemp(path);
    assert_true(pf >= 0);
    FILE *f = fdopen(pf, "w");
    PEM_write_X509(f, cert);
    fclose(f);

    tls_srv s = {0};
    s.ctx = SSL_CTX_new(TLS_server_method());
    SSL_CTX_use_certificate(s.ctx, cert);
    SSL_CTX_use_PrivateKey(s.ctx, key);
    s.fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(s.fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(s.fd, 16), 0);
    socklen_t al = sizeof(a);
    getsockname(s.fd, (struct sockaddr *)&a, &al);
    s.port = ntohs(a.sin_port);
    assert_int_equal(pthread_create(&s.thread, NULL, serve, &s), 0);

    struct event_base *base = event_base_new();
    struct event *hb = event_new(base, -1, EV_PERSIST, heartbeat_cb, NULL);
    struct timeval tv = {0, 20000};
    event_add(hb, &tv);
    char url[96];
    resp r;

    /* not trusted: the system store does not know our certificate */
    unsetenv("SSL_CERT_FILE");
    snprintf(url, sizeof(url), "https://localhost:%d/x", s.port);
    get(base, url, &r);
    assert_int_equal(r.result, HTTP_CLIENT_ERR_CONNECT);
    assert_non_null(strstr(r.error, "certificate"));
    assert_int_equal(r.body.len, 0);

    setenv("SSL_CERT_FILE", path, 1);
    /* trusted and for this name */
    get(base, url, &r);
    if (r.result == HTTP_CLIENT_ERR_CONNECT && strstr(r.error, "refused"))
        skip(); /* localhost resolved to ::1 only */
    assert_int_equal(r.result, HTTP_CLIENT_OK);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.body.len, 6);
    assert_memory_equal(r.body.data, "secret", 6);
    assert_string_equal(s.sni, "localhost");
    cc_buf_free(&r.body);

    /* trusted, but not for 127.0.0.1 */
    snprintf(url, sizeof(url), "https://127.0.0.1:%d/x", s.port);
    get(base, url, &r);
    assert_int_equal(r.result, HTTP_CLIENT_ERR_CONNECT);
    assert_non_null(strstr(r.error, "mismatch"));
    assert_int_equal(r.body.len, 0);
    unsetenv("SSL_CERT_FILE");

    /* stop the server thread: it exits on the next connection */
    s.stop = 1;
    int c = socket(AF_INET, SOCK_STREAM, 0);
    connect(c, (struct sockaddr *)&a, sizeof(a));
    pthread_join(s.thread, NULL);
    close(c);
    close(s.fd);
    SSL_CTX_free(s.ctx);
    event_free(hb);
    event_base_free(base);
    unlink(path);
    X509_free(cert);
    EVP_PKEY_free(key);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_https),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
