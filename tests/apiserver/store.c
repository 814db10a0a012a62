/*
 * store.c - in-memory object store with a global revision counter, an event
 * window for watch resume and snapshot lists, and an fsync'ed append-only log
 * for --data-dir. See store.h for the contract.
 *
 * Layout: `data` is a JSON object "group/resource" -> {"ns/name": object}.
 * Events live in a ring of `window` slots; each keeps the previous object so
 * a list "as of rv" is the current state with newer events undone.
 * `order` keeps each bucket's keys sorted ("group/resource" -> ["ns/name"...],
 * strcmp order), so lists need no sort and a namespace or a continue key is
 * a binary search away.
 * `texts` caches the compact JSON of every stored object (serialized once,
 * at write time, and shared by the log, gets, lists and watch events).
 */
#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/log.h"

typedef struct ev_slot {
    dv_event_type type;
    uint64_t rv;
    char *group, *resource, *ns;
    json_t *obj, *prev;
} ev_slot;

typedef struct sub {
    int id;
    dv_store_cb cb;
    void *ud;
} sub;

struct dv_store {
    json_t *data;
    json_t *order; /* "group/resource" -> sorted array of its "ns/name" keys */
    json_t *texts; /* "%p" of a stored object -> [object, its compact JSON] */
    uint64_t rv, floor;
    ev_slot *ring;
    size_t window, head, count; /* head: index of the oldest slot */
    sub *subs;
    size_t nsubs;
    int next_sub_id;
    char *log_path;
    FILE *log;
    size_t log_bytes, live_bytes;
    int unsynced; /* log lines written since the last fsync */
};

static char *xstrdup(const char *s) { return strdup(s ? s : ""); }

static void slot_clear(ev_slot *e)
{
    free(e->group);
    free(e->resource);
    free(e->ns);
    json_decref(e->obj);
    json_decref(e->prev);
    memset(e, 0, sizeof(*e));
}

static json_t *bucket(dv_store *s, const char *group, const char *resource, int create)
{
    char key[512];
    snprintf(key, sizeof(key), "%s/%s", group ? group : "", resource);
    json_t *b = json_object_get(s->data, key);
    if (!b && create) {
        b = json_object();
        json_object_set_new(s->data, key, b);
    }
    return b;
}

static void objkey(char *buf, size_t n, const char *ns, const char *name)
{
    snprintf(buf, n, "%s/%s", ns ? ns : "", name);
}

/* ---- sorted keys ---------------------------------------------------------------- */

static json_t *order_of(dv_store *s, const char *group, const char *resource, int create)
{
    char key[512];
    snprintf(key, sizeof(key), "%s/%s", group ? group : "", resource);
    json_t *o = json_object_get(s->order, key);
    if (!o && create) {
        o = json_array();
        json_object_set_new(s->order, key, o);
    }
    return o;
}

