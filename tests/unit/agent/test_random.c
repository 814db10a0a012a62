/* Randomized checks of agent/decide against a reference evaluator written
 * here, independently: it reads the policy and step JSON directly (names,
 * not indexes; no bitsets, no compiled form) and applies the rules as
 * policy.h and decide.h state them. Random policies x random steps, then
 * random policy sets, must agree on outcome, reason, deciding rule and
 * deciding policy.
 *
 * Then a fuzz loop: valid specs mutated at random (wrong types, missing and
 * unknown fields, odd strings, huge and deeply nested arrays) must give a
 * clean error or a broken policy that denies, never a crash (the unit
 * tests run under ASan/UBSan).
 *
 * The seed is printed; AGENT_SEED=<n> replays a run, AGENT_ITERS=<n>
 * changes the number of iterations. */
#include "testutil.h"

#include <ctype.h>
#include <math.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "agent_fixture.h"

static uint64_t g_rng;

static uint64_t rnd(void)
{
    g_rng ^= g_rng >> 12;
    g_rng ^= g_rng << 25;
    g_rng ^= g_rng >> 27;
    return g_rng * 2685821657736338717ULL;
}

static int rn(int n) { return (int)(rnd() % (uint64_t)n); }
static int coin(int pct) { return rn(100) < pct; }

/* ---- the random domain ---------------------------------------------------------- */

/* Small value pools per column, so that constraints and values collide
 * often. Index-aligned with the fixture model's columns. */
typedef struct {
    const char *name;
    const char *pool[3]; /* JSON texts */
    int npool;
    int cons;            /* usable in row constraints: 1 eq/ne/in/notIn, 2 + ordering, 3 text (like, isNull) */
} col_dom;

static const col_dom CUST[] = {
    {"id", {"\"00000000-0000-0000-0000-000000000001\"", "\"00000000-0000-0000-0000-000000000002\""}, 2, 0},
    {"email", {"\"a\"", "\"b\""}, 2, 0},
    {"name", {"\"ann\"", "\"bob\"", "null"}, 3, 3},
    {"segment", {"\"smb\"", "\"midmarket\"", "\"enterprise\""}, 3, 1},
    {"created_at", {"\"2026-01-01T00:00:00Z\"", "\"2026-06-01T00:00:00Z\""}, 2, 0},
    {"score", {"1", "2", "3"}, 3, 2},
    {"big", {"10", "20"}, 2, 0},
    {"active", {"true", "false"}, 2, 1},
    {"meta", {"{\"a\":1}", "null"}, 2, 0},
    {"born", {"\"2000-01-01\"", "null"}, 2, 0},
};
static const col_dom INV[] = {
    {"id", {"\"00000000-0000-0000-0000-000000000003\""}, 1, 0},
    {"customer_id", {"\"00000000-0000-0000-0000-000000000001\""}, 1, 0},
    {"amount", {"\"1.00\"", "\"2.5\"", "3"}, 3, 2},
    {"paid", {"true", "false"}, 2, 1},
    {"due_on", {"\"2026-01-31\"", "null"}, 2, 0},
    {"note", {"\"ann\"", "\"'; DROP TABLE invoices; --\"", "null"}, 3, 3},
};
static const char *const TABLES[] = {"customers", "invoices"};
static const char *const OPS[] = {"select", "insert", "update", "delete"};

static const col_dom *cols_of(int t, int *n)
{
    *n = t == 0 ? 10 : 6;
    return t == 0 ? CUST : INV;
}

static json_t *pool_value(const col_dom *c, int allow_null)
{
    for (;;) {
        json_t *v = json_loads(c->pool[rn(c->npool)], JSON_DECODE_ANY, NULL);
        if (allow_null || !json_is_null(v))
            return v;
        json_decref(v);
    }
}

static int required(int t, int c) { return t == 0 ? c == 1 : (c == 1 || c == 2); }
static int nullable(int t, int c) { return t == 0 ? !(c == 0 || c == 1 || c == 4) : !(c <= 3); }

static json_t *rand_subset(const col_dom *cols, int n, int nonempty)
{
    json_t *a = json_array();
    do {
        for (int i = 0; i < n; i++)
            if (coin(50))
                json_array_append_new(a, json_string(cols[i].name));
    } while (nonempty && json_array_size(a) == 0);
    return a;
}

static json_t *rand_ops(int pct)
{
    json_t *a = json_array();
    do {
        for (int i = 0; i < 4; i++)
            if (coin(pct))
                json_array_append_new(a, json_string(OPS[i]));
    } while (json_array_size(a) == 0);
    return a;
}

