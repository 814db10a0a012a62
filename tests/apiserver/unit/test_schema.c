/*
 * Unit tests for tests/apiserver/schema.c: CRD validation causes (exact
 * reasons and messages as kube-apiserver 1.32 words them), pruning,
 * defaulting, the structural-schema check, and adversarial inputs (deep
 * nesting, huge strings, bad regular expressions).
 *
 * JSON in the tables is written with single quotes for readability; J()
 * turns them into double quotes.
 */
#include "testutil.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "schema.h"

static json_t *J(const char *sq)
{
    char *s = strdup(sq);
    for (char *p = s; *p; p++)
        if (*p == '\'')
            *p = '"';
    json_error_t e;
    json_t *v = json_loads(s, JSON_DECODE_ANY, &e);
    if (!v)
        fail_msg("bad test JSON %s: %s", sq, e.text);
    free(s);
    return v;
}

/* Wrap property schemas as the schema of `spec` under a CRD root. */
static json_t *spec_schema(const char *props, const char *required)
{
    char buf[4096];
    snprintf(buf, sizeof buf,
             "{'type':'object','properties':{'apiVersion':{'type':'string'},'kind':{'type':'string'},"
             "'metadata':{'type':'object'},'spec':{'type':'object','properties':%s%s%s}}}",
             props, required ? ",'required':" : "", required ? required : "");
    return J(buf);
}

/* ------------------------------------------------------------------------ */
/* validation table                                                          */

typedef struct exp_cause {
    const char *field, *reason, *message;
} exp_cause;

typedef struct vcase {
    const char *name;
    const char *props;    /* spec's properties */
    const char *required; /* spec's required, or NULL */
    const char *spec;     /* the object's spec */
    int n;
    exp_cause c[3];
} vcase;

