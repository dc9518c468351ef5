/*
 * The weights every token streams, moved from the model file's mapping onto
 * anonymous memory backed by 2 MB pages.
 *
 * Why: a generated token reads every matrix once, from memory. Through the
 * file's 4 KB page-cache pages, one thread's F16 generation here streamed
 * 17 GB/s against 31-33 GB/s for a plain sum over memory: every 4 KB costs a
 * TLB miss (and hardware prefetchers stop at page boundaries). On 2 MB
 * pages it streamed 21 GB/s (+23 % tokens per second, medians of alternating
 * runs). Packed types (pack.c) are rewritten in place and so already sat on
 * anonymous 4 KB pages; they gain the larger pages too (Q8_0 +12-19 %).
 *
 * How: for each 2 MB-aligned stretch inside [p, p + n), a copy of its bytes
 * is taken, a fresh anonymous mapping advised for huge pages is moved over
 * the stretch with mremap (which replaces the old pages in one step, or
 * fails and leaves them as they were), and the bytes are copied back, which
 * faults in the huge pages. The ends of the range (less than 2 MB each) stay
 * as they are. Best effort: without transparent huge pages the stretch ends
 * on anonymous 4 KB pages, and any failing call stops the move with the
 * bytes intact.
 *
 * Resident memory does not grow: the file's pages leave the process as the
 * anonymous ones arrive, one chunk at a time (the chunk's copy is the peak
 * overhead). The token embedding table is not moved: only the rows of the
 * tokens seen are read, and left in the file they are never loaded.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "engine/engine_int.h"

#define HUGE_PAGE ((uintptr_t)2 << 20)
/* Bytes moved per mremap: a multiple of the huge page; larger chunks mean
 * fewer mappings (each chunk may stay its own one), smaller ones a smaller
 * copy buffer. */
#define MOVE_CHUNK ((size_t)8 << 20)

#if defined(__linux__) && defined(MADV_HUGEPAGE) && defined(MREMAP_FIXED)
/* An anonymous mapping of len bytes at a 2 MB boundary. The boundary
 * matters after the move too: the kernel gives a mapping huge pages only
 * where its addresses and its page offsets (set when it was made, kept by
 * mremap) are aligned alike. */
static void *map_aligned(size_t len)
{
    size_t span = len + HUGE_PAGE;
    uint8_t *m = mmap(NULL, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) return NULL;
    uint8_t *at = (uint8_t *)(((uintptr_t)m + HUGE_PAGE - 1) & ~(HUGE_PAGE - 1));
    if (at > m) munmap(m, (size_t)(at - m));
    if (at + len < m + span) munmap(at + len, (size_t)(m + span - (at + len)));
    return at;
}
#endif

size_t eng_mem_huge(void *p, size_t n)
{
#if defined(__linux__) && defined(MADV_HUGEPAGE) && defined(MREMAP_FIXED)
    uintptr_t a = ((uintptr_t)p + HUGE_PAGE - 1) & ~(HUGE_PAGE - 1);
    uintptr_t b = ((uintptr_t)p + n) & ~(HUGE_PAGE - 1);
    if (n == 0 || b <= a) return 0;
    uint8_t *copy = malloc(CC_MIN(MOVE_CHUNK, (size_t)(b - a)));
    if (!copy) return 0;
    size_t moved = 0;
    for (uintptr_t x = a; x < b;) {
        size_t len = CC_MIN(MOVE_CHUNK, (size_t)(b - x));
        void *fresh = map_aligned(len);
        if (!fresh) break;
        (void)madvise(fresh, len, MADV_HUGEPAGE);
        memcpy(copy, (void *)x, len);
        if (mremap(fresh, len, len, MREMAP_MAYMOVE | MREMAP_FIXED, (void *)x) == MAP_FAILED) {
            munmap(fresh, len);
            break;
        }
        memcpy((void *)x, copy, len);
        moved += len;
        x += len;
    }
    free(copy);
    return moved;
#else
    (void)p;
    (void)n;
    return 0;
#endif
}
