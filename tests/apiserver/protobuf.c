/*
 * protobuf.c - a small table-driven reader for the Kubernetes protobuf
 * bodies kubectl's typed clients send (see protobuf.h). Each supported
 * message is a table of (field number, JSON name, type); field numbers come
 * from the k8s.io/api and apimachinery generated.proto files. Unknown fields
 * are skipped, as protobuf readers do.
 */
#include "protobuf.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>

typedef struct reader {
    const unsigned char *p, *end;
} reader;

/* T_TIME is metav1.Time (JSON: whole seconds), T_MTIME metav1.MicroTime (JSON:
 * RFC 3339 with exactly six fractional digits); both are {seconds=1,
 * nanos=2} on the wire. */
typedef enum {
    T_STR,
    T_BYTES,
    T_INT,
    T_BOOL,
    T_MSG,
    T_MAP_STR,
    T_MAP_BYTES,
    T_MAP_QTY,
    T_TIME,
    T_MTIME,
    T_INTSTR
} ftype;

/* Go's protobuf encoder writes non-pointer scalars even when they hold the
 * zero value, which JSON (omitempty) would leave out; zero values are
 * therefore dropped unless the field is a pointer in Go (KEEP0), where
 * presence means "explicitly set". Repeated values are always kept. */
enum { REP = 1, KEEP0 = 2 };

typedef struct field {
    unsigned num;
    const char *name;
    ftype type;
    int flags;
    const struct field *msg; /* T_MSG: the sub-message table */
} field;

#define END {0, NULL, T_STR, 0, NULL}

static const field OWNER_REF[] = {{1, "kind", T_STR, 0, NULL},       {3, "name", T_STR, 0, NULL},
                                  {4, "uid", T_STR, 0, NULL},        {5, "apiVersion", T_STR, 0, NULL},
                                  {6, "controller", T_BOOL, 0, NULL}, {7, "blockOwnerDeletion", T_BOOL, 0, NULL},
                                  END};
static const field OBJECT_META[] = {{1, "name", T_STR, 0, NULL},
                                    {2, "generateName", T_STR, 0, NULL},
                                    {3, "namespace", T_STR, 0, NULL},
                                    {5, "uid", T_STR, 0, NULL},
                                    {6, "resourceVersion", T_STR, 0, NULL},
                                    {7, "generation", T_INT, 0, NULL},
                                    {8, "creationTimestamp", T_TIME, 0, NULL},
                                    {11, "labels", T_MAP_STR, 0, NULL},
                                    {12, "annotations", T_MAP_STR, 0, NULL},
                                    {13, "ownerReferences", T_MSG, REP, OWNER_REF},
                                    {14, "finalizers", T_STR, REP, NULL},
                                    END};
static const field CONFIGMAP[] = {{1, "metadata", T_MSG, 0, OBJECT_META}, {2, "data", T_MAP_STR, 0, NULL},
                                  {3, "binaryData", T_MAP_BYTES, 0, NULL}, {4, "immutable", T_BOOL, 0, NULL},
                                  END};
static const field SECRET[] = {{1, "metadata", T_MSG, 0, OBJECT_META}, {2, "data", T_MAP_BYTES, 0, NULL},
                               {3, "type", T_STR, 0, NULL},           {4, "stringData", T_MAP_STR, 0, NULL},
                               {5, "immutable", T_BOOL, 0, NULL},     END};
static const field NS_SPEC[] = {{1, "finalizers", T_STR, REP, NULL}, END};
static const field NAMESPACE[] = {{1, "metadata", T_MSG, 0, OBJECT_META}, {2, "spec", T_MSG, 0, NS_SPEC}, END};
static const field OBJECT_REF[] = {{1, "kind", T_STR, 0, NULL}, {2, "namespace", T_STR, 0, NULL},
                                   {3, "name", T_STR, 0, NULL}, END};
