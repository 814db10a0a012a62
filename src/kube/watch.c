/*
 * watch.c - decoding of a watch stream: newline-delimited JSON events
 * ({"type":..., "object":...}) arriving in pieces of any size.
 *
 * The transport (client.c) feeds whatever bytes curl hands it; this file
 * cuts complete lines out of them. Bytes are buffered only while a line is
 * incomplete, and each byte is scanned for '\n' once, so a multi-megabyte
 * event arriving in thousands of small chunks costs linear time.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kube/client.h"

#define DEFAULT_MAX_LINE ((size_t)64 << 20)

struct kube_watch_decoder {
    char *buf;
    size_t len, cap;
    size_t scanned;  /* bytes of buf already known to hold no '\n' */
    size_t max_line;
    unsigned long events;
    int drop_managed_fields;
};

kube_watch_decoder *kube_watch_decoder_new(size_t max_line)
{
    kube_watch_decoder *d = calloc(1, sizeof *d);
    if (d)
        d->max_line = max_line ? max_line : DEFAULT_MAX_LINE;
    return d;
}

void kube_watch_decoder_free(kube_watch_decoder *d)
{
    if (!d)
        return;
    free(d->buf);
    free(d);
}

unsigned long kube_watch_decoder_events(const kube_watch_decoder *d)
{
    return d->events;
}

void kube_watch_decoder_drop_managed_fields(kube_watch_decoder *d, int on)
{
    d->drop_managed_fields = on;
}

/* ---- cutting object.metadata.managedFields out of an event's text ----------
 *
 * managedFields is a third of what a watch sends (every writer's field
 * set), and the informer's store throws it away; decoding it with jansson
 * and freeing it again was a tenth of the operator's CPU in a cold start.
 * So it is cut from the text first. This is not a JSON parser: it only
 * steps over values (strings with their escapes, nesting) to find that one
 * member. Anything unexpected (malformed text, an escaped key) leaves the
 * line as it was, for jansson to decode or reject as before. */

static size_t skip_ws(const char *p, size_t n, size_t i)
{
    while (i < n && (p[i] == ' ' || p[i] == '\t' || p[i] == '\n' || p[i] == '\r'))
        i++;
    return i;
}

/* p[i] is '"': the index just past the string, or 0. */
static size_t skip_string(const char *p, size_t n, size_t i)
{
    for (i++; i < n; i++) {
        if (p[i] == '\\')
            i++;
        else if (p[i] == '"')
            return i + 1;
    }
    return 0;
}

/* The index just past the value at p[i], or 0 when there is none. */
static size_t skip_value(const char *p, size_t n, size_t i)
{
    if (i >= n)
        return 0;
    if (p[i] == '"')
        return skip_string(p, n, i);
    if (p[i] != '{' && p[i] != '[') { /* number, true, false, null */
        size_t j = i;
        while (j < n && p[j] != ',' && p[j] != '}' && p[j] != ']' && p[j] != ' ' && p[j] != '\t' &&
               p[j] != '\n' && p[j] != '\r')
            j++;
        return j > i ? j : 0;
    }
    /* Which opener each level has (bit set: '['), so that a closer of the
     * wrong kind is caught instead of turning bad text into good. Deeper
     * than 64 levels: not cut. */
    uint64_t arrays = 0;
    size_t depth = 0;
    for (; i < n; i++) {
        if (p[i] == '"') {
            if (!(i = skip_string(p, n, i)))
                return 0;
            i--;
        } else if (p[i] == '{' || p[i] == '[') {
            if (depth == 64)
                return 0;
            arrays = p[i] == '[' ? arrays | (UINT64_C(1) << depth) : arrays & ~(UINT64_C(1) << depth);
            depth++;
        } else if (p[i] == '}' || p[i] == ']') {
            if (depth == 0 || (p[i] == ']') != !!(arrays & (UINT64_C(1) << (depth - 1))))
                return 0;
            if (--depth == 0)
                return i + 1;
        }
    }
    return 0;
}

/* A member of the object at p[obj] ('{'): where it starts (its key's
 * quote), where its value starts and ends, and the comma before it (0 when
 * it is the first member). 1 when found. */
typedef struct member {
    size_t key, value, end, comma_before;
} member;

static int find_member(const char *p, size_t n, size_t obj, const char *key, member *m)
{
    size_t klen = strlen(key), i = obj + 1, comma = 0;
    for (;;) {
        i = skip_ws(p, n, i);
        if (i >= n || p[i] != '"')
            return 0; /* '}' (not found) or malformed */
        size_t kend = skip_string(p, n, i);
        if (!kend)
            return 0;
        int match = kend - i - 2 == klen && memcmp(p + i + 1, key, klen) == 0;
        size_t v = skip_ws(p, n, kend);
        if (v >= n || p[v] != ':')
            return 0;
        v = skip_ws(p, n, v + 1);
        size_t vend = skip_value(p, n, v);
        if (!vend)
            return 0;
        if (match) {
            *m = (member){.key = i, .value = v, .end = vend, .comma_before = comma};
            return 1;
        }
        i = skip_ws(p, n, vend);
        if (i >= n || p[i] != ',')
            return 0;
        comma = i++;
    }
}

