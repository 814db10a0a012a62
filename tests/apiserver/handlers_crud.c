/*
 * handlers_crud.c - the verbs on stored objects: get, list (selectors,
 * limit/continue over a snapshot), create (generateName, name validation,
 * CRD schema defaulting/pruning/validation, admission), update and patch
 * (optimistic concurrency, status subresource, generation, no-op writes,
 * server-side apply), delete (finalizers, propagation policy) and
 * deletecollection. Object semantics follow /work/shared/k8s-api-reference.md.
 * Custom-resource specifics live in crd.c, /scale and /token in
 * subresources.c.
 */
#include "handlers_int.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>

#include "admission.h"
#include "patch.h"
#include "protobuf.h"
#include "schema.h"
#include "selector.h"
#include "util/buf.h"
#include "util/err.h"
#include "util/yaml.h"

/* ---- small helpers -------------------------------------------------------------- */

json_t *dv_md(json_t *obj)
{
    json_t *m = json_object_get(obj, "metadata");
    if (!json_is_object(m)) {
        m = json_object();
        json_object_set_new(obj, "metadata", m);
    }
    return m;
}

const char *dv_mds(const json_t *obj, const char *key)
{
    return json_string_value(json_object_get(json_object_get(obj, "metadata"), key));
}

static int has_string(const json_t *arr, const char *s);

static const char *nsarg(const dv_rtype *rt, const char *ns) { return rt->namespaced ? ns : ""; }

/* A shallow copy with kind/apiVersion of the requested version. */
static json_t *for_output(const dv_rtype *rt, const json_t *obj)
{
    json_t *o = json_copy((json_t *)obj);
    char av[256];
    dv_api_version(rt, av, sizeof(av));
    json_object_set_new(o, "apiVersion", json_string(av));
    json_object_set_new(o, "kind", json_string(rt->kind));
    return o;
}

/* The store's serialized copy of obj when that is what for_output would
 * produce (same apiVersion and kind), else NULL. av: dv_api_version. */
static const char *stored_text(dv_ctx *c, const json_t *obj, const char *av, size_t *len)
{
    const char *oav = json_string_value(json_object_get(obj, "apiVersion"));
    const char *kind = json_string_value(json_object_get(obj, "kind"));
    if (!oav || !kind || strcmp(oav, av) || strcmp(kind, c->rt->kind))
        return NULL;
    return dv_store_json(c->api->store, obj, len);
}

static void reply_object(dv_ctx *c, int status, const json_t *obj)
{
    char av[256];
    size_t len;
    dv_api_version(c->rt, av, sizeof(av));
    const char *text = dv_wants_table(c->req) ? NULL : stored_text(c, obj, av, &len);
    if (text) {
        char *body = malloc(len + 1);
        memcpy(body, text, len + 1);
        dv_reply_text(c, status, body, len);
        return;
    }
    json_t *o = for_output(c->rt, obj);
    if (dv_wants_table(c->req)) {
        json_t *arr = json_pack("[O]", o);
        json_t *t = dv_table(c->rt->columns, arr, dv_q(c, "includeObject"), 1);
        json_object_set_new(t, "metadata", json_pack("{s:s}", "resourceVersion", dv_mds(obj, "resourceVersion")));
        json_decref(arr);
        json_decref(o);
        dv_reply_json(c, status, t);
        return;
    }
    dv_reply_json(c, status, o);
}

static void reply_conflict(dv_ctx *c, const char *name, const char *why)
{
    char q[256], msg[1024];
    dv_qualified(c->rt, q, sizeof(q));
    snprintf(msg, sizeof(msg), "Operation cannot be fulfilled on %s \"%s\": %s", q, name, why);
    json_t *d = json_pack("{s:s,s:s}", "name", name, "kind", c->rt->plural);
    if (*c->rt->group)
        json_object_set_new(d, "group", json_string(c->rt->group));
    dv_reply_status(c, 409, "Conflict", msg, d);
}

int dv_ctype_is(const dv_ctx *c, const char *want)
{
    const char *ct = c->req->content_type ? c->req->content_type : "";
    size_t n = strlen(want);
    return !strncmp(ct, want, n) && (ct[n] == 0 || ct[n] == ';' || ct[n] == ' ');
}

/* Parse the request body as JSON (or YAML). 400 and -1 on failure. */
int dv_parse_body(dv_ctx *c, json_t **out)
{
    const char *b = c->req->body ? c->req->body : "";
    size_t len = c->req->body_len;
    json_error_t je;
    if (dv_ctype_is(c, "application/vnd.kubernetes.protobuf")) {
        /* kubectl's typed clients insist on protobuf; the kinds they
         * create are understood (protobuf.h). */
        *out = dv_auth_protobuf_to_json(b, len);
        if (!*out)
            *out = dv_proto_decode((const unsigned char *)b, len);
        if (*out)
            return 0;
        dv_reply_status(c, 415, "UnsupportedMediaType",
                        "the body of the request was in an unknown format - accepted media types include: "
                        "application/json, application/yaml",
                        NULL);
        return -1;
    }
    *out = json_loadb(b, len, JSON_DECODE_ANY, &je);
    if (*out)
        return 0;
    if (dv_ctype_is(c, "application/yaml") || dv_ctype_is(c, "application/apply-patch+yaml")) {
        pb_err e;
        pb_err_clear(&e);
        if (pb_yaml_parse_one(b, len, out, &e) == 0 && *out)
            return 0;
        char msg[PB_ERR_MSG_MAX + 64];
        snprintf(msg, sizeof(msg), "error converting YAML to JSON: %s", pb_err_msg(&e));
        dv_reply_status(c, 400, "BadRequest", msg, NULL);
        return -1;
    }
    char msg[512];
    snprintf(msg, sizeof(msg), "couldn't get version/kind; json parse error: %s", je.text);
    dv_reply_status(c, 400, "BadRequest", msg, NULL);
    return -1;
}

/* The Go package of a built-in group's internal types, as kube-apiserver's
 * conversion errors name them ("core.ConfigMap", "apps.Deployment"): the
 * group's first label, "core" for the core group and for events.k8s.io
 * (whose Event converts to the core internal type). */
static void internal_package(const char *group, char *buf, size_t n)
{
    if (!*group || !strcmp(group, "events.k8s.io"))
        snprintf(buf, n, "core");
    else
        snprintf(buf, n, "%.*s", (int)strcspn(group, "."), group);
}

/* A built-in (compiled-in, not CRD) type of that group/version/kind: what
 * the real server's scheme would have registered. */
static const dv_rtype *builtin_kind(const dv_registry *r, const char *group, const char *version, const char *kind)
{
    const dv_rtype *t;
    for (size_t i = 0; (t = dv_registry_at(r, i)); i++)
        if (!t->is_crd && !strcmp(t->group, group) && !strcmp(t->version, version) && !strcmp(t->kind, kind))
            return t;
    return NULL;
}

/* The request body of a create or update must be an object of the URL's
 * type. kube-apiserver decodes it with the URL's group/version/kind as the
 * default, so a built-in object without kind and/or apiVersion takes them
 * from the URL (client-go typed clients send such bodies). A custom
 * resource is decoded as unstructured JSON, which takes its type from the
 * body alone: kind is required there and apiVersion must match. The
 * messages are the real server's for each way the type can be wrong.
 * allow_default 0: a server-side apply body, which must name its kind. */
