/* TVM stacks in the TON HTTP API v2 JSON form: parsing runGetMethod results
 * (outside input) and encoding get-method arguments. */
#include "ton/ton_internal.h"

#include <stdio.h>
#include <string.h>

#define STACK_MAX_DEPTH 16
#define STACK_MAX_ITEMS 4096

static void entry_free(ton_stack_entry *e)
{
    ton_cell_unref(e->cell);
    for (size_t i = 0; i < e->n_items; i++)
        entry_free(&e->items[i]);
    free(e->items);
    memset(e, 0, sizeof *e);
}

void ton_stack_free(ton_stack *s)
{
    for (size_t i = 0; i < s->n; i++)
        entry_free(&s->items[i]);
    free(s->items);
    memset(s, 0, sizeof *s);
}

/* mag = mag * mul + add over 33 bytes; fails on overflow. */
static int mag_muladd(uint8_t mag[33], unsigned mul, unsigned add)
{
    unsigned carry = add;
    for (int i = 32; i >= 0; i--) {
        unsigned v = mag[i] * mul + carry;
        mag[i] = (uint8_t)v;
        carry = v >> 8;
    }
    return carry ? -1 : 0;
}

static int parse_number(const char *text, bool *neg, uint8_t mag[33], cc_err *err)
{
    memset(mag, 0, 33);
    const char *p = text;
    *neg = false;
    if (*p == '-') {
        *neg = true;
        p++;
    }
    unsigned base = 10;
    if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
        base = 16;
        p += 2;
    }
    if (!*p) return cc_err_set(err, "empty number \"%s\"", text);
    for (; *p; p++) {
        unsigned d;
        if (*p >= '0' && *p <= '9')
            d = (unsigned)(*p - '0');
        else if (base == 16 && *p >= 'a' && *p <= 'f')
            d = (unsigned)(*p - 'a' + 10);
        else if (base == 16 && *p >= 'A' && *p <= 'F')
            d = (unsigned)(*p - 'A' + 10);
        else
            return cc_err_set(err, "bad number \"%.80s\"", text);
        if (mag_muladd(mag, base, d) < 0)
            return cc_err_set(err, "number \"%.80s\" exceeds 257 bits", text);
    }
    /* TVM integers are 257-bit: |v| < 2^256, or exactly -2^256 */
    bool low_zero = true;
    for (int i = 1; i < 33; i++)
        low_zero = low_zero && !mag[i];
    if (mag[0] > 1 || (mag[0] == 1 && !(*neg && low_zero)))
        return cc_err_set(err, "number \"%.80s\" exceeds 257 bits", text);
    return 0;
}

static int parse_boc_field(const json_t *obj, ton_cell **out, cc_err *err)
{
    const json_t *bytes = json_is_object(obj) ? json_object_get(obj, "bytes") : obj;
    if (!json_is_string(bytes)) return cc_err_set(err, "stack cell without \"bytes\"");
    *out = ton_boc_parse_base64(json_string_value(bytes), err);
    return *out ? 0 : -1;
}

static int parse_entry_obj(const json_t *x, ton_stack_entry *e, int depth, size_t *budget,
                           cc_err *err);

static int parse_elements(const json_t *arr, ton_stack_entry *e, int depth, size_t *budget,
                          cc_err *err)
{
    if (!json_is_array(arr)) return cc_err_set(err, "stack tuple without elements");
    size_t n = json_array_size(arr);
    if (n > *budget) return cc_err_set(err, "stack has too many entries");
    *budget -= n;
    e->type = TON_STACK_TUPLE;
    e->items = cc_calloc(n ? n : 1, sizeof *e->items);
    e->n_items = n;
    for (size_t i = 0; i < n; i++)
        if (parse_entry_obj(json_array_get(arr, i), &e->items[i], depth + 1, budget, err) < 0)
            return -1;
    return 0;
}