/* First index whose key is >= key (strict: > key). */
static size_t lower_bound(const json_t *keys, const char *key, int strict)
{
    size_t lo = 0, hi = json_array_size(keys);
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(json_string_value(json_array_get(keys, mid)), key);
        if (c < 0 || (strict && c == 0))
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static void order_insert(dv_store *s, const char *group, const char *resource, const char *key)
{
    json_t *keys = order_of(s, group, resource, 1);
    json_array_insert_new(keys, lower_bound(keys, key, 0), json_string(key));
}

static void order_remove(dv_store *s, const char *group, const char *resource, const char *key)
{
    json_t *keys = order_of(s, group, resource, 0);
    size_t i = lower_bound(keys, key, 0);
    if (i < json_array_size(keys) && !strcmp(json_string_value(json_array_get(keys, i)), key))
        json_array_remove(keys, i);
}

static int cmp_keys(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Sorted keys of a {"ns/name": obj} map, filtered by namespace (NULL: all)
 * and to keys after `after` (NULL: from the start). New array. */
static json_t *sort_keys(const json_t *map, const char *ns, const char *after)
{
    json_t *arr = json_array();
    size_t n = json_object_size(map), i = 0;
    if (!n)
        return arr;
    const char **keys = malloc(n * sizeof(*keys));
    const char *k;
    json_t *v;
    size_t nslen = ns ? strlen(ns) : 0;
    json_object_foreach((json_t *)map, k, v) {
        if (ns && (strncmp(k, ns, nslen) != 0 || k[nslen] != '/'))
            continue;
        if (after && strcmp(k, after) <= 0)
            continue;
        keys[i++] = k;
    }
    qsort(keys, i, sizeof(*keys), cmp_keys);
    for (size_t j = 0; j < i; j++)
        json_array_append_new(arr, json_string(keys[j]));
    free(keys);
    return arr;
}

/* After replaying the log: sort every bucket once. */
static void order_rebuild(dv_store *s)
{
    const char *bkey;
    json_t *b;
    json_object_clear(s->order);
    json_object_foreach(s->data, bkey, b)
        json_object_set_new(s->order, bkey, sort_keys(b, NULL, NULL));
}

/* Objects of map under the sorted keys[from..], while in namespace ns. */
static json_t *items_from(const json_t *map, const json_t *keys, size_t from, const char *ns)
{
    json_t *arr = json_array();
    size_t nslen = ns ? strlen(ns) : 0;
    for (size_t i = from; i < json_array_size(keys); i++) {
        const char *k = json_string_value(json_array_get(keys, i));
        if (ns && (strncmp(k, ns, nslen) != 0 || k[nslen] != '/'))
            break; /* a namespace's keys are contiguous */
        json_array_append(arr, json_object_get((json_t *)map, k));
    }
    return arr;
}

/* ---- serialized objects ------------------------------------------------------ */

/* Keyed by address: an entry holds a reference to its object, so the address
 * cannot be reused while the entry exists. */
static void text_key(char buf[32], const json_t *obj) { snprintf(buf, 32, "%p", (const void *)obj); }

/* Cache text (stolen; serialized here when NULL) as obj's JSON. */
static void text_put(dv_store *s, json_t *obj, char *text)
{
    if (!text)
        text = json_dumps(obj, JSON_COMPACT);
    if (!text)
        return;
    char key[32];
    text_key(key, obj);
    json_object_set_new(s->texts, key, json_pack("[O,s]", obj, text));
    free(text);
}

static void text_drop(dv_store *s, const json_t *obj)
{
    char key[32];
    text_key(key, obj);
    json_object_del(s->texts, key);
}

const char *dv_store_json(dv_store *s, const json_t *obj, size_t *len)
{
    char key[32];
    text_key(key, obj);
    json_t *t = json_array_get(json_object_get(s->texts, key), 1);
    if (!t)
        return NULL;
    *len = json_string_length(t);
    return json_string_value(t);
}

/* ---- persistence ------------------------------------------------------------ */

/* One log line {"rv","op","g","r","ns","n"[,"o"]}; otext: the object's
 * compact JSON, spliced in rather than serialized again. Bytes written, or
 * -1. */
static long write_record(FILE *f, uint64_t rv, const char *op, const char *group, const char *resource,
                         const char *ns, const char *name, const char *otext)
{
    json_t *rec = json_pack("{s:I,s:s,s:s,s:s,s:s,s:s}", "rv", (json_int_t)rv, "op", op, "g", group ? group : "",
                            "r", resource, "ns", ns ? ns : "", "n", name);
    char *head = json_dumps(rec, JSON_COMPACT);
    json_decref(rec);
    if (!head)
        return -1;
    size_t hlen = strlen(head) - 1; /* without the closing brace */
    size_t olen = otext ? strlen(otext) : 0;
    int ok = fwrite(head, 1, hlen, f) == hlen &&
             (!otext || (fputs(",\"o\":", f) != EOF && fwrite(otext, 1, olen, f) == olen)) && fputs("}\n", f) != EOF;
    free(head);
    return ok ? (long)(hlen + (otext ? 5 + olen : 0) + 2) : -1;
}

static int log_append(dv_store *s, const char *op, const char *group, const char *resource,
                      const char *ns, const char *name, const char *otext)
{
    if (!s->log)
        return 0;
    long len = write_record(s->log, s->rv + 1, op, group, resource, ns, name, otext);
    int rc = 0;
    /* Handed to the kernel now (so a write error fails this write); made
     * durable by dv_store_sync, once for all the writes of a loop turn. */
    if (len < 0 || fflush(s->log) != 0)
        rc = -1;
    s->unsynced = 1;
    s->log_bytes += len > 0 ? (size_t)len : 0;
    if (rc)
        pb_log_error("store: writing log failed", "path", s->log_path, "error", strerror(errno), NULL);
    return rc;
}

/* Rewrite the log as one put per live object plus the revision counter. */
/* fopen with mode 0600: the log holds Secrets. */
static FILE *open_private(const char *path, int flags, const char *mode)
{
    int fd = open(path, flags | O_WRONLY | O_CREAT, 0600);
    if (fd < 0)
        return NULL;
    FILE *f = fdopen(fd, mode);
    if (!f)
        close(fd);
    return f;
}

static int log_compact(dv_store *s)
{
    char tmp[4096];
    snprintf(tmp, sizeof(tmp), "%s.tmp", s->log_path);
    FILE *f = open_private(tmp, O_TRUNC, "w");
    if (!f)
        return -1;
    size_t bytes = 0;
    const char *bkey;
    json_t *b;
    json_object_foreach(s->data, bkey, b) {
        const char *slash = strchr(bkey, '/');
        char group[256];
        snprintf(group, sizeof(group), "%.*s", (int)(slash - bkey), bkey);
        const char *k;
        json_t *o;
        json_object_foreach(b, k, o) {
            const char *ks = strchr(k, '/');
            char ns[256];
            snprintf(ns, sizeof(ns), "%.*s", (int)(ks - k), k);
            size_t tlen;
            const char *text = dv_store_json(s, o, &tlen);
            char *own = text ? NULL : json_dumps(o, JSON_COMPACT);
            long len = write_record(f, 0, "put", group, slash + 1, ns, ks + 1, text ? text : own);
            free(own);
            if (len > 0)
                bytes += (size_t)len;
        }
    }
    fprintf(f, "{\"rv\":%" PRIu64 ",\"op\":\"rv\"}\n", s->rv);
    int ok = fflush(f) == 0 && fsync(fileno(f)) == 0;
    fclose(f);
    if (!ok || rename(tmp, s->log_path) != 0)
        return -1;
    if (s->log)
        fclose(s->log);
    s->log = open_private(s->log_path, O_APPEND, "a");
    s->log_bytes = s->live_bytes = bytes;
    s->unsynced = 0; /* the new log was fsync'ed whole */
    return s->log ? 0 : -1;
}

static int log_replay(dv_store *s, char *msg, size_t n)
{
    FILE *f = fopen(s->log_path, "r");
    if (!f)
        return errno == ENOENT ? 0 : (snprintf(msg, n, "%s: %s", s->log_path, strerror(errno)), -1);
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    while ((len = getline(&line, &cap, f)) > 0) {
        json_error_t jerr;
        json_t *rec = json_loadb(line, (size_t)len, 0, &jerr);
        if (!rec) /* a torn last line after a crash: everything before it stands */
            continue;
        const char *op = json_string_value(json_object_get(rec, "op"));
        uint64_t rv = (uint64_t)json_integer_value(json_object_get(rec, "rv"));
        const char *g = json_string_value(json_object_get(rec, "g"));
        const char *r = json_string_value(json_object_get(rec, "r"));
        const char *ns = json_string_value(json_object_get(rec, "ns"));
        const char *nm = json_string_value(json_object_get(rec, "n"));
        char key[1024];
        if (op && r && nm && !strcmp(op, "put") && json_is_object(json_object_get(rec, "o"))) {
            json_t *o = json_object_get(rec, "o");
            objkey(key, sizeof(key), ns, nm);
            json_object_set(bucket(s, g, r, 1), key, o);
            const char *orv = json_string_value(json_object_get(json_object_get(o, "metadata"), "resourceVersion"));
            if (orv && strtoull(orv, NULL, 10) > rv)
                rv = strtoull(orv, NULL, 10);
        } else if (op && r && nm && !strcmp(op, "del")) {
            objkey(key, sizeof(key), ns, nm);
            json_t *b = bucket(s, g, r, 0);
            if (b)
                json_object_del(b, key);
        }
        if (rv > s->rv)
            s->rv = rv;
        json_decref(rec);
    }
    free(line);
    fclose(f);
    return 0;
}

int dv_store_open(const char *data_dir, size_t window, dv_store **out, char *msg, size_t n)
{
    dv_store *s = calloc(1, sizeof(*s));
    s->data = json_object();
    s->texts = json_object();
    s->order = json_object();
    s->window = window ? window : 1;
    s->ring = calloc(s->window, sizeof(ev_slot));
    s->next_sub_id = 1;
    if (data_dir && *data_dir) {
        mkdir(data_dir, 0700);
        size_t plen = strlen(data_dir) + 16;
        s->log_path = malloc(plen);
        snprintf(s->log_path, plen, "%s/store.log", data_dir);
        int rc = log_replay(s, msg, n);
        order_rebuild(s);
        const char *bkey, *k;
        json_t *b, *o;
        json_object_foreach(s->data, bkey, b)
            json_object_foreach(b, k, o)
                text_put(s, o, NULL);
        if (rc != 0 || log_compact(s) != 0) {
            if (!msg[0])
                snprintf(msg, n, "%s: cannot write: %s", s->log_path, strerror(errno));
            dv_store_free(s);
            return -1;
        }
    }
    s->floor = s->rv;
    *out = s;
    return 0;
}

int dv_store_sync(dv_store *s)
{
    if (!s->log || !s->unsynced)
        return 0;
    if (fsync(fileno(s->log)) != 0) {
        pb_log_error("store: fsync of the log failed", "path", s->log_path, "error", strerror(errno), NULL);
        return -1;
    }
    s->unsynced = 0;
    return 0;
}

int dv_store_unsynced(const dv_store *s) { return s->unsynced; }

void dv_store_free(dv_store *s)
{
    if (!s)
        return;
    dv_store_sync(s);
    for (size_t i = 0; i < s->window; i++)
        slot_clear(&s->ring[i]);
    free(s->ring);
    free(s->subs);
    json_decref(s->texts);
    json_decref(s->order);
    json_decref(s->data);
    if (s->log)
        fclose(s->log);
    free(s->log_path);
    free(s);
}

uint64_t dv_store_rv(const dv_store *s) { return s->rv; }
uint64_t dv_store_floor(const dv_store *s) { return s->floor; }

const json_t *dv_store_get(dv_store *s, const char *group, const char *resource, const char *ns,
                           const char *name)
{
    json_t *b = bucket(s, group, resource, 0);
    if (!b || !name)
        return NULL;
    char key[1024];
    objkey(key, sizeof(key), ns, name);
    return json_object_get(b, key);
}

json_t *dv_store_list(dv_store *s, const char *group, const char *resource, const char *ns)
{
    return dv_store_list_after(s, group, resource, ns, s->rv, NULL);
}

json_t *dv_store_list_at(dv_store *s, const char *group, const char *resource, const char *ns,
                         uint64_t rv)
{
    return dv_store_list_after(s, group, resource, ns, rv, NULL);
}

json_t *dv_store_list_after(dv_store *s, const char *group, const char *resource, const char *ns,
                            uint64_t rv, const char *after)
{
    if (rv < s->floor)
        return NULL;
    json_t *b = bucket(s, group, resource, 0);
    if (rv >= s->rv) {
        json_t *keys = order_of(s, group, resource, 0);
        if (!b || !keys)
            return json_array();
        size_t from = 0;
        if (ns) {
            char prefix[512];
            snprintf(prefix, sizeof(prefix), "%s/", ns);
            from = lower_bound(keys, prefix, 0);
        }
        if (after && *after) {
            size_t past = lower_bound(keys, after, 1);
            if (past > from)
                from = past;
        }
        return items_from(b, keys, from, ns);
    }
    json_t *map = b ? json_copy(b) : json_object(); /* shallow: objects are shared, never modified */
    /* Undo events newer than rv, newest first. */
    for (size_t i = s->count; i-- > 0;) {
        ev_slot *e = &s->ring[(s->head + i) % s->window];
        if (e->rv <= rv)
            break;
        if (strcmp(e->group, group ? group : "") || strcmp(e->resource, resource))
            continue;
        const char *name = json_string_value(json_object_get(json_object_get(e->obj, "metadata"), "name"));
        char key[1024];
        objkey(key, sizeof(key), e->ns, name ? name : "");
        if (e->type == DV_EV_ADDED)
            json_object_del(map, key);
        else
            json_object_set(map, key, e->prev);
    }
    json_t *keys = sort_keys(map, ns, after && *after ? after : NULL);
    json_t *arr = items_from(map, keys, 0, NULL);
    json_decref(keys);
    json_decref(map);
    return arr;
}

json_t *dv_store_all(dv_store *s)
{
    json_t *arr = json_array();
    const char *bkey;
    json_t *b;
    json_object_foreach(s->data, bkey, b) {
        const char *slash = strchr(bkey, '/');
        json_t *group = json_stringn(bkey, (size_t)(slash - bkey));
        json_t *res = json_string(slash + 1);
        const char *k;
        json_t *o;
        json_object_foreach(b, k, o)
            json_array_append_new(arr, json_pack("{s:O,s:O,s:O}", "group", group, "resource", res, "object", o));
        json_decref(group);
        json_decref(res);
    }
    return arr;
}

static void emit(dv_store *s, dv_event_type type, const char *group, const char *resource,
                 const char *ns, json_t *obj, json_t *prev)
{
    if (s->count == s->window) {
        ev_slot *old = &s->ring[s->head];
        s->floor = old->rv;
        slot_clear(old);
        s->head = (s->head + 1) % s->window;
        s->count--;
    }
    ev_slot *e = &s->ring[(s->head + s->count) % s->window];
    e->type = type;
    e->rv = s->rv;
    e->group = xstrdup(group);
    e->resource = xstrdup(resource);
    e->ns = xstrdup(ns);
    e->obj = json_incref(obj);
    e->prev = json_incref(prev);
    s->count++;
    dv_event ev = {type, s->rv, e->group, e->resource, e->ns, obj, prev};
    for (size_t i = 0; i < s->nsubs; i++)
        if (s->subs[i].cb)
            s->subs[i].cb(s->subs[i].ud, &ev);
}

static void maybe_compact(dv_store *s)
{
    if (s->log && s->log_bytes > 4 * s->live_bytes + (1u << 20))
        if (log_compact(s) != 0)
            pb_log_warn("store: compaction failed", "path", s->log_path, NULL);
}

static void set_rv(json_t *obj, uint64_t rv)
{
    json_t *md = json_object_get(obj, "metadata");
    if (!json_is_object(md)) {
        md = json_object();
        json_object_set_new(obj, "metadata", md);
    }
    char buf[32];
    snprintf(buf, sizeof(buf), "%" PRIu64, rv);
    json_object_set_new(md, "resourceVersion", json_string(buf));
}

uint64_t dv_store_put(dv_store *s, const char *group, const char *resource, const char *ns,
                      const char *name, json_t *obj)
{
    set_rv(obj, s->rv + 1);
    char *text = json_dumps(obj, JSON_COMPACT);
    if (!text || log_append(s, "put", group, resource, ns, name, text) != 0) {
        free(text);
        json_decref(obj);
        return 0;
    }
    s->rv++;
    json_t *b = bucket(s, group, resource, 1);
    char key[1024];
    objkey(key, sizeof(key), ns, name);
    json_t *prev = json_incref(json_object_get(b, key));
    if (prev)
        text_drop(s, prev);
    else
        order_insert(s, group, resource, key);
    text_put(s, obj, text);
    json_object_set_new(b, key, obj);
    emit(s, prev ? DV_EV_MODIFIED : DV_EV_ADDED, group, resource, ns, obj, prev);
    json_decref(prev);
    maybe_compact(s);
    return s->rv;
}

uint64_t dv_store_delete(dv_store *s, const char *group, const char *resource, const char *ns,
                         const char *name)
{
    json_t *b = bucket(s, group, resource, 0);
    char key[1024];
    objkey(key, sizeof(key), ns, name);
    json_t *prev = b ? json_object_get(b, key) : NULL;
    if (!prev)
        return 0;
    if (log_append(s, "del", group, resource, ns, name, NULL) != 0)
        return 0;
    s->rv++;
    json_incref(prev);
    text_drop(s, prev);
    order_remove(s, group, resource, key);
    json_object_del(b, key);
    json_t *last = json_deep_copy(prev);
    set_rv(last, s->rv);
    text_put(s, last, NULL); /* serialized once for every watcher */
    emit(s, DV_EV_DELETED, group, resource, ns, last, prev);
    text_drop(s, last);
    json_decref(last);
    json_decref(prev);
    maybe_compact(s);
    return s->rv;
}

int dv_store_subscribe(dv_store *s, dv_store_cb cb, void *ud)
{
    for (size_t i = 0; i < s->nsubs; i++)
        if (!s->subs[i].cb) {
            s->subs[i] = (sub){s->next_sub_id++, cb, ud};
            return s->subs[i].id;
        }
    s->subs = realloc(s->subs, (s->nsubs + 1) * sizeof(*s->subs));
    s->subs[s->nsubs++] = (sub){s->next_sub_id++, cb, ud};
    return s->subs[s->nsubs - 1].id;
}

void dv_store_unsubscribe(dv_store *s, int id)
{
    for (size_t i = 0; i < s->nsubs; i++)
        if (s->subs[i].id == id)
            s->subs[i].cb = NULL;
}

int dv_store_replay(dv_store *s, uint64_t since, dv_store_cb cb, void *ud)
{
    if (since < s->floor)
        return -1;
    for (size_t i = 0; i < s->count; i++) {
        ev_slot *e = &s->ring[(s->head + i) % s->window];
        if (e->rv <= since)
            continue;
        dv_event ev = {e->type, e->rv, e->group, e->resource, e->ns, e->obj, e->prev};
        cb(ud, &ev);
    }
    return 0;
}
