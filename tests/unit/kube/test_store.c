/* Unit tests for kube/store: keys, stripping, upsert/delete, the built-in
 * and custom indexes, and concurrent readers against a writer. */
#include "testutil.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "kube/store.h"
#include "util/jpack.h"

static json_t *obj(const char *json)
{
    json_error_t je;
    json_t *o = json_loads(json, 0, &je);
    assert_non_null(o);
    return o;
}

static void put(store *s, const char *json)
{
    json_t *o = obj(json);
    assert_int_equal(store_upsert(s, o, NULL, NULL, NULL), 0);
    json_decref(o);
}

static size_t count_index(store *s, const char *ix, const char *val)
{
    json_t *a = store_by_index(s, ix, val, NULL);
    assert_non_null(a);
    size_t n = json_array_size(a);
    json_decref(a);
    /* The three ways to ask must agree. */
    json_t *k = store_index_keys(s, ix, val, NULL);
    assert_int_equal(json_array_size(k), n);
    json_decref(k);
    size_t c = 99;
    assert_int_equal(store_index_count(s, ix, val, &c), 0);
    assert_int_equal(c, n);
    return n;
}

static void test_keys(void **state)
{
    char buf[64], ns[16], name[32];
    json_t *o = obj("{\"metadata\":{\"name\":\"a\",\"namespace\":\"ns1\"}}");
    assert_int_equal(store_key_of(o, buf, sizeof buf, NULL), 0);
    assert_string_equal(buf, "ns1/a");
    json_decref(o);
    o = obj("{\"metadata\":{\"name\":\"cluster-thing\",\"namespace\":\"\"}}");
    assert_int_equal(store_key_of(o, buf, sizeof buf, NULL), 0);
    assert_string_equal(buf, "cluster-thing");
    char tiny[4];
    pb_err e;
    assert_int_equal(store_key_of(o, tiny, sizeof tiny, &e), PB_ETOOLARGE);
    json_decref(o);
    o = obj("{\"metadata\":{}}");
    assert_int_equal(store_key_of(o, buf, sizeof buf, &e), PB_EINVAL);
    assert_int_equal(store_key_of(NULL, buf, sizeof buf, &e), PB_EINVAL);
    json_decref(o);

    assert_int_equal(store_split_key("ns1/a", ns, sizeof ns, name, sizeof name), 0);
    assert_string_equal(ns, "ns1");
    assert_string_equal(name, "a");
    assert_int_equal(store_split_key("only", ns, sizeof ns, name, sizeof name), 0);
    assert_string_equal(ns, "");
    assert_string_equal(name, "only");
    assert_int_equal(store_split_key("", ns, sizeof ns, name, sizeof name), PB_EINVAL);
    assert_int_equal(store_split_key("ns/", ns, sizeof ns, name, sizeof name), PB_EINVAL);
    assert_int_equal(store_split_key("a/b/c", ns, sizeof ns, name, sizeof name), PB_EINVAL);
    assert_int_equal(store_split_key("a-very-long-namespace/x", ns, sizeof ns, name, sizeof name), PB_EINVAL);
}

static void test_strip_does_not_touch_input(void **state)
{
    json_t *o = obj("{\"metadata\":{\"name\":\"a\",\"managedFields\":[{\"manager\":\"kubectl\"}],"
                    "\"annotations\":{\"kubectl.kubernetes.io/last-applied-configuration\":\"{}\","
                    "\"keep\":\"me\"}},\"spec\":{\"x\":1}}");
    store *s = store_new();
    json_t *stored = NULL;
    assert_int_equal(store_upsert(s, o, NULL, &stored, NULL), 0);
    json_t *md = json_object_get(stored, "metadata");
    assert_null(json_object_get(md, "managedFields"));
    json_t *ann = json_object_get(md, "annotations");
    assert_null(json_object_get(ann, "kubectl.kubernetes.io/last-applied-configuration"));
    assert_string_equal(json_string_value(json_object_get(ann, "keep")), "me");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(stored, "spec"), "x")), 1);
    /* The caller's object is intact. */
    assert_non_null(json_object_get(json_object_get(o, "metadata"), "managedFields"));
    assert_non_null(json_object_get(json_object_get(json_object_get(o, "metadata"), "annotations"),
                                    "kubectl.kubernetes.io/last-applied-configuration"));
    json_decref(stored);
    json_decref(o);

    /* The only annotation removed: the annotations map disappears. */
    o = obj("{\"metadata\":{\"name\":\"b\",\"annotations\":"
            "{\"kubectl.kubernetes.io/last-applied-configuration\":\"{}\"}}}");
    json_t *st = store_strip(o);
    assert_null(json_object_get(json_object_get(st, "metadata"), "annotations"));
    json_decref(st);
    json_decref(o);
    store_free(s);
}

