/*
 * watch.c - decoding of a watch stream: newline-delimited JSON events
 * ({"type":..., "object":...}) arriving in pieces of any size.
 *
 * The transport (client.c) feeds whatever bytes curl hands it; this file
 * cuts complete lines out of them. Bytes are buffered only while a line is
 * incomplete, and each byte is scanned for '\n' once, so a multi-megabyte
 * event arriving in thousands of small chunks costs linear time.
 */
#include <stdlib.h>
#include <string.h>

#include "kube/client.h"
#include "util/jload.h"
#include "util/jscan.h"

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
 * So it is cut from the text first (util/jscan.h: anything unexpected
 * leaves the line as it was, for jansson to decode or reject as before). */

/* Cut object.metadata.managedFields out of p[0..n); the new length. */
static size_t cut_managed_fields(char *p, size_t n)
{
    /* Only managedFields itself is walked to its end: what comes after it
     * is jansson's to check, as it always was. */
    size_t ob, md;
    pb_jscan_member mf;
    if (n == 0 || !pb_jscan_enter(p, n, 0, "object", &ob) || !pb_jscan_enter(p, n, ob, "metadata", &md) ||
        !pb_jscan_find(p, n, md, "managedFields", &mf))
        return n;
    size_t from, to, after = pb_jscan_skip_ws(p, n, mf.end);
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
    json_t *ev = pb_jload(p + lead, n - lead, 0, &je);
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