static const vcase vcases[] = {
    {"enum violation", "{'color':{'type':'string','enum':['red','green','blue']}}", NULL,
     "{'color':'pink'}", 1,
     {{"spec.color", "FieldValueNotSupported",
       "Unsupported value: \"pink\": supported values: \"red\", \"green\", \"blue\""}}},
    {"enum ok", "{'color':{'type':'string','enum':['red','green','blue']}}", NULL, "{'color':'red'}", 0, {{0}}},
    {"enum of integers", "{'n':{'type':'integer','enum':[1,2]}}", NULL, "{'n':3}", 1,
     {{"spec.n", "FieldValueNotSupported", "Unsupported value: 3: supported values: \"1\", \"2\""}}},
    {"enum quotes value", "{'s':{'type':'string','enum':['a']}}", NULL, "{'s':'x\\\"y\\n\\u00e9'}", 1,
     {{"spec.s", "FieldValueNotSupported", "Unsupported value: \"x\\\"y\\n\xc3\xa9\": supported values: \"a\""}}},
    {"enum of reals printed as Go JSON", "{'n':{'type':'number','enum':[1.0,2.5,1e-7,1e21]}}", NULL, "{'n':3}", 1,
     {{"spec.n", "FieldValueNotSupported",
       "Unsupported value: 3: supported values: \"1\", \"2.5\", \"1e-7\", \"1e+21\""}}},
    {"enum compares numbers by value", "{'n':{'type':'number','enum':[1,2.5]}}", NULL, "{'n':1.0}", 0, {{0}}},
    {"required", "{'plan':{'type':'string'}}", "['plan']", "{}", 1,
     {{"spec.plan", "FieldValueRequired", "Required value"}}},
    {"required present as null is a type error", "{'plan':{'type':'string'}}", "['plan']", "{'plan':null}", 1,
     {{"spec.plan", "FieldValueTypeInvalid",
       "Invalid value: \"null\": spec.plan in body must be of type string: \"null\""}}},
    {"type integer given string", "{'replicas':{'type':'integer'}}", NULL, "{'replicas':'3'}", 1,
     {{"spec.replicas", "FieldValueTypeInvalid",
       "Invalid value: \"string\": spec.replicas in body must be of type integer: \"string\""}}},
    {"type integer given 1.0", "{'replicas':{'type':'integer'}}", NULL, "{'replicas':1.0}", 0, {{0}}},
    {"type integer given 1.5", "{'replicas':{'type':'integer'}}", NULL, "{'replicas':1.5}", 1,
     {{"spec.replicas", "FieldValueTypeInvalid",
       "Invalid value: \"number\": spec.replicas in body must be of type integer: \"number\""}}},
    {"type number given integer", "{'r':{'type':'number'}}", NULL, "{'r':2}", 0, {{0}}},
    {"type boolean given object", "{'b':{'type':'boolean'}}", NULL, "{'b':{}}", 1,
     {{"spec.b", "FieldValueTypeInvalid",
       "Invalid value: \"object\": spec.b in body must be of type boolean: \"object\""}}},
    {"type object given array", "{'o':{'type':'object'}}", NULL, "{'o':[]}", 1,
     {{"spec.o", "FieldValueTypeInvalid",
       "Invalid value: \"array\": spec.o in body must be of type object: \"array\""}}},
    {"pattern", "{'name':{'type':'string','pattern':'^[a-z]+$'}}", NULL, "{'name':'X'}", 1,
     {{"spec.name", "FieldValueInvalid", "Invalid value: \"X\": spec.name in body should match '^[a-z]+$'"}}},
    {"pattern ok", "{'name':{'type':'string','pattern':'^[a-z]+$'}}", NULL, "{'name':'abc'}", 0, {{0}}},
    {"pattern \\d", "{'zip':{'type':'string','pattern':'^\\\\d{5}$'}}", NULL, "{'zip':'1234a'}", 1,
     {{"spec.zip", "FieldValueInvalid", "Invalid value: \"1234a\": spec.zip in body should match '^\\d{5}$'"}}},
    {"pattern class with \\w and \\-", "{'h':{'type':'string','pattern':'^[\\\\w.\\\\-]+$'}}", NULL,
     "{'h':'a-b.c_d'}", 0, {{0}}},
    {"pattern non-capturing and lazy", "{'h':{'type':'string','pattern':'^(?:ab)+?c$'}}", NULL,
     "{'h':'ababc'}", 0, {{0}}},
    {"pattern (?i)", "{'h':{'type':'string','pattern':'(?i)^abc$'}}", NULL, "{'h':'ABC'}", 0, {{0}}},
    {"minimum", "{'replicas':{'type':'integer','minimum':1}}", NULL, "{'replicas':0}", 1,
     {{"spec.replicas", "FieldValueInvalid",
       "Invalid value: 0: spec.replicas in body should be greater than or equal to 1"}}},
    {"exclusiveMinimum", "{'r':{'type':'integer','minimum':1,'exclusiveMinimum':true}}", NULL, "{'r':1}", 1,
     {{"spec.r", "FieldValueInvalid", "Invalid value: 1: spec.r in body should be greater than 1"}}},
    {"maximum", "{'r':{'type':'integer','maximum':10}}", NULL, "{'r':11}", 1,
     {{"spec.r", "FieldValueInvalid", "Invalid value: 11: spec.r in body should be less than or equal to 10"}}},
    {"exclusiveMaximum", "{'r':{'type':'integer','maximum':10,'exclusiveMaximum':true}}", NULL, "{'r':10}", 1,
     {{"spec.r", "FieldValueInvalid", "Invalid value: 10: spec.r in body should be less than 10"}}},
    {"maximum with a float value", "{'r':{'type':'number','maximum':2}}", NULL, "{'r':2.5}", 1,
     {{"spec.r", "FieldValueInvalid", "Invalid value: 2.5: spec.r in body should be less than or equal to 2"}}},
    {"float formatting like Go %v", "{'r':{'type':'number','maximum':10}}", NULL, "{'r':1000000.0}", 1,
     {{"spec.r", "FieldValueInvalid", "Invalid value: 1e+06: spec.r in body should be less than or equal to 10"}}},
    {"small float formatting", "{'r':{'type':'number','minimum':0.001}}", NULL, "{'r':0.00001}", 1,
     {{"spec.r", "FieldValueInvalid",
       "Invalid value: 1e-05: spec.r in body should be greater than or equal to 0.001"}}},
    {"multipleOf integer", "{'n':{'type':'integer','multipleOf':5}}", NULL, "{'n':7}", 1,
     {{"spec.n", "FieldValueInvalid", "Invalid value: 7: spec.n in body should be a multiple of 5"}}},
    {"multipleOf float ok", "{'n':{'type':'number','multipleOf':0.1}}", NULL, "{'n':0.3}", 0, {{0}}},
    {"multipleOf float", "{'n':{'type':'number','multipleOf':0.1}}", NULL, "{'n':0.35}", 1,
     {{"spec.n", "FieldValueInvalid", "Invalid value: 0.35: spec.n in body should be a multiple of 0.1"}}},
    {"maxLength", "{'name':{'type':'string','maxLength':3}}", NULL, "{'name':'abcd'}", 1,
     {{"spec.name", "FieldValueTooLong", "Too long: may not be more than 3 bytes"}}},
    {"maxLength 1 is singular", "{'name':{'type':'string','maxLength':1}}", NULL, "{'name':'ab'}", 1,
     {{"spec.name", "FieldValueTooLong", "Too long: may not be more than 1 byte"}}},
    {"maxLength counts characters", "{'name':{'type':'string','maxLength':3}}", NULL,
     "{'name':'\xc3\xa9\xc3\xa9\xc3\xa9'}", 0, {{0}}},
    {"minLength", "{'name':{'type':'string','minLength':2}}", NULL, "{'name':'a'}", 1,
     {{"spec.name", "FieldValueInvalid", "Invalid value: \"a\": spec.name in body should be at least 2 chars long"}}},
    {"minItems", "{'l':{'type':'array','items':{'type':'string'},'minItems':2}}", NULL, "{'l':['a']}", 1,
     {{"spec.l", "FieldValueInvalid", "Invalid value: 1: spec.l in body should have at least 2 items"}}},
    {"maxItems", "{'l':{'type':'array','items':{'type':'string'},'maxItems':2}}", NULL, "{'l':['a','b','c']}",
     1, {{"spec.l", "FieldValueTooMany", "Too many: 3: must have at most 2 items"}}},
    {"maxItems 1", "{'l':{'type':'array','items':{'type':'string'},'maxItems':1}}", NULL, "{'l':['a','b']}", 1,
     {{"spec.l", "FieldValueTooMany", "Too many: 2: must have at most 1 item"}}},
    {"minProperties", "{'m':{'type':'object','additionalProperties':{'type':'string'},'minProperties':2}}", NULL,
     "{'m':{'a':'x'}}", 1,
     {{"spec.m", "FieldValueInvalid", "Invalid value: 1: spec.m in body should have at least 2 properties"}}},
    {"maxProperties", "{'m':{'type':'object','additionalProperties':{'type':'string'},'maxProperties':1}}", NULL,
     "{'m':{'a':'x','b':'y'}}", 1, {{"spec.m", "FieldValueTooMany", "Too many: 2: must have at most 1 item"}}},
    {"items paths", "{'items':{'type':'array','items':{'type':'object','required':['name'],'properties':{'name':{'type':'string'}}}}}",
     NULL, "{'items':[{'name':'a'},{}]}", 1, {{"spec.items[1].name", "FieldValueRequired", "Required value"}}},
    {"nested array of int", "{'m':{'type':'array','items':{'type':'array','items':{'type':'integer'}}}}", NULL,
     "{'m':[[1],[2,'x']]}", 1,
     {{"spec.m[1][1]", "FieldValueTypeInvalid",
       "Invalid value: \"string\": spec.m[1][1] in body must be of type integer: \"string\""}}},
    {"map values", "{'labels':{'type':'object','additionalProperties':{'type':'string'}}}", NULL,
     "{'labels':{'a':'x','b':5}}", 1,
     {{"spec.labels.b", "FieldValueTypeInvalid",
       "Invalid value: \"integer\": spec.labels.b in body must be of type string: \"integer\""}}},
    {"null not nullable", "{'x':{'type':'string'}}", NULL, "{'x':null}", 1,
     {{"spec.x", "FieldValueTypeInvalid", "Invalid value: \"null\": spec.x in body must be of type string: \"null\""}}},
    {"null nullable", "{'x':{'type':'string','nullable':true}}", NULL, "{'x':null}", 0, {{0}}},
    {"null nullable but not in enum", "{'x':{'type':'string','nullable':true,'enum':['a']}}", NULL, "{'x':null}",
     1, {{"spec.x", "FieldValueNotSupported", "Unsupported value: null: supported values: \"a\""}}},
    {"null never matches an enum, even null", "{'x':{'type':'string','nullable':true,'enum':['a',null]}}", NULL,
     "{'x':null}", 1, {{"spec.x", "FieldValueNotSupported", "Unsupported value: null: supported values: \"a\", \"null\""}}},
    {"enum truncates reals against integers", "{'x':{'type':'number','enum':[1]}}", NULL, "{'x':1.5}", 0, {{0}}},
    {"enum turns integers into runes against strings", "{'x':{'x-kubernetes-int-or-string':true,'enum':['A']}}", NULL,
     "{'x':65}", 0, {{0}}},
    {"enum of objects", "{'x':{'type':'object','x-kubernetes-preserve-unknown-fields':true,'enum':[{'a':1}]}}", NULL,
     "{'x':{'a':2}}", 1, {{"spec.x", "FieldValueNotSupported", "Unsupported value: {\"a\":2}: supported values: \"{\\\"a\\\":1}\""}}},
    {"multipleOf below 1 on an integer value", "{'n':{'type':'number','multipleOf':0.5}}", NULL, "{'n':3}", 1,
     {{"spec.n", "FieldValueInvalid", "Invalid value: 0: factor MultipleOf declared for spec.n must be positive: 0"}}},
    {"multipleOf below 1 on a real value", "{'n':{'type':'number','multipleOf':0.5}}", NULL, "{'n':3.5}", 0, {{0}}},
    {"int-or-string int", "{'port':{'x-kubernetes-int-or-string':true}}", NULL, "{'port':8080}", 0, {{0}}},
    {"int-or-string string", "{'port':{'x-kubernetes-int-or-string':true}}", NULL, "{'port':'http'}", 0, {{0}}},
    {"int-or-string bool", "{'port':{'x-kubernetes-int-or-string':true}}", NULL, "{'port':true}", 1,
     {{"spec.port", "FieldValueTypeInvalid",
       "Invalid value: \"boolean\": spec.port in body must be of type integer,string: \"boolean\""}}},
    {"int-or-string with anyOf", "{'port':{'x-kubernetes-int-or-string':true,'anyOf':[{'type':'integer'},{'type':'string'}]}}",
     NULL, "{'port':80}", 0, {{0}}},
    {"date-time ok", "{'when':{'type':'string','format':'date-time'}}", NULL, "{'when':'2024-02-29T23:59:59.5+02:00'}",
     0, {{0}}},
    {"date-time bad", "{'when':{'type':'string','format':'date-time'}}", NULL, "{'when':'yesterday'}", 1,
     {{"spec.when", "FieldValueTypeInvalid",
       "Invalid value: \"yesterday\": spec.when in body must be of type date-time: \"yesterday\""}}},
    {"date-time bad day", "{'when':{'type':'string','format':'date-time'}}", NULL, "{'when':'2023-02-29T00:00:00Z'}",
     1, {{"spec.when", "FieldValueTypeInvalid",
          "Invalid value: \"2023-02-29T00:00:00Z\": spec.when in body must be of type date-time: \"2023-02-29T00:00:00Z\""}}},
    {"date bad", "{'d':{'type':'string','format':'date'}}", NULL, "{'d':'2024-13-01'}", 1,
     {{"spec.d", "FieldValueTypeInvalid", "Invalid value: \"2024-13-01\": spec.d in body must be of type date: \"2024-13-01\""}}},
    {"byte bad", "{'b':{'type':'string','format':'byte'}}", NULL, "{'b':'abc'}", 1,
     {{"spec.b", "FieldValueTypeInvalid", "Invalid value: \"abc\": spec.b in body must be of type byte: \"abc\""}}},
    {"byte ok", "{'b':{'type':'string','format':'byte'}}", NULL, "{'b':'aGk='}", 0, {{0}}},
    {"uuid ok", "{'u':{'type':'string','format':'uuid'}}", NULL, "{'u':'123e4567-e89b-12d3-a456-426614174000'}", 0,
     {{0}}},
    {"ipv4 bad", "{'ip':{'type':'string','format':'ipv4'}}", NULL, "{'ip':'1.2.3'}", 1,
     {{"spec.ip", "FieldValueTypeInvalid", "Invalid value: \"1.2.3\": spec.ip in body must be of type ipv4: \"1.2.3\""}}},
    {"cidr ok", "{'c':{'type':'string','format':'cidr'}}", NULL, "{'c':'10.0.0.0/8'}", 0, {{0}}},
    {"duration ok", "{'d':{'type':'string','format':'duration'}}", NULL, "{'d':'1h30m'}", 0, {{0}}},
    {"duration bad", "{'d':{'type':'string','format':'duration'}}", NULL, "{'d':'soon'}", 1,
     {{"spec.d", "FieldValueTypeInvalid", "Invalid value: \"soon\": spec.d in body must be of type duration: \"soon\""}}},
    {"unchecked format ignored", "{'p':{'type':'string','format':'password'},'q':{'type':'string','format':'int-or-string'}}",
     NULL, "{'p':'x','q':'y'}", 0, {{0}}},
    {"embedded resource needs apiVersion and kind",
     "{'tpl':{'type':'object','x-kubernetes-embedded-resource':true,'x-kubernetes-preserve-unknown-fields':true}}",
     NULL, "{'tpl':{'metadata':{}}}", 2,
     {{"spec.tpl.apiVersion", "FieldValueRequired", "Required value"},
      {"spec.tpl.kind", "FieldValueRequired", "Required value"}}},
    {"embedded resource bad values",
     "{'tpl':{'type':'object','x-kubernetes-embedded-resource':true,'x-kubernetes-preserve-unknown-fields':true}}",
     NULL, "{'tpl':{'apiVersion':'a/b/c','kind':'Not_A_Kind'}}", 2,
     {{"spec.tpl.apiVersion", "FieldValueInvalid", "Invalid value: \"a/b/c\": unexpected GroupVersion string: a/b/c"},
      {"spec.tpl.kind", "FieldValueInvalid",
       "Invalid value: \"Not_A_Kind\": may have mixed case, but should otherwise match: a DNS-1035 label must consist "
       "of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an "
       "alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is "
       "'[a-z]([-a-z0-9]*[a-z0-9])?')"}}},
    {"embedded resources come after OpenAPI errors",
     "{'n':{'type':'integer'},'tpls':{'type':'array','items':{'type':'object','x-kubernetes-embedded-resource':true,'x-kubernetes-preserve-unknown-fields':true}}}",
     NULL, "{'tpls':[{'apiVersion':'v1','kind':'Pod'},{'apiVersion':'v1','kind':7}],'n':'x'}", 2,
     {{"spec.n", "FieldValueTypeInvalid", "Invalid value: \"string\": spec.n in body must be of type integer: \"string\""},
      {"spec.tpls[1].kind", "FieldValueInvalid", "Invalid value: 7: must be a string"}}},
    {"embedded resource ok",
     "{'tpl':{'type':'object','x-kubernetes-embedded-resource':true,'x-kubernetes-preserve-unknown-fields':true}}",
     NULL, "{'tpl':{'apiVersion':'v1','kind':'ConfigMap'}}", 0, {{0}}},
    {"preserve unknown fields accepts anything", "{'raw':{'x-kubernetes-preserve-unknown-fields':true}}", NULL,
     "{'raw':{'a':[1,{'b':null}]}}", 0, {{0}}},
    {"unknown fields are not validation errors", "{'a':{'type':'string'}}", NULL, "{'zzz':1}", 0, {{0}}},
    {"several errors: properties, then required", "{'a':{'type':'string'},'b':{'type':'integer','minimum':1}}", "['c']",
     "{'a':1,'b':0}", 3,
     {{"spec.a", "FieldValueTypeInvalid", "Invalid value: \"integer\": spec.a in body must be of type string: \"integer\""},
      {"spec.b", "FieldValueInvalid", "Invalid value: 0: spec.b in body should be greater than or equal to 1"},
      {"spec.c", "FieldValueRequired", "Required value"}}},
    {"string checks stop at the first failure", "{'n':{'type':'string','maxLength':2,'pattern':'^[0-9]+$'}}", NULL,
     "{'n':'abc'}", 1, {{"spec.n", "FieldValueTooLong", "Too long: may not be more than 2 bytes"}}},
    {"maxProperties stops object checks", "{'m':{'type':'object','maxProperties':1,'required':['z'],'properties':{'a':{'type':'string'}}}}",
     NULL, "{'m':{'a':1,'b':2}}", 1, {{"spec.m", "FieldValueTooMany", "Too many: 2: must have at most 1 item"}}},
    {"items before minItems", "{'l':{'type':'array','minItems':3,'items':{'type':'string'}}}", NULL, "{'l':[1]}", 2,
     {{"spec.l[0]", "FieldValueTypeInvalid", "Invalid value: \"integer\": spec.l[0] in body must be of type string: \"integer\""},
      {"spec.l", "FieldValueInvalid", "Invalid value: 1: spec.l in body should have at least 3 items"}}},
    {"list-type set duplicates", "{'tags':{'type':'array','x-kubernetes-list-type':'set','items':{'x-kubernetes-int-or-string':true}}}",
     NULL, "{'tags':['a','b','a','a',1,1.0]}", 1, {{"spec.tags[2]", "FieldValueDuplicate", "Duplicate value: \"a\""}}},
    {"list-type in map values", "{'m':{'type':'object','additionalProperties':{'type':'array','x-kubernetes-list-type':'set','items':{'type':'integer'}}}}",
     NULL, "{'m':{'k':[1,1]}}", 1, {{"spec.m[k][1]", "FieldValueDuplicate", "Duplicate value: 1"}}},
    {"list-type map with missing keys", "{'l':{'type':'array','x-kubernetes-list-type':'map','x-kubernetes-list-map-keys':['k'],'items':{'type':'object','properties':{'k':{'type':'string'},'x':{'type':'integer'}}}}}",
     NULL, "{'l':[{'x':1},{'x':2}]}", 1, {{"spec.l[1]", "FieldValueDuplicate", "Duplicate value: {}"}}},
    {"list-type map duplicates",
     "{'ports':{'type':'array','x-kubernetes-list-type':'map','x-kubernetes-list-map-keys':['name','proto'],"
     "'items':{'type':'object','properties':{'name':{'type':'string'},'proto':{'type':'string'},'port':{'type':'integer'}}}}}",
     NULL, "{'ports':[{'name':'http','proto':'TCP','port':80},{'name':'http','proto':'UDP'},{'proto':'TCP','name':'http','port':81}]}",
     1, {{"spec.ports[2]", "FieldValueDuplicate", "Duplicate value: {\"name\":\"http\",\"proto\":\"TCP\"}"}}},
    {"list-type map needs objects",
     "{'l':{'type':'array','x-kubernetes-list-type':'map','x-kubernetes-list-map-keys':['k'],'items':{'x-kubernetes-preserve-unknown-fields':true}}}",
     NULL, "{'l':[{'k':1},'x']}", 1,
     {{"spec.l[1]", "FieldValueInvalid", "Invalid value: \"x\": must be an object for an array of list-type map"}}},
    {"oneOf none valid", "{'o':{'type':'object','oneOf':[{'required':['a']},{'required':['b']}],'properties':{'a':{'type':'string'},'b':{'type':'string'}}}}",
     NULL, "{'o':{}}", 1,
     {{"", "FieldValueInvalid",
       "Invalid value: \"\": \"spec.o\" must validate one and only one schema (oneOf). Found none valid"}}},
};

