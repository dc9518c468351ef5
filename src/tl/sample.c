/* Deterministic sample values of every constructor (tl_sample_new), so tests
 * and fuzz seeds cover the whole schema without hand-written fixtures. */
#include "tl/tl_internal.h"

uint64_t tl_smp_u64(tl_smp *s)
{
    /* splitmix64: cheap, well mixed, reproducible from the seed. */
    uint64_t z = (s->state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

uint32_t tl_smp_u32(tl_smp *s)
{
    return (uint32_t)(tl_smp_u64(s) >> 32);
}

double tl_smp_double(tl_smp *s)
{
    return (double)(tl_smp_u64(s) >> 11) / 1024.0 - 4e12;
}

uint32_t tl_smp_flags(tl_smp *s, uint32_t mask)
{
    /* Seeds 0 and 1 give the two extremes (nothing / everything optional);
     * other seeds a random subset. Unused bits stay 0 so values round-trip. */
    switch (s->seed % 4) {
    case 0:
        return 0;
    case 1:
        return mask;
    default:
        return tl_smp_u32(s) & mask;
    }
}

void tl_smp_fill(tl_smp *s, uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)tl_smp_u32(s);
}

void *tl_smp_alloc(tl_smp *s, size_t n)
{
    return n ? tl_arena_zalloc(s->arena, n) : NULL;
}

tl_bytes tl_smp_bytes(tl_smp *s, bool text)
{
    /* Lengths around the short/long length form (253/254) and the padding. */
    static const size_t lens[] = {0, 1, 2, 3, 4, 5, 7, 8, 13, 128, 253, 254, 255, 256, 300};
    size_t len = lens[tl_smp_u32(s) % CC_ARRAY_LEN(lens)];
    uint8_t *p = tl_arena_alloc(s->arena, len + 1);
    for (size_t i = 0; i < len; i++) {
        uint32_t v = tl_smp_u32(s);
        p[i] = text ? (uint8_t)(' ' + v % 95) : (uint8_t)v;
    }
    p[len] = 0;
    return (tl_bytes){p, len};
}

size_t tl_smp_count(tl_smp *s)
{
    return s->depth > 6 ? 0 : tl_smp_u32(s) % 4;
}

static tl_obj *sample_ctor(tl_smp *s, const tl_ctor_impl *impl)
{
    tl_obj *o = tl_arena_zalloc(s->arena, impl->info.struct_size);
    o->id = impl->info.id;
    s->depth++;
    impl->sample(s, o);
    s->depth--;
    return o;
}

tl_obj *tl_smp_boxed(tl_smp *s, int type)
{
    size_t n = 0;
    for (size_t i = 0; i < tl_ctor_table_len; i++)
        if (!tl_ctor_table[i].info.is_function && tl_ctor_table[i].info.type == type) n++;
    size_t pick = tl_smp_u32(s) % n; /* every type has a constructor (tlgen checks) */
    for (size_t i = 0; i < tl_ctor_table_len; i++) {
        const tl_ctor_impl *impl = &tl_ctor_table[i];
        if (!impl->info.is_function && impl->info.type == type && pick-- == 0)
            return sample_ctor(s, impl);
    }
    return NULL;
}

tl_obj *tl_sample_new(uint32_t id, uint32_t seed)
{
    const tl_ctor_impl *impl = tl_impl_find(id);
    if (!impl) return NULL;
    tl_smp s = {.state = (0x5eed0000ull + seed * 0x100000001b3ull) ^ id, .seed = seed};
    s.arena = tl_arena_new(4096);
    tl_obj *o = sample_ctor(&s, impl);
    o->arena = s.arena;
    return o;
}
