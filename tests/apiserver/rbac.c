/*
 * rbac.c - authorization for the dev API server: the RBAC authorizer of
 * kube-apiserver, evaluated on every request over the Role, ClusterRole,
 * RoleBinding and ClusterRoleBinding objects the lister returns.
 *
 * The evaluation follows the real rule resolver step by step, because tests
 * compare our answers (and messages) with what a real cluster says:
 *   - ClusterRoleBindings are visited first and grant everywhere; then, for
 *     a namespaced request, the RoleBindings of that namespace, which grant
 *     only there (also when they point at a ClusterRole);
 *   - a binding applies through its first matching subject (User, Group,
 *     ServiceAccount whose namespace defaults to the binding's);
 *   - a rule allows when verb, API group, resource ("*", "tenants/status",
 *     "*\/status") and resourceNames match, or verb and nonResourceURLs
 *     (exact, "*", or "prefix*") for non-resource requests;
 *   - a binding whose role is missing is skipped and named in the reason
 *     ("RBAC: role.rbac.authorization.k8s.io \"x\" not found").
 * ClusterRoles with an aggregationRule get the union of the rules of the
 * ClusterRoles their selectors match, as the aggregation controller would
 * have written. system:masters is allowed everything, like the privileged
 * group authorizer in front of RBAC.
 *
 * Also here: the 403 wording, privilege-escalation prevention for writes
 * of RBAC objects (escalate/bind verbs, or the writer must already hold
 * every rule granted), access reviews (SelfSubjectAccessReview,
 * SubjectAccessReview, LocalSubjectAccessReview, SelfSubjectRulesReview)
 * and the bootstrap policy.
 */
#include "auth.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RBAC_GROUP "rbac.authorization.k8s.io"
/* Aggregated roles may select aggregated roles; bound the recursion so a
 * selector cycle cannot loop. */
#define MAX_AGGREGATION_DEPTH 8

/* ---- small helpers ------------------------------------------------------ */

static const char *str_at(const json_t *obj, const char *key)
{
    return json_string_value(json_object_get(obj, key));
}

static const char *meta_str(const json_t *obj, const char *key)
{
    return str_at(json_object_get(obj, "metadata"), key);
}

static int streq(const char *a, const char *b)
{
    return a && b && strcmp(a, b) == 0;
}

/* 1 when the JSON string array holds s. */
static int array_has(const json_t *arr, const char *s)
{
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v)
        if (streq(json_string_value(v), s))
            return 1;
    return 0;
}

/* Append a Go %q-style quoted string to buf at *len (size n, truncating). */
static void put_quoted(char *buf, size_t n, size_t *len, const char *s)
{
    if (*len + 1 < n)
        buf[(*len)++] = '"';
    for (; s && *s && *len + 2 < n; s++) {
        if (*s == '"' || *s == '\\')
            buf[(*len)++] = '\\';
        buf[(*len)++] = *s;
    }
    if (*len + 1 < n)
        buf[(*len)++] = '"';
    buf[*len < n ? *len : n - 1] = '\0';
}

static void put_fmt(char *buf, size_t n, size_t *len, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void put_fmt(char *buf, size_t n, size_t *len, const char *fmt, ...)
{
    if (*len >= n)
        return;
    va_list ap;
    va_start(ap, fmt);
    int w = vsnprintf(buf + *len, n - *len, fmt, ap);
    va_end(ap);
    if (w > 0)
        *len = *len + (size_t)w < n ? *len + (size_t)w : n - 1;
}

/* ---- label selectors (metav1.LabelSelector) ---------------------------- */

int dv_label_selector_json_matches(const json_t *selector, const json_t *labels)
{
    if (!selector || json_is_null(selector))
        return 1;
    if (!json_is_object(selector))
        return -1;
    json_t *ml = json_object_get(selector, "matchLabels");
    json_t *me = json_object_get(selector, "matchExpressions");
    if ((ml && !json_is_null(ml) && !json_is_object(ml)) ||
        (me && !json_is_null(me) && !json_is_array(me)))
        return -1;
    int match = 1;
    const char *k;
    json_t *v;
    json_object_foreach(ml, k, v) {
        if (!json_is_string(v))
            return -1;
        if (!streq(str_at(labels, k), json_string_value(v)))
            match = 0;
    }
    size_t i;
    json_t *e;
    json_array_foreach(me, i, e) {
        const char *key = str_at(e, "key"), *op = str_at(e, "operator");
        json_t *vals = json_object_get(e, "values");
        size_t nv = json_is_array(vals) ? json_array_size(vals) : 0;
        if (!key || !op)
            return -1;
        const char *have = str_at(labels, key);
        if (strcmp(op, "In") == 0 || strcmp(op, "NotIn") == 0) {
            if (nv == 0)
                return -1; /* the real validation requires values here */
            int in = have && array_has(vals, have);
            if ((op[0] == 'I') ? !in : in)
                match = 0;
        } else if (strcmp(op, "Exists") == 0 || strcmp(op, "DoesNotExist") == 0) {
            if (nv != 0)
                return -1;
            if ((op[0] == 'E') ? !have : have != NULL)
                match = 0;
        } else {
            return -1;
        }
    }
    return match;
}

/* ---- rules ------------------------------------------------------------- */

static int rule_allows(const dv_attributes *at, const json_t *rule)
{
    json_t *verbs = json_object_get(rule, "verbs");
    if (!array_has(verbs, "*") && !array_has(verbs, at->verb))
        return 0;
    if (!at->resource) {
        const char *path = at->path ? at->path : "";
        size_t i;
        json_t *v;
        json_array_foreach(json_object_get(rule, "nonResourceURLs"), i, v) {
            const char *u = json_string_value(v);
            if (!u)
                continue;
            size_t ul = strlen(u);
            if (strcmp(u, "*") == 0 || strcmp(u, path) == 0)
                return 1;
            if (ul > 0 && u[ul - 1] == '*' && strncmp(path, u, ul - 1) == 0)
                return 1;
        }
        return 0;
    }
    json_t *groups = json_object_get(rule, "apiGroups");
    if (!array_has(groups, "*") && !array_has(groups, at->group ? at->group : ""))
        return 0;

    const char *sub = at->subresource && *at->subresource ? at->subresource : NULL;
    char combined[512];
    snprintf(combined, sizeof combined, "%s%s%s", at->resource, sub ? "/" : "", sub ? sub : "");
    int res_ok = 0;
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(rule, "resources"), i, v) {
        const char *r = json_string_value(v);
        if (!r)
            continue;
        if (strcmp(r, "*") == 0 || strcmp(r, combined) == 0 ||
            (sub && strncmp(r, "*/", 2) == 0 && strcmp(r + 2, sub) == 0)) {
            res_ok = 1;
            break;
        }
    }
    if (!res_ok)
        return 0;
    json_t *names = json_object_get(rule, "resourceNames");
    if (json_array_size(names) == 0)
        return 1;
    /* A list, watch or create carries no name, so it never matches here. */
    return array_has(names, at->name ? at->name : "");
}

