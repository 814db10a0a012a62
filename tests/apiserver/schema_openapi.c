/*
 * schema_openapi.c - the OpenAPI v3 documents the dev API server publishes
 * under /openapi/v3, shaped like kube-apiserver's so that kubectl 1.32 can
 * use them:
 *
 *  - `kubectl explain` reads the index (/openapi/v3), fetches the group/
 *    version document named there, and looks in components.schemas for the
 *    schema whose x-kubernetes-group-version-kind lists the kind; fields with
 *    $ref (wrapped in allOf, as the real server does) are followed into the
 *    same document, hence the ObjectMeta/ListMeta/... schemas below.
 *  - `kubectl apply` (--validate=strict, the default) asks the same document
 *    whether the kind's PATCH operation has a "fieldValidation" query
 *    parameter; if so it sends fieldValidation=Strict and leaves validation
 *    to the server. Each path operation therefore carries the object-form
 *    x-kubernetes-group-version-kind and the real query parameters.
 */
#include "schema.h"

#include <ctype.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define META "io.k8s.apimachinery.pkg.apis.meta.v1."
#define REF_PREFIX "#/components/schemas/"

static char *xstrdup_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *xstrdup_printf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    if (vasprintf(&s, fmt, ap) < 0)
        abort();
    va_end(ap);
    return s;
}

/* ------------------------------------------------------------------------ */
/* small schema builders                                                     */

static json_t *p_type(const char *type, const char *format, const char *desc)
{
    json_t *o = json_object();
    if (desc)
        json_object_set_new(o, "description", json_string(desc));
    json_object_set_new(o, "type", json_string(type));
    if (format)
        json_object_set_new(o, "format", json_string(format));
    return o;
}

static json_t *p_str(const char *desc) { return p_type("string", NULL, desc); }

/* {"allOf":[{"$ref":...}],"description":...}: how v3 documents attach a
 * description to a reference. */
static json_t *p_ref(const char *name, const char *desc)
{
    char *ref = xstrdup_printf(REF_PREFIX "%s", name);
    json_t *o = json_pack("{s:[{s:s}]}", "allOf", "$ref", ref);
    free(ref);
    if (desc)
        json_object_set_new(o, "description", json_string(desc));
    return o;
}

static json_t *p_array(json_t *items, const char *desc)
{
    json_t *o = p_type("array", NULL, desc);
    json_object_set_new(o, "items", items);
    return o;
}

static json_t *p_map_str(const char *desc)
{
    json_t *o = p_type("object", NULL, desc);
    json_object_set_new(o, "additionalProperties", json_pack("{s:s,s:s}", "default", "", "type", "string"));
    return o;
}

static json_t *s_object(const char *desc)
{
    json_t *o = p_type("object", NULL, desc);
    json_object_set_new(o, "properties", json_object());
    return o;
}

static void prop(json_t *schema, const char *name, json_t *p)
{
    json_object_set_new(json_object_get(schema, "properties"), name, p);
}

static void gvk_list(json_t *schema, const char *group, const char *version, const char *kind)
{
    json_object_set_new(schema, "x-kubernetes-group-version-kind",
                        json_pack("[{s:s,s:s,s:s}]", "group", group, "kind", kind, "version", version));
}

static const char D_APIVERSION[] =
    "APIVersion defines the versioned schema of this representation of an object. Servers should "
    "convert recognized schemas to the latest internal value, and may reject unrecognized values. "
    "More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#resources";
static const char D_KIND[] =
    "Kind is a string value representing the REST resource this object represents. Servers may "
    "infer this from the endpoint the client submits requests to. Cannot be updated. In CamelCase. "
    "More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds";
static const char D_OBJMETA[] =
    "Standard object's metadata. More info: "
    "https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata";
static const char D_LISTMETA[] =
    "Standard list metadata. More info: "
    "https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds";