static void test_upsert_get_delete(void **state)
{
    store *s = store_new();
    put(s, "{\"metadata\":{\"name\":\"a\",\"namespace\":\"n1\",\"resourceVersion\":\"1\"}}");
    json_t *o = obj("{\"metadata\":{\"name\":\"a\",\"namespace\":\"n1\",\"resourceVersion\":\"2\"}}");
    json_t *old = NULL, *nw = NULL;
    assert_int_equal(store_upsert(s, o, &old, &nw, NULL), 0);
    assert_string_equal(json_string_value(json_object_get(json_object_get(old, "metadata"), "resourceVersion")), "1");
    assert_string_equal(json_string_value(json_object_get(json_object_get(nw, "metadata"), "resourceVersion")), "2");
    json_decref(old);
    json_decref(nw);
    json_decref(o);
    assert_int_equal(store_len(s), 1);

    json_t *g = store_get(s, "n1/a");
    assert_non_null(g);
    json_decref(g);
    assert_null(store_get(s, "n1/b"));

    json_t *l = store_list(s);
    assert_int_equal(json_array_size(l), 1);
    json_decref(l);
    json_t *keys = store_list_keys(s);
    assert_string_equal(json_string_value(json_array_get(keys, 0)), "n1/a");
    json_decref(keys);

    assert_int_equal(store_delete(s, "n1/a", &old), 0);
    assert_non_null(old);
    json_decref(old);
    assert_int_equal(store_delete(s, "n1/a", &old), PB_ENOTFOUND);
    assert_null(old);
    assert_int_equal(store_len(s), 0);

    pb_err e;
    assert_int_equal(store_upsert(s, NULL, NULL, NULL, &e), PB_EINVAL);
    o = obj("{\"metadata\":{}}");
    assert_int_equal(store_upsert(s, o, NULL, NULL, &e), PB_EINVAL);
    json_decref(o);
    store_free(s);
}