static int check_type(dv_ctx *c, json_t *obj, int allow_default)
{
    const dv_rtype *rt = c->rt;
    char av[256];
    if (!json_is_object(obj)) {
        dv_reply_status(c, 400, "BadRequest", "the body of the request must be a JSON object", NULL);
        return -1;
    }
    dv_api_version(rt, av, sizeof(av));
    const char *kind = json_string_value(json_object_get(obj, "kind"));
    const char *ver = json_string_value(json_object_get(obj, "apiVersion"));
    if (kind && !*kind)
        kind = NULL;
    if (ver && !*ver)
        ver = NULL;
    if (!allow_default) {
        /* Server-side apply: its own checks, unchanged here. */
        char msg[600];
        if (!kind) {
            dv_reply_status(c, 400, "BadRequest", "Object 'Kind' is missing in the request body", NULL);
            return -1;
        }
        if (ver && strcmp(ver, av)) {
            snprintf(msg, sizeof(msg), "the API version in the data (%s) does not match the expected API version (%s)",
                     ver, av);
            dv_reply_status(c, 400, "BadRequest", msg, NULL);
            return -1;
        }
        if (strcmp(kind, rt->kind)) {
            snprintf(msg, sizeof(msg), "the kind in the data (%s) does not match the expected kind (%s)", kind,
                     rt->kind);
            dv_reply_status(c, 400, "BadRequest", msg, NULL);
            return -1;
        }
        json_object_set_new(obj, "apiVersion", json_string(av));
        return 0;
    }
    if (rt->is_crd) {
        if (!kind) {
            /* The unstructured decoder's MissingKindErr quotes the body;
             * the handler adds what it expected and the first 30 bytes
             * (as text when they start an object, else in hex). */
            const char *b = c->req->body ? c->req->body : "";
            size_t len = c->req->body_len, sum = len > 30 ? 30 : len;
            pb_buf m = {0};
            pb_buf_printf(&m, "the object provided is unrecognized (must be of type %s): Object 'Kind' is missing in '",
                          rt->kind);
            pb_buf_append(&m, b, len);
            pb_buf_puts(&m, "' (");
            if (!len)
                pb_buf_puts(&m, "<empty>");
            else if (b[0] == '{')
                pb_buf_append(&m, b, sum);
            else
                for (size_t i = 0; i < sum; i++)
                    pb_buf_printf(&m, "%02x", (unsigned char)b[i]);
            pb_buf_puts(&m, len > 30 ? " ...)" : ")");
            if (m.oom)
                abort(); /* out of memory: this is a test server */
            dv_reply_status(c, 400, "BadRequest", m.data, NULL);
            pb_buf_free(&m);
            return -1;
        }
        if (!ver || strcmp(ver, av)) {
            char msg[600];
            snprintf(msg, sizeof(msg), "the API version in the data (%s) does not match the expected API version (%s)",
                     ver ? ver : "", av);
            dv_reply_status(c, 400, "BadRequest", msg, NULL);
            return -1;
        }
        if (strcmp(kind, rt->kind)) {
            /* Decoded fine; the custom resource strategy's type-meta
             * validation refuses it, naming the kind the object claims. */
            char why[600];
            snprintf(why, sizeof(why), "Invalid value: \"%s\": must be %s", kind, rt->kind);
            dv_rtype claimed = *rt;
            claimed.kind = (char *)kind;
            const char *name = dv_mds(obj, "name");
            dv_reply_invalid(c, &claimed, name ? name : "",
                             json_pack("[{s:s,s:s,s:s}]", "reason", "FieldValueInvalid", "message", why, "field",
                                       "kind"));
            return -1;
        }
        return 0;
    }
    /* Built-in: what the body leaves out comes from the URL
     * (gvkWithDefaults: a version only with the URL's group). */
    char group[256] = "", version[128] = "";
    if (ver) {
        const char *slash = strchr(ver, '/');
        if (slash) {
            snprintf(group, sizeof(group), "%.*s", (int)(slash - ver), ver);
            snprintf(version, sizeof(version), "%s", slash + 1);
        } else {
            snprintf(version, sizeof(version), "%s", ver);
        }
    }
    if (!*group && !*version) {
        snprintf(group, sizeof(group), "%s", rt->group);
        snprintf(version, sizeof(version), "%s", rt->version);
    } else if (!*version && !strcmp(group, rt->group)) {
        snprintf(version, sizeof(version), "%s", rt->version);
    }
    if (!kind)
        kind = rt->kind;
    if (!strcmp(group, rt->group) && !strcmp(version, rt->version) && !strcmp(kind, rt->kind)) {
        json_object_set_new(obj, "apiVersion", json_string(av));
        json_object_set_new(obj, "kind", json_string(rt->kind));
        return 0;
    }
    char gv[400], msg[1200], pkg[64];
    snprintf(gv, sizeof(gv), "%s%s%s", group, *group ? "/" : "", version);
    internal_package(rt->group, pkg, sizeof(pkg));
    if (!builtin_kind(c->api->reg, group, version, kind)) {
        /* The scheme cannot even create the object the body names. It is
         * named after its creation site, as kube-apiserver (v1.37, what
         * hack/kube.sh pins) prints it. */
        snprintf(msg, sizeof(msg),
                 "%s in version \"%s\" cannot be handled as a %s: no kind \"%s\" is registered for version \"%s\" in "
                 "scheme \"pkg/runtime/scheme.go:111\"",
                 kind, version, rt->kind, kind, gv);
    } else if (!strcmp(group, rt->group) && !strcmp(kind, rt->kind)) {
        /* Another version of the same type converts; the handler then
         * refuses the version. */
        snprintf(msg, sizeof(msg), "the API version in the data (%s) does not match the expected API version (%s)", gv,
                 av);
    } else {
        /* Another registered type: there is no conversion to this one. */
        snprintf(msg, sizeof(msg),
                 "%s in version \"%s\" cannot be handled as a %s: converting (%s.%s) to (%s.%s): unknown conversion",
                 kind, version, rt->kind, version, kind, pkg, rt->kind);
    }
    dv_reply_status(c, 400, "BadRequest", msg, NULL);
    return -1;
}

/* ---- names -------------------------------------------------------------------- */

static int is_label(const char *s, size_t len, int dns1035)
{
    if (len == 0 || len > 63)
        return 0;
    if (dns1035 ? !islower((unsigned char)s[0]) : !(islower((unsigned char)s[0]) || isdigit((unsigned char)s[0])))
        return 0;
    if (!(islower((unsigned char)s[len - 1]) || isdigit((unsigned char)s[len - 1])))
        return 0;
    for (size_t i = 0; i < len; i++)
        if (!(islower((unsigned char)s[i]) || isdigit((unsigned char)s[i]) || s[i] == '-'))
            return 0;
    return 1;
}

static int is_subdomain(const char *s)
{
    size_t len = strlen(s);
    if (len == 0 || len > 253)
        return 0;
    for (const char *p = s;;) {
        const char *dot = strchr(p, '.');
        size_t l = dot ? (size_t)(dot - p) : strlen(p);
        if (!is_label(p, l, 0))
            return 0;
        if (!dot)
            return 1;
        p = dot + 1;
    }
}

static void invalid_cause(json_t *causes, const char *field, const char *value, const char *why)
{
    char m[1024];
    snprintf(m, sizeof(m), "Invalid value: \"%s\": %s", value, why);
    json_array_append_new(causes, json_pack("{s:s,s:s,s:s}", "reason", "FieldValueInvalid", "message", m, "field", field));
}

/* Appends a cause when name is not valid for rt (as the real server checks). */
static void validate_name(const dv_rtype *rt, const char *name, json_t *causes)
{
    const char *kind = rt->plural;
    if (!strcmp(rt->group, "rbac.authorization.k8s.io")) {
        if (!strcmp(name, ".") || !strcmp(name, "..") || strpbrk(name, "/%"))
            invalid_cause(causes, "metadata.name", name, "may not contain '/' or '%'");
        return;
    }
    if (!strcmp(kind, "namespaces")) {
        if (!is_label(name, strlen(name), 0))
            invalid_cause(causes, "metadata.name", name,
                          "a lowercase RFC 1123 label must consist of lower case alphanumeric "
                          "characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  "
                          "or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')");
        return;
    }
    if (!strcmp(kind, "services")) {
        if (!is_label(name, strlen(name), 1))
            invalid_cause(causes, "metadata.name", name,
                          "a DNS-1035 label must consist of lower case alphanumeric characters "
                          "or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. "
                          "'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')");
        return;
    }
    if (!is_subdomain(name))
        invalid_cause(causes, "metadata.name", name,
                      "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric "
                      "characters, '-' or '.', and must start and end with an alphanumeric character (e.g. "
                      "'example.com', regex used for validation is "
                      "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')");
}

/* [A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])? of at most 63 characters. */
static int is_qualified_part(const char *s, size_t len)
{
    if (len == 0 || len > 63 || !isalnum((unsigned char)s[0]) || !isalnum((unsigned char)s[len - 1]))
        return 0;
    for (size_t i = 0; i < len; i++)
        if (!isalnum((unsigned char)s[i]) && s[i] != '-' && s[i] != '_' && s[i] != '.')
            return 0;
    return 1;
}