/* The apimachinery meta/v1 schemas a CRD document refers to. */
static void add_meta_schemas(json_t *schemas)
{
    json_t *s;

    s = p_type("string", "date-time",
               "Time is a wrapper around time.Time which supports correct marshaling to YAML and JSON.  "
               "Wrappers are provided for many of the factory methods that the time package offers.");
    json_object_set_new(schemas, META "Time", s);

    s = p_type("object", NULL,
               "FieldsV1 stores a set of fields in a data structure like a Trie, in JSON format.\n\n"
               "Each key is either a '.' representing the field itself, and will always map to an empty "
               "set, or a string representing a sub-field or item. The string will follow one of these "
               "four formats: 'f:<name>', where <name> is the name of a field in a struct, or key in a "
               "map 'v:<value>', where <value> is the exact json formatted value of a list item "
               "'i:<index>', where <index> is position of a item in a list 'k:<keys>', where <keys> is a "
               "map of  a list item's key fields to their unique values If a key maps to an empty Fields "
               "value, the field that key represents is part of the set.\n\nThe exact format is defined "
               "in sigs.k8s.io/structured-merge-diff");
    json_object_set_new(schemas, META "FieldsV1", s);

    s = p_type("object", NULL,
               "Patch is provided to give a concrete name and type to the Kubernetes PATCH request body.");
    json_object_set_new(schemas, META "Patch", s);

    s = s_object("ManagedFieldsEntry is a workflow-id, a FieldSet and the group version of the resource "
                 "that the fieldset applies to.");
    prop(s, "apiVersion", p_str("APIVersion defines the version of this resource that this field set "
                                "applies to. The format is \"group/version\" just like the top-level "
                                "APIVersion field. It is necessary to track the version of a field set "
                                "because it cannot be automatically converted."));
    prop(s, "fieldsType", p_str("FieldsType is the discriminator for the different fields format and "
                                "version. There is currently only one possible value: \"FieldsV1\""));
    prop(s, "fieldsV1", p_ref(META "FieldsV1", "FieldsV1 holds the first JSON version format as "
                                               "described in the \"FieldsV1\" type."));
    prop(s, "manager", p_str("Manager is an identifier of the workflow managing these fields."));
    prop(s, "operation", p_str("Operation is the type of operation which lead to this ManagedFieldsEntry "
                               "being created. The only valid values for this field are 'Apply' and "
                               "'Update'."));
    prop(s, "subresource", p_str("Subresource is the name of the subresource used to update that object, "
                                 "or empty string if the object was updated through the main resource."));
    prop(s, "time", p_ref(META "Time", "Time is the timestamp of when the ManagedFields entry was added. "
                                       "The timestamp will also be updated if a field is added, the "
                                       "manager changes any of the owned fields value or removes a field."));
    json_object_set_new(schemas, META "ManagedFieldsEntry", s);

    s = s_object("OwnerReference contains enough information to let you identify an owning object. An "
                 "owning object must be in the same namespace as the dependent, or be cluster-scoped, so "
                 "there is no namespace field.");
    prop(s, "apiVersion", p_str("API version of the referent."));
    prop(s, "blockOwnerDeletion",
         p_type("boolean", NULL, "If true, AND if the owner has the \"foregroundDeletion\" finalizer, then "
                                 "the owner cannot be deleted from the key-value store until this reference "
                                 "is removed. Defaults to false."));
    prop(s, "controller", p_type("boolean", NULL, "If true, this reference points to the managing controller."));
    prop(s, "kind", p_str("Kind of the referent. More info: https://git.k8s.io/community/contributors/"
                          "devel/sig-architecture/api-conventions.md#types-kinds"));
    prop(s, "name", p_str("Name of the referent. More info: https://kubernetes.io/docs/concepts/overview/"
                          "working-with-objects/names#names"));
    prop(s, "uid", p_str("UID of the referent. More info: https://kubernetes.io/docs/concepts/overview/"
                         "working-with-objects/names#uids"));
    json_object_set_new(s, "required", json_pack("[s,s,s,s]", "apiVersion", "kind", "name", "uid"));
    json_object_set_new(s, "x-kubernetes-map-type", json_string("atomic"));
    json_object_set_new(schemas, META "OwnerReference", s);

    s = s_object("ObjectMeta is metadata that all persisted resources must have, which includes all "
                 "objects users must create.");
    prop(s, "annotations", p_map_str("Annotations is an unstructured key value map stored with a resource "
                                     "that may be set by external tools to store and retrieve arbitrary "
                                     "metadata. They are not queryable and should be preserved when "
                                     "modifying objects. More info: https://kubernetes.io/docs/concepts/"
                                     "overview/working-with-objects/annotations"));
    prop(s, "creationTimestamp", p_ref(META "Time", "CreationTimestamp is a timestamp representing the "
                                                    "server time when this object was created. It is not "
                                                    "guaranteed to be set in happens-before order across "
                                                    "separate operations. Clients may not set this value. "
                                                    "It is represented in RFC3339 form and is in UTC.\n\n"
                                                    "Populated by the system. Read-only. Null for lists."));
    prop(s, "deletionGracePeriodSeconds",
         p_type("integer", "int64", "Number of seconds allowed for this object to gracefully terminate "
                                    "before it will be removed from the system. Only set when "
                                    "deletionTimestamp is also set. May only be shortened. Read-only."));
    prop(s, "deletionTimestamp", p_ref(META "Time", "DeletionTimestamp is RFC 3339 date and time at which "
                                                    "this resource will be deleted. This field is set by "
                                                    "the server when a graceful deletion is requested by "
                                                    "the user, and is not directly settable by a client.\n\n"
                                                    "Populated by the system when a graceful deletion is "
                                                    "requested. Read-only."));
    json_t *fin = p_array(json_pack("{s:s,s:s}", "default", "", "type", "string"),
                          "Must be empty before the object is deleted from the registry. Each entry is an "
                          "identifier for the responsible component that will remove the entry from the "
                          "list. If the deletionTimestamp of the object is non-nil, entries in this list "
                          "can only be removed.");
    json_object_set_new(fin, "x-kubernetes-list-type", json_string("set"));
    json_object_set_new(fin, "x-kubernetes-patch-strategy", json_string("merge"));
    prop(s, "finalizers", fin);
    prop(s, "generateName", p_str("GenerateName is an optional prefix, used by the server, to generate a "
                                  "unique name ONLY IF the Name field has not been provided. If this field "
                                  "is used, the name returned to the client will be different than the name "
                                  "passed. This value will also be combined with a unique suffix. The "
                                  "provided value has the same validation rules as the Name field, and may "
                                  "be truncated by the length of the suffix required to make the value "
                                  "unique on the server."));
    prop(s, "generation", p_type("integer", "int64", "A sequence number representing a specific generation "
                                                     "of the desired state. Populated by the system. "
                                                     "Read-only."));
    prop(s, "labels", p_map_str("Map of string keys and values that can be used to organize and categorize "
                                "(scope and select) objects. May match selectors of replication controllers "
                                "and services. More info: https://kubernetes.io/docs/concepts/overview/"
                                "working-with-objects/labels"));
    json_t *mf = p_array(json_pack("{s:[{s:s}],s:{}}", "allOf", "$ref", REF_PREFIX META "ManagedFieldsEntry",
                                   "default"),
                         "ManagedFields maps workflow-id and version to the set of fields that are managed "
                         "by that workflow. This is mostly for internal housekeeping, and users typically "
                         "shouldn't need to set or understand this field.");
    json_object_set_new(mf, "x-kubernetes-list-type", json_string("atomic"));
    prop(s, "managedFields", mf);
    prop(s, "name", p_str("Name must be unique within a namespace. Is required when creating resources, "
                          "although some resources may allow a client to request the generation of an "
                          "appropriate name automatically. Name is primarily intended for creation "
                          "idempotence and configuration definition. Cannot be updated. More info: "
                          "https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names"));
    prop(s, "namespace", p_str("Namespace defines the space within which each name must be unique. An empty "
                               "namespace is equivalent to the \"default\" namespace, but \"default\" is "
                               "the canonical representation. Not all objects are required to be scoped to "
                               "a namespace - the value of this field for those objects will be empty.\n\n"
                               "Must be a DNS_LABEL. Cannot be updated. More info: https://kubernetes.io/"
                               "docs/concepts/overview/working-with-objects/namespaces"));
    json_t *own = p_array(json_pack("{s:[{s:s}],s:{}}", "allOf", "$ref", REF_PREFIX META "OwnerReference",
                                    "default"),
                          "List of objects depended by this object. If ALL objects in the list have been "
                          "deleted, this object will be garbage collected. If this object is managed by a "
                          "controller, then an entry in this list will point to this controller, with the "
                          "controller field set to true. There cannot be more than one managing "
                          "controller.");
    json_object_set_new(own, "x-kubernetes-list-map-keys", json_pack("[s]", "uid"));
    json_object_set_new(own, "x-kubernetes-list-type", json_string("map"));
    json_object_set_new(own, "x-kubernetes-patch-merge-key", json_string("uid"));
    json_object_set_new(own, "x-kubernetes-patch-strategy", json_string("merge"));
    prop(s, "ownerReferences", own);
    prop(s, "resourceVersion", p_str("An opaque value that represents the internal version of this object "
                                     "that can be used by clients to determine when objects have changed. "
                                     "May be used for optimistic concurrency, change detection, and the "
                                     "watch operation on a resource or set of resources. Clients must treat "
                                     "these values as opaque and passed unmodified back to the server. They "
                                     "may only be valid for a particular resource or set of resources.\n\n"
                                     "Populated by the system. Read-only. Value must be treated as opaque "
                                     "by clients and ."));
    prop(s, "selfLink", p_str("Deprecated: selfLink is a legacy read-only field that is no longer populated "
                              "by the system."));
    prop(s, "uid", p_str("UID is the unique in time and space value for this object. It is typically "
                         "generated by the server on successful creation of a resource and is not allowed "
                         "to change on PUT operations.\n\nPopulated by the system. Read-only. More info: "
                         "https://kubernetes.io/docs/concepts/overview/working-with-objects/names#uids"));
    json_object_set_new(schemas, META "ObjectMeta", s);

    s = s_object("ListMeta describes metadata that synthetic resources must have, including lists and "
                 "various status objects. A resource may have only one of {ObjectMeta, ListMeta}.");
    prop(s, "continue", p_str("continue may be set if the user set a limit on the number of items returned, "
                              "and indicates that the server has more data available. The value is opaque "
                              "and may be used to issue another request to the endpoint that served this "
                              "list to retrieve the next set of available objects."));
    prop(s, "remainingItemCount",
         p_type("integer", "int64", "remainingItemCount is the number of subsequent items in the list which "
                                    "are not included in this list response."));
    prop(s, "resourceVersion", p_str("String that identifies the server's internal version of this object "
                                     "that can be used by clients to determine when objects have changed. "
                                     "Value must be treated as opaque by clients and passed unmodified back "
                                     "to the server. Populated by the system. Read-only."));
    prop(s, "selfLink", p_str("Deprecated: selfLink is a legacy read-only field that is no longer populated "
                              "by the system."));
    json_object_set_new(schemas, META "ListMeta", s);

    s = s_object("StatusCause provides more information about an api.Status failure, including cases when "
                 "multiple errors are encountered.");
    prop(s, "field", p_str("The field of the resource that has caused this error, as named by its JSON "
                           "serialization. May include dot and postfix notation for nested attributes. "
                           "Arrays are zero-indexed.  Fields may appear more than once in an array of "
                           "causes due to fields having multiple errors. Optional."));
    prop(s, "message", p_str("A human-readable description of the cause of the error.  This field may be "
                             "presented as-is to a reader."));
    prop(s, "reason", p_str("A machine-readable description of the cause of the error. If this value is "
                            "empty there is no information available."));
    json_object_set_new(schemas, META "StatusCause", s);

    s = s_object("StatusDetails is a set of additional properties that MAY be set by the server to provide "
                 "additional information about a response. The Reason field of a Status object defines "
                 "what attributes will be set. Clients must ignore fields that do not match the defined "
                 "type of each attribute, and should assume that any attribute may be empty, invalid, or "
                 "under defined.");
    prop(s, "causes", p_array(json_pack("{s:[{s:s}],s:{}}", "allOf", "$ref", REF_PREFIX META "StatusCause",
                                        "default"),
                              "The Causes array includes more details associated with the StatusReason "
                              "failure. Not all StatusReasons may provide detailed causes."));
    json_object_set_new(json_object_get(json_object_get(s, "properties"), "causes"), "x-kubernetes-list-type",
                        json_string("atomic"));
    prop(s, "group", p_str("The group attribute of the resource associated with the status StatusReason."));
    prop(s, "kind", p_str("The kind attribute of the resource associated with the status StatusReason. On "
                          "some operations may differ from the requested resource Kind."));
    prop(s, "name", p_str("The name attribute of the resource associated with the status StatusReason (when "
                          "there is a single name which can be described)."));
    prop(s, "retryAfterSeconds", p_type("integer", "int32", "If specified, the time in seconds before the "
                                                            "operation should be retried."));
    prop(s, "uid", p_str("UID of the resource. (when there is a single resource which can be described)."));
    json_object_set_new(schemas, META "StatusDetails", s);

    s = s_object("Status is a return value for calls that don't return other objects.");
    prop(s, "apiVersion", p_str(D_APIVERSION));
    prop(s, "code", p_type("integer", "int32", "Suggested HTTP return code for this status, 0 if not set."));
    prop(s, "details", p_ref(META "StatusDetails", "Extended data associated with the reason.  Each reason "
                                                   "may define its own extended details. This field is "
                                                   "optional and the data returned is not guaranteed to "
                                                   "conform to any schema except that defined by the "
                                                   "reason type."));
    prop(s, "kind", p_str(D_KIND));
    prop(s, "message", p_str("A human-readable description of the status of this operation."));
    prop(s, "metadata", p_ref(META "ListMeta", D_LISTMETA));
    prop(s, "reason", p_str("A machine-readable description of why this operation is in the \"Failure\" "
                            "status. If this value is empty there is no information available. A Reason "
                            "clarifies an HTTP status code but does not override it."));
    prop(s, "status", p_str("Status of the operation. One of: \"Success\" or \"Failure\". More info: "
                            "https://git.k8s.io/community/contributors/devel/sig-architecture/"
                            "api-conventions.md#spec-and-status"));
    gvk_list(s, "", "v1", "Status");
    json_object_set_new(schemas, META "Status", s);

    s = s_object("Preconditions must be fulfilled before an operation (update, delete, etc.) is carried out.");
    prop(s, "resourceVersion", p_str("Specifies the target ResourceVersion"));
    prop(s, "uid", p_str("Specifies the target UID."));
    json_object_set_new(schemas, META "Preconditions", s);

    s = s_object("DeleteOptions may be provided when deleting an API object.");
    prop(s, "apiVersion", p_str(D_APIVERSION));
    prop(s, "dryRun", p_array(json_pack("{s:s,s:s}", "default", "", "type", "string"),
                              "When present, indicates that modifications should not be persisted. An "
                              "invalid or unrecognized dryRun directive will result in an error response "
                              "and no further processing of the request. Valid values are: - All: all dry "
                              "run stages will be processed"));
    prop(s, "gracePeriodSeconds",
         p_type("integer", "int64", "The duration in seconds before the object should be deleted. Value "
                                    "must be non-negative integer. The value zero indicates delete "
                                    "immediately."));
    prop(s, "kind", p_str(D_KIND));
    prop(s, "orphanDependents",
         p_type("boolean", NULL, "Deprecated: please use the PropagationPolicy, this field will be "
                                 "deprecated in 1.7. Should the dependent objects be orphaned."));
    prop(s, "preconditions", p_ref(META "Preconditions", "Must be fulfilled before a deletion is carried "
                                                         "out. If not possible, a 409 Conflict status will "
                                                         "be returned."));
    prop(s, "propagationPolicy", p_str("Whether and how garbage collection will be performed. Acceptable "
                                       "values are: 'Orphan', 'Background' and 'Foreground'."));
    gvk_list(s, "", "v1", "DeleteOptions");
    json_object_set_new(schemas, META "DeleteOptions", s);
}