static void test_builtin_indexes_follow_updates(void **state)
{
    store *s = store_new();
    /* Only the namespace index comes with a store; the others are opt-in. */
    size_t n = 0;
    assert_int_equal(store_index_count(s, STORE_INDEX_LABEL, "app=db", &n), PB_ENOTFOUND);
    assert_int_equal(store_index_count(s, STORE_INDEX_OWNER_UID, "u-1", &n), PB_ENOTFOUND);
    assert_int_equal(store_add_indexer(s, STORE_INDEX_LABEL, store_index_labels, NULL, NULL), 0);
    assert_int_equal(store_add_indexer(s, STORE_INDEX_OWNER_UID, store_index_owner_uids, NULL, NULL), 0);
    put(s, "{\"metadata\":{\"name\":\"a\",\"namespace\":\"n1\",\"labels\":{\"app\":\"db\",\"tier\":\"gold\"},"
           "\"ownerReferences\":[{\"uid\":\"u-1\",\"kind\":\"Tenant\",\"name\":\"t\"}]}}");
    put(s, "{\"metadata\":{\"name\":\"b\",\"namespace\":\"n1\",\"labels\":{\"app\":\"web\"}}}");
    put(s, "{\"metadata\":{\"name\":\"c\",\"namespace\":\"n2\",\"labels\":{\"app\":\"db\"},"
           "\"ownerReferences\":[{\"uid\":\"u-1\"},{\"uid\":\"u-2\"}]}}");
    put(s, "{\"metadata\":{\"name\":\"cluster\"}}");
    assert_int_equal(count_index(s, STORE_INDEX_NAMESPACE, "n1"), 2);
    assert_int_equal(count_index(s, STORE_INDEX_NAMESPACE, "n2"), 1);
    assert_int_equal(count_index(s, STORE_INDEX_LABEL, "app=db"), 2);
    assert_int_equal(count_index(s, STORE_INDEX_LABEL, "tier=gold"), 1);
    assert_int_equal(count_index(s, STORE_INDEX_LABEL, "app=nope"), 0);
    assert_int_equal(count_index(s, STORE_INDEX_OWNER_UID, "u-1"), 2);
    assert_int_equal(count_index(s, STORE_INDEX_OWNER_UID, "u-2"), 1);

    /* Relabel a: index entries move. */
    put(s, "{\"metadata\":{\"name\":\"a\",\"namespace\":\"n1\",\"labels\":{\"app\":\"web\"}}}");
    assert_int_equal(count_index(s, STORE_INDEX_LABEL, "app=db"), 1);
    assert_int_equal(count_index(s, STORE_INDEX_LABEL, "app=web"), 2);
    assert_int_equal(count_index(s, STORE_INDEX_LABEL, "tier=gold"), 0);
    assert_int_equal(count_index(s, STORE_INDEX_OWNER_UID, "u-1"), 1);
    /* Delete c: gone from every index. */
    assert_int_equal(store_delete(s, "n2/c", NULL), 0);
    assert_int_equal(count_index(s, STORE_INDEX_NAMESPACE, "n2"), 0);
    assert_int_equal(count_index(s, STORE_INDEX_OWNER_UID, "u-2"), 0);
    /* A value an object yields twice counts once, and leaves once. */
    put(s, "{\"metadata\":{\"name\":\"d\",\"namespace\":\"n3\",\"ownerReferences\":[{\"uid\":\"u-3\"},{\"uid\":\"u-3\"}]}}");
    assert_int_equal(count_index(s, STORE_INDEX_OWNER_UID, "u-3"), 1);
    put(s, "{\"metadata\":{\"name\":\"d\",\"namespace\":\"n3\",\"ownerReferences\":[{\"uid\":\"u-3\"},{\"uid\":\"u-3\"}]}}");
    assert_int_equal(count_index(s, STORE_INDEX_OWNER_UID, "u-3"), 1);
    assert_int_equal(store_delete(s, "n3/d", NULL), 0);
    assert_int_equal(count_index(s, STORE_INDEX_OWNER_UID, "u-3"), 0);

    pb_err e;
    size_t c;
    assert_int_equal(store_index_count(s, "no-such-index", "x", &c), PB_ENOTFOUND);
    assert_int_equal(store_index_count(s, NULL, "x", &c), PB_EINVAL);
    assert_null(store_by_index(s, "no-such-index", "x", &e));
    assert_int_equal(e.code, PB_ENOTFOUND);
    assert_null(store_by_index(s, NULL, "x", &e));
    store_free(s);
}

static json_t *index_by_plan(json_t *o, void *ud)
{
    int *calls = ud;
    (*calls)++;
    const char *plan = json_string_value(json_object_get(json_object_get(o, "spec"), "plan"));
    if (!plan)
        return NULL;
    json_t *a = json_array();
    json_array_append_new(a, json_string(plan));
    return a;
}

static void test_custom_index_added_late(void **state)
{
    store *s = store_new();
    put(s, "{\"metadata\":{\"name\":\"t1\"},\"spec\":{\"plan\":\"gold\"}}");
    put(s, "{\"metadata\":{\"name\":\"t2\"},\"spec\":{\"plan\":\"free\"}}");
    put(s, "{\"metadata\":{\"name\":\"t3\"}}");
    int calls = 0;
    assert_int_equal(store_add_indexer(s, "plan", index_by_plan, &calls, NULL), 0);
    assert_int_equal(calls, 3);
    assert_int_equal(count_index(s, "plan", "gold"), 1);
    put(s, "{\"metadata\":{\"name\":\"t3\"},\"spec\":{\"plan\":\"gold\"}}");
    assert_int_equal(count_index(s, "plan", "gold"), 2);
    pb_err e;
    assert_int_equal(store_add_indexer(s, "plan", index_by_plan, &calls, &e), PB_EEXIST);
    assert_int_equal(store_add_indexer(s, "", index_by_plan, NULL, &e), PB_EINVAL);
    assert_int_equal(store_add_indexer(s, "x", NULL, NULL, &e), PB_EINVAL);
    store_free(s);
}

/* Reads unpack: each caller gets its own copy, equal to what was stored
 * minus the stripped fields. */