static void check_causes(const vcase *tc, int n, json_t *causes)
{
    if (n != tc->n) {
        char *d = json_dumps(causes, JSON_COMPACT);
        fail_msg("%s: %d causes, want %d: %s", tc->name, n, tc->n, d);
    }
    assert_int_equal(json_array_size(causes), (size_t)n);
    for (int i = 0; i < n; i++) {
        json_t *c = json_array_get(causes, (size_t)i);
        const char *f = json_string_value(json_object_get(c, "field"));
        const char *r = json_string_value(json_object_get(c, "reason"));
        const char *m = json_string_value(json_object_get(c, "message"));
        if (strcmp(f, tc->c[i].field) || strcmp(r, tc->c[i].reason) || strcmp(m, tc->c[i].message))
            fail_msg("%s: cause %d\n got  %s | %s | %s\n want %s | %s | %s", tc->name, i, f, r, m,
                     tc->c[i].field, tc->c[i].reason, tc->c[i].message);
    }
}

static void test_validation_table(void **state)
{
    for (size_t i = 0; i < sizeof vcases / sizeof vcases[0]; i++) {
        const vcase *tc = &vcases[i];
        json_t *schema = spec_schema(tc->props, tc->required);
        char obj[2048];
        snprintf(obj, sizeof obj, "{'apiVersion':'paybill.dev/v1','kind':'Tenant','metadata':{'name':'a'},'spec':%s}",
                 tc->spec);
        json_t *o = J(obj);
        json_t *causes = json_array();
        int n = dv_schema_validate(schema, o, causes);
        check_causes(tc, n, causes);
        /* counting without a causes array gives the same number */
        assert_int_equal(dv_schema_validate(schema, o, NULL), n);
        json_decref(causes);
        json_decref(o);
        json_decref(schema);
    }
}

