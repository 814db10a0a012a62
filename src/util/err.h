/*
 * err.h - the error convention used by every Paybill module.
 *
 * Functions return 0 on success or a negative PB_E* code, and when they fail
 * they fill a caller-owned pb_err with a human message. Callers add context
 * as the error travels up with pb_err_wrap(), so the final message reads like
 * "reconciling tenant acme: creating namespace: 403 Forbidden: ...".
 *
 * A NULL pb_err pointer is always allowed: the code is still returned, the
 * message is simply dropped. The struct is fixed-size on purpose so that
 * reporting an error never allocates (and so never fails).
 */
#ifndef PAYBILL_UTIL_ERR_H
#define PAYBILL_UTIL_ERR_H

#include <stddef.h>

enum {
    PB_OK = 0,
    PB_EINVAL = -1,        /* bad input: the caller (or the user) must fix it */
    PB_ENOMEM = -2,
    PB_EIO = -3,           /* file, socket or process failure */
    PB_ENOTFOUND = -4,
    PB_EEXIST = -5,
    PB_ECONFLICT = -6,     /* optimistic concurrency: re-read and retry */
    PB_ETIMEOUT = -7,
    PB_EUNAUTHORIZED = -8,
    PB_EFORBIDDEN = -9,
    PB_EGONE = -10,        /* resourceVersion too old: relist */
    PB_EUNAVAILABLE = -11, /* transient: try again later (5xx, 429, down) */
    PB_EPARSE = -12,       /* malformed JSON/YAML/wire data */
    PB_ETOOLARGE = -13,    /* over a configured bound */
    PB_ECANCELED = -14,    /* shutdown in progress */
    PB_EINTERNAL = -15,    /* a bug: an invariant did not hold */
    PB_ECODE_MIN = -15
};

#define PB_ERR_MSG_MAX 1024

typedef struct pb_err {
    int code;                   /* a PB_E* value, 0 when no error */
    char msg[PB_ERR_MSG_MAX];   /* "context: context: root cause" */
} pb_err;

/* Reset to "no error". */
void pb_err_clear(pb_err *e);

/* Set code and message (printf-style); returns code so callers can write
 * `return pb_err_set(e, PB_EINVAL, "bad %s", x);`. */
int pb_err_set(pb_err *e, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prefix the existing message with context ("ctx: old message"), keeping the
 * code. Returns the code. If e holds no error this is a no-op returning 0. */
/* pb_err_set(e, PB_ENOMEM, "out of memory"): the one wording for a failed
 * allocation. */
int pb_err_oom(pb_err *e);

int pb_err_wrap(pb_err *e, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Symbolic name of a code, e.g. "EINVAL"; never NULL. */
const char *pb_err_name(int code);

/* The message, or "" when e is NULL or clear. Owned by e. */
const char *pb_err_msg(const pb_err *e);

#endif
