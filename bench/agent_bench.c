/*
 * agent_bench.c - decision latency of the agent policy engine (src/agent).
 *
 * Question answered: how long does admission wait for a decision on one
 * Workflow step, with 1, 16 and 256 rules per policy and 1,000 policies
 * loaded? The target is p99 <= 10 us.
 *
 * Method:
 *   - a DataModel of 16 tables x 12 columns (every column type);
 *   - 1,000 compiled AgentPolicies in one policy set: the submitter's
 *     namespace holds 10 (its own, and 9 for other subjects, one of them
 *     for a group it is in), the other 990 are spread over 99 other
 *     namespaces; every policy has R rules (R = 1, 16, 256) and 2 deny
 *     rules;
 *   - "spread": the R rules cycle over the 16 tables (what a real policy
 *     looks like); "worst": all R rules on the step's table, and only the
 *     last one allows the step, so every decision walks all R rules;
 *   - a mix of steps decided in turn: select (3 columns, 2 where
 *     conditions, orderBy, limit), update (2 values checked against row
 *     constraints), insert of 1 row, and a step that is denied (its
 *     message names the rule and field, the slowest path);
 *   - each decision is pb_decide_set (index lookup + every applicable
 *     policy + the message) timed alone with CLOCK_MONOTONIC; 200,000
 *     decisions per configuration after 20,000 warm-up ones; p50, p90,
 *     p99, p99.9 and max. The clock's own cost (two reads) is measured and
 *     printed, not subtracted.
 * Also: compiling one policy of R rules, and building the 1,000-policy
 * set, which the controller does once per policy generation.
 *
 * Usage: bench_agent_bench [--quick]   (--quick: 20,000 decisions)
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent/decide.h"
#include "agent/policy.h"
#include "agent/polset.h"
#include "agent/step.h"
#include "provision/datamodel.h"

#define NTABLES 16
#define NCOLS 12
#define NPOL 1000
#define NS_LOCAL 10

static const char *const TYPES[NCOLS] = {"uuid", "text", "text", "enum",    "timestamptz", "integer",
                                         "bigint", "boolean", "jsonb", "date", "numeric(12,2)", "text"};

static double now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

static pb_dm_model *make_model(void)
{
    json_t *tables = json_array();
    for (int t = 0; t < NTABLES; t++) {
        json_t *cols = json_array();
        for (int c = 0; c < NCOLS; c++) {
            char nm[16];
            snprintf(nm, sizeof nm, "c%d", c);
            json_t *col = json_pack("{s:s,s:s}", "name", nm, "type", TYPES[c]);
            if (c == 3)
                json_object_set_new(col, "values", json_pack("[s,s,s]", "smb", "midmarket", "enterprise"));
            json_array_append_new(cols, col);
        }
        char tn[16];
        snprintf(tn, sizeof tn, "t%d", t);
        json_array_append_new(tables, json_pack("{s:s,s:o}", "name", tn, "columns", cols));
    }
    json_t *spec = json_pack("{s:i,s:o}", "version", 1, "tables", tables);
    pb_dm_model *m = NULL;
    pb_err e;
    if (pb_dm_parse_json("bench", spec, &m, &e) != 0) {
        fprintf(stderr, "model: %s\n", e.msg);
        exit(1);
    }
    json_decref(spec);
    return m;
}

/* A policy of r rules. worst: every rule on t0; rules 0..r-2 allow select
 * and update of c0..c2 only, the last one everything the steps ask. */