/* Label keys and values, annotation keys, as apimachinery validates them. */
static void validate_meta_maps(const json_t *obj, json_t *causes)
{
    static const char *const KEY_NAME =
        "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
        "alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is "
        "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";
    static const char *const KEY_PREFIX =
        "prefix part a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or "
        "'.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for "
        "validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
    static const char *const VALUE =
        "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must "
        "start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used "
        "for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";
    json_t *meta = json_object_get(obj, "metadata");
    const char *maps[] = {"labels", "annotations"};
    for (int m = 0; m < 2; m++) {
        char field[64];
        snprintf(field, sizeof(field), "metadata.%s", maps[m]);
        const char *k;
        json_t *v;
        json_object_foreach(json_object_get(meta, maps[m]), k, v) {
            const char *slash = strchr(k, '/');
            const char *name = slash ? slash + 1 : k;
            if (!is_qualified_part(name, strlen(name)))
                invalid_cause(causes, field, k, KEY_NAME);
            if (slash) {
                char prefix[300];
                snprintf(prefix, sizeof(prefix), "%.*s", (int)(slash - k), k);
                if (!is_subdomain(prefix))
                    invalid_cause(causes, field, k, KEY_PREFIX);
            }
            if (m == 0) {
                const char *val = json_string_value(v);
                if (!val || (*val && !is_qualified_part(val, strlen(val))))
                    invalid_cause(causes, field, val ? val : "", VALUE);
            } else if (!json_is_string(v)) {
                invalid_cause(causes, field, k, "annotation values must be strings");
            }
        }
    }
}

/* Quantities as decoding and validation see them: 0, or -1 once the 400
 * is sent (causes is then released). */
static int check_quantities(dv_ctx *c, json_t *obj, json_t *causes)
{
    char msg[1024];
    if (dv_check_quantities(c->rt, obj, causes, msg, sizeof(msg)) == 0)
        return 0;
    json_decref(causes);
    dv_reply_status(c, 400, "BadRequest", msg, NULL);
    return -1;
}

/* ---- admission -------------------------------------------------------------------- */

static int admit(dv_ctx *c, const char *op, json_t **obj, const json_t *old, int mutate)
{
    const char *ns = c->rt->namespaced ? c->ns : NULL;
    const json_t *nsobj = ns ? dv_store_get(c->api->store, "", "namespaces", "", ns) : NULL;
    const json_t *src = *obj ? *obj : old;
    dv_admission_request ar = {op, c->rt->group, c->rt->version, c->rt->kind, c->rt->plural, c->sub,
                               src ? dv_mds(src, "name") : c->name, ns, *obj, old, nsobj, &c->user,
                               dv_q(c, "dryRun") != NULL};
    dv_admission_result res = {NULL, NULL};
    int rc;
    if (mutate) {
        json_t *out = NULL;
        rc = dv_admission_mutate_ex(dv_lister_fn, c->api, &ar, &out, &res);
        if (rc == 0 && out) {
            json_decref(*obj);
            *obj = out;
        } else {
            json_decref(out);
        }
    } else {
        rc = dv_admission_validate_ex(dv_lister_fn, c->api, &ar, &res);
    }
    const char *w = json_string_value(json_array_get(res.warnings, 0));
    if (w)
        dv_set_warning(c, w);
    if (rc != 0) {
        json_t *st = res.status ? json_incref(res.status)
                                : json_pack("{s:s,s:s,s:{},s:s,s:s,s:s,s:i}", "kind", "Status", "apiVersion", "v1",
                                            "metadata", "status", "Failure", "message", "admission failed",
                                            "reason", "InternalError", "code", 500);
        json_t *code = json_object_get(st, "code");
        dv_reply_json(c, json_is_integer(code) ? (int)json_integer_value(code) : 500, st);
    }
    dv_admission_result_clear(&res);
    return rc == 0 ? 0 : -1;
}

/* RBAC escalation prevention on roles and bindings (rbac storage). */
static int escalation_ok(dv_ctx *c, const json_t *obj, const json_t *old)
{
    if (strcmp(c->rt->group, "rbac.authorization.k8s.io"))
        return 1;
    char msg[2048] = "";
    if (dv_rbac_escalation_check(c->api->auth, &c->user, c->rt->plural, c->rt->namespaced ? c->ns : NULL, obj, old,
                                 msg, sizeof(msg)))
        return 1;
    json_t *d = json_pack("{s:s,s:s,s:s}", "name", dv_mds(obj, "name") ? dv_mds(obj, "name") : "", "group",
                          c->rt->group, "kind", c->rt->plural);
    dv_reply_status(c, 403, "Forbidden", msg, d);
    return 0;
}

/* ---- get and list ------------------------------------------------------------------ */

void dv_handle_get(dv_ctx *c)
{
    const json_t *obj = dv_store_get(c->api->store, c->rt->group, c->rt->plural, nsarg(c->rt, c->ns), c->name);
    if (!obj) {
        dv_reply_not_found(c, c->rt, c->name);
        return;
    }
    reply_object(c, 200, obj);
}

/* Continue tokens: base64 of {"rv":N,"start":"ns/name"} (like the real
 * server's, which clients treat as opaque). */
static char *make_continue(uint64_t rv, const char *key /* "ns/name" */)
{
    json_t *t = json_pack("{s:s,s:I,s:s}", "v", "meta.k8s.io/v1", "rv", (json_int_t)rv, "start", key);
    char *raw = json_dumps(t, JSON_COMPACT);
    json_decref(t);
    size_t len = strlen(raw);
    char *out = malloc(4 * ((len + 2) / 3) + 1);
    EVP_EncodeBlock((unsigned char *)out, (unsigned char *)raw, (int)len);
    free(raw);
    return out;
}

static int parse_continue(const char *tok, uint64_t *rv, char *start, size_t n)
{
    size_t len = strlen(tok);
    if (len == 0 || len % 4 || len > 4096)
        return -1;
    unsigned char *raw = malloc(len);
    int got = EVP_DecodeBlock(raw, (const unsigned char *)tok, (int)len);
    if (got < 0) {
        free(raw);
        return -1;
    }
    while (got > 0 && raw[got - 1] == 0)
        got--;
    json_t *t = json_loadb((char *)raw, (size_t)got, 0, NULL);
    free(raw);
    const char *s = json_string_value(json_object_get(t, "start"));
    json_t *r = json_object_get(t, "rv");
    int ok = s && json_is_integer(r) && json_integer_value(r) > 0;
    if (ok) {
        *rv = (uint64_t)json_integer_value(r);
        snprintf(start, n, "%s", s);
    }
    json_decref(t);
    return ok ? 0 : -1;
}

static const char *EXPIRED_MSG =
    "The provided continue parameter is too old to display a consistent list result. You can start a new "
    "list without the continue parameter, or use the continue token in this response to retrieve the "
    "remainder of the results. Continuing with the provided token results in an inconsistent list - "
    "objects that were created, modified, or deleted between the time the first chunk was returned and now "
    "may show up in the list.";

int dv_parse_selectors(dv_ctx *c, dv_selector **ls, dv_selector **fs)
{
    char msg[512] = "";
    *ls = *fs = NULL;
    int bad = dv_label_selector_parse(dv_q(c, "labelSelector"), ls, msg, sizeof(msg)) != 0 ||
              dv_field_selector_parse(dv_q(c, "fieldSelector"), fs, msg, sizeof(msg)) != 0;
    /* then each field label through the kind's conversion, in order */
    const char *key;
    for (size_t i = 0; !bad && (key = dv_selector_key(*fs, i)); i++)
        bad = dv_rtype_field_label_ok(c->rt, key, msg, sizeof(msg)) != 0;
    if (bad) {
        dv_selector_free(*ls);
        dv_selector_free(*fs);
        *ls = *fs = NULL;
        dv_reply_status(c, 400, "BadRequest", msg, NULL);
        return -1;
    }
    return 0;
}

