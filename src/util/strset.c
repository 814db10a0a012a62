/*
 * strset.c - membership in a small fixed set of strings (see strset.h).
 */
#include "util/strset.h"

#include <string.h>

int pb_strset_has(const char *const *set, const char *s)
{
    for (; *set; set++)
        if (strcmp(s, *set) == 0)
            return 1;
    return 0;
}
