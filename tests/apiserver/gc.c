/*
 * gc.c - what kube-controller-manager's garbage collector and namespace
 * controller would do, run synchronously after every write and on each tick:
 *   - dependents whose owners are all gone are deleted (background policy);
 *     references to vanished owners are dropped when other owners remain;
 *   - owners deleted with "orphan" lose the finalizer once dependents no
 *     longer reference them; with "foregroundDeletion" their dependents are
 *     deleted and the finalizer goes when no blocking dependent is left;
 *   - a terminating namespace has its contents deleted, then its
 *     "kubernetes" finalizer removed and the namespace itself.
 * Each pass works on a snapshot and repeats until nothing changes (bounded).
 *
 * A pass reads the whole store, so it only runs when a write may have given
 * it work (note_event): the store is a GC fixpoint after a run, and only
 * these writes can break that: setting or carrying deletionTimestamp;
 * deleting an object that others reference; adding or removing an owner
 * reference to an owner that is missing or being deleted. While anything is
 * being deleted (namespaces, CRDs, finalizers) every write counts, since
 * e.g. an object created in a terminating namespace must go. Two indexes
 * kept from the store's events answer those questions per write: uid ->
 * where the object is, and uid -> how many owner references point at it.
 */
#include "handlers_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *mds(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(json_object_get(o, "metadata"), k));
}

static int has_fin(const json_t *o, const char *f)
{
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(json_object_get(o, "metadata"), "finalizers"), i, v)
        if (!strcmp(json_string_value(v), f))
            return 1;
    return 0;
}

static const dv_rtype *rtype_of(dv_api *api, const json_t *rec)
{
    return dv_registry_find_any(api->reg, json_string_value(json_object_get(rec, "group")),
                                json_string_value(json_object_get(rec, "resource")));
}

/* Write obj minus finalizer f (deletes it when that was the last one). */
static void drop_finalizer(dv_api *api, const dv_rtype *rt, const json_t *o, const char *f)
{
    json_t *c = json_deep_copy(o);
    json_t *fins = json_object_get(json_object_get(c, "metadata"), "finalizers");
    for (size_t i = json_array_size(fins); i-- > 0;)
        if (!strcmp(json_string_value(json_array_get(fins, i)), f))
            json_array_remove(fins, i);
    dv_store_or_finalize(api, rt, c);
}

/* Namespace conditions describing what still blocks termination, as the
 * namespace controller writes them. Returns 1 when the namespace changed. */
static int report_remaining(dv_api *api, const dv_rtype *rt, const json_t *ns, const json_t *all)
{
    const char *name = mds(ns, "name");
    json_t *counts = json_object(), *fins = json_object();
    size_t k;
    json_t *rec;
    json_array_foreach(all, k, rec) {
        json_t *o = json_object_get(rec, "object");
        const char *ons = mds(o, "namespace");
        if (!ons || strcmp(ons, name))
            continue;
        const char *g = json_string_value(json_object_get(rec, "group"));
        char key[300];
        snprintf(key, sizeof(key), "%s.%s", json_string_value(json_object_get(rec, "resource")), g ? g : "");
        json_object_set_new(counts, key, json_integer(json_integer_value(json_object_get(counts, key)) + 1));
        size_t j;
        json_t *f;
        json_array_foreach(json_object_get(json_object_get(o, "metadata"), "finalizers"), j, f)
            json_object_set_new(fins, json_string_value(f),
                                json_integer(json_integer_value(json_object_get(fins, json_string_value(f))) + 1));
    }
    char content[1024] = "Some resources are remaining: ", finmsg[1024] = "Some content in the namespace has finalizers remaining: ";
    const char *key;
    json_t *v;
    int first = 1;
    json_object_foreach(counts, key, v) {
        size_t off = strlen(content);
        snprintf(content + off, sizeof(content) - off, "%s%s has %lld resource instances", first ? "" : ", ", key,
                 (long long)json_integer_value(v));
        first = 0;
    }
    first = 1;
    json_object_foreach(fins, key, v) {
        size_t off = strlen(finmsg);
        snprintf(finmsg + off, sizeof(finmsg) - off, "%s%s in %lld resource instances", first ? "" : ", ", key,
                 (long long)json_integer_value(v));
        first = 0;
    }
    json_t *conds = json_array();
    json_array_append_new(conds, json_pack("{s:s,s:s,s:s,s:s}", "type", "NamespaceContentRemaining", "status",
                                           "True", "reason", "SomeResourcesRemain", "message", content));
    if (json_object_size(fins))
        json_array_append_new(conds, json_pack("{s:s,s:s,s:s,s:s}", "type", "NamespaceFinalizersRemaining", "status",
                                               "True", "reason", "SomeFinalizersRemain", "message", finmsg));
    json_decref(counts);
    json_decref(fins);
    json_t *status = json_object_get(ns, "status");
    /* Compare without timestamps so an unchanged situation writes nothing. */
    int same = json_equal(json_object_get(status, "conditions"), conds);
    if (same) {
        json_decref(conds);
        return 0;
    }
    json_t *c = json_deep_copy(ns);
    json_t *st = json_object_get(c, "status");
    if (!json_is_object(st)) {
        st = json_object();
        json_object_set_new(c, "status", st);
    }
    json_object_set_new(st, "conditions", conds);
    dv_store_or_finalize(api, rt, c);
    return 1;
}