/* ------------------------------------------------------------------------ */
/* names                                                                     */

char *dv_openapi_schema_name(const char *group, const char *version, const char *kind)
{
    static const struct {
        const char *group, *pkg;
    } builtin[] = {
        {"", "io.k8s.api.core"},
        {"apps", "io.k8s.api.apps"},
        {"batch", "io.k8s.api.batch"},
        {"policy", "io.k8s.api.policy"},
        {"autoscaling", "io.k8s.api.autoscaling"},
        {"apiextensions.k8s.io", "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions"},
        {"apiregistration.k8s.io", "io.k8s.kube-aggregator.pkg.apis.apiregistration"},
        {NULL, NULL},
    };
    if (!group)
        group = "";
    for (int i = 0; builtin[i].group; i++)
        if (!strcmp(group, builtin[i].group))
            return xstrdup_printf("%s.%s.%s", builtin[i].pkg, version, kind);
    size_t gl = strlen(group);
    const char *k8s = ".k8s.io";
    if (gl > strlen(k8s) && !strcmp(group + gl - strlen(k8s), k8s)) {
        /* rbac.authorization.k8s.io -> io.k8s.api.rbac */
        size_t first = strcspn(group, ".");
        return xstrdup_printf("io.k8s.api.%.*s.%s.%s", (int)first, group, version, kind);
    }
    /* reverse the DNS labels: paybill.dev -> dev.paybill */
    char *rev = malloc(gl + 1);
    if (!rev)
        abort();
    size_t o = 0, end = gl;
    while (end > 0) {
        size_t start = end;
        while (start > 0 && group[start - 1] != '.')
            start--;
        if (o)
            rev[o++] = '.';
        memcpy(rev + o, group + start, end - start);
        o += end - start;
        end = start ? start - 1 : 0;
    }
    rev[o] = '\0';
    char *name = xstrdup_printf("%s.%s.%s", rev, version, kind);
    free(rev);
    return name;
}

