/* JSON text of TL objects (tl_obj_dump) for logs, debugging and the CLI. */
#include <math.h>
#include <stdio.h>

#include "tl/tl_internal.h"

void tl_dp_begin(tl_dump *d, const char *name)
{
    cc_buf_append_str(d->out, "{\"@type\":\"");
    cc_buf_append_str(d->out, name);
    cc_buf_append_u8(d->out, '"');
}

void tl_dp_key(tl_dump *d, const char *key)
{
    cc_buf_append_str(d->out, ",\"");
    cc_buf_append_str(d->out, key);
    cc_buf_append_str(d->out, "\":");
}

void tl_dp_open(tl_dump *d, char c)
{
    cc_buf_append_u8(d->out, (uint8_t)c);
}

void tl_dp_close(tl_dump *d, char c)
{
    cc_buf_append_u8(d->out, (uint8_t)c);
}

void tl_dp_sep(tl_dump *d, size_t i)
{
    if (i) cc_buf_append_u8(d->out, ',');
}

void tl_dp_int(tl_dump *d, int64_t v)
{
    cc_buf_append_fmt(d->out, "%lld", (long long)v);
}

void tl_dp_double(tl_dump *d, double v)
{
    if (isfinite(v))
        cc_buf_append_fmt(d->out, "%.17g", v);
    else
        cc_buf_append_str(d->out, "null"); /* JSON has no NaN/Inf */
}

void tl_dp_bool(tl_dump *d, bool v)
{
    cc_buf_append_str(d->out, v ? "true" : "false");
}

void tl_dp_hex(tl_dump *d, const uint8_t *p, size_t n)
{
    cc_buf_reserve(d->out, 2 * n + 3);
    cc_buf_append_u8(d->out, '"');
    char *h = (char *)d->out->data + d->out->len;
    cc_hex_encode(p, n, h);
    d->out->len += 2 * n;
    cc_buf_append_u8(d->out, '"');
}

void tl_dp_bytes(tl_dump *d, tl_bytes b)
{
    /* Bytes as a JSON string: printable ASCII as is, everything else as
     * \u00XX (one code point per byte, so binary data stays visible). */
    size_t n = d->max_bytes && b.len > d->max_bytes ? d->max_bytes : b.len;
    cc_buf_append_u8(d->out, '"');
    for (size_t i = 0; i < n; i++) {
        uint8_t c = b.data[i];
        if (c == '"' || c == '\\') {
            cc_buf_append_u8(d->out, '\\');
            cc_buf_append_u8(d->out, c);
        } else if (c >= 0x20 && c < 0x7f) {
            cc_buf_append_u8(d->out, c);
        } else {
            cc_buf_append_fmt(d->out, "\\u%04x", c);
        }
    }
    if (n < b.len) cc_buf_append_fmt(d->out, "...(%zu bytes)", b.len);
    cc_buf_append_u8(d->out, '"');
}

void tl_dp_boxed(tl_dump *d, const tl_obj *o)
{
    const tl_ctor_impl *impl = o ? tl_impl_find(o->id) : NULL;
    if (!o) {
        cc_buf_append_str(d->out, "null");
    } else if (!impl) {
        cc_buf_append_fmt(d->out, "{\"@type\":\"unknown\",\"id\":\"%08x\"}", o->id);
    } else if (d->depth >= 64) {
        cc_buf_append_str(d->out, "\"...\""); /* hand-built cycles stay finite */
    } else {
        d->depth++;
        impl->dump(d, o);
        d->depth--;
    }
}

void tl_obj_dump(const tl_obj *o, cc_buf *out, size_t max_bytes)
{
    tl_dump d = {.out = out, .max_bytes = max_bytes};
    tl_dp_boxed(&d, o);
}