/* One pass; *terminating: objects with a deletionTimestamp (exact only when
 * the pass changed nothing, since it stops at the first change). */
static int one_pass(dv_api *api, int *terminating)
{
    json_t *all = dv_store_all(api->store);
    json_t *uids = json_object(); /* uid -> record */
    size_t i;
    json_t *rec;
    json_array_foreach(all, i, rec) {
        const char *uid = mds(json_object_get(rec, "object"), "uid");
        if (uid)
            json_object_set(uids, uid, rec);
    }
    int changed = 0;
    *terminating = 0;
    json_array_foreach(all, i, rec) {
        const json_t *o = json_object_get(rec, "object");
        if (mds(o, "deletionTimestamp"))
            (*terminating)++;
        const dv_rtype *rt = rtype_of(api, rec);
        if (!rt)
            continue;
        const char *ns = mds(o, "namespace");
        /* Dependents. */
        json_t *refs = json_object_get(json_object_get(o, "metadata"), "ownerReferences");
        if (json_array_size(refs)) {
            json_t *keep = json_array();
            int alive = 0, orphaned = 0, foreground_owner = 0;
            size_t j;
            json_t *ref;
            json_array_foreach(refs, j, ref) {
                const char *ouid = json_string_value(json_object_get(ref, "uid"));
                json_t *owner = ouid ? json_object_get(json_object_get(uids, ouid), "object") : NULL;
                if (!owner)
                    continue;
                if (mds(owner, "deletionTimestamp") && has_fin(owner, "orphan")) {
                    orphaned++;
                    continue;
                }
                if (mds(owner, "deletionTimestamp") && has_fin(owner, "foregroundDeletion"))
                    foreground_owner = 1;
                json_array_append(keep, ref);
                alive++;
            }
            int deleting = mds(o, "deletionTimestamp") != NULL;
            if (!alive && !orphaned && !deleting) {
                dv_delete_object(api, rt, ns, mds(o, "name"), "Background");
                changed = 1;
            } else if (foreground_owner && !mds(o, "deletionTimestamp")) {
                dv_delete_object(api, rt, ns, mds(o, "name"), "Foreground");
                changed = 1;
            } else if ((alive || orphaned) && json_array_size(keep) != json_array_size(refs)) {
                json_t *c = json_deep_copy(o);
                if (json_array_size(keep))
                    json_object_set(json_object_get(c, "metadata"), "ownerReferences", keep);
                else /* Go clients omit empty lists: so does the real server */
                    json_object_del(json_object_get(c, "metadata"), "ownerReferences");
                dv_store_or_finalize(api, rt, c);
                changed = 1;
            }
            json_decref(keep);
            if (changed)
                break; /* the snapshot is stale now */
        }
        if (!mds(o, "deletionTimestamp"))
            continue;
        const char *uid = mds(o, "uid");
        /* Owners waiting on dependents. */
        if (has_fin(o, "orphan") || has_fin(o, "foregroundDeletion")) {
            int referenced = 0, blocking = 0;
            size_t k;
            json_t *other;
            json_array_foreach(all, k, other) {
                json_t *oo = json_object_get(other, "object");
                size_t j;
                json_t *ref;
                json_array_foreach(json_object_get(json_object_get(oo, "metadata"), "ownerReferences"), j, ref) {
                    if (strcmp(json_string_value(json_object_get(ref, "uid")) ? json_string_value(json_object_get(ref, "uid")) : "", uid ? uid : ""))
                        continue;
                    referenced = 1;
                    blocking |= json_is_true(json_object_get(ref, "blockOwnerDeletion"));
                }
            }
            if (has_fin(o, "orphan") && !referenced) {
                drop_finalizer(api, rt, o, "orphan");
                changed = 1;
                break;
            }
            if (has_fin(o, "foregroundDeletion") && !has_fin(o, "orphan") && !blocking) {
                drop_finalizer(api, rt, o, "foregroundDeletion");
                changed = 1;
                break;
            }
        }
        /* Terminating CRDs: delete their objects (finalizers honoured),
         * then let the CRD go. */
        if (!strcmp(rt->plural, "customresourcedefinitions") && has_fin(o, DV_CRD_CLEANUP_FINALIZER)) {
            json_t *spec = json_object_get(o, "spec");
            const char *g = json_string_value(json_object_get(spec, "group"));
            const char *p = json_string_value(json_object_get(json_object_get(spec, "names"), "plural"));
            const dv_rtype *crt = g && p ? dv_registry_find_any(api->reg, g, p) : NULL;
            json_t *items = crt ? dv_store_list(api->store, g, p, NULL) : json_array();
            size_t k;
            json_t *item;
            json_array_foreach(items, k, item) {
                if (!mds(item, "deletionTimestamp")) {
                    dv_delete_object(api, crt, mds(item, "namespace"), mds(item, "name"), "Background");
                    changed = 1;
                }
            }
            if (!json_array_size(items)) {
                drop_finalizer(api, rt, o, DV_CRD_CLEANUP_FINALIZER);
                changed = 1;
            }
            json_decref(items);
            if (changed)
                break;
        }
        /* Terminating namespaces. */
        if (!*rt->group && !strcmp(rt->plural, "namespaces")) {
            const char *name = mds(o, "name");
            int remaining = 0;
            size_t k;
            json_t *other;
            json_array_foreach(all, k, other) {
                json_t *oo = json_object_get(other, "object");
                const char *ons = mds(oo, "namespace");
                if (!ons || strcmp(ons, name))
                    continue;
                remaining++;
                if (!mds(oo, "deletionTimestamp")) {
                    const dv_rtype *ort = rtype_of(api, other);
                    if (ort) {
                        dv_delete_object(api, ort, ons, mds(oo, "name"), "Background");
                        changed = 1;
                    }
                }
            }
            if (changed)
                break;
            if (remaining && report_remaining(api, rt, o, all)) {
                changed = 1;
                break;
            }
            if (!remaining) {
                json_t *c = json_deep_copy(o);
                json_t *spec = json_object_get(c, "spec");
                if (json_is_object(spec))
                    json_object_set_new(spec, "finalizers", json_array());
                dv_store_or_finalize(api, rt, c);
                changed = 1;
                break;
            }
        }
    }
    json_decref(uids);
    json_decref(all);
    return changed;
}

