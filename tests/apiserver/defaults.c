/*
 * defaults.c - the defaulting kube-apiserver applies to built-in kinds on
 * every write (the SetDefaults_* functions), for the fields a controller is
 * likely to compare against what it asked for: NetworkPolicy policyTypes,
 * Service type/protocol/targetPort/sessionAffinity, and the workload and
 * pod template defaults of Deployments, StatefulSets and Jobs. Without
 * them, an operator that diffs desired against live state would look
 * converged here and loop forever on a real cluster.
 *
 * Resource quantities get the same treatment: the real server decodes them
 * into resource.Quantity and writes them back in canonical form ("1000m"
 * -> "1", "2048Mi" -> "2Gi") in ResourceQuota spec/status, LimitRange
 * limits and container resources. dv_check_quantities also gives the real
 * answers to bad ones: a quantity that does not parse fails decoding (400
 * BadRequest, "<Kind> in version "v1" cannot be handled as a <Kind>: ..."),
 * and a negative one, or a fractional count of objects, where validation
 * forbids it is a 422 cause
 * (`spec.hard[pods]: Invalid value: "-1": must be greater than or equal to 0`).
 */
#include "handlers_int.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/quantity.h"

/* obj[key], created as an empty object when absent. */
static json_t *child(json_t *obj, const char *key)
{
    json_t *c = json_object_get(obj, key);
    if (!json_is_object(c)) {
        c = json_object();
        json_object_set_new(obj, key, c);
    }
    return c;
}

static void set_default(json_t *obj, const char *key, json_t *value)
{
    if (!json_object_get(obj, key))
        json_object_set_new(obj, key, value);
    else
        json_decref(value);
}

static void container_defaults(json_t *containers)
{
    size_t i;
    json_t *c;
    json_array_foreach(containers, i, c) {
        const char *image = json_string_value(json_object_get(c, "image"));
        const char *colon = image ? strrchr(image, ':') : NULL;
        int latest = image && !strchr(image, '@') &&
                     (!colon || strchr(colon, '/') || !strcmp(colon, ":latest"));
        set_default(c, "imagePullPolicy", json_string(latest ? "Always" : "IfNotPresent"));
        set_default(c, "terminationMessagePath", json_string("/dev/termination-log"));
        set_default(c, "terminationMessagePolicy", json_string("File"));
        size_t j;
        json_t *p;
        json_array_foreach(json_object_get(c, "ports"), j, p)
            set_default(p, "protocol", json_string("TCP"));
    }
}

static void pod_template_defaults(json_t *template, const char *restart)
{
    json_t *spec = child(template, "spec");
    if (restart)
        set_default(spec, "restartPolicy", json_string(restart));
    set_default(spec, "dnsPolicy", json_string("ClusterFirst"));
    set_default(spec, "schedulerName", json_string("default-scheduler"));
    set_default(spec, "securityContext", json_object());
    set_default(spec, "terminationGracePeriodSeconds", json_integer(30));
    container_defaults(json_object_get(spec, "containers"));
    container_defaults(json_object_get(spec, "initContainers"));
}

/* ---- quantities ------------------------------------------------------------------ */

/* One walk over obj's quantity maps; stops at the first undecodable value. */
typedef struct qwalk {
    json_t *causes;   /* NULL: canonicalize only */
    char *msg;        /* decode error, when err */
    size_t n;
    int err;
} qwalk;

/* The text Quantity.UnmarshalJSON would parse for v, into buf; NULL when v
 * cannot be a quantity (an object, an array, a boolean). */
static const char *quantity_text(const json_t *v, char *buf, size_t n)
{
    if (json_is_null(v))
        return "0"; /* null decodes to the zero quantity */
    if (json_is_integer(v)) {
        snprintf(buf, n, "%lld", (long long)json_integer_value(v));
        return buf;
    }
    if (json_is_real(v)) {
        /* The shortest text that reads back as the same double. */
        for (int prec = 1; prec <= 17; prec++) {
            snprintf(buf, n, "%.*g", prec, json_real_value(v));
            if (strtod(buf, NULL) == json_real_value(v))
                break;
        }
        /* Go writes exponents without '+' or leading zeros: "1e3", not "1e+03". */
        char *e = strchr(buf, 'e');
        if (e) {
            char *d = e + 1, *src = e + 1;
            if (*src == '+')
                src++;
            else if (*src == '-')
                d++, src++;
            while (*src == '0' && src[1])
                src++;
            memmove(d, src, strlen(src) + 1);
        }
        return buf;
    }
    const char *s = json_string_value(v);
    if (!s)
        return NULL;
    /* UnmarshalJSON trims surrounding whitespace before parsing. */
    while (isspace((unsigned char)*s))
        s++;
    size_t len = strlen(s);
    while (len && isspace((unsigned char)s[len - 1]))
        len--;
    snprintf(buf, n, "%.*s", (int)(len < n ? len : n - 1), s);
    return len < n ? buf : s; /* an overlong one fails the parse as is */
}

