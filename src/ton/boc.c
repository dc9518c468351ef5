/* Bag of cells: serialization in @ton/core's order (root first, then the
 * reverse of a depth-first post-order that visits references last to first,
 * cells deduplicated by hash) and a strict parser for outside input. */
#include "ton/ton_internal.h"

#include <string.h>

#define BOC_MAGIC 0xb5ee9c72u
#define BOC_MAGIC_IDX 0x68ff65f3u     /* old: with index */
#define BOC_MAGIC_IDX_CRC 0xacc3a728u /* old: with index and crc32c */

/* Fills `order` (distinct cells, root first) and `set` (hash -> post-order
 * number, so index = n - 1 - post). Iterative to bound stack use. */
static void topo_order(const ton_cell *root, ton_cellset *set, const ton_cell ***order_out,
                       size_t *n_out)
{
    typedef struct {
        const ton_cell *c;
        int next; /* next child to visit, counting down */
    } frame;
    size_t cap = 64, depth = 0, n = 0, ocap = 64;
    frame *st = cc_malloc(cap * sizeof *st);
    const ton_cell **post = cc_malloc(ocap * sizeof *post);
    st[depth++] = (frame){root, (int)root->n_refs - 1};
    while (depth) {
        frame *f = &st[depth - 1];
        if (f->next >= 0) {
            const ton_cell *child = f->c->refs[f->next--];
            if (ton_cellset_find(set, child) != SIZE_MAX) continue;
            if (depth == cap) st = cc_realloc(st, (cap *= 2) * sizeof *st);
            st[depth++] = (frame){child, (int)child->n_refs - 1};
            continue;
        }
        /* all children done: this cell is next in post-order (a cell equal to
         * an already finished one by hash is not repeated) */
        bool added;
        ton_cellset_put(set, f->c, &added);
        if (added) {
            if (n == ocap) post = cc_realloc(post, (ocap *= 2) * sizeof *post);
            post[n++] = f->c;
        }
        depth--;
    }
    free(st);
    for (size_t i = 0; i < n / 2; i++) {
        const ton_cell *t = post[i];
        post[i] = post[n - 1 - i];
        post[n - 1 - i] = t;
    }
    *order_out = post;
    *n_out = n;
}

static unsigned bytes_for(uint64_t v)
{
    unsigned n = 0;
    for (; v; v >>= 8)
        n++;
    return n ? n : 1;
}

static void put_be(cc_buf *out, uint64_t v, unsigned n)
{
    for (unsigned i = n; i-- > 0;)
        cc_buf_append_u8(out, (uint8_t)(v >> (8 * i)));
}

int ton_boc_serialize(const ton_cell *root, ton_boc_opts opts, cc_buf *out, cc_err *err)
{
    ton_cellset set;
    ton_cellset_init(&set);
    const ton_cell **order;
    size_t n;
    topo_order(root, &set, &order, &n);
    unsigned size_bytes = bytes_for(n);
    uint64_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += 2 + (order[i]->bit_len + 7) / 8 + (uint64_t)order[i]->n_refs * size_bytes;
    unsigned off_bytes = bytes_for(total);
    size_t start = out->len;
    put_be(out, BOC_MAGIC, 4);
    cc_buf_append_u8(out,
                     (uint8_t)((opts.index ? 0x80 : 0) | (opts.crc32c ? 0x40 : 0) | size_bytes));
    cc_buf_append_u8(out, (uint8_t)off_bytes);
    put_be(out, n, size_bytes);
    put_be(out, 1, size_bytes); /* roots */
    put_be(out, 0, size_bytes); /* absent */
    put_be(out, total, off_bytes);
    put_be(out, 0, size_bytes); /* root index */
    if (opts.index) {
        uint64_t off = 0;
        for (size_t i = 0; i < n; i++) {
            off += 2 + (order[i]->bit_len + 7) / 8 + (uint64_t)order[i]->n_refs * size_bytes;
            put_be(out, off, off_bytes);
        }
    }
    for (size_t i = 0; i < n; i++) {
        const ton_cell *c = order[i];
        cc_buf_append_u8(out, (uint8_t)(c->n_refs + (c->type != TON_CELL_ORDINARY ? 8 : 0) +
                                        32 * c->level_mask));
        cc_buf_append_u8(out, (uint8_t)((c->bit_len + 7) / 8 + c->bit_len / 8));
        size_t nb = (c->bit_len + 7) / 8;
        uint8_t tmp[128];
        memcpy(tmp, c->data, nb);
        if (c->bit_len % 8) tmp[nb - 1] |= (uint8_t)(0x80 >> (c->bit_len % 8));
        cc_buf_append(out, tmp, nb);
        for (unsigned r = 0; r < c->n_refs; r++) {
            size_t post = ton_cellset_find(&set, c->refs[r]);
            put_be(out, n - 1 - post, size_bytes);
        }
    }
    if (opts.crc32c) {
        uint8_t crc[4];
        cc_store_u32le(crc, cc_crc32c(out->data + start, out->len - start));
        cc_buf_append(out, crc, 4);
    }
    free(order);
    ton_cellset_free(&set);
    (void)err;
    return 0;
}