/* Each format as the CRD format registry judges it. */
static void test_formats(void **state)
{
    static const struct {
        const char *format, *value;
        int valid;
    } cases[] = {
        {"date-time", "2024-01-01T10:00:00Z", 1},    {"date-time", "2024-01-01t10:00:00.123z", 1},
        {"date-time", "2024-01-01T10:00:00+05:30", 1}, {"date-time", "2024-01-01T24:00:00Z", 0},
        {"date-time", "2024-01-01T10:00:00", 0},     {"date-time", "2024-01-01 10:00:00Z", 0},
        {"date", "2024-02-29", 1},                   {"date", "2023-02-29", 0},
        {"date", "24-02-01", 0},                     {"byte", "aGVsbG8=", 1},
        {"byte", "aGVs\nbG8=", 1},                  {"byte", "aGVsbG8", 0},
        {"byte", "a=b=", 0},                         {"uuid", "123e4567-e89b-12d3-a456-426614174000", 1},
        {"uuid", "123E4567E89B12D3A456426614174000", 1}, {"uuid", "123e4567-e89b-12d3-a456", 0},
        {"uuid4", "123e4567-e89b-42d3-a456-426614174000", 1}, {"uuid4", "123e4567-e89b-12d3-a456-426614174000", 0},
        {"uuid4", "123e4567-e89b-42d3-1456-426614174000", 0}, {"ipv4", "10.1.2.3", 1},
        {"ipv4", "10.1.2.256", 0},                   {"ipv4", "::ffff:1.2.3.4", 1},
        {"ipv4", "::1", 0},                          {"ipv6", "fe80::1", 1},
        {"ipv6", "10.1.2.3", 0},                     {"cidr", "10.0.0.0/8", 1},
        {"cidr", "fd00::/64", 1},                    {"cidr", "10.0.0.0/33", 0},
        {"cidr", "10.0.0.0", 0},                     {"hostname", "example.com", 1},
        {"hostname", "a-b.example.com", 1},          {"hostname", "localhost", 1},
        {"hostname", "example.c0m", 0},              {"hostname", "-bad.example.com", 0},
        {"hostname", "a..com", 0},                   {"email", "ops@paybill.dev", 1},
        {"email", "Ops Team <ops@paybill.dev>", 1},  {"email", "ops.paybill.dev", 0},
        {"mac", "00:00:5e:00:53:01", 1},             {"mac", "00-00-5E-00-53-01", 1},
        {"mac", "0000.5e00.5301", 1},                {"mac", "00:00:5e:00:53", 0},
        {"duration", "1h30m", 1},                    {"duration", "300ms", 1},
        {"duration", "-1.5s", 1},                    {"duration", "3 days", 1},
        {"duration", "1y", 0},                       {"hexcolor", "#ff00AA", 1},
        {"hexcolor", "fff", 1},                      {"hexcolor", "#ffff", 0},
        {"ssn", "123-45-6789", 1},                   {"ssn", "123456789", 1},
        {"ssn", "12-345-6789", 0},                   {"rgbcolor", "rgb(255, 0, 10)", 1},
        {"rgbcolor", "rgb(256,0,0)", 0},             {"uri", "https://paybill.dev/x?y=1", 1},
        {"uri", "/absolute/path", 1},                {"uri", "relative/path", 0},
        {"uri", "http://a b", 0},                    {"bsonobjectid", "507f1f77bcf86cd799439011", 1},
        {"bsonobjectid", "507f1f77bcf86cd79943901", 0}, {"password", "anything", 1},
        {"isbn", "not checked here", 1},             {"int32", "strings are not numbers", 1},
    };
    char props[256];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snprintf(props, sizeof props, "{'f':{'type':'string','format':'%s'}}", cases[i].format);
        json_t *s = spec_schema(props, NULL);
        json_t *o = json_pack("{s:{s:s}}", "spec", "f", cases[i].value);
        int n = dv_schema_validate(s, o, NULL);
        if (n != !cases[i].valid)
            fail_msg("format %s, value %s: %d errors", cases[i].format, cases[i].value, n);
        json_decref(o);
        json_decref(s);
    }
}

