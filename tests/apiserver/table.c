/*
 * table.c - meta.k8s.io/v1 Table responses (what `kubectl get` prints):
 * Name, the resource's printer columns evaluated with a small JSONPath
 * subset, Age; and the row objects per includeObject.
 */
#include "handlers_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int dv_wants_table(const dv_request *req)
{
    const char *a = req->accept;
    return a && strstr(a, "as=Table") && strstr(a, "g=meta.k8s.io");
}

/* One step of a path: a key, an index, or a filter [?(@.k=="v")]. */
static const json_t *step(const json_t *cur, const char **pp)
{
    const char *p = *pp;
    if (*p == '.') {
        p++;
        size_t n = strcspn(p, ".[");
        char key[256];
        snprintf(key, sizeof(key), "%.*s", (int)n, p);
        *pp = p + n;
        return json_object_get(cur, key);
    }
    if (*p != '[')
        return NULL;
    const char *end = strchr(p, ']');
    if (!end)
        return NULL;
    *pp = end + 1;
    if (p[1] == '*' || p[1] == '0')
        return json_array_get(cur, 0);
    if (p[1] >= '1' && p[1] <= '9')
        return json_array_get(cur, (size_t)atoi(p + 1));
    if (!strncmp(p, "[?(@.", 5)) {
        /* [?(@.type=="Ready")] */
        const char *k = p + 5;
        const char *eq = strstr(k, "==");
        if (!eq || eq > end)
            return NULL;
        char key[128], val[256];
        snprintf(key, sizeof(key), "%.*s", (int)(eq - k), k);
        const char *v = eq + 2;
        char q = *v;
        if (q == '"' || q == '\'') {
            const char *ve = strchr(v + 1, q);
            if (!ve)
                return NULL;
            snprintf(val, sizeof(val), "%.*s", (int)(ve - v - 1), v + 1);
        } else {
            snprintf(val, sizeof(val), "%.*s", (int)strcspn(v, ")"), v);
        }
        size_t i;
        json_t *e;
        json_array_foreach((json_t *)cur, i, e) {
            const char *s = json_string_value(json_object_get(e, key));
            if (s && !strcmp(s, val))
                return e;
        }
    }
    return NULL;
}

const json_t *dv_jsonpath(const json_t *obj, const char *path)
{
    char buf[512];
    snprintf(buf, sizeof(buf), "%s", path ? path : "");
    char *p = buf;
    if (*p == '{') {
        p++;
        char *e = strrchr(p, '}');
        if (e)
            *e = 0;
    }
    const json_t *cur = obj;
    const char *q = p;
    while (cur && *q)
        cur = step(cur, &q);
    return cur;
}

/* kube's HumanDuration, as printed in AGE columns. */
static void human_duration(long s, char *out, size_t n)
{
    if (s < -1) {
        snprintf(out, n, "<invalid>");
        return;
    }
    if (s < 0)
        s = 0;
    long m = s / 60, h = s / 3600, d = h / 24, y = d / 365;
    if (s < 120)
        snprintf(out, n, "%lds", s);
    else if (m < 10)
        s % 60 ? snprintf(out, n, "%ldm%lds", m, s % 60) : snprintf(out, n, "%ldm", m);
    else if (m < 180)
        snprintf(out, n, "%ldm", m);
    else if (h < 8)
        m % 60 ? snprintf(out, n, "%ldh%ldm", h, m % 60) : snprintf(out, n, "%ldh", h);
    else if (h < 48)
        snprintf(out, n, "%ldh", h);
    else if (h < 192)
        h % 24 ? snprintf(out, n, "%ldd%ldh", d, h % 24) : snprintf(out, n, "%ldd", d);
    else if (h < 24 * 365 * 2)
        snprintf(out, n, "%ldd", d);
    else if (h < 24 * 365 * 8)
        snprintf(out, n, "%ldy%ldd", y, d % 365);
    else
        snprintf(out, n, "%ldy", y);
}

