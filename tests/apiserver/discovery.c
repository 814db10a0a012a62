/*
 * discovery.c - the read-only endpoints kubectl calls before anything else:
 * /version, legacy (non-aggregated) discovery /api, /api/v1, /apis,
 * /apis/G, /apis/G/V, and OpenAPI v3 (/openapi/v3 index and per
 * group-version documents built by schema.h, with the PATCH path entries
 * kubectl inspects to learn that fieldValidation and dryRun are supported).
 * Aggregated discovery is never produced: answering plain application/json
 * makes kubectl fall back to these documents.
 */
#include "handlers_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/sha.h>

#include "schema.h"

static json_t *resource_entries(dv_api *api, const char *group, const char *version)
{
    json_t *res = json_array();
    const dv_rtype *t;
    for (size_t i = 0; (t = dv_registry_at(api->reg, i)); i++) {
        if (strcmp(t->group, group) || strcmp(t->version, version))
            continue;
        json_t *e = json_pack("{s:s,s:s,s:b,s:s,s:O}", "name", t->plural, "singularName", t->singular, "namespaced",
                              t->namespaced, "kind", t->kind, "verbs", t->verbs);
        if (json_array_size(t->short_names))
            json_object_set(e, "shortNames", t->short_names);
        if (json_array_size(t->categories))
            json_object_set(e, "categories", t->categories);
        json_array_append_new(res, e);
        if (t->has_status) {
            char sub[300];
            snprintf(sub, sizeof(sub), "%s/status", t->plural);
            json_array_append_new(res, json_pack("{s:s,s:s,s:b,s:s,s:[sss]}", "name", sub, "singularName", "",
                                                 "namespaced", t->namespaced, "kind", t->kind, "verbs", "get",
                                                 "patch", "update"));
        }
        if (!strcmp(t->group, "apps")) {
            char sub[300];
            snprintf(sub, sizeof(sub), "%s/scale", t->plural);
            json_array_append_new(res, json_pack("{s:s,s:s,s:b,s:s,s:s,s:s,s:[sss]}", "name", sub, "singularName", "",
                                                 "namespaced", 1, "group", "autoscaling", "version", "v1", "kind",
                                                 "Scale", "verbs", "get", "patch", "update"));
        }
        if (!*t->group && !strcmp(t->plural, "serviceaccounts"))
            json_array_append_new(res, json_pack("{s:s,s:s,s:b,s:s,s:s,s:s,s:[s]}", "name", "serviceaccounts/token",
                                                 "singularName", "", "namespaced", 1, "group",
                                                 "authentication.k8s.io", "version", "v1", "kind", "TokenRequest",
                                                 "verbs", "create"));
        if (!*t->group && !strcmp(t->plural, "namespaces"))
            json_array_append_new(res, json_pack("{s:s,s:s,s:b,s:s,s:[s]}", "name", "namespaces/finalize",
                                                 "singularName", "", "namespaced", 0, "kind", "Namespace", "verbs",
                                                 "update"));
    }
    return res;
}

static json_t *group_entry(const json_t *g)
{
    const char *name = json_string_value(json_object_get(g, "name"));
    const char *pref = json_string_value(json_object_get(g, "preferred"));
    json_t *versions = json_array();
    char gv[300];
    size_t i;
    json_t *v;
    /* Preferred version first, as kube-apiserver orders them. */
    snprintf(gv, sizeof(gv), "%s/%s", name, pref);
    json_array_append_new(versions, json_pack("{s:s,s:s}", "groupVersion", gv, "version", pref));
    json_array_foreach(json_object_get(g, "versions"), i, v) {
        if (!strcmp(json_string_value(v), pref))
            continue;
        snprintf(gv, sizeof(gv), "%s/%s", name, json_string_value(v));
        json_array_append_new(versions, json_pack("{s:s,s:s}", "groupVersion", gv, "version", json_string_value(v)));
    }
    snprintf(gv, sizeof(gv), "%s/%s", name, pref);
    return json_pack("{s:s,s:o,s:{s:s,s:s}}", "name", name, "versions", versions, "preferredVersion", "groupVersion",
                     gv, "version", pref);
}

