/*
 * jload.h - decoding JSON text into a jansson tree, several times faster
 * than json_loadb, with exactly its result.
 *
 * Why: jansson's reader lexes through a stream, one callback per byte, at
 * about 110 instructions a byte; building the tree is a small part of it.
 * Decoding watch events and lists that way was the operator's largest
 * single cost (a sixth of its instructions in a cold start, see
 * bench/RESULTS-operator.md). pb_jload finds the structure with jsmn
 * (Debian's libjsmn-dev, a tokenizer that allocates nothing), checks every
 * byte between the tokens itself, and builds the tree with jansson's own
 * constructors.
 *
 * Only the plain cases are decoded here: strings of printable ASCII
 * without escapes, integers of up to 18 digits, true, false and null.
 * Every other string and number is decoded by jansson, that token alone.
 * Anything else unusual (text that is not well formed, a top-level value
 * that is neither an object nor an array, nesting deeper than 128) sends
 * the whole text to json_loadb. So what is accepted or rejected, and every
 * error message, is jansson's; tests/unit/util/test_jload.c checks the two
 * against each other, on hostile text too.
 */
#ifndef PAYBILL_UTIL_JLOAD_H
#define PAYBILL_UTIL_JLOAD_H

#include <jansson.h>
#include <stddef.h>

/* Same contract as json_loadb(text, n, flags, err): a new reference, or
 * NULL with err (may be NULL) filled. JSON_DECODE_ANY and
 * JSON_REJECT_DUPLICATES take the fast path (a repeated key sends the text
 * to jansson, which rejects it); any other flag goes straight to
 * json_loadb. */
json_t *pb_jload(const char *text, size_t n, size_t flags, json_error_t *err);

/* The fast path alone, for tests: 1 with *out set (a new reference), or 0
 * when the text is not one it decodes itself (json_loadb's to decode;
 * *out untouched). */
int pb_jload_tokens(const char *text, size_t n, size_t flags, json_t **out);

#endif
