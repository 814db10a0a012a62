/*
 * conditions.h - metav1.Condition bookkeeping on a status object.
 *
 * status.conditions is a list keyed by `type`. Setting a condition keeps its
 * lastTransitionTime unless `status` actually flips, so repeated reconciles
 * of an unchanged world write nothing (no update loops, quiet audit logs).
 *
 * Ownership: `status` is modified in place; returned pointers are borrowed
 * from it.
 */
#ifndef PAYBILL_CONTROLLERS_CONDITIONS_H
#define PAYBILL_CONTROLLERS_CONDITIONS_H

#include <jansson.h>

/* Set (or add) condition `type`. cstatus is "True", "False" or "Unknown";
 * reason is CamelCase; now is an RFC 3339 time. Returns 1 if the status
 * object changed, 0 if it already said exactly this. */
int cond_set(json_t *status, const char *type, const char *cstatus, const char *reason,
             const char *message, long long observed_generation, const char *now);

/* The condition object or NULL. */
json_t *cond_find(const json_t *status, const char *type);

/* 1 when condition `type` exists with status "True". */
int cond_is_true(const json_t *status, const char *type);

/* Remove condition `type`; 1 if it was there. */
int cond_remove(json_t *status, const char *type);

#endif
