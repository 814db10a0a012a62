/*
 * test_protobuf.c - decoding the Kubernetes protobuf bodies kubectl sends
 * (protobuf.h): envelope checks, strings, maps, bytes (base64), repeated
 * messages, IntOrString, zero-value dropping, truncated input.
 */
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#include "protobuf.h"

/* A tiny protobuf writer for building test bodies. */
typedef struct buf {
    unsigned char d[4096];
    size_t n;
} buf;

static void put_varint(buf *b, unsigned long long v)
{
    do {
        unsigned char c = v & 0x7f;
        v >>= 7;
        b->d[b->n++] = (unsigned char)(c | (v ? 0x80 : 0));
    } while (v);
}

static void put_bytes(buf *b, unsigned num, const void *p, size_t len)
{
    put_varint(b, (num << 3) | 2);
    put_varint(b, len);
    memcpy(b->d + b->n, p, len);
    b->n += len;
}

static void put_str(buf *b, unsigned num, const char *s) { put_bytes(b, num, s, strlen(s)); }
static void put_msg(buf *b, unsigned num, const buf *m) { put_bytes(b, num, m->d, m->n); }
static void put_int(buf *b, unsigned num, unsigned long long v)
{
    put_varint(b, num << 3);
    put_varint(b, v);
}
static void put_entry(buf *b, unsigned num, const char *k, const char *v)
{
    buf e = {{0}, 0};
    put_str(&e, 1, k);
    put_str(&e, 2, v);
    put_msg(b, num, &e);
}

/* "k8s\0" + Unknown{typeMeta{apiVersion, kind}, raw} */
static size_t envelope(unsigned char *out, const char *api_version, const char *kind, const buf *raw)
{
    buf tm = {{0}, 0}, u = {{0}, 0};
    put_str(&tm, 1, api_version);
    put_str(&tm, 2, kind);
    put_msg(&u, 1, &tm);
    put_msg(&u, 2, raw);
    memcpy(out, "k8s\0", 4);
    memcpy(out + 4, u.d, u.n);
    return u.n + 4;
}

static const char *path_str(const json_t *o, const char *a, const char *b, const char *c)
{
    const json_t *v = json_object_get(o, a);
    if (b)
        v = json_object_get(v, b);
    if (c)
        v = json_object_get(v, c);
    return json_string_value(v);
}

static void test_configmap(void **state)
{
    (void)state;
    buf meta = {{0}, 0}, raw = {{0}, 0};
    put_str(&meta, 1, "cfg");
    put_str(&meta, 2, "");   /* zero value: dropped */
    put_str(&meta, 3, "ns1");
    put_entry(&meta, 11, "app", "web");
    put_str(&meta, 14, "a/b"); /* finalizers (repeated) */
    put_msg(&raw, 1, &meta);
    put_entry(&raw, 2, "k1", "v1");
    put_entry(&raw, 2, "k2", "");
    put_entry(&raw, 3, "bin", "hi");
    unsigned char body[8192];
    size_t n = envelope(body, "v1", "ConfigMap", &raw);
    json_t *o = dv_proto_decode(body, n);
    assert_non_null(o);
    assert_string_equal(path_str(o, "kind", NULL, NULL), "ConfigMap");
    assert_string_equal(path_str(o, "apiVersion", NULL, NULL), "v1");
    assert_string_equal(path_str(o, "metadata", "name", NULL), "cfg");
    assert_null(json_object_get(json_object_get(o, "metadata"), "generateName"));
    assert_string_equal(path_str(o, "metadata", "labels", "app"), "web");
    assert_string_equal(json_string_value(json_array_get(json_object_get(json_object_get(o, "metadata"), "finalizers"), 0)),
                        "a/b");
    assert_string_equal(path_str(o, "data", "k1", NULL), "v1");
    assert_string_equal(path_str(o, "data", "k2", NULL), ""); /* map values are kept even when empty */
    assert_string_equal(path_str(o, "binaryData", "bin", NULL), "aGk=");
    json_decref(o);
}

static void test_role_and_service(void **state)
{
    (void)state;
    buf meta = {{0}, 0}, rule = {{0}, 0}, raw = {{0}, 0};
    put_str(&meta, 1, "reader");
    put_str(&rule, 1, "get");
    put_str(&rule, 1, "list");
    put_str(&rule, 2, ""); /* core group: repeated empty strings are kept */
    put_str(&rule, 3, "pods");
    put_msg(&raw, 1, &meta);
    put_msg(&raw, 2, &rule);
    unsigned char body[8192];
    size_t n = envelope(body, "rbac.authorization.k8s.io/v1", "Role", &raw);
    json_t *o = dv_proto_decode(body, n);
    assert_non_null(o);
    json_t *r = json_array_get(json_object_get(o, "rules"), 0);
    assert_int_equal(json_array_size(json_object_get(r, "verbs")), 2);
    assert_string_equal(json_string_value(json_array_get(json_object_get(r, "apiGroups"), 0)), "");
    json_decref(o);

    buf port = {{0}, 0}, tp = {{0}, 0}, spec = {{0}, 0}, svc = {{0}, 0};
    put_str(&port, 2, "TCP");
    put_int(&port, 3, 80);
    put_int(&tp, 1, 0);
    put_int(&tp, 2, 8080);
    put_msg(&port, 4, &tp);
    put_int(&port, 5, 0); /* nodePort 0: dropped */
    put_msg(&spec, 1, &port);
    put_entry(&spec, 2, "app", "web");
    put_str(&spec, 4, "ClusterIP");
    meta.n = 0;
    put_str(&meta, 1, "web");
    put_msg(&svc, 1, &meta);
    put_msg(&svc, 2, &spec);
    n = envelope(body, "v1", "Service", &svc);
    o = dv_proto_decode(body, n);
    assert_non_null(o);
    json_t *p0 = json_array_get(json_object_get(json_object_get(o, "spec"), "ports"), 0);
    assert_int_equal(json_integer_value(json_object_get(p0, "port")), 80);
    assert_int_equal(json_integer_value(json_object_get(p0, "targetPort")), 8080);
    assert_null(json_object_get(p0, "nodePort"));
    assert_string_equal(path_str(o, "spec", "type", NULL), "ClusterIP");
    json_decref(o);
}

static void test_bad_input(void **state)
{
    (void)state;
    unsigned char body[8192];
    assert_null(dv_proto_decode((const unsigned char *)"{}", 2));
    assert_null(dv_proto_decode((const unsigned char *)"k8s", 3));
    buf raw = {{0}, 0};
    put_str(&raw, 1, "x");
    size_t n = envelope(body, "v1", "Pod", &raw); /* unsupported kind */
    assert_null(dv_proto_decode(body, n));
    buf meta = {{0}, 0};
    put_str(&meta, 1, "cfg");
    raw.n = 0;
    put_msg(&raw, 1, &meta);
    n = envelope(body, "v1", "ConfigMap", &raw);
    assert_null(dv_proto_decode(body, n - 2)); /* truncated */
    raw.n = 0; /* a field claiming more bytes than there are */
    put_varint(&raw, (1 << 3) | 2);
    put_varint(&raw, 100);
    n = envelope(body, "v1", "ConfigMap", &raw);
    assert_null(dv_proto_decode(body, n));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_configmap),
        cmocka_unit_test(test_role_and_service),
        cmocka_unit_test(test_bad_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