static json_t *rand_constraint(int t)
{
    int n;
    const col_dom *cols = cols_of(t, &n);
    int c;
    do
        c = rn(n);
    while (!cols[c].cons);
    json_t *o = json_pack("{s:s}", "column", cols[c].name);
    int kind = cols[c].cons;
    int pick = rn(kind == 2 ? 8 : kind == 3 ? 7 : 4);
    static const char *const base[] = {"eq", "ne", "in", "notIn"};
    if (pick < 4) {
        json_object_set_new(o, "op", json_string(base[pick]));
        if (pick >= 2) {
            json_t *a = json_array();
            int k = 1 + rn(2);
            for (int i = 0; i < k; i++)
                json_array_append_new(a, pool_value(&cols[c], 0));
            json_object_set_new(o, "value", a);
        } else {
            json_object_set_new(o, "value", pool_value(&cols[c], 0));
        }
    } else if (kind == 2) {
        static const char *const ord[] = {"lt", "le", "gt", "ge"};
        json_object_set_new(o, "op", json_string(ord[pick - 4]));
        json_object_set_new(o, "value", pool_value(&cols[c], 0));
    } else {
        static const char *const txt[] = {"like", "isNull", "notNull"};
        json_object_set_new(o, "op", json_string(txt[pick - 4]));
        if (pick == 4)
            json_object_set_new(o, "value", json_string(coin(50) ? "a%" : "%b"));
    }
    return o;
}

static json_t *rand_policy(int with_enforcement)
{
    json_t *rules = json_array();
    int nr = 1 + rn(5);
    for (int i = 0; i < nr; i++) {
        int t = rn(2), n;
        const col_dom *cols = cols_of(t, &n);
        json_t *r = json_pack("{s:s,s:o}", "table", TABLES[t], "operations", rand_ops(65));
        if (coin(30))
            json_object_set_new(r, "name", json_sprintf("r%d", i));
        switch (rn(5)) {
        case 1:
            json_object_set_new(r, "columns", rand_subset(cols, n, 0));
            break;
        case 2:
            json_object_set_new(r, "readableColumns", rand_subset(cols, n, 0));
            json_object_set_new(r, "writableColumns", rand_subset(cols, n, 0));
            break;
        case 3:
            json_object_set_new(r, "readableColumns", rand_subset(cols, n, 0));
            break;
        case 4:
            json_object_set_new(r, "columns", rand_subset(cols, n, 0));
            json_object_set_new(r, "writableColumns", rand_subset(cols, n, 0));
            break;
        default:
            break;
        }
        int nk = rn(3);
        if (nk) {
            json_t *k = json_array();
            for (int j = 0; j < nk; j++)
                json_array_append_new(k, rand_constraint(t));
            json_object_set_new(r, "rowConstraints", k);
        }
        if (coin(40))
            json_object_set_new(r, "maxRows", json_integer(coin(50) ? 5 : 50));
        if (coin(40))
            json_object_set_new(r, "requireWhere", json_boolean(coin(50)));
        if (coin(30)) {
            json_t *a = json_object();
            if (coin(50))
                json_object_set_new(a, "operations", rand_ops(50));
            if (coin(50))
                json_object_set_new(a, "rowsAbove", json_integer(coin(50) ? 0 : 10));
            json_object_set_new(r, "approval", a);
        }
        json_array_append_new(rules, r);
    }
    json_t *p = json_pack("{s:o,s:[{s:s,s:s}]}", "rules", rules, "approvers", "kind", "User", "name", "alice");
    int nd = coin(40) ? 1 + rn(2) : 0;
    if (nd) {
        json_t *deny = json_array();
        for (int i = 0; i < nd; i++) {
            int star = coin(20), t = rn(2), n;
            const col_dom *cols = cols_of(t, &n);
            json_t *d = json_pack("{s:s}", "table", star ? "*" : TABLES[t]);
            if (coin(70))
                json_object_set_new(d, "operations", rand_ops(30));
            if (!star && coin(60))
                json_object_set_new(d, "columns", rand_subset(cols, n, 1));
            json_array_append_new(deny, d);
        }
        json_object_set_new(p, "deny", deny);
    }
    if (coin(30))
        json_object_set_new(p, "limits", json_pack("{s:i}", "rowsPerStep", 40));
    if (with_enforcement && coin(25))
        json_object_set_new(p, "enforcement", json_string("Audit"));
    return p;
}

static json_t *rand_row(int t, int update)
{
    int n;
    const col_dom *cols = cols_of(t, &n);
    json_t *o = json_object();
    do {
        for (int c = 0; c < n; c++)
            if ((!update && required(t, c)) || coin(30))
                json_object_set_new(o, cols[c].name, pool_value(&cols[c], nullable(t, c)));
    } while (json_object_size(o) == 0);
    return o;
}

