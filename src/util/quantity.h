/*
 * quantity.h - Kubernetes resource quantities ("100m", "1.5Gi", "12e6"):
 * parse them as k8s.io/apimachinery's resource.ParseQuantity does, compare
 * them exactly, and print them as the API server serializes them.
 *
 * Why: a real API server rewrites quantities on every write ("1000m" ->
 * "1", "2048Mi" -> "2Gi"), so anything that diffs desired against live
 * state must compare values, not text, and the dev API server must rewrite
 * them the same way to expose code that does not.
 *
 * The rules followed (apimachinery quantity.go / suffix.go):
 *   - optional sign, digits with an optional '.', then a suffix: binary
 *     Ki Mi Gi Ti Pi Ei, decimal n u m "" k M G T P E, or an exponent
 *     e<int>/E<int> (|int| < 2^31); "." and a bare suffix ("Mi") are 0;
 *   - values are exact (no floating point), rounded up in magnitude to
 *     the nano (1e-9); binary values are capped at 2^63-1;
 *   - the text keeps the kind of suffix it was written with: binary
 *     prints as the largest whole power of 1024 (decimal when the value is
 *     below 1024 or fractional), decimal as the largest multiple-of-3
 *     exponent suffix, exponent notation as e<multiple of 3>;
 *   - like the real parser, an input whose digits are already in canonical
 *     form is kept verbatim, sign included ("+1" stays "+1").
 * Limits of this implementation, on inputs no manifest uses: at most
 * PB_QUANTITY_MAX_LEN characters and 38 significant digits (the real parser
 * has no bound); such inputs fail with PB_ETOOLARGE.
 *
 * No allocation; inputs are NUL-terminated strings; nothing is retained.
 */
#ifndef PAYBILL_UTIL_QUANTITY_H
#define PAYBILL_UTIL_QUANTITY_H

#include <stddef.h>

#include "util/err.h"

#define PB_QUANTITY_MAX_LEN 100 /* longest accepted input */
#define PB_QUANTITY_BUF 128     /* an output buffer this big always suffices */

/* The message ParseQuantity gives for malformed text (the real server's
 * words, which kubectl users see). */
#define PB_QUANTITY_ERR_FORMAT \
    "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
#define PB_QUANTITY_ERR_SUFFIX "unable to parse quantity's suffix"

/* Serialized form of s, as the API server returns it, into out (n bytes).
 * PB_EINVAL with PB_QUANTITY_ERR_FORMAT or PB_QUANTITY_ERR_SUFFIX as the
 * whole message when s is not a quantity; PB_ETOOLARGE beyond the limits
 * above or when out is too small. */
int pb_quantity_canonical(const char *s, char *out, size_t n, pb_err *err);

/* Compare the values of a and b: *result is -1, 0 or 1. Errors as above. */
int pb_quantity_cmp(const char *a, const char *b, int *result, pb_err *err);

/* 1 when a and b both parse and have the same value, else 0 (including
 * when either does not parse). */
int pb_quantity_equal(const char *a, const char *b);

/* 1 when s parses as a quantity. */
int pb_quantity_valid(const char *s);

/* 1 when s parses and its value is a whole number ("2", "1k", "1Gi"; not
 * "1500m"), else 0. */
int pb_quantity_is_integer(const char *s);

#endif
