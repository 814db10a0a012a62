/*
 * store.c - in-memory object store with a global revision counter, an event
 * window for watch resume and snapshot lists, and an fsync'ed append-only log
 * for --data-dir. See store.h for the contract.
 *
 * Layout: one bucket per "group/resource", an array of entries kept sorted
 * by "ns/name" (strcmp order), so a get, a namespace or a continue key is a
 * binary search away and lists need no sort. An entry is one allocation
 * holding its key and the object's compact JSON (serialized once, at write
 * time, and shared by the log, gets, lists and watch events): that text is
 * the only copy of a cold object. A decoded jansson tree costs ~9x its JSON
 * (12 KB for the average 1.3 KB object of an operator bench: every "{}" of
 * managedFields is a hash table), which is what got the server OOM-killed
 * holding 900,000 objects; so trees are only a cache: decoded on demand,
 * the most recently used DV_TREE_CACHE of them kept (evicted by
 * dv_store_trim, never in the middle of a request), and a written object's
 * tree is cached as it is stored, so a write's reply, its events and the
 * next write's read of the same object decode nothing. Item lists (what
 * list and watch replies use) decode only for a selector or a Table, one
 * item at a time, and leave the cache alone.
 * Events live in a ring of `window` slots; each keeps the previous object so
 * a list "as of rv" is the current state with newer events undone.
 */
#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/jscan.h"
#include "util/log.h"

/* Decoded trees kept past a request: enough for the objects a controller
 * is busy with (a write reads the object it replaces), small next to the
 * store (~25 MB at 12 KB a tree). */
#define DV_TREE_CACHE 2048

/* apiVersion and kind of stored texts, interned: list and watch replies
 * splice a text only when it has the requested ones. */
typedef struct avk {
    struct avk *next;
    char *av, *kind;
} avk;

typedef struct entry {
    struct entry *older, *newer; /* the tree cache, newest last, while tree != NULL */
    struct entry *hnext;         /* chain in the tree -> entry map */
    json_t *tree;                /* decoded object (a cache), or NULL */
    const avk *type;             /* NULL when the object lacks apiVersion or kind */
    unsigned refs;               /* the bucket's slot (while live) + item lists */
    int live;                    /* still the stored version */
    int fresh;                   /* cached by a create and not read since: the first to go */
    size_t klen, len;
    char buf[];                  /* key "ns/name", NUL, text, NUL */
} entry;

#define ENTRY_KEY(e) ((e)->buf)
#define ENTRY_TEXT(e) ((e)->buf + (e)->klen + 1)

typedef struct bucket {
    char *group, *resource;
    entry **v; /* sorted by key */
    size_t n, cap;
} bucket;

/* The window holds texts (entries), not trees: a tree kept only by the
 * window was freed when its event left it, cold, 1,000 events later, and
 * that cost more CPU than decoding the rare replay or snapshot. */
typedef struct ev_slot {
    dv_event_type type;
    uint64_t rv;
    char *group, *resource, *ns;
    struct entry *obj, *prev; /* references; prev NULL for ADDED */
} ev_slot;

/* An object with its compact JSON, for dv_store_json while an event whose
 * object is not a cached tree is delivered. */
typedef struct ev_text {
    const json_t *obj;
    const char *text;
    size_t len;
} ev_text;

typedef struct sub {
    int id;
    dv_store_cb cb;
    void *ud;
} sub;