void dv_handle_list(dv_ctx *c)
{
    dv_selector *ls, *fs;
    if (dv_parse_selectors(c, &ls, &fs) != 0)
        return;
    dv_store *st = c->api->store;
    const char *ns = c->rt->namespaced ? c->ns : NULL;
    const char *cont = dv_q(c, "continue");
    const char *rvq = dv_q(c, "resourceVersion");
    const char *match = dv_q(c, "resourceVersionMatch");
    char start[4096] = ""; /* (a token is at most 4,096 characters) */
    uint64_t rv = dv_store_rv(st);
    dv_store_items *items = NULL;
    if (match && *match && (!rvq || !*rvq)) {
        dv_reply_status(c, 400, "BadRequest", "resourceVersionMatch is forbidden unless resourceVersion is provided",
                        NULL);
        goto out;
    }
    if (cont && *cont && rvq && *rvq && strcmp(rvq, "0")) {
        dv_reply_status(c, 400, "BadRequest", "specifying resource version is not allowed when using continue", NULL);
        goto out;
    }
    if (rvq && *rvq && strtoull(rvq, NULL, 10) > dv_store_rv(st)) {
        /* The real server waits ~3s for the cache to catch up, then gives up. */
        char m[256];
        snprintf(m, sizeof(m), "Timeout: Too large resource version: %s, current: %" PRIu64, rvq, dv_store_rv(st));
        dv_reply_status(c, 504, "Timeout", m,
                        json_pack("{s:[{s:s,s:s}],s:i}", "causes", "reason", "ResourceVersionTooLarge", "message",
                                  "Too large resource version", "retryAfterSeconds", 1));
        goto out;
    }
    if (cont && *cont) {
        if (parse_continue(cont, &rv, start, sizeof(start)) != 0) {
            dv_reply_status(c, 400, "BadRequest", "continue key is not valid: invalid continue token", NULL);
            goto out;
        }
        items = dv_store_items_after(st, c->rt->group, c->rt->plural, ns, rv, start);
        if (!items) {
            dv_reply_status(c, 410, "Expired", EXPIRED_MSG, NULL);
            goto out;
        }
    } else if (rvq && *rvq && strcmp(rvq, "0") && match && !strcmp(match, "Exact")) {
        rv = strtoull(rvq, NULL, 10);
        items = dv_store_items_after(st, c->rt->group, c->rt->plural, ns, rv, NULL);
        if (!items) {
            char m[256];
            snprintf(m, sizeof(m), "too old resource version: %s (%" PRIu64 ")", rvq, dv_store_floor(st));
            dv_reply_status(c, 410, "Expired", m, NULL);
            goto out;
        }
    } else {
        items = dv_store_items_after(st, c->rt->group, c->rt->plural, ns, rv, NULL);
    }
    long long limit = dv_q(c, "limit") ? atoll(dv_q(c, "limit")) : 0;
    size_t n = dv_store_items_count(items), nout = 0, i;
    size_t *out_idx = malloc((n ? n : 1) * sizeof(*out_idx)); /* the stored objects, as they are */
    size_t matched_after = 0;
    const char *last = NULL; /* "ns/name" */
    int full = 0;
    /* Without selectors every item matches: what follows a full page is
     * counted, not scanned, and nothing is decoded. With them only "is
     * there more" matters. */
    int counting = !dv_q(c, "labelSelector") && !dv_q(c, "fieldSelector");
    for (i = 0; i < n; i++) {
        if (full && counting) {
            matched_after = n - i;
            break;
        }
        if (ls || fs) {
            json_t *labels = fs ? NULL : dv_store_items_labels(items, i); /* all a label selector reads */
            const json_t *o = labels ? labels : dv_store_items_obj(st, items, i);
            int in = o && dv_selector_matches(ls, o) && dv_selector_matches(fs, o);
            json_decref(labels);
            dv_store_items_drop(items, i);
            if (!in)
                continue;
        }
        if (full) {
            matched_after++;
            break;
        }
        out_idx[nout++] = i;
        last = dv_store_items_key(items, i);
        if (limit > 0 && (long long)nout >= limit)
            full = 1;
    }
    char rvbuf[32], av[256];
    snprintf(rvbuf, sizeof(rvbuf), "%" PRIu64, rv);
    json_t *meta = json_pack("{s:s}", "resourceVersion", rvbuf);
    if (full && matched_after > 0) {
        char *tok = make_continue(rv, last);
        json_object_set_new(meta, "continue", json_string(tok));
        free(tok);
        if (!dv_q(c, "labelSelector") && !dv_q(c, "fieldSelector"))
            json_object_set_new(meta, "remainingItemCount", json_integer((json_int_t)matched_after));
    }
    dv_api_version(c->rt, av, sizeof(av));
    if (dv_wants_table(c->req)) {
        json_t *outs = json_array();
        for (i = 0; i < nout; i++) {
            const json_t *o = dv_store_items_obj(st, items, out_idx[i]);
            if (o)
                json_array_append_new(outs, for_output(c->rt, o));
            dv_store_items_drop(items, out_idx[i]); /* for_output's copy holds the values */
        }
        json_t *t = dv_table(c->rt->columns, outs, dv_q(c, "includeObject"), 1);
        json_object_set_new(t, "metadata", meta);
        json_decref(outs);
        dv_reply_json(c, 200, t);
    } else {
        /* What json_dumps of {kind, apiVersion, metadata, items} gives, with
         * the items' JSON taken from the store instead of serialized again. */
        json_t *env = json_pack("{s:s,s:s,s:o}", "kind", c->rt->list_kind, "apiVersion", av, "metadata", meta);
        char *head = json_dumps(env, JSON_COMPACT), *body = NULL;
        json_decref(env);
        size_t blen = 0;
        FILE *mf = open_memstream(&body, &blen);
        fwrite(head, 1, strlen(head) - 1, mf);
        fputs(",\"items\":[", mf);
        int first = 1;
        for (i = 0; i < nout; i++) {
            size_t tlen;
            const char *tav, *tkind;
            const char *text = dv_store_items_text(items, out_idx[i], &tlen, &tav, &tkind);
            if (text && (!tav || !tkind || strcmp(tav, av) || strcmp(tkind, c->rt->kind)))
                text = NULL; /* stored as another version: for_output's apiVersion and kind */
            const json_t *o = text ? NULL : dv_store_items_obj(st, items, out_idx[i]);
            if (!text && !o)
                continue;
            if (!first)
                fputc(',', mf);
            first = 0;
            if (text) {
                fwrite(text, 1, tlen, mf);
            } else {
                json_t *copy = for_output(c->rt, o);
                json_dumpf(copy, mf, JSON_COMPACT);
                json_decref(copy);
                dv_store_items_drop(items, out_idx[i]);
            }
        }
        fputs("]}", mf);
        fclose(mf);
        free(head);
        dv_reply_text(c, 200, body, blen);
    }
    free(out_idx);
out:
    dv_store_items_free(items);
    dv_selector_free(ls);
    dv_selector_free(fs);
}

/* ---- create -------------------------------------------------------------------------- */

static void random_suffix(dv_api *api, char out[6])
{
    static const char alphabet[] = "bcdfghjklmnpqrstvwxz2456789";
    for (int i = 0; i < 5; i++)
        out[i] = alphabet[rand_r(&api->rng) % (sizeof(alphabet) - 1)];
    out[5] = 0;
}

/* 403 when ns is being terminated, 404 when it does not exist. */
static int check_namespace(dv_ctx *c, const char *name)
{
    if (!c->rt->namespaced)
        return 0;
    const json_t *nsobj = dv_store_get(c->api->store, "", "namespaces", "", c->ns);
    if (!nsobj) {
        char m[512];
        snprintf(m, sizeof(m), "namespaces \"%s\" not found", c->ns);
        dv_reply_status(c, 404, "NotFound", m, json_pack("{s:s,s:s}", "name", c->ns, "kind", "namespaces"));
        return -1;
    }
    if (dv_mds(nsobj, "deletionTimestamp")) {
        char q[256], m[1024], cm[300];
        dv_qualified(c->rt, q, sizeof(q));
        snprintf(m, sizeof(m),
                 "%s \"%s\" is forbidden: unable to create new content in namespace %s because it is being "
                 "terminated",
                 q, name, c->ns);
        snprintf(cm, sizeof(cm), "namespace %s is being terminated", c->ns);
        json_t *d = json_pack("{s:s,s:s,s:[{s:s,s:s,s:s}]}", "name", name, "kind", c->rt->plural, "causes",
                              "reason", "NamespaceTerminating", "message", cm, "field", "metadata.namespace");
        if (*c->rt->group)
            json_object_set_new(d, "group", json_string(c->rt->group));
        dv_reply_status(c, 403, "Forbidden", m, d);
        return -1;
    }
    return 0;
}

/* Secret.stringData is write-only: merged into data (base64), as the real
 * server does before storing. */
static void fold_string_data(const dv_rtype *rt, json_t *obj)
{
    json_t *sd = json_object_get(obj, "stringData");
    if (*rt->group || strcmp(rt->plural, "secrets") || !sd)
        return;
    json_t *data = json_object_get(obj, "data");
    if (!json_is_object(data)) {
        data = json_object();
        json_object_set_new(obj, "data", data);
    }
    const char *k;
    json_t *v;
    json_object_foreach(sd, k, v) {
        const char *str = json_string_value(v);
        size_t len = str ? strlen(str) : 0;
        char *b64 = malloc(4 * ((len + 2) / 3) + 1);
        EVP_EncodeBlock((unsigned char *)b64, (const unsigned char *)(str ? str : ""), (int)len);
        json_object_set_new(data, k, json_string(b64));
        free(b64);
    }
    json_object_del(obj, "stringData");
}

