/*
 * log.h - structured logging: JSON lines by default, text for humans.
 *
 * One call is one event: a message plus key/value fields, given as a
 * NULL-terminated list of `const char *` pairs:
 *
 *     pb_log_info("tenant ready", "tenant", name, "phase", "Active", NULL);
 *
 * JSON format:  {"ts":"2026-11-25T10:00:00.123Z","level":"info","msg":"tenant ready","tenant":"acme",...}
 * Text format:  2026-11-25T10:00:00.123Z INFO  tenant ready tenant=acme phase=Active
 *
 * Secrets never reach the log: the value of any field whose key looks like a
 * credential (password, token, secret, key, authorization, cookie...) is
 * replaced by "[REDACTED]"; pb_log_redact() does the same for free text
 * such as URIs with embedded passwords.
 *
 * The logger is the one piece of global mutable state we allow (with the
 * metrics registry); it is thread-safe: each event is written with a single
 * locked fwrite so lines never interleave.
 */
#ifndef PAYBILL_UTIL_LOG_H
#define PAYBILL_UTIL_LOG_H

#include <stdio.h>
#include <stddef.h>

typedef enum {
    PB_LOG_DEBUG = 0,
    PB_LOG_INFO = 1,
    PB_LOG_WARN = 2,
    PB_LOG_ERROR = 3,
    PB_LOG_OFF = 4
} pb_log_level;

typedef enum { PB_LOG_JSON = 0, PB_LOG_TEXT = 1 } pb_log_format;

/* Configure the global logger. out == NULL means stderr. Safe to call again. */
void pb_log_configure(pb_log_level level, pb_log_format format, FILE *out);

/* Parse "debug|info|warn|warning|error|off" and "json|text"; 0 or -1. */
int pb_log_parse_level(const char *s, pb_log_level *out);
int pb_log_parse_format(const char *s, pb_log_format *out);

/* True when events at this level would be written (skip costly formatting). */
int pb_log_enabled(pb_log_level level);

/* Emit one event. Fields: NULL-terminated (key, value) string pairs; a NULL
 * value is written as JSON null / "<nil>". */
void pb_log(pb_log_level level, const char *msg, ...) __attribute__((sentinel));

#define pb_log_debug(...) pb_log(PB_LOG_DEBUG, __VA_ARGS__)
#define pb_log_info(...) pb_log(PB_LOG_INFO, __VA_ARGS__)
#define pb_log_warn(...) pb_log(PB_LOG_WARN, __VA_ARGS__)
#define pb_log_error(...) pb_log(PB_LOG_ERROR, __VA_ARGS__)

/* 1 when a field named `key` must have its value redacted. */
int pb_log_key_is_secret(const char *key);

/* Copy `in` to `out` (size n, always NUL-terminated) with credentials masked:
 * the password part of "scheme://user:pass@host", and values of
 * "password=...", "token=...", "Bearer ..." style fragments. Returns out. */
char *pb_log_redact(const char *in, char *out, size_t n);

#endif
