/*
 * test_store.c - the dev API server's object store: revisions, sorted
 * lists, events and replay, the retained window (floor), snapshot lists
 * "as of" a revision, persistence (replay, compaction, torn lines), and
 * the serialized copy kept for every stored object, the decoded-tree cache
 * (trim) and text-only item lists.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "testutil.h"

#include "store.h"

static json_t *obj(const char *ns, const char *name, const char *val)
{
    return json_pack("{s:{s:s,s:s},s:s}", "metadata", "namespace", ns, "name", name, "v", val);
}

static const char *rv_of(const json_t *o)
{
    return json_string_value(json_object_get(json_object_get(o, "metadata"), "resourceVersion"));
}

static dv_store *open_mem(size_t window)
{
    dv_store *s = NULL;
    char msg[256] = "";
    assert_int_equal(dv_store_open(NULL, window, &s, msg, sizeof(msg)), 0);
    return s;
}

static void test_put_get_list(void **state)
{
    (void)state;
    dv_store *s = open_mem(10);
    assert_int_equal(dv_store_rv(s), 0);
    assert_int_equal(dv_store_put(s, "", "configmaps", "b", "x", obj("b", "x", "1")), 1);
    assert_int_equal(dv_store_unsynced(s), 0); /* nothing to fsync in memory */
    assert_int_equal(dv_store_sync(s), 0);
    assert_int_equal(dv_store_put(s, "", "configmaps", "a", "y", obj("a", "y", "1")), 2);
    assert_int_equal(dv_store_put(s, "", "configmaps", "a", "b", obj("a", "b", "1")), 3);
    assert_int_equal(dv_store_put(s, "apps", "deployments", "a", "d", obj("a", "d", "1")), 4);
    const json_t *g = dv_store_get(s, "", "configmaps", "a", "y");
    assert_non_null(g);
    assert_string_equal(rv_of(g), "2");
    assert_null(dv_store_get(s, "", "configmaps", "a", "nope"));
    assert_null(dv_store_get(s, "", "secrets", "a", "y"));
    json_t *all = dv_store_list(s, "", "configmaps", NULL);
    assert_int_equal(json_array_size(all), 3);
    /* sorted by namespace then name */
    assert_string_equal(json_string_value(json_object_get(json_object_get(json_array_get(all, 0), "metadata"), "name")), "b");
    assert_string_equal(json_string_value(json_object_get(json_object_get(json_array_get(all, 2), "metadata"), "name")), "x");
    json_decref(all);
    json_t *in_a = dv_store_list(s, "", "configmaps", "a");
    assert_int_equal(json_array_size(in_a), 2);
    json_decref(in_a);
    /* a namespace that is a prefix of another must not match it */
    dv_store_put(s, "", "configmaps", "ab", "z", obj("ab", "z", "1"));
    in_a = dv_store_list(s, "", "configmaps", "a");
    assert_int_equal(json_array_size(in_a), 2);
    json_decref(in_a);
    /* delete bumps the revision; deleting again is a no-op */
    uint64_t rv = dv_store_delete(s, "", "configmaps", "a", "y");
    assert_int_equal(rv, 6);
    assert_int_equal(dv_store_delete(s, "", "configmaps", "a", "y"), 0);
    assert_null(dv_store_get(s, "", "configmaps", "a", "y"));
    json_t *every = dv_store_all(s);
    assert_int_equal(json_array_size(every), 4);
    json_decref(every);
    dv_store_free(s);
}

typedef struct seen {
    char log[1024];
} seen;

static void record(void *ud, const dv_event *ev)
{
    seen *s = ud;
    static const char *const names[] = {"A", "M", "D"};
    const char *name = json_string_value(json_object_get(json_object_get(ev->obj, "metadata"), "name"));
    size_t len = strlen(s->log);
    snprintf(s->log + len, sizeof(s->log) - len, "%s:%s@%llu%s ", names[ev->type], name, (unsigned long long)ev->rv,
             ev->prev ? "+prev" : "");
}