/* ---- role lookup and aggregation ---------------------------------------- */

typedef struct rbac_eval {
    dv_lister lister;
    void *ud;
    json_t *clusterroles; /* fetched on first use */
    json_t *roles;        /* of roles_ns, fetched on first use */
    const char *roles_ns;
    json_t *errors;       /* distinct error strings */
} rbac_eval;

static json_t *list_of(rbac_eval *ev, const char *resource, const char *ns)
{
    json_t *l = ev->lister ? ev->lister(ev->ud, RBAC_GROUP, resource, ns) : NULL;
    return l ? l : json_array();
}

static void eval_init(rbac_eval *ev, dv_auth *a)
{
    memset(ev, 0, sizeof *ev);
    ev->lister = dv_auth_lister(a, &ev->ud);
    ev->errors = json_array();
}

static void eval_done(rbac_eval *ev)
{
    json_decref(ev->clusterroles);
    json_decref(ev->roles);
    json_decref(ev->errors);
}

static void add_error(rbac_eval *ev, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void add_error(rbac_eval *ev, const char *fmt, ...)
{
    char buf[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (!array_has(ev->errors, buf))
        json_array_append_new(ev->errors, json_string(buf));
}

static const json_t *find_named(const json_t *list, const char *name)
{
    size_t i;
    json_t *o;
    json_array_foreach(list, i, o)
        if (streq(meta_str(o, "name"), name))
            return o;
    return NULL;
}

static void append_unique_rules(json_t *dst, const json_t *rules)
{
    size_t i, j;
    json_t *r, *d;
    json_array_foreach(rules, i, r) {
        int dup = 0;
        json_array_foreach(dst, j, d)
            if (json_equal(d, r)) {
                dup = 1;
                break;
            }
        if (!dup)
            json_array_append(dst, r);
    }
}

/* Effective rules of a ClusterRole (new array), given all ClusterRoles. */
static json_t *effective_rules(const json_t *all, const json_t *cr, int depth)
{
    json_t *agg = json_object_get(cr, "aggregationRule");
    if (!json_is_object(agg)) {
        json_t *rules = json_object_get(cr, "rules");
        return json_is_array(rules) ? json_deep_copy(rules) : json_array();
    }
    json_t *out = json_array();
    if (depth >= MAX_AGGREGATION_DEPTH)
        return out;
    const char *self = meta_str(cr, "name");
    size_t i, j;
    json_t *sel, *other;
    json_array_foreach(json_object_get(agg, "clusterRoleSelectors"), i, sel) {
        json_array_foreach(all, j, other) {
            if (other == cr || streq(meta_str(other, "name"), self))
                continue;
            json_t *labels = json_object_get(json_object_get(other, "metadata"), "labels");
            if (dv_label_selector_json_matches(sel, labels) != 1)
                continue;
            json_t *r = effective_rules(all, other, depth + 1);
            append_unique_rules(out, r);
            json_decref(r);
        }
    }
    return out;
}

json_t *dv_clusterrole_rules(dv_auth *a, const json_t *clusterrole)
{
    rbac_eval ev;
    eval_init(&ev, a);
    json_t *all = json_object_get(clusterrole, "aggregationRule") ? list_of(&ev, "clusterroles", NULL)
                                                                  : json_array();
    json_t *r = effective_rules(all, clusterrole, 0);
    json_decref(all);
    eval_done(&ev);
    return r;
}

/* Rules a roleRef grants (new array), or NULL with an error recorded. */
static json_t *role_ref_rules(rbac_eval *ev, const json_t *ref, const char *binding_ns)
{
    const char *kind = str_at(ref, "kind"), *name = str_at(ref, "name");
    if (streq(kind, "ClusterRole")) {
        if (!ev->clusterroles)
            ev->clusterroles = list_of(ev, "clusterroles", NULL);
        const json_t *cr = find_named(ev->clusterroles, name);
        if (!cr) {
            add_error(ev, "clusterrole.rbac.authorization.k8s.io \"%s\" not found", name ? name : "");
            return NULL;
        }
        return effective_rules(ev->clusterroles, cr, 0);
    }
    if (streq(kind, "Role")) {
        const json_t *role = NULL;
        if (binding_ns && *binding_ns) {
            if (!ev->roles || !streq(ev->roles_ns, binding_ns)) {
                json_decref(ev->roles);
                ev->roles = list_of(ev, "roles", binding_ns);
                ev->roles_ns = binding_ns;
            }
            role = find_named(ev->roles, name);
        }
        if (!role) {
            add_error(ev, "role.rbac.authorization.k8s.io \"%s\" not found", name ? name : "");
            return NULL;
        }
        json_t *rules = json_object_get(role, "rules");
        return json_is_array(rules) ? json_deep_copy(rules) : json_array();
    }
    add_error(ev, "unsupported role reference kind: \"%s\"", kind ? kind : "");
    return NULL;
}

/* The first subject of a binding that applies to u, or NULL. */
static const json_t *applies_to(const json_t *binding, const dv_user *u, const char *binding_ns)
{
    size_t i;
    json_t *s;
    json_array_foreach(json_object_get(binding, "subjects"), i, s) {
        const char *kind = str_at(s, "kind"), *name = str_at(s, "name");
        if (!kind || !name)
            continue;
        if (strcmp(kind, "User") == 0) {
            if (streq(u->name, name))
                return s;
        } else if (strcmp(kind, "Group") == 0) {
            if (dv_user_in_group(u, name))
                return s;
        } else if (strcmp(kind, "ServiceAccount") == 0) {
            const char *sns = str_at(s, "namespace");
            if (!sns || !*sns)
                sns = binding_ns;
            if (!sns || !*sns)
                continue;
            char want[600];
            snprintf(want, sizeof want, "system:serviceaccount:%s:%s", sns, name);
            if (streq(u->name, want))
                return s;
        }
    }
    return NULL;
}

/* The binding describer of the real resolver, used in allow reasons:
 *   ClusterRoleBinding "b" of ClusterRole "r" to User "bob"
 *   RoleBinding "b/ns" of Role "r" to ServiceAccount "sa/ns" */
static void describe(char *buf, size_t n, const json_t *binding, const json_t *subject,
                     const char *binding_ns)
{
    size_t len = 0;
    buf[0] = '\0';
    const json_t *ref = json_object_get(binding, "roleRef");
    const char *bname = meta_str(binding, "name");
    const char *skind = str_at(subject, "kind"), *sname = str_at(subject, "name");
    char tmp[600];
    if (binding_ns) {
        snprintf(tmp, sizeof tmp, "%s/%s", bname ? bname : "", binding_ns);
        put_fmt(buf, n, &len, "RoleBinding ");
        put_quoted(buf, n, &len, tmp);
    } else {
        put_fmt(buf, n, &len, "ClusterRoleBinding ");
        put_quoted(buf, n, &len, bname);
    }
    put_fmt(buf, n, &len, " of %s ", str_at(ref, "kind") ? str_at(ref, "kind") : "");
    put_quoted(buf, n, &len, str_at(ref, "name"));
    put_fmt(buf, n, &len, " to %s ", skind);
    if (streq(skind, "ServiceAccount")) {
        const char *sns = str_at(subject, "namespace");
        snprintf(tmp, sizeof tmp, "%s/%s", sname, sns && *sns ? sns : (binding_ns ? binding_ns : ""));
        put_quoted(buf, n, &len, tmp);
    } else {
        put_quoted(buf, n, &len, sname);
    }
}

/* Called per rule; return 1 to stop visiting. */
typedef int (*rule_visitor)(void *vctx, const char *source, const json_t *rule);

static void visit_bindings(rbac_eval *ev, const dv_user *u, const char *ns, rule_visitor visit,
                           void *vctx)
{
    for (int pass = 0; pass < 2; pass++) {
        const char *bns = pass == 0 ? NULL : ns;
        if (pass == 1 && (!ns || !*ns))
            break;
        json_t *bindings = list_of(ev, pass == 0 ? "clusterrolebindings" : "rolebindings", bns);
        size_t i;
        json_t *b;
        int stop = 0;
        json_array_foreach(bindings, i, b) {
            if (pass == 1 && meta_str(b, "namespace") && !streq(meta_str(b, "namespace"), ns))
                continue;
            const json_t *subj = applies_to(b, u, bns);
            if (!subj)
                continue;
            json_t *rules = role_ref_rules(ev, json_object_get(b, "roleRef"), bns);
            if (!rules)
                continue;
            char source[1024];
            describe(source, sizeof source, b, subj, bns);
            size_t j;
            json_t *r;
            json_array_foreach(rules, j, r) {
                if (visit(vctx, source, r)) {
                    stop = 1;
                    break;
                }
            }
            json_decref(rules);
            if (stop)
                break;
        }
        json_decref(bindings);
        if (stop)
            return;
    }
}

/* "RBAC: err" or "RBAC: [err1, err2]" (utilerrors.Aggregate), or "" */
static void errors_reason(const rbac_eval *ev, char *buf, size_t n)
{
    size_t len = 0, cnt = json_array_size(ev->errors);
    buf[0] = '\0';
    if (cnt == 0)
        return;
    put_fmt(buf, n, &len, "RBAC: %s", cnt > 1 ? "[" : "");
    size_t i;
    json_t *e;
    json_array_foreach(ev->errors, i, e)
        put_fmt(buf, n, &len, "%s%s", i ? ", " : "", json_string_value(e));
    if (cnt > 1)
        put_fmt(buf, n, &len, "]");
}

/* ---- authorize ------------------------------------------------------------ */

typedef struct allow_ctx {
    const dv_attributes *at;
    int allowed;
    char reason[1100];
} allow_ctx;

static int allow_visit(void *vctx, const char *source, const json_t *rule)
{
    allow_ctx *c = vctx;
    if (!rule_allows(c->at, rule))
        return 0;
    c->allowed = 1;
    snprintf(c->reason, sizeof c->reason, "RBAC: allowed by %s", source);
    return 1;
}

/* 1/0, with the reason ("RBAC: allowed by ..." or the errors) in reason. */
static int rbac_decide(dv_auth *a, const dv_user *u, const dv_attributes *at, char *reason,
                       size_t n)
{
    if (reason && n)
        reason[0] = '\0';
    if (dv_user_in_group(u, "system:masters"))
        return 1;
    rbac_eval ev;
    eval_init(&ev, a);
    allow_ctx c = {.at = at};
    visit_bindings(&ev, u, at->resource ? at->ns : NULL, allow_visit, &c);
    if (reason && n) {
        if (c.allowed)
            snprintf(reason, n, "%s", c.reason);
        else
            errors_reason(&ev, reason, n);
    }
    eval_done(&ev);
    return c.allowed;
}

/* responsewriters' sanitizer: the user-controlled part of a 403 must not
 * look like HTML, so & < > become entities (quotes are fine). Rewrites
 * buf[from..*len). */
static void sanitize_tail(char *buf, size_t n, size_t *len, size_t from)
{
    char *tail = strdup(buf + from);
    if (!tail)
        return;
    *len = from;
    buf[from] = '\0';
    for (const char *p = tail; *p; p++) {
        if (*p == '&')
            put_fmt(buf, n, len, "&amp;");
        else if (*p == '<')
            put_fmt(buf, n, len, "&lt;");
        else if (*p == '>')
            put_fmt(buf, n, len, "&gt;");
        else
            put_fmt(buf, n, len, "%c", *p);
    }
    free(tail);
}

int dv_forbidden_message(const dv_user *u, const dv_attributes *at, const char *reason,
                         char *msg, size_t n)
{
    if (!msg || n == 0)
        return 0;
    size_t len = 0;
    msg[0] = '\0';
    const char *user = u && u->name ? u->name : "";
    size_t from;
    if (!at->resource) {
        put_fmt(msg, n, &len, "forbidden: ");
        from = len;
        put_fmt(msg, n, &len, "User ");
        put_quoted(msg, n, &len, user);
        put_fmt(msg, n, &len, " cannot %s path ", at->verb);
        put_quoted(msg, n, &len, at->path ? at->path : "");
    } else {
        const char *group = at->group ? at->group : "";
        put_fmt(msg, n, &len, "%s%s%s", at->resource, *group ? "." : "", group);
        if (at->name && *at->name) {
            put_fmt(msg, n, &len, " ");
            put_quoted(msg, n, &len, at->name);
        }
        put_fmt(msg, n, &len, " is forbidden: ");
        from = len;
        put_fmt(msg, n, &len, "User ");
        put_quoted(msg, n, &len, user);
        put_fmt(msg, n, &len, " cannot %s resource ", at->verb);
        char res[512];
        const char *sub = at->subresource && *at->subresource ? at->subresource : NULL;
        snprintf(res, sizeof res, "%s%s%s", at->resource, sub ? "/" : "", sub ? sub : "");
        put_quoted(msg, n, &len, res);
        put_fmt(msg, n, &len, " in API group ");
        put_quoted(msg, n, &len, group);
        if (at->ns && *at->ns) {
            put_fmt(msg, n, &len, " in the namespace ");
            put_quoted(msg, n, &len, at->ns);
        } else {
            put_fmt(msg, n, &len, " at the cluster scope");
        }
    }
    sanitize_tail(msg, n, &len, from);
    if (reason && *reason)
        put_fmt(msg, n, &len, ": %s", reason);
    return (int)len;
}

int dv_authorize(dv_auth *a, const dv_user *u, const dv_attributes *at, char *msg, size_t n)
{
    char reason[1100];
    if (!a || !u || !at || !at->verb) {
        if (msg && n)
            snprintf(msg, n, "forbidden: no user or verb");
        return 0;
    }
    if (rbac_decide(a, u, at, reason, sizeof reason))
        return 1;
    if (msg && n)
        dv_forbidden_message(u, at, reason, msg, n);
    return 0;
}

/* Collects every rule (deduplicated): RulesFor. */
typedef struct collect_ctx {
    json_t *rules;
} collect_ctx;

static int collect_visit(void *vctx, const char *source, const json_t *rule)
{
    collect_ctx *c = vctx;
    json_t *one = json_array();
    json_array_append(one, (json_t *)rule);
    append_unique_rules(c->rules, one);
    json_decref(one);
    return 0;
}

/* ---- escalation prevention ---------------------------------------------------- */

static int strarr_has_all(const json_t *set, const json_t *want)
{
    size_t i;
    json_t *v;
    json_array_foreach(want, i, v)
        if (!array_has(set, json_string_value(v)))
            return 0;
    return 1;
}

/* resourceCoversAll of the real policy comparator */
static int resources_cover(const json_t *owner, const json_t *want)
{
    if (array_has(owner, "*") || strarr_has_all(owner, want))
        return 1;
    size_t i;
    json_t *v;
    json_array_foreach(want, i, v) {
        const char *path = json_string_value(v);
        if (!path || array_has(owner, path))
            continue;
        const char *slash = strchr(path, '/');
        if (!slash)
            return 0;
        char star[512];
        snprintf(star, sizeof star, "*/%s", slash + 1);
        if (!array_has(owner, star))
            return 0;
    }
    return 1;
}

static int urls_cover(const json_t *owner, const json_t *want)
{
    size_t i, j;
    json_t *v, *o;
    json_array_foreach(want, i, v) {
        const char *path = json_string_value(v);
        int covered = 0;
        json_array_foreach(owner, j, o) {
            const char *op = json_string_value(o);
            size_t ol = op ? strlen(op) : 0;
            if (op && (strcmp(op, path ? path : "") == 0 ||
                       (ol > 0 && op[ol - 1] == '*' && path && strncmp(path, op, ol - 1) == 0))) {
                covered = 1;
                break;
            }
        }
        if (!covered)
            return 0;
    }
    return 1;
}

/* ruleCovers: owner (any shape) covers sub (one verb/group/resource/name). */
static int rule_covers(const json_t *owner, const json_t *sub)
{
    json_t *ov = json_object_get(owner, "verbs"), *og = json_object_get(owner, "apiGroups");
    json_t *on = json_object_get(owner, "resourceNames"), *sn = json_object_get(sub, "resourceNames");
    int verbs = array_has(ov, "*") || strarr_has_all(ov, json_object_get(sub, "verbs"));
    int groups = array_has(og, "*") || strarr_has_all(og, json_object_get(sub, "apiGroups"));
    int res = resources_cover(json_object_get(owner, "resources"), json_object_get(sub, "resources"));
    int urls = urls_cover(json_object_get(owner, "nonResourceURLs"), json_object_get(sub, "nonResourceURLs"));
    int names = json_array_size(on) == 0 || (json_array_size(sn) > 0 && strarr_has_all(on, sn));
    return verbs && groups && res && urls && names;
}

/* BreakdownRule: one rule per (group, resource, verb[, name]) and per
 * (url, verb), appended to out. */
static void breakdown(const json_t *rule, json_t *out)
{
    json_t *groups = json_object_get(rule, "apiGroups"), *res = json_object_get(rule, "resources");
    json_t *verbs = json_object_get(rule, "verbs"), *names = json_object_get(rule, "resourceNames");
    size_t gi, ri, vi, ni;
    json_t *g, *r, *v, *nm;
    json_array_foreach(groups, gi, g) {
        json_array_foreach(res, ri, r) {
            json_array_foreach(verbs, vi, v) {
                if (json_array_size(names) == 0) {
                    json_array_append_new(out, json_pack("{s:[O],s:[O],s:[O]}", "apiGroups", g,
                                                         "resources", r, "verbs", v));
                    continue;
                }
                json_array_foreach(names, ni, nm)
                    json_array_append_new(out, json_pack("{s:[O],s:[O],s:[O],s:[O]}", "apiGroups", g,
                                                         "resources", r, "resourceNames", nm,
                                                         "verbs", v));
            }
        }
    }
    json_array_foreach(json_object_get(rule, "nonResourceURLs"), ri, r)
        json_array_foreach(verbs, vi, v)
            json_array_append_new(out, json_pack("{s:[O],s:[O]}", "nonResourceURLs", r, "verbs", v));
}

/* Go's %q of a []string: ["a" "b"] */
static void put_strlist(char *buf, size_t n, size_t *len, const json_t *arr)
{
    put_fmt(buf, n, len, "[");
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v) {
        if (i)
            put_fmt(buf, n, len, " ");
        put_quoted(buf, n, len, json_string_value(v));
    }
    put_fmt(buf, n, len, "]");
}

/* rbacv1helpers.CompactString */
static void compact_string(const json_t *rule, char *buf, size_t n)
{
    static const char *const parts[][2] = {{"apiGroups", "APIGroups"}, {"resources", "Resources"},
                                           {"nonResourceURLs", "NonResourceURLs"},
                                           {"resourceNames", "ResourceNames"}, {"verbs", "Verbs"}};
    size_t len = 0, k = 0;
    buf[0] = '\0';
    put_fmt(buf, n, &len, "{");
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
        json_t *arr = json_object_get(rule, parts[i][0]);
        if (json_array_size(arr) == 0)
            continue;
        put_fmt(buf, n, &len, "%s%s:", k++ ? ", " : "", parts[i][1]);
        put_strlist(buf, n, &len, arr);
    }
    put_fmt(buf, n, &len, "}");
}