static json_t *rand_step(void)
{
    int t = rn(2), op = rn(4), n;
    const col_dom *cols = cols_of(t, &n);
    json_t *s = json_pack("{s:s,s:s,s:s}", "name", "s", "operation", OPS[op], "table", TABLES[t]);
    if (op == 0 && coin(70))
        json_object_set_new(s, "columns", rand_subset(cols, n, 1));
    if (op != 1 && coin(70)) {
        json_t *w = json_array();
        int k = 1 + rn(2);
        for (int i = 0; i < k; i++) {
            int c = rn(n);
            json_array_append_new(w, json_pack("{s:s,s:s,s:o}", "column", cols[c].name, "op", "eq", "value",
                                               pool_value(&cols[c], 0)));
        }
        json_object_set_new(s, "where", w);
    }
    if (op == 0 && coin(30)) {
        int c = rn(n);
        json_object_set_new(s, "orderBy", json_pack("[{s:s}]", "column", cols[c].name));
    }
    if (op != 1 && coin(50)) {
        static const int lim[] = {3, 30, 100, 2000};
        json_object_set_new(s, "limit", json_integer(lim[rn(4)]));
    }
    if (op == 1) {
        if (coin(50)) {
            json_object_set_new(s, "values", rand_row(t, 0));
        } else {
            json_t *rows = json_array();
            int k = 1 + rn(coin(20) ? 60 : 3);
            for (int i = 0; i < k; i++)
                json_array_append_new(rows, rand_row(t, 0));
            json_object_set_new(s, "rows", rows);
        }
    }
    if (op == 2)
        json_object_set_new(s, "values", rand_row(t, 1));
    return s;
}

/* ---- the reference evaluator ------------------------------------------------------- */

typedef struct {
    pb_decide_outcome outcome;
    pb_decide_reason reason;
    int rule;
    int is_deny;
    int progress;
} ref_t;

static int in_names(const json_t *arr, const char *name)
{
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v)
    {
        if (strcmp(json_string_value(v), name) == 0)
            return 1;
    }
    return 0;
}

typedef struct {
    const char *names[16];
    int n;
} nameset;

static void ns_add(nameset *s, const char *n)
{
    for (int i = 0; i < s->n; i++)
        if (strcmp(s->names[i], n) == 0)
            return;
    s->names[s->n++] = n;
}

/* A value's number, for comparing numeric and integer columns. */
static double num(const json_t *v)
{
    return json_is_string(v) ? strtod(json_string_value(v), NULL) : json_number_value(v);
}

/* Equality as the column's type has it: numbers by value ("1.00" = 1),
 * everything else as JSON. */
static int val_eq(const char *col, const json_t *a, const json_t *b)
{
    if (strcmp(col, "amount") == 0 || strcmp(col, "score") == 0 || strcmp(col, "big") == 0)
        return num(a) == num(b);
    return json_equal((json_t *)a, (json_t *)b);
}

/* SQL truth of a constraint for a written value (NULL: unknown, false). */
static int ref_eval(const json_t *k, const json_t *v)
{
    const char *op = json_string_value(json_object_get(k, "op"));
    const char *col = json_string_value(json_object_get(k, "column"));
    json_t *cv = json_object_get(k, "value");
    int null = !v || json_is_null(v);
    if (strcmp(op, "isNull") == 0)
        return null;
    if (strcmp(op, "notNull") == 0)
        return !null;
    if (null)
        return 0;
    if (strcmp(op, "eq") == 0)
        return val_eq(col, v, cv);
    if (strcmp(op, "ne") == 0)
        return !val_eq(col, v, cv);
    if (strcmp(op, "in") == 0 || strcmp(op, "notIn") == 0) {
        int found = 0;
        size_t i;
        json_t *x;
        json_array_foreach(cv, i, x) found |= val_eq(col, v, x);
        return op[0] == 'i' ? found : !found;
    }
    if (strcmp(op, "like") == 0) {
        const char *s = json_string_value(v), *p = json_string_value(cv);
        size_t ls = strlen(s);
        if (p[0] == '%')
            return ls >= 1 && s[ls - 1] == p[1];
        return s[0] == p[0];
    }
    double a = num(v), b = num(cv);
    if (strcmp(op, "lt") == 0)
        return a < b;
    if (strcmp(op, "le") == 0)
        return a <= b;
    if (strcmp(op, "gt") == 0)
        return a > b;
    return a >= b;
}

