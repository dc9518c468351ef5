/* Unicode class lookup: binary search over the generated range table
 * (about 2,800 ranges, so at most 12 steps). */
#include "engine/unicode.h"

uint32_t eng_ucd_flags(uint32_t cp)
{
    size_t lo = 0, hi = eng_ucd_n_ranges;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (cp < eng_ucd_ranges[mid].lo)
            hi = mid;
        else if (cp > eng_ucd_ranges[mid].hi)
            lo = mid + 1;
        else
            return eng_ucd_ranges[mid].flags;
    }
    return 0;
}