/* Path entries so kubectl's query-param verifier finds fieldValidation. */
static void add_paths(json_t *doc, const dv_rtype *t)
{
    json_t *paths = json_object_get(doc, "paths");
    if (!json_is_object(paths)) {
        paths = json_object();
        json_object_set_new(doc, "paths", paths);
    }
    char path[600];
    if (*t->group)
        snprintf(path, sizeof(path), "/apis/%s/%s/%s%s/{name}", t->group, t->version,
                 t->namespaced ? "namespaces/{namespace}/" : "", t->plural);
    else
        snprintf(path, sizeof(path), "/api/%s/%s%s/{name}", t->version, t->namespaced ? "namespaces/{namespace}/" : "",
                 t->plural);
    if (json_object_get(paths, path))
        return;
    json_t *gvk = json_pack("{s:s,s:s,s:s}", "group", t->group, "version", t->version, "kind", t->kind);
    json_t *params = json_pack("[{s:s,s:s,s:{s:s}},{s:s,s:s,s:{s:s}},{s:s,s:s,s:{s:s}},{s:s,s:s,s:{s:b}}]", "name",
                               "dryRun", "in", "query", "schema", "type", "string", "name", "fieldManager", "in",
                               "query", "schema", "type", "string", "name", "fieldValidation", "in", "query", "schema",
                               "type", "string", "name", "force", "in", "query", "schema", "type", "boolean", 1);
    json_t *op = json_pack("{s:O,s:O,s:{s:{s:s}}}", "x-kubernetes-group-version-kind", gvk, "parameters", params,
                           "responses", "200", "description", "OK");
    json_t *item = json_pack("{s:O,s:O}", "patch", op, "put", op);
    json_object_set_new(json_object_get(item, "put"), "x-kubernetes-action", json_string("put"));
    json_object_set_new(json_object_get(item, "patch"), "x-kubernetes-action", json_string("patch"));
    json_object_set_new(paths, path, item);
    json_decref(op);
    json_decref(gvk);
    json_decref(params);
}

static json_t *openapi_doc(dv_api *api, const char *group, const char *version)
{
    json_t *kinds = json_array();
    const dv_rtype *t;
    for (size_t i = 0; (t = dv_registry_at(api->reg, i)); i++) {
        if (strcmp(t->group, group) || strcmp(t->version, version))
            continue;
        json_t *k = json_pack("{s:s,s:s,s:b}", "kind", t->kind, "plural", t->plural, "namespaced", t->namespaced);
        json_object_set_new(k, "schema",
                            t->schema ? json_deep_copy(t->schema)
                                      : json_pack("{s:s,s:b}", "type", "object", "x-kubernetes-preserve-unknown-fields", 1));
        json_array_append_new(kinds, k);
    }
    if (!json_array_size(kinds)) {
        json_decref(kinds);
        return NULL;
    }
    json_t *doc = dv_openapi_v3_document(group, version, kinds);
    json_decref(kinds);
    if (!doc)
        return NULL;
    for (size_t i = 0; (t = dv_registry_at(api->reg, i)); i++)
        if (!strcmp(t->group, group) && !strcmp(t->version, version) && !t->create_only)
            add_paths(doc, t);
    return doc;
}

static void doc_hash(const json_t *doc, char out[33])
{
    char *s = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS);
    unsigned char md[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)(s ? s : ""), s ? strlen(s) : 0, md);
    free(s);
    for (int i = 0; i < 16; i++)
        snprintf(out + 2 * i, 3, "%02X", md[i]);
}

static void openapi_index(dv_ctx *c)
{
    json_t *paths = json_object();
    json_t *gvs = json_array();
    json_array_append_new(gvs, json_pack("[ss]", "", "v1"));
    json_t *groups = dv_registry_groups(c->api->reg);
    size_t i;
    json_t *g;
    json_array_foreach(groups, i, g) {
        size_t j;
        json_t *v;
        json_array_foreach(json_object_get(g, "versions"), j, v)
            json_array_append_new(gvs, json_pack("[sO]", json_string_value(json_object_get(g, "name")), v));
    }
    json_decref(groups);
    json_t *gv;
    json_array_foreach(gvs, i, gv) {
        const char *grp = json_string_value(json_array_get(gv, 0));
        const char *ver = json_string_value(json_array_get(gv, 1));
        json_t *doc = openapi_doc(c->api, grp, ver);
        if (!doc)
            continue;
        char key[300], url[400], hash[33];
        doc_hash(doc, hash);
        json_decref(doc);
        if (*grp)
            snprintf(key, sizeof(key), "apis/%s/%s", grp, ver);
        else
            snprintf(key, sizeof(key), "api/%s", ver);
        snprintf(url, sizeof(url), "/openapi/v3/%s?hash=%s", key, hash);
        json_object_set_new(paths, key, json_pack("{s:s}", "serverRelativeURL", url));
    }
    json_decref(gvs);
    dv_reply_json(c, 200, json_pack("{s:o}", "paths", paths));
}

