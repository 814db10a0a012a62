/*
 * timeutil.h - RFC 3339 timestamps and Go-style durations.
 *
 * Kubernetes objects carry times as RFC 3339 strings (metav1.Time, seconds,
 * "2026-11-25T10:00:00Z"; metav1.MicroTime, six fraction digits, used by
 * Leases) and users write durations the Go way ("30s", "1h30m", "500ms").
 * Both are parsed strictly; bad input is PB_EINVAL with a message quoting it.
 *
 * Durations are signed 64-bit nanosecond counts (pb_duration), like Go's
 * time.Duration. Instants are struct timespec in UTC (seconds since the
 * epoch plus nanoseconds).
 */
#ifndef PAYBILL_UTIL_TIMEUTIL_H
#define PAYBILL_UTIL_TIMEUTIL_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "util/err.h"

typedef int64_t pb_duration;

#define PB_NANOSECOND ((pb_duration)1)
#define PB_MICROSECOND ((pb_duration)1000)
#define PB_MILLISECOND ((pb_duration)1000000)
#define PB_SECOND ((pb_duration)1000000000)
#define PB_MINUTE (60 * PB_SECOND)
#define PB_HOUR (60 * PB_MINUTE)

/* Big enough for any formatted duration or timestamp. */
#define PB_TIME_BUF 48

/* Wall clock (CLOCK_REALTIME) and a monotonic clock in nanoseconds for
 * measuring intervals and deadlines (never goes backwards). */
struct timespec pb_time_now(void);
int64_t pb_time_mono_ns(void);

/* The same monotonic clock in seconds: what deadlines, back-offs and
 * cutoffs throughout the operator are kept in. */
double pb_time_mono_s(void);

/* Go time.ParseDuration: "300ms", "-1.5h", "2h45m30.5s", "1us"/"1µs", "0".
 * Units ns, us (µs, μs), ms, s, m, h; a unit is required except for "0". */
int pb_time_parse_duration(const char *s, pb_duration *out, pb_err *err);

/* Go time.Duration.String: "1h30m0s", "500ms", "1.5µs", "0s". Returns buf. */
char *pb_time_format_duration(pb_duration d, char *buf, size_t n);

/* Parse RFC 3339: date 'T' time, optional 1-9 fraction digits, then 'Z' or
 * +hh:mm / -hh:mm. The result is normalised to UTC. */
int pb_time_parse_rfc3339(const char *s, struct timespec *out, pb_err *err);

/* Format in UTC with 'Z'. Returns buf; "" if the year is outside 0..9999.
 *   pb_time_format_rfc3339:       2026-11-25T10:00:00Z        (metav1.Time)
 *   pb_time_format_rfc3339_micro: 2026-11-25T10:00:00.123456Z (MicroTime)
 *   pb_time_format_rfc3339_nano:  2026-11-25T10:00:00.1234Z   (Go
 *                                 RFC3339Nano: trailing zeros trimmed) */
char *pb_time_format_rfc3339(struct timespec t, char *buf, size_t n);
char *pb_time_format_rfc3339_micro(struct timespec t, char *buf, size_t n);
char *pb_time_format_rfc3339_nano(struct timespec t, char *buf, size_t n);

#endif