static void test_events_and_replay(void **state)
{
    (void)state;
    dv_store *s = open_mem(3);
    seen live = {""};
    int id = dv_store_subscribe(s, record, &live);
    assert_true(id > 0);
    dv_store_put(s, "", "cm", "n", "a", obj("n", "a", "1"));
    dv_store_put(s, "", "cm", "n", "a", obj("n", "a", "2"));
    dv_store_delete(s, "", "cm", "n", "a");
    assert_string_equal(live.log, "A:a@1 M:a@2+prev D:a@3+prev ");
    /* the deleted event carries the last state with the new revision */
    seen r = {""};
    assert_int_equal(dv_store_replay(s, 1, record, &r), 0);
    assert_string_equal(r.log, "M:a@2+prev D:a@3+prev ");
    /* window of 3: a 4th event evicts rv 1, so resuming from 0 is Gone */
    dv_store_put(s, "", "cm", "n", "b", obj("n", "b", "1"));
    assert_int_equal(dv_store_floor(s), 1);
    r.log[0] = 0;
    assert_int_equal(dv_store_replay(s, 0, record, &r), -1);
    assert_int_equal(dv_store_replay(s, 1, record, &r), 0);
    assert_string_equal(r.log, "M:a@2+prev D:a@3+prev A:b@4 ");
    dv_store_unsubscribe(s, id);
    live.log[0] = 0;
    dv_store_put(s, "", "cm", "n", "c", obj("n", "c", "1"));
    assert_string_equal(live.log, "");
    dv_store_free(s);
}

static void test_list_at_snapshot(void **state)
{
    (void)state;
    dv_store *s = open_mem(100);
    dv_store_put(s, "", "cm", "n", "a", obj("n", "a", "1"));
    dv_store_put(s, "", "cm", "n", "b", obj("n", "b", "1"));
    uint64_t snap = dv_store_rv(s);
    dv_store_put(s, "", "cm", "n", "a", obj("n", "a", "2")); /* modified */
    dv_store_delete(s, "", "cm", "n", "b");                   /* deleted */
    dv_store_put(s, "", "cm", "n", "c", obj("n", "c", "1")); /* added */
    dv_store_put(s, "", "other", "n", "a", obj("n", "a", "x"));
    json_t *then = dv_store_list_at(s, "", "cm", NULL, snap);
    assert_non_null(then);
    assert_int_equal(json_array_size(then), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(then, 0), "v")), "1");
    assert_string_equal(json_string_value(json_object_get(json_object_get(json_array_get(then, 1), "metadata"), "name")), "b");
    json_decref(then);
    json_t *now = dv_store_list_at(s, "", "cm", NULL, dv_store_rv(s));
    assert_int_equal(json_array_size(now), 2);
    json_decref(now);
    dv_store_free(s);

    /* too old for the window: NULL */
    s = open_mem(2);
    dv_store_put(s, "", "cm", "n", "a", obj("n", "a", "1"));
    dv_store_put(s, "", "cm", "n", "a", obj("n", "a", "2"));
    dv_store_put(s, "", "cm", "n", "a", obj("n", "a", "3"));
    assert_null(dv_store_list_at(s, "", "cm", NULL, 0));
    json_t *ok = dv_store_list_at(s, "", "cm", NULL, 1);
    assert_non_null(ok);
    assert_string_equal(json_string_value(json_object_get(json_array_get(ok, 0), "v")), "1");
    json_decref(ok);
    dv_store_free(s);
}