void dv_gc_run(dv_api *api)
{
    int terminating = 1, i;
    for (i = 0; i < 1000 && one_pass(api, &terminating); i++)
        ;
    api->gc_terminating = terminating > 0;
    api->gc_pending = i == 1000; /* cut off at the bound: not a fixpoint yet */
}

void dv_gc_run_if_pending(dv_api *api)
{
    if (api->gc_pending)
        dv_gc_run(api);
}

static const json_t *owner_refs(const json_t *o)
{
    return o ? json_object_get(json_object_get(o, "metadata"), "ownerReferences") : NULL;
}

static const char *ref_uid(const json_t *ref) { return json_string_value(json_object_get(ref, "uid")); }

static void count_refs(dv_api *api, const json_t *refs, int delta)
{
    size_t i;
    json_t *ref;
    json_array_foreach(refs, i, ref) {
        const char *uid = ref_uid(ref);
        if (!uid)
            continue;
        json_int_t n = json_integer_value(json_object_get(api->gc_refs, uid)) + delta;
        if (n > 0)
            json_object_set_new(api->gc_refs, uid, json_integer(n));
        else
            json_object_del(api->gc_refs, uid);
    }
}

/* Where an object is, as one string "group\0resource\0ns\0name": an
 * array of four strings costs ~4x that (~450 bytes) for every object. */