static const field LOCAL_REF[] = {{1, "name", T_STR, 0, NULL}, END};
static const field SERVICEACCOUNT[] = {{1, "metadata", T_MSG, 0, OBJECT_META},
                                       {2, "secrets", T_MSG, REP, OBJECT_REF},
                                       {3, "imagePullSecrets", T_MSG, REP, LOCAL_REF},
                                       {4, "automountServiceAccountToken", T_BOOL, 0, NULL},
                                       END};
static const field POLICY_RULE[] = {{1, "verbs", T_STR, REP, NULL},         {2, "apiGroups", T_STR, REP, NULL},
                                    {3, "resources", T_STR, REP, NULL},     {4, "resourceNames", T_STR, REP, NULL},
                                    {5, "nonResourceURLs", T_STR, REP, NULL}, END};
static const field ROLE[] = {{1, "metadata", T_MSG, 0, OBJECT_META}, {2, "rules", T_MSG, REP, POLICY_RULE}, END};
static const field SUBJECT[] = {{1, "kind", T_STR, 0, NULL}, {2, "apiGroup", T_STR, 0, NULL},
                                {3, "name", T_STR, 0, NULL}, {4, "namespace", T_STR, 0, NULL}, END};
static const field ROLE_REF[] = {{1, "apiGroup", T_STR, 0, NULL}, {2, "kind", T_STR, 0, NULL},
                                 {3, "name", T_STR, 0, NULL}, END};
static const field BINDING[] = {{1, "metadata", T_MSG, 0, OBJECT_META}, {2, "subjects", T_MSG, REP, SUBJECT},
                                {3, "roleRef", T_MSG, 0, ROLE_REF}, END};

/* Workloads, as `kubectl create deployment|job|service` build them. */
static const field LABEL_REQ[] = {{1, "key", T_STR, 0, NULL}, {2, "operator", T_STR, 0, NULL},
                                  {3, "values", T_STR, REP, NULL}, END};
static const field LABEL_SELECTOR[] = {{1, "matchLabels", T_MAP_STR, 0, NULL},
                                       {2, "matchExpressions", T_MSG, REP, LABEL_REQ}, END};
static const field CONTAINER_PORT[] = {{1, "name", T_STR, 0, NULL}, {2, "hostPort", T_INT, 0, NULL},
                                       {3, "containerPort", T_INT, KEEP0, NULL}, {4, "protocol", T_STR, 0, NULL},
                                       {5, "hostIP", T_STR, 0, NULL}, END};
static const field ENV_VAR[] = {{1, "name", T_STR, KEEP0, NULL}, {2, "value", T_STR, 0, NULL}, END};
static const field CONTAINER[] = {{1, "name", T_STR, KEEP0, NULL},     {2, "image", T_STR, 0, NULL},
                                  {3, "command", T_STR, REP, NULL},     {4, "args", T_STR, REP, NULL},
                                  {5, "workingDir", T_STR, 0, NULL},    {6, "ports", T_MSG, REP, CONTAINER_PORT},
                                  {7, "env", T_MSG, REP, ENV_VAR},      {14, "imagePullPolicy", T_STR, 0, NULL},
                                  {16, "stdin", T_BOOL, 0, NULL},       {17, "stdinOnce", T_BOOL, 0, NULL},
                                  {18, "tty", T_BOOL, 0, NULL},         {20, "terminationMessagePolicy", T_STR, 0, NULL},
                                  END};
static const field POD_SPEC[] = {{2, "containers", T_MSG, REP, CONTAINER},
                                 {3, "restartPolicy", T_STR, 0, NULL},
                                 {4, "terminationGracePeriodSeconds", T_INT, KEEP0, NULL},
                                 {5, "activeDeadlineSeconds", T_INT, KEEP0, NULL},
                                 {6, "dnsPolicy", T_STR, 0, NULL},
                                 {7, "nodeSelector", T_MAP_STR, 0, NULL},
                                 {8, "serviceAccountName", T_STR, 0, NULL},
                                 {10, "nodeName", T_STR, 0, NULL},
                                 {15, "imagePullSecrets", T_MSG, REP, LOCAL_REF},
                                 {20, "initContainers", T_MSG, REP, CONTAINER},
                                 END};