char *ton_boc_to_base64(const ton_cell *root, cc_err *err)
{
    cc_buf b = CC_BUF_INIT;
    if (ton_boc_serialize(root, (ton_boc_opts){.crc32c = true}, &b, err) < 0) {
        cc_buf_free(&b);
        return NULL;
    }
    char *s = ton_base64_encode(b.data, b.len, false);
    cc_buf_free(&b);
    return s;
}

/* ------------------------------------------------------------------ parse */

typedef struct {
    const uint8_t *p;
    size_t len, pos;
} reader;

static int rd_be(reader *r, unsigned n, uint64_t *out, const char *what, cc_err *err)
{
    if (n > r->len - r->pos) return cc_err_set(err, "bag of cells truncated (reading %s)", what);
    uint64_t v = 0;
    for (unsigned i = 0; i < n; i++)
        v = v << 8 | r->p[r->pos++];
    *out = v;
    return 0;
}

/* What the header of a bag of cells says, checked against the input. */
typedef struct boc_header {
    bool has_idx, has_crc, has_cache;
    unsigned size_bytes; /* bytes per cell index / count */
    unsigned off_bytes;  /* bytes per offset */
    uint64_t n_cells, n_roots, root0;
    size_t idx_pos;    /* where the offset index starts (has_idx) */
    size_t data_start; /* where the first cell starts */
} boc_header;

/* The magic and the flags byte (or the size byte of the older formats). */
static int read_magic(reader *r, boc_header *h, cc_err *err)
{
    uint64_t magic, flags_byte;
    if (rd_be(r, 4, &magic, "magic", err) < 0) return -1;
    if (magic == BOC_MAGIC) {
        if (rd_be(r, 1, &flags_byte, "flags", err) < 0) return -1;
        h->has_idx = flags_byte & 0x80;
        h->has_crc = flags_byte & 0x40;
        h->has_cache = flags_byte & 0x20;
        if (flags_byte & 0x18)
            return cc_err_set(err, "bag of cells uses unknown flags 0x%02x", (unsigned)flags_byte);
        h->size_bytes = flags_byte & 7;
    } else if (magic == BOC_MAGIC_IDX || magic == BOC_MAGIC_IDX_CRC) {
        if (rd_be(r, 1, &flags_byte, "size", err) < 0) return -1;
        h->has_idx = true;
        h->has_crc = magic == BOC_MAGIC_IDX_CRC;
        h->size_bytes = (unsigned)flags_byte;
    } else {
        return cc_err_set(err, "not a bag of cells (magic %08x)", (unsigned)magic);
    }
    if (h->size_bytes < 1 || h->size_bytes > 4)
        return cc_err_set(err, "bag of cells: bad reference size %u", h->size_bytes);
    if (h->has_cache && !h->has_idx)
        return cc_err_set(err, "bag of cells: cache bits without an index");
    return 0;
}

/* Checks the trailing crc32c and leaves it out of what is read next. */
static int check_crc(reader *r, cc_err *err)
{
    if (r->len < 4 + r->pos) return cc_err_set(err, "bag of cells truncated (crc32c)");
    uint32_t want = cc_load_u32le(r->p + r->len - 4);
    if (cc_crc32c(r->p, r->len - 4) != want)
        return cc_err_set(err, "bag of cells: crc32c mismatch");
    r->len -= 4;
    return 0;
}