static void index_object(dv_api *api, const char *group, const char *resource, const char *ns, const json_t *o)
{
    const char *uid = mds(o, "uid"), *name = mds(o, "name");
    if (uid && name) {
        ns = ns ? ns : "";
        size_t lg = strlen(group), lr = strlen(resource), ln = strlen(ns), n = lg + lr + ln + strlen(name) + 3;
        char buf[512], *at = n + 1 <= sizeof(buf) ? buf : malloc(n + 1); /* (RBAC names have no length limit) */
        snprintf(at, n + 1, "%s%c%s%c%s%c%s", group, 0, resource, 0, ns, 0, name);
        json_object_set_new(api->gc_uids, uid, json_stringn(at, n));
        if (at != buf)
            free(at);
    }
    count_refs(api, owner_refs(o), 1);
}

/* The object with this uid exists and is not being deleted. */
static int owner_alive(dv_api *api, const char *uid)
{
    const char *group = uid ? json_string_value(json_object_get(api->gc_uids, uid)) : NULL;
    if (!group)
        return 0;
    const char *resource = group + strlen(group) + 1, *ns = resource + strlen(resource) + 1;
    const json_t *o = dv_store_get(api->store, group, resource, ns, ns + strlen(ns) + 1);
    return o && !mds(o, "deletionTimestamp");
}

/* Some reference names an owner that is gone or going: GC has to look. */
static int refs_need_gc(dv_api *api, const json_t *refs)
{
    size_t i;
    json_t *ref;
    json_array_foreach(refs, i, ref)
        if (!owner_alive(api, ref_uid(ref)))
            return 1;
    return 0;
}

static void note_event(void *ud, const dv_event *ev)
{
    dv_api *api = ud;
    const json_t *now = ev->type == DV_EV_DELETED ? NULL : owner_refs(ev->obj), *before = owner_refs(ev->prev);
    int refs_changed = json_array_size(now) || json_array_size(before) ? !json_equal(now, before) : 0;
    /* Indexes first: the checks below see the store after the write. */
    if (ev->type == DV_EV_DELETED) {
        const char *uid = mds(ev->prev, "uid");
        if (uid)
            json_object_del(api->gc_uids, uid);
        count_refs(api, before, -1);
    } else if (!ev->prev || refs_changed) {
        count_refs(api, before, -1);
        index_object(api, ev->group, ev->resource, ev->ns, ev->obj);
    }
    if (api->gc_pending)
        return;
    if (api->gc_terminating || mds(ev->obj, "deletionTimestamp") || (ev->prev && mds(ev->prev, "deletionTimestamp")))
        api->gc_pending = 1;
    else if (ev->type == DV_EV_DELETED)
        api->gc_pending = (mds(ev->prev, "uid") && json_object_get(api->gc_refs, mds(ev->prev, "uid"))) ||
                          refs_need_gc(api, before);
    else if (refs_changed)
        api->gc_pending = refs_need_gc(api, now) || refs_need_gc(api, before);
}

static void index_each(void *ud, const char *group, const char *resource, const char *ns, const json_t *o)
{
    (void)ns; /* as the events index it: the object's own metadata.namespace */
    index_object(ud, group, resource, mds(o, "namespace"), o);
}

void dv_gc_init(dv_api *api)
{
    api->gc_uids = json_object();
    api->gc_refs = json_object();
    /* One object decoded at a time: a replayed store is text (store.c). */
    dv_store_each(api->store, index_each, api);
    api->gc_pending = 1; /* the replayed store may hold work */
    api->gc_sub = dv_store_subscribe(api->store, note_event, api);
}

void dv_gc_free(dv_api *api)
{
    json_decref(api->gc_uids);
    json_decref(api->gc_refs);
}