static const field POD_TEMPLATE[] = {{1, "metadata", T_MSG, 0, OBJECT_META}, {2, "spec", T_MSG, 0, POD_SPEC}, END};
static const field STRATEGY[] = {{1, "type", T_STR, 0, NULL}, END};
static const field DEPLOYMENT_SPEC[] = {{1, "replicas", T_INT, KEEP0, NULL},
                                        {2, "selector", T_MSG, 0, LABEL_SELECTOR},
                                        {3, "template", T_MSG, 0, POD_TEMPLATE},
                                        {4, "strategy", T_MSG, 0, STRATEGY},
                                        {5, "minReadySeconds", T_INT, 0, NULL},
                                        {6, "revisionHistoryLimit", T_INT, KEEP0, NULL},
                                        {7, "paused", T_BOOL, 0, NULL},
                                        {9, "progressDeadlineSeconds", T_INT, KEEP0, NULL},
                                        END};
static const field DEPLOYMENT[] = {{1, "metadata", T_MSG, 0, OBJECT_META}, {2, "spec", T_MSG, 0, DEPLOYMENT_SPEC},
                                   END};
static const field JOB_SPEC[] = {{1, "parallelism", T_INT, KEEP0, NULL},
                                 {2, "completions", T_INT, KEEP0, NULL},
                                 {3, "activeDeadlineSeconds", T_INT, KEEP0, NULL},
                                 {4, "selector", T_MSG, 0, LABEL_SELECTOR},
                                 {5, "manualSelector", T_BOOL, KEEP0, NULL},
                                 {6, "template", T_MSG, 0, POD_TEMPLATE},
                                 {7, "backoffLimit", T_INT, KEEP0, NULL},
                                 {8, "ttlSecondsAfterFinished", T_INT, KEEP0, NULL},
                                 {9, "completionMode", T_STR, 0, NULL},
                                 {10, "suspend", T_BOOL, KEEP0, NULL},
                                 END};
static const field JOB[] = {{1, "metadata", T_MSG, 0, OBJECT_META}, {2, "spec", T_MSG, 0, JOB_SPEC}, END};
static const field SERVICE_PORT[] = {{1, "name", T_STR, 0, NULL},     {2, "protocol", T_STR, 0, NULL},
                                     {3, "port", T_INT, KEEP0, NULL}, {4, "targetPort", T_INTSTR, 0, NULL},
                                     {5, "nodePort", T_INT, 0, NULL}, {6, "appProtocol", T_STR, 0, NULL},
                                     END};
static const field SERVICE_SPEC[] = {{1, "ports", T_MSG, REP, SERVICE_PORT}, {2, "selector", T_MAP_STR, 0, NULL},
                                     {3, "clusterIP", T_STR, 0, NULL},        {4, "type", T_STR, 0, NULL},
                                     {5, "externalIPs", T_STR, REP, NULL},    {7, "sessionAffinity", T_STR, 0, NULL},
                                     {10, "externalName", T_STR, 0, NULL},    END};
static const field SERVICE[] = {{1, "metadata", T_MSG, 0, OBJECT_META}, {2, "spec", T_MSG, 0, SERVICE_SPEC}, END};

/* ResourceQuota (kubectl create quota); hard is map<string, Quantity>. */
static const field QUOTA_SPEC[] = {{1, "hard", T_MAP_QTY, 0, NULL}, {2, "scopes", T_STR, REP, NULL}, END};
static const field QUOTA[] = {{1, "metadata", T_MSG, 0, OBJECT_META}, {2, "spec", T_MSG, 0, QUOTA_SPEC}, END};

/* coordination.k8s.io/v1 Lease: what client-go's leader election and
 * OpenTofu's kubernetes state backend (its lock) create and update through
 * the typed client, i.e. as protobuf. Every LeaseSpec field is a pointer in
 * Go, so a zero value sent is a value set (leaseDurationSeconds: 0). */