/* The typed objects inside tuples: tvm.stackEntryNumber {number:{number:"dec"}} etc. */
static int parse_entry_obj(const json_t *x, ton_stack_entry *e, int depth, size_t *budget,
                           cc_err *err)
{
    if (depth > STACK_MAX_DEPTH) return cc_err_set(err, "stack nested too deeply");
    const char *t = json_string_value(json_object_get(x, "@type"));
    if (!t) return cc_err_set(err, "stack element without @type");
    if (!strcmp(t, "tvm.stackEntryNumber"))
        return parse_entry_obj(json_object_get(x, "number"), e, depth + 1, budget, err);
    if (!strcmp(t, "tvm.stackEntryCell"))
        return parse_entry_obj(json_object_get(x, "cell"), e, depth + 1, budget, err);
    if (!strcmp(t, "tvm.stackEntrySlice")) {
        if (parse_entry_obj(json_object_get(x, "slice"), e, depth + 1, budget, err) < 0) return -1;
        e->type = TON_STACK_SLICE;
        return 0;
    }
    if (!strcmp(t, "tvm.stackEntryTuple"))
        return parse_entry_obj(json_object_get(x, "tuple"), e, depth + 1, budget, err);
    if (!strcmp(t, "tvm.stackEntryList"))
        return parse_entry_obj(json_object_get(x, "list"), e, depth + 1, budget, err);
    if (!strcmp(t, "tvm.stackEntryNull") || !strcmp(t, "tvm.null")) {
        e->type = TON_STACK_NULL;
        return 0;
    }
    if (!strcmp(t, "tvm.numberDecimal")) {
        const char *num = json_string_value(json_object_get(x, "number"));
        if (!num) return cc_err_set(err, "tvm.numberDecimal without number");
        e->type = TON_STACK_NUM;
        return parse_number(num, &e->negative, e->mag, err);
    }
    if (!strcmp(t, "tvm.cell") || !strcmp(t, "tvm.slice")) {
        e->type = !strcmp(t, "tvm.cell") ? TON_STACK_CELL : TON_STACK_SLICE;
        return parse_boc_field(x, &e->cell, err);
    }
    if (!strcmp(t, "tvm.tuple") || !strcmp(t, "tvm.list"))
        return parse_elements(json_object_get(x, "elements"), e, depth, budget, err);
    return cc_err_set(err, "unknown stack element type \"%.40s\"", t);
}

/* Top-level entries: ["num","0x1"], ["cell",{"bytes":..}], ["null"], ["tuple",{...}]. */
static int parse_top(const json_t *x, ton_stack_entry *e, size_t *budget, cc_err *err)
{
    if (!json_is_array(x) || json_array_size(x) < 1)
        return cc_err_set(err, "stack entry is not [type, value]");
    const char *t = json_string_value(json_array_get(x, 0));
    const json_t *v = json_array_get(x, 1);
    if (!t) return cc_err_set(err, "stack entry type is not a string");
    if (!strcmp(t, "num") || !strcmp(t, "int")) {
        e->type = TON_STACK_NUM;
        if (json_is_integer(v)) {
            char tmp[32];
            snprintf(tmp, sizeof tmp, "%lld", (long long)json_integer_value(v));
            return parse_number(tmp, &e->negative, e->mag, err);
        }
        if (!json_is_string(v)) return cc_err_set(err, "num entry without a value");
        return parse_number(json_string_value(v), &e->negative, e->mag, err);
    }
    if (!strcmp(t, "null")) {
        e->type = TON_STACK_NULL;
        return 0;
    }
    if (!strcmp(t, "cell") || !strcmp(t, "slice")) {
        e->type = !strcmp(t, "cell") ? TON_STACK_CELL : TON_STACK_SLICE;
        return parse_boc_field(v, &e->cell, err);
    }
    if (!strcmp(t, "tuple") || !strcmp(t, "list")) {
        if (parse_elements(json_is_object(v) ? json_object_get(v, "elements") : v, e, 0, budget,
                           err) < 0)
            return -1;
        if (!strcmp(t, "list") && e->n_items == 0)
            e->type = TON_STACK_NULL; /* an empty list is a null, as @ton/ton reads it */
        return 0;
    }
    return cc_err_set(err, "unknown stack entry type \"%.40s\"", t);
}