/* Cut object.metadata.managedFields out of p[0..n); the new length. */
static size_t cut_managed_fields(char *p, size_t n)
{
    member ob, md, mf;
    if (n == 0 || p[0] != '{' || !find_member(p, n, 0, "object", &ob) || p[ob.value] != '{' ||
        !find_member(p, n, ob.value, "metadata", &md) || p[md.value] != '{' ||
        !find_member(p, n, md.value, "managedFields", &mf))
        return n;
    size_t from, to, after = skip_ws(p, n, mf.end);
    if (after < n && p[after] == ',') { /* drop the member and the comma after it */
        from = mf.key;
        to = after + 1;
    } else if (mf.comma_before) { /* the last member: drop the comma before it */
        from = mf.comma_before;
        to = mf.end;
    } else { /* the only member */
        from = mf.key;
        to = mf.end;
    }
    memmove(p + from, p + to, n - to);
    return n - (to - from);
}

/* One event line (without its '\n'). */
static int handle_line(kube_watch_decoder *d, char *p, size_t n, kube_watch_fn fn, void *ud,
                       kube_status *st, pb_err *err)
{
    while (n > 0 && (p[n - 1] == '\r' || p[n - 1] == ' ' || p[n - 1] == '\t'))
        n--;
    size_t lead = 0;
    while (lead < n && (p[lead] == ' ' || p[lead] == '\t'))
        lead++;
    if (lead == n)
        return 0; /* blank line: keep-alive */
    if (d->drop_managed_fields)
        n = lead + cut_managed_fields(p + lead, n - lead);
    json_error_t je;
    json_t *ev = json_loadb(p + lead, n - lead, 0, &je);
    const char *type = json_string_value(json_object_get(ev, "type"));
    json_t *obj = json_object_get(ev, "object");
    if (!ev || !type || !json_is_object(obj)) {
        int rc = pb_err_set(err, PB_EPARSE, "malformed watch event after %lu events: %s", d->events,
                            ev ? "want {\"type\": string, \"object\": object}" : je.text);
        json_decref(ev);
        return rc;
    }
    int rc = 0;
    if (strcmp(type, "ERROR") == 0) {
        kube_status tmp = {0};
        kube_status *s = st ? st : &tmp;
        kube_status_clear(s);
        if (!kube_status_from_json(obj, s))
            s->code = 0;
        rc = s->code == 410 ? PB_EGONE : s->code ? kube_code_from_http(s->code, s->reason) : PB_EIO;
        pb_err_set(err, rc, "ERROR event: %d %s: %s", s->code, s->reason[0] ? s->reason : "Unknown",
                   s->message[0] ? s->message : "(no message)");
        kube_status_clear(&tmp);
    } else {
        d->events++;
        if (fn(ud, type, obj) != 0)
            rc = 1;
    }
    json_decref(ev);
    return rc;
}

int kube_watch_decoder_feed(kube_watch_decoder *d, const char *data, size_t len, kube_watch_fn fn,
                            void *ud, kube_status *st, pb_err *err)
{
    if (len == 0)
        return 0;
    if (d->len + len + 1 > d->cap) {
        size_t cap = d->cap ? d->cap : 4096;
        while (cap < d->len + len + 1)
            cap *= 2;
        char *nb = realloc(d->buf, cap);
        if (!nb)
            return pb_err_set(err, PB_ENOMEM, "watch: out of memory buffering %zu bytes", d->len + len);
        d->buf = nb;
        d->cap = cap;
    }
    memcpy(d->buf + d->len, data, len);
    d->len += len;

    size_t start = 0;
    int rc = 0;
    while (rc == 0) {
        char *nl = memchr(d->buf + d->scanned, '\n', d->len - d->scanned);
        if (!nl) {
            d->scanned = d->len;
            break;
        }
        size_t end = (size_t)(nl - d->buf);
        rc = handle_line(d, d->buf + start, end - start, fn, ud, st, err);
        start = d->scanned = end + 1;
    }
    /* Drop consumed lines in one move. */
    if (start > 0) {
        memmove(d->buf, d->buf + start, d->len - start);
        d->len -= start;
        d->scanned -= start;
    }
    if (rc == 0 && d->len > d->max_line)
        return pb_err_set(err, PB_ETOOLARGE, "watch event larger than %zu bytes", d->max_line);
    return rc;
}

int kube_watch_decoder_finish(kube_watch_decoder *d, kube_watch_fn fn, void *ud, kube_status *st,
                              pb_err *err)
{
    if (d->len == 0)
        return 0;
    int rc = handle_line(d, d->buf, d->len, fn, ud, st, err);
    d->len = d->scanned = 0;
    return rc;
}