static const field LEASE_SPEC[] = {{1, "holderIdentity", T_STR, KEEP0, NULL},
                                   {2, "leaseDurationSeconds", T_INT, KEEP0, NULL},
                                   {3, "acquireTime", T_MTIME, KEEP0, NULL},
                                   {4, "renewTime", T_MTIME, KEEP0, NULL},
                                   {5, "leaseTransitions", T_INT, KEEP0, NULL},
                                   {6, "strategy", T_STR, KEEP0, NULL},
                                   {7, "preferredHolder", T_STR, KEEP0, NULL},
                                   END};
static const field LEASE[] = {{1, "metadata", T_MSG, 0, OBJECT_META}, {2, "spec", T_MSG, 0, LEASE_SPEC}, END};

/* core/v1 Event: what client-go's record.EventRecorder posts (a repeat is a
 * strategic merge patch, JSON). All of its scalars are omitempty in JSON. */
static const field FULL_OBJECT_REF[] = {{1, "kind", T_STR, 0, NULL},       {2, "namespace", T_STR, 0, NULL},
                                        {3, "name", T_STR, 0, NULL},       {4, "uid", T_STR, 0, NULL},
                                        {5, "apiVersion", T_STR, 0, NULL}, {6, "resourceVersion", T_STR, 0, NULL},
                                        {7, "fieldPath", T_STR, 0, NULL},  END};
static const field EVENT_SOURCE[] = {{1, "component", T_STR, 0, NULL}, {2, "host", T_STR, 0, NULL}, END};
static const field EVENT_SERIES[] = {{1, "count", T_INT, 0, NULL}, {2, "lastObservedTime", T_MTIME, 0, NULL}, END};
static const field EVENT[] = {{1, "metadata", T_MSG, 0, OBJECT_META},
                              {2, "involvedObject", T_MSG, 0, FULL_OBJECT_REF},
                              {3, "reason", T_STR, 0, NULL},
                              {4, "message", T_STR, 0, NULL},
                              {5, "source", T_MSG, 0, EVENT_SOURCE},
                              {6, "firstTimestamp", T_TIME, 0, NULL},
                              {7, "lastTimestamp", T_TIME, 0, NULL},
                              {8, "count", T_INT, 0, NULL},
                              {9, "type", T_STR, 0, NULL},
                              {10, "eventTime", T_MTIME, 0, NULL},
                              {11, "series", T_MSG, 0, EVENT_SERIES},
                              {12, "action", T_STR, 0, NULL},
                              {13, "related", T_MSG, 0, FULL_OBJECT_REF},
                              {14, "reportingComponent", T_STR, 0, NULL},
                              {15, "reportingInstance", T_STR, 0, NULL},
                              END};

/* Matched on apiVersion as well as kind: the same kind name can mean another
 * message in another group (events.k8s.io/v1 Event is not core/v1 Event). */
static const struct {
    const char *api_version;
    const char *kind;
    const field *table;
} KINDS[] = {
    {"v1", "ResourceQuota", QUOTA},
    {"apps/v1", "Deployment", DEPLOYMENT},
    {"batch/v1", "Job", JOB},
    {"v1", "Service", SERVICE},
    {"v1", "ConfigMap", CONFIGMAP},
    {"v1", "Secret", SECRET},
    {"v1", "Namespace", NAMESPACE},
    {"v1", "ServiceAccount", SERVICEACCOUNT},
    {"v1", "Event", EVENT},
    {"rbac.authorization.k8s.io/v1", "Role", ROLE},
    {"rbac.authorization.k8s.io/v1", "ClusterRole", ROLE},
    {"rbac.authorization.k8s.io/v1", "RoleBinding", BINDING},
    {"rbac.authorization.k8s.io/v1", "ClusterRoleBinding", BINDING},
    {"coordination.k8s.io/v1", "Lease", LEASE},
};

static int varint(reader *r, uint64_t *out)
{
    uint64_t v = 0;
    for (int shift = 0; shift < 64 && r->p < r->end; shift += 7) {
        unsigned char b = *r->p++;
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *out = v;
            return 0;
        }
    }
    return -1;
}

