/*
 * table.c - meta.k8s.io/v1 Table responses (what `kubectl get` prints):
 * Name, then the resource's printer columns (evaluated by printcols.h;
 * built-ins end with Age, CRDs show exactly their additionalPrinterColumns,
 * [Age] by default, as apiextensions does), and the row objects per
 * includeObject.
 */
#include "handlers_int.h"
#include "printcols.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int dv_wants_table(const dv_request *req)
{
    const char *a = req->accept;
    return a && strstr(a, "as=Table") && strstr(a, "g=meta.k8s.io");
}

static json_t *age_of(const char *ts)
{
    char buf[32];
    return json_string(dv_printcol_age(ts ? ts : "", time(NULL), buf, sizeof(buf)));
}

/* Built-in "READY 1/3" style cells: jsonPath "<a>/<b>", missing counts 0. */
static json_t *ratio(const char *paths, const json_t *obj)
{
    char a[256];
    const char *slash = strchr(paths, '/');
    if (!slash)
        return json_null();
    snprintf(a, sizeof(a), "%.*s", (int)(slash - paths), paths);
    json_t *x = dv_printcol_cell(a, "integer", obj), *y = dv_printcol_cell(slash + 1, "integer", obj);
    char buf[64];
    snprintf(buf, sizeof(buf), "%lld/%lld", x ? (long long)json_integer_value(x) : 0LL,
             y ? (long long)json_integer_value(y) : 0LL);
    json_decref(x);
    json_decref(y);
    return json_string(buf);
}

static json_t *cell(const json_t *col, const json_t *obj)
{
    const char *type = json_string_value(json_object_get(col, "type"));
    if (type && !strcmp(type, "ratio"))
        return ratio(json_string_value(json_object_get(col, "jsonPath")), obj);
    json_t *v = dv_printcol_cell(json_string_value(json_object_get(col, "jsonPath")), type ? type : "string", obj);
    if (!v)
        return json_null();
    if (type && !strcmp(type, "date") && json_is_string(v)) {
        json_t *age = age_of(json_string_value(v));
        json_decref(v);
        return age;
    }
    return v;
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
    size_t i;
    json_t *col;
    json_array_foreach((json_t *)columns, i, col) {
        const char *nm = json_string_value(json_object_get(col, "name"));
        const char *ty = json_string_value(json_object_get(col, "type"));
        const char *fmt = json_string_value(json_object_get(col, "format"));
        const char *desc = json_string_value(json_object_get(col, "description"));
        json_array_append_new(defs, json_pack("{s:s,s:s,s:s,s:s,s:I}", "name", nm ? nm : "", "type",
                                              ty && strcmp(ty, "date") && strcmp(ty, "ratio") ? ty : "string",
                                              "format", fmt ? fmt : "",
                                              "description", desc ? desc : "", "priority",
                                              json_integer_value(json_object_get(col, "priority"))));
    }
    json_t *rows = json_array();
    json_t *obj;
    json_array_foreach((json_t *)objects, i, obj) {
        json_t *meta = json_object_get(obj, "metadata");
        json_t *cells = json_array();
        json_array_append_new(cells, json_string(json_string_value(json_object_get(meta, "name"))));
        size_t j;
        json_array_foreach((json_t *)columns, j, col)
            json_array_append_new(cells, cell(col, obj));
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