static void allocate_cluster_ip(dv_api *api, json_t *svc)
{
    json_t *spec = json_object_get(svc, "spec");
    if (!json_is_object(spec)) {
        spec = json_object();
        json_object_set_new(svc, "spec", spec);
    }
    if (!json_object_get(spec, "type"))
        json_object_set_new(spec, "type", json_string("ClusterIP"));
    if (!json_object_get(spec, "clusterIP")) {
        char ip[32];
        unsigned r = (unsigned)rand_r(&api->rng);
        snprintf(ip, sizeof(ip), "10.96.%u.%u", (r >> 8) % 256, r % 254 + 1);
        json_object_set_new(spec, "clusterIP", json_string(ip));
        json_object_set_new(spec, "clusterIPs", json_pack("[s]", ip));
    }
}

/* Create obj (stolen). `applied`: managedFields already recorded by apply. */
/* A CustomResourceDefinition is registered before it is stored, so one the
 * registry refuses is never stored. 0, or -1 once the 422 is sent; does
 * nothing for other kinds. */
static int register_crd(dv_ctx *c, json_t *obj, const char *name)
{
    if (strcmp(c->rt->plural, "customresourcedefinitions"))
        return 0;
    char msg[512] = "";
    if (dv_registry_apply_crd(c->api->reg, obj, msg, sizeof(msg)) != 0) {
        dv_reply_invalid(c, c->rt, name,
                         json_pack("[{s:s,s:s,s:s}]", "reason", "FieldValueInvalid", "message", msg, "field", "spec"));
        return -1;
    }
    return 0;
}

/* Stores obj (dv_store_put steals a reference: the caller keeps its own) and replies `status`
 * with it, or 500 when the store refused. */
static void store_and_reply(dv_ctx *c, json_t *obj, const char *name, int status)
{
    json_incref(obj);
    uint64_t rv = dv_store_put(c->api->store, c->rt->group, c->rt->plural, nsarg(c->rt, c->ns), name, obj);
    if (!rv) {
        dv_reply_status(c, 500, "InternalError", "Internal error occurred: writing to the store failed", NULL);
        return;
    }
    if (!strcmp(c->rt->plural, "customresourcedefinitions"))
        dv_registry_crd_stored(c->api->reg, obj, rv);
    reply_object(c, status, obj);
}

static void do_create(dv_ctx *c, json_t *obj, int applied)
{
    json_t *m = dv_md(obj);
    const char *bns = json_string_value(json_object_get(m, "namespace"));
    if (c->rt->namespaced) {
        if (bns && *bns && strcmp(bns, c->ns)) {
            dv_reply_status(c, 400, "BadRequest",
                            "the namespace of the provided object does not match the namespace sent on the request",
                            NULL);
            goto out;
        }
        json_object_set_new(m, "namespace", json_string(c->ns));
    } else {
        json_object_del(m, "namespace");
    }
    const char *name = json_string_value(json_object_get(m, "name"));
    const char *gen = json_string_value(json_object_get(m, "generateName"));
    if ((!name || !*name) && gen && *gen) {
        char buf[300], sfx[6];
        random_suffix(c->api, sfx);
        snprintf(buf, sizeof(buf), "%.*s%s", 58, gen, sfx);
        json_object_set_new(m, "name", json_string(buf));
        name = json_string_value(json_object_get(m, "name"));
    }
    if (!name || !*name) {
        dv_reply_invalid(c, c->rt, "",
                         json_pack("[{s:s,s:s,s:s}]", "reason", "FieldValueRequired", "message",
                                   "Required value: name or generateName is required", "field", "metadata.name"));
        goto out;
    }
    if (check_namespace(c, name) != 0)
        goto out;
    if (c->rt->is_crd) {
        char crdname[512];
        snprintf(crdname, sizeof(crdname), "%s.%s", c->rt->plural, c->rt->group);
        const json_t *crd = dv_store_get(c->api->store, "apiextensions.k8s.io", "customresourcedefinitions", "", crdname);
        if (crd && dv_mds(crd, "deletionTimestamp")) {
            dv_reply_status(c, 405, "MethodNotAllowed",
                            "create not allowed while custom resource definition is terminating", json_pack("{}"));
            goto out;
        }
    }
    if (c->rt->has_status && strcmp(c->rt->plural, "namespaces") && strcmp(c->rt->plural, "customresourcedefinitions"))
        json_object_del(obj, "status");
    if (!strcmp(c->rt->plural, "namespaces")) {
        json_object_set_new(obj, "spec", json_pack("{s:[s]}", "finalizers", "kubernetes"));
        json_object_set_new(obj, "status", json_pack("{s:s}", "phase", "Active"));
        json_t *labels = json_object_get(m, "labels");
        if (!json_is_object(labels)) {
            labels = json_object();
            json_object_set_new(m, "labels", labels);
        }
        json_object_set_new(labels, "kubernetes.io/metadata.name", json_string(name));
    }
    if (!strcmp(c->rt->plural, "services"))
        allocate_cluster_ip(c->api, obj);
    fold_string_data(c->rt, obj);
    dv_apply_defaults(c->rt, obj);
    if (!strcmp(c->rt->plural, "secrets") && !*c->rt->group && !json_object_get(obj, "type"))
        json_object_set_new(obj, "type", json_string("Opaque"));
    if (dv_crd_decode(c, obj) != 0)
        goto out;
    if (admit(c, "CREATE", &obj, NULL, 1) != 0)
        goto out;
    m = dv_md(obj);
    name = json_string_value(json_object_get(m, "name"));
    if (!name)
        name = "";
    json_t *causes = json_array();
    if (check_quantities(c, obj, causes) != 0)
        goto out;
    validate_name(c->rt, name, causes);
    validate_meta_maps(obj, causes);
    dv_crd_validate(c, obj, causes);
    if (!strcmp(c->rt->plural, "customresourcedefinitions"))
        dv_crd_check_definition(c, obj, causes);
    if (json_array_size(causes)) {
        dv_reply_invalid(c, c->rt, name, causes);
        goto out;
    }
    json_decref(causes);
    if (dv_store_get(c->api->store, c->rt->group, c->rt->plural, nsarg(c->rt, c->ns), name)) {
        char q[256], msg[600];
        dv_qualified(c->rt, q, sizeof(q));
        snprintf(msg, sizeof(msg), "%s \"%s\" already exists", q, name);
        json_t *d = json_pack("{s:s,s:s}", "name", name, "kind", c->rt->plural);
        if (*c->rt->group)
            json_object_set_new(d, "group", json_string(c->rt->group));
        dv_reply_status(c, 409, "AlreadyExists", msg, d);
        goto out;
    }
    if (admit(c, "CREATE", &obj, NULL, 0) != 0 || !escalation_ok(c, obj, NULL))
        goto out;
    m = dv_md(obj);
    char now[32], uid[40], mgr[256];
    dv_now_rfc3339(now);
    dv_new_uid(uid);
    json_object_set_new(m, "uid", json_string(uid));
    json_object_set_new(m, "creationTimestamp", json_string(now));
    json_object_del(m, "resourceVersion");
    json_object_del(m, "deletionTimestamp");
    json_object_del(m, "deletionGracePeriodSeconds");
    if (c->rt->has_generation)
        json_object_set_new(m, "generation", json_integer(1));
    else
        json_object_del(m, "generation");
    if (!applied) {
        json_object_del(m, "managedFields");
        dv_field_manager(c, mgr, sizeof(mgr));
        dv_managed_fields_update(obj, NULL, mgr, "Update", now);
    }
    if (dv_q(c, "dryRun")) {
        reply_object(c, 201, obj);
        goto out;
    }
    if (register_crd(c, obj, name) != 0)
        goto out;
    store_and_reply(c, obj, name, 201);
out:
    json_decref(obj);
}