static void test_persistence(void **state)
{
    (void)state;
    char *dir = tu_tmpdir();
    char msg[256] = "";
    dv_store *s = NULL;
    assert_int_equal(dv_store_open(dir, 10, &s, msg, sizeof(msg)), 0);
    dv_store_put(s, "", "cm", "n", "a", obj("n", "a", "1"));
    dv_store_put(s, "", "cm", "n", "b", obj("n", "b", "1"));
    dv_store_put(s, "", "cm", "n", "a", obj("n", "a", "2"));
    dv_store_delete(s, "", "cm", "n", "b");
    dv_store_free(s);

    /* a torn (partial) last line from a crash is ignored */
    char path[4096];
    snprintf(path, sizeof(path), "%s/store.log", dir);
    FILE *f = fopen(path, "a");
    assert_non_null(f);
    fputs("{\"rv\":99,\"op\":\"put\",\"g\":\"\",\"r\":\"cm\",\"ns\":\"n\",\"n\":\"zz\",\"o\":{\"meta", f);
    fclose(f);

    assert_int_equal(dv_store_open(dir, 10, &s, msg, sizeof(msg)), 0);
    assert_int_equal(dv_store_rv(s), 4);
    assert_int_equal(dv_store_floor(s), 4); /* the window starts empty */
    const json_t *a = dv_store_get(s, "", "cm", "n", "a");
    assert_non_null(a);
    assert_string_equal(json_string_value(json_object_get(a, "v")), "2");
    assert_string_equal(rv_of(a), "3");
    assert_null(dv_store_get(s, "", "cm", "n", "b"));
    assert_null(dv_store_get(s, "", "cm", "n", "zz"));
    /* revisions continue after a restart */
    assert_int_equal(dv_store_put(s, "", "cm", "n", "c", obj("n", "c", "1")), 5);
    dv_store_free(s);

    /* the log is private (it holds Secrets) */
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    /* the log was compacted on open: one put per live object + rv record */
    f = fopen(path, "r");
    char *text = tu_slurp(f);
    fclose(f);
    int lines = 0;
    for (char *p = text; *p; p++)
        lines += *p == '\n';
    assert_int_equal(lines, 3); /* put a, rv marker, then the appended put c */
    free(text);

    assert_int_equal(dv_store_open(dir, 10, &s, msg, sizeof(msg)), 0);
    assert_int_equal(dv_store_rv(s), 5);
    json_t *l = dv_store_list(s, "", "cm", NULL);
    assert_int_equal(json_array_size(l), 2);
    json_decref(l);
    dv_store_free(s);
    tu_rmtree(dir);
    free(dir);
}

/* Serialized once at write time: what json_dumps would give, for stored
 * objects only (never for a replaced, deleted or foreign object). */
static int g_deleted_text_ok;

static void check_deleted_text(void *ud, const dv_event *ev)
{
    size_t len = 0;
    const char *t = dv_store_json(ud, ev->obj, &len);
    char *want = json_dumps(ev->obj, JSON_COMPACT);
    g_deleted_text_ok = ev->type == DV_EV_DELETED && t && len == strlen(want) && !strcmp(t, want);
    free(want);
}

static void check_text(dv_store *s, const json_t *o)
{
    size_t len = 0;
    const char *t = dv_store_json(s, o, &len);
    assert_non_null(t);
    char *want = json_dumps(o, JSON_COMPACT);
    assert_string_equal(t, want);
    assert_int_equal(len, strlen(want));
    free(want);
}