static ref_t ref_decide(const json_t *pol, const json_t *step, long long rows)
{
    ref_t r = {PB_DECIDE_DENY, PB_DECIDE_R_NO_RULE, -1, 0, -1};
    const char *table = json_string_value(json_object_get(step, "table"));
    const char *op = json_string_value(json_object_get(step, "operation"));
    int t = strcmp(table, "customers") == 0 ? 0 : 1, n;
    const col_dom *cols = cols_of(t, &n);
    nameset rd = {0}, wr = {0}, touch = {0};
    json_t *sc = json_object_get(step, "columns"), *where = json_object_get(step, "where"),
           *order = json_object_get(step, "orderBy"), *vals = json_object_get(step, "values"),
           *rws = json_object_get(step, "rows");
    size_t i;
    json_t *v;
    if (strcmp(op, "select") == 0) {
        if (sc)
            json_array_foreach(sc, i, v) ns_add(&rd, json_string_value(v));
        else
            for (int c = 0; c < n; c++)
                ns_add(&rd, cols[c].name);
    }
    json_array_foreach(where, i, v) ns_add(&rd, json_string_value(json_object_get(v, "column")));
    json_array_foreach(order, i, v) ns_add(&rd, json_string_value(json_object_get(v, "column")));
    json_t *rowlist = json_array();
    if (vals)
        json_array_append(rowlist, vals);
    json_array_foreach(rws, i, v) json_array_append(rowlist, v);
    json_array_foreach(rowlist, i, v)
    {
        const char *key;
        json_t *x;
        json_object_foreach(v, key, x) ns_add(&wr, key);
    }
    for (int k = 0; k < rd.n; k++)
        ns_add(&touch, rd.names[k]);
    for (int k = 0; k < wr.n; k++)
        ns_add(&touch, wr.names[k]);
    if (strcmp(op, "delete") == 0)
        for (int c = 0; c < n; c++)
            ns_add(&touch, cols[c].name);

    json_array_foreach(json_object_get(pol, "deny"), i, v)
    {
        const char *dt = json_string_value(json_object_get(v, "table"));
        if (strcmp(dt, "*") && strcmp(dt, table))
            continue;
        json_t *dops = json_object_get(v, "operations");
        if (dops && !in_names(dops, op))
            continue;
        json_t *dc = json_object_get(v, "columns");
        int hit = !dc;
        for (int k = 0; dc && k < touch.n && !hit; k++)
            hit = in_names(dc, touch.names[k]);
        if (hit) {
            r.reason = PB_DECIDE_R_DENY_RULE;
            r.rule = (int)i;
            r.is_deny = 1;
            json_decref(rowlist);
            return r;
        }
    }
    long long per_step = -1;
    json_t *lim = json_object_get(pol, "limits");
    if (lim)
        per_step = json_integer_value(json_object_get(lim, "rowsPerStep"));
    json_array_foreach(json_object_get(pol, "rules"), i, v)
    {
        if (strcmp(json_string_value(json_object_get(v, "table")), table) ||
            !in_names(json_object_get(v, "operations"), op))
            continue;
        json_t *c = json_object_get(v, "columns"), *rcols = json_object_get(v, "readableColumns"),
               *wcols = json_object_get(v, "writableColumns");
        json_t *readable = rcols ? rcols : c, *writable = wcols ? wcols : c;
        ref_t cur = {PB_DECIDE_DENY, 0, (int)i, 0, 0};
        int fail = 0;
        for (int k = 0; k < rd.n && !fail; k++)
            if (readable && !in_names(readable, rd.names[k]))
                fail = 1, cur.reason = PB_DECIDE_R_NOT_READABLE;
        if (!fail) {
            cur.progress = 1;
            for (int k = 0; k < wr.n && !fail; k++)
                if (writable && !in_names(writable, wr.names[k]))
                    fail = 1, cur.reason = PB_DECIDE_R_NOT_WRITABLE;
        }
        if (!fail) {
            cur.progress = 2;
            json_t *rw = json_object_get(v, "requireWhere");
            int req = rw ? json_is_true(rw) : 1;
            if (req && (strcmp(op, "update") == 0 || strcmp(op, "delete") == 0) && json_array_size(where) == 0)
                fail = 1, cur.reason = PB_DECIDE_R_WHERE_REQUIRED;
        }
        long long cap = PB_POL_HARD_MAX_ROWS, limit = json_integer_value(json_object_get(step, "limit"));
        long long nrows = (long long)json_array_size(rowlist);
        if (!fail) {
            cur.progress = 3;
            if (per_step > 0 && per_step < cap)
                cap = per_step;
            long long mr = json_integer_value(json_object_get(v, "maxRows"));
            if (mr > 0 && mr < cap)
                cap = mr;
            long long asked = strcmp(op, "insert") == 0 ? nrows : limit;
            if (rows > asked)
                asked = rows;
            if (asked > cap)
                fail = 1, cur.reason = PB_DECIDE_R_TOO_MANY_ROWS;
        }
        if (!fail && (strcmp(op, "insert") == 0 || strcmp(op, "update") == 0)) {
            cur.progress = 4;
            size_t j;
            json_t *k;
            json_array_foreach(json_object_get(v, "rowConstraints"), j, k)
            {
                const char *col = json_string_value(json_object_get(k, "column"));
                size_t ri;
                json_t *row;
                json_array_foreach(rowlist, ri, row)
                {
                    json_t *val = json_object_get(row, col);
                    if (!val && strcmp(op, "update") == 0)
                        continue;
                    if (!val || !ref_eval(k, val)) {
                        fail = 1;
                        cur.reason = PB_DECIDE_R_CONSTRAINT;
                        break;
                    }
                }
                if (fail)
                    break;
            }
        }
        if (!fail) {
            long long eff = strcmp(op, "insert") == 0 ? nrows : (limit > 0 && limit < cap ? limit : cap);
            long long est = rows >= 0 ? rows : eff;
            json_t *ap = json_object_get(v, "approval");
            int needs = 0;
            if (ap) {
                json_t *aops = json_object_get(ap, "operations");
                long long above = json_integer_value(json_object_get(ap, "rowsAbove"));
                needs = (!aops || in_names(aops, op)) && est > above;
            }
            r.outcome = needs ? PB_DECIDE_APPROVAL : PB_DECIDE_ALLOW;
            r.reason = needs ? PB_DECIDE_R_NEEDS_APPROVAL : PB_DECIDE_R_ALLOWED;
            r.rule = (int)i;
            json_decref(rowlist);
            return r;
        }
        if (cur.progress > r.progress)
            r = cur;
    }
    json_decref(rowlist);
    return r;
}