void dv_handle_create(dv_ctx *c)
{
    json_t *obj;
    if (dv_parse_body(c, &obj) != 0)
        return;
    if (c->rt->create_only) {
        json_t *rev = NULL;
        if (json_is_object(obj)) {
            if (!strcmp(c->rt->plural, "selfsubjectrulesreviews"))
                rev = dv_rules_review(c->api->auth, &c->user, obj);
            else if (!strcmp(c->rt->plural, "selfsubjectreviews"))
                rev = dv_self_subject_review(&c->user);
            else
                rev = dv_access_review(c->api->auth, &c->user, obj);
        }
        json_decref(obj);
        if (!rev) {
            dv_reply_status(c, 400, "BadRequest", "malformed review", NULL);
            return;
        }
        char av[256];
        dv_api_version(c->rt, av, sizeof(av));
        json_object_set_new(rev, "apiVersion", json_string(av));
        json_object_set_new(rev, "kind", json_string(c->rt->kind));
        dv_reply_json(c, 201, rev);
        return;
    }
    if (check_type(c, obj, 1) != 0) {
        json_decref(obj);
        return;
    }
    do_create(c, obj, 0);
}

/* ---- update and patch ----------------------------------------------------------------- */

/* Everything but metadata (and status when it is a subresource). */
static int spec_changed(const dv_rtype *rt, const json_t *a, const json_t *b)
{
    json_t *x = json_copy((json_t *)a), *y = json_copy((json_t *)b);
    json_object_del(x, "metadata");
    json_object_del(y, "metadata");
    if (rt->has_status || rt->is_crd) {
        json_object_del(x, "status");
        json_object_del(y, "status");
    }
    int changed = !json_equal(x, y);
    json_decref(x);
    json_decref(y);
    return changed;
}

static int same_object(const json_t *a, const json_t *b)
{
    json_t *x = json_deep_copy(a), *y = json_deep_copy(b);
    json_object_del(dv_md(x), "managedFields");
    json_object_del(dv_md(y), "managedFields");
    json_object_del(dv_md(x), "resourceVersion");
    json_object_del(dv_md(y), "resourceVersion");
    int same = json_equal(x, y);
    json_decref(x);
    json_decref(y);
    return same;
}

static const char *const IMMUTABLE_META[] = {"name", "namespace", "uid", "creationTimestamp",
                                             "deletionTimestamp", "deletionGracePeriodSeconds",
                                             "generation", NULL};

/* Update old -> obj (stolen) as a PUT/PATCH/apply would. */
void dv_update_object(dv_ctx *c, const json_t *old, json_t *obj, int applied)
{
    const char *name = c->name;
    json_t *m = dv_md(obj);
    const char *brv = json_string_value(json_object_get(m, "resourceVersion"));
    if (brv && *brv && strcmp(brv, dv_mds(old, "resourceVersion"))) {
        reply_conflict(c, name, "the object has been modified; please apply your changes to the latest version "
                                "and try again");
        goto out;
    }
    /* (brv may not outlive obj, which the status branch below replaces.) */
    int unconditional = !brv || !*brv;
    json_t *next;
    int is_status = c->sub && !strcmp(c->sub, "status");
    int is_finalize = c->sub && !strcmp(c->sub, "finalize");
    if (is_status || is_finalize) {
        /* Only status (or spec.finalizers of a namespace) is taken. */
        next = json_deep_copy(old);
        if (is_status) {
            json_t *st = json_object_get(obj, "status");
            if (st)
                json_object_set(next, "status", st);
            else
                json_object_del(next, "status");
        } else {
            json_t *fin = json_object_get(json_object_get(obj, "spec"), "finalizers");
            json_object_set_new(json_object_get(next, "spec"), "finalizers", fin ? json_incref(fin) : json_array());
        }
        json_object_set(dv_md(next), "managedFields", json_object_get(m, "managedFields"));
        json_decref(obj);
        obj = next;
    } else {
        if (c->rt->has_status) {
            json_t *st = json_object_get(old, "status");
            if (st)
                json_object_set_new(obj, "status", json_deep_copy(st));
            else
                json_object_del(obj, "status");
        }
        if (!strcmp(c->rt->plural, "namespaces"))
            json_object_set_new(obj, "spec", json_deep_copy(json_object_get(old, "spec")));
        json_t *om = json_object_get(old, "metadata");
        for (const char *const *k = IMMUTABLE_META; *k; k++) {
            json_t *v = json_object_get(om, *k);
            if (v)
                json_object_set_new(m, *k, json_deep_copy(v));
            else
                json_object_del(m, *k);
        }
        char av[256];
        dv_api_version(c->rt, av, sizeof(av));
        json_object_set_new(obj, "apiVersion", json_string(av));
        json_object_set_new(obj, "kind", json_string(c->rt->kind));
        if (dv_crd_decode(c, obj) != 0)
            goto out;
        fold_string_data(c->rt, obj);
        dv_apply_defaults(c->rt, obj);
    }
    if (unconditional && !applied && c->rt->update_needs_rv) {
        /* The generic registry's check for kinds whose strategy refuses an
         * unconditional update (a Lease, a custom resource: writers that must
         * not overwrite each other). It words the kind as the resource, so
         * not dv_reply_invalid. Apply keeps the live resourceVersion. */
        char q[256], msg[600];
        dv_qualified(c->rt, q, sizeof(q));
        snprintf(msg, sizeof(msg),
                 "%s \"%s\" is invalid: metadata.resourceVersion: Invalid value: 0: must be specified for an update",
                 q, name);
        json_t *d = json_pack("{s:s,s:s,s:[{s:s,s:s,s:s}]}", "name", name, "kind", c->rt->plural, "causes", "reason",
                              "FieldValueInvalid", "message", "Invalid value: 0: must be specified for an update",
                              "field", "metadata.resourceVersion");
        if (*c->rt->group)
            json_object_set_new(d, "group", json_string(c->rt->group));
        dv_reply_status(c, 422, "Invalid", msg, d);
        goto out;
    }
    if (admit(c, "UPDATE", &obj, old, 1) != 0)
        goto out;
    m = dv_md(obj);
    json_t *causes = json_array();
    if (check_quantities(c, obj, causes) != 0)
        goto out;
    validate_meta_maps(obj, causes);
    if (!*c->rt->group && (!strcmp(c->rt->plural, "configmaps") || !strcmp(c->rt->plural, "secrets")) &&
        json_is_true(json_object_get(old, "immutable"))) {
        /* immutable ConfigMaps/Secrets: data may never change again */
        static const char *const fields[] = {"data", "binaryData", "immutable", NULL};
        for (const char *const *fld = fields; *fld; fld++) {
            json_t *a = json_object_get(old, *fld), *b = json_object_get(obj, *fld);
            if ((a || b) && !(a && b && json_equal(a, b)))
                json_array_append_new(causes, json_pack("{s:s,s:s,s:s}", "reason", "FieldValueForbidden", "message",
                                                        "Forbidden: field is immutable when `immutable` is set",
                                                        "field", *fld));
        }
    }
    if (dv_mds(old, "deletionTimestamp")) {
        /* Finalizers can only be removed once deletion started. */
        json_t *oldfin = json_object_get(json_object_get(old, "metadata"), "finalizers");
        size_t i;
        json_t *f;
        json_array_foreach(json_object_get(m, "finalizers"), i, f) {
            if (has_string(oldfin, json_string_value(f)))
                continue;
            char msg[512];
            snprintf(msg, sizeof(msg),
                     "Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers "
                     "[]string{\"%s\"}",
                     json_string_value(f));
            json_array_append_new(causes, json_pack("{s:s,s:s,s:s}", "reason", "FieldValueForbidden", "message", msg,
                                                    "field", "metadata.finalizers"));
            break;
        }
    }
    dv_crd_validate(c, obj, causes);
    if (!strcmp(c->rt->plural, "customresourcedefinitions") && !is_status)
        dv_crd_check_definition(c, obj, causes);
    if (json_array_size(causes)) {
        dv_reply_invalid(c, c->rt, name, causes);
        goto out;
    }
    json_decref(causes);
    if (admit(c, "UPDATE", &obj, old, 0) != 0 || !escalation_ok(c, obj, old))
        goto out;
    m = dv_md(obj);
    json_object_set_new(m, "resourceVersion", json_string(dv_mds(old, "resourceVersion")));
    if (c->rt->has_generation && spec_changed(c->rt, old, obj)) {
        json_int_t g = json_integer_value(json_object_get(json_object_get(old, "metadata"), "generation"));
        json_object_set_new(m, "generation", json_integer(g + 1));
    }
    if (!applied) {
        char now[32], mgr[256];
        dv_now_rfc3339(now);
        dv_field_manager(c, mgr, sizeof(mgr));
        json_object_set(m, "managedFields", json_object_get(json_object_get(old, "metadata"), "managedFields"));
        dv_managed_fields_update(obj, old, mgr, "Update", now);
    }
    if (same_object(old, obj)) {
        reply_object(c, 200, old);
        goto out;
    }
    if (dv_q(c, "dryRun")) {
        reply_object(c, 200, obj);
        goto out;
    }
    if (register_crd(c, obj, name) != 0)
        goto out;
    json_t *fin = json_object_get(m, "finalizers");
    if (json_object_get(m, "deletionTimestamp") && json_array_size(fin) == 0) {
        dv_store_or_finalize(c->api, c->rt, json_incref(obj));
        reply_object(c, 200, obj);
        goto out;
    }
    store_and_reply(c, obj, name, 200);
out:
    json_decref(obj);
}

