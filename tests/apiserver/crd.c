/*
 * crd.c - what makes custom resources behave like the real apiextensions
 * server: decode-time pruning and defaulting with unknown-field reporting
 * (fieldValidation Strict/Warn/Ignore), schema validation, checks and
 * status for CustomResourceDefinition objects themselves, and re-serving
 * stored CRDs after a restart.
 */
#include "handlers_int.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "schema.h"

/* Decode-time work on a custom object: defaulting and pruning, with unknown
 * fields reported per fieldValidation. -1 when the request failed (reply set). */
int dv_crd_decode(dv_ctx *c, json_t *obj)
{
    if (!c->rt->is_crd || !c->rt->schema)
        return 0;
    json_t *gone = json_array();
    dv_schema_prune_report(c->rt->schema, obj, gone);
    dv_schema_default(c->rt->schema, obj);
    const char *fv = dv_q(c, "fieldValidation");
    int rc = 0;
    if (json_array_size(gone) && (!fv || strcmp(fv, "Ignore"))) {
        char msg[2048];
        int off = 0;
        size_t i;
        json_t *p;
        int strict = fv && !strcmp(fv, "Strict");
        if (strict)
            off = snprintf(msg, sizeof(msg), "%s in version \"%s\" cannot be handled as a %s: strict decoding error: ",
                           c->rt->kind, c->rt->version, c->rt->kind);
        json_array_foreach(gone, i, p) {
            if (off >= (int)sizeof(msg))
                break;
            off += snprintf(msg + off, sizeof(msg) - (size_t)off, "%sunknown field \"%s\"", i ? ", " : "",
                            json_string_value(p));
        }
        if (strict) {
            dv_reply_status(c, 400, "BadRequest", msg, NULL);
            rc = -1;
        } else {
            dv_set_warning(c, msg);
        }
    }
    json_decref(gone);
    return rc;
}

int dv_crd_validate(dv_ctx *c, const json_t *obj, json_t *causes)
{
    if (!c->rt->is_crd || !c->rt->schema)
        return 0;
    return dv_schema_validate(c->rt->schema, obj, causes);
}

/* Checks and status for a CustomResourceDefinition object. */
int dv_crd_check_definition(dv_ctx *c, json_t *crd, json_t *causes)
{
    json_t *spec = json_object_get(crd, "spec");
    const char *group = json_string_value(json_object_get(spec, "group"));
    json_t *names = json_object_get(spec, "names");
    const char *plural = json_string_value(json_object_get(names, "plural"));
    const char *kind = json_string_value(json_object_get(names, "kind"));
    const char *name = dv_mds(crd, "name");
    char want[512];
    if (!group)
        json_array_append_new(causes, json_pack("{s:s,s:s,s:s}", "reason", "FieldValueRequired", "message",
                                                "Required value", "field", "spec.group"));
    if (!plural)
        json_array_append_new(causes, json_pack("{s:s,s:s,s:s}", "reason", "FieldValueRequired", "message",
                                                "Required value", "field", "spec.names.plural"));
    if (!kind)
        json_array_append_new(causes, json_pack("{s:s,s:s,s:s}", "reason", "FieldValueRequired", "message",
                                                "Required value", "field", "spec.names.kind"));
    if (group && plural && name) {
        snprintf(want, sizeof(want), "%s.%s", plural, group);
        if (strcmp(want, name)) {
            char m[1024];
            snprintf(m, sizeof(m), "Invalid value: \"%s\": must be spec.names.plural+\".\"+spec.group", name);
            json_array_append_new(causes, json_pack("{s:s,s:s,s:s}", "reason", "FieldValueInvalid", "message", m,
                                                    "field", "metadata.name"));
        }
    }
    json_t *versions = json_object_get(spec, "versions");
    size_t i, nstorage = 0;
    json_t *v;
    json_array_foreach(versions, i, v) {
        nstorage += json_is_true(json_object_get(v, "storage"));
        json_t *schema = json_object_get(json_object_get(v, "schema"), "openAPIV3Schema");
        char m[1024], f[128];
        if (schema && dv_schema_check_structural(schema, m, sizeof(m)) != 0) {
            snprintf(f, sizeof(f), "spec.versions[%zu].schema.openAPIV3Schema", i);
            json_array_append_new(causes, json_pack("{s:s,s:s,s:s}", "reason", "FieldValueInvalid", "message", m,
                                                    "field", f));
        }
    }
    if (!json_array_size(versions))
        json_array_append_new(causes, json_pack("{s:s,s:s,s:s}", "reason", "FieldValueRequired", "message",
                                                "Required value", "field", "spec.versions"));
    else if (nstorage != 1)
        json_array_append_new(causes, json_pack("{s:s,s:s,s:s}", "reason", "FieldValueInvalid", "message",
                                                "Invalid value: must have exactly one version marked as storage version",
                                                "field", "spec.versions"));
    if (json_array_size(causes))
        return -1;
    /* What the apiextensions controllers would write right away. */
    char now[32];
    dv_now_rfc3339(now);
    json_t *accepted = json_deep_copy(names);
    if (!json_object_get(accepted, "singular")) {
        char lower[256];
        snprintf(lower, sizeof(lower), "%s", kind);
        for (char *p = lower; *p; p++)
            *p = (char)tolower((unsigned char)*p);
        json_object_set_new(accepted, "singular", json_string(lower));
    }
    if (!json_object_get(accepted, "listKind")) {
        char lk[300];
        snprintf(lk, sizeof(lk), "%sList", kind);
        json_object_set_new(accepted, "listKind", json_string(lk));
    }
    json_object_set(names, "singular", json_object_get(accepted, "singular"));
    json_object_set(names, "listKind", json_object_get(accepted, "listKind"));
    json_t *stored = json_array();
    json_array_foreach(versions, i, v)
        if (json_is_true(json_object_get(v, "storage")))
            json_array_append(stored, json_object_get(v, "name"));
    json_t *st = json_pack(
        "{s:[{s:s,s:s,s:s,s:s,s:s},{s:s,s:s,s:s,s:s,s:s}],s:o,s:o}", "conditions", "type", "NamesAccepted",
        "status", "True", "lastTransitionTime", now, "reason", "NoConflicts", "message", "no conflicts found",
        "type", "Established", "status", "True", "lastTransitionTime", now, "reason", "InitialNamesAccepted",
        "message", "the initial names have been accepted", "acceptedNames", accepted, "storedVersions", stored);
    json_object_set_new(crd, "status", st);
    if (!json_object_get(spec, "scope"))
        json_object_set_new(spec, "scope", json_string("Namespaced"));
    return 0;
}

void dv_load_crds(dv_api *api)
{
    json_t *crds = dv_store_list(api->store, "apiextensions.k8s.io", "customresourcedefinitions", NULL);
    size_t i;
    json_t *crd;
    json_array_foreach(crds, i, crd) {
        char msg[256];
        /* a restarted kube-apiserver makes its watch caches anew */
        if (dv_registry_apply_crd(api->reg, crd, msg, sizeof(msg)) == 0)
            dv_registry_crd_stored(api->reg, crd, dv_store_rv(api->store));
    }
    json_decref(crds);
}