static void test_serialized_objects(void **state)
{
    (void)state;
    char *dir = tu_tmpdir();
    char msg[256] = "";
    dv_store *s = NULL;
    assert_int_equal(dv_store_open(dir, 10, &s, msg, sizeof(msg)), 0);
    dv_store_put(s, "", "cm", "n", "a", obj("n", "a", "quote \" and \\u00e9 \xc3\xa9"));
    const json_t *a1 = dv_store_get(s, "", "cm", "n", "a");
    check_text(s, a1);
    json_t *foreign = json_deep_copy(a1);
    size_t len;
    assert_null(dv_store_json(s, foreign, &len)); /* equal, but not the stored object */
    json_decref(foreign);
    json_t *keep = json_incref((json_t *)a1);
    dv_store_put(s, "", "cm", "n", "a", obj("n", "a", "2"));
    assert_null(dv_store_json(s, keep, &len)); /* replaced */
    json_decref(keep);
    const json_t *a2 = dv_store_get(s, "", "cm", "n", "a");
    check_text(s, a2);
    json_t *l = dv_store_list(s, "", "cm", NULL);
    check_text(s, json_array_get(l, 0));
    json_decref(l);
    /* a DELETED event's object is serialized for its subscribers, then dropped */
    int id = dv_store_subscribe(s, check_deleted_text, s);
    keep = json_incref((json_t *)a2);
    dv_store_delete(s, "", "cm", "n", "a");
    assert_true(g_deleted_text_ok);
    assert_null(dv_store_json(s, keep, &len));
    json_decref(keep);
    dv_store_unsubscribe(s, id);
    dv_store_put(s, "", "cm", "n", "b", obj("n", "b", "3"));
    /* group commit: writes wait for one dv_store_sync */
    assert_int_equal(dv_store_unsynced(s), 1);
    assert_int_equal(dv_store_sync(s), 0);
    assert_int_equal(dv_store_unsynced(s), 0);
    assert_int_equal(dv_store_sync(s), 0);
    dv_store_free(s);
    /* objects read back from the log are served the same way */
    assert_int_equal(dv_store_open(dir, 10, &s, msg, sizeof(msg)), 0);
    const json_t *b = dv_store_get(s, "", "cm", "n", "b");
    assert_non_null(b);
    assert_string_equal(json_string_value(json_object_get(b, "v")), "3");
    check_text(s, b);
    dv_store_free(s);
    tu_rmtree(dir);
    free(dir);
}

static const char *name_at(const json_t *arr, size_t i)
{
    return json_string_value(json_object_get(json_object_get(json_array_get(arr, i), "metadata"), "name"));
}

/* Lists come from keys kept sorted through writes: namespaces (including
 * one that prefixes another), a continue key, snapshots of older revisions. */
static void test_list_after(void **state)
{
    (void)state;
    dv_store *s = open_mem(10);
    const char *puts[][2] = {{"b", "2"}, {"a", "9"}, {"a-b", "1"}, {"b", "1"}, {"a", "1"}, {"b", "3"}, {"ab", "0"}};
    for (size_t i = 0; i < sizeof(puts) / sizeof(puts[0]); i++)
        dv_store_put(s, "", "cm", puts[i][0], puts[i][1], obj(puts[i][0], puts[i][1], "v"));
    /* strcmp order of "ns/name": "a-b/1" < "a/1" < "a/9" < "ab/0" < "b/1" ... */
    json_t *l = dv_store_list(s, "", "cm", NULL);
    assert_int_equal(json_array_size(l), 7);
    const char *want[] = {"1", "1", "9", "0", "1", "2", "3"};
    for (size_t i = 0; i < 7; i++)
        assert_string_equal(name_at(l, i), want[i]);
    json_decref(l);
    l = dv_store_list(s, "", "cm", "a");
    assert_int_equal(json_array_size(l), 2);
    json_decref(l);
    uint64_t before = dv_store_rv(s);
    l = dv_store_list_after(s, "", "cm", "b", before, "b/1");
    assert_int_equal(json_array_size(l), 2);
    assert_string_equal(name_at(l, 0), "2");
    json_decref(l);
    l = dv_store_list_after(s, "", "cm", NULL, before, "a/5"); /* a key that does not exist */
    assert_int_equal(json_array_size(l), 5);
    assert_string_equal(name_at(l, 0), "9");
    json_decref(l);
    l = dv_store_list_after(s, "", "cm", "a", before, "a/9"); /* the last of its namespace */
    assert_int_equal(json_array_size(l), 0);
    json_decref(l);
    l = dv_store_list_after(s, "", "cm", "a", before, "");
    assert_int_equal(json_array_size(l), 2);
    json_decref(l);
    /* later writes keep the order and leave the snapshot as it was */
    dv_store_delete(s, "", "cm", "b", "2");
    dv_store_put(s, "", "cm", "b", "15", obj("b", "15", "v"));
    l = dv_store_list_after(s, "", "cm", "b", dv_store_rv(s), "b/1");
    assert_int_equal(json_array_size(l), 2);
    assert_string_equal(name_at(l, 0), "15");
    assert_string_equal(name_at(l, 1), "3");
    json_decref(l);
    l = dv_store_list_after(s, "", "cm", "b", before, "b/1");
    assert_int_equal(json_array_size(l), 2);
    assert_string_equal(name_at(l, 0), "2");
    assert_string_equal(name_at(l, 1), "3");
    json_decref(l);
    l = dv_store_list_after(s, "", "nothing", NULL, dv_store_rv(s), NULL);
    assert_int_equal(json_array_size(l), 0);
    json_decref(l);
    dv_store_free(s);
}

