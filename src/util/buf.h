/*
 * buf.h - a growable byte buffer, for building strings and binary blobs
 * piece by piece (SQL text, URLs, packed objects, request bodies).
 *
 * The struct is plain on purpose: callers keep it on the stack or inside
 * their own structs, and a zero-initialised pb_buf is an empty buffer:
 *
 *     pb_buf b = {0};
 *     pb_buf_puts(&b, "SELECT ");
 *     pb_buf_printf(&b, "%d", n);
 *     char *sql = pb_buf_take(&b, NULL);   // NULL: out of memory
 *
 * Once data is allocated it is always NUL-terminated at data[len] (one
 * spare byte is kept), so the same buffer serves text and binary data that
 * may itself contain NULs.
 *
 * Failure is sticky: when an append cannot grow the buffer, oom is set and
 * every later append is refused, so a builder may make many appends and
 * check once at the end (oom, or pb_buf_take returning NULL). What was
 * appended before the failure stays readable until pb_buf_take or
 * pb_buf_free.
 *
 * Ownership: the buffer owns data until pb_buf_take hands it to the caller
 * (who frees it with free()) or pb_buf_free releases it. Pointers into data
 * are invalidated by any append.
 */
#ifndef PAYBILL_UTIL_BUF_H
#define PAYBILL_UTIL_BUF_H

#include <stdarg.h>
#include <stddef.h>

typedef struct pb_buf {
    char *data; /* NULL until something is appended or reserved */
    size_t len; /* bytes held, not counting the terminating NUL */
    size_t cap; /* bytes allocated: at least len + 1 once data is set */
    int oom;    /* sticky: an append failed, the contents are incomplete */
} pb_buf;

/* Make room for n more bytes (plus the NUL) so the appends that follow do
 * not reallocate; for call sites that know a good first size. 0, or
 * PB_ENOMEM (and oom set). */
int pb_buf_reserve(pb_buf *b, size_t n);

/* Append n bytes (which may include NULs; p must not point into b's own
 * data). Appending 0 bytes changes nothing and allocates nothing.
 * 0, or PB_ENOMEM (and oom set; always so once oom is set). */
int pb_buf_append(pb_buf *b, const void *p, size_t n);

/* Append a NUL-terminated string (not NULL), without its NUL. */
int pb_buf_puts(pb_buf *b, const char *s);

/* Append printf-formatted text. 0; PB_ENOMEM; or PB_EINVAL when vsnprintf
 * itself fails (an encoding error): oom is set in both cases, since the
 * text is then incomplete. */
int pb_buf_printf(pb_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int pb_buf_vprintf(pb_buf *b, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

/* Shorten to len bytes (no-op when len >= b->len), keeping the allocation:
 * for paths that grow and shrink as a walk goes down and up. */
void pb_buf_truncate(pb_buf *b, size_t len);

/* The contents as a string: data, or "" while nothing is allocated. Owned
 * by b; valid until the next append, take or free. */
const char *pb_buf_str(const pb_buf *b);

/* Hand the malloc'd, NUL-terminated contents to the caller (who frees
 * them) and reset b to empty. An empty buffer gives a new "". Returns NULL
 * when oom is set (the contents are then freed) or when allocating that ""
 * fails. *len (optional) gets the length, 0 on NULL. */
char *pb_buf_take(pb_buf *b, size_t *len);

/* Release the contents and reset b to empty (oom cleared). */
void pb_buf_free(pb_buf *b);

#endif
