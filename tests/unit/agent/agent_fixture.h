/*
 * agent_fixture.h - what the agent engine's unit tests share: a DataModel
 * with a column of every type, and small helpers to compile policies and
 * parse steps from JSON text. Header-only (static helpers), like pgtest.h,
 * because each test file is its own binary.
 */
#ifndef PAYBILL_AGENT_FIXTURE_H
#define PAYBILL_AGENT_FIXTURE_H

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/decide.h"
#include "agent/policy.h"
#include "agent/polset.h"
#include "agent/sqlgen.h"
#include "agent/step.h"
#include "agent/subject.h"
#include "provision/datamodel.h"

#define FX_FN static __attribute__((unused))

/* customers: 10 columns, one of every type; invoices: the example's. */
static const char *FX_MODEL =
    "{\"version\":3,\"tables\":["
    "{\"name\":\"customers\",\"columns\":["
    "{\"name\":\"id\",\"type\":\"uuid\",\"nullable\":false,\"default\":{\"function\":\"gen_random_uuid\"}},"
    "{\"name\":\"email\",\"type\":\"text\",\"nullable\":false},"
    "{\"name\":\"name\",\"type\":\"text\"},"
    "{\"name\":\"segment\",\"type\":\"enum\",\"values\":[\"smb\",\"midmarket\",\"enterprise\"],\"default\":\"smb\"},"
    "{\"name\":\"created_at\",\"type\":\"timestamptz\",\"nullable\":false,\"default\":{\"function\":\"now\"}},"
    "{\"name\":\"score\",\"type\":\"integer\"},"
    "{\"name\":\"big\",\"type\":\"bigint\"},"
    "{\"name\":\"active\",\"type\":\"boolean\",\"default\":true},"
    "{\"name\":\"meta\",\"type\":\"jsonb\"},"
    "{\"name\":\"born\",\"type\":\"date\"}],"
    "\"primaryKey\":[\"id\"]},"
    "{\"name\":\"invoices\",\"columns\":["
    "{\"name\":\"id\",\"type\":\"uuid\",\"nullable\":false,\"default\":{\"function\":\"gen_random_uuid\"}},"
    "{\"name\":\"customer_id\",\"type\":\"uuid\",\"nullable\":false},"
    "{\"name\":\"amount\",\"type\":\"numeric(12,2)\",\"nullable\":false},"
    "{\"name\":\"paid\",\"type\":\"boolean\",\"nullable\":false,\"default\":false},"
    "{\"name\":\"due_on\",\"type\":\"date\"},"
    "{\"name\":\"note\",\"type\":\"text\"}],"
    "\"primaryKey\":[\"id\"]}]}";

#define FX_NS "tenant-acme"
#define FX_AGENT "system:serviceaccount:tenant-acme:paybill-agent"

FX_FN pb_dm_model *fx_model(void)
{
    pb_dm_model *m = NULL;
    pb_err e;
    if (pb_dm_parse("crm", FX_MODEL, &m, &e) != 0) {
        fprintf(stderr, "fixture model: %s\n", e.msg);
        abort();
    }
    return m;
}

FX_FN json_t *fx_json(const char *text)
{
    json_error_t je;
    json_t *j = json_loads(text, JSON_ALLOW_NUL, &je);
    if (!j) {
        fprintf(stderr, "fixture json: %s: %s\n", je.text, text);
        abort();
    }
    return j;
}

/* Compile a policy from JSON text in FX_NS; *rc gets the return code. */
FX_FN pb_pol *fx_policy_named(const pb_dm_model *m, const char *name, const char *spec, int *rc, pb_err *e)
{
    json_t *j = fx_json(spec);
    pb_pol_opts o = {.ns = FX_NS, .name = name, .generation = 1};
    pb_pol *p = NULL;
    int r = pb_pol_compile(j, m, &o, &p, e);
    if (rc)
        *rc = r;
    json_decref(j);
    return p;
}

FX_FN pb_pol *fx_policy(const pb_dm_model *m, const char *spec, int *rc, pb_err *e)
{
    return fx_policy_named(m, "p", spec, rc, e);
}

/* Parse steps from the JSON text of a steps array (not the whole spec). */
FX_FN pb_steps *fx_steps(const pb_dm_model *m, const char *steps, int *rc, pb_err *e)
{
    char *spec = malloc(strlen(steps) + 16);
    sprintf(spec, "{\"steps\":%s}", steps);
    json_t *j = fx_json(spec);
    free(spec);
    pb_steps *w = NULL;
    int r = pb_step_parse(j, m, NULL, &w, e);
    if (rc)
        *rc = r;
    json_decref(j);
    return w;
}

FX_FN pb_subj_user fx_user(const char *username)
{
    pb_subj_user u;
    memset(&u, 0, sizeof u);
    u.username = username;
    return u;
}

#endif