static void test_bad_data_dir(void **state)
{
    (void)state;
    dv_store *s = NULL;
    char msg[256] = "";
    assert_int_equal(dv_store_open("/proc/definitely/not/writable", 10, &s, msg, sizeof(msg)), -1);
    assert_null(s);
    assert_true(strlen(msg) > 0);
}

/* Objects are held as text; trees are a cache that dv_store_trim bounds.
 * Whatever was evicted decodes again to the same object, an evicted tree
 * someone still holds stays valid (and is no longer "the stored object"),
 * and item lists give the text without decoding, older versions of a
 * snapshot included (the event window keeps texts). */
static void test_tree_cache_and_items(void **state)
{
    (void)state;
    dv_store *s = open_mem(100);
    enum { N = 5000 };
    char name[32], val[32];
    json_t *held = NULL;
    for (int i = 0; i < N; i++) {
        snprintf(name, sizeof(name), "o%05d", i);
        snprintf(val, sizeof(val), "v%d \u00e9", i);
        dv_store_put(s, "", "cm", "n", name, obj("n", name, val));
        if (!held) /* the least recently used from now on */
            held = json_incref((json_t *)dv_store_get(s, "", "cm", "n", name));
    }
    check_text(s, held); /* nothing is evicted before a trim */
    for (int i = 1; i < N; i++) { /* read: kept, in least recently used order */
        snprintf(name, sizeof(name), "o%05d", i);
        dv_store_get(s, "", "cm", "n", name);
    }
    dv_store_trim(s);
    size_t len;
    assert_null(dv_store_json(s, held, &len)); /* evicted: the caller's reference lives on */
    assert_string_equal(json_string_value(json_object_get(held, "v")), "v0 \u00e9");
    const json_t *again = dv_store_get(s, "", "cm", "n", "o00000");
    assert_true(json_equal((json_t *)again, held));
    check_text(s, again);
    json_decref(held);
    for (int i = 0; i < N; i += 97) {
        snprintf(name, sizeof(name), "o%05d", i);
        check_text(s, dv_store_get(s, "", "cm", "n", name));
    }
    dv_store_trim(s);
    /* a created object nobody read since goes at the next trim; read, it stays */
    json_t *made = obj("n", "made", "m"), *read = obj("n", "read", "r");
    json_incref(made);
    json_incref(read);
    dv_store_put(s, "", "cm", "n", "made", made);
    dv_store_put(s, "", "cm", "n", "read", read);
    assert_ptr_equal(dv_store_get(s, "", "cm", "n", "read"), read);
    check_text(s, made);
    dv_store_trim(s);
    assert_null(dv_store_json(s, made, &len));
    check_text(s, read);
    json_decref(made);
    json_decref(read);
    dv_store_delete(s, "", "cm", "n", "made");
    dv_store_delete(s, "", "cm", "n", "read");
    /* items: the stored text, the tree on demand, the same order as lists */
    uint64_t before = dv_store_rv(s);
    dv_store_items *l = dv_store_items_after(s, "", "cm", "n", before, "n/o04990");
    assert_int_equal(dv_store_items_count(l), 9);
    assert_string_equal(dv_store_items_key(l, 0), "n/o04991");
    const char *av, *kind;
    const char *t = dv_store_items_text(l, 0, &len, &av, &kind);
    assert_non_null(t);
    assert_null(av); /* these objects have no apiVersion/kind */
    const json_t *o = dv_store_items_obj(s, l, 0);
    char *want = json_dumps(o, JSON_COMPACT);
    assert_string_equal(t, want);
    assert_int_equal(len, strlen(want));
    free(want);
    /* a write meanwhile leaves the list's items as they were */
    dv_store_put(s, "", "cm", "n", "o04991", obj("n", "o04991", "new"));
    dv_store_delete(s, "", "cm", "n", "o04992");
    assert_string_equal(json_string_value(json_object_get(dv_store_items_obj(s, l, 1), "v")), "v4992 \u00e9");
    dv_store_items_free(l);
    /* a snapshot: the replaced and the deleted come back from the window's texts */
    json_t *typed = json_pack("{s:s,s:s,s:{s:s,s:s},s:s}", "apiVersion", "v1", "kind", "ConfigMap", "metadata",
                              "namespace", "n", "name", "o04999", "v", "typed");
    dv_store_put(s, "", "cm", "n", "o04999", typed);
    l = dv_store_items_after(s, "", "cm", "n", before, "n/o04990");
    assert_int_equal(dv_store_items_count(l), 9);
    t = dv_store_items_text(l, 0, &len, &av, &kind);
    assert_non_null(t);
    assert_string_equal(json_string_value(json_object_get(dv_store_items_obj(s, l, 0), "v")), "v4991 \u00e9");
    want = json_dumps(dv_store_items_obj(s, l, 0), JSON_COMPACT);
    assert_string_equal(t, want);
    free(want);
    assert_string_equal(dv_store_items_key(l, 1), "n/o04992");
    assert_non_null(dv_store_items_text(l, 1, &len, &av, &kind));
    assert_string_equal(json_string_value(json_object_get(dv_store_items_obj(s, l, 1), "v")), "v4992 \u00e9");
    assert_non_null(dv_store_items_text(l, 2, &len, &av, &kind)); /* unchanged since */
    dv_store_items_free(l);
    l = dv_store_items_after(s, "", "cm", "n", dv_store_rv(s), "n/o04998");
    assert_int_equal(dv_store_items_count(l), 1);
    assert_non_null(dv_store_items_text(l, 0, &len, &av, &kind));
    assert_string_equal(av, "v1");
    assert_string_equal(kind, "ConfigMap");
    dv_store_items_free(l);
    assert_null(dv_store_items_after(s, "", "cm", NULL, dv_store_floor(s) - 1, NULL)); /* 410 */
    dv_store_free(s);
}