static void seed_from_env(void)
{
    const char *s = getenv("AGENT_SEED");
    g_rng = s ? strtoull(s, NULL, 10) : (uint64_t)time(NULL) * 2654435761ULL + (uint64_t)clock();
    if (!g_rng)
        g_rng = 88172645463325252ULL;
}

static int iters(int def)
{
    const char *s = getenv("AGENT_ITERS");
    return s ? atoi(s) : def;
}

/* ---- single policies -------------------------------------------------------------- */

static void test_random_vs_reference(void **state)
{
    pb_dm_model *m = fx_model();
    seed_from_env();
    uint64_t seed = g_rng;
    printf("random decisions: seed %llu (AGENT_SEED=%llu to replay)\n", (unsigned long long)seed,
           (unsigned long long)seed);
    int n = iters(20000), mismatches = 0, count[3] = {0, 0, 0}, reasons[32] = {0};
    for (int it = 0; it < n; it++) {
        json_t *pj = rand_policy(0);
        json_t *sj = rand_step();
        long long rows = coin(70) ? -1 : (long long[]){0, 7, 60}[rn(3)];
        pb_pol_opts o = {.ns = FX_NS, .name = "r"};
        pb_pol *p;
        pb_err e;
        int rc = pb_pol_compile(pj, m, &o, &p, &e);
        json_t *spec = json_pack("{s:[O]}", "steps", sj);
        pb_steps *w = NULL;
        int src = pb_step_parse(spec, m, NULL, &w, &e);
        if (rc != 0 || src != 0) {
            char *a = json_dumps(pj, JSON_COMPACT), *b = json_dumps(sj, JSON_COMPACT);
            fail_msg("iteration %d: generated input refused (%s)\npolicy %s\nstep %s", it, e.msg, a, b);
        }
        pb_decision d;
        pb_decide_step(p, w, 0, rows, &d);
        ref_t r = ref_decide(pj, sj, rows);
        if (d.outcome != r.outcome || d.reason != r.reason || d.rule != r.rule || d.is_deny != r.is_deny) {
            if (mismatches++ < 5) {
                char *a = json_dumps(pj, JSON_COMPACT), *b = json_dumps(sj, JSON_COMPACT);
                fprintf(stderr,
                        "MISMATCH iteration %d rows %lld\n policy %s\n step %s\n engine %s %s rule %d%s: %s\n "
                        "reference %s %s rule %d%s\n",
                        it, rows, a, b, pb_decide_outcome_name(d.outcome), pb_decide_reason_name(d.reason), d.rule,
                        d.is_deny ? " (deny)" : "", d.message, pb_decide_outcome_name(r.outcome),
                        pb_decide_reason_name(r.reason), r.rule, r.is_deny ? " (deny)" : "");
                free(a);
                free(b);
            }
        }
        count[d.outcome]++;
        reasons[d.reason]++;
        pb_step_free(w);
        pb_pol_free(p);
        json_decref(spec);
        json_decref(sj);
        json_decref(pj);
    }
    printf("  %d iterations: %d allow, %d needs-approval, %d deny; %d mismatches\n", n, count[1], count[2], count[0],
           mismatches);
    printf("  reasons:");
    for (int i = 0; i < 32; i++)
        if (reasons[i])
            printf(" %s=%d", pb_decide_reason_name((pb_decide_reason)i), reasons[i]);
    printf("\n");
    assert_int_equal(mismatches, 0);
    /* the generator must exercise every outcome and the main reasons */
    assert_true(count[0] > n / 20 && count[1] > n / 20 && count[2] > n / 100);
    assert_true(reasons[PB_DECIDE_R_CONSTRAINT] > 0 && reasons[PB_DECIDE_R_DENY_RULE] > 0 &&
                reasons[PB_DECIDE_R_TOO_MANY_ROWS] > 0 && reasons[PB_DECIDE_R_WHERE_REQUIRED] > 0 &&
                reasons[PB_DECIDE_R_NOT_WRITABLE] > 0 && reasons[PB_DECIDE_R_NOT_READABLE] > 0);
    pb_dm_free(m);
}