/* Resources counted in whole units (apimachinery's IsIntegerResourceName):
 * object counts and extended resources ("count/secrets", "example.com/gpu"). */
static int integer_resource(const char *name)
{
    static const char *const counted[] = {"pods", "services", "replicationcontrollers", "resourcequotas",
                                           "secrets", "configmaps", "persistentvolumeclaims",
                                           "services.nodeports", "services.loadbalancers", NULL};
    for (const char *const *c = counted; *c; c++)
        if (!strcmp(name, *c))
            return 1;
    return strchr(name, '/') && !strstr(name, "kubernetes.io/") && strncmp(name, "requests.", 9) != 0;
}

static void add_cause(qwalk *w, const char *field, const char *key, const char *value, const char *why)
{
    char path[512], m[PB_QUANTITY_BUF + 64];
    snprintf(path, sizeof path, "%s[%s]", field, key);
    snprintf(m, sizeof m, "Invalid value: \"%s\": %s", value, why);
    json_array_append_new(w->causes,
                          json_pack("{s:s,s:s,s:s}", "reason", "FieldValueInvalid", "message", m, "field", path));
}

/* Canonicalize every value of map (field: its path, e.g. "spec.hard");
 * `validated`: the values must be non-negative, and whole for integer
 * resources (validateResourceQuantityValue). */
static void quantity_map(qwalk *w, json_t *map, const char *field, int validated)
{
    const char *k;
    json_t *v;
    if (w->err || !json_is_object(map))
        return;
    json_object_foreach(map, k, v) {
        char in[PB_QUANTITY_MAX_LEN + 2], out[PB_QUANTITY_BUF];
        const char *text = quantity_text(v, in, sizeof in);
        pb_err e;
        pb_err_clear(&e);
        if (!text || pb_quantity_canonical(text, out, sizeof out, &e) != 0) {
            w->err = 1;
            snprintf(w->msg, w->n, "%s", text ? pb_err_msg(&e) : PB_QUANTITY_ERR_FORMAT);
            return;
        }
        json_object_set_new(map, k, json_string(out));
        if (!validated || !w->causes)
            continue;
        int sign = 0;
        if (pb_quantity_cmp(out, "0", &sign, NULL) == 0 && sign < 0)
            add_cause(w, field, k, out, "must be greater than or equal to 0");
        if (integer_resource(k) && !pb_quantity_is_integer(out))
            add_cause(w, field, k, out, "must be an integer");
    }
}

/* resources.limits/requests of each container (field: "...spec"). */
static void container_quantities(qwalk *w, json_t *spec, const char *field)
{
    static const char *const lists[] = {"containers", "initContainers"};
    for (int l = 0; l < 2; l++) {
        size_t i;
        json_t *c;
        json_array_foreach(json_object_get(spec, lists[l]), i, c) {
            json_t *res = json_object_get(c, "resources");
            static const char *const maps[] = {"limits", "requests"};
            for (int m = 0; m < 2; m++) {
                char path[256];
                snprintf(path, sizeof path, "%s.%s[%zu].resources.%s", field, lists[l], i, maps[m]);
                quantity_map(w, json_object_get(res, maps[m]), path, 1);
            }
        }
    }
}

static void walk_quantities(const dv_rtype *rt, json_t *obj, qwalk *w)
{
    json_t *spec = json_object_get(obj, "spec");
    if (!*rt->group && !strcmp(rt->plural, "resourcequotas")) {
        json_t *status = json_object_get(obj, "status");
        quantity_map(w, json_object_get(spec, "hard"), "spec.hard", 1);
        quantity_map(w, json_object_get(status, "hard"), "status.hard", 1);
        quantity_map(w, json_object_get(status, "used"), "status.used", 1);
    } else if (!*rt->group && !strcmp(rt->plural, "limitranges")) {
        static const char *const maps[] = {"max", "min", "default", "defaultRequest", "maxLimitRequestRatio"};
        size_t i;
        json_t *item;
        json_array_foreach(json_object_get(spec, "limits"), i, item) {
            for (size_t m = 0; m < sizeof maps / sizeof maps[0]; m++) {
                char path[128];
                snprintf(path, sizeof path, "spec.limits[%zu].%s", i, maps[m]);
                quantity_map(w, json_object_get(item, maps[m]), path, 0);
            }
        }
    } else if (!*rt->group && !strcmp(rt->plural, "pods")) {
        container_quantities(w, spec, "spec");
    } else if ((!strcmp(rt->group, "apps") || (!strcmp(rt->group, "batch") && !strcmp(rt->plural, "jobs"))) &&
               json_is_object(spec)) {
        container_quantities(w, json_object_get(json_object_get(spec, "template"), "spec"), "spec.template.spec");
    }
}

