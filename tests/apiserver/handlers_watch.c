/*
 * handlers_watch.c - watch streams: initial ADDED events or a replay from a
 * resourceVersion (an ERROR 410 event when it left the window), then live
 * events from the store filtered by namespace and selectors (objects moving
 * in or out of a selector become ADDED/DELETED as on the real server),
 * periodic BOOKMARKs, timeoutSeconds, and the fault-injection drop.
 *
 * A watch only buffers newline-terminated JSON events; the server drains the
 * buffer when the connection is writable (see handlers.h).
 */
#include "handlers_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "selector.h"

#define BOOKMARK_EVERY_S 10.0
#define DEFAULT_TIMEOUT_S 1800.0

struct dv_watch {
    dv_api *api;
    char *group, *version, *plural, *kind, *ns;
    dv_selector *ls, *fs;
    int table, sent_columns;
    json_t *columns;
    char *include_object;
    int bookmarks;
    double deadline, next_bookmark, drop_at;
    int sub_id;
    char *buf;
    size_t len, cap, off;
    int finished;
    void (*notify)(void *ud);
    void *ud;
    uint64_t last_rv;
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void append(dv_watch *w, const char *s, size_t n)
{
    if (w->off > 0 && w->off == w->len)
        w->off = w->len = 0;
    if (w->len + n + 1 > w->cap) {
        w->cap = (w->len + n + 1) * 2;
        w->buf = realloc(w->buf, w->cap);
    }
    memcpy(w->buf + w->len, s, n);
    w->len += n;
}

static void wake(dv_watch *w)
{
    if (w->notify)
        w->notify(w->ud);
}

static void send_event(dv_watch *w, const char *type, json_t *object /* stolen */)
{
    json_t *ev = json_pack("{s:s,s:o}", "type", type, "object", object);
    char *s = json_dumps(ev, JSON_COMPACT);
    json_decref(ev);
    if (!s)
        return;
    append(w, s, strlen(s));
    append(w, "\n", 1);
    free(s);
}

static void send_object_event(dv_watch *w, const char *type, const json_t *obj)
{
    char av[256];
    if (*w->group)
        snprintf(av, sizeof(av), "%s/%s", w->group, w->version);
    else
        snprintf(av, sizeof(av), "%s", w->version);
    const char *oav = json_string_value(json_object_get(obj, "apiVersion"));
    const char *okind = json_string_value(json_object_get(obj, "kind"));
    size_t tlen;
    const char *text = !w->table && oav && okind && !strcmp(oav, av) && !strcmp(okind, w->kind)
                           ? dv_store_json(w->api->store, obj, &tlen)
                           : NULL;
    if (text) { /* the store serialized it once for every watcher */
        append(w, "{\"type\":\"", 9);
        append(w, type, strlen(type));
        append(w, "\",\"object\":", 11);
        append(w, text, tlen);
        append(w, "}\n", 2);
        return;
    }
    json_t *o = json_copy((json_t *)obj);
    json_object_set_new(o, "apiVersion", json_string(av));
    json_object_set_new(o, "kind", json_string(w->kind));
    if (w->table) {
        json_t *arr = json_pack("[o]", o);
        json_t *t = dv_table(w->columns, arr, w->include_object, !w->sent_columns);
        const char *rv = json_string_value(json_object_get(json_object_get(obj, "metadata"), "resourceVersion"));
        json_object_set_new(t, "metadata", json_pack("{s:s}", "resourceVersion", rv ? rv : ""));
        w->sent_columns = 1;
        json_decref(arr);
        send_event(w, type, t);
    } else {
        send_event(w, type, o);
    }
}

static void send_bookmark(dv_watch *w)
{
    char av[256], rv[32];
    if (*w->group)
        snprintf(av, sizeof(av), "%s/%s", w->group, w->version);
    else
        snprintf(av, sizeof(av), "%s", w->version);
    snprintf(rv, sizeof(rv), "%" PRIu64, w->last_rv);
    send_event(w, "BOOKMARK", json_pack("{s:s,s:s,s:{s:s}}", "kind", w->kind, "apiVersion", av, "metadata",
                                        "resourceVersion", rv));
}

static int matches(const dv_watch *w, const json_t *obj)
{
    if (!obj)
        return 0;
    if (w->ns) {
        const char *ns = json_string_value(json_object_get(json_object_get(obj, "metadata"), "namespace"));
        if (!ns || strcmp(ns, w->ns))
            return 0;
    }
    return dv_selector_matches(w->ls, obj) && dv_selector_matches(w->fs, obj);
}

static void on_event(void *ud, const dv_event *ev)
{
    dv_watch *w = ud;
    if (w->finished || strcmp(ev->group, w->group) || strcmp(ev->resource, w->plural))
        return;
    w->last_rv = ev->rv;
    int now_in = ev->type != DV_EV_DELETED && matches(w, ev->obj);
    int was_in = ev->prev && matches(w, ev->prev);
    const char *type = NULL;
    if (ev->type == DV_EV_DELETED)
        type = was_in ? "DELETED" : NULL;
    else if (now_in)
        type = was_in ? "MODIFIED" : "ADDED";
    else if (was_in)
        type = "DELETED";
    if (!type)
        return;
    send_object_event(w, type, ev->obj);
    wake(w);
}

static void watch_free(dv_watch *w)
{
    if (w->sub_id)
        dv_store_unsubscribe(w->api->store, w->sub_id);
    free(w->group);
    free(w->version);
    free(w->plural);
    free(w->kind);
    free(w->ns);
    free(w->include_object);
    dv_selector_free(w->ls);
    dv_selector_free(w->fs);
    json_decref(w->columns);
    free(w->buf);
    free(w);
}

void dv_handle_watch(dv_ctx *c)
{
    dv_selector *ls, *fs;
    if (dv_parse_selectors(c, &ls, &fs) != 0)
        return;
    dv_api *api = c->api;
    dv_watch *w = calloc(1, sizeof(*w));
    w->api = api;
    w->group = strdup(c->rt->group);
    w->version = strdup(c->rt->version);
    w->plural = strdup(c->rt->plural);
    w->kind = strdup(c->rt->kind);
    w->ns = c->rt->namespaced && c->ns ? strdup(c->ns) : NULL;
    w->ls = ls;
    w->fs = fs;
    w->table = dv_wants_table(c->req);
    w->columns = json_deep_copy(c->rt->columns);
    const char *inc = dv_q(c, "includeObject");
    w->include_object = inc ? strdup(inc) : NULL;
    const char *bm = dv_q(c, "allowWatchBookmarks");
    w->bookmarks = bm && (!strcmp(bm, "true") || !strcmp(bm, "1"));
    double t = now_s();
    const char *to = dv_q(c, "timeoutSeconds");
    w->deadline = t + (to && atof(to) > 0 ? atof(to) : DEFAULT_TIMEOUT_S);
    w->next_bookmark = t + BOOKMARK_EVERY_S;
    if (api->cfg.fault_drop_watch_after_s > 0)
        w->drop_at = t + api->cfg.fault_drop_watch_after_s;
    const char *rvq = dv_q(c, "resourceVersion");
    dv_store *st = api->store;
    w->last_rv = dv_store_rv(st);
    if (!rvq || !*rvq || !strcmp(rvq, "0")) {
        /* The store's text as it is, unless a selector or a Table needs
         * the object decoded: the items are the watch's namespace already. */
        dv_store_items *items = dv_store_items_after(st, w->group, w->plural, w->ns, dv_store_rv(st), NULL);
        char av[256];
        if (*w->group)
            snprintf(av, sizeof(av), "%s/%s", w->group, w->version);
        else
            snprintf(av, sizeof(av), "%s", w->version);
        for (size_t i = 0; i < dv_store_items_count(items); i++) {
            if (w->ls || w->fs) {
                json_t *labels = w->fs ? NULL : dv_store_items_labels(items, i); /* all a label selector reads */
                int in = labels ? dv_selector_matches(w->ls, labels) : matches(w, dv_store_items_obj(st, items, i));
                json_decref(labels);
                dv_store_items_drop(items, i);
                if (!in)
                    continue;
            }
            size_t tlen;
            const char *tav, *tkind;
            const char *text = w->table ? NULL : dv_store_items_text(items, i, &tlen, &tav, &tkind);
            if (text && tav && tkind && !strcmp(tav, av) && !strcmp(tkind, w->kind)) {
                static const char head[] = "{\"type\":\"ADDED\",\"object\":";
                append(w, head, sizeof(head) - 1);
                append(w, text, tlen);
                append(w, "}\n", 2);
            } else {
                const json_t *o = dv_store_items_obj(st, items, i);
                if (o)
                    send_object_event(w, "ADDED", o);
            }
            dv_store_items_drop(items, i); /* one tree at a time */
        }
        dv_store_items_free(items);
    } else {
        uint64_t from = strtoull(rvq, NULL, 10);
        if (from > dv_store_rv(st)) {
            /* A revision this store never reached (e.g. it restarted without
             * --data-dir): what the watch cache answers after its wait. */
            char m[256];
            snprintf(m, sizeof(m), "Timeout: Too large resource version: %s, current: %" PRIu64, rvq, dv_store_rv(st));
            send_event(w, "ERROR", json_pack("{s:s,s:s,s:{},s:s,s:s,s:s,s:{s:[{s:s,s:s}],s:i},s:i}", "kind", "Status",
                                             "apiVersion", "v1", "metadata", "status", "Failure", "message", m,
                                             "reason", "Timeout", "details", "causes", "reason",
                                             "ResourceVersionTooLarge", "message", "Too large resource version",
                                             "retryAfterSeconds", 1, "code", 504));
            w->finished = 1;
        } else if ((c->rt->is_crd && from < c->rt->watch_floor) || dv_store_replay(st, from, on_event, w) != 0) {
            /* Before the store's window, or (custom resources) before the
             * watch cache kube-apiserver made when it began serving the CRD. */
            uint64_t floor = c->rt->is_crd && from < c->rt->watch_floor ? c->rt->watch_floor : dv_store_floor(st);
            char m[256];
            snprintf(m, sizeof(m), "too old resource version: %s (%" PRIu64 ")", rvq, floor);
            send_event(w, "ERROR", json_pack("{s:s,s:s,s:{},s:s,s:s,s:s,s:i}", "kind", "Status", "apiVersion", "v1",
                                             "metadata", "status", "Failure", "message", m, "reason", "Expired",
                                             "code", 410));
            w->finished = 1;
        }
        w->last_rv = dv_store_rv(st) > from ? dv_store_rv(st) : from;
    }
    if (!w->finished)
        w->sub_id = dv_store_subscribe(st, on_event, w);
    if (api->nwatches == api->capwatches) {
        api->capwatches = api->capwatches ? api->capwatches * 2 : 16;
        api->watches = realloc(api->watches, api->capwatches * sizeof(*api->watches));
    }
    api->watches[api->nwatches++] = w;
    c->resp->status = 200;
    snprintf(c->resp->content_type, sizeof(c->resp->content_type), "application/json");
    c->resp->watch = w;
}

void dv_watches_tick(dv_api *api)
{
    double t = now_s();
    for (size_t i = 0; i < api->nwatches; i++) {
        dv_watch *w = api->watches[i];
        if (w->finished)
            continue;
        if (w->drop_at > 0 && t >= w->drop_at) {
            w->finished = 1; /* injected fault: end without a final bookmark */
        } else if (t >= w->deadline) {
            if (w->bookmarks)
                send_bookmark(w);
            w->finished = 1;
        } else if (w->bookmarks && t >= w->next_bookmark) {
            w->last_rv = dv_store_rv(api->store) > w->last_rv ? dv_store_rv(api->store) : w->last_rv;
            send_bookmark(w);
            w->next_bookmark = t + BOOKMARK_EVERY_S;
        } else {
            continue;
        }
        wake(w);
    }
}

void dv_watches_end(dv_api *api, const char *group, const char *plural)
{
    for (size_t i = 0; i < api->nwatches; i++) {
        dv_watch *w = api->watches[i];
        if (!w->finished && !strcmp(w->group, group) && !strcmp(w->plural, plural)) {
            w->finished = 1;
            wake(w);
        }
    }
}

void dv_watches_free_all(dv_api *api)
{
    for (size_t i = 0; i < api->nwatches; i++)
        watch_free(api->watches[i]);
    free(api->watches);
    api->watches = NULL;
    api->nwatches = api->capwatches = 0;
}

void dv_watch_set_notify(dv_watch *w, void (*notify)(void *ud), void *ud)
{
    w->notify = notify;
    w->ud = ud;
}

const char *dv_watch_data(const dv_watch *w, size_t *len)
{
    *len = w->len - w->off;
    return w->buf ? w->buf + w->off : "";
}

void dv_watch_consume(dv_watch *w, size_t n)
{
    w->off += n;
    if (w->off >= w->len)
        w->off = w->len = 0;
}

int dv_watch_finished(const dv_watch *w) { return w->finished; }

void dv_watch_close(dv_watch *w)
{
    if (!w)
        return;
    dv_api *api = w->api;
    for (size_t i = 0; i < api->nwatches; i++)
        if (api->watches[i] == w) {
            api->watches[i] = api->watches[--api->nwatches];
            break;
        }
    watch_free(w);
}