/* ---- policy sets ------------------------------------------------------------------- */

static const char *const USERS[] = {FX_AGENT, "system:serviceaccount:tenant-acme:other", "carol"};

static json_t *rand_subjects(void)
{
    switch (rn(4)) {
    case 0:
        return NULL; /* default: the paybill-agent ServiceAccount */
    case 1:
        return json_pack("[{s:s,s:s}]", "kind", "ServiceAccount", "name", "other");
    case 2:
        return json_pack("[{s:s,s:s}]", "kind", "Group", "name", "bots");
    default:
        return json_pack("[{s:s,s:s}]", "kind", "User", "name", "carol");
    }
}

static int ref_matches(const json_t *pj, int user, int in_bots)
{
    json_t *s = json_object_get(pj, "subjects");
    if (!s)
        return user == 0;
    json_t *x = json_array_get(s, 0);
    const char *kind = json_string_value(json_object_get(x, "kind"));
    if (strcmp(kind, "ServiceAccount") == 0)
        return user == 1;
    if (strcmp(kind, "Group") == 0)
        return in_bots;
    return user == 2;
}

static void test_random_sets(void **state)
{
    pb_dm_model *m = fx_model();
    seed_from_env();
    g_rng ^= 0x9e3779b97f4a7c15ULL;
    printf("random policy sets: seed %llu\n", (unsigned long long)g_rng);
    int n = iters(20000) / 4, mismatches = 0, outcomes[3] = {0, 0, 0};
    for (int it = 0; it < n; it++) {
        int np = 1 + rn(4);
        json_t *pj[4];
        pb_pol *p[4];
        int broken[4];
        for (int k = 0; k < np; k++) {
            pj[k] = rand_policy(1);
            json_t *sub = rand_subjects();
            if (sub)
                json_object_set_new(pj[k], "subjects", sub);
            broken[k] = coin(5);
            if (broken[k]) /* a typo: the whole policy must deny */
                json_object_set_new(json_array_get(json_object_get(pj[k], "rules"), 0), "readableColums",
                                    json_array());
            char nm[16];
            snprintf(nm, sizeof nm, "p%d", k);
            pb_pol_opts o = {.ns = FX_NS, .name = nm};
            pb_err e;
            pb_pol_compile(pj[k], m, &o, &p[k], &e);
            assert_int_equal(pb_pol_broken(p[k]), broken[k]);
        }
        pb_polset *set;
        pb_err e;
        assert_int_equal(pb_polset_build((const pb_pol *const *)p, (size_t)np, &set, &e), 0);
        int user = rn(3), in_bots = coin(50);
        pb_subj_user u = fx_user(USERS[user]);
        if (in_bots) {
            u.groups[0] = "bots";
            u.n_groups = 1;
        }
        json_t *sj = rand_step();
        json_t *spec = json_pack("{s:[O]}", "steps", sj);
        pb_steps *w;
        assert_int_equal(pb_step_parse(spec, m, NULL, &w, &e), 0);
        pb_decision d, audit[4];
        size_t na;
        pb_decide_set(set, FX_NS, &u, w, 0, -1, &d, audit, 4, &na);

        /* reference combination */
        int hard = -1, allow = -1, appr = -1, soft = -1, nref_audit = 0;
        ref_t rr[4], soft_r = {0};
        for (int k = 0; k < np; k++) {
            if (!ref_matches(pj[k], user, in_bots))
                continue;
            int audit_pol = json_object_get(pj[k], "enforcement") != NULL;
            if (audit_pol) {
                nref_audit++;
                continue;
            }
            if (broken[k]) {
                rr[k] = (ref_t){PB_DECIDE_DENY, PB_DECIDE_R_BROKEN, -1, 0, 0};
            } else {
                rr[k] = ref_decide(pj[k], sj, -1);
            }
            if (rr[k].outcome == PB_DECIDE_ALLOW && allow < 0)
                allow = k;
            else if (rr[k].outcome == PB_DECIDE_APPROVAL && appr < 0)
                appr = k;
            else if (rr[k].outcome == PB_DECIDE_DENY &&
                     (rr[k].reason == PB_DECIDE_R_BROKEN || rr[k].reason == PB_DECIDE_R_DENY_RULE)) {
                if (hard < 0)
                    hard = k;
            } else if (rr[k].outcome == PB_DECIDE_DENY &&
                       (soft < 0 || (soft_r.reason == PB_DECIDE_R_NO_RULE && rr[k].reason != PB_DECIDE_R_NO_RULE))) {
                soft = k;
                soft_r = rr[k];
            }
        }
        int win = hard >= 0 ? hard : allow >= 0 ? allow : appr >= 0 ? appr : soft;
        ref_t want = win >= 0 ? rr[win] : (ref_t){PB_DECIDE_DENY, PB_DECIDE_R_NO_POLICY, -1, 0, 0};
        const char *want_pol = NULL;
        char wp[16];
        if (win >= 0) {
            snprintf(wp, sizeof wp, "p%d", win);
            want_pol = wp;
        }
        int ok = d.outcome == want.outcome && d.reason == want.reason && d.rule == want.rule &&
                 (int)na == nref_audit &&
                 ((!want_pol && !d.policy) || (want_pol && d.policy && strcmp(pb_pol_name(d.policy), want_pol) == 0));
        if (!ok && mismatches++ < 5) {
            fprintf(stderr, "SET MISMATCH iteration %d user %s bots %d: engine %s %s rule %d by %s (audit %zu): %s\n"
                            " reference %s %s rule %d by %s (audit %d)\n",
                    it, USERS[user], in_bots, pb_decide_outcome_name(d.outcome), pb_decide_reason_name(d.reason), d.rule,
                    d.policy ? pb_pol_name(d.policy) : "-", na, d.message, pb_decide_outcome_name(want.outcome),
                    pb_decide_reason_name(want.reason), want.rule, want_pol ? want_pol : "-", nref_audit);
            for (int k = 0; k < np; k++) {
                char *a = json_dumps(pj[k], JSON_COMPACT);
                fprintf(stderr, "  p%d: %s\n", k, a);
                free(a);
            }
            char *b = json_dumps(sj, JSON_COMPACT);
            fprintf(stderr, "  step: %s\n", b);
            free(b);
        }
        outcomes[d.outcome]++;
        pb_step_free(w);
        json_decref(spec);
        json_decref(sj);
        pb_polset_free(set);
        for (int k = 0; k < np; k++) {
            pb_pol_free(p[k]);
            json_decref(pj[k]);
        }
    }
    printf("  %d sets: %d allow, %d needs-approval, %d deny; %d mismatches\n", n, outcomes[1], outcomes[2], outcomes[0],
           mismatches);
    assert_int_equal(mismatches, 0);
    pb_dm_free(m);
}