/* Next field. 1 read, 0 end, -1 malformed. Length-delimited bytes in *sub. */
static int next_field(reader *r, unsigned *num, unsigned *wt, reader *sub, uint64_t *val)
{
    if (r->p >= r->end)
        return 0;
    uint64_t key;
    if (varint(r, &key) != 0)
        return -1;
    *num = (unsigned)(key >> 3);
    *wt = (unsigned)(key & 7);
    switch (*wt) {
    case 0:
        return varint(r, val) == 0 ? 1 : -1;
    case 1:
        if (r->end - r->p < 8)
            return -1;
        r->p += 8;
        return 1;
    case 5:
        if (r->end - r->p < 4)
            return -1;
        r->p += 4;
        return 1;
    case 2: {
        uint64_t len;
        if (varint(r, &len) != 0 || len > (uint64_t)(r->end - r->p))
            return -1;
        sub->p = r->p;
        sub->end = r->p + len;
        r->p += len;
        return 1;
    }
    default:
        return -1;
    }
}

static json_t *str(const reader *s) { return json_stringn((const char *)s->p, (size_t)(s->end - s->p)); }

static json_t *b64(const reader *s)
{
    size_t n = (size_t)(s->end - s->p);
    char *out = malloc(4 * ((n + 2) / 3) + 1);
    EVP_EncodeBlock((unsigned char *)out, s->p, (int)n);
    json_t *j = json_string(out);
    free(out);
    return j;
}

static json_t *decode(reader r, const field *table);

/* resource.Quantity {string=1} -> its string. */
static json_t *quantity(reader r)
{
    unsigned num, wt;
    reader sub;
    uint64_t v;
    while (next_field(&r, &num, &wt, &sub, &v) == 1)
        if (num == 1 && wt == 2)
            return str(&sub);
    return json_string("0");
}

/* map entry {key=1, value=2} into obj; kind: T_MAP_STR, T_MAP_BYTES or
 * T_MAP_QTY. */
static int map_entry(reader r, json_t *obj, ftype kind)
{
    unsigned num, wt;
    reader sub, key = {NULL, NULL}, val = {NULL, NULL};
    uint64_t v;
    int rc;
    while ((rc = next_field(&r, &num, &wt, &sub, &v)) == 1) {
        if (wt == 2 && num == 1)
            key = sub;
        else if (wt == 2 && num == 2)
            val = sub;
    }
    if (rc < 0 || !key.p)
        return -1;
    char *k = strndup((const char *)key.p, (size_t)(key.end - key.p));
    reader empty = {key.end, key.end};
    const reader *vr = val.p ? &val : &empty;
    json_object_set_new(obj, k, kind == T_MAP_BYTES ? b64(vr) : kind == T_MAP_QTY ? quantity(*vr) : str(vr));
    free(k);
    return 0;
}

/* Time or MicroTime (micro) -> its JSON string; NULL for the zero time,
 * which Go sends as an empty message and writes as null in JSON. Fractions
 * are truncated to microseconds, as MicroTime's JSON form does. */
static json_t *timestamp(reader r, int micro)
{
    unsigned num, wt;
    reader sub;
    uint64_t v, secs = 0, nanos = 0;
    while (next_field(&r, &num, &wt, &sub, &v) == 1) {
        if (num == 1 && wt == 0)
            secs = v;
        else if (num == 2 && wt == 0)
            nanos = v;
    }
    if (!secs)
        return NULL;
    time_t t = (time_t)(int64_t)secs;
    struct tm tm;
    if (!gmtime_r(&t, &tm))
        return NULL;
    char buf[64];
    size_t n = strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
    if (micro)
        snprintf(buf + n, sizeof(buf) - n, ".%06uZ", (unsigned)((uint32_t)nanos % 1000000000u / 1000u));
    else
        snprintf(buf + n, sizeof(buf) - n, "Z");
    return json_string(buf);
}

/* intstr.IntOrString {type=1, intVal=2, strVal=3} -> a JSON int or string. */
static json_t *intstr(reader r)
{
    unsigned num, wt;
    reader sub, sv = {NULL, NULL};
    uint64_t v, type = 0, iv = 0;
    while (next_field(&r, &num, &wt, &sub, &v) == 1) {
        if (num == 1 && wt == 0)
            type = v;
        else if (num == 2 && wt == 0)
            iv = v;
        else if (num == 3 && wt == 2)
            sv = sub;
    }
    if (type == 1)
        return sv.p ? str(&sv) : json_string("");
    return json_integer((json_int_t)(int32_t)iv);
}