static json_t *age_of(const char *ts)
{
    if (!ts)
        return json_string("<unknown>");
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    if (!strptime(ts, "%Y-%m-%dT%H:%M:%S", &tm))
        return json_string("<unknown>");
    char out[32];
    human_duration((long)(time(NULL) - timegm(&tm)), out, sizeof(out));
    return json_string(out);
}

static json_t *cell(const json_t *col, const json_t *obj)
{
    const json_t *v = dv_jsonpath(obj, json_string_value(json_object_get(col, "jsonPath")));
    const char *type = json_string_value(json_object_get(col, "type"));
    if (!v || json_is_null(v))
        return json_null();
    if (type && !strcmp(type, "date") && json_is_string(v))
        return age_of(json_string_value(v));
    if (json_is_object(v) || json_is_array(v)) {
        char *s = json_dumps(v, JSON_COMPACT);
        json_t *r = json_string(s ? s : "");
        free(s);
        return r;
    }
    return json_deep_copy(v);
}

json_t *dv_table(const json_t *columns, const json_t *objects, const char *include_object, int with_columns)
{
    json_t *defs = json_array();
    json_array_append_new(defs, json_pack("{s:s,s:s,s:s,s:s,s:i}", "name", "Name", "type", "string", "format",
                                          "name", "description",
                                          "Name must be unique within a namespace. Is required when creating "
                                          "resources, although some resources may allow a client to request the "
                                          "generation of an appropriate name automatically.",
                                          "priority", 0));
    int has_age = 0;
    size_t i;
    json_t *col;
    json_array_foreach((json_t *)columns, i, col) {
        const char *nm = json_string_value(json_object_get(col, "name"));
        has_age |= nm && !strcmp(nm, "Age");
        const char *ty = json_string_value(json_object_get(col, "type"));
        const char *fmt = json_string_value(json_object_get(col, "format"));
        const char *desc = json_string_value(json_object_get(col, "description"));
        json_array_append_new(defs, json_pack("{s:s,s:s,s:s,s:s,s:I}", "name", nm ? nm : "", "type",
                                              ty && strcmp(ty, "date") ? ty : "string", "format", fmt ? fmt : "",
                                              "description", desc ? desc : "", "priority",
                                              json_integer_value(json_object_get(col, "priority"))));
    }
    if (!has_age)
        json_array_append_new(defs, json_pack("{s:s,s:s,s:s,s:s,s:i}", "name", "Age", "type", "string", "format", "",
                                              "description",
                                              "CreationTimestamp is a timestamp representing the server time when "
                                              "this object was created.",
                                              "priority", 0));
    json_t *rows = json_array();
    json_t *obj;
    json_array_foreach((json_t *)objects, i, obj) {
        json_t *meta = json_object_get(obj, "metadata");
        json_t *cells = json_array();
        json_array_append_new(cells, json_string(json_string_value(json_object_get(meta, "name"))));
        size_t j;
        json_array_foreach((json_t *)columns, j, col)
            json_array_append_new(cells, cell(col, obj));
        if (!has_age)
            json_array_append_new(cells, age_of(json_string_value(json_object_get(meta, "creationTimestamp"))));
        json_t *row = json_pack("{s:o}", "cells", cells);
        if (!include_object || !strcmp(include_object, "Metadata")) {
            json_t *pm = json_deep_copy(meta);
            json_object_del(pm, "managedFields");
            json_object_set_new(row, "object", json_pack("{s:s,s:s,s:o}", "kind", "PartialObjectMetadata",
                                                         "apiVersion", "meta.k8s.io/v1", "metadata", pm));
        } else if (!strcmp(include_object, "Object")) {
            json_object_set(row, "object", obj);
        }
        json_array_append_new(rows, row);
    }
    json_t *t = json_pack("{s:s,s:s,s:{},s:o}", "kind", "Table", "apiVersion", "meta.k8s.io/v1", "metadata", "rows",
                          rows);
    if (with_columns)
        json_object_set_new(t, "columnDefinitions", defs);
    else
        json_decref(defs);
    return t;
}
