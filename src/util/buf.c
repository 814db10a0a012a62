/*
 * buf.c - growable byte buffer with a sticky out-of-memory flag (see buf.h).
 */
#include "util/buf.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/err.h"

#define MIN_CAP 64

static int fail(pb_buf *b, int code)
{
    b->oom = 1;
    return code;
}

int pb_buf_reserve(pb_buf *b, size_t n)
{
    if (b->oom)
        return PB_ENOMEM;
    if (b->data && n < b->cap - b->len)
        return 0;
    if (n >= SIZE_MAX - b->len)
        return fail(b, PB_ENOMEM);
    size_t need = b->len + n + 1;
    /* Doubling keeps a long run of small appends linear overall. */
    size_t cap = !b->cap ? MIN_CAP : b->cap <= SIZE_MAX / 2 ? b->cap * 2 : need;
    if (cap < need)
        cap = need;
    char *p = realloc(b->data, cap);
    if (!p)
        return fail(b, PB_ENOMEM);
    p[b->len] = '\0'; /* a first allocation starts as "" */
    b->data = p;
    b->cap = cap;
    return 0;
}

int pb_buf_append(pb_buf *b, const void *p, size_t n)
{
    if (b->oom)
        return PB_ENOMEM;
    if (n == 0)
        return 0;
    /* Room already there (the common case for a run of small appends):
     * no call to grow. */
    if (!(b->data && n < b->cap - b->len) && pb_buf_reserve(b, n))
        return PB_ENOMEM;
    memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

int pb_buf_puts(pb_buf *b, const char *s)
{
    return pb_buf_append(b, s, strlen(s));
}

int pb_buf_vprintf(pb_buf *b, const char *fmt, va_list ap)
{
    if (b->oom)
        return PB_ENOMEM;
    /* Format straight into the spare room; only when it is too small,
     * grow and format again. */
    size_t room = b->data ? b->cap - b->len : 0;
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(room ? b->data + b->len : NULL, room, fmt, ap2);
    va_end(ap2);
    if (n < 0) {
        if (b->data)
            b->data[b->len] = '\0'; /* drop whatever was partly written */
        return fail(b, PB_EINVAL);
    }
    if ((size_t)n >= room) {
        if (pb_buf_reserve(b, (size_t)n)) {
            if (b->data)
                b->data[b->len] = '\0';
            return PB_ENOMEM;
        }
        vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    }
    b->len += (size_t)n;
    return 0;
}

int pb_buf_printf(pb_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = pb_buf_vprintf(b, fmt, ap);
    va_end(ap);
    return rc;
}

void pb_buf_truncate(pb_buf *b, size_t len)
{
    if (len >= b->len)
        return;
    b->len = len;
    b->data[len] = '\0';
}

const char *pb_buf_str(const pb_buf *b)
{
    return b->data ? b->data : "";
}

char *pb_buf_take(pb_buf *b, size_t *len)
{
    char *d = b->data;
    size_t n = b->len;
    int oom = b->oom;
    memset(b, 0, sizeof *b);
    if (oom) {
        free(d);
        d = NULL;
    } else if (!d) {
        d = calloc(1, 1);
    }
    if (len)
        *len = d ? n : 0;
    return d;
}

void pb_buf_free(pb_buf *b)
{
    free(b->data);
    memset(b, 0, sizeof *b);
}
