/*
 * fakestore.h - an in-memory stand-in for the dev API server's store in
 * unit tests of modules that reach it only through a dv_lister (auth,
 * RBAC, admission). Header-only; the store is a JSON object mapping
 * "group/resource" to an array of objects.
 */
#ifndef DEVAPI_TEST_FAKESTORE_H
#define DEVAPI_TEST_FAKESTORE_H

#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "testutil.h"

#define FS_FN static __attribute__((unused))

/* dv_lister over the store in ud: new array of the objects of
 * group/resource in ns (NULL = all namespaces). */
FS_FN json_t *fake_list(void *ud, const char *group, const char *resource, const char *ns)
{
    char key[256];
    snprintf(key, sizeof key, "%s/%s", group, resource);
    json_t *all = json_object_get((json_t *)ud, key), *out = json_array(), *o;
    size_t i;
    json_array_foreach(all, i, o) {
        const char *ons = json_string_value(json_object_get(json_object_get(o, "metadata"), "namespace"));
        if (!ns || (ons && strcmp(ons, ns) == 0))
            json_array_append(out, o);
    }
    return out;
}

/* Parse `json` (a test literal: failing to parse fails the test) and add
 * it under group/resource. */
FS_FN void add_obj(json_t *store, const char *group, const char *resource, const char *json)
{
    char key[256];
    snprintf(key, sizeof key, "%s/%s", group, resource);
    json_t *arr = json_object_get(store, key);
    if (!arr) {
        arr = json_array();
        json_object_set_new(store, key, arr);
    }
    json_error_t je;
    json_t *o = json_loads(json, 0, &je);
    if (!o)
        fail_msg("bad test JSON: %s: %s", je.text, json);
    json_array_append_new(arr, o);
}

#endif