static void test_root_type_error(void **state)
{
    json_t *schema = J("{'type':'object'}");
    json_t *o = J("[1]");
    json_t *causes = json_array();
    assert_int_equal(dv_schema_validate(schema, o, causes), 1);
    json_t *c = json_array_get(causes, 0);
    assert_string_equal(json_string_value(json_object_get(c, "field")), "");
    assert_string_equal(json_string_value(json_object_get(c, "message")),
                        "Invalid value: \"array\":  in body must be of type object: \"array\"");
    json_decref(causes);
    json_decref(o);
    json_decref(schema);
}

/* A map at the root: kube-openapi names the value ".key", the field is
 * trimmed but the message keeps the dot. */
static void test_root_map_names(void **state)
{
    json_t *schema = J("{'type':'object','additionalProperties':{'type':'string'}}");
    json_t *o = J("{'k':1}");
    json_t *causes = json_array();
    assert_int_equal(dv_schema_validate(schema, o, causes), 1);
    json_t *c = json_array_get(causes, 0);
    assert_string_equal(json_string_value(json_object_get(c, "field")), "k");
    assert_string_equal(json_string_value(json_object_get(c, "message")),
                        "Invalid value: \"integer\": .k in body must be of type string: \"integer\"");
    json_decref(causes);
    json_decref(o);
    json_decref(schema);
}

static void test_ratcheting(void **state)
{
    json_t *s = spec_schema("{'name':{'type':'string','maxLength':3},'n':{'type':'integer','minimum':5},"
                            "'ports':{'type':'array','x-kubernetes-list-type':'map','x-kubernetes-list-map-keys':['name'],"
                            "'items':{'type':'object','properties':{'name':{'type':'string'},'port':{'type':'integer','maximum':100}}}},"
                            "'tags':{'type':'array','items':{'type':'string','maxLength':2}}}", "['req']");
    json_t *old = J("{'spec':{'name':'toolong','n':1,'ports':[{'name':'a','port':1000},{'name':'b','port':1}],'tags':['abc']}}");
    /* unchanged invalid parts are tolerated, the missing required field of a
     * changed object is not */
    json_t *upd = J("{'spec':{'name':'toolong','n':1,'ports':[{'name':'b','port':2},{'name':'a','port':1000}],'tags':['abc','x']}}");
    json_t *causes = json_array();
    int n = dv_schema_validate_update(s, upd, old, causes);
    json_t *want = J("[{'field':'spec.tags[0]','reason':'FieldValueTooLong','message':'Too long: may not be more than 2 bytes'},"
                     "{'field':'spec.req','reason':'FieldValueRequired','message':'Required value'}]");
    if (n != 2 || !json_equal(causes, want))
        fail_msg("ratcheting: %s", json_dumps(causes, JSON_COMPACT));
    /* an untouched object passes; without old everything is reported */
    assert_int_equal(dv_schema_validate_update(s, old, old, NULL), 0);
    assert_int_equal(dv_schema_validate_update(s, old, NULL, NULL), 5);
    json_decref(want);
    json_decref(causes);
    json_decref(upd);
    json_decref(old);
    json_decref(s);
}

static void test_invalid_message(void **state)
{
    json_t *causes = J("[{'field':'spec.plan','reason':'FieldValueRequired','message':'Required value'}]");
    char *m = dv_schema_invalid_message("Tenant.paybill.dev", "acme", causes);
    assert_string_equal(m, "Tenant.paybill.dev \"acme\" is invalid: spec.plan: Required value");
    free(m);
    json_array_append_new(causes, J("{'field':'spec.x','reason':'FieldValueRequired','message':'Required value'}"));
    json_array_append_new(causes, J("{'field':'spec.x','reason':'FieldValueRequired','message':'Required value'}"));
    m = dv_schema_invalid_message("Tenant.paybill.dev", "acme", causes);
    assert_string_equal(m, "Tenant.paybill.dev \"acme\" is invalid: [spec.plan: Required value, spec.x: Required value]");
    free(m);
    json_decref(causes);
}

/* ------------------------------------------------------------------------ */
/* pruning                                                                   */

typedef struct pcase {
    const char *name, *schema, *in, *want;
} pcase;

static const pcase pcases[] = {
    {"unknown fields go, root meta stays",
     "{'type':'object','properties':{'spec':{'type':'object','properties':{'a':{'type':'string'}}}}}",
     "{'apiVersion':'x/v1','kind':'K','metadata':{'name':'n','zz':1},'spec':{'a':'1','b':2},'extra':true}",
     "{'apiVersion':'x/v1','kind':'K','metadata':{'name':'n','zz':1},'spec':{'a':'1'}}"},
    {"object without properties is emptied",
     "{'type':'object','properties':{'spec':{'type':'object'}}}", "{'spec':{'a':1}}", "{'spec':{}}"},
    {"preserve-unknown-fields keeps unknown, prunes known",
     "{'type':'object','properties':{'spec':{'type':'object','x-kubernetes-preserve-unknown-fields':true,"
     "'properties':{'known':{'type':'object','properties':{'k':{'type':'string'}}}}}}}",
     "{'spec':{'free':{'deep':[1,{'x':2}]},'known':{'k':'v','drop':1}}}",
     "{'spec':{'free':{'deep':[1,{'x':2}]},'known':{'k':'v'}}}"},
    {"root preserve-unknown-fields",
     "{'type':'object','x-kubernetes-preserve-unknown-fields':true}", "{'a':{'b':1},'kind':'K'}",
     "{'a':{'b':1},'kind':'K'}"},
    {"map values pruned by their schema",
     "{'type':'object','properties':{'m':{'type':'object','additionalProperties':{'type':'object','properties':{'x':{'type':'integer'}}}}}}",
     "{'m':{'a':{'x':1,'y':2},'b':{'z':3}}}", "{'m':{'a':{'x':1},'b':{}}}"},
    {"array items pruned",
     "{'type':'object','properties':{'l':{'type':'array','items':{'type':'object','properties':{'n':{'type':'string'}}}}}}",
     "{'l':[{'n':'a','o':1},{'p':2},'s']}", "{'l':[{'n':'a'},{},'s']}"},
    {"embedded resource keeps apiVersion/kind, coerces metadata",
     "{'type':'object','properties':{'t':{'type':'object','x-kubernetes-embedded-resource':true,"
     "'properties':{'spec':{'type':'object','x-kubernetes-preserve-unknown-fields':true}}}}}",
     "{'t':{'apiVersion':'v1','kind':'Pod','metadata':{'name':'p','labels':{'a':'b'},'bogus':1},'spec':{'x':1},'other':1}}",
     "{'t':{'apiVersion':'v1','kind':'Pod','metadata':{'name':'p','labels':{'a':'b'}},'spec':{'x':1}}}"},
    {"scalars are left alone even if mistyped",
     "{'type':'object','properties':{'s':{'type':'object','properties':{'a':{'type':'string'}}}}}",
     "{'s':'text'}", "{'s':'text'}"},
};

