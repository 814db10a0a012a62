/*
 * yaml.h - YAML to JSON for Kubernetes manifests and config files (libyaml).
 *
 * What is accepted, matching what kubectl / sigs.k8s.io/yaml users expect:
 *   - multi-document streams ("---"); empty and null documents are skipped;
 *   - block and flow styles, comments, block scalars (| and >, with chomping);
 *   - anchors and aliases, expanded into independent copies; merge keys "<<"
 *     (a mapping or a list of mappings; explicit keys win);
 *   - scalars resolved with the YAML 1.2 core schema: plain true/false,
 *     null/~/empty, decimal/0x/0o integers and floats become JSON values;
 *     everything else, including plain yes/no/on/off, and every quoted
 *     scalar, is a string. Explicit !!str forces a string. Mapping keys are
 *     always strings ("1: a" gives {"1":"a"}); duplicate keys are an error.
 *
 * Errors are PB_EPARSE with the position: "line 3, column 5: mapping values
 * are not allowed in this context". Bounds (PB_ETOOLARGE): input size,
 * nesting depth, and the node count after alias expansion, checked before
 * anything is copied so "billion laughs" documents fail fast.
 */
#ifndef PAYBILL_UTIL_YAML_H
#define PAYBILL_UTIL_YAML_H

#include <jansson.h>
#include <stddef.h>

#include "util/err.h"

#define PB_YAML_MAX_INPUT (16u * 1024 * 1024) /* bytes */
#define PB_YAML_MAX_DEPTH 100                 /* nested collections */
#define PB_YAML_MAX_NODES 1000000             /* per stream, after expansion */
/* Aliases may add at most this many nodes beyond PB_YAML_ALIAS_RATIO times
 * the nodes written out literally. */
#define PB_YAML_ALIAS_SLACK 10000
#define PB_YAML_ALIAS_RATIO 10

/* Parse a whole stream. On success *docs is a new JSON array (caller owns,
 * json_decref) with one element per non-empty document, possibly empty. */
int pb_yaml_parse_stream(const char *buf, size_t len, json_t **docs, pb_err *err);

/* Parse a stream that must hold exactly one non-empty document (config
 * files). *doc is a new reference the caller owns. PB_ENOTFOUND when the
 * stream is empty, PB_EINVAL when it holds several documents. */
int pb_yaml_parse_one(const char *buf, size_t len, json_t **doc, pb_err *err);

/* pb_yaml_parse_stream on a file's contents; messages start with the path.
 * PB_EIO when the file cannot be read. */
int pb_yaml_parse_file(const char *path, json_t **docs, pb_err *err);

#endif