int dv_handle_discovery(dv_ctx *c)
{
    const char *p = c->req->path;
    if (strcmp(c->req->method, "GET"))
        return 0;
    if (!strcmp(p, "/version") || !strcmp(p, "/version/")) {
        dv_reply_json(c, 200, json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s}", "major", "1", "minor", "32",
                                        "gitVersion", "v1.32.0-paybill-devapi", "gitCommit", "0000000000000000",
                                        "gitTreeState", "clean", "buildDate", "2026-01-01T00:00:00Z", "goVersion",
                                        "go1.23", "compiler", "gc", "platform", "linux/amd64"));
        return 1;
    }
    if (!strcmp(p, "/api") || !strcmp(p, "/api/")) {
        dv_reply_json(c, 200, json_pack("{s:s,s:[s],s:[{s:s,s:s}]}", "kind", "APIVersions", "versions", "v1",
                                        "serverAddressByClientCIDRs", "clientCIDR", "0.0.0.0/0", "serverAddress",
                                        "127.0.0.1"));
        return 1;
    }
    if (!strcmp(p, "/api/v1") || !strcmp(p, "/api/v1/")) {
        dv_reply_json(c, 200, json_pack("{s:s,s:s,s:o}", "kind", "APIResourceList", "groupVersion", "v1", "resources",
                                        resource_entries(c->api, "", "v1")));
        return 1;
    }
    if (!strcmp(p, "/apis") || !strcmp(p, "/apis/")) {
        json_t *groups = dv_registry_groups(c->api->reg), *out = json_array();
        size_t i;
        json_t *g;
        json_array_foreach(groups, i, g)
            json_array_append_new(out, group_entry(g));
        json_decref(groups);
        dv_reply_json(c, 200, json_pack("{s:s,s:s,s:o}", "kind", "APIGroupList", "apiVersion", "v1", "groups", out));
        return 1;
    }
    if (!strncmp(p, "/apis/", 6)) {
        char grp[256] = "", ver[64] = "";
        const char *rest = p + 6;
        size_t gl = strcspn(rest, "/");
        if (gl == 0 || gl >= sizeof(grp))
            return 0;
        memcpy(grp, rest, gl);
        rest += gl;
        if (*rest == '/')
            rest++;
        size_t vl = strcspn(rest, "/");
        if (vl >= sizeof(ver) || (vl && rest[vl] == '/' && rest[vl + 1]))
            return 0; /* a resource path */
        memcpy(ver, rest, vl);
        json_t *groups = dv_registry_groups(c->api->reg);
        json_t *found = NULL;
        size_t i;
        json_t *g;
        json_array_foreach(groups, i, g)
            if (!strcmp(json_string_value(json_object_get(g, "name")), grp))
                found = g;
        int handled = 1;
        if (!found) {
            dv_reply_status(c, 404, "NotFound", "the server could not find the requested resource", json_pack("{}"));
        } else if (!*ver) {
            json_t *e = group_entry(found);
            json_object_set_new(e, "kind", json_string("APIGroup"));
            json_object_set_new(e, "apiVersion", json_string("v1"));
            dv_reply_json(c, 200, e);
        } else {
            json_t *res = resource_entries(c->api, grp, ver);
            if (!json_array_size(res)) {
                json_decref(res);
                dv_reply_status(c, 404, "NotFound", "the server could not find the requested resource", json_pack("{}"));
            } else {
                char gv[330];
                snprintf(gv, sizeof(gv), "%s/%s", grp, ver);
                dv_reply_json(c, 200, json_pack("{s:s,s:s,s:s,s:o}", "kind", "APIResourceList", "apiVersion", "v1",
                                                "groupVersion", gv, "resources", res));
            }
        }
        json_decref(groups);
        return handled;
    }
    if (!strcmp(p, "/openapi/v3") || !strcmp(p, "/openapi/v3/")) {
        openapi_index(c);
        return 1;
    }
    if (!strncmp(p, "/openapi/v3/", 12)) {
        char grp[256] = "", ver[64] = "";
        if (sscanf(p + 12, "apis/%255[^/]/%63[^/?]", grp, ver) != 2 && sscanf(p + 12, "api/%63[^/?]", ver) != 1) {
            dv_reply_status(c, 404, "NotFound", "the server could not find the requested resource", json_pack("{}"));
            return 1;
        }
        json_t *doc = openapi_doc(c->api, grp, ver);
        if (!doc)
            dv_reply_status(c, 404, "NotFound", "the server could not find the requested resource", json_pack("{}"));
        else
            dv_reply_json(c, 200, doc);
        return 1;
    }
    if (!strncmp(p, "/openapi/", 9) || !strncmp(p, "/swagger", 8)) {
        dv_reply_status(c, 404, "NotFound", "the server could not find the requested resource", json_pack("{}"));
        return 1;
    }
    return 0;
}
