/*
 * defaults.c - the defaulting kube-apiserver applies to built-in kinds on
 * every write (the SetDefaults_* functions), for the fields a controller is
 * likely to compare against what it asked for: NetworkPolicy policyTypes,
 * Service type/protocol/targetPort/sessionAffinity, and the workload and
 * pod template defaults of Deployments, StatefulSets and Jobs. Without
 * them, an operator that diffs desired against live state would look
 * converged here and loop forever on a real cluster.
 */
#include "handlers_int.h"

#include <string.h>

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

void dv_apply_defaults(const dv_rtype *rt, json_t *obj)
{
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
