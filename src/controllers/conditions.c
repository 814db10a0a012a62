/*
 * conditions.c - metav1.Condition bookkeeping (see conditions.h).
 */
#include "controllers/conditions.h"

#include <string.h>

json_t *cond_find(const json_t *status, const char *type)
{
    json_t *list = json_object_get(status, "conditions");
    size_t i;
    json_t *c;
    json_array_foreach(list, i, c) {
        const char *t = json_string_value(json_object_get(c, "type"));
        if (t && strcmp(t, type) == 0)
            return c;
    }
    return NULL;
}

int cond_is_true(const json_t *status, const char *type)
{
    const char *s = json_string_value(json_object_get(cond_find(status, type), "status"));
    return s && strcmp(s, "True") == 0;
}

static int set_str(json_t *obj, const char *key, const char *val)
{
    const char *cur = json_string_value(json_object_get(obj, key));
    if (cur && strcmp(cur, val) == 0)
        return 0;
    json_object_set_new(obj, key, json_string(val));
    return 1;
}

int cond_set(json_t *status, const char *type, const char *cstatus, const char *reason,
             const char *message, long long observed_generation, const char *now)
{
    json_t *list = json_object_get(status, "conditions");
    if (!json_is_array(list)) {
        list = json_array();
        json_object_set_new(status, "conditions", list);
    }
    json_t *c = cond_find(status, type);
    int changed = 0;
    if (!c) {
        c = json_object();
        json_object_set_new(c, "type", json_string(type));
        json_array_append_new(list, c);
        changed = 1;
    }
    const char *old = json_string_value(json_object_get(c, "status"));
    if (!old || strcmp(old, cstatus) != 0 || !json_object_get(c, "lastTransitionTime")) {
        json_object_set_new(c, "lastTransitionTime", json_string(now));
        changed = 1;
    }
    changed |= set_str(c, "status", cstatus);
    changed |= set_str(c, "reason", reason);
    /* The schema requires message; an empty one is valid. */
    changed |= set_str(c, "message", message ? message : "");
    json_t *og = json_object_get(c, "observedGeneration");
    if (!json_is_integer(og) || json_integer_value(og) != observed_generation) {
        json_object_set_new(c, "observedGeneration", json_integer(observed_generation));
        changed = 1;
    }
    return changed;
}

int cond_remove(json_t *status, const char *type)
{
    json_t *list = json_object_get(status, "conditions");
    size_t i;
    json_t *c;
    json_array_foreach(list, i, c) {
        const char *t = json_string_value(json_object_get(c, "type"));
        if (t && strcmp(t, type) == 0) {
            json_array_remove(list, i);
            return 1;
        }
    }
    return 0;
}
