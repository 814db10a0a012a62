/*
 * jpack.h - packed JSON: a compact, immutable binary encoding of a jansson
 * value, for holding many objects in memory (the informer cache).
 *
 * Why: a small Kubernetes object parsed by jansson costs about 4 KB of heap
 * (a hashtable per object, a malloc per string and per member), seven times
 * its JSON text. Packed, the same object costs less than its compact JSON
 * text, and unpacking is several times faster than parsing that text
 * because nothing has to be lexed: lengths and types are explicit.
 *
 * The format is private to the process (never written to disk or sent
 * anywhere), so it may change freely. Each value starts with a tag byte:
 * the low 3 bits are the type, the high 5 bits a small argument (0..30,
 * or 31 meaning "an unsigned LEB128 varint follows"):
 *
 *   LIT   arg 0 null, 1 false, 2 true
 *   INT   zigzag varint follows (arg unused)
 *   REAL  8 bytes follow (the double, host byte order)
 *   STR   arg = byte length, then the bytes (may contain NUL)
 *   WORD  arg = index into a fixed dictionary of common Kubernetes strings
 *   ARRAY arg = item count, then the items
 *   OBJ   arg = member count, then per member a key (STR or WORD) and a value
 *
 * Object member order is preserved. Decoding checks every length against
 * the buffer, so a truncated or corrupt buffer gives NULL, never a read
 * past its end.
 *
 * Ownership: jpack_encode returns a malloc'd buffer the caller frees;
 * jpack_decode returns a new jansson reference; jpack_get_string points
 * into the buffer (or the dictionary) and copies nothing.
 */
#ifndef PAYBILL_UTIL_JPACK_H
#define PAYBILL_UTIL_JPACK_H

#include <jansson.h>
#include <stddef.h>

/* Pack v into a new buffer of exactly *len bytes. NULL when out of memory
 * or v is NULL. */
unsigned char *jpack_encode(json_t *v, size_t *len);

/* Unpack a whole buffer: a new reference, or NULL if the buffer is not
 * exactly one well-formed packed value (or out of memory). */
json_t *jpack_decode(const unsigned char *buf, size_t len);

/* Find the string at a dotted object path ("metadata.resourceVersion")
 * without unpacking anything. Returns a pointer to its bytes (NOT
 * NUL-terminated) and its length in *n, or NULL when the path is absent,
 * not a string, or the buffer is malformed. */
const char *jpack_get_string(const unsigned char *buf, size_t len, const char *path, size_t *n);

/* The dictionary, for tests: its size and its i-th word (NULL past end). */
size_t jpack_dictionary_size(void);
const char *jpack_dictionary_word(size_t i);

#endif