int dv_check_quantities(const dv_rtype *rt, json_t *obj, json_t *causes, char *msg, size_t n)
{
    char why[PB_ERR_MSG_MAX] = "";
    qwalk w = {causes, why, sizeof why, 0};
    walk_quantities(rt, obj, &w);
    if (!w.err)
        return 0;
    snprintf(msg, n, "%s in version \"%s\" cannot be handled as a %s: %s", rt->kind, rt->version, rt->kind, why);
    return -1;
}

void dv_apply_defaults(const dv_rtype *rt, json_t *obj)
{
    /* Canonical quantities; a bad one is left for dv_check_quantities to refuse. */
    char why[PB_ERR_MSG_MAX];
    qwalk w = {NULL, why, sizeof why, 0};
    walk_quantities(rt, obj, &w);

    json_t *spec = json_object_get(obj, "spec");
    if (!strcmp(rt->group, "networking.k8s.io") && !strcmp(rt->plural, "networkpolicies")) {
        spec = child(obj, "spec");
        if (!json_object_get(spec, "policyTypes")) {
            json_t *types = json_pack("[s]", "Ingress");
            if (json_array_size(json_object_get(spec, "egress")))
                json_array_append_new(types, json_string("Egress"));
            json_object_set_new(spec, "policyTypes", types);
        }
        set_default(spec, "podSelector", json_object());
    } else if (!*rt->group && !strcmp(rt->plural, "services") && json_is_object(spec)) {
        set_default(spec, "type", json_string("ClusterIP"));
        set_default(spec, "sessionAffinity", json_string("None"));
        const char *type = json_string_value(json_object_get(spec, "type"));
        if (type && strcmp(type, "ExternalName")) {
            set_default(spec, "ipFamilies", json_pack("[s]", "IPv4"));
            set_default(spec, "ipFamilyPolicy", json_string("SingleStack"));
            set_default(spec, "internalTrafficPolicy", json_string("Cluster"));
        }
        size_t i;
        json_t *p;
        json_array_foreach(json_object_get(spec, "ports"), i, p) {
            set_default(p, "protocol", json_string("TCP"));
            json_t *port = json_object_get(p, "port");
            if (port)
                set_default(p, "targetPort", json_deep_copy(port));
        }
    } else if (!strcmp(rt->group, "apps") && json_is_object(spec)) {
        set_default(spec, "replicas", json_integer(1));
        set_default(spec, "revisionHistoryLimit", json_integer(10));
        if (!strcmp(rt->plural, "deployments")) {
            set_default(spec, "progressDeadlineSeconds", json_integer(600));
            json_t *strategy = child(spec, "strategy");
            set_default(strategy, "type", json_string("RollingUpdate"));
            const char *st = json_string_value(json_object_get(strategy, "type"));
            if (st && !strcmp(st, "RollingUpdate")) {
                json_t *ru = child(strategy, "rollingUpdate");
                set_default(ru, "maxUnavailable", json_string("25%"));
                set_default(ru, "maxSurge", json_string("25%"));
            }
        } else if (!strcmp(rt->plural, "statefulsets")) {
            set_default(spec, "podManagementPolicy", json_string("OrderedReady"));
            json_t *strategy = child(spec, "updateStrategy");
            set_default(strategy, "type", json_string("RollingUpdate"));
            const char *st = json_string_value(json_object_get(strategy, "type"));
            if (st && !strcmp(st, "RollingUpdate"))
                set_default(child(strategy, "rollingUpdate"), "partition", json_integer(0));
        }
        if (json_is_object(json_object_get(spec, "template")))
            pod_template_defaults(json_object_get(spec, "template"), "Always");
    } else if (!strcmp(rt->group, "batch") && !strcmp(rt->plural, "jobs") && json_is_object(spec)) {
        set_default(spec, "backoffLimit", json_integer(6));
        set_default(spec, "completionMode", json_string("NonIndexed"));
        set_default(spec, "suspend", json_false());
        if (!json_object_get(spec, "completions") && !json_object_get(spec, "parallelism")) {
            json_object_set_new(spec, "completions", json_integer(1));
            json_object_set_new(spec, "parallelism", json_integer(1));
        }
        set_default(spec, "parallelism", json_integer(1));
        if (json_is_object(json_object_get(spec, "template")))
            pod_template_defaults(json_object_get(spec, "template"), NULL); /* Never/OnFailure: the user's choice */
    }
}