/* json_equal that also calls two absent fields equal */
static int same_field(const json_t *a, const json_t *b, const char *key)
{
    json_t *x = json_object_get(a, key), *y = json_object_get(b, key);
    return (!x && !y) || (x && y && json_equal(x, y));
}

static int cmp_cstr(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* ConfirmNoEscalation: 1 when u holds every rule (in ns), else 0 with the
 * reason (without the resource prefix) in msg. */
static int confirm_no_escalation(rbac_eval *ev, const dv_user *u, const char *ns, const json_t *rules,
                                 char *msg, size_t n)
{
    collect_ctx c = {.rules = json_array()};
    visit_bindings(ev, u, ns, collect_visit, &c);
    json_t *subs = json_array(), *missing = json_array();
    size_t i, j;
    json_t *r, *o;
    json_array_foreach(rules, i, r)
        breakdown(r, subs);
    json_array_foreach(subs, i, r) {
        int covered = 0;
        json_array_foreach(c.rules, j, o)
            if (rule_covers(o, r)) {
                covered = 1;
                break;
            }
        if (covered)
            continue;
        /* CompactRules: merge verbs of the same group/resource/name */
        json_t *same = NULL;
        json_array_foreach(missing, j, o) {
            if (same_field(o, r, "apiGroups") && same_field(o, r, "resources") &&
                same_field(o, r, "resourceNames") &&
                json_array_size(json_object_get(r, "resources")) > 0) {
                same = o;
                break;
            }
        }
        if (same)
            json_array_extend(json_object_get(same, "verbs"), json_object_get(r, "verbs"));
        else
            json_array_append(missing, r);
    }
    int ok = json_array_size(missing) == 0;
    if (!ok && msg && n) {
        size_t len = 0, nm = json_array_size(missing);
        msg[0] = '\0';
        put_fmt(msg, n, &len, "user ");
        put_quoted(msg, n, &len, u->name);
        put_fmt(msg, n, &len, " (groups=[");
        for (size_t g = 0; g < u->ngroups; g++) {
            if (g)
                put_fmt(msg, n, &len, " ");
            put_quoted(msg, n, &len, u->groups[g]);
        }
        put_fmt(msg, n, &len, "]) is attempting to grant RBAC permissions not currently held:");
        char **lines = calloc(nm, sizeof *lines);
        size_t k = 0;
        json_array_foreach(missing, j, o) {
            char line[1024];
            compact_string(o, line, sizeof line);
            lines[k++] = strdup(line);
        }
        qsort(lines, nm, sizeof *lines, cmp_cstr);
        for (k = 0; k < nm; k++) {
            if (!k || strcmp(lines[k], lines[k - 1]) != 0) /* a sorted set */
                put_fmt(msg, n, &len, "\n%s", lines[k]);
        }
        for (k = 0; k < nm; k++)
            free(lines[k]);
        free(lines);
        if (json_array_size(ev->errors) > 0) {
            /* %v of a one-element []error holding a utilerrors.Aggregate */
            int many = json_array_size(ev->errors) > 1;
            put_fmt(msg, n, &len, "; resolution errors: [%s", many ? "[" : "");
            json_array_foreach(ev->errors, j, o)
                put_fmt(msg, n, &len, "%s%s", j ? ", " : "", json_string_value(o));
            put_fmt(msg, n, &len, "%s]", many ? "]" : "");
        }
    }
    json_decref(subs);
    json_decref(missing);
    json_decref(c.rules);
    return ok;
}

/* IsOnlyMutatingGCFields: the update changes nothing but bookkeeping. */
static int only_gc_fields(const json_t *obj, const json_t *old)
{
    static const char *const keep[] = {"ownerReferences", "finalizers", "resourceVersion",
                                       "managedFields", "generation", "uid", "creationTimestamp"};
    if (!old)
        return 0;
    json_t *a = json_deep_copy(obj), *b = json_deep_copy(old);
    json_t *ma = json_object_get(a, "metadata"), *mb = json_object_get(b, "metadata");
    for (size_t i = 0; i < sizeof keep / sizeof keep[0]; i++) {
        json_object_del(ma, keep[i]);
        json_object_del(mb, keep[i]);
    }
    int same = json_equal(a, b);
    json_decref(a);
    json_decref(b);
    return same;
}

static int forbid_obj(char *msg, size_t n, const char *resource, const json_t *obj, const char *why)
{
    if (msg && n) {
        size_t len = 0;
        msg[0] = '\0';
        put_fmt(msg, n, &len, "%s." RBAC_GROUP " ", resource);
        put_quoted(msg, n, &len, meta_str(obj, "name") ? meta_str(obj, "name") : "");
        put_fmt(msg, n, &len, " is forbidden: %s", why);
    }
    return 0;
}

int dv_rbac_escalation_check(dv_auth *a, const dv_user *u, const char *resource, const char *ns,
                             const json_t *obj, const json_t *old, char *msg, size_t n)
{
    if (!a || !u || !resource || !obj)
        return forbid_obj(msg, n, resource ? resource : "", obj, "no user or object");
    int is_role = strcmp(resource, "roles") == 0 || strcmp(resource, "clusterroles") == 0;
    int is_binding = strcmp(resource, "rolebindings") == 0 || strcmp(resource, "clusterrolebindings") == 0;
    if (!is_role && !is_binding)
        return 1;
    if (dv_user_in_group(u, "system:masters") || only_gc_fields(obj, old))
        return 1;
    const char *name = meta_str(obj, "name");
    const char *scope = ns && *ns ? ns : NULL;
    char why[2048] = "";
    int ok;
    rbac_eval ev;
    eval_init(&ev, a);
    if (is_role) {
        dv_attributes esc = {.verb = "escalate", .group = RBAC_GROUP, .resource = resource,
                             .name = name, .ns = scope};
        if (rbac_decide(a, u, &esc, NULL, 0)) {
            eval_done(&ev);
            return 1;
        }
        json_t *rules = json_object_get(obj, "rules");
        ok = confirm_no_escalation(&ev, u, scope, rules, why, sizeof why);
        json_t *agg = json_object_get(obj, "aggregationRule");
        if (ok && json_is_object(agg) &&
            !(old && json_equal(agg, json_object_get(old, "aggregationRule")))) {
            /* an aggregationRule can gather anything: it needs full authority */
            json_t *full = json_pack("[{s:[s],s:[s],s:[s]},{s:[s],s:[s]}]", "verbs", "*", "apiGroups",
                                     "*", "resources", "*", "verbs", "*", "nonResourceURLs", "*");
            rbac_eval ev2;
            eval_init(&ev2, a);
            ok = confirm_no_escalation(&ev2, u, scope, full, NULL, 0);
            eval_done(&ev2);
            json_decref(full);
            if (!ok)
                snprintf(why, sizeof why, "must have cluster-admin privileges to use the aggregationRule");
        }
    } else {
        const json_t *ref = json_object_get(obj, "roleRef");
        const char *kind = str_at(ref, "kind");
        dv_attributes bind = {.verb = "bind", .group = str_at(ref, "apiGroup") ? str_at(ref, "apiGroup") : "",
                              .resource = streq(kind, "Role") ? "roles" : "clusterroles",
                              .name = str_at(ref, "name"), .ns = scope};
        if ((streq(kind, "Role") || streq(kind, "ClusterRole")) && rbac_decide(a, u, &bind, NULL, 0)) {
            eval_done(&ev);
            return 1;
        }
        json_t *rules = role_ref_rules(&ev, ref, scope);
        if (!rules) {
            snprintf(why, sizeof why, "%s", json_string_value(json_array_get(ev.errors, 0)));
            ok = 0;
        } else {
            json_array_clear(ev.errors); /* only errors of the owner's own rules count below */
            ok = confirm_no_escalation(&ev, u, scope, rules, why, sizeof why);
            json_decref(rules);
        }
    }
    eval_done(&ev);
    return ok ? 1 : forbid_obj(msg, n, resource, obj, why);
}

/* ---- access reviews ---------------------------------------------------------- */

/* Attributes from spec.resourceAttributes / spec.nonResourceAttributes
 * (borrowed from spec). -1 when neither or both are present. */
static int review_attributes(const json_t *spec, dv_attributes *at)
{
    json_t *ra = json_object_get(spec, "resourceAttributes");
    json_t *na = json_object_get(spec, "nonResourceAttributes");
    memset(at, 0, sizeof *at);
    if (json_is_object(ra) == json_is_object(na))
        return -1;
    if (json_is_object(ra)) {
        at->verb = str_at(ra, "verb");
        at->group = str_at(ra, "group") ? str_at(ra, "group") : "";
        at->resource = str_at(ra, "resource") ? str_at(ra, "resource") : "";
        at->subresource = str_at(ra, "subresource");
        at->name = str_at(ra, "name");
        at->ns = str_at(ra, "namespace");
    } else {
        at->verb = str_at(na, "verb");
        at->path = str_at(na, "path") ? str_at(na, "path") : "";
    }
    if (!at->verb)
        at->verb = "";
    return 0;
}

/* A user exactly as spec.user/uid/groups describe it (no implied groups:
 * SubjectAccessReview asks about that precise identity). */
static int user_from_spec(const json_t *spec, dv_user *u)
{
    memset(u, 0, sizeof *u);
    json_t *groups = json_object_get(spec, "groups");
    const char *user = str_at(spec, "user");
    if ((!user || !*user) && json_array_size(groups) == 0)
        return -1;
    u->name = strdup(user ? user : "");
    u->uid = strdup(str_at(spec, "uid") ? str_at(spec, "uid") : "");
    u->groups = calloc(json_array_size(groups) + 1, sizeof *u->groups);
    if (!u->name || !u->uid || !u->groups) {
        dv_user_clear(u);
        return -1;
    }
    size_t i;
    json_t *g;
    json_array_foreach(groups, i, g) {
        if (json_is_string(g) && !(u->groups[u->ngroups++] = strdup(json_string_value(g)))) {
            dv_user_clear(u);
            return -1;
        }
    }
    return 0;
}

/* A copy of the review with apiVersion/kind/metadata set, for the answer. */
static json_t *review_reply(const json_t *review, const char *kind)
{
    json_t *r = json_deep_copy(review);
    json_object_set_new(r, "apiVersion", json_string("authorization.k8s.io/v1"));
    json_object_set_new(r, "kind", json_string(kind));
    json_t *md = json_object_get(r, "metadata");
    if (!json_is_object(md)) {
        md = json_object();
        json_object_set_new(r, "metadata", md);
    }
    if (!json_object_get(md, "creationTimestamp"))
        json_object_set_new(md, "creationTimestamp", json_null());
    return r;
}

json_t *dv_access_review(dv_auth *a, const dv_user *u, const json_t *review)
{
    if (!a || !json_is_object(review))
        return NULL;
    const char *kind = str_at(review, "kind");
    if (!kind)
        kind = "SelfSubjectAccessReview";
    if (strcmp(kind, "SelfSubjectRulesReview") == 0)
        return dv_rules_review(a, u, review);
    int self = strcmp(kind, "SelfSubjectAccessReview") == 0;
    if (!self && strcmp(kind, "SubjectAccessReview") != 0 &&
        strcmp(kind, "LocalSubjectAccessReview") != 0)
        return NULL;
    json_t *spec = json_object_get(review, "spec");
    dv_attributes at;
    if (!json_is_object(spec) || review_attributes(spec, &at) < 0)
        return NULL;
    if (strcmp(kind, "LocalSubjectAccessReview") == 0) {
        /* Its namespace is the object's; the spec may only repeat it. */
        const char *mns = meta_str(review, "namespace");
        if (!mns || !at.resource || (at.ns && *at.ns && strcmp(at.ns, mns) != 0))
            return NULL;
        at.ns = mns;
    }
    dv_user subject = {0};
    if (!self) {
        if (user_from_spec(spec, &subject) < 0)
            return NULL;
    } else if (!u || dv_user_copy(&subject, u) < 0) {
        return NULL;
    }
    char reason[1100];
    int allowed = rbac_decide(a, &subject, &at, reason, sizeof reason);
    dv_user_clear(&subject);

    json_t *r = review_reply(review, kind);
    if (self) {
        /* The real server does not echo who asked in a self review. */
        json_t *rs = json_object_get(r, "spec");
        json_object_del(rs, "user");
        json_object_del(rs, "groups");
        json_object_del(rs, "uid");
    }
    json_t *status = json_pack("{s:b}", "allowed", allowed);
    if (*reason)
        json_object_set_new(status, "reason", json_string(reason));
    json_object_set_new(r, "status", status);
    return r;
}

static void copy_nonempty(json_t *dst, const json_t *rule, const char *key)
{
    json_t *v = json_object_get(rule, key);
    if (json_array_size(v) > 0)
        json_object_set(dst, key, v);
}

json_t *dv_rules_review(dv_auth *a, const dv_user *u, const json_t *review)
{
    if (!a || !u || !json_is_object(review))
        return NULL;
    json_t *spec = json_object_get(review, "spec");
    if (spec && !json_is_object(spec))
        return NULL;
    const char *ns = str_at(spec, "namespace");
    rbac_eval ev;
    eval_init(&ev, a);
    collect_ctx c = {.rules = json_array()};
    if (dv_user_in_group(u, "system:masters")) {
        json_array_append_new(c.rules, json_pack("{s:[s],s:[s],s:[s]}", "verbs", "*", "apiGroups",
                                                 "*", "resources", "*"));
        json_array_append_new(c.rules, json_pack("{s:[s],s:[s]}", "verbs", "*", "nonResourceURLs", "*"));
    }
    visit_bindings(&ev, u, ns, collect_visit, &c);

    json_t *rr = json_array(), *nr = json_array();
    size_t i;
    json_t *rule;
    json_array_foreach(c.rules, i, rule) {
        json_t *verbs = json_object_get(rule, "verbs");
        if (json_array_size(json_object_get(rule, "resources")) > 0) {
            json_t *o = json_pack("{s:O}", "verbs", json_is_array(verbs) ? verbs : json_array());
            copy_nonempty(o, rule, "apiGroups");
            copy_nonempty(o, rule, "resources");
            copy_nonempty(o, rule, "resourceNames");
            json_array_append_new(rr, o);
        }
        if (json_array_size(json_object_get(rule, "nonResourceURLs")) > 0) {
            json_t *o = json_pack("{s:O}", "verbs", json_is_array(verbs) ? verbs : json_array());
            copy_nonempty(o, rule, "nonResourceURLs");
            json_array_append_new(nr, o);
        }
    }
    json_t *r = review_reply(review, "SelfSubjectRulesReview");
    json_t *status = json_pack("{s:o,s:o,s:b}", "resourceRules", rr, "nonResourceRules", nr,
                               "incomplete", json_array_size(ev.errors) > 0);
    if (json_array_size(ev.errors) > 0) {
        char reason[1100];
        errors_reason(&ev, reason, sizeof reason);
        /* evaluationError is the aggregate without the "RBAC: " prefix */
        json_object_set_new(status, "evaluationError", json_string(reason + 6));
    }
    json_object_set_new(r, "status", status);
    json_decref(c.rules);
    eval_done(&ev);
    return r;
}

/* ---- bootstrap policy ---------------------------------------------------- */

/* The subset of kube-apiserver's bootstrap policy a dev cluster needs. The
 * user-facing admin/edit/view roles are aggregated, as in the real cluster,
 * from system:aggregate-to-* roles (trimmed to the common resources). */
static const char bootstrap_json[] =
    "["
    "{\"kind\":\"ClusterRole\",\"name\":\"cluster-admin\",\"rules\":["
    " {\"apiGroups\":[\"*\"],\"resources\":[\"*\"],\"verbs\":[\"*\"]},"
    " {\"nonResourceURLs\":[\"*\"],\"verbs\":[\"*\"]}]},"
    "{\"kind\":\"ClusterRole\",\"name\":\"system:basic-user\",\"rules\":["
    " {\"apiGroups\":[\"authorization.k8s.io\"],\"resources\":[\"selfsubjectaccessreviews\","
    "\"selfsubjectrulesreviews\"],\"verbs\":[\"create\"]},"
    " {\"apiGroups\":[\"authentication.k8s.io\"],\"resources\":[\"selfsubjectreviews\"],"
    "\"verbs\":[\"create\"]}]},"
    "{\"kind\":\"ClusterRole\",\"name\":\"system:discovery\",\"rules\":["
    " {\"nonResourceURLs\":[\"/api\",\"/api/*\",\"/apis\",\"/apis/*\",\"/healthz\",\"/livez\","
    "\"/openapi\",\"/openapi/*\",\"/readyz\",\"/version\",\"/version/\"],\"verbs\":[\"get\"]}]},"
    "{\"kind\":\"ClusterRole\",\"name\":\"system:public-info-viewer\",\"rules\":["
    " {\"nonResourceURLs\":[\"/healthz\",\"/livez\",\"/readyz\",\"/version\",\"/version/\"],"
    "\"verbs\":[\"get\"]}]},"
    "{\"kind\":\"ClusterRole\",\"name\":\"system:service-account-issuer-discovery\",\"rules\":["
    " {\"nonResourceURLs\":[\"/.well-known/openid-configuration\",\"/.well-known/openid-configuration/\","
    "\"/openid/v1/jwks\",\"/openid/v1/jwks/\"],\"verbs\":[\"get\"]}]},"
    /* served or not, ServiceAccounts may read these (what can-i --list shows) */
    "{\"kind\":\"ClusterRole\",\"name\":\"system:cluster-trust-bundle-discovery\",\"rules\":["
    " {\"apiGroups\":[\"certificates.k8s.io\"],\"resources\":[\"clustertrustbundles\"],"
    "\"verbs\":[\"get\",\"list\",\"watch\"]}]},"
    "{\"kind\":\"ClusterRole\",\"name\":\"admin\",\"aggregate\":\"admin\"},"
    "{\"kind\":\"ClusterRole\",\"name\":\"edit\",\"aggregate\":\"edit\",\"to\":\"admin\"},"
    "{\"kind\":\"ClusterRole\",\"name\":\"view\",\"aggregate\":\"view\",\"to\":\"edit\"},"
    "{\"kind\":\"ClusterRole\",\"name\":\"system:aggregate-to-admin\",\"to\":\"admin\",\"rules\":["
    " {\"apiGroups\":[\"rbac.authorization.k8s.io\"],\"resources\":[\"roles\",\"rolebindings\"],"
    "\"verbs\":[\"create\",\"delete\",\"deletecollection\",\"get\",\"list\",\"patch\",\"update\",\"watch\"]},"
    " {\"apiGroups\":[\"authorization.k8s.io\"],\"resources\":[\"localsubjectaccessreviews\"],"
    "\"verbs\":[\"create\"]}]},"
    "{\"kind\":\"ClusterRole\",\"name\":\"system:aggregate-to-edit\",\"to\":\"edit\",\"rules\":["
    " {\"apiGroups\":[\"\"],\"resources\":[\"pods\",\"pods/attach\",\"pods/exec\",\"pods/portforward\","
    "\"pods/proxy\",\"configmaps\",\"endpoints\",\"persistentvolumeclaims\",\"replicationcontrollers\","
    "\"secrets\",\"serviceaccounts\",\"services\",\"services/proxy\"],\"verbs\":[\"create\",\"delete\","
    "\"deletecollection\",\"patch\",\"update\"]},"
    " {\"apiGroups\":[\"\"],\"resources\":[\"serviceaccounts\"],\"verbs\":[\"impersonate\"]},"
    " {\"apiGroups\":[\"\"],\"resources\":[\"serviceaccounts/token\"],\"verbs\":[\"create\"]},"
    " {\"apiGroups\":[\"apps\"],\"resources\":[\"daemonsets\",\"deployments\",\"deployments/rollback\","
    "\"deployments/scale\",\"replicasets\",\"replicasets/scale\",\"statefulsets\",\"statefulsets/scale\"],"
    "\"verbs\":[\"create\",\"delete\",\"deletecollection\",\"patch\",\"update\"]},"
    " {\"apiGroups\":[\"batch\"],\"resources\":[\"cronjobs\",\"jobs\"],\"verbs\":[\"create\",\"delete\","
    "\"deletecollection\",\"patch\",\"update\"]},"
    " {\"apiGroups\":[\"networking.k8s.io\"],\"resources\":[\"ingresses\",\"networkpolicies\"],"
    "\"verbs\":[\"create\",\"delete\",\"deletecollection\",\"patch\",\"update\"]},"
    " {\"apiGroups\":[\"coordination.k8s.io\"],\"resources\":[\"leases\"],\"verbs\":[\"create\","
    "\"delete\",\"deletecollection\",\"get\",\"list\",\"patch\",\"update\",\"watch\"]}]},"
    "{\"kind\":\"ClusterRole\",\"name\":\"system:aggregate-to-view\",\"to\":\"view\",\"rules\":["
    " {\"apiGroups\":[\"\"],\"resources\":[\"configmaps\",\"endpoints\",\"persistentvolumeclaims\","
    "\"persistentvolumeclaims/status\",\"pods\",\"replicationcontrollers\",\"replicationcontrollers/scale\","
    "\"serviceaccounts\",\"services\",\"services/status\"],\"verbs\":[\"get\",\"list\",\"watch\"]},"
    " {\"apiGroups\":[\"\"],\"resources\":[\"bindings\",\"events\",\"limitranges\",\"namespaces/status\","
    "\"pods/log\",\"pods/status\",\"replicationcontrollers/status\",\"resourcequotas\","
    "\"resourcequotas/status\"],\"verbs\":[\"get\",\"list\",\"watch\"]},"
    " {\"apiGroups\":[\"\"],\"resources\":[\"namespaces\"],\"verbs\":[\"get\",\"list\",\"watch\"]},"
    " {\"apiGroups\":[\"apps\"],\"resources\":[\"controllerrevisions\",\"daemonsets\",\"daemonsets/status\","
    "\"deployments\",\"deployments/scale\",\"deployments/status\",\"replicasets\",\"replicasets/scale\","
    "\"replicasets/status\",\"statefulsets\",\"statefulsets/scale\",\"statefulsets/status\"],"
    "\"verbs\":[\"get\",\"list\",\"watch\"]},"
    " {\"apiGroups\":[\"batch\"],\"resources\":[\"cronjobs\",\"cronjobs/status\",\"jobs\",\"jobs/status\"],"
    "\"verbs\":[\"get\",\"list\",\"watch\"]},"
    " {\"apiGroups\":[\"networking.k8s.io\"],\"resources\":[\"ingresses\",\"ingresses/status\","
    "\"networkpolicies\"],\"verbs\":[\"get\",\"list\",\"watch\"]}]},"
    "{\"kind\":\"ClusterRoleBinding\",\"name\":\"cluster-admin\",\"role\":\"cluster-admin\","
    "\"groups\":[\"system:masters\"]},"
    "{\"kind\":\"ClusterRoleBinding\",\"name\":\"system:basic-user\",\"role\":\"system:basic-user\","
    "\"groups\":[\"system:authenticated\"]},"
    "{\"kind\":\"ClusterRoleBinding\",\"name\":\"system:discovery\",\"role\":\"system:discovery\","
    "\"groups\":[\"system:authenticated\"]},"
    "{\"kind\":\"ClusterRoleBinding\",\"name\":\"system:public-info-viewer\","
    "\"role\":\"system:public-info-viewer\",\"groups\":[\"system:authenticated\","
    "\"system:unauthenticated\"]},"
    "{\"kind\":\"ClusterRoleBinding\",\"name\":\"system:service-account-issuer-discovery\","
    "\"role\":\"system:service-account-issuer-discovery\",\"groups\":[\"system:serviceaccounts\"]},"
    "{\"kind\":\"ClusterRoleBinding\",\"name\":\"system:cluster-trust-bundle-discovery\","
    "\"role\":\"system:cluster-trust-bundle-discovery\",\"groups\":[\"system:serviceaccounts\"]}"
    "]";

/* Expand one compact entry of bootstrap_json into a real object. */
static json_t *bootstrap_object(const json_t *e)
{
    const char *kind = str_at(e, "kind"), *name = str_at(e, "name");
    json_t *md = json_pack("{s:s,s:{s:s},s:{s:s}}", "name", name, "labels",
                           "kubernetes.io/bootstrapping", "rbac-defaults", "annotations",
                           "rbac.authorization.kubernetes.io/autoupdate", "true");
    json_t *o = json_pack("{s:s,s:s,s:o}", "apiVersion", RBAC_GROUP "/v1", "kind", kind,
                          "metadata", md);
    char label[128];
    if (str_at(e, "to")) {
        snprintf(label, sizeof label, "rbac.authorization.k8s.io/aggregate-to-%s", str_at(e, "to"));
        json_object_set_new(json_object_get(md, "labels"), label, json_string("true"));
    }
    if (strcmp(kind, "ClusterRole") == 0) {
        if (str_at(e, "aggregate")) {
            snprintf(label, sizeof label, "rbac.authorization.k8s.io/aggregate-to-%s",
                     str_at(e, "aggregate"));
            json_object_set_new(o, "aggregationRule",
                                json_pack("{s:[{s:{s:s}}]}", "clusterRoleSelectors", "matchLabels",
                                          label, "true"));
            json_object_set_new(o, "rules", json_array());
        } else {
            json_object_set(o, "rules", json_object_get(e, "rules"));
        }
    } else {
        json_object_set_new(o, "roleRef", json_pack("{s:s,s:s,s:s}", "apiGroup", RBAC_GROUP, "kind",
                                                    "ClusterRole", "name", str_at(e, "role")));
        json_t *subjects = json_array();
        size_t i;
        json_t *g;
        json_array_foreach(json_object_get(e, "groups"), i, g)
            json_array_append_new(subjects, json_pack("{s:s,s:s,s:O}", "apiGroup", RBAC_GROUP, "kind",
                                                      "Group", "name", g));
        json_object_set_new(o, "subjects", subjects);
    }
    return o;
}

json_t *dv_rbac_bootstrap_policy(void)
{
    json_t *spec = json_loads(bootstrap_json, 0, NULL);
    json_t *out = json_array();
    size_t i;
    json_t *e;
    json_array_foreach(spec, i, e) {
        const char *kind = str_at(e, "kind");
        json_array_append_new(out, json_pack("{s:s,s:s,s:o}", "group", RBAC_GROUP, "resource",
                                             strcmp(kind, "ClusterRole") == 0 ? "clusterroles"
                                                                              : "clusterrolebindings",
                                             "object", bootstrap_object(e)));
    }
    json_decref(spec);
    return out;
}