char *dv_openapi_v3_path_key(const char *group, const char *version)
{
    if (!group || !*group)
        return xstrdup_printf("api/%s", version);
    return xstrdup_printf("apis/%s/%s", group, version);
}

/* "paybill.dev","v1alpha1" -> "PaybillDevV1alpha1"; core -> "CoreV1" */
static char *op_prefix(const char *group, const char *version)
{
    char buf[512];
    size_t o = 0;
    int up = 1;
    const char *g = (group && *group) ? group : "core";
    for (const char *p = g; *p && o < sizeof buf - 64; p++) {
        if (*p == '.' || *p == '-') {
            up = 1;
            continue;
        }
        buf[o++] = up ? (char)toupper((unsigned char)*p) : *p;
        up = 0;
    }
    if (version && *version) {
        buf[o++] = (char)toupper((unsigned char)version[0]);
        snprintf(buf + o, sizeof buf - o, "%s", version + 1);
    } else {
        buf[o] = '\0';
    }
    return strdup(buf);
}

/* ------------------------------------------------------------------------ */
/* paths                                                                     */

static json_t *q_param(const char *name, const char *type, const char *desc)
{
    json_t *p = json_pack("{s:s,s:s,s:s,s:{s:s,s:b}}", "name", name, "in", "query", "description", desc,
                          "schema", "type", type, "uniqueItems", 1);
    return p;
}

