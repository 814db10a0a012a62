/*
 * selector.h - label and field selectors as the API server parses them.
 *
 * Label syntax: "a=b", "a==b", "a!=b", "a in (x,y)", "a notin (x)", "a",
 * "!a", comma-separated (AND). Field selectors: "metadata.name=x",
 * "metadata.namespace!=y" (and any dotted path with =, ==, !=; which paths
 * a kind supports is the registry's business: dv_rtype_field_label_ok).
 * Ownership: a dv_selector is opaque and owned by whoever parsed it.
 */
#ifndef DEVAPI_SELECTOR_H
#define DEVAPI_SELECTOR_H

#include <jansson.h>
#include <stddef.h>

typedef struct dv_selector dv_selector;

/* NULL or "" parses to "everything". -1 with a message such as the real
 * server's: unable to parse requirement: ... */
int dv_label_selector_parse(const char *s, dv_selector **out, char *msg, size_t n);
int dv_field_selector_parse(const char *s, dv_selector **out, char *msg, size_t n);
/* 1 if obj (a full object) matches. Label selectors look at
 * metadata.labels; field selectors at the dotted paths. */
int dv_selector_matches(const dv_selector *sel, const json_t *obj);
void dv_selector_free(dv_selector *sel);
/* The key (label key or field path) of requirement i, in the order written;
 * NULL past the last (or for NULL). */
const char *dv_selector_key(const dv_selector *sel, size_t i);

#endif