int ton_stack_parse_json(const json_t *result, ton_stack *out, cc_err *err)
{
    memset(out, 0, sizeof *out);
    if (!json_is_object(result)) return cc_err_set(err, "get-method result is not an object");
    const json_t *ec = json_object_get(result, "exit_code");
    if (!json_is_integer(ec)) return cc_err_set(err, "get-method result without exit_code");
    out->exit_code = (int)json_integer_value(ec);
    const json_t *gas = json_object_get(result, "gas_used");
    if (json_is_integer(gas)) out->gas_used = json_integer_value(gas);
    const json_t *stack = json_object_get(result, "stack");
    if (!json_is_array(stack)) return cc_err_set(err, "get-method result without a stack");
    size_t n = json_array_size(stack), budget = STACK_MAX_ITEMS;
    if (n > budget) return cc_err_set(err, "stack has too many entries");
    budget -= n;
    out->items = cc_calloc(n ? n : 1, sizeof *out->items);
    out->n = n;
    for (size_t i = 0; i < n; i++) {
        if (parse_top(json_array_get(stack, i), &out->items[i], &budget, err) < 0) {
            cc_err_prefix(err, "stack entry %zu", i);
            ton_stack_free(out);
            return -1;
        }
    }
    return 0;
}

static const ton_stack_entry *at(const ton_stack *s, size_t i, ton_stack_type want, cc_err *err)
{
    if (i >= s->n) {
        cc_err_set(err, "stack has %zu entries, wanted entry %zu", s->n, i);
        return NULL;
    }
    const ton_stack_entry *e = &s->items[i];
    if (want == TON_STACK_NUM && e->type != TON_STACK_NUM) {
        cc_err_set(err, "stack entry %zu is not a number", i);
        return NULL;
    }
    return e;
}

static int fits_bytes(const ton_stack_entry *e, size_t n)
{
    for (size_t k = 0; k < 33 - n; k++)
        if (e->mag[k]) return 0;
    return 1;
}

int ton_stack_int64(const ton_stack *s, size_t i, int64_t *out, cc_err *err)
{
    const ton_stack_entry *e = at(s, i, TON_STACK_NUM, err);
    if (!e) return -1;
    if (!fits_bytes(e, 8)) return cc_err_set(err, "stack entry %zu does not fit 64 bits", i);
    uint64_t m = 0;
    for (size_t k = 25; k < 33; k++)
        m = m << 8 | e->mag[k];
    if (!e->negative && m > (uint64_t)INT64_MAX)
        return cc_err_set(err, "stack entry %zu does not fit 64 bits", i);
    if (e->negative && m > (uint64_t)INT64_MAX + 1)
        return cc_err_set(err, "stack entry %zu does not fit 64 bits", i);
    *out = e->negative ? (int64_t)(0 - m) : (int64_t)m;
    return 0;
}

int ton_stack_uint64(const ton_stack *s, size_t i, uint64_t *out, cc_err *err)
{
    const ton_stack_entry *e = at(s, i, TON_STACK_NUM, err);
    if (!e) return -1;
    bool zero = true;
    for (size_t k = 0; k < 33; k++)
        zero = zero && !e->mag[k];
    if ((e->negative && !zero) || !fits_bytes(e, 8))
        return cc_err_set(err, "stack entry %zu is not an unsigned 64-bit number", i);
    uint64_t m = 0;
    for (size_t k = 25; k < 33; k++)
        m = m << 8 | e->mag[k];
    *out = m;
    return 0;
}

int ton_stack_uint256(const ton_stack *s, size_t i, uint8_t out[32], cc_err *err)
{
    const ton_stack_entry *e = at(s, i, TON_STACK_NUM, err);
    if (!e) return -1;
    if (e->negative) {
        /* -1 style values of 256-bit fields do not occur; a negative hash is an error */
        bool zero = true;
        for (size_t k = 0; k < 33; k++)
            zero = zero && !e->mag[k];
        if (!zero) return cc_err_set(err, "stack entry %zu is negative", i);
    }
    if (e->mag[0]) return cc_err_set(err, "stack entry %zu exceeds 256 bits", i);
    memcpy(out, e->mag + 1, 32);
    return 0;
}