static json_t *path_param(const char *name, const char *desc)
{
    return json_pack("{s:s,s:s,s:s,s:b,s:{s:s,s:b}}", "name", name, "in", "path", "description", desc,
                     "required", 1, "schema", "type", "string", "uniqueItems", 1);
}

static const char D_DRYRUN[] =
    "When present, indicates that modifications should not be persisted. An invalid or unrecognized "
    "dryRun directive will result in an error response and no further processing of the request. Valid "
    "values are: - All: all dry run stages will be processed";
static const char D_FIELDMANAGER[] =
    "fieldManager is a name associated with the actor or entity that is making these changes. The value "
    "must be less than or 128 characters long, and only contain printable characters, as defined by "
    "https://golang.org/pkg/unicode/#IsPrint.";
static const char D_FIELDVALIDATION[] =
    "fieldValidation instructs the server on how to handle objects in the request (POST/PUT/PATCH) "
    "containing unknown or duplicate fields. Valid values are: - Ignore: This will ignore any unknown "
    "fields that are silently dropped from the object, and will ignore all but the last duplicate field "
    "that the decoder encounters. This is the default behavior prior to v1.23. - Warn: This will send a "
    "warning via the standard warning response header for each unknown field that is dropped from the "
    "object, and for each duplicate field that is encountered. The request will still succeed if there "
    "are no other errors, and will only persist the last of any duplicate fields. This is the default in "
    "v1.23+ - Strict: This will fail the request with a BadRequest error if any unknown fields would be "
    "dropped from the object, or if any duplicate fields are present. The error returned from the server "
    "will contain all unknown and duplicate fields encountered.";

static json_t *write_params(int patch)
{
    json_t *a = json_array();
    json_array_append_new(a, q_param("dryRun", "string", D_DRYRUN));
    json_array_append_new(a, q_param("fieldManager", "string", D_FIELDMANAGER));
    json_array_append_new(a, q_param("fieldValidation", "string", D_FIELDVALIDATION));
    if (patch)
        json_array_append_new(a, q_param("force", "boolean",
                                         "Force is going to \"force\" Apply requests. It means user will "
                                         "re-acquire conflicting fields owned by other people. Force flag "
                                         "must be unset for non-apply patch requests."));
    return a;
}