/* ---- fuzz: mutated specs never crash, broken policies deny ---------------------------- */

static json_t *junk(int depth)
{
    switch (rn(12)) {
    case 0:
        return json_integer((json_int_t)(rnd() % 2000000) - 1000000);
    case 1:
        return json_real((double)rn(1000) / 7.0);
    case 2:
        return json_null();
    case 3:
        return json_boolean(coin(50));
    case 4:
        return json_string("");
    case 5: {
        static const char *const s[] = {"'; DROP TABLE customers; --", "\"quoted\"", "\\", "%", "select",
                                        "*", "customers", "id", "\xc3\xa9t\xc3\xa9", "a\"b", "system:anonymous",
                                        "9223372036854775808", "-0", "1e9999", "2026-02-30", "Enforce", "Audit"};
        return json_string(s[rn((int)(sizeof s / sizeof s[0]))]);
    }
    case 6: {
        /* huge (of scalars) or small (of anything): huge arrays of huge
         * arrays would only measure the allocator */
        json_t *a = json_array();
        int huge = coin(10), k = huge ? 3000 : rn(4);
        for (int i = 0; i < k; i++)
            json_array_append_new(a, !huge && depth < 3 ? junk(depth + 1) : json_integer(i));
        return a;
    }
    case 7: {
        json_t *a = json_array(), *cur = a;
        for (int i = 0; i < 200; i++) { /* deep nesting */
            json_t *n = json_array();
            json_array_append_new(cur, n);
            cur = n;
        }
        return a;
    }
    case 8:
        return json_object();
    case 9: {
        json_t *o = json_object();
        json_object_set_new(o, "column", json_string("segment"));
        json_object_set_new(o, "op", json_string(coin(50) ? "in" : "eq"));
        json_object_set_new(o, "value", depth < 3 ? junk(depth + 1) : json_null());
        return o;
    }
    case 10:
        return json_stringn("a\0b", 3);
    default: {
        char buf[32];
        size_t n = (size_t)rn(31);
        for (size_t i = 0; i < n; i++)
            buf[i] = (char)(0x20 + rn(95));
        return json_stringn(buf, n);
    }
    }
}