static int is_zero(const json_t *v)
{
    return (json_is_string(v) && !*json_string_value(v)) || (json_is_integer(v) && !json_integer_value(v)) ||
           json_is_false(v);
}

static const field *lookup(const field *table, unsigned num)
{
    for (const field *f = table; f->name; f++)
        if (f->num == num)
            return f;
    return NULL;
}

static json_t *decode(reader r, const field *table)
{
    json_t *o = json_object();
    unsigned num, wt;
    reader sub;
    uint64_t v;
    int rc;
    while ((rc = next_field(&r, &num, &wt, &sub, &v)) == 1) {
        const field *f = lookup(table, num);
        if (!f)
            continue;
        json_t *val = NULL;
        if (wt == 0 && f->type == T_INT)
            val = json_integer((json_int_t)(int64_t)v);
        else if (wt == 0 && f->type == T_BOOL)
            val = json_boolean(v != 0);
        else if (wt != 2)
            continue;
        else if (f->type == T_STR)
            val = str(&sub);
        else if (f->type == T_BYTES)
            val = b64(&sub);
        else if (f->type == T_TIME || f->type == T_MTIME)
            val = timestamp(sub, f->type == T_MTIME);
        else if (f->type == T_INTSTR)
            val = intstr(sub);
        else if (f->type == T_MSG && !(val = decode(sub, f->msg)))
            rc = -1;
        if (f->type == T_MAP_STR || f->type == T_MAP_BYTES || f->type == T_MAP_QTY) {
            json_t *m = json_object_get(o, f->name);
            if (!m) {
                m = json_object();
                json_object_set_new(o, f->name, m);
            }
            if (map_entry(sub, m, f->type) != 0)
                rc = -1;
        } else if (val && (f->flags & REP)) {
            json_t *a = json_object_get(o, f->name);
            if (!a) {
                a = json_array();
                json_object_set_new(o, f->name, a);
            }
            json_array_append_new(a, val);
        } else if (val && is_zero(val) && !(f->flags & KEEP0)) {
            json_decref(val);
        } else if (val) {
            json_object_set_new(o, f->name, val);
        }
        if (rc < 0)
            break;
    }
    if (rc < 0) {
        json_decref(o);
        return NULL;
    }
    return o;
}

json_t *dv_proto_decode(const unsigned char *buf, size_t len)
{
    if (len < 4 || memcmp(buf, "k8s\0", 4) != 0)
        return NULL;
    static const field TYPE_META[] = {{1, "apiVersion", T_STR, 0, NULL}, {2, "kind", T_STR, 0, NULL}, END};
    reader r = {buf + 4, buf + len}, sub, raw = {NULL, NULL};
    unsigned num, wt;
    uint64_t v;
    json_t *tm = NULL;
    int rc;
    while ((rc = next_field(&r, &num, &wt, &sub, &v)) == 1) {
        if (num == 1 && wt == 2) {
            json_decref(tm);
            tm = decode(sub, TYPE_META);
        } else if (num == 2 && wt == 2) {
            raw = sub;
        }
    }
    const char *kind = json_string_value(json_object_get(tm, "kind"));
    const char *api_version = json_string_value(json_object_get(tm, "apiVersion"));
    json_t *out = NULL;
    for (size_t i = 0; rc == 0 && raw.p && kind && api_version && i < sizeof(KINDS) / sizeof(KINDS[0]); i++) {
        if (strcmp(KINDS[i].kind, kind) || strcmp(KINDS[i].api_version, api_version))
            continue;
        out = decode(raw, KINDS[i].table);
        if (out) {
            json_object_set(out, "apiVersion", json_object_get(tm, "apiVersion"));
            json_object_set(out, "kind", json_object_get(tm, "kind"));
        }
        break;
    }
    json_decref(tm);
    return out;
}