static json_t *list_params(void)
{
    static const struct {
        const char *name, *type, *desc;
    } q[] = {
        {"allowWatchBookmarks", "boolean", "allowWatchBookmarks requests watch events with type \"BOOKMARK\"."},
        {"continue", "string", "The continue option should be set when retrieving more results from the server."},
        {"fieldSelector", "string", "A selector to restrict the list of returned objects by their fields. Defaults to everything."},
        {"labelSelector", "string", "A selector to restrict the list of returned objects by their labels. Defaults to everything."},
        {"limit", "integer", "limit is a maximum number of responses to return for a list call."},
        {"resourceVersion", "string", "resourceVersion sets a constraint on what resource versions a request may be served from."},
        {"resourceVersionMatch", "string", "resourceVersionMatch determines how resourceVersion is applied to list calls."},
        {"sendInitialEvents", "boolean", "`sendInitialEvents=true` may be set together with `watch=true`."},
        {"timeoutSeconds", "integer", "Timeout for the list/watch call."},
        {"watch", "boolean", "Watch for changes to the described resources and return them as a stream of add, update, and remove notifications."},
        {NULL, NULL, NULL},
    };
    json_t *a = json_array();
    for (int i = 0; q[i].name; i++)
        json_array_append_new(a, q_param(q[i].name, q[i].type, q[i].desc));
    return a;
}

static json_t *ref_content(const char *schema_name, int yaml)
{
    char *ref = xstrdup_printf(REF_PREFIX "%s", schema_name);
    json_t *c = json_object();
    json_object_set_new(c, "application/json", json_pack("{s:{s:s}}", "schema", "$ref", ref));
    if (yaml)
        json_object_set_new(c, "application/yaml", json_pack("{s:{s:s}}", "schema", "$ref", ref));
    free(ref);
    return c;
}

static json_t *responses(const char *schema_name, const char *codes)
{
    json_t *r = json_object();
    for (const char *c = codes; *c; c += 3) {
        char code[4] = {c[0], c[1], c[2], 0};
        const char *desc = !strcmp(code, "201") ? "Created" : !strcmp(code, "202") ? "Accepted" : "OK";
        json_object_set_new(r, code, json_pack("{s:s,s:o}", "description", desc, "content",
                                               ref_content(schema_name, 1)));
    }
    json_object_set_new(r, "401", json_pack("{s:s}", "description", "Unauthorized"));
    return r;
}

typedef struct kinfo {
    const char *group, *version, *kind, *plural;
    const char *schema_name, *list_name, *opfx; /* opfx: "PaybillDevV1alpha1" */
    int namespaced;
} kinfo;

static json_t *operation(const kinfo *k, const char *action, const char *verb_id, const char *what,
                         const char *desc)
{
    char *opid = xstrdup_printf("%s%s%s%s", verb_id, k->opfx, k->namespaced && strcmp(action, "list-all") ? "Namespaced" : "", what);
    if (!strcmp(action, "list-all")) {
        free(opid);
        opid = xstrdup_printf("list%s%sForAllNamespaces", k->opfx, k->kind);
        action = "list";
    }
    json_t *op = json_object();
    json_object_set_new(op, "tags", json_pack("[s]", k->opfx));
    json_object_set_new(op, "description", json_string(desc));
    json_object_set_new(op, "operationId", json_string(opid));
    json_object_set_new(op, "x-kubernetes-action", json_string(action));
    json_object_set_new(op, "x-kubernetes-group-version-kind",
                        json_pack("{s:s,s:s,s:s}", "group", k->group, "version", k->version, "kind", k->kind));
    free(opid);
    return op;
}