/* The counts, the root list, the index and the total size. */
static int read_layout(reader *r, size_t len, boc_header *h, cc_err *err)
{
    uint64_t off_bytes, n_absent, total;
    if (rd_be(r, 1, &off_bytes, "offset size", err) < 0 ||
        rd_be(r, h->size_bytes, &h->n_cells, "cell count", err) < 0 ||
        rd_be(r, h->size_bytes, &h->n_roots, "root count", err) < 0 ||
        rd_be(r, h->size_bytes, &n_absent, "absent count", err) < 0)
        return -1;
    if (off_bytes < 1 || off_bytes > 8)
        return cc_err_set(err, "bag of cells: bad offset size %u", (unsigned)off_bytes);
    h->off_bytes = (unsigned)off_bytes;
    if (rd_be(r, h->off_bytes, &total, "total size", err) < 0) return -1;
    /* every cell takes at least 2 bytes, which bounds the count by the input */
    if (h->n_cells == 0 || h->n_cells > TON_BOC_MAX_CELLS || h->n_cells > len / 2)
        return cc_err_set(err, "bag of cells: implausible cell count %llu",
                          (unsigned long long)h->n_cells);
    if (h->n_roots == 0 || h->n_roots > h->n_cells)
        return cc_err_set(err, "bag of cells: bad root count %llu", (unsigned long long)h->n_roots);
    if (n_absent != 0) return cc_err_set(err, "bag of cells with absent cells is not supported");
    for (uint64_t i = 0; i < h->n_roots; i++) {
        uint64_t idx;
        if (rd_be(r, h->size_bytes, &idx, "root list", err) < 0) return -1;
        if (idx >= h->n_cells)
            return cc_err_set(err, "bag of cells: root index %llu out of range",
                              (unsigned long long)idx);
        if (i == 0) h->root0 = idx;
    }
    h->idx_pos = r->pos;
    if (h->has_idx) {
        if (h->n_cells * h->off_bytes > r->len - r->pos)
            return cc_err_set(err, "bag of cells truncated (index)");
        r->pos += (size_t)(h->n_cells * h->off_bytes);
    }
    if (total != r->len - r->pos)
        return cc_err_set(err, "bag of cells: cell data is %zu bytes, header says %llu",
                          r->len - r->pos, (unsigned long long)total);
    h->data_start = r->pos;
    return 0;
}

/* A cell located in the input, before it is built. */
typedef struct raw_cell {
    size_t data_off;
    uint16_t bits;
    uint8_t n_refs, exotic, level_mask;
    uint32_t refs[4];
} raw_cell;

/* The data bytes of cell i: their offset and the bit length the completion
 * tag gives. */
static int read_cell_data(reader *r, uint64_t i, uint64_t d2, raw_cell *rc, cc_err *err)
{
    size_t nbytes = (size_t)(d2 + 1) / 2;
    if (nbytes > r->len - r->pos)
        return cc_err_set(err, "bag of cells truncated (cell %llu data)", (unsigned long long)i);
    rc->data_off = r->pos;
    unsigned bits = (unsigned)nbytes * 8;
    if (d2 & 1) {
        uint8_t last = r->p[r->pos + nbytes - 1];
        if (last == 0)
            return cc_err_set(err, "cell %llu: missing completion tag", (unsigned long long)i);
        bits -= (unsigned)__builtin_ctz(last) + 1;
    }
    if (bits > TON_CELL_MAX_BITS)
        return cc_err_set(err, "cell %llu: %u bits", (unsigned long long)i, bits);
    rc->bits = (uint16_t)bits;
    r->pos += nbytes;
    return 0;
}