struct dv_store {
    bucket *buckets;
    size_t nbuckets;
    avk *types;
    entry *oldest, *newest; /* tree cache, least recently used first */
    size_t ncached;
    entry **tmap; /* tree pointer -> entry, chained, tmap_cap a power of 2 */
    size_t tmap_cap;
    ev_text ev; /* a DELETED or replayed event's object and JSON while it is delivered */
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

static void entry_unref(entry *e);

static void slot_clear(ev_slot *e)
{
    free(e->group);
    free(e->resource);
    free(e->ns);
    entry_unref(e->obj);
    entry_unref(e->prev);
    memset(e, 0, sizeof(*e));
}

static bucket *bucket_of(dv_store *s, const char *group, const char *resource, int create)
{
    group = group ? group : "";
    for (size_t i = 0; i < s->nbuckets; i++)
        if (!strcmp(s->buckets[i].resource, resource) && !strcmp(s->buckets[i].group, group))
            return &s->buckets[i];
    if (!create)
        return NULL;
    s->buckets = realloc(s->buckets, (s->nbuckets + 1) * sizeof(*s->buckets));
    bucket *b = &s->buckets[s->nbuckets++];
    *b = (bucket){.group = strdup(group), .resource = strdup(resource)};
    return b;
}

/* "ns/name" in buf, or in a new allocation when it does not fit (RBAC
 * names have no length limit: a truncated key would let two objects share
 * one). Free with key_free. */
static char *objkey(char *buf, size_t n, const char *ns, const char *name)
{
    int len = snprintf(buf, n, "%s/%s", ns ? ns : "", name);
    if (len >= 0 && (size_t)len < n)
        return buf;
    size_t need = (len >= 0 ? (size_t)len : strlen(ns ? ns : "") + 1 + strlen(name)) + 1;
    char *k = malloc(need);
    snprintf(k, need, "%s/%s", ns ? ns : "", name);
    return k;
}

static void key_free(char *key, const char *buf)
{
    if (key != buf)
        free(key);
}

/* First index whose key is >= key (strict: > key). */
static size_t lower_bound(const bucket *b, const char *key, int strict)
{
    size_t lo = 0, hi = b ? b->n : 0;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(ENTRY_KEY(b->v[mid]), key);
        if (c < 0 || (strict && c == 0))
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Index of key in b, or -1. */
static long find(const bucket *b, const char *key)
{
    size_t i = lower_bound(b, key, 0);
    return b && i < b->n && !strcmp(ENTRY_KEY(b->v[i]), key) ? (long)i : -1;
}

static const avk *intern_type(dv_store *s, const json_t *obj)
{
    const char *av = json_string_value(json_object_get(obj, "apiVersion"));
    const char *kind = json_string_value(json_object_get(obj, "kind"));
    if (!av || !kind)
        return NULL;
    for (avk *t = s->types; t; t = t->next)
        if (!strcmp(t->av, av) && !strcmp(t->kind, kind))
            return t;
    avk *t = malloc(sizeof(*t));
    *t = (avk){s->types, strdup(av), strdup(kind)};
    s->types = t;
    return t;
}

/* ---- the tree cache ----------------------------------------------------------- */

static size_t tmap_slot(const dv_store *s, const json_t *tree)
{
    uintptr_t p = (uintptr_t)tree >> 4;
    return (size_t)((p * 0x9E3779B97F4A7C15ull) >> 20) & (s->tmap_cap - 1);
}

static void tmap_grow(dv_store *s)
{
    size_t old = s->tmap_cap;
    entry **v = s->tmap;
    s->tmap_cap = old ? old * 2 : 1024;
    s->tmap = calloc(s->tmap_cap, sizeof(*s->tmap));
    for (size_t i = 0; i < old; i++)
        for (entry *e = v[i], *next; e; e = next) {
            next = e->hnext;
            size_t k = tmap_slot(s, e->tree);
            e->hnext = s->tmap[k];
            s->tmap[k] = e;
        }
    free(v);
}

static entry *tmap_find(const dv_store *s, const json_t *tree)
{
    if (!s->tmap_cap || !tree)
        return NULL;
    for (entry *e = s->tmap[tmap_slot(s, tree)]; e; e = e->hnext)
        if (e->tree == tree)
            return e;
    return NULL;
}

/* Cache tree (a reference stolen) as e's decoded object: the most recently
 * used, or (fresh) the least, so that the next trim lets it go. */
static void cache_put(dv_store *s, entry *e, json_t *tree, int fresh)
{
    if (s->ncached + 1 > s->tmap_cap)
        tmap_grow(s);
    e->tree = tree;
    e->fresh = fresh;
    size_t k = tmap_slot(s, tree);
    e->hnext = s->tmap[k];
    s->tmap[k] = e;
    if (fresh) {
        e->older = NULL;
        e->newer = s->oldest;
        if (s->oldest)
            s->oldest->older = e;
        else
            s->newest = e;
        s->oldest = e;
    } else {
        e->older = s->newest;
        e->newer = NULL;
        if (s->newest)
            s->newest->newer = e;
        else
            s->oldest = e;
        s->newest = e;
    }
    s->ncached++;
}

static void lru_unlink(dv_store *s, entry *e)
{
    if (e->older)
        e->older->newer = e->newer;
    else
        s->oldest = e->newer;
    if (e->newer)
        e->newer->older = e->older;
    else
        s->newest = e->older;
    e->older = e->newer = NULL;
}

static void cache_touch(dv_store *s, entry *e)
{
    e->fresh = 0;
    if (s->newest == e)
        return;
    lru_unlink(s, e);
    e->older = s->newest;
    s->newest->newer = e;
    s->newest = e;
}

static void uncache(dv_store *s, entry *e)
{
    if (!e->tree)
        return;
    entry **pp = &s->tmap[tmap_slot(s, e->tree)];
    while (*pp != e)
        pp = &(*pp)->hnext;
    *pp = e->hnext;
    e->hnext = NULL;
    lru_unlink(s, e);
    json_decref(e->tree);
    e->tree = NULL;
    s->ncached--;
}

/* Created objects are mostly never read again (Events, RoleBindings...):
 * their trees go at the end of the request that made them, while they are
 * still in the CPU's caches; freeing them 2,048 objects later cost ~5 % of
 * the server's CPU in the operator bench. */
void dv_store_trim(dv_store *s)
{
    while (s->oldest && (s->ncached > DV_TREE_CACHE || s->oldest->fresh))
        uncache(s, s->oldest);
}

/* A new tree for e's text, or NULL when it does not parse (never, short of
 * a bug: logged). */
static json_t *decode(const entry *e)
{
    json_error_t err;
    json_t *t = json_loadb(ENTRY_TEXT(e), e->len, JSON_ALLOW_NUL, &err);
    if (!t)
        pb_log_error("store: stored object does not parse", "key", ENTRY_KEY(e), "error", err.text, NULL);
    return t;
}

/* e's object as a new reference: its cached tree, or decoded for the
 * caller alone (not cached). */
static json_t *tree_uncached(const entry *e)
{
    return e->tree ? json_incref(e->tree) : decode(e);
}

/* e's object (e live): borrowed from the cache, decoded now if need be. */
static json_t *tree_of(dv_store *s, entry *e)
{
    if (e->tree) {
        cache_touch(s, e);
        return e->tree;
    }
    json_t *t = decode(e);
    if (t)
        cache_put(s, e, t, 0);
    return t;
}

/* ---- entries -------------------------------------------------------------------- */

/* A new live entry for key holding text (copied), type read from obj. */
static entry *entry_new(dv_store *s, const char *key, const char *text, size_t len, const json_t *obj)
{
    size_t klen = strlen(key);
    entry *e = malloc(sizeof(*e) + klen + 1 + len + 1);
    *e = (entry){.type = intern_type(s, obj), .refs = 1, .live = 1, .klen = klen, .len = len};
    memcpy(e->buf, key, klen + 1);
    memcpy(ENTRY_TEXT(e), text, len);
    ENTRY_TEXT(e)[len] = 0;
    return e;
}

static void entry_unref(entry *e)
{
    if (e && --e->refs == 0)
        free(e);
}

/* The bucket lets go of e: no longer the stored version. */
static void entry_retire(dv_store *s, entry *e)
{
    uncache(s, e);
    e->live = 0;
    entry_unref(e);
}

static void bucket_insert(bucket *b, size_t at, entry *e)
{
    if (b->n == b->cap) {
        b->cap = b->cap ? b->cap * 2 : 16;
        b->v = realloc(b->v, b->cap * sizeof(*b->v));
    }
    memmove(b->v + at + 1, b->v + at, (b->n - at) * sizeof(*b->v));
    b->v[at] = e;
    b->n++;
}

static void bucket_remove(bucket *b, size_t at)
{
    memmove(b->v + at, b->v + at + 1, (b->n - at - 1) * sizeof(*b->v));
    b->n--;
}

/* Store text as key's object (replayed from the log: no events, no tree). */
static void bucket_set(dv_store *s, bucket *b, const char *key, const char *text, size_t len, const json_t *obj)
{
    entry *e = entry_new(s, key, text, len, obj);
    long i = find(b, key);
    if (i >= 0) {
        entry_retire(s, b->v[i]);
        b->v[i] = e;
    } else {
        bucket_insert(b, lower_bound(b, key, 0), e);
    }
}

const char *dv_store_json(dv_store *s, const json_t *obj, size_t *len)
{
    if (obj && obj == s->ev.obj) {
        *len = s->ev.len;
        return s->ev.text;
    }
    entry *e = tmap_find(s, obj);
    if (!e)
        return NULL;
    *len = e->len;
    return ENTRY_TEXT(e);
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

/* Rewrite the log as one put per live object plus the revision counter. */
static int log_compact(dv_store *s)
{
    char tmp[4096];
    snprintf(tmp, sizeof(tmp), "%s.tmp", s->log_path);
    FILE *f = open_private(tmp, O_TRUNC, "w");
    if (!f)
        return -1;
    size_t bytes = 0;
    for (size_t bi = 0; bi < s->nbuckets; bi++) {
        const bucket *b = &s->buckets[bi];
        for (size_t i = 0; i < b->n; i++) {
            const entry *e = b->v[i];
            const char *ks = strchr(ENTRY_KEY(e), '/'); /* "ns/name": neither holds a slash */
            char ns[256];
            snprintf(ns, sizeof(ns), "%.*s", (int)(ks - ENTRY_KEY(e)), ENTRY_KEY(e));
            long len = write_record(f, 0, "put", b->group, b->resource, ns, ks + 1, ENTRY_TEXT(e));
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
        json_t *rec = json_loadb(line, (size_t)len, JSON_ALLOW_NUL, &jerr);
        if (!rec) /* a torn last line after a crash: everything before it stands */
            continue;
        const char *op = json_string_value(json_object_get(rec, "op"));
        json_int_t jrv = json_integer_value(json_object_get(rec, "rv"));
        uint64_t rv = jrv > 0 ? (uint64_t)jrv : 0;
        const char *g = json_string_value(json_object_get(rec, "g"));
        const char *r = json_string_value(json_object_get(rec, "r"));
        const char *ns = json_string_value(json_object_get(rec, "ns"));
        const char *nm = json_string_value(json_object_get(rec, "n"));
        char kbuf[1024];
        json_t *o = json_object_get(rec, "o");
        /* (a namespace never holds a slash: keys split at the first one) */
        int named = r && nm && (!ns || !strchr(ns, '/'));
        if (op && named && !strcmp(op, "put") && json_is_object(o)) {
            char *key = objkey(kbuf, sizeof(kbuf), ns, nm);
            char *text = json_dumps(o, JSON_COMPACT);
            if (text)
                bucket_set(s, bucket_of(s, g, r, 1), key, text, strlen(text), o);
            free(text);
            key_free(key, kbuf);
            const char *orv = json_string_value(json_object_get(json_object_get(o, "metadata"), "resourceVersion"));
            if (orv && *orv >= '0' && *orv <= '9' && strtoull(orv, NULL, 10) > rv)
                rv = strtoull(orv, NULL, 10);
        } else if (op && named && !strcmp(op, "del")) {
            char *key = objkey(kbuf, sizeof(kbuf), ns, nm);
            bucket *b = bucket_of(s, g, r, 0);
            long i = find(b, key);
            if (i >= 0) {
                entry_retire(s, b->v[i]);
                bucket_remove(b, (size_t)i);
            }
            key_free(key, kbuf);
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
    s->window = window ? window : 1;
    s->ring = calloc(s->window, sizeof(ev_slot));
    s->next_sub_id = 1;
    if (data_dir && *data_dir) {
        mkdir(data_dir, 0700);
        size_t plen = strlen(data_dir) + 16;
        s->log_path = malloc(plen);
        snprintf(s->log_path, plen, "%s/store.log", data_dir);
        int rc = log_replay(s, msg, n);
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
    for (size_t bi = 0; bi < s->nbuckets; bi++) {
        bucket *b = &s->buckets[bi];
        for (size_t i = 0; i < b->n; i++)
            entry_retire(s, b->v[i]);
        free(b->v);
        free(b->group);
        free(b->resource);
    }
    free(s->buckets);
    free(s->tmap);
    for (avk *t = s->types, *next; t; t = next) {
        next = t->next;
        free(t->av);
        free(t->kind);
        free(t);
    }
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
    bucket *b = bucket_of(s, group, resource, 0);
    if (!b || !name)
        return NULL;
    char kbuf[1024], *key = objkey(kbuf, sizeof(kbuf), ns, name);
    long i = find(b, key);
    key_free(key, kbuf);
    return i < 0 ? NULL : tree_of(s, b->v[i]);
}

/* ---- lists ------------------------------------------------------------------------ */

typedef struct item {
    entry *e;     /* a stored version (a reference), or NULL ... */
    json_t *tree; /* ... then an older one from the event window; else decoded on demand */
    char *key;    /* the older one's "ns/name" (e's is in e) */
} item;

struct dv_store_items {
    item *v;
    size_t n, cap;
};

static const char *item_key(const item *it) { return it->e ? ENTRY_KEY(it->e) : it->key; }

static void items_add(dv_store_items *l, entry *e, json_t *tree, const char *key)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 64;
        l->v = realloc(l->v, l->cap * sizeof(*l->v));
    }
    item *it = &l->v[l->n++];
    *it = (item){e, json_incref(tree), key ? strdup(key) : NULL};
    if (e)
        e->refs++;
}

static int cmp_items(const void *a, const void *b) { return strcmp(item_key(a), item_key(b)); }

/* key is in namespace ns (NULL: any) and sorts after `after` (NULL: any). */
static int in_range(const char *key, const char *ns, size_t nslen, const char *after)
{
    return (!ns || (!strncmp(key, ns, nslen) && key[nslen] == '/')) && (!after || strcmp(key, after) > 0);
}

dv_store_items *dv_store_items_after(dv_store *s, const char *group, const char *resource, const char *ns,
                                     uint64_t rv, const char *after)
{
    if (rv < s->floor)
        return NULL;
    dv_store_items *l = calloc(1, sizeof(*l));
    bucket *b = bucket_of(s, group, resource, 0);
    after = after && *after ? after : NULL;
    size_t nslen = ns ? strlen(ns) : 0, from = 0;
    if (ns) {
        char pbuf[512], *prefix = objkey(pbuf, sizeof(pbuf), ns, "");
        from = lower_bound(b, prefix, 0);
        key_free(prefix, pbuf);
    }
    if (after) {
        size_t past = lower_bound(b, after, 1);
        if (past > from)
            from = past;
    }
    if (rv >= s->rv) {
        for (size_t i = from; b && i < b->n && in_range(ENTRY_KEY(b->v[i]), ns, nslen, NULL); i++)
            items_add(l, b->v[i], NULL, NULL); /* a namespace's keys are contiguous */
        return l;
    }
    /* As of rv: each key touched by a newer event takes its state before the
     * oldest of them (newest first, so older events overwrite). */
    json_t *undo = json_object();
    for (size_t i = s->count; i-- > 0;) {
        ev_slot *e = &s->ring[(s->head + i) % s->window];
        if (e->rv <= rv)
            break;
        if (strcmp(e->group, group ? group : "") || strcmp(e->resource, resource))
            continue;
        /* the slot's index, or null: absent as of rv */
        json_object_set_new(undo, ENTRY_KEY(e->obj),
                            e->type == DV_EV_ADDED || !e->prev ? json_null()
                                                               : json_integer((json_int_t)((s->head + i) % s->window)));
    }
    for (size_t i = from; b && i < b->n && in_range(ENTRY_KEY(b->v[i]), ns, nslen, NULL); i++)
        if (!json_object_get(undo, ENTRY_KEY(b->v[i])))
            items_add(l, b->v[i], NULL, NULL);
    const char *key;
    json_t *old;
    json_object_foreach(undo, key, old)
        if (!json_is_null(old) && in_range(key, ns, nslen, after))
            items_add(l, s->ring[json_integer_value(old)].prev, NULL, NULL);
    qsort(l->v, l->n, sizeof(*l->v), cmp_items);
    json_decref(undo);
    return l;
}

size_t dv_store_items_count(const dv_store_items *l) { return l ? l->n : 0; }

const char *dv_store_items_key(const dv_store_items *l, size_t i) { return item_key(&l->v[i]); }

/* Not cached: a list with a selector over a whole bucket would otherwise
 * hold every tree of it at once (1.4 GB for 100,000 namespaces). */
const json_t *dv_store_items_obj(dv_store *s, dv_store_items *l, size_t i)
{
    item *it = &l->v[i];
    if (!it->tree && it->e) {
        if (it->e->tree)
            cache_touch(s, it->e);
        it->tree = tree_uncached(it->e);
    }
    return it->tree;
}

json_t *dv_store_items_labels(dv_store_items *l, size_t i)
{
    const item *it = &l->v[i];
    if (!it->e || it->e->tree)
        return NULL; /* a tree at hand already */
    const char *p = ENTRY_TEXT(it->e);
    size_t n = it->e->len, md;
    pb_jscan_member m;
    json_t *labels = NULL;
    if (pb_jscan_enter(p, n, 0, "metadata", &md) && pb_jscan_find(p, n, md, "labels", &m)) {
        labels = json_loadb(p + m.value, m.end - m.value, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
        if (!json_is_object(labels)) {
            json_decref(labels);
            return NULL;
        }
    } else if (memmem(p, n, "\"labels\":", 9)) {
        return NULL; /* there are labels somewhere the scanner did not follow */
    }
    json_t *md_obj = json_object();
    if (labels)
        json_object_set_new(md_obj, "labels", labels);
    return json_pack("{s:o}", "metadata", md_obj);
}

void dv_store_items_drop(dv_store_items *l, size_t i)
{
    item *it = &l->v[i];
    if (it->e) { /* an older version has nothing else to decode again */
        json_decref(it->tree);
        it->tree = NULL;
    }
}

const char *dv_store_items_text(const dv_store_items *l, size_t i, size_t *len, const char **av,
                                const char **kind)
{
    const entry *e = l->v[i].e;
    if (!e)
        return NULL;
    *len = e->len;
    *av = e->type ? e->type->av : NULL;
    *kind = e->type ? e->type->kind : NULL;
    return ENTRY_TEXT(e);
}

void dv_store_items_free(dv_store_items *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < l->n; i++) {
        entry_unref(l->v[i].e);
        json_decref(l->v[i].tree);
        free(l->v[i].key);
    }
    free(l->v);
    free(l);
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
    dv_store_items *l = dv_store_items_after(s, group, resource, ns, rv, after);
    if (!l)
        return NULL;
    json_t *arr = json_array();
    for (size_t i = 0; i < l->n; i++) {
        const json_t *o = dv_store_items_obj(s, l, i);
        if (o)
            json_array_append(arr, (json_t *)o);
    }
    dv_store_items_free(l);
    return arr;
}

json_t *dv_store_all(dv_store *s)
{
    json_t *arr = json_array();
    for (size_t bi = 0; bi < s->nbuckets; bi++) {
        bucket *b = &s->buckets[bi];
        json_t *group = json_string(b->group), *res = json_string(b->resource);
        for (size_t i = 0; i < b->n; i++) {
            json_t *o = tree_of(s, b->v[i]);
            if (o)
                json_array_append_new(arr, json_pack("{s:O,s:O,s:O}", "group", group, "resource", res, "object", o));
        }
        json_decref(group);
        json_decref(res);
    }
    return arr;
}

void dv_store_each(dv_store *s, dv_store_each_cb cb, void *ud)
{
    for (size_t bi = 0; bi < s->nbuckets; bi++) {
        bucket *b = &s->buckets[bi];
        for (size_t i = 0; i < b->n; i++) {
            const entry *e = b->v[i];
            json_t *o = tree_uncached(e);
            if (!o)
                continue;
            char ns[256];
            const char *slash = strchr(ENTRY_KEY(e), '/');
            snprintf(ns, sizeof(ns), "%.*s", (int)(slash - ENTRY_KEY(e)), ENTRY_KEY(e));
            cb(ud, b->group, b->resource, ns, o);
            json_decref(o);
        }
    }
}

/* ---- writes and events ---------------------------------------------------------------- */

/* obj/prev: the trees delivered now; eobj/eprev: their texts, kept. */
static void emit(dv_store *s, dv_event_type type, const char *group, const char *resource,
                 const char *ns, json_t *obj, entry *eobj, json_t *prev, entry *eprev)
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
    e->obj = eobj;
    e->prev = eprev;
    eobj->refs++;
    if (eprev)
        eprev->refs++;
    s->count++;
    dv_event ev = {type, s->rv, e->group, e->resource, e->ns, obj, prev};
    for (size_t i = 0; i < s->nsubs; i++)
        if (s->subs[i].cb)
            s->subs[i].cb(s->subs[i].ud, &ev);
}

/* Compacted when the log holds twice the live objects: the log lives on
 * tmpfs in benchmarks (memory too), where 4x a 2 GB store would not fit. */
static void maybe_compact(dv_store *s)
{
    if (s->log && s->log_bytes > 2 * s->live_bytes + (1u << 20))
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
    if (!name || !json_is_object(obj)) {
        json_decref(obj);
        return 0;
    }
    set_rv(obj, s->rv + 1);
    char *text = json_dumps(obj, JSON_COMPACT);
    if (!text || log_append(s, "put", group, resource, ns, name, text) != 0) {
        free(text);
        json_decref(obj);
        return 0;
    }
    s->rv++;
    bucket *b = bucket_of(s, group, resource, 1);
    char kbuf[1024], *key = objkey(kbuf, sizeof(kbuf), ns, name);
    entry *e = entry_new(s, key, text, strlen(text), obj);
    free(text);
    long i = find(b, key);
    json_t *prev = NULL;
    entry *old = i >= 0 ? b->v[i] : NULL;
    if (old) {
        prev = json_incref(tree_of(s, old)); /* for the event */
        old->refs++;                         /* for the window */
        entry_retire(s, old);
        b->v[i] = e;
    } else {
        bucket_insert(b, lower_bound(b, key, 0), e);
    }
    key_free(key, kbuf);
    cache_put(s, e, obj, i < 0); /* the writer's reply and the events use it next */
    emit(s, old ? DV_EV_MODIFIED : DV_EV_ADDED, group, resource, ns, obj, e, prev, old);
    entry_unref(old);
    json_decref(prev);
    maybe_compact(s);
    return s->rv;
}

uint64_t dv_store_delete(dv_store *s, const char *group, const char *resource, const char *ns,
                         const char *name)
{
    bucket *b = bucket_of(s, group, resource, 0);
    if (!b || !name)
        return 0;
    char kbuf[1024], *key = objkey(kbuf, sizeof(kbuf), ns, name);
    long i = find(b, key);
    if (i < 0 || log_append(s, "del", group, resource, ns, name, NULL) != 0) {
        key_free(key, kbuf);
        return 0;
    }
    s->rv++;
    entry *old = b->v[i];
    json_t *prev = json_incref(tree_of(s, old));
    old->refs++; /* for the window */
    bucket_remove(b, (size_t)i);
    entry_retire(s, old);
    json_t *last = prev ? json_deep_copy(prev) : json_object();
    set_rv(last, s->rv);
    char *text = json_dumps(last, JSON_COMPACT); /* serialized once for every watcher */
    entry *elast = entry_new(s, key, text ? text : "{}", text ? strlen(text) : 2, last);
    elast->live = 0;
    key_free(key, kbuf);
    ev_text saved = s->ev;
    /* ("{}" only when out of memory: not last's text) */
    s->ev = (ev_text){text ? last : NULL, ENTRY_TEXT(elast), elast->len};
    free(text);
    emit(s, DV_EV_DELETED, group, resource, ns, last, elast, prev, old);
    s->ev = saved;
    entry_unref(elast);
    entry_unref(old);
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
        /* Decoded for the delivery; the text goes out as it is (dv_store_json). */
        json_t *obj = tree_uncached(e->obj);
        json_t *prev = e->prev ? tree_uncached(e->prev) : NULL;
        if (obj && (prev || !e->prev)) {
            ev_text saved = s->ev;
            s->ev = (ev_text){obj, ENTRY_TEXT(e->obj), e->obj->len};
            dv_event ev = {e->type, e->rv, e->group, e->resource, e->ns, obj, prev};
            cb(ud, &ev);
            s->ev = saved;
        }
        json_decref(obj);
        json_decref(prev);
    }
    return 0;
}