static void add_paths(json_t *paths, const kinfo *k, int status)
{
    char *base = k->group[0] ? xstrdup_printf("/apis/%s/%s", k->group, k->version)
                             : xstrdup_printf("/api/%s", k->version);
    char *coll = k->namespaced ? xstrdup_printf("%s/namespaces/{namespace}/%s", base, k->plural)
                               : xstrdup_printf("%s/%s", base, k->plural);
    char *item = xstrdup_printf("%s/{name}", coll);
    char *stat = xstrdup_printf("%s/{name}/status", coll);
    json_t *ns = path_param("namespace", "object name and auth scope, such as for teams and projects");
    json_t *nm = path_param("name", "name of the resource");
    json_t *pretty = q_param("pretty", "string", "If 'true', then the output is pretty printed. Defaults to "
                                                 "'false' unless the user-agent indicates a browser or "
                                                 "command-line HTTP tool (curl and wget).");
    json_t *op, *pi;

    /* collection */
    pi = json_object();
    op = operation(k, "list", "list", k->kind, "list or watch objects of kind");
    json_object_set_new(op, "parameters", list_params());
    json_object_set_new(op, "responses", responses(k->list_name, "200"));
    json_object_set_new(pi, "get", op);
    op = operation(k, "post", "create", k->kind, "create a resource");
    json_object_set_new(op, "parameters", write_params(0));
    json_object_set_new(op, "requestBody", json_pack("{s:o,s:b}", "content", ref_content(k->schema_name, 0),
                                                     "required", 1));
    json_object_set_new(op, "responses", responses(k->schema_name, "200201202"));
    json_object_set_new(pi, "post", op);
    op = operation(k, "deletecollection", "deletecollection", k->kind, "delete collection of objects");
    json_object_set_new(op, "parameters", list_params());
    json_object_set_new(op, "responses", responses(META "Status", "200"));
    json_object_set_new(pi, "delete", op);
    json_t *pp = json_array();
    if (k->namespaced)
        json_array_append(pp, ns);
    json_array_append(pp, pretty);
    json_object_set_new(pi, "parameters", pp);
    json_object_set_new(paths, coll, pi);

    /* item and status */
    for (int sub = 0; sub <= status; sub++) {
        const char *sfx = sub ? "Status" : "";
        char *what = xstrdup_printf("%s%s", k->kind, sfx);
        pi = json_object();
        op = operation(k, "get", "read", what, sub ? "read status of the specified object" : "read the specified object");
        json_object_set_new(op, "responses", responses(k->schema_name, "200"));
        json_object_set_new(pi, "get", op);
        op = operation(k, "put", "replace", what, sub ? "replace status of the specified object" : "replace the specified object");
        json_object_set_new(op, "parameters", write_params(0));
        json_object_set_new(op, "requestBody", json_pack("{s:o,s:b}", "content", ref_content(k->schema_name, 0),
                                                         "required", 1));
        json_object_set_new(op, "responses", responses(k->schema_name, "200201"));
        json_object_set_new(pi, "put", op);
        op = operation(k, "patch", "patch", what, sub ? "partially update status of the specified object" : "partially update the specified object");
        json_object_set_new(op, "parameters", write_params(1));
        json_t *pc = json_object();
        static const char *const ptypes[] = {"application/apply-patch+yaml", "application/json-patch+json",
                                             "application/merge-patch+json", NULL};
        for (int i = 0; ptypes[i]; i++)
            json_object_set_new(pc, ptypes[i], json_pack("{s:{s:s}}", "schema", "$ref", REF_PREFIX META "Patch"));
        if (!strncmp(k->schema_name, "io.k8s.", 7)) /* builtins only */
            json_object_set_new(pc, "application/strategic-merge-patch+json",
                                json_pack("{s:{s:s}}", "schema", "$ref", REF_PREFIX META "Patch"));
        json_object_set_new(op, "requestBody", json_pack("{s:o,s:b}", "content", pc, "required", 1));
        json_object_set_new(op, "responses", responses(k->schema_name, "200201"));
        json_object_set_new(pi, "patch", op);
        if (!sub) {
            op = operation(k, "delete", "delete", what, "delete the specified object");
            json_object_set_new(op, "parameters",
                                json_pack("[o,o,o,o]", q_param("dryRun", "string", D_DRYRUN),
                                          q_param("gracePeriodSeconds", "integer", "The duration in seconds before the object should be deleted."),
                                          q_param("orphanDependents", "boolean", "Deprecated: please use the PropagationPolicy."),
                                          q_param("propagationPolicy", "string", "Whether and how garbage collection will be performed.")));
            json_object_set_new(op, "requestBody",
                                json_pack("{s:o}", "content", ref_content(META "DeleteOptions", 0)));
            json_object_set_new(op, "responses", responses(META "Status", "200202"));
            json_object_set_new(pi, "delete", op);
        }
        pp = json_array();
        json_array_append(pp, nm);
        if (k->namespaced)
            json_array_append(pp, ns);
        json_array_append(pp, pretty);
        json_object_set_new(pi, "parameters", pp);
        json_object_set_new(paths, sub ? stat : item, pi);
        free(what);
    }

    /* all namespaces */
    if (k->namespaced) {
        char *all = xstrdup_printf("%s/%s", base, k->plural);
        pi = json_object();
        op = operation(k, "list-all", "list", k->kind, "list or watch objects of kind");
        json_object_set_new(op, "parameters", list_params());
        json_object_set_new(op, "responses", responses(k->list_name, "200"));
        json_object_set_new(pi, "get", op);
        json_object_set_new(pi, "parameters", json_pack("[O]", pretty));
        json_object_set_new(paths, all, pi);
        free(all);
    }
    json_decref(ns);
    json_decref(nm);
    json_decref(pretty);
    free(base);
    free(coll);
    free(item);
    free(stat);
}

/* ------------------------------------------------------------------------ */
/* kind schemas                                                              */

static int is_meta(const char *k)
{
    return !strcmp(k, "apiVersion") || !strcmp(k, "kind") || !strcmp(k, "metadata");
}

static void add_required(json_t *s, const char *name)
{
    json_t *req = json_object_get(s, "required"), *e;
    size_t i;
    if (!json_is_array(req)) {
        req = json_array();
        json_object_set_new(s, "required", req);
    }
    json_array_foreach(req, i, e) if (json_is_string(e) && !strcmp(json_string_value(e), name)) return;
    json_array_append_new(req, json_string(name));
}

/* Gives schema s the apiVersion, kind and metadata properties of a whole
 * Kubernetes object (creating "properties" when s has none); returns the
 * properties, borrowed from s. */
static json_t *add_object_props(json_t *s)
{
    json_t *props = json_object_get(s, "properties");
    if (!json_is_object(props)) {
        props = json_object();
        json_object_set_new(s, "properties", props);
    }
    json_object_set_new(props, "apiVersion", p_str(D_APIVERSION));
    json_object_set_new(props, "kind", p_str(D_KIND));
    json_object_set_new(props, "metadata", p_ref(META "ObjectMeta", D_OBJMETA));
    return props;
}

/* addEmbeddedProperties: x-kubernetes-embedded-resource objects get the
 * TypeMeta fields (required) and an ObjectMeta reference. */