static int g_each_count, g_each_ok;

static void count_each(void *ud, const char *group, const char *resource, const char *ns, const json_t *o)
{
    size_t len;
    g_each_count++;
    g_each_ok &= !strcmp(group, "") && !strcmp(resource, "cm") &&
                 !strcmp(ns, json_string_value(json_object_get(json_object_get(o, "metadata"), "namespace"))) &&
                 (!strcmp(ns, "a") || dv_store_json(ud, o, &len) == NULL); /* not cached by the walk */
}

/* dv_store_each: every object once, decoded for the call only. */
static void test_each(void **state)
{
    (void)state;
    dv_store *s = open_mem(10);
    dv_store_put(s, "", "cm", "a", "x", obj("a", "x", "1"));
    dv_store_put(s, "", "cm", "b", "y", obj("b", "y", "1"));
    dv_store_put(s, "", "cm", "c", "z", obj("c", "z", "1"));
    dv_store_get(s, "", "cm", "a", "x"); /* read: a cached tree, handed over as it is */
    dv_store_trim(s);
    g_each_count = 0;
    g_each_ok = 1;
    dv_store_each(s, count_each, s);
    assert_int_equal(g_each_count, 3);
    assert_true(g_each_ok);
    dv_store_free(s);
}

/* Labels for a selector, read from the text: what the tree has, without it. */
static void test_items_labels(void **state)
{
    (void)state;
    dv_store *s = open_mem(10);
    dv_store_put(s, "", "cm", "a", "l",
                 json_pack("{s:{s:s,s:s,s:{s:s,s:s},s:[{s:{s:{}}}]},s:{s:s}}", "metadata", "namespace", "a", "name",
                           "l", "labels", "app", "x \\\" y", "tier", "", "managedFields", "fieldsV1", "f:labels",
                           "data", "labels", "not these"));
    dv_store_put(s, "", "cm", "a", "n", obj("a", "n", "1"));
    dv_store_trim(s);
    dv_store_items *l = dv_store_items_after(s, "", "cm", "a", dv_store_rv(s), NULL);
    assert_int_equal(dv_store_items_count(l), 2);
    json_t *v = dv_store_items_labels(l, 0);
    assert_non_null(v);
    json_t *want = json_object_get(json_object_get(dv_store_items_obj(s, l, 0), "metadata"), "labels");
    assert_true(json_equal(json_object_get(json_object_get(v, "metadata"), "labels"), want));
    json_decref(v);
    v = dv_store_items_labels(l, 1);
    assert_non_null(v);
    assert_null(json_object_get(json_object_get(v, "metadata"), "labels"));
    json_decref(v);
    dv_store_items_free(l);
    dv_store_get(s, "", "cm", "a", "n"); /* cached: the tree is the cheaper answer */
    l = dv_store_items_after(s, "", "cm", "a", dv_store_rv(s), NULL);
    assert_null(dv_store_items_labels(l, 1));
    dv_store_items_free(l);
    dv_store_free(s);
}

