/*
 * jscan.h - finding one member in JSON text without decoding the rest.
 *
 * Some JSON the operator receives is big and only a sliver of it is wanted:
 * the resourceVersion of an object a write sent back, or the place of
 * metadata.managedFields in a watch event (a third of its bytes). Decoding
 * it all with jansson to read one string, or to throw a third away, was a
 * measurable share of the operator's CPU (bench/RESULTS-operator.md).
 *
 * This is not a JSON parser: it steps over values (strings with their
 * escapes, nesting with matching brackets) to find a member by its key.
 * Anything it does not expect (malformed text, a key written with escapes,
 * nesting deeper than 64) makes it answer "not found", and the caller falls
 * back to decoding the whole text with jansson, which accepts or rejects it
 * as it always did. The one value it returns is decoded by jansson too.
 *
 * No allocation except pb_jscan_string's small jansson decode; offsets
 * index the caller's text, which must stay unchanged while they are used.
 */
#ifndef PAYBILL_UTIL_JSCAN_H
#define PAYBILL_UTIL_JSCAN_H

#include <stddef.h>

/* Where a member sits in the text: its key's opening quote, its value's
 * first and one-past-last byte, and the comma before it (0 when it is the
 * object's first member). */
typedef struct pb_jscan_member {
    size_t key, value, end, comma_before;
} pb_jscan_member;

/* The first non-whitespace index at or after i (n when none). */
size_t pb_jscan_skip_ws(const char *p, size_t n, size_t i);

/* The member `key` of the object whose '{' is at p[obj]. 1 when found; 0
 * when absent, or when the object is not well formed up to it. */
int pb_jscan_find(const char *p, size_t n, size_t obj, const char *key, pb_jscan_member *m);

/* Like pb_jscan_find for a member whose value is an object, to look inside
 * it: where that object's '{' is, into *value. Its end is not looked for
 * (the walk stops at its start), so text after it is not checked here. */
int pb_jscan_enter(const char *p, size_t n, size_t obj, const char *key, size_t *value);

/* The string at a dotted path of plain keys ("metadata.resourceVersion")
 * from the top-level object in p[0..n), copied into buf (NUL-terminated).
 * 0 when found and it fits; -1 otherwise (absent, not a string, too long
 * for buf, or text this scanner does not follow), buf then holds "". */
int pb_jscan_string(const char *p, size_t n, const char *path, char *buf, size_t len);

#endif