/* Locates cell i and checks its descriptor, references and index entry. */
static int read_cell(reader *r, const boc_header *h, uint64_t i, raw_cell *rc, cc_err *err)
{
    uint64_t d1, d2;
    if (rd_be(r, 1, &d1, "cell descriptor", err) < 0 ||
        rd_be(r, 1, &d2, "cell descriptor", err) < 0)
        return -1;
    rc->n_refs = d1 & 7;
    rc->exotic = (d1 & 8) != 0;
    rc->level_mask = (uint8_t)(d1 >> 5);
    if (rc->n_refs > 4)
        return cc_err_set(err, "cell %llu: %u references", (unsigned long long)i, rc->n_refs);
    if (d1 & 16) { /* stored hashes and depths: skip them */
        size_t skip = ((size_t)__builtin_popcount(rc->level_mask) + 1) * (32 + 2);
        if (skip > r->len - r->pos) return cc_err_set(err, "bag of cells truncated (cell hashes)");
        r->pos += skip;
    }
    if (read_cell_data(r, i, d2, rc, err) < 0) return -1;
    for (unsigned k = 0; k < rc->n_refs; k++) {
        uint64_t ref;
        if (rd_be(r, h->size_bytes, &ref, "cell reference", err) < 0) return -1;
        /* references must point forward: this rules out cycles */
        if (ref <= i || ref >= h->n_cells)
            return cc_err_set(err, "cell %llu: bad reference to cell %llu", (unsigned long long)i,
                              (unsigned long long)ref);
        rc->refs[k] = (uint32_t)ref;
    }
    if (h->has_idx) {
        uint64_t want;
        reader ir = {r->p, r->len, h->idx_pos + (size_t)(i * h->off_bytes)};
        if (rd_be(&ir, h->off_bytes, &want, "index", err) < 0) return -1;
        if (h->has_cache) want >>= 1;
        if (want != r->pos - h->data_start)
            return cc_err_set(err, "bag of cells: index entry %llu is wrong",
                              (unsigned long long)i);
    }
    return 0;
}

/* Builds cells[] from the last cell back, children first. */
static int build_cells(const uint8_t *data, const raw_cell *raw, uint64_t n_cells, ton_cell **cells,
                       cc_err *err)
{
    for (uint64_t i = n_cells; i-- > 0;) {
        const raw_cell *rc = &raw[i];
        ton_cell *refs[4];
        for (unsigned k = 0; k < rc->n_refs; k++)
            refs[k] = cells[rc->refs[k]];
        uint8_t buf[128];
        memcpy(buf, data + rc->data_off, (rc->bits + 7) / 8);
        cells[i] = ton_cell_create(rc->exotic, buf, rc->bits, refs, rc->n_refs, err);
        if (!cells[i]) return cc_err_prefix(err, "cell %llu", (unsigned long long)i);
        if (cells[i]->level_mask != rc->level_mask)
            return cc_err_set(err, "cell %llu: level mask %u does not match its contents (%u)",
                              (unsigned long long)i, rc->level_mask, cells[i]->level_mask);
    }
    return 0;
}

ton_cell *ton_boc_parse(const uint8_t *data, size_t len, cc_err *err)
{
    reader r = {data, len, 0};
    boc_header h = {0};
    if (read_magic(&r, &h, err) < 0 || (h.has_crc && check_crc(&r, err) < 0) ||
        read_layout(&r, len, &h, err) < 0)
        return NULL;
    /* First pass: locate every cell; second: build them. */
    raw_cell *raw = cc_calloc((size_t)h.n_cells, sizeof *raw);
    ton_cell **cells = cc_calloc((size_t)h.n_cells, sizeof *cells);
    ton_cell *result = NULL;
    uint64_t i = 0;
    while (i < h.n_cells && read_cell(&r, &h, i, &raw[i], err) == 0)
        i++;
    if (i == h.n_cells) {
        if (r.pos != r.len)
            cc_err_set(err, "bag of cells: trailing bytes");
        else if (build_cells(data, raw, h.n_cells, cells, err) == 0)
            result = ton_cell_ref(cells[h.root0]);
    }
    for (i = 0; i < h.n_cells; i++)
        ton_cell_unref(cells[i]);
    free(cells);
    free(raw);
    return result;
}

ton_cell *ton_boc_parse_base64(const char *text, cc_err *err)
{
    cc_buf b = CC_BUF_INIT;
    ton_cell *c = NULL;
    if (ton_base64_decode(text, strlen(text), &b, err) == 0) c = ton_boc_parse(b.data, b.len, err);
    cc_buf_free(&b);
    return c;
}

ton_cell *ton_boc_parse_hex(const char *text, cc_err *err)
{
    cc_buf b = CC_BUF_INIT;
    ton_cell *c = NULL;
    if (cc_hex_decode_loose(text, strlen(text), &b, err) == 0)
        c = ton_boc_parse(b.data, b.len, err);
    cc_buf_free(&b);
    return c;
}