/* A replayed event goes out as the text it was stored with (a DELETED one
 * as its last state, stamped with the delete's revision), decoded for the
 * call only, from a window that holds texts. */
static int g_replay_n, g_replay_ok;

static void check_replayed_text(void *ud, const dv_event *ev)
{
    size_t len = 0;
    const char *t = dv_store_json(ud, ev->obj, &len);
    char *want = json_dumps(ev->obj, JSON_COMPACT);
    char rv[32];
    snprintf(rv, sizeof(rv), "%llu", (unsigned long long)ev->rv);
    g_replay_ok &= t && len == strlen(want) && !strcmp(t, want) && !strcmp(rv_of(ev->obj), rv) &&
                   (ev->type == DV_EV_ADDED) == !ev->prev;
    g_replay_n++;
    free(want);
}

static void test_replay_texts(void **state)
{
    (void)state;
    dv_store *s = open_mem(10);
    dv_store_put(s, "", "cm", "n", "a", obj("n", "a", "1"));
    dv_store_put(s, "", "cm", "n", "a", obj("n", "a", "2"));
    dv_store_put(s, "", "cm", "n", "b", obj("n", "b", "1"));
    dv_store_delete(s, "", "cm", "n", "a");
    dv_store_trim(s);
    g_replay_n = 0;
    g_replay_ok = 1;
    assert_int_equal(dv_store_replay(s, 0, check_replayed_text, s), 0);
    assert_int_equal(g_replay_n, 4);
    assert_true(g_replay_ok);
    /* nothing of it stays "stored": a replayed tree is not the stored object */
    const json_t *b = dv_store_get(s, "", "cm", "n", "b");
    check_text(s, b);
    dv_store_free(s);
}

/* Keys are exact whatever the length (RBAC names have no limit): two names
 * that share their first 1,100 characters are two objects, in memory and
 * after a restart; malformed log records are skipped. */
