/*
 * err.c - fixed-size, allocation-free error reporting (see err.h).
 */
#include "util/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void pb_err_clear(pb_err *e)
{
    if (!e)
        return;
    e->code = 0;
    e->msg[0] = '\0';
}

int pb_err_set(pb_err *e, int code, const char *fmt, ...)
{
    if (!e)
        return code;
    e->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    return code;
}

int pb_err_oom(pb_err *e) { return pb_err_set(e, PB_ENOMEM, "out of memory"); }

int pb_err_wrap(pb_err *e, const char *fmt, ...)
{
    if (!e || e->code == 0)
        return 0;
    char ctx[PB_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ctx, sizeof ctx, fmt, ap);
    va_end(ap);

    /* Build "ctx: old" by hand; truncation keeps the context, which is the
     * more useful end when a message is too long. */
    char old[PB_ERR_MSG_MAX];
    memcpy(old, e->msg, sizeof old);
    size_t cap = sizeof e->msg - 1;
    size_t n = strlen(ctx);
    if (n > cap)
        n = cap;
    memcpy(e->msg, ctx, n);
    const char *rest[2] = {": ", old};
    for (int i = 0; i < 2 && n < cap; i++) {
        size_t m = strlen(rest[i]);
        if (m > cap - n)
            m = cap - n;
        memcpy(e->msg + n, rest[i], m);
        n += m;
    }
    e->msg[n] = '\0';
    return e->code;
}

const char *pb_err_name(int code)
{
    static const char *const names[] = {
        "OK",        "EINVAL",       "ENOMEM",      "EIO",      "ENOTFOUND",
        "EEXIST",    "ECONFLICT",    "ETIMEOUT",    "EUNAUTHORIZED",
        "EFORBIDDEN", "EGONE",       "EUNAVAILABLE", "EPARSE",  "ETOOLARGE",
        "ECANCELED", "EINTERNAL",
    };
    if (code > 0 || code < PB_ECODE_MIN)
        return "EUNKNOWN";
    return names[-code];
}

const char *pb_err_msg(const pb_err *e)
{
    if (!e || e->code == 0)
        return "";
    return e->msg;
}