static void test_reads_are_private_copies(void **state)
{
    store *s = store_new();
    json_t *o = obj("{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"a\",\"namespace\":\"n\","
                    "\"resourceVersion\":\"7\",\"managedFields\":[{\"manager\":\"m\"}]},"
                    "\"data\":{\"k\":\"v\",\"n\":1.5,\"i\":-3,\"b\":false,\"z\":null,\"l\":[1,[2],{}]}}");
    assert_int_equal(store_upsert(s, o, NULL, NULL, NULL), 0);
    json_t *g1 = store_get(s, "n/a");
    json_object_del(json_object_get(o, "metadata"), "managedFields");
    assert_true(json_equal(g1, o));
    json_object_set_new(json_object_get(g1, "data"), "k", json_string("changed"));
    json_t *g2 = store_get(s, "n/a");
    assert_ptr_not_equal(g1, g2);
    assert_string_equal(json_string_value(json_object_get(json_object_get(g2, "data"), "k")), "v");
    json_decref(g1);
    json_decref(g2);
    json_decref(o);
    store_free(s);
}

static void test_resource_version(void **state)
{
    store *s = store_new();
    put(s, "{\"metadata\":{\"name\":\"a\",\"namespace\":\"n\",\"resourceVersion\":\"123456\"}}");
    put(s, "{\"metadata\":{\"name\":\"norv\"}}");
    char rv[16], tiny[4];
    assert_int_equal(store_resource_version(s, "n/a", rv, sizeof rv), 0);
    assert_string_equal(rv, "123456");
    assert_int_equal(store_resource_version(s, "n/a", tiny, sizeof tiny), PB_ETOOLARGE);
    assert_int_equal(store_resource_version(s, "norv", rv, sizeof rv), 0);
    assert_string_equal(rv, "");
    assert_int_equal(store_resource_version(s, "n/b", rv, sizeof rv), PB_ENOTFOUND);
    assert_int_equal(store_resource_version(s, NULL, rv, sizeof rv), PB_EINVAL);
    put(s, "{\"metadata\":{\"name\":\"a\",\"namespace\":\"n\",\"resourceVersion\":\"123457\"}}");
    assert_int_equal(store_resource_version(s, "n/a", rv, sizeof rv), 0);
    assert_string_equal(rv, "123457");
    store_free(s);
}

static void test_lists_in_key_order(void **state)
{
    store *s = store_new();
    const char *names[] = {"m", "b", "z", "a", "k"};
    char buf[128];
    for (size_t i = 0; i < 5; i++) {
        snprintf(buf, sizeof buf, "{\"metadata\":{\"name\":\"%s\",\"namespace\":\"n\"}}", names[i]);
        put(s, buf);
    }
    json_t *keys = store_list_keys(s), *all = store_list(s), *ix = store_by_index(s, STORE_INDEX_NAMESPACE, "n", NULL);
    const char *want[] = {"n/a", "n/b", "n/k", "n/m", "n/z"};
    assert_int_equal(json_array_size(keys), 5);
    assert_int_equal(json_array_size(all), 5);
    assert_int_equal(json_array_size(ix), 5);
    for (size_t i = 0; i < 5; i++) {
        assert_string_equal(json_string_value(json_array_get(keys, i)), want[i]);
        char k[64];
        assert_int_equal(store_key_of(json_array_get(all, i), k, sizeof k, NULL), 0);
        assert_string_equal(k, want[i]);
        assert_int_equal(store_key_of(json_array_get(ix, i), k, sizeof k, NULL), 0);
        assert_string_equal(k, want[i]);
    }
    json_decref(keys);
    json_decref(all);
    json_decref(ix);
    store_free(s);
}

/* Random upserts and deletes against a plain model (key -> object): after
 * every step the store holds exactly the model, and every label index
 * value lists exactly the objects carrying that label. */