static void add_embedded(json_t *s, int depth)
{
    if (!json_is_object(s) || depth > DV_SCHEMA_MAX_DEPTH)
        return;
    json_t *props = json_object_get(s, "properties"), *v;
    const char *k;
    if (json_is_object(props))
        json_object_foreach(props, k, v) add_embedded(v, depth + 1);
    add_embedded(json_object_get(s, "items"), depth + 1);
    add_embedded(json_object_get(s, "additionalProperties"), depth + 1);
    if (!json_is_true(json_object_get(s, "x-kubernetes-embedded-resource")))
        return;
    add_object_props(s);
    add_required(s, "kind");
    add_required(s, "apiVersion");
}

static json_t *kind_schema(const kinfo *k, const json_t *src)
{
    json_t *s = json_is_object(src) ? json_deep_copy(src)
                                    : json_pack("{s:s,s:b}", "type", "object",
                                                "x-kubernetes-preserve-unknown-fields", 1);
    if (!json_object_get(s, "type"))
        json_object_set_new(s, "type", json_string("object"));
    json_t *props = add_object_props(s), *v;
    const char *name;
    json_object_foreach(props, name, v) if (!is_meta(name)) add_embedded(v, 1);
    gvk_list(s, k->group, k->version, k->kind);
    return s;
}

static json_t *list_schema(const kinfo *k)
{
    char *desc = xstrdup_printf("%sList is a list of %s", k->kind, k->kind);
    char *items_desc = xstrdup_printf("List of %s. More info: https://git.k8s.io/community/contributors/"
                                      "devel/sig-architecture/api-conventions.md", k->plural);
    char *kindlist = xstrdup_printf("%sList", k->kind);
    json_t *s = s_object(desc);
    prop(s, "apiVersion", p_str(D_APIVERSION));
    char *ref = xstrdup_printf(REF_PREFIX "%s", k->schema_name);
    prop(s, "items", p_array(json_pack("{s:[{s:s}],s:{}}", "allOf", "$ref", ref, "default"), items_desc));
    prop(s, "kind", p_str(D_KIND));
    prop(s, "metadata", p_ref(META "ListMeta", D_LISTMETA));
    json_object_set_new(s, "required", json_pack("[s]", "items"));
    gvk_list(s, k->group, k->version, kindlist);
    free(ref);
    free(desc);
    free(items_desc);
    free(kindlist);
    return s;
}

static int has_status(const json_t *entry)
{
    const json_t *sub = json_object_get(entry, "subresources");
    return json_is_true(json_object_get(entry, "status")) ||
           (json_is_object(sub) && json_object_get(sub, "status"));
}

json_t *dv_openapi_v3_document(const char *group, const char *version, const json_t *kinds)
{
    if (!group)
        group = "";
    json_t *doc = json_object();
    json_object_set_new(doc, "openapi", json_string("3.0.0"));
    json_object_set_new(doc, "info", json_pack("{s:s,s:s}", "title", "Kubernetes", "version", "v1.32.0"));
    json_t *paths = json_object();
    json_t *schemas = json_object();
    json_object_set_new(doc, "paths", paths);
    json_object_set_new(doc, "components",
                        json_pack("{s:o,s:{s:{s:s,s:s,s:s,s:s}}}", "schemas", schemas, "securitySchemes",
                                  "BearerToken", "type", "apiKey", "description",
                                  "Bearer Token authentication", "name", "authorization", "in", "header"));
    json_object_set_new(doc, "security", json_pack("[{s:[]}]", "BearerToken"));
    add_meta_schemas(schemas);
    char *opfx = op_prefix(group, version);
    size_t i;
    const json_t *e;
    json_array_foreach(kinds, i, e)
    {
        const char *kind = json_string_value(json_object_get(e, "kind"));
        const char *plural = json_string_value(json_object_get(e, "plural"));
        if (!kind || !plural)
            continue;
        char *name = dv_openapi_schema_name(group, version, kind);
        char *lname = xstrdup_printf("%sList", name);
        kinfo k = {group, version, kind, plural, name, lname, opfx,
                   json_is_true(json_object_get(e, "namespaced"))};
        json_object_set_new(schemas, name, kind_schema(&k, json_object_get(e, "schema")));
        json_object_set_new(schemas, lname, list_schema(&k));
        add_paths(paths, &k, has_status(e));
        free(name);
        free(lname);
    }
    free(opfx);
    return doc;
}

/* ------------------------------------------------------------------------ */
/* index and hashes                                                          */

char *dv_openapi_v3_hash(const json_t *doc)
{
    char *s = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
    if (!s)
        return NULL;
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    if (!EVP_Digest(s, strlen(s), md, &mdlen, EVP_sha512(), NULL)) {
        free(s);
        return NULL;
    }
    free(s);
    char *hex = malloc(mdlen * 2 + 1);
    if (!hex)
        abort();
    for (unsigned int i = 0; i < mdlen; i++)
        snprintf(hex + 2 * i, 3, "%02X", md[i]);
    return hex;
}

json_t *dv_openapi_v3_index(const json_t *docs)
{
    json_t *paths = json_object();
    const char *key;
    const json_t *doc;
    json_object_foreach((json_t *)docs, key, doc)
    {
        char *h = dv_openapi_v3_hash(doc);
        char *url = xstrdup_printf("/openapi/v3/%s?hash=%s", key, h ? h : "");
        json_object_set_new(paths, key, json_pack("{s:s}", "serverRelativeURL", url));
        free(url);
        free(h);
    }
    return json_pack("{s:o}", "paths", paths);
}