static void test_long_keys_and_bad_log(void **state)
{
    (void)state;
    char *dir = tu_tmpdir();
    char msg[256] = "";
    dv_store *s = NULL;
    char n1[1201], n2[1201];
    memset(n1, 'x', 1200);
    n1[1200] = 0;
    memcpy(n2, n1, sizeof(n1));
    n2[1199] = 'y';
    assert_int_equal(dv_store_open(dir, 10, &s, msg, sizeof(msg)), 0);
    dv_store_put(s, "rbac.authorization.k8s.io", "roles", "n", n1, obj("n", n1, "1"));
    dv_store_put(s, "rbac.authorization.k8s.io", "roles", "n", n2, obj("n", n2, "2"));
    assert_string_equal(json_string_value(json_object_get(dv_store_get(s, "rbac.authorization.k8s.io", "roles", "n", n1), "v")), "1");
    assert_string_equal(json_string_value(json_object_get(dv_store_get(s, "rbac.authorization.k8s.io", "roles", "n", n2), "v")), "2");
    json_t *l = dv_store_list(s, "rbac.authorization.k8s.io", "roles", "n");
    assert_int_equal(json_array_size(l), 2);
    json_decref(l);
    char after[1300];
    snprintf(after, sizeof(after), "n/%s", n1);
    l = dv_store_list_after(s, "rbac.authorization.k8s.io", "roles", "n", dv_store_rv(s), after);
    assert_int_equal(json_array_size(l), 1);
    assert_string_equal(name_at(l, 0), n2);
    json_decref(l);
    assert_int_equal(dv_store_put(s, "", "cm", "n", NULL, obj("n", "x", "1")), 0); /* no name */
    assert_int_equal(dv_store_delete(s, "", "cm", "n", NULL), 0);
    assert_int_equal(dv_store_delete(s, "", "nothing", "n", "x"), 0);
    dv_store_free(s);

    char path[4096];
    snprintf(path, sizeof(path), "%s/store.log", dir);
    FILE *f = fopen(path, "a");
    assert_non_null(f);
    fputs("[1,2]\n\"x\"\n{}\n{\"op\":\"put\"}\n", f);
    fputs("{\"rv\":-7,\"op\":\"put\",\"g\":1,\"r\":\"cm\",\"ns\":\"a/b\",\"n\":\"c\",\"o\":{}}\n", f);
    fputs("{\"rv\":3,\"op\":\"put\",\"r\":\"cm\",\"n\":\"c\",\"o\":{\"metadata\":{\"resourceVersion\":\"-1\"}}}\n", f);
    fputs("{\"rv\":\"9\",\"op\":\"del\",\"g\":\"\",\"r\":\"cm\",\"ns\":\"zz\",\"n\":\"none\"}\n", f);
    fclose(f);
    assert_int_equal(dv_store_open(dir, 10, &s, msg, sizeof(msg)), 0);
    assert_int_equal(dv_store_rv(s), 3); /* neither -7 nor "-1" moved it */
    assert_string_equal(json_string_value(json_object_get(dv_store_get(s, "rbac.authorization.k8s.io", "roles", "n", n2), "v")), "2");
    assert_non_null(dv_store_get(s, "", "cm", "", "c")); /* no namespace: cluster-scoped */
    l = dv_store_list(s, "", "cm", NULL);
    assert_int_equal(json_array_size(l), 1); /* not the one in "a/b" */
    json_decref(l);
    dv_store_free(s);
    tu_rmtree(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_put_get_list),      cmocka_unit_test(test_events_and_replay),
        cmocka_unit_test(test_list_at_snapshot),  cmocka_unit_test(test_persistence),
        cmocka_unit_test(test_bad_data_dir),      cmocka_unit_test(test_serialized_objects),
        cmocka_unit_test(test_list_after),        cmocka_unit_test(test_tree_cache_and_items),
        cmocka_unit_test(test_each),              cmocka_unit_test(test_items_labels),
        cmocka_unit_test(test_replay_texts),      cmocka_unit_test(test_long_keys_and_bad_log),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