static void test_prune_table(void **state)
{
    for (size_t i = 0; i < sizeof pcases / sizeof pcases[0]; i++) {
        json_t *s = J(pcases[i].schema), *o = J(pcases[i].in), *want = J(pcases[i].want);
        dv_schema_prune(s, o);
        if (!json_equal(o, want)) {
            char *got = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
            fail_msg("%s: got %s", pcases[i].name, got);
        }
        json_decref(s);
        json_decref(o);
        json_decref(want);
    }
}

static void test_prune_report(void **state)
{
    json_t *s = J("{'type':'object','properties':{'spec':{'type':'object','properties':{'l':{'type':'array',"
                  "'items':{'type':'object','properties':{'n':{'type':'string'}}}},'raw':{'type':'object',"
                  "'x-kubernetes-preserve-unknown-fields':true},'t':{'type':'object','x-kubernetes-embedded-resource':true,"
                  "'x-kubernetes-preserve-unknown-fields':true}}}}}");
    json_t *o = J("{'apiVersion':'a/v1','kind':'K','metadata':{'bogus':1},'zeta':1,'spec':{'l':[{'n':'a','x':1},{'y':2}],"
                  "'raw':{'free':1},'b':true,'t':{'apiVersion':'v1','kind':'Pod','metadata':{'name':'p','junk':1}}}}");
    json_t *pruned = json_array();
    assert_int_equal(dv_schema_prune_report(s, o, pruned), 5);
    /* root metadata is the caller's business; embedded metadata is ours */
    json_t *want = J("['spec.b','spec.l[0].x','spec.l[1].y','spec.t.metadata.junk','zeta']");
    if (!json_equal(pruned, want))
        fail_msg("pruned %s", json_dumps(pruned, JSON_COMPACT));
    assert_non_null(json_object_get(json_object_get(json_object_get(o, "spec"), "raw"), "free"));
    json_t *o2 = J("{'spec':{'b':1,'c':2}}");
    assert_int_equal(dv_schema_prune_report(s, o2, NULL), 2);
    json_decref(o2);
    /* nothing left to prune the second time */
    json_array_clear(pruned);
    assert_int_equal(dv_schema_prune_report(s, o, pruned), 0);
    assert_int_equal(dv_schema_prune_report(s, o, NULL), 0);
    json_decref(want);
    json_decref(pruned);
    json_decref(o);
    json_decref(s);
}

/* ------------------------------------------------------------------------ */
/* defaulting                                                                */

static const pcase dcases[] = {
    {"absent field defaulted, present kept",
     "{'type':'object','properties':{'spec':{'type':'object','properties':{'a':{'type':'string','default':'x'},'b':{'type':'integer','default':1}}}}}",
     "{'spec':{'b':5}}", "{'spec':{'a':'x','b':5}}"},
    {"absent object not created without a default",
     "{'type':'object','properties':{'spec':{'type':'object','properties':{'a':{'type':'string','default':'x'}}}}}",
     "{}", "{}"},
    {"{} default triggers nested defaults",
     "{'type':'object','properties':{'spec':{'type':'object','default':{},'properties':{'replicas':{'type':'integer','default':1},"
     "'tier':{'type':'object','default':{},'properties':{'name':{'type':'string','default':'basic'}}}}}}}",
     "{}", "{'spec':{'replicas':1,'tier':{'name':'basic'}}}"},
    {"items defaulted",
     "{'type':'object','properties':{'l':{'type':'array','items':{'type':'object','properties':{'p':{'type':'integer','default':80}}}}}}",
     "{'l':[{},{'p':1}]}", "{'l':[{'p':80},{'p':1}]}"},
    {"map values defaulted",
     "{'type':'object','properties':{'m':{'type':'object','additionalProperties':{'type':'object','properties':{'on':{'type':'boolean','default':true}}}}}}",
     "{'m':{'a':{},'b':{'on':false}}}", "{'m':{'a':{'on':true},'b':{'on':false}}}"},
    {"non-nullable null with default gets the default",
     "{'type':'object','properties':{'a':{'type':'string','default':'x'}}}", "{'a':null}", "{'a':'x'}"},
    {"nullable null is kept",
     "{'type':'object','properties':{'a':{'type':'string','nullable':true,'default':'x'}}}", "{'a':null}", "{'a':null}"},
    {"non-nullable null without default is dropped",
     "{'type':'object','properties':{'a':{'type':'string'},'b':{'type':'string'}}}", "{'a':null,'b':'k'}", "{'b':'k'}"},
    {"null item with default",
     "{'type':'object','properties':{'l':{'type':'array','items':{'type':'string','default':'d'}}}}",
     "{'l':['a',null]}", "{'l':['a','d']}"},
    {"null for an unknown field is left to pruning",
     "{'type':'object','properties':{'a':{'type':'string'}}}", "{'z':null}", "{'z':null}"},
};

static void test_default_table(void **state)
{
    for (size_t i = 0; i < sizeof dcases / sizeof dcases[0]; i++) {
        json_t *s = J(dcases[i].schema), *o = J(dcases[i].in), *want = J(dcases[i].want);
        dv_schema_default(s, o);
        if (!json_equal(o, want)) {
            char *got = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
            fail_msg("%s: got %s", dcases[i].name, got);
        }
        json_decref(s);
        json_decref(o);
        json_decref(want);
    }
}

static void test_default_is_a_copy(void **state)
{
    json_t *s = J("{'type':'object','properties':{'m':{'type':'object','default':{'k':'v'}}}}");
    json_t *o = json_object();
    dv_schema_default(s, o);
    json_object_set_new(json_object_get(o, "m"), "k", json_string("changed"));
    json_t *def = json_object_get(json_object_get(json_object_get(s, "properties"), "m"), "default");
    assert_string_equal(json_string_value(json_object_get(def, "k")), "v");
    json_decref(o);
    json_decref(s);
}

/* ------------------------------------------------------------------------ */
/* structural check                                                          */

typedef struct scase {
    const char *name, *schema;
    const char *want; /* NULL: structural; else the exact message */
} scase;

