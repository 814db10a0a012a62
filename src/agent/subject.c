/*
 * subject.c - policy subjects and their matching against an authenticated
 * identity (see subject.h).
 *
 * Every subject is reduced at parse time to the one string the API server
 * would put in userInfo (a ServiceAccount becomes its full username), so
 * matching is string equality and the polset index can key on the same
 * strings.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/subject.h"
#include "util/json.h"

#define SA_PREFIX "system:serviceaccount:"

typedef struct {
    pb_subj_kind kind;
    char *name;
    char *key;
} subj;

struct pb_subj_list {
    subj *v;
    size_t n;
};

static const char *const KIND_NAMES[] = {"ServiceAccount", "User", "Group"};

const char *pb_subj_kind_name(pb_subj_kind k) { return (unsigned)k < 3 ? KIND_NAMES[k] : "?"; }

int pb_subj_user_anonymous(const pb_subj_user *u)
{
    if (!u || !u->username || !*u->username || strcmp(u->username, "system:anonymous") == 0)
        return 1;
    for (size_t i = 0; i < u->n_groups && i < PB_SUBJ_MAX_GROUPS; i++)
        if (u->groups[i] && strcmp(u->groups[i], "system:unauthenticated") == 0)
            return 1;
    return 0;
}

int pb_subj_same_principal(const pb_subj_user *a, const pb_subj_user *b)
{
    if (!a || !b)
        return 1; /* unknown: treat as the same, which refuses an approval */
    if (a->username && b->username && strcmp(a->username, b->username) == 0)
        return 1;
    return a->uid && b->uid && *a->uid && strcmp(a->uid, b->uid) == 0;
}

int pb_subj_user_from_json(const json_t *ui, pb_subj_user *u, pb_err *e)
{
    memset(u, 0, sizeof *u);
    if (!json_is_object(ui))
        return pb_err_set(e, PB_EINVAL, "userInfo: expected an object, got %s", pb_json_type_name(ui));
    json_t *un = json_object_get(ui, "username"), *uid = json_object_get(ui, "uid"),
           *gs = json_object_get(ui, "groups");
    if (!json_is_string(un) || !*json_string_value(un))
        return pb_err_set(e, PB_EINVAL, "userInfo.username: expected a non-empty string");
    if (uid && !json_is_null(uid) && !json_is_string(uid))
        return pb_err_set(e, PB_EINVAL, "userInfo.uid: expected a string");
    if (gs && !json_is_null(gs) && !json_is_array(gs))
        return pb_err_set(e, PB_EINVAL, "userInfo.groups: expected a list of strings");
    if (json_array_size(gs) > PB_SUBJ_MAX_GROUPS)
        return pb_err_set(e, PB_EINVAL, "userInfo.groups: %zu groups, more than the %d this engine evaluates",
                          json_array_size(gs), PB_SUBJ_MAX_GROUPS);
    for (size_t i = 0; i < json_array_size(gs); i++) {
        json_t *g = json_array_get(gs, i);
        if (!json_is_string(g)) {
            memset(u, 0, sizeof *u);
            return pb_err_set(e, PB_EINVAL, "userInfo.groups[%zu]: expected a string", i);
        }
        u->groups[u->n_groups++] = json_string_value(g);
    }
    u->username = json_string_value(un);
    u->uid = json_is_string(uid) ? json_string_value(uid) : NULL;
    return 0;
}

/* DNS-1123: a label (namespaces, max 63) or a subdomain (names, max 253). */
static int dns_ok(const char *s, size_t max, int dots)
{
    size_t n = strlen(s);
    if (n == 0 || n > max)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        int alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
        if (!alnum && !(c == '-' || (dots && c == '.')))
            return 0;
        if (!alnum && (i == 0 || i == n - 1))
            return 0;
    }
    return 1;
}

static int printable_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 253)
        return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return 0;
    return 1;
}


void pb_subj_list_free(pb_subj_list *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < l->n; i++) {
        free(l->v[i].name);
        free(l->v[i].key);
    }
    free(l->v);
    free(l);
}

static int add(pb_subj_list *l, pb_subj_kind k, const char *name, const char *ns, pb_err *e)
{
    subj *s = &l->v[l->n];
    s->kind = k;
    s->name = strdup(name);
    if (k == PB_SUBJ_SERVICEACCOUNT) {
        size_t n = strlen(SA_PREFIX) + strlen(ns) + strlen(name) + 2;
        s->key = malloc(n);
        if (s->key)
            snprintf(s->key, n, SA_PREFIX "%s:%s", ns, name);
    } else {
        s->key = strdup(name);
    }
    l->n++;
    return s->name && s->key ? 0 : pb_err_set(e, PB_ENOMEM, "out of memory");
}

int pb_subj_list_one_sa(const char *ns, const char *name, pb_subj_list **out, pb_err *e)
{
    *out = NULL;
    if (!ns || !dns_ok(ns, 63, 0) || !name || !dns_ok(name, 253, 1))
        return pb_err_set(e, PB_EINVAL, "default subject: invalid namespace or name");
    pb_subj_list *l = calloc(1, sizeof *l);
    if (!l || !(l->v = calloc(1, sizeof *l->v))) {
        free(l);
        return pb_err_set(e, PB_ENOMEM, "out of memory");
    }
    int rc = add(l, PB_SUBJ_SERVICEACCOUNT, name, ns, e);
    if (rc) {
        pb_subj_list_free(l);
        return rc;
    }
    *out = l;
    return 0;
}