/* Replace, remove or add something at a random place of v. */
static void mutate(json_t *v, int depth)
{
    if (json_is_object(v) && json_object_size(v)) {
        size_t pick = (size_t)rn((int)json_object_size(v)), i = 0;
        const char *key;
        json_t *x;
        json_object_foreach(v, key, x)
        {
            if (i++ != pick)
                continue;
            int what = rn(4);
            if (what == 0 && depth < 6 && (json_is_object(x) || json_is_array(x))) {
                mutate(x, depth + 1);
            } else if (what == 1) {
                json_object_del(v, key);
            } else if (what == 2) {
                json_object_set_new(v, key, junk(0));
            } else {
                static const char *const keys[] = {"columns", "readableColumns", "rowConstraints", "deny", "value",
                                                   "x-unknown", "operations", "table", "approval", "limits",
                                                   "fromStep", "values", "rows", "where"};
                json_object_set_new(v, keys[rn(14)], junk(0));
            }
            return;
        }
    } else if (json_is_array(v) && json_array_size(v)) {
        size_t i = (size_t)rn((int)json_array_size(v));
        json_t *x = json_array_get(v, i);
        int what = rn(4);
        if (what == 0 && depth < 6 && (json_is_object(x) || json_is_array(x)))
            mutate(x, depth + 1);
        else if (what == 1)
            json_array_remove(v, i);
        else if (what == 2)
            json_array_set_new(v, i, junk(0));
        else if (json_array_size(v) < 1000)
            for (int k = 0; k < 300; k++) /* a long array of the same element */
                json_array_append(v, x);
    }
}

static void test_fuzz_mutations(void **state)
{
    pb_dm_model *m = fx_model();
    seed_from_env();
    g_rng ^= 0x5bd1e995ULL;
    printf("fuzz: seed %llu\n", (unsigned long long)g_rng);
    int n = iters(20000) / 5, broken = 0, refused = 0, decided = 0;
    for (int it = 0; it < n; it++) {
        json_t *pj = rand_policy(1);
        json_t *sj = rand_step();
        int k = 1 + rn(4);
        for (int i = 0; i < k; i++)
            mutate(coin(50) ? pj : sj, 0);
        if (coin(5)) {
            json_decref(pj);
            pj = junk(0);
        }
        pb_pol_opts o = {.ns = FX_NS, .name = "f"};
        pb_pol *p = NULL;
        pb_err e;
        int rc = pb_pol_compile(pj, m, &o, &p, &e);
        assert_non_null(p);
        assert_true(rc == 0 || rc == PB_EINVAL);
        assert_int_equal(rc != 0, pb_pol_broken(p));
        if (rc)
            assert_true(strlen(pb_pol_reason(p)) > 0);
        broken += rc != 0;
        json_t *st = pb_pol_status_json(p);
        assert_non_null(st);
        json_decref(st);
        json_t *spec = json_pack("{s:[O]}", "steps", sj);
        pb_steps *w = NULL;
        int src = pb_step_parse(spec, m, NULL, &w, &e);
        assert_true(src == 0 || src == PB_EINVAL || src == PB_ETOOLARGE);
        assert_int_equal(src == 0, w != NULL);
        if (src) {
            refused++;
            assert_true(strncmp(e.msg, "spec.steps", 10) == 0);
        } else {
            pb_decision d;
            pb_decide_step(p, w, 0, -1, &d);
            decided++;
            if (pb_pol_broken(p))
                assert_int_equal(d.outcome, PB_DECIDE_DENY);
            assert_true(strlen(d.message) > 0);
        }
        /* the database side must cope with whatever compiled */
        char *sql = NULL;
        pb_sqlgen_target tg = {PB_DM_LAYOUT_SCHEMA, "t_acme", "agent"};
        const pb_pol *one = p;
        assert_int_equal(pb_sqlgen_role(&one, 1, m, &tg, &sql, &e), 0);
        free(sql);
        pb_step_free(w);
        json_decref(spec);
        pb_pol_free(p);
        json_decref(pj);
        json_decref(sj);
    }
    printf("  %d mutated inputs: %d broken policies, %d refused workflows, %d decided\n", n, broken, refused, decided);
    assert_true(broken > n / 10 && refused > n / 10);
    pb_dm_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_random_vs_reference),
        cmocka_unit_test(test_random_sets),
        cmocka_unit_test(test_fuzz_mutations),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