static json_t *make_policy(int r, int worst, const char *subject_kind, const char *subject)
{
    json_t *rules = json_array();
    for (int i = 0; i < r; i++) {
        char tn[16];
        int last = i == r - 1;
        snprintf(tn, sizeof tn, "t%d", worst ? 0 : i % NTABLES);
        json_t *rule = json_pack("{s:s,s:[s,s,s]}", "table", tn, "operations", "select", "update", "insert");
        if (worst && !last)
            json_object_set_new(rule, "columns", json_pack("[s,s,s]", "c0", "c1", "c2"));
        else
            json_object_set_new(rule, "readableColumns", json_pack("[s,s,s,s,s,s,s]", "c0", "c1", "c2", "c3", "c5", "c9", "c10"));
        if (!(worst && !last))
            json_object_set_new(rule, "writableColumns", json_pack("[s,s,s,s]", "c1", "c2", "c3", "c5"));
        json_object_set_new(rule, "rowConstraints",
                            json_pack("[{s:s,s:s,s:[s,s]},{s:s,s:s,s:i}]", "column", "c3", "op", "in", "value", "smb",
                                      "midmarket", "column", "c5", "op", "lt", "value", 1000));
        json_object_set_new(rule, "maxRows", json_integer(100));
        json_array_append_new(rules, rule);
    }
    json_t *p = json_pack("{s:o,s:[{s:s,s:[s]},{s:s,s:[s]}]}", "rules", rules, "deny", "table", "*", "operations",
                          "delete", "table", "t1", "columns", "c8");
    if (subject)
        json_object_set_new(p, "subjects", json_pack("[{s:s,s:s}]", "kind", subject_kind, "name", subject));
    return p;
}

static const char *STEPS =
    "{\"steps\":["
    "{\"name\":\"find\",\"operation\":\"select\",\"table\":\"t0\",\"columns\":[\"c0\",\"c1\",\"c10\"],"
    "\"where\":[{\"column\":\"c3\",\"op\":\"in\",\"value\":[\"smb\",\"midmarket\"]},"
    "{\"column\":\"c9\",\"op\":\"ge\",\"value\":\"2026-01-01\"}],"
    "\"orderBy\":[{\"column\":\"c10\",\"descending\":true}],\"limit\":50},"
    "{\"name\":\"mark\",\"operation\":\"update\",\"table\":\"t0\",\"values\":{\"c3\":\"midmarket\",\"c5\":7},"
    "\"where\":[{\"column\":\"c0\",\"op\":\"in\",\"fromStep\":\"find\",\"field\":\"c0\"}]},"
    "{\"name\":\"add\",\"operation\":\"insert\",\"table\":\"t0\",\"values\":{\"c1\":\"x\",\"c3\":\"smb\",\"c5\":1}},"
    "{\"name\":\"peek\",\"operation\":\"select\",\"table\":\"t0\",\"columns\":[\"c0\",\"c11\"],\"limit\":10}]}";

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

typedef struct {
    double p50, p90, p99, p999, max;
} lat;

static lat run(const pb_polset *set, const pb_steps *w, const pb_subj_user *u, int n, int only_step, int *outcomes)
{
    double *t = malloc(sizeof(double) * (size_t)n);
    pb_decision d;
    size_t ns = pb_step_count(w);
    for (int i = 0; i < n / 10; i++) /* warm-up */
        pb_decide_set(set, "ns-0", u, w, only_step >= 0 ? (size_t)only_step : (size_t)i % ns, -1, &d, NULL, 0, NULL);
    for (int i = 0; i < n; i++) {
        size_t s = only_step >= 0 ? (size_t)only_step : (size_t)i % ns;
        double a = now_ns();
        pb_decide_set(set, "ns-0", u, w, s, -1, &d, NULL, 0, NULL);
        t[i] = now_ns() - a;
        outcomes[d.outcome]++;
    }
    qsort(t, (size_t)n, sizeof *t, cmp_d);
    lat l = {t[n / 2], t[n * 9 / 10], t[n * 99 / 100], t[(size_t)((double)n * 0.999)], t[n - 1]};
    free(t);
    return l;
}