void dv_handle_update(dv_ctx *c)
{
    json_t *obj;
    if (dv_parse_body(c, &obj) != 0)
        return;
    if (check_type(c, obj, 1) != 0) {
        json_decref(obj);
        return;
    }
    /* The update handler's checkName, then the namespace check, in
     * kube-apiserver's words. */
    const char *bname = dv_mds(obj, "name");
    const char *bns = dv_mds(obj, "namespace");
    char m[600] = "";
    if (!bname || !*bname)
        snprintf(m, sizeof(m), "the name of the object (%s based on URL) was undeterminable: name must be provided",
                 c->name);
    else if (strcmp(bname, c->name))
        snprintf(m, sizeof(m), "the name of the object (%s) does not match the name on the URL (%s)", bname, c->name);
    else if (c->rt->namespaced && bns && *bns && strcmp(bns, c->ns))
        snprintf(m, sizeof(m), "the namespace of the provided object does not match the namespace sent on the request");
    if (m[0]) {
        dv_reply_status(c, 400, "BadRequest", m, NULL);
        json_decref(obj);
        return;
    }
    const json_t *old = dv_store_get(c->api->store, c->rt->group, c->rt->plural, nsarg(c->rt, c->ns), c->name);
    if (!old && c->rt->create_on_update && !c->sub) {
        do_create(c, obj, 0); /* a PUT creates a missing Lease, Role, Service, ... */
        return;
    }
    if (!old) {
        dv_reply_not_found(c, c->rt, c->name);
        json_decref(obj);
        return;
    }
    json_incref((json_t *)old); /* the store may replace it while we work */
    dv_update_object(c, old, obj, 0);
    json_decref((json_t *)old);
}

void dv_handle_patch(dv_ctx *c)
{
    int is_apply = dv_ctype_is(c, "application/apply-patch+yaml");
    int is_merge = dv_ctype_is(c, "application/merge-patch+json");
    int is_json = dv_ctype_is(c, "application/json-patch+json");
    int is_smp = dv_ctype_is(c, "application/strategic-merge-patch+json");
    if (!is_apply && !is_merge && !is_json && !is_smp) {
        dv_reply_status(c, 415, "UnsupportedMediaType",
                        "the body of the request was in an unknown format - accepted media types include: "
                        "application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, "
                        "application/strategic-merge-patch+json",
                        NULL);
        return;
    }
    if (is_smp && c->rt->is_crd) {
        dv_reply_status(c, 415, "UnsupportedMediaType",
                        "the body of the request was in an unknown format - accepted media types include: "
                        "application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml",
                        NULL);
        return;
    }
    json_t *patch;
    if (dv_parse_body(c, &patch) != 0)
        return;
    const json_t *old = dv_store_get(c->api->store, c->rt->group, c->rt->plural, nsarg(c->rt, c->ns), c->name);
    if (old)
        json_incref((json_t *)old);
    char msg[2048] = "";
    json_t *out = NULL;
    if (is_apply) {
        if (check_type(c, patch, 0) != 0)
            goto done;
        const char *pname = dv_mds(patch, "name");
        if (pname && strcmp(pname, c->name)) {
            char m[600];
            snprintf(m, sizeof(m), "the name of the object (%s) does not match the name on the URL (%s)", pname,
                     c->name);
            dv_reply_status(c, 400, "BadRequest", m, NULL);
            goto done;
        }
        const char *fm = dv_q(c, "fieldManager");
        if (!fm || !*fm) {
            dv_reply_status(c, 400, "BadRequest",
                            "PATCH, application/apply-patch+yaml requires fieldManager to be set", NULL);
            goto done;
        }
        const char *force = dv_q(c, "force");
        char now[32];
        dv_now_rfc3339(now);
        if (c->rt->namespaced)
            json_object_set_new(dv_md(patch), "namespace", json_string(c->ns));
        json_object_set_new(dv_md(patch), "name", json_string(c->name));
        json_t *causes = NULL;
        int rc = dv_server_side_apply_causes(old, patch, fm, force && !strcmp(force, "true"), now, &out, &causes,
                                             msg, sizeof(msg));
        if (rc == -2) {
            /* errors.NewApplyConflict: causes only, no name or kind */
            dv_reply_status(c, 409, "Conflict", msg, json_pack("{s:o}", "causes", causes ? causes : json_array()));
            goto done;
        }
        if (rc != 0) {
            dv_reply_status(c, 422, "Invalid", msg, NULL);
            goto done;
        }
        if (!old) {
            do_create(c, out, 1);
            goto done;
        }
        dv_update_object(c, old, out, 1);
        goto done;
    }
    if (!old) {
        dv_reply_not_found(c, c->rt, c->name);
        goto done;
    }
    int rc;
    if (is_json) {
        if (dv_reply_json_patch_error(c, patch))
            goto done;
        rc = dv_json_patch(old, patch, &out, msg, sizeof(msg));
    } else if (is_merge) {
        rc = dv_merge_patch(old, patch, &out, msg, sizeof(msg));
    } else {
        rc = dv_strategic_merge(old, patch, c->rt->kind, &out, msg, sizeof(msg));
    }
    if (rc != 0 && is_json) {
        dv_reply_json_patch_failed(c);
        goto done;
    }
    if (rc != 0) {
        dv_reply_status(c, 400, "BadRequest", msg, NULL);
        goto done;
    }
    if (!json_is_object(out) || dv_mds(out, "name") == NULL || strcmp(dv_mds(out, "name"), c->name)) {
        json_decref(out);
        dv_reply_status(c, 400, "BadRequest", "the patch may not change metadata.name", NULL);
        goto done;
    }
    dv_update_object(c, old, out, 0);
done:
    json_decref(patch);
    json_decref((json_t *)old);
}

/* ---- delete ------------------------------------------------------------------------- */

static int has_string(const json_t *arr, const char *s)
{
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v)
        if (json_is_string(v) && !strcmp(json_string_value(v), s))
            return 1;
    return 0;
}

/* Remove from the store; a CRD also stops being served. */
static void remove_object(dv_api *api, const dv_rtype *rt, const char *ns, const char *name)
{
    if (!strcmp(rt->group, "apiextensions.k8s.io") && !strcmp(rt->plural, "customresourcedefinitions")) {
        const json_t *crd = dv_store_get(api->store, rt->group, rt->plural, "", name);
        json_t *spec = json_object_get(crd, "spec");
        const char *group = json_string_value(json_object_get(spec, "group"));
        const char *plural = json_string_value(json_object_get(json_object_get(spec, "names"), "plural"));
        if (group && plural) {
            dv_registry_remove_crd(api->reg, group, plural);
            dv_watches_end(api, group, plural);
        }
    }
    dv_store_delete(api->store, rt->group, rt->plural, ns ? ns : "", name);
}

void dv_store_or_finalize(dv_api *api, const dv_rtype *rt, json_t *obj)
{
    const char *ns = dv_mds(obj, "namespace");
    const char *name = dv_mds(obj, "name");
    /* A namespace also waits for its spec.finalizers ("kubernetes"). */
    int ns_held = !*rt->group && !strcmp(rt->plural, "namespaces") &&
                  json_array_size(json_object_get(json_object_get(obj, "spec"), "finalizers")) > 0;
    if (dv_mds(obj, "deletionTimestamp") && json_array_size(json_object_get(dv_md(obj), "finalizers")) == 0 &&
        !ns_held) {
        remove_object(api, rt, ns, name);
        json_decref(obj);
        return;
    }
    dv_store_put(api->store, rt->group, rt->plural, ns ? ns : "", name, obj);
}

