/*
 * printcols.h - CRD additionalPrinterColumns for the dev API server's Table
 * responses: evaluating a column's jsonPath (kubectl's JSONPath dialect)
 * against an object and turning the result into a cell the way
 * apiextensions-apiserver's table convertor does.
 *
 * Supported JSONPath: .a.b, ['a.b'], [0], [-1], [1:3], [*], .*, ..name
 * (recursive descent), and filters [?(@.type=="Ready")] with == != < <= > >=
 * against string/number/bool literals or existence [?(@.x)]. Braces
 * "{.a.b}" and a leading "$" are accepted. Missing keys are not errors.
 *
 * Ownership: inputs are borrowed; returned json_t are new references.
 */
#ifndef DEVAPI_PRINTCOLS_H
#define DEVAPI_PRINTCOLS_H

#include <jansson.h>
#include <stddef.h>
#include <time.h>

/* The first value jsonpath selects in obj (what the real convertor uses),
 * or NULL when nothing matches or the path does not parse. */
json_t *dv_printcol_eval(const char *jsonpath, const json_t *obj);

/* The table cell for a column of `type` ("string", "integer", "number",
 * "boolean", "date"), as the real convertor builds it:
 *  - nothing selected, a null, or a value of the wrong JSON type -> NULL
 *    (send JSON null; kubectl prints "<none>");
 *  - string: strings as they are, numbers/bools printed as Go prints them,
 *    objects and arrays as compact JSON;
 *  - integer: integers, reals truncated; number: any number (as a real);
 *  - boolean: booleans; date: the timestamp string unchanged - render it
 *    with dv_printcol_age (the real server sends the age, e.g. "5m").
 * New reference or NULL. */
json_t *dv_printcol_cell(const char *jsonpath, const char *type, const json_t *obj);

/* For CRD validation: 0 if jsonpath parses, else -1 with a message. */
int dv_printcol_check(const char *jsonpath, char *msg, size_t n);

/* Age of an RFC 3339 timestamp at `now`, as kubectl/kube-apiserver print it
 * (duration.HumanDuration): "45s", "3m20s", "5h", "2d3h", "1y30d";
 * "<invalid>" for a bad timestamp or one more than a second in the future,
 * "<unknown>" for an empty one. Writes into buf (size n). Returns buf. */
const char *dv_printcol_age(const char *timestamp, time_t now, char *buf, size_t n);

#endif