int main(int argc, char **argv)
{
    int quick = argc > 1 && strcmp(argv[1], "--quick") == 0;
    int n = quick ? 20000 : 200000;
    pb_dm_model *m = make_model();
    pb_err e;
    json_t *sj = json_loads(STEPS, 0, NULL);
    pb_steps *w;
    if (pb_step_parse(sj, m, NULL, &w, &e) != 0) {
        fprintf(stderr, "steps: %s\n", e.msg);
        return 1;
    }
    json_decref(sj);
    pb_subj_user u;
    memset(&u, 0, sizeof u);
    u.username = "system:serviceaccount:ns-0:paybill-agent";
    u.groups[0] = "system:serviceaccounts";
    u.groups[1] = "system:serviceaccounts:ns-0";
    u.groups[2] = "system:authenticated";
    u.groups[3] = "bots";
    u.n_groups = 4;

    double c0 = now_ns();
    for (int i = 0; i < 1000; i++)
        now_ns();
    printf("agent_bench: %d decisions per configuration%s; clock overhead %.0f ns per pair of reads\n", n,
           quick ? " (--quick)" : "", (now_ns() - c0) / 1000.0);
    printf("%-7s %-6s %-10s %8s %8s %8s %8s %8s   %s\n", "rules", "shape", "step", "p50 us", "p90 us", "p99 us",
           "p99.9 us", "max us", "outcomes (allow/approval/deny)");

    static const int RULES[] = {1, 16, 256};
    for (int ri = 0; ri < 3; ri++) {
        for (int worst = 0; worst < 2; worst++) {
            int r = RULES[ri];
            if (worst && r == 1)
                continue;
            pb_pol **pols = calloc(NPOL, sizeof *pols);
            double compile_ns = 0;
            for (int i = 0; i < NPOL; i++) {
                char ns[16], name[16], other[64];
                int local = i < NS_LOCAL;
                snprintf(ns, sizeof ns, "ns-%d", local ? 0 : 1 + i % 99);
                snprintf(name, sizeof name, "p%d", i);
                json_t *spec;
                if (i == 0)
                    spec = make_policy(r, worst, NULL, NULL); /* the submitter's: default subject */
                else if (i == 1)
                    spec = make_policy(r, worst, "Group", "bots"); /* also applies, via a group */
                else {
                    snprintf(other, sizeof other, "agent-%d", i);
                    spec = make_policy(r, worst, "ServiceAccount", other);
                }
                pb_pol_opts o = {.ns = ns, .name = name, .generation = 1};
                double a = now_ns();
                if (pb_pol_compile(spec, m, &o, &pols[i], &e) != 0) {
                    fprintf(stderr, "policy %d: %s\n", i, e.msg);
                    return 1;
                }
                compile_ns += now_ns() - a;
                json_decref(spec);
            }
            pb_polset *set;
            double a = now_ns();
            if (pb_polset_build((const pb_pol *const *)pols, NPOL, &set, &e) != 0) {
                fprintf(stderr, "set: %s\n", e.msg);
                return 1;
            }
            double build_ns = now_ns() - a;
            static const char *const which[] = {"mix", "select", "update", "insert", "denied"};
            for (int k = 0; k < 5; k++) {
                int outcomes[3] = {0, 0, 0};
                lat l = run(set, w, &u, k == 0 ? n : n / 4, k - 1, outcomes);
                printf("%-7d %-6s %-10s %8.2f %8.2f %8.2f %8.2f %8.2f   %d/%d/%d\n", r, worst ? "worst" : "spread",
                       which[k], l.p50 / 1e3, l.p90 / 1e3, l.p99 / 1e3, l.p999 / 1e3, l.max / 1e3, outcomes[1],
                       outcomes[2], outcomes[0]);
            }
            printf("        compile one policy of %d rules: %.1f us; build the set of %d policies: %.2f ms\n", r,
                   compile_ns / NPOL / 1e3, NPOL, build_ns / 1e6);
            pb_polset_free(set);
            for (int i = 0; i < NPOL; i++)
                pb_pol_free(pols[i]);
            free(pols);
        }
    }
    pb_step_free(w);
    pb_dm_free(m);
    return 0;
}