int pb_subj_list_parse(const json_t *arr, const char *ns, const char *path, pb_subj_list **out, pb_err *e)
{
    *out = NULL;
    if (arr && !json_is_null(arr) && !json_is_array(arr))
        return pb_err_set(e, PB_EINVAL, "%s: expected a list of subjects, got %s", path, pb_json_type_name(arr));
    size_t n = json_array_size(arr);
    if (n > PB_SUBJ_MAX)
        return pb_err_set(e, PB_EINVAL, "%s: %zu subjects, at most %d", path, n, PB_SUBJ_MAX);
    pb_subj_list *l = calloc(1, sizeof *l);
    if (!l || !(l->v = calloc(n ? n : 1, sizeof *l->v))) {
        free(l);
        return pb_err_set(e, PB_ENOMEM, "out of memory");
    }
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        json_t *o = json_array_get(arr, i);
        if (!json_is_object(o)) {
            rc = pb_err_set(e, PB_EINVAL, "%s[%zu]: expected an object {kind, name}, got %s", path, i,
                            pb_json_type_name(o));
            break;
        }
        const char *key;
        json_t *v;
        json_object_foreach(o, key, v)
        {
            if (strcmp(key, "kind") && strcmp(key, "name") && strcmp(key, "namespace")) {
                rc = pb_err_set(e, PB_EINVAL, "%s[%zu]: unknown field \"%.64s\" (allowed: kind, name, namespace)",
                                path, i, key);
                break;
            }
        }
        if (rc)
            break;
        json_t *jk = json_object_get(o, "kind"), *jn = json_object_get(o, "name"),
               *jns = json_object_get(o, "namespace");
        const char *kind = json_string_value(jk), *name = json_string_value(jn);
        pb_subj_kind k;
        if (kind && strcmp(kind, "ServiceAccount") == 0)
            k = PB_SUBJ_SERVICEACCOUNT;
        else if (kind && strcmp(kind, "User") == 0)
            k = PB_SUBJ_USER;
        else if (kind && strcmp(kind, "Group") == 0)
            k = PB_SUBJ_GROUP;
        else {
            rc = pb_err_set(e, PB_EINVAL, "%s[%zu].kind: expected ServiceAccount, User or Group", path, i);
            break;
        }
        if (!name) {
            rc = pb_err_set(e, PB_EINVAL, "%s[%zu].name: expected a string", path, i);
            break;
        }
        if (jns && !json_is_null(jns) && !json_is_string(jns)) {
            rc = pb_err_set(e, PB_EINVAL, "%s[%zu].namespace: expected a string", path, i);
            break;
        }
        const char *sns = json_string_value(jns);
        if (k == PB_SUBJ_SERVICEACCOUNT) {
            if (!sns || !*sns)
                sns = ns;
            if (!sns) {
                rc = pb_err_set(e, PB_EINVAL, "%s[%zu].namespace: required for a ServiceAccount", path, i);
                break;
            }
            if (!dns_ok(sns, 63, 0) || !dns_ok(name, 253, 1)) {
                rc = pb_err_set(e, PB_EINVAL,
                                "%s[%zu]: \"%.64s\" in namespace \"%.64s\" is not a valid ServiceAccount "
                                "(lower-case DNS names)",
                                path, i, name, sns);
                break;
            }
        } else {
            if (sns && *sns) {
                rc = pb_err_set(e, PB_EINVAL, "%s[%zu].namespace: only ServiceAccount subjects have one", path, i);
                break;
            }
            if (!printable_ok(name)) {
                rc = pb_err_set(e, PB_EINVAL, "%s[%zu].name: 1 to 253 printable characters", path, i);
                break;
            }
        }
        rc = add(l, k, name, sns, e);
    }
    if (rc) {
        pb_subj_list_free(l);
        return rc;
    }
    *out = l;
    return 0;
}

int pb_subj_match(const pb_subj_list *l, const pb_subj_user *u)
{
    if (!l || pb_subj_user_anonymous(u))
        return 0;
    for (size_t i = 0; i < l->n; i++) {
        const subj *s = &l->v[i];
        if (s->kind != PB_SUBJ_GROUP) {
            if (strcmp(s->key, u->username) == 0)
                return 1;
            continue;
        }
        for (size_t g = 0; g < u->n_groups && g < PB_SUBJ_MAX_GROUPS; g++)
            if (u->groups[g] && strcmp(s->key, u->groups[g]) == 0)
                return 1;
    }
    return 0;
}

size_t pb_subj_count(const pb_subj_list *l) { return l ? l->n : 0; }

pb_subj_kind pb_subj_kind_at(const pb_subj_list *l, size_t i)
{
    return l && i < l->n ? l->v[i].kind : PB_SUBJ_USER;
}

const char *pb_subj_name_at(const pb_subj_list *l, size_t i) { return l && i < l->n ? l->v[i].name : NULL; }

const char *pb_subj_key_at(const pb_subj_list *l, size_t i, int *is_group)
{
    if (!l || i >= l->n)
        return NULL;
    if (is_group)
        *is_group = l->v[i].kind == PB_SUBJ_GROUP;
    return l->v[i].key;
}
