/*
 * metrics.h - Prometheus counters, gauges and histograms, and their text
 * exposition (format 0.0.4), for /metrics.
 *
 * A metric has a fixed list of label names chosen at registration; each
 * distinct list of label values is a child series created on first use.
 * Observations pass the label values, in order, NULL-terminated (the same
 * convention as pb_log):
 *
 *     pb_counter *reconciles;
 *     const char *const labels[] = {"controller", "result", NULL};
 *     pb_metrics_counter_register(pb_metrics_default(), "paybill_reconcile_total",
 *                                 "Reconciliations per controller and result.",
 *                                 labels, &reconciles, &err);
 *     pb_metrics_counter_add(reconciles, 1, "tenant", "success", NULL);
 *
 * Thread safety: everything may be called from any thread. An observation
 * takes one per-metric mutex and does one hash lookup; it allocates only
 * the first time a label-value combination is seen. Passing the wrong number
 * of label values is a programming error: the observation is dropped and
 * logged.
 *
 * Output follows the Go client: families sorted by name, series by label
 * values, a labelled metric with no series yet is omitted, a metric without
 * labels always shows (starting at 0), floats print like Go's
 * strconv.FormatFloat(v, 'g', -1, 64) ("1", "0.25", "1e+06", "+Inf").
 *
 * The default registry is, with the logger, one of the two pieces of global
 * state the project allows; tests create private ones. Metric handles are
 * owned by their registry and valid until pb_metrics_registry_free.
 */
#ifndef PAYBILL_UTIL_METRICS_H
#define PAYBILL_UTIL_METRICS_H

#include <stddef.h>

#include "util/err.h"

#define PB_METRICS_MAX_LABELS 16

typedef struct pb_metrics_registry pb_metrics_registry;
typedef struct pb_counter pb_counter;
typedef struct pb_gauge pb_gauge;
typedef struct pb_histogram pb_histogram;

/* controller-runtime's reconcile-time buckets, in seconds. */
extern const double pb_metrics_default_buckets[];
extern const size_t pb_metrics_default_nbuckets;

/* The process-wide registry served by the operator's /metrics. */
pb_metrics_registry *pb_metrics_default(void);

/* A private registry (tests, or a separate endpoint). Free with
 * pb_metrics_registry_free, which invalidates its metric handles. Freeing
 * the default registry is a no-op. */
pb_metrics_registry *pb_metrics_registry_new(void);
void pb_metrics_registry_free(pb_metrics_registry *r);

/* Register (or look up) a metric. `labels` is a NULL-terminated list of
 * label names or NULL for none. Registering the same name again with the
 * same type, labels (and buckets) returns the existing metric, so several
 * components can share one; anything else with that name is PB_EEXIST.
 * Bad metric or label names are PB_EINVAL. */
int pb_metrics_counter_register(pb_metrics_registry *r, const char *name, const char *help,
                                const char *const *labels, pb_counter **out, pb_err *err);
int pb_metrics_gauge_register(pb_metrics_registry *r, const char *name, const char *help,
                              const char *const *labels, pb_gauge **out, pb_err *err);
/* buckets: strictly increasing finite upper bounds, or NULL/0 for the
 * defaults; "+Inf" is implicit. */
int pb_metrics_histogram_register(pb_metrics_registry *r, const char *name, const char *help,
                                  const char *const *labels, const double *buckets,
                                  size_t nbuckets, pb_histogram **out, pb_err *err);

/* Observations; the variadic arguments are the label values then NULL.
 * Counters only go up: a negative or NaN add is dropped and logged. */
void pb_metrics_counter_add(pb_counter *c, double v, ...) __attribute__((sentinel));
void pb_metrics_gauge_set(pb_gauge *g, double v, ...) __attribute__((sentinel));
void pb_metrics_gauge_add(pb_gauge *g, double v, ...) __attribute__((sentinel));
void pb_metrics_histogram_observe(pb_histogram *h, double v, ...) __attribute__((sentinel));

/* Current values, mainly for tests; 0 for a series never observed. */
double pb_metrics_counter_get(pb_counter *c, ...) __attribute__((sentinel));
double pb_metrics_gauge_get(pb_gauge *g, ...) __attribute__((sentinel));
unsigned long long pb_metrics_histogram_count(pb_histogram *h, ...) __attribute__((sentinel));

/* Render the registry in the Prometheus text format. *out is a malloc'd,
 * NUL-terminated string the caller frees; *len its length (may be NULL). */
int pb_metrics_render(pb_metrics_registry *r, char **out, size_t *len, pb_err *err);

/* The exposition Content-Type to serve the rendered text with. */
#define PB_METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* Format a value like Go's strconv.FormatFloat(v, 'g', -1, 64); buf >= 32. */
char *pb_metrics_format_value(double v, char *buf, size_t n);

#endif