int dv_delete_object(dv_api *api, const dv_rtype *rt, const char *ns, const char *name, const char *policy)
{
    const json_t *old = dv_store_get(api->store, rt->group, rt->plural, rt->namespaced ? ns : "", name);
    if (!old)
        return -1;
    json_t *obj = json_deep_copy(old);
    json_t *m = dv_md(obj);
    json_t *fin = json_object_get(m, "finalizers");
    if (!json_is_array(fin)) {
        fin = json_array();
        json_object_set_new(m, "finalizers", fin);
    }
    if (policy && !strcmp(policy, "Foreground") && !has_string(fin, "foregroundDeletion"))
        json_array_append_new(fin, json_string("foregroundDeletion"));
    if (policy && !strcmp(policy, "Orphan") && !has_string(fin, "orphan"))
        json_array_append_new(fin, json_string("orphan"));
    int is_ns = !strcmp(rt->plural, "namespaces") && !*rt->group;
    /* A CRD goes only after its objects did (gc.c does the cleanup). */
    if (!strcmp(rt->plural, "customresourcedefinitions") && !json_object_get(m, "deletionTimestamp") &&
        !has_string(fin, DV_CRD_CLEANUP_FINALIZER))
        json_array_append_new(fin, json_string(DV_CRD_CLEANUP_FINALIZER));
    if (json_array_size(fin) == 0 && !is_ns) {
        json_decref(obj);
        remove_object(api, rt, ns, name);
        return 0;
    }
    if (json_array_size(fin) == 0)
        json_object_del(m, "finalizers");
    if (!json_object_get(m, "deletionTimestamp")) {
        char now[32];
        dv_now_rfc3339(now);
        json_object_set_new(m, "deletionTimestamp", json_string(now));
        json_object_set_new(m, "deletionGracePeriodSeconds", json_integer(0));
    }
    if (is_ns) {
        json_t *st = json_object_get(obj, "status");
        if (!json_is_object(st)) {
            st = json_object();
            json_object_set_new(obj, "status", st);
        }
        json_object_set_new(st, "phase", json_string("Terminating"));
    }
    if (same_object(old, obj)) {
        json_decref(obj);
        return 0;
    }
    dv_store_put(api->store, rt->group, rt->plural, rt->namespaced ? ns : "", name, obj);
    return 0;
}

/* propagationPolicy and preconditions from the body (DeleteOptions) or query. */
void dv_handle_delete(dv_ctx *c)
{
    const char *sns = nsarg(c->rt, c->ns);
    const json_t *old = dv_store_get(c->api->store, c->rt->group, c->rt->plural, sns, c->name);
    if (!old) {
        dv_reply_not_found(c, c->rt, c->name);
        return;
    }
    json_t *opts = NULL;
    if (c->req->body_len)
        opts = json_loadb(c->req->body, c->req->body_len, 0, NULL);
    const char *policy = json_string_value(json_object_get(opts, "propagationPolicy"));
    if (!policy)
        policy = dv_q(c, "propagationPolicy");
    if (json_is_false(json_object_get(opts, "orphanDependents")) == 0 &&
        json_is_true(json_object_get(opts, "orphanDependents")))
        policy = "Orphan";
    if (policy && strcmp(policy, "Foreground") && strcmp(policy, "Background") && strcmp(policy, "Orphan")) {
        json_t *cz = json_pack("[{s:s,s:s,s:s}]", "reason", "FieldValueNotSupported", "message",
                               "Unsupported value: must be one of Orphan, Background, Foreground", "field",
                               "propagationPolicy");
        json_decref(opts);
        dv_reply_invalid(c, c->rt, c->name, cz);
        return;
    }
    json_t *pre = json_object_get(opts, "preconditions");
    const char *puid = json_string_value(json_object_get(pre, "uid"));
    const char *prv = json_string_value(json_object_get(pre, "resourceVersion"));
    char why[512];
    if (puid && strcmp(puid, dv_mds(old, "uid"))) {
        snprintf(why, sizeof(why), "Precondition failed: UID in precondition: %s, UID in object meta: %s", puid,
                 dv_mds(old, "uid"));
        reply_conflict(c, c->name, why);
        json_decref(opts);
        return;
    }
    if (prv && strcmp(prv, dv_mds(old, "resourceVersion"))) {
        snprintf(why, sizeof(why),
                 "Precondition failed: ResourceVersion in precondition: %s, ResourceVersion in object meta: %s", prv,
                 dv_mds(old, "resourceVersion"));
        reply_conflict(c, c->name, why);
        json_decref(opts);
        return;
    }
    int dry = dv_q(c, "dryRun") || json_array_size(json_object_get(opts, "dryRun"));
    char policy_buf[32] = "";
    if (policy)
        snprintf(policy_buf, sizeof(policy_buf), "%s", policy);
    json_decref(opts);
    policy = policy_buf[0] ? policy_buf : NULL;
    json_t *keep = json_incref((json_t *)old);
    json_t *none = NULL;
    if (admit(c, "DELETE", &none, keep, 0) != 0) {
        json_decref(keep);
        return;
    }
    if (dry) {
        reply_object(c, 200, keep);
        json_decref(keep);
        return;
    }
    dv_delete_object(c->api, c->rt, c->ns, c->name, policy);
    const json_t *now = dv_store_get(c->api->store, c->rt->group, c->rt->plural, sns, c->name);
    if (now) {
        reply_object(c, 200, now);
    } else {
        json_t *d = json_pack("{s:s,s:s,s:s}", "name", c->name, "kind", c->rt->plural, "uid", dv_mds(keep, "uid"));
        if (*c->rt->group)
            json_object_set_new(d, "group", json_string(c->rt->group));
        dv_reply_json(c, 200, json_pack("{s:s,s:s,s:{},s:s,s:o}", "kind", "Status", "apiVersion", "v1", "metadata",
                                        "status", "Success", "details", d));
    }
    json_decref(keep);
}

void dv_handle_deletecollection(dv_ctx *c)
{
    dv_selector *ls, *fs;
    if (dv_parse_selectors(c, &ls, &fs) != 0)
        return;
    const char *policy = dv_q(c, "propagationPolicy");
    json_t *items = dv_store_list(c->api->store, c->rt->group, c->rt->plural, c->rt->namespaced ? c->ns : NULL);
    json_t *deleted = json_array();
    size_t i;
    json_t *o;
    json_array_foreach(items, i, o) {
        if (!dv_selector_matches(ls, o) || !dv_selector_matches(fs, o))
            continue;
        json_array_append_new(deleted, for_output(c->rt, o));
        if (!dv_q(c, "dryRun"))
            dv_delete_object(c->api, c->rt, dv_mds(o, "namespace"), dv_mds(o, "name"), policy);
    }
    json_decref(items);
    char av[256], rv[32];
    dv_api_version(c->rt, av, sizeof(av));
    snprintf(rv, sizeof(rv), "%" PRIu64, dv_store_rv(c->api->store));
    dv_reply_json(c, 200, json_pack("{s:s,s:s,s:{s:s},s:o}", "kind", c->rt->list_kind, "apiVersion", av, "metadata",
                                    "resourceVersion", rv, "items", deleted));
    dv_selector_free(ls);
    dv_selector_free(fs);
}

/* ---- startup ---------------------------------------------------------------------------- */

void dv_seed(dv_api *api)
{
    static const char *const names[] = {"default", "kube-system", "kube-public", "kube-node-lease", NULL};
    char now[32], uid[40];
    dv_now_rfc3339(now);
    for (const char *const *n = names; *n; n++) {
        if (dv_store_get(api->store, "", "namespaces", "", *n))
            continue;
        dv_new_uid(uid);
        json_t *ns = json_pack("{s:s,s:s,s:{s:s,s:s,s:s,s:{s:s}},s:{s:[s]},s:{s:s}}", "apiVersion", "v1", "kind",
                               "Namespace", "metadata", "name", *n, "uid", uid, "creationTimestamp", now, "labels",
                               "kubernetes.io/metadata.name", *n, "spec", "finalizers", "kubernetes", "status",
                               "phase", "Active");
        dv_store_put(api->store, "", "namespaces", "", *n, ns);
    }
    json_t *policy = dv_rbac_bootstrap_policy();
    size_t i;
    json_t *rec;
    json_array_foreach(policy, i, rec) {
        const char *g = json_string_value(json_object_get(rec, "group"));
        const char *r = json_string_value(json_object_get(rec, "resource"));
        json_t *o = json_object_get(rec, "object");
        const char *name = dv_mds(o, "name");
        if (!g || !r || !name || dv_store_get(api->store, g, r, "", name))
            continue;
        json_t *copy = json_deep_copy(o);
        json_t *m = dv_md(copy);
        dv_new_uid(uid);
        json_object_set_new(m, "uid", json_string(uid));
        json_object_set_new(m, "creationTimestamp", json_string(now));
        dv_store_put(api->store, g, r, "", name, copy);
    }
    json_decref(policy);
}