int ton_stack_cell(const ton_stack *s, size_t i, const ton_cell **out, cc_err *err)
{
    const ton_stack_entry *e = at(s, i, TON_STACK_NULL, err);
    if (!e) return -1;
    if (e->type == TON_STACK_NULL) {
        *out = NULL;
        return 0;
    }
    if (e->type != TON_STACK_CELL && e->type != TON_STACK_SLICE)
        return cc_err_set(err, "stack entry %zu is not a cell", i);
    *out = e->cell;
    return 0;
}

int ton_stack_addr(const ton_stack *s, size_t i, ton_addr *out, cc_err *err)
{
    const ton_cell *c;
    if (ton_stack_cell(s, i, &c, err) < 0) return -1;
    if (!c) return cc_err_set(err, "stack entry %zu is null, wanted an address", i);
    ton_slice sl;
    ton_slice_init(&sl, c);
    if (ton_slice_load_addr(&sl, out, err) < 0) return cc_err_prefix(err, "stack entry %zu", i);
    return 0;
}

/* ------------------------------------------------------------ arguments */

ton_stack_arg ton_stack_arg_u64(uint64_t v)
{
    ton_stack_arg a = {.type = TON_STACK_NUM};
    for (int i = 0; i < 8; i++)
        a.mag[31 - i] = (uint8_t)(v >> (8 * i));
    return a;
}

ton_stack_arg ton_stack_arg_u256(const uint8_t be[32])
{
    ton_stack_arg a = {.type = TON_STACK_NUM};
    memcpy(a.mag, be, 32);
    return a;
}

ton_stack_arg ton_stack_arg_slice(const ton_cell *c)
{
    return (ton_stack_arg){.type = TON_STACK_SLICE, .cell = c};
}

int ton_stack_arg_addr(const ton_addr *a, ton_stack_arg *out, ton_cell **holder, cc_err *err)
{
    ton_builder b;
    ton_builder_init(&b);
    ton_builder_store_addr(&b, a);
    *holder = ton_builder_end(&b, err);
    if (!*holder) return -1;
    *out = ton_stack_arg_slice(*holder);
    return 0;
}

char *ton_bigint_to_dec(const uint8_t *be, size_t n, bool negative)
{
    uint8_t *tmp = cc_malloc(n ? n : 1);
    memcpy(tmp, be, n);
    char *digits = cc_malloc(n * 3 + 3);
    size_t nd = 0;
    for (;;) {
        bool zero = true;
        unsigned rem = 0;
        for (size_t i = 0; i < n; i++) { /* divide by 10 */
            unsigned cur = rem << 8 | tmp[i];
            tmp[i] = (uint8_t)(cur / 10);
            rem = cur % 10;
            zero = zero && !tmp[i];
        }
        digits[nd++] = (char)('0' + rem);
        if (zero) break;
    }
    char *out = cc_malloc(nd + 2);
    size_t o = 0;
    bool is_zero = nd == 1 && digits[0] == '0';
    if (negative && !is_zero) out[o++] = '-';
    while (nd)
        out[o++] = digits[--nd];
    out[o] = 0;
    free(digits);
    free(tmp);
    return out;
}

json_t *ton_stack_args_to_json(const ton_stack_arg *args, size_t n, cc_err *err)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++) {
        const ton_stack_arg *a = &args[i];
        if (a->type == TON_STACK_NUM) {
            char *dec = ton_bigint_to_dec(a->mag, 32, a->negative);
            json_array_append_new(arr, json_pack("[s,s]", "num", dec));
            free(dec);
        } else if (a->type == TON_STACK_CELL || a->type == TON_STACK_SLICE) {
            char *b64 = ton_boc_to_base64(a->cell, err);
            if (!b64) {
                json_decref(arr);
                return NULL;
            }
            json_array_append_new(
                arr, json_pack("[s,s]", a->type == TON_STACK_CELL ? "tvm.Cell" : "tvm.Slice", b64));
            free(b64);
        } else {
            json_decref(arr);
            cc_err_set(err, "unsupported get-method argument type");
            return NULL;
        }
    }
    return arr;
}