static const scase scases[] = {
    {"valid",
     "{'type':'object','properties':{'spec':{'type':'object','properties':{'a':{'type':'string','pattern':'^[a-z]+$'},"
     "'l':{'type':'array','items':{'type':'integer'}},'m':{'type':'object','additionalProperties':{'type':'string'}},"
     "'p':{'x-kubernetes-int-or-string':true,'anyOf':[{'type':'integer'},{'type':'string'}]},"
     "'raw':{'x-kubernetes-preserve-unknown-fields':true},"
     "'t':{'type':'object','x-kubernetes-embedded-resource':true,'x-kubernetes-preserve-unknown-fields':true}}},"
     "'metadata':{'type':'object','properties':{'name':{'type':'string','maxLength':20}}}}}",
     NULL},
    {"root without type", "{'properties':{}}", "openAPIV3Schema.type: Required value: must not be empty at the root"},
    {"root not object", "{'type':'string'}", "openAPIV3Schema.type: Invalid value: \"string\": must be object at the root"},
    {"field without type", "{'type':'object','properties':{'spec':{'properties':{}}}}",
     "openAPIV3Schema.properties[spec].type: Required value: must not be empty for specified object fields"},
    {"items without type", "{'type':'object','properties':{'l':{'type':'array','items':{}}}}",
     "openAPIV3Schema.properties[l].items.type: Required value: must not be empty for specified array items"},
    {"array without items", "{'type':'object','properties':{'l':{'type':'array'}}}",
     "openAPIV3Schema.properties[l].items: Required value: must be specified"},
    {"unknown type", "{'type':'object','properties':{'a':{'type':'text'}}}",
     "openAPIV3Schema.properties[a].type: Unsupported value: \"text\": supported values: \"array\", \"boolean\", "
     "\"integer\", \"number\", \"object\", \"string\""},
    {"bad regex", "{'type':'object','properties':{'a':{'type':'string','pattern':'([a-z'}}}", "*must be a valid regular expression, but isn't: "},
    {"invalid regex escape", "{'type':'object','properties':{'a':{'type':'string','pattern':'^\\\\Z$'}}}",
     "*invalid escape sequence"},
    {"valid Go regex we cannot run is accepted", "{'type':'object','properties':{'a':{'type':'string','pattern':'^\\\\p{L}+$'},"
     "'b':{'type':'string','pattern':'(?P<x>a)'},'c':{'type':'string','pattern':'[\\\\x41-\\\\x5a]'}}}", NULL},
    {"preserve-unknown-fields false", "{'type':'object','x-kubernetes-preserve-unknown-fields':false}",
     "openAPIV3Schema.x-kubernetes-preserve-unknown-fields: Invalid value: false: must be true or undefined"},
    {"additionalProperties false", "{'type':'object','additionalProperties':false}",
     "openAPIV3Schema.additionalProperties: Forbidden: additionalProperties cannot be set to false"},
    {"additionalProperties with properties",
     "{'type':'object','properties':{'a':{'type':'string'}},'additionalProperties':{'type':'string'}}",
     "openAPIV3Schema.additionalProperties: Forbidden: additionalProperties and properties are mutual exclusive"},
    {"uniqueItems", "{'type':'object','properties':{'l':{'type':'array','items':{'type':'string'},'uniqueItems':true}}}",
     "openAPIV3Schema.properties[l].uniqueItems: Forbidden: uniqueItems cannot be set to true since the runtime "
     "complexity becomes quadratic"},
    {"metadata beyond name", "{'type':'object','properties':{'metadata':{'type':'object','properties':{'labels':{'type':'object'}}}}}",
     "*openAPIV3Schema.properties[metadata]: Forbidden: must not specify anything other than name and generateName, "
     "but metadata is implicitly specified"},
    {"type inside anyOf", "{'type':'object','properties':{'a':{'type':'string','anyOf':[{'type':'string'}]}}}",
     "openAPIV3Schema.properties[a].anyOf[0].type: Forbidden: must be empty to be structural"},
    {"embedded without type", "{'type':'object','properties':{'t':{'x-kubernetes-embedded-resource':true,'x-kubernetes-preserve-unknown-fields':true}}}",
     "openAPIV3Schema.properties[t].type: Required value: must be object if x-kubernetes-embedded-resource is true"},
    {"bad default", "{'type':'object','properties':{'spec':{'type':'object','properties':{'replicas':{'type':'integer','default':'one'}}}}}",
     "openAPIV3Schema.properties[spec].properties[replicas].default: Invalid value: \"string\":  in body must be "
     "of type integer: \"string\""},
    {"bad nested default", "{'type':'object','properties':{'spec':{'type':'object','default':{'n':'x'},'properties':{'n':{'type':'integer'}}}}}",
     "openAPIV3Schema.properties[spec].default.n: Invalid value: \"string\": n in body must be of type integer: \"string\""},
    {"good defaults", "{'type':'object','properties':{'spec':{'type':'object','default':{},'properties':{'n':{'type':'integer','default':3,'minimum':1}}}}}",
     NULL},
    {"several problems bracketed and sorted", "{'type':'object','properties':{'b':{},'a':{}}}",
     "[openAPIV3Schema.properties[a].type: Required value: must not be empty for specified object fields, "
     "openAPIV3Schema.properties[b].type: Required value: must not be empty for specified object fields]"},
    {"well-formedness errors hide structural ones", "{'properties':{'a':{'$ref':'#/x'}}}",
     "openAPIV3Schema.properties[a].$ref: Forbidden: $ref is not supported"},
    {"additionalProperties at the root", "{'type':'object','additionalProperties':{'type':'string'}}",
     "openAPIV3Schema.additionalProperties: Forbidden: must not be used at the root"},
    {"property only inside a junctor",
     "{'type':'object','properties':{'s':{'type':'object','properties':{'a':{'type':'string'}},'anyOf':[{'properties':{'b':{'minLength':1}}}]}}}",
     "openAPIV3Schema.properties[s].properties[b]: Required value: because it is defined in "
     "openAPIV3Schema.properties[s].anyOf[0].properties[b]"},
    {"metadata inside a junctor",
     "{'type':'object','properties':{'metadata':{'type':'object'}},'allOf':[{'properties':{'metadata':{}}}]}",
     "openAPIV3Schema.allOf[0].properties[metadata]: Forbidden: must not be specified in a nested context"},
    {"kind must be a string", "{'type':'object','properties':{'kind':{'type':'integer'}}}",
     "openAPIV3Schema.properties[kind].type: Invalid value: \"integer\": must be string"},
    {"default inside a junctor", "{'type':'object','properties':{'a':{'type':'string','oneOf':[{'default':'x'}]}}}",
     "openAPIV3Schema.properties[a].oneOf[0].default: Forbidden: must be undefined to be structural"},
    {"int-or-string with preserve", "{'type':'object','properties':{'p':{'x-kubernetes-int-or-string':true,'x-kubernetes-preserve-unknown-fields':true}}}",
     "openAPIV3Schema.properties[p].x-kubernetes-preserve-unknown-fields: Invalid value: true: must be false if "
     "x-kubernetes-int-or-string is true"},
    {"int-or-string allOf pattern", "{'type':'object','properties':{'p':{'x-kubernetes-int-or-string':true,'allOf':[{'anyOf':[{'type':'integer'},{'type':'string'}]},{'pattern':'^[0-9]+%?$'}]}}}",
     NULL},
    {"not an object", "[]", "openAPIV3Schema: Invalid value: must be a JSON schema object"},
};

static void test_structural_table(void **state)
{
    for (size_t i = 0; i < sizeof scases / sizeof scases[0]; i++) {
        json_t *s = J(scases[i].schema);
        char msg[2048];
        int rc = dv_schema_check_structural(s, msg, sizeof msg);
        if (!scases[i].want) {
            if (rc != 0)
                fail_msg("%s: unexpected error: %s", scases[i].name, msg);
        } else if (rc != -1) {
            fail_msg("%s: accepted", scases[i].name);
        } else if (scases[i].want[0] == '*' ? !strstr(msg, scases[i].want + 1)
                                             : strcmp(msg, scases[i].want) != 0) {
            fail_msg("%s:\n got  %s\n want %s", scases[i].name, msg, scases[i].want);
        }
        json_decref(s);
    }
}

