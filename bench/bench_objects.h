/*
 * bench_objects.h - the ConfigMap-like object the informer and watch
 * benchmarks feed through the cache, so both measure the same thing.
 *
 * Header-only (static functions): each bench is one .c file and the bench
 * build links nothing but paybill_core.
 */
#ifndef PAYBILL_BENCH_OBJECTS_H
#define PAYBILL_BENCH_OBJECTS_H

#include <stdio.h>
#include <string.h>

#define LAST_APPLIED "kubectl.kubernetes.io/last-applied-configuration"

/* Object i at resourceVersion rv as compact JSON, the way the API server
 * serves a small ConfigMap created with `kubectl apply`: managedFields and
 * the last-applied annotation (the manifest again, escaped) included.
 * Written with snprintf rather than jansson so building the text leaves no
 * jansson garbage in the heap. Writes into the caller's buf; returns the
 * length, or -1 if n is too small. */
static int object_text(int i, long rv, char *buf, size_t n)
{
    char name[32], ns[32], uid[48], ts[32], db[96], conns[16], applied[1024], esc[1280];
    snprintf(name, sizeof name, "app-config-%06d", i);
    snprintf(ns, sizeof ns, "tenant-%03d", i % 100);
    snprintf(uid, sizeof uid, "%08x-1f2e-4d3c-9b8a-%012x", (unsigned)i * 2654435761u, (unsigned)i);
    snprintf(ts, sizeof ts, "2026-11-25T01:%02d:%02dZ", (i / 60) % 60, i % 60);
    snprintf(db, sizeof db, "postgres://%s.db.paybill.svc:5432/app?sslmode=require", ns);
    snprintf(conns, sizeof conns, "%d", 10 + i % 90);
    snprintf(applied, sizeof applied,
             "{\"apiVersion\":\"v1\",\"data\":{\"DATABASE_URL\":\"%s\",\"FEATURE_FLAGS\":\"billing,audit,"
             "agents\",\"LOG_LEVEL\":\"info\",\"MAX_CONNECTIONS\":\"%s\"},\"kind\":\"ConfigMap\",\"metadata\":"
             "{\"annotations\":{\"paybill.dev/plan\":\"gold\"},\"labels\":{\"app.kubernetes.io/managed-by\":"
             "\"paybill-operator\",\"app.kubernetes.io/name\":\"paybill-tenant\",\"paybill.dev/tenant\":"
             "\"%s\"},\"name\":\"%s\",\"namespace\":\"%s\"}}",
             db, conns, ns, name, ns);
    size_t e = 0;
    for (const char *p = applied; *p && e < sizeof esc - 4; p++) {
        if (*p == '"')
            esc[e++] = '\\';
        esc[e++] = *p;
    }
    memcpy(esc + e, "\\n", 3); /* kubectl ends the manifest with a newline */
    int w = snprintf(
        buf, n,
        "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"%s\",\"namespace\":\"%s\","
        "\"uid\":\"%s\",\"resourceVersion\":\"%ld\",\"creationTimestamp\":\"%s\",\"labels\":{"
        "\"app.kubernetes.io/managed-by\":\"paybill-operator\",\"app.kubernetes.io/name\":\"paybill-tenant\","
        "\"paybill.dev/tenant\":\"%s\"},\"annotations\":{\"paybill.dev/plan\":\"gold\",\"" LAST_APPLIED
        "\":\"%s\"},\"managedFields\":[{\"manager\":\"kubectl-client-side-apply\",\"operation\":\"Update\","
        "\"apiVersion\":\"v1\",\"time\":\"%s\",\"fieldsType\":\"FieldsV1\",\"fieldsV1\":{\"f:data\":{\".\":{},"
        "\"f:DATABASE_URL\":{},\"f:FEATURE_FLAGS\":{},\"f:LOG_LEVEL\":{},\"f:MAX_CONNECTIONS\":{}},"
        "\"f:metadata\":{\"f:annotations\":{\".\":{},\"f:" LAST_APPLIED "\":{},\"f:paybill.dev/plan\":{}},"
        "\"f:labels\":{\".\":{},\"f:app.kubernetes.io/managed-by\":{},\"f:app.kubernetes.io/name\":{},"
        "\"f:paybill.dev/tenant\":{}}}}}]},\"data\":{\"DATABASE_URL\":\"%s\",\"FEATURE_FLAGS\":\"billing,"
        "audit,agents\",\"LOG_LEVEL\":\"info\",\"MAX_CONNECTIONS\":\"%s\"}}",
        name, ns, uid, rv, ts, ns, esc, ts, db, conns);
    return w > 0 && (size_t)w < n ? w : -1;
}

#endif
