/*
 * strset.h - whether a string is one of a small fixed set: a
 * NULL-terminated array of strings, usually literals ({"a", "b", NULL}).
 *
 * Why: validation of enumerated fields (a plan's isolation model, YAML's
 * null and boolean spellings) and lists of members to skip each had their
 * own copy of this loop. A linear scan is right for a handful of entries.
 */
#ifndef PAYBILL_UTIL_STRSET_H
#define PAYBILL_UTIL_STRSET_H

/* 1 when s equals one of set[0..] (up to its NULL), else 0. */
int pb_strset_has(const char *const *set, const char *s);

#endif
