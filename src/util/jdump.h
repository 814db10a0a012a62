/*
 * jdump.h - a jansson tree to compact JSON text, several times faster
 * than json_dumps, with exactly its bytes.
 *
 * Why: json_dumps costs about 50 instructions a byte of output. It walks
 * every string by code point and, to catch cycles, formats each container's
 * address with snprintf and keeps it in a hash table while it is inside.
 * Every request body the operator sends goes through it: 17 % of its
 * instructions in a cold start (bench/RESULTS-operator.md). pb_jdump walks
 * the tree and lets yajl's generator (Debian's libyajl-dev) write and
 * escape the text.
 *
 * Only compact output takes this path: JSON_COMPACT, optionally with
 * JSON_SORT_KEYS, JSON_ENCODE_ANY and JSON_PRESERVE_ORDER (a no-op in
 * jansson 2.14). Any other flag, a tree deeper than 128, or a cycle (which
 * is deeper than any limit) goes to json_dumps, so the result and every
 * refusal are jansson's. A real is formatted by jansson, that value alone.
 * tests/unit/util/test_jdump.c checks the two byte for byte.
 *
 * Strings are taken to be UTF-8, as jansson's constructors make sure they
 * are; one built with a *_nocheck constructor from bytes that are not is
 * written as it is, where json_dumps would refuse the whole tree (none of
 * the operator's are: they come from decoded JSON or ASCII).
 */
#ifndef PAYBILL_UTIL_JDUMP_H
#define PAYBILL_UTIL_JDUMP_H

#include <jansson.h>
#include <stddef.h>

/* Same contract as json_dumps(v, flags): NUL-terminated text the caller
 * frees with free(), or NULL (out of memory, or a value json_dumps
 * refuses: a scalar without JSON_ENCODE_ANY, a cycle). */
char *pb_jdump(const json_t *v, size_t flags);

/* The fast path alone, for tests: 1 with *out set (as above), or 0 when
 * the value is json_dumps's to write (*out untouched). */
int pb_jdump_gen(const json_t *v, size_t flags, char **out);

#endif
