/* TEE providers: none, fake (fake.c), fake_tdx (fake_tdx.c) and tdx through the kernel's
 * configfs-tsm interface (DESIGN §5.4). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crypto/crypto.h"
#include "tee/tee_provider.h"

#define TSM_REPORT_DIR "/sys/kernel/config/tsm/report"

tee_provider *tee_provider_new_none(void)
{
    tee_provider *p = cc_calloc(1, sizeof(*p));
    p->kind = TEE_PROVIDER_NONE;
    return p;
}

tee_provider *tee_provider_new_tdx(cc_err *err)
{
    struct stat st;
    if (stat(TSM_REPORT_DIR, &st) != 0 || !S_ISDIR(st.st_mode)) {
        cc_err_set(err,
                   "TEE provider tdx: %s is not available (not running inside an Intel TDX "
                   "guest with configfs-tsm, or configfs not mounted)",
                   TSM_REPORT_DIR);
        return NULL;
    }
    tee_provider *p = cc_calloc(1, sizeof(*p));
    p->kind = TEE_PROVIDER_TDX;
    return p;
}

void tee_provider_free(tee_provider *p)
{
    if (!p) return;
    if (p->kind == TEE_PROVIDER_FAKE) tee__fake_free(p);
    free(p);
}

tee_provider_kind tee_provider_kind_of(const tee_provider *p)
{
    return p->kind;
}

int tee_provider_kind_parse(const char *s, tee_provider_kind *out, cc_err *err)
{
    if (!strcmp(s, "none"))
        *out = TEE_PROVIDER_NONE;
    else if (!strcmp(s, "fake"))
        *out = TEE_PROVIDER_FAKE;
    else if (!strcmp(s, "tdx"))
        *out = TEE_PROVIDER_TDX;
    else if (!strcmp(s, "fake_tdx"))
        *out = TEE_PROVIDER_FAKE_TDX;
    else
        return cc_err_set(err, "unknown TEE provider \"%s\" (want none, fake, tdx or fake_tdx)", s);
    return 0;
}

static int write_all(const char *path, const void *data, size_t n, cc_err *err)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0) return cc_err_set(err, "open %s: %s", path, strerror(errno));
    ssize_t w = write(fd, data, n);
    int e = errno;
    close(fd);
    if (w != (ssize_t)n)
        return cc_err_set(err, "write %s: %s", path, w < 0 ? strerror(e) : "short write");
    return 0;
}

static int read_text(const char *path, char *buf, size_t cap)
{
    FILE *f = fopen(path, "re");
    if (!f) return -1;
    size_t n = fread(buf, 1, cap - 1, f);
    fclose(f);
    buf[n] = 0;
    while (n && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
        buf[--n] = 0;
    return 0;
}

/* One report through configfs-tsm: create an entry, write REPORTDATA to
 * inblob, read the quote from outblob, and check that nobody else used the
 * entry in between (generation counter). */
static int tdx_quote(const uint8_t report_data[64], cc_buf *out, cc_err *err)
{
    char dir[256], path[300], gen1[32] = "", gen2[32] = "", prov[64] = "";
    uint8_t nonce[8];
    crypto_random(nonce, sizeof(nonce));
    char hex[17];
    cc_hex_encode(nonce, sizeof(nonce), hex);
    snprintf(dir, sizeof(dir), "%s/cocoon-%d-%s", TSM_REPORT_DIR, (int)getpid(), hex);
    if (mkdir(dir, 0700) != 0)
        return cc_err_set(err, "TEE provider tdx: mkdir %s: %s", dir, strerror(errno));
    int rc = -1;
    snprintf(path, sizeof(path), "%s/provider", dir);
    if (read_text(path, prov, sizeof(prov)) == 0 && prov[0] && strcmp(prov, "tdx_guest") != 0) {
        cc_err_set(err, "TEE provider tdx: configfs-tsm provider is \"%s\", not tdx_guest", prov);
        goto out;
    }
    snprintf(path, sizeof(path), "%s/inblob", dir);
    if (write_all(path, report_data, 64, err)) goto out;
    snprintf(path, sizeof(path), "%s/generation", dir);
    read_text(path, gen1, sizeof(gen1));
    snprintf(path, sizeof(path), "%s/outblob", dir);
    size_t before = out->len;
    if (cc_read_file(path, out, err)) {
        cc_err_prefix(err, "TEE provider tdx");
        goto out;
    }
    snprintf(path, sizeof(path), "%s/generation", dir);
    read_text(path, gen2, sizeof(gen2));
    if (strcmp(gen1, gen2) != 0) {
        out->len = before;
        cc_err_set(err, "TEE provider tdx: report entry changed while reading, retry");
        goto out;
    }
    if (out->len == before) {
        cc_err_set(err, "TEE provider tdx: empty quote from configfs-tsm");
        goto out;
    }
    rc = 0;
out:
    rmdir(dir);
    return rc;
}

int tee_provider_quote(tee_provider *p, const uint8_t report_data[64], cc_buf *out, cc_err *err)
{
    switch (p->kind) {
    case TEE_PROVIDER_NONE:
        return cc_err_set(err, "TEE provider none produces no quotes");
    case TEE_PROVIDER_FAKE:
        return tee__fake_quote(p, report_data, out, err);
    case TEE_PROVIDER_TDX:
        return tdx_quote(report_data, out, err);
    case TEE_PROVIDER_FAKE_TDX:
        return tee__fake_tdx_quote(report_data, out);
    }
    return cc_err_set(err, "unknown TEE provider");
}