static void test_matches_model(void **state)
{
    store *s = store_new();
    assert_int_equal(store_add_indexer(s, STORE_INDEX_LABEL, store_index_labels, NULL, NULL), 0);
    json_t *model = json_object();
    unsigned int seed = 42;
    char buf[256], key[64];
    for (int step = 0; step < 3000; step++) {
        seed = seed * 1103515245u + 12345u;
        unsigned r = seed >> 8;
        int id = (int)(r % 60), color = (int)((r >> 8) % 4), op = (int)((r >> 12) % 4);
        snprintf(key, sizeof key, "ns%d/o%d", id % 3, id);
        if (op == 0) {
            json_t *old = NULL;
            int rc = store_delete(s, key, &old);
            assert_int_equal(rc, json_object_get(model, key) ? 0 : PB_ENOTFOUND);
            if (old)
                assert_true(json_equal(old, json_object_get(model, key)));
            json_decref(old);
            json_object_del(model, key);
        } else {
            snprintf(buf, sizeof buf,
                     "{\"metadata\":{\"name\":\"o%d\",\"namespace\":\"ns%d\",\"resourceVersion\":\"%d\","
                     "\"labels\":{\"color\":\"c%d\"%s}},\"spec\":{\"step\":%d}}",
                     id, id % 3, step, color, op == 1 ? ",\"odd\":\"yes\"" : "", step);
            json_t *o = obj(buf), *old = NULL, *nw = NULL;
            assert_int_equal(store_upsert(s, o, &old, &nw, NULL), 0);
            json_t *prev = json_object_get(model, key);
            if (prev)
                assert_true(json_equal(old, prev));
            else
                assert_null(old);
            assert_true(json_equal(nw, o));
            json_object_set(model, key, o);
            json_decref(old);
            json_decref(nw);
            json_decref(o);
        }
        if (step % 100 != 99)
            continue;
        assert_int_equal(store_len(s), json_object_size(model));
        const char *k;
        json_t *v;
        size_t bytes = 0; /* what store_bytes must say: packed objects + keys */
        json_object_foreach(model, k, v) {
            json_t *g = store_get(s, k);
            assert_true(json_equal(g, v));
            json_decref(g);
            size_t n = 0;
            free(jpack_encode(v, &n));
            bytes += n + strlen(k) + 1;
        }
        assert_int_equal(store_bytes(s), bytes);
        for (int c = 0; c < 4; c++) {
            snprintf(buf, sizeof buf, "color=c%d", c);
            size_t want = 0;
            json_object_foreach(model, k, v) {
                const char *lc = json_string_value(json_object_get(json_object_get(json_object_get(v, "metadata"), "labels"), "color"));
                want += strcmp(lc + 0, buf + 6) == 0;
            }
            assert_int_equal(count_index(s, STORE_INDEX_LABEL, buf), want);
        }
    }
    const char *k;
    json_t *v;
    void *tmp;
    json_object_foreach_safe(model, tmp, k, v)
        assert_int_equal(store_delete(s, k, NULL), 0);
    assert_int_equal(store_len(s), 0);
    assert_int_equal(store_bytes(s), 0);
    json_decref(model);
    store_free(s);
}

static void *reader(void *arg)
{
    store *s = arg;
    for (int i = 0; i < 300; i++) {
        json_t *l = store_list(s);
        size_t j;
        json_t *o;
        json_array_foreach(l, j, o)
            assert_non_null(json_object_get(o, "metadata"));
        json_decref(l);
        json_t *a = store_by_index(s, STORE_INDEX_NAMESPACE, "n", NULL);
        json_decref(a);
        json_decref(store_get(s, "n/k3"));
    }
    return NULL;
}

static void test_concurrent_readers(void **state)
{
    store *s = store_new();
    pthread_t r[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&r[i], NULL, reader, s);
    char buf[128];
    for (int i = 0; i < 300; i++) {
        snprintf(buf, sizeof buf, "{\"metadata\":{\"name\":\"k%d\",\"namespace\":\"n\",\"resourceVersion\":\"%d\"}}",
                 i % 10, i);
        put(s, buf);
        if (i % 7 == 0) {
            snprintf(buf, sizeof buf, "n/k%d", i % 10);
            store_delete(s, buf, NULL);
        }
    }
    for (int i = 0; i < 2; i++)
        pthread_join(r[i], NULL);
    assert_true(store_len(s) <= 10);
    store_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keys),
        cmocka_unit_test(test_strip_does_not_touch_input),
        cmocka_unit_test(test_upsert_get_delete),
        cmocka_unit_test(test_builtin_indexes_follow_updates),
        cmocka_unit_test(test_custom_index_added_late),
        cmocka_unit_test(test_concurrent_readers),
        cmocka_unit_test(test_reads_are_private_copies),
        cmocka_unit_test(test_resource_version),
        cmocka_unit_test(test_lists_in_key_order),
        cmocka_unit_test(test_matches_model),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