static void test_structural_base_and_causes(void **state)
{
    json_t *s = J("{'type':'object','properties':{'spec':{}}}");
    char msg[512];
    assert_int_equal(dv_schema_check_structural_at(s, "spec.versions[0].schema.openAPIV3Schema", msg, sizeof msg), -1);
    assert_string_equal(msg, "spec.versions[0].schema.openAPIV3Schema.properties[spec].type: Required value: must "
                             "not be empty for specified object fields");
    json_t *causes = json_array();
    assert_int_equal(dv_schema_check_structural_causes(s, NULL, causes), 1);
    json_t *c = json_array_get(causes, 0);
    assert_string_equal(json_string_value(json_object_get(c, "field")), "openAPIV3Schema.properties[spec].type");
    assert_string_equal(json_string_value(json_object_get(c, "reason")), "FieldValueRequired");
    assert_string_equal(json_string_value(json_object_get(c, "message")),
                        "Required value: must not be empty for specified object fields");
    json_decref(causes);
    /* a tiny buffer truncates but stays terminated */
    char tiny[8];
    assert_int_equal(dv_schema_check_structural(s, tiny, sizeof tiny), -1);
    assert_int_equal(strlen(tiny), 7);
    json_decref(s);
}

/* ------------------------------------------------------------------------ */
/* adversarial                                                               */

/* {'type':'object','properties':{'a': ... depth levels ... {'type':'string'}}} */
static json_t *deep_schema(int depth)
{
    json_t *s = json_pack("{s:s}", "type", "string");
    for (int i = 0; i < depth; i++)
        s = json_pack("{s:s,s:{s:o}}", "type", "object", "properties", "a", s);
    return s;
}

static json_t *deep_object(int depth)
{
    json_t *o = json_string("leaf");
    for (int i = 0; i < depth; i++)
        o = json_pack("{s:o,s:i}", "a", o, "junk", 1);
    return o;
}

static void test_deep_schema_rejected(void **state)
{
    json_t *s = deep_schema(DV_SCHEMA_MAX_DEPTH + 10);
    char msg[4096];
    assert_int_equal(dv_schema_check_structural(s, msg, sizeof msg), -1);
    assert_non_null(strstr(msg, "exceeds the maximum depth of 64"));
    json_decref(s);
    s = deep_schema(DV_SCHEMA_MAX_DEPTH - 2);
    assert_int_equal(dv_schema_check_structural(s, msg, sizeof msg), 0);
    json_decref(s);
}

static void test_deep_object_bounded(void **state)
{
    json_t *s = deep_schema(200), *o = deep_object(200);
    json_t *causes = json_array();
    int n = dv_schema_validate(s, o, causes);
    assert_int_equal(n, 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(causes, 0), "reason")), "InternalError");
    dv_schema_prune(s, o);
    dv_schema_default(s, o);
    /* pruning stopped at the bound: the top levels lost their junk */
    assert_null(json_object_get(o, "junk"));
    json_decref(causes);
    json_decref(s);
    json_decref(o);

    /* an object far deeper than its (permissive) schema */
    s = J("{'type':'object','x-kubernetes-preserve-unknown-fields':true}");
    o = deep_object(1000);
    assert_int_equal(dv_schema_validate(s, o, NULL), 0);
    dv_schema_prune(s, o);
    dv_schema_default(s, o);
    assert_non_null(json_object_get(o, "junk"));
    json_decref(s);
    json_decref(o);

    /* nested arrays with no item schema are pruned without blowing the stack */
    s = J("{'type':'object','properties':{'l':{'type':'array','items':{'type':'array'}}}}");
    json_t *a = json_array();
    json_array_append_new(a, json_pack("{s:i}", "x", 1));
    for (int i = 0; i < 1000; i++) {
        json_t *w = json_array();
        json_array_append_new(w, a);
        a = w;
    }
    o = json_pack("{s:o}", "l", a);
    dv_schema_prune(s, o);
    json_decref(s);
    json_decref(o);
}

static void test_huge_string(void **state)
{
    size_t n = 4u << 20;
    char *big = malloc(n + 1);
    memset(big, 'a', n);
    big[n] = '\0';
    json_t *s = spec_schema("{'name':{'type':'string','maxLength':63,'pattern':'^a+$','enum':['a']}}", NULL);
    json_t *o = json_pack("{s:{s:s}}", "spec", "name", big);
    json_t *causes = json_array();
    assert_int_equal(dv_schema_validate(s, o, causes), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(causes, 0), "message")),
                        "Too long: may not be more than 63 bytes");
    assert_string_equal(json_string_value(json_object_get(json_array_get(causes, 1), "reason")),
                        "FieldValueNotSupported");
    json_decref(causes);
    json_decref(o);
    json_decref(s);
    free(big);
}

static void test_long_pattern_in_message(void **state)
{
    char pat[2100], props[2400], want[2300];
    memset(pat, 'a', 2000);
    strcpy(pat + 2000, "$");
    snprintf(props, sizeof props, "{'s':{'type':'string','pattern':'%s'}}", pat);
    json_t *s = spec_schema(props, NULL);
    json_t *o = J("{'spec':{'s':'b'}}");
    json_t *causes = json_array();
    assert_int_equal(dv_schema_validate(s, o, causes), 1);
    snprintf(want, sizeof want, "Invalid value: \"b\": spec.s in body should match '%s'", pat);
    assert_string_equal(json_string_value(json_object_get(json_array_get(causes, 0), "message")), want);
    json_decref(causes);
    json_decref(o);
    json_decref(s);
}

static void test_bad_pattern_at_validation_is_ignored(void **state)
{
    /* valid Go we cannot translate: accepted and not enforced */
    json_t *u = spec_schema("{'a':{'type':'string','pattern':'^\\\\p{Lu}+$'}}", NULL);
    json_t *uo = J("{'spec':{'a':'lower'}}");
    assert_int_equal(dv_schema_validate(u, uo, NULL), 0);
    json_decref(uo);
    json_decref(u);

    /* The structural check rejects it; validation must not crash on it. */
    json_t *s = spec_schema("{'a':{'type':'string','pattern':'(['}}", NULL);
    json_t *o = J("{'spec':{'a':'x'}}");
    assert_int_equal(dv_schema_validate(s, o, NULL), 0);
    json_decref(o);
    json_decref(s);
}

static void test_null_and_odd_inputs(void **state)
{
    json_t *o = J("{'a':1}");
    assert_int_equal(dv_schema_validate(NULL, o, NULL), 0);
    dv_schema_prune(NULL, o); /* no schema: everything but apiVersion/kind/metadata goes */
    assert_int_equal(json_object_size(o), 0);
    dv_schema_default(NULL, o);
    json_t *s = J("{'type':'object'}");
    assert_int_equal(dv_schema_validate(s, NULL, NULL), 0);
    json_decref(s);
    json_decref(o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_validation_table),
        cmocka_unit_test(test_formats),
        cmocka_unit_test(test_root_type_error),
        cmocka_unit_test(test_root_map_names),
        cmocka_unit_test(test_ratcheting),
        cmocka_unit_test(test_invalid_message),
        cmocka_unit_test(test_prune_table),
        cmocka_unit_test(test_prune_report),
        cmocka_unit_test(test_default_table),
        cmocka_unit_test(test_default_is_a_copy),
        cmocka_unit_test(test_structural_table),
        cmocka_unit_test(test_structural_base_and_causes),
        cmocka_unit_test(test_deep_schema_rejected),
        cmocka_unit_test(test_deep_object_bounded),
        cmocka_unit_test(test_huge_string),
        cmocka_unit_test(test_long_pattern_in_message),
        cmocka_unit_test(test_bad_pattern_at_validation_is_ignored),
        cmocka_unit_test(test_null_and_odd_inputs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
