/*
 * db_bench.c - what tenant data costs in PostgreSQL, per layout
 * (src/provision/tenantdb.h).
 *
 * 1. provision: for each layout (rls, schema, database), a fresh shared
 *    database "bench_<layout>", the DataModel of examples/00-datamodel.yaml
 *    (customers + invoices) applied, then N tenants created with
 *    pb_tdb_ensure, one after the other, as a controller would. Reported:
 *    tenants/s (median over batches of 100, and the first and last batch,
 *    to show a trend), wall time, a second converging pb_tdb_ensure of 100
 *    tenants (what every resync costs), and the server afterwards: catalog
 *    row counts (pg_class, pg_namespace, pg_attribute of the shared db;
 *    pg_roles, pg_database of the cluster) as the delta from before the
 *    tenants, pg_database_size of the shared db, the sum over tenant
 *    databases, the size of the shared db's pg_catalog, the backends the
 *    library's pool keeps open (pg_stat_activity, application_name
 *    "paybill-operator"), and the size of the ACLs that grow with every
 *    tenant (the rls tables' relacl, the shared schemas' nspacl and the
 *    shared database's datacl): a catalog row must fit in one 8 kB page.
 * 2. move: one tenant with R rows (a quarter customers, the rest invoices,
 *    written as the admin straight into the rls tables with INSERT ...
 *    SELECT generate_series, tenant_id set explicitly) next to a small
 *    neighbour tenant, then pb_tdb_move rls -> schema -> database -> rls.
 *    Per step: seconds, the tenant's data size before the move (sum of
 *    pg_total_relation_size of its tables where it lives; in rls that is
 *    the shared tables, neighbour and dead rows included), MB/s (10^6 bytes)
 *    and rows/s; pb_tdb_checksum before and after every step must be equal
 *    (the neighbour's too, at the end).
 *
 * 3. agent: the Workflow executor (src/provision/agentexec.h) on one
 *    schema-layout tenant with 10,000 invoices, its agent login holding the
 *    grants of one AgentPolicy. For select and update steps of 1 and 100
 *    rows, each step run as the controller runs it (statement built by
 *    agent/stmt.h, pb_ax_begin/exec/commit/end: agent role, ledger entry,
 *    audit record, one transaction) against the same statement run bare
 *    (one transaction, SET LOCAL ROLE to the agent, the statement, commit):
 *    steps/s and the median per step for both, and the difference, the
 *    executor's own overhead per step (target <= 1 ms). Also the memory a
 *    running workflow holds in the controller (its parsed steps, decisions
 *    and a select's kept result), from mallinfo2 over 1,000 of them.
 *
 * It needs a server to talk to: bench/db_bench.sh starts a throwaway one
 * and passes its superuser conninfo. Tables go to stdout as Markdown,
 * progress to stderr. A failed call stops the run with the library's
 * message (exit 1): these numbers mean nothing if a step failed.
 *
 * Usage: bench_db_bench --conninfo CONNINFO [--quick] [-n N] [-d N] [-r ROWS]
 *                       [--only provision|move|agent] [--layouts rls,schema,database]
 *                       [--statement-timeout-ms MS]
 *   -n  tenants for rls and schema (default 1000)
 *   -d  tenants for database (default 200: CREATE DATABASE is heavy, and the
 *       pool keeps a backend per tenant database; see the report)
 *   -r  rows of the moved tenant (default 1,000,000)
 *   --statement-timeout-ms: the library's statement_timeout (default 60 s)
 *   --quick: n 100, d 20, r 50,000 (a smoke run).
 */
#include <libpq-fe.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <malloc.h>

#include "agent/decide.h"
#include "agent/policy.h"
#include "agent/sqlgen.h"
#include "agent/step.h"
#include "agent/stmt.h"
#include "provision/agentexec.h"
#include "provision/datamodel.h"
#include "provision/tenantdb.h"
#include "util/err.h"
#include "util/log.h"

#define BATCH 100
#define PROBE_APP "dbbench-probe" /* our own connections, not the pool's */
#define POOL_APP "paybill-operator" /* what provision/pg.c sets */
#define NEIGHBOUR_ROWS 1000

/* examples/00-datamodel.yaml, spec only, as JSON. */
static const char MODEL_JSON[] =
    "{\"version\":1,\"tables\":["
    "{\"name\":\"customers\",\"columns\":["
    "{\"name\":\"id\",\"type\":\"uuid\",\"nullable\":false,\"default\":{\"function\":\"gen_random_uuid\"}},"
    "{\"name\":\"email\",\"type\":\"text\",\"nullable\":false},"
    "{\"name\":\"name\",\"type\":\"text\"},"
    "{\"name\":\"segment\",\"type\":\"enum\",\"values\":[\"smb\",\"midmarket\",\"enterprise\"],\"default\":\"smb\"},"
    "{\"name\":\"created_at\",\"type\":\"timestamptz\",\"nullable\":false,\"default\":{\"function\":\"now\"}}],"
    "\"primaryKey\":[\"id\"],\"unique\":[[\"email\"]]},"
    "{\"name\":\"invoices\",\"columns\":["
    "{\"name\":\"id\",\"type\":\"uuid\",\"nullable\":false,\"default\":{\"function\":\"gen_random_uuid\"}},"
    "{\"name\":\"customer_id\",\"type\":\"uuid\",\"nullable\":false},"
    "{\"name\":\"amount\",\"type\":\"numeric(12,2)\",\"nullable\":false},"
    "{\"name\":\"paid\",\"type\":\"boolean\",\"nullable\":false,\"default\":false},"
    "{\"name\":\"due_on\",\"type\":\"date\"}],"
    "\"primaryKey\":[\"id\"],"
    "\"foreignKeys\":[{\"columns\":[\"customer_id\"],\"references\":{\"table\":\"customers\",\"columns\":[\"id\"]},"
    "\"onDelete\":\"cascade\"}],"
    "\"indexes\":[{\"name\":\"invoices_by_customer\",\"columns\":[\"customer_id\"]}]}]}";

typedef struct {
    const char *conninfo;
    int n, n_db;
    long long rows;
    int do_provision, do_move, do_agent;
    int layouts[3];           /* indexed by pb_dm_layout */
    int statement_timeout_ms; /* 0: the library's default (60 s) */
} options;

/* Server-side cost, read with our own connection. */
typedef struct {
    long long pg_class, pg_namespace, pg_attribute, pg_roles, pg_database;
    long long shared_bytes, catalog_bytes, tenant_db_bytes, pool_conns;
    long long relacl, nspacl_app, nspacl_paybill, datacl;
    long long pool_private_kb; /* -1: /proc of the server not readable */
} server_stats;

typedef struct {
    pb_dm_layout layout;
    int n;
    double wall_s, median_tps, first_tps, last_tps, converge_tps;
    double client_cpu_s; /* this process (libpq, SCRAM verifiers, the library) */
    double *batch_tps;   /* per batch of BATCH tenants, in order */
    int n_batches;
    server_stats before, after;
} provision_result;

typedef struct {
    pb_dm_layout from, to;
    double seconds;
    long long bytes_before, bytes_after;
    int checksum_ok;
} move_result;

/* ---- helpers ------------------------------------------------------------------ */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(const double *v, int n)
{
    if (n <= 0)
        return 0;
    double *s = malloc((size_t)n * sizeof *s);
    if (!s)
        return 0;
    memcpy(s, v, (size_t)n * sizeof *s);
    qsort(s, (size_t)n, sizeof *s, cmp_double);
    double m = n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
    free(s);
    return m;
}

static void die(const char *what, const pb_err *e)
{
    fprintf(stderr, "db_bench: %s: %s (%s)\n", what, pb_err_msg(e), pb_err_name(e->code));
    exit(1);
}

static void progress(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void progress(const char *fmt, ...)
{
    time_t t = time(NULL);
    struct tm tm;
    char ts[16];
    gmtime_r(&t, &tm);
    strftime(ts, sizeof ts, "%H:%M:%S", &tm);
    fprintf(stderr, "[db_bench %s] ", ts);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

/* An admin connection of our own to `db`, outside the library's pool. */
static PGconn *probe_connect(const options *o, const char *db)
{
    const char *keys[] = {"dbname", "dbname", "application_name", NULL};
    const char *vals[] = {o->conninfo, db, PROBE_APP, NULL};
    PGconn *c = PQconnectdbParams(keys, vals, 1);
    if (PQstatus(c) != CONNECTION_OK) {
        fprintf(stderr, "db_bench: connecting to %s: %s", db, PQerrorMessage(c));
        exit(1);
    }
    return c;
}

/* Run SQL that must succeed; returns the result (caller PQclears). */
static PGresult *must(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        fprintf(stderr, "db_bench: %.200s: %s", sql, PQresultErrorMessage(r));
        exit(1);
    }
    return r;
}

static long long must_ll(PGconn *c, const char *sql)
{
    PGresult *r = must(c, sql);
    long long v = PQntuples(r) > 0 && !PQgetisnull(r, 0, 0) ? atoll(PQgetvalue(r, 0, 0)) : -1;
    PQclear(r);
    return v;
}

/* Private memory (kB) of one process, from /proc: the server must run on
 * this machine and be readable by us (root, or the same user). */
static long long private_kb(const char *pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%s/smaps_rollup", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    long long kb = 0, v;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "Private_Clean: %lld", &v) == 1 || sscanf(line, "Private_Dirty: %lld", &v) == 1)
            kb += v;
    fclose(f);
    return kb;
}

static long long pool_private_kb(PGconn *c)
{
    PGresult *r = must(c, "SELECT pid FROM pg_stat_activity WHERE application_name = '" POOL_APP "'");
    long long total = 0;
    for (int i = 0; i < PQntuples(r) && total >= 0; i++) {
        long long kb = private_kb(PQgetvalue(r, i, 0));
        total = kb < 0 ? -1 : total + kb;
    }
    PQclear(r);
    return total;
}

static void read_stats(const options *o, const char *shared_db, const char *tenant_db_like, server_stats *s)
{
    PGconn *c = probe_connect(o, shared_db);
    char sql[2048];
    snprintf(sql, sizeof sql,
             "SELECT (SELECT count(*) FROM pg_class), (SELECT count(*) FROM pg_namespace),"
             " (SELECT count(*) FROM pg_attribute), (SELECT count(*) FROM pg_roles),"
             " (SELECT count(*) FROM pg_database), pg_database_size(current_database()),"
             " (SELECT sum(pg_total_relation_size(oid)) FROM pg_class"
             "   WHERE relnamespace = 'pg_catalog'::regnamespace AND relkind = 'r'),"
             " (SELECT coalesce(sum(pg_database_size(datname)), 0) FROM pg_database"
             "   WHERE datname LIKE '%s'),"
             " (SELECT count(*) FROM pg_stat_activity WHERE application_name = '" POOL_APP "'),"
             " (SELECT coalesce(pg_column_size(relacl), 0) FROM pg_class WHERE oid = 'app.customers'::regclass),"
             " (SELECT coalesce(pg_column_size(nspacl), 0) FROM pg_namespace WHERE nspname = 'app'),"
             " (SELECT coalesce(pg_column_size(nspacl), 0) FROM pg_namespace WHERE nspname = 'paybill'),"
             " (SELECT coalesce(pg_column_size(datacl), 0) FROM pg_database WHERE datname = current_database())",
             tenant_db_like);
    PGresult *r = must(c, sql);
    long long *f[] = {&s->pg_class,       &s->pg_namespace, &s->pg_attribute,   &s->pg_roles,
                      &s->pg_database,    &s->shared_bytes, &s->catalog_bytes,  &s->tenant_db_bytes,
                      &s->pool_conns,     &s->relacl,       &s->nspacl_app,     &s->nspacl_paybill,
                      &s->datacl};
    for (int i = 0; i < (int)(sizeof f / sizeof f[0]); i++)
        *f[i] = PQgetisnull(r, 0, i) ? 0 : atoll(PQgetvalue(r, 0, i));
    PQclear(r);
    s->pool_private_kb = pool_private_kb(c);
    PQfinish(c);
}

static pb_tdb *open_tdb(const options *o, const char *shared_db, const pb_dm_model *m)
{
    pb_err e;
    pb_err_clear(&e);
    pb_tdb_config cfg = {.admin_conninfo = o->conninfo, .shared_db = shared_db,
                         .statement_timeout_ms = o->statement_timeout_ms};
    pb_tdb *t = NULL;
    if (pb_tdb_new(&cfg, &t, &e))
        die("pb_tdb_new", &e);
    if (pb_tdb_apply_model(t, m, 0, &e))
        die("pb_tdb_apply_model", &e);
    return t;
}

/* ---- 1. provisioning ----------------------------------------------------------- */

static void provision(const options *o, pb_dm_layout l, const pb_dm_model *m, provision_result *res)
{
    const int n = l == PB_DM_LAYOUT_DATABASE ? o->n_db : o->n;
    const char prefix = pb_dm_layout_name(l)[0]; /* r, s, d: ids unique across layouts */
    char shared_db[32], like[16], id[32];
    snprintf(shared_db, sizeof shared_db, "bench_%s", pb_dm_layout_name(l));
    snprintf(like, sizeof like, "t\\_%c%%", prefix);
    memset(res, 0, sizeof *res);
    res->layout = l;
    res->n = n;

    pb_tdb *t = open_tdb(o, shared_db, m);
    read_stats(o, shared_db, like, &res->before);
    progress("provision %s: %d tenants", pb_dm_layout_name(l), n);

    int nb = (n + BATCH - 1) / BATCH;
    double *tps = calloc((size_t)nb, sizeof *tps);
    if (!tps)
        exit(1);
    pb_err e;
    pb_err_clear(&e);
    double t0 = now_s(), tb = t0, cpu0 = cpu_s();
    for (int i = 0; i < n; i++) {
        snprintf(id, sizeof id, "%c%05d", prefix, i);
        pb_tdb_tenant spec = {.id = id, .layout = l, .connection_limit = 10};
        pb_tdb_creds cr;
        if (pb_tdb_ensure(t, &spec, m, &cr, &e))
            die("pb_tdb_ensure", &e);
        pb_tdb_creds_clear(&cr);
        if ((i + 1) % BATCH == 0 || i + 1 == n) {
            double now = now_s();
            int in_batch = (i % BATCH) + 1;
            tps[i / BATCH] = in_batch / (now - tb);
            tb = now;
            if ((i + 1) % 500 == 0 || i + 1 == n)
                progress("  %s %d done", pb_dm_layout_name(l), i + 1);
        }
    }
    res->wall_s = now_s() - t0;
    res->client_cpu_s = cpu_s() - cpu0;
    res->median_tps = median(tps, nb);
    res->first_tps = tps[0];
    res->last_tps = tps[nb - 1];
    res->batch_tps = tps;
    res->n_batches = nb;

    /* Converge: what a resync costs per tenant that is already there. */
    int nc = n < BATCH ? n : BATCH;
    double c0 = now_s();
    for (int i = 0; i < nc; i++) {
        snprintf(id, sizeof id, "%c%05d", prefix, i);
        pb_tdb_tenant spec = {.id = id, .layout = l, .connection_limit = 10,
                              .password = "bench-password-0123456789"};
        pb_tdb_creds cr;
        if (pb_tdb_ensure(t, &spec, m, &cr, &e))
            die("pb_tdb_ensure (converge)", &e);
        pb_tdb_creds_clear(&cr);
    }
    res->converge_tps = nc / (now_s() - c0);

    read_stats(o, shared_db, like, &res->after); /* the pool is still open */
    pb_tdb_free(t);
}

/* ---- 2. move ----------------------------------------------------------------- */

/* Bytes of the tenant's tables where it lives now. */
static long long data_bytes(const options *o, pb_tdb *t, const char *id, const pb_dm_model *m)
{
    pb_err e;
    pb_err_clear(&e);
    pb_tdb_info info;
    if (pb_tdb_info_get(t, id, &info, &e))
        die("pb_tdb_info_get", &e);
    const char *db = info.layout == PB_DM_LAYOUT_DATABASE ? info.location : "bench_move";
    const char *schema = info.layout == PB_DM_LAYOUT_DATABASE ? "app" : info.location;
    PGconn *c = probe_connect(o, db);
    long long total = 0;
    for (size_t i = 0; i < pb_dm_table_count(m); i++) {
        char sql[512];
        snprintf(sql, sizeof sql, "SELECT pg_total_relation_size(format('%%I.%%I', '%s', '%s')::regclass)", schema,
                 pb_dm_table_name(m, i));
        total += must_ll(c, sql);
    }
    PQfinish(c);
    return total;
}

/* Rows straight into the rls tables as the admin (superusers bypass row
 * security, so tenant_id must be given: the column's default would be
 * NULL for a session that is no tenant). Deterministic ids make every run
 * write the same data. */
static void fill(PGconn *c, const char *id, long long rows)
{
    long long nc = rows / 4 > 0 ? rows / 4 : 1, ni = rows - nc;
    char sql[2048];
    snprintf(sql, sizeof sql,
             "INSERT INTO app.customers (tenant_id, id, email, name, segment, created_at)"
             " SELECT '%s', md5('%s c' || g)::uuid, 'c' || g || '@example.test', 'Customer ' || g,"
             "  (ARRAY['smb', 'midmarket', 'enterprise'])[1 + g %% 3],"
             "  timestamptz '2026-01-01 00:00:00+00' + g * interval '1 second'"
             " FROM generate_series(1, %lld) g",
             id, id, nc);
    PQclear(must(c, sql));
    snprintf(sql, sizeof sql,
             "INSERT INTO app.invoices (tenant_id, id, customer_id, amount, paid, due_on)"
             " SELECT '%s', md5('%s i' || g)::uuid, md5('%s c' || (1 + g %% %lld))::uuid,"
             "  (g %% 100000) / 100.0, g %% 2 = 0, date '2026-01-01' + (g %% 365)::int"
             " FROM generate_series(1, %lld) g",
             id, id, id, nc, ni);
    PQclear(must(c, sql));
}

static void checksum(pb_tdb *t, const char *id, const pb_dm_model *m, long long *rows, char sum[65])
{
    pb_err e;
    pb_err_clear(&e);
    if (pb_tdb_checksum(t, id, m, rows, sum, &e))
        die("pb_tdb_checksum", &e);
}

static int move_all(const options *o, const pb_dm_model *m, move_result res[3], double *fill_s,
                    double *checksum_s, long long *rows_out)
{
    pb_tdb *t = open_tdb(o, "bench_move", m);
    pb_err e;
    pb_err_clear(&e);
    const char *ids[2] = {"mover", "neighbour"};
    for (int k = 0; k < 2; k++) {
        pb_tdb_tenant spec = {.id = ids[k], .layout = PB_DM_LAYOUT_RLS, .connection_limit = 10};
        pb_tdb_creds cr;
        if (pb_tdb_ensure(t, &spec, m, &cr, &e))
            die("pb_tdb_ensure", &e);
        pb_tdb_creds_clear(&cr);
    }
    progress("move: filling %s with %lld rows", ids[0], o->rows);
    PGconn *c = probe_connect(o, "bench_move");
    double f0 = now_s();
    fill(c, ids[0], o->rows);
    fill(c, ids[1], NEIGHBOUR_ROWS);
    *fill_s = now_s() - f0;
    /* As a live table would be: visibility hints set, statistics there. */
    PQclear(must(c, "VACUUM ANALYZE app.customers, app.invoices"));
    PQfinish(c);

    long long rows0, nrows0, rows1, nrows1;
    char sum0[65], nsum0[65], sum1[65], nsum1[65];
    double c0 = now_s();
    checksum(t, ids[0], m, &rows0, sum0);
    *checksum_s = now_s() - c0;
    checksum(t, ids[1], m, &nrows0, nsum0);
    *rows_out = rows0;
    if (rows0 != o->rows) {
        fprintf(stderr, "db_bench: %s has %lld rows, expected %lld\n", ids[0], rows0, o->rows);
        return -1;
    }
    progress("move: %s checksum %s, %lld rows", ids[0], sum0, rows0);

    const pb_dm_layout path[4] = {PB_DM_LAYOUT_RLS, PB_DM_LAYOUT_SCHEMA, PB_DM_LAYOUT_DATABASE, PB_DM_LAYOUT_RLS};
    int bad = 0;
    for (int s = 0; s < 3; s++) {
        move_result *r = &res[s];
        r->from = path[s];
        r->to = path[s + 1];
        r->bytes_before = data_bytes(o, t, ids[0], m);
        progress("move: %s -> %s ...", pb_dm_layout_name(r->from), pb_dm_layout_name(r->to));
        double t0 = now_s();
        if (pb_tdb_move(t, ids[0], r->to, m, &e))
            die("pb_tdb_move", &e);
        r->seconds = now_s() - t0;
        r->bytes_after = data_bytes(o, t, ids[0], m);
        checksum(t, ids[0], m, &rows1, sum1);
        r->checksum_ok = rows1 == rows0 && strcmp(sum0, sum1) == 0;
        bad |= !r->checksum_ok;
        progress("move: done in %.1f s, checksum %s", r->seconds, r->checksum_ok ? "equal" : "DIFFERENT");
    }
    checksum(t, ids[1], m, &nrows1, nsum1);
    if (nrows1 != nrows0 || strcmp(nsum0, nsum1) != 0) {
        fprintf(stderr, "db_bench: the neighbour's rows changed: %lld %s -> %lld %s\n", nrows0, nsum0, nrows1,
                nsum1);
        bad = 1;
    }
    pb_tdb_free(t);
    return bad ? -1 : 0;
}

/* ---- output ------------------------------------------------------------------- */

static double mb(long long bytes) { return (double)bytes / 1e6; }

static void print_provision(const provision_result *r, int nr)
{
    printf("\n### Provisioning (pb_tdb_ensure, one tenant after the other)\n\n");
    printf("| layout | tenants | wall s | client CPU s | tenants/s median | first / last batch |"
           " converge tenants/s | 1,000 tenants s |\n");
    printf("|---|---:|---:|---:|---:|---:|---:|---:|\n");
    for (int i = 0; i < nr; i++) {
        char extra[48];
        snprintf(extra, sizeof extra, "%.0f (measured)", r[i].wall_s);
        if (r[i].n != 1000)
            snprintf(extra, sizeof extra, "%.0f (extrapolated from %d)", 1000 / r[i].median_tps, r[i].n);
        printf("| %s | %d | %.1f | %.1f | %.1f | %.1f / %.1f | %.1f | %s |\n", pb_dm_layout_name(r[i].layout),
               r[i].n, r[i].wall_s, r[i].client_cpu_s, r[i].median_tps, r[i].first_tps, r[i].last_tps,
               r[i].converge_tps, extra);
    }
    printf("\nPer batch of %d tenants, tenants/s in order:\n\n", BATCH);
    for (int i = 0; i < nr; i++) {
        printf("- %s:", pb_dm_layout_name(r[i].layout));
        for (int b = 0; b < r[i].n_batches; b++)
            printf(" %.0f", r[i].batch_tps[b]);
        printf("\n");
    }
    printf("\n### Server-side cost after provisioning (delta from before the tenants)\n\n");
    printf("| layout | tenants | pg_class (shared db) | pg_namespace | pg_attribute | pg_roles | pg_database |"
           " shared db MB | its pg_catalog MB | tenant dbs MB | pool backends (private MB) |\n");
    printf("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for (int i = 0; i < nr; i++) {
        const server_stats *a = &r[i].after, *b = &r[i].before;
        char mem[32] = "n/a";
        if (a->pool_private_kb >= 0)
            snprintf(mem, sizeof mem, "%.1f", (double)a->pool_private_kb / 1024);
        printf("| %s | %d | %lld (+%lld) | %lld (+%lld) | %lld (+%lld) | %lld (+%lld) | %lld (+%lld) |"
               " %.1f (+%.1f) | %.1f (+%.1f) | %.1f | %lld (%s) |\n",
               pb_dm_layout_name(r[i].layout), r[i].n, a->pg_class, a->pg_class - b->pg_class, a->pg_namespace,
               a->pg_namespace - b->pg_namespace, a->pg_attribute, a->pg_attribute - b->pg_attribute, a->pg_roles,
               a->pg_roles - b->pg_roles, a->pg_database, a->pg_database - b->pg_database, mb(a->shared_bytes),
               mb(a->shared_bytes - b->shared_bytes), mb(a->catalog_bytes), mb(a->catalog_bytes - b->catalog_bytes),
               mb(a->tenant_db_bytes), a->pool_conns, mem);
    }
    printf("\n### ACLs that grow with every tenant (bytes, pg_column_size; a catalog row must fit in 8 kB)\n\n");
    printf("| layout | tenants | app.customers relacl | schema app nspacl | schema paybill nspacl |"
           " shared db datacl |\n");
    printf("|---|---:|---:|---:|---:|---:|\n");
    for (int i = 0; i < nr; i++) {
        const server_stats *a = &r[i].after;
        printf("| %s | %d | %lld | %lld | %lld | %lld |\n", pb_dm_layout_name(r[i].layout), r[i].n, a->relacl,
               a->nspacl_app, a->nspacl_paybill, a->datacl);
    }
}

static void print_move(const move_result *r, long long rows, double fill_s, double checksum_s)
{
    printf("\n### Move of one tenant with %lld rows (pb_tdb_move)\n\n", rows);
    printf("Fill (INSERT ... SELECT generate_series as the admin, %lld + %d neighbour rows): %.1f s."
           " pb_tdb_checksum of the tenant: %.1f s.\n\n",
           rows, NEIGHBOUR_ROWS, fill_s, checksum_s);
    printf("| step | seconds | MB before (pg_total_relation_size) | MB/s | rows/s | MB after | checksum equal |\n");
    printf("|---|---:|---:|---:|---:|---:|---|\n");
    for (int i = 0; i < 3; i++)
        printf("| %s -> %s | %.1f | %.1f | %.1f | %.0f | %.1f | %s |\n", pb_dm_layout_name(r[i].from),
               pb_dm_layout_name(r[i].to), r[i].seconds, mb(r[i].bytes_before), mb(r[i].bytes_before) / r[i].seconds,
               (double)rows / r[i].seconds, mb(r[i].bytes_after), r[i].checksum_ok ? "yes" : "NO");
}

/* ---- main --------------------------------------------------------------------- */

/* ---- 3. the agent executor ---------------------------------------------------- */

#define AGENT_POLICY                                                                                       \
    "{\"rules\":[{\"table\":\"invoices\",\"operations\":[\"select\",\"update\"],\"maxRows\":1000},"        \
    "{\"table\":\"customers\",\"operations\":[\"select\"],\"columns\":[\"id\",\"name\",\"segment\"]}]}"

typedef struct agent_case {
    const char *label, *steps; /* a Workflow's steps array (one step) */
    double exec_ms, bare_ms;   /* medians per step */
    long long rows;
} agent_case;

static pb_steps *agent_steps(const pb_dm_model *m, const char *steps)
{
    char spec[2048];
    snprintf(spec, sizeof spec, "{\"steps\":%s}", steps);
    json_t *j = json_loads(spec, 0, NULL);
    pb_steps *w = NULL;
    pb_err e;
    pb_err_clear(&e);
    if (!j || pb_step_parse(j, m, NULL, &w, &e))
        die("pb_step_parse", &e);
    json_decref(j);
    return w;
}

/* One step through the executor: what the Workflow controller does.
 * phase[0..3]: the time in pb_ax_begin, _exec, _commit and _end. */
static double exec_once(pb_tdb *t, const pb_dm_model *m, const pb_steps *w, const pb_decision *d, const char *schema,
                        int n, long long *rows, double phase[4])
{
    pb_err e;
    pb_err_clear(&e);
    pb_stmt st;
    if (pb_stmt_build(w, 0, d, schema, NULL, NULL, &st, &e))
        die("pb_stmt_build", &e);
    const char *cols[64];
    for (size_t k = 0; k < st.n_columns && k < 64; k++)
        cols[k] = pb_dm_column_name(m, (size_t)pb_step_table(pb_step_at(w, 0)), (size_t)st.columns[k]);
    char uid[64];
    snprintf(uid, sizeof uid, "bench-%d-%ld", n, (long)getpid());
    pb_ax_step s = {.workflow_uid = uid, .workflow = "tenant-bench/w", .index = 0, .name = "s", .op = "x",
                    .sql = st.sql, .params = (const char *const *)st.params.values, .n_params = st.params.n,
                    .returns_rows = st.returns_rows, .cap = st.cap, .fetch = st.fetch,
                    .fetch_is_probe = st.fetch_is_probe, .columns = cols, .n_columns = st.n_columns,
                    .policy = "p", .rule = "", .submitter = "bench", .spec_hash = "0"};
    double t0 = now_s(), t1, t2, t3;
    pb_ax_tx *tx = NULL;
    pb_ax_result r;
    memset(&r, 0, sizeof r);
    if (pb_ax_begin(t, "bench_agent", "pb_a_bench_agent", 0, &tx, &e))
        die("executor", &e);
    t1 = now_s();
    if (pb_ax_exec(tx, &s, &r, &e))
        die("executor", &e);
    t2 = now_s();
    if (pb_ax_commit(tx, &e))
        die("executor", &e);
    t3 = now_s();
    pb_ax_end(tx);
    double t4 = now_s(), ms = (t4 - t0) * 1e3;
    phase[0] = (t1 - t0) * 1e3;
    phase[1] = (t2 - t1) * 1e3;
    phase[2] = (t3 - t2) * 1e3;
    phase[3] = (t4 - t3) * 1e3;
    *rows = r.rows;
    pb_ax_result_clear(&r);
    pb_stmt_clear(&st);
    return ms;
}

/* The same statement, bare: one transaction as the agent role. */
static double bare_once(PGconn *c, const pb_steps *w, const pb_decision *d, const char *schema)
{
    pb_err e;
    pb_err_clear(&e);
    pb_stmt st;
    if (pb_stmt_build(w, 0, d, schema, NULL, NULL, &st, &e))
        die("pb_stmt_build", &e);
    double t0 = now_s();
    PQclear(must(c, "BEGIN; SET LOCAL ROLE pb_a_bench_agent"));
    PGresult *r = PQexecParams(c, st.sql, (int)st.params.n, NULL, (const char *const *)st.params.values, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK && PQresultStatus(r) != PGRES_COMMAND_OK) {
        fprintf(stderr, "db_bench: %s: %s", st.sql, PQresultErrorMessage(r));
        exit(1);
    }
    PQclear(r);
    PQclear(must(c, "COMMIT"));
    double ms = (now_s() - t0) * 1e3;
    pb_stmt_clear(&st);
    return ms;
}

static void agent_bench(const options *o, const pb_dm_model *m)
{
    pb_err e;
    pb_err_clear(&e);
    progress("agent: tenant, agent login, grants, 10,000 invoices");
    pb_tdb *t = open_tdb(o, "bench_agent", m);
    pb_tdb_tenant spec = {.id = "bench_agent", .layout = PB_DM_LAYOUT_SCHEMA, .connection_limit = -1};
    pb_tdb_creds creds = {0};
    if (pb_tdb_ensure(t, &spec, m, &creds, &e))
        die("pb_tdb_ensure", &e);
    pb_tdb_creds_clear(&creds);
    pb_tdb_agent_target tg;
    if (pb_tdb_agent_ensure(t, "bench_agent", NULL, &creds, &tg, &e))
        die("pb_tdb_agent_ensure", &e);
    pb_tdb_creds_clear(&creds);
    json_t *pj = json_loads(AGENT_POLICY, 0, NULL);
    pb_pol_opts po = {.ns = "tenant-bench", .name = "p", .generation = 1};
    pb_pol *pol = NULL;
    if (pb_pol_compile(pj, m, &po, &pol, &e))
        die("pb_pol_compile", &e);
    json_decref(pj);
    char *sql = NULL;
    pb_sqlgen_target sgt = {.layout = tg.layout, .schema = tg.schema, .role = tg.role};
    const pb_pol *pols[] = {pol};
    if (pb_sqlgen_role(pols, 1, m, &sgt, &sql, &e) || pb_tdb_agent_apply(t, "bench_agent", &tg, m, sql, &e))
        die("agent grants", &e);
    free(sql);
    PGconn *c = probe_connect(o, "bench_agent");
    PQclear(must(c, "INSERT INTO t_bench_agent.customers (id, email, name) VALUES "
                    "('9b2f7a51-4c43-4f8e-9d7b-3c1f4e5a6b7c', 'c@bench', 'C');"
                    "INSERT INTO t_bench_agent.invoices (customer_id, amount, due_on) "
                    "SELECT '9b2f7a51-4c43-4f8e-9d7b-3c1f4e5a6b7c', g % 1000, DATE '2030-01-01' + (g % 100) "
                    "FROM generate_series(1, 10000) g;"
                    "ANALYZE t_bench_agent.invoices"));
    PQfinish(c);
    c = probe_connect(o, "bench_agent");
    char id1[64];
    PGresult *r = must(c, "SELECT id FROM t_bench_agent.invoices LIMIT 1");
    snprintf(id1, sizeof id1, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
    char s1[512], u1[512];
    snprintf(s1, sizeof s1,
             "[{\"name\":\"s\",\"operation\":\"select\",\"table\":\"invoices\",\"columns\":[\"id\",\"amount\"],"
             "\"where\":[{\"column\":\"id\",\"op\":\"eq\",\"value\":\"%s\"}],\"limit\":1}]",
             id1);
    snprintf(u1, sizeof u1,
             "[{\"name\":\"s\",\"operation\":\"update\",\"table\":\"invoices\",\"values\":{\"paid\":true},"
             "\"where\":[{\"column\":\"id\",\"op\":\"eq\",\"value\":\"%s\"}],\"limit\":1}]",
             id1);
    agent_case cases[] = {
        {"select, 1 row (by id)", s1, 0, 0, 0},
        {"select, 100 rows", "[{\"name\":\"s\",\"operation\":\"select\",\"table\":\"invoices\",\"columns\":[\"id\","
                             "\"amount\",\"due_on\"],\"where\":[{\"column\":\"due_on\",\"op\":\"eq\",\"value\":"
                             "\"2030-01-05\"}],\"limit\":100}]",
         0, 0, 0},
        {"update, 1 row (by id)", u1, 0, 0, 0},
        {"update, 100 rows", "[{\"name\":\"s\",\"operation\":\"update\",\"table\":\"invoices\",\"values\":{\"paid\":"
                             "true},\"where\":[{\"column\":\"due_on\",\"op\":\"eq\",\"value\":\"2030-01-07\"}],"
                             "\"limit\":100}]",
         0, 0, 0},
    };
    int n = o->n >= 1000 ? 500 : 100;
    double *exec_ms = calloc((size_t)n, sizeof *exec_ms), *bare_ms = calloc((size_t)n, sizeof *bare_ms);
    double *phase_ms = calloc((size_t)n * 4, sizeof *phase_ms), one[4], *col = calloc((size_t)n, sizeof *col);
    double phase_med[4][4]; /* per case: medians of pb_ax_begin, _exec, _commit, _end */
    static int serial;
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        progress("agent: %s, %d steps each way", cases[k].label, n);
        pb_steps *w = agent_steps(m, cases[k].steps);
        pb_decision d;
        pb_decide_step(pol, w, 0, -1, &d);
        if (d.outcome != PB_DECIDE_ALLOW) {
            fprintf(stderr, "db_bench: agent step not allowed: %s\n", d.message);
            exit(1);
        }
        /* Alternate, so that drift (caches, autovacuum) hits both alike. */
        for (int i = 0; i < n; i++) {
            exec_ms[i] = exec_once(t, m, w, &d, "t_bench_agent", serial++, &cases[k].rows, one);
            memcpy(phase_ms + 4 * i, one, sizeof one);
            bare_ms[i] = bare_once(c, w, &d, "t_bench_agent");
        }
        cases[k].exec_ms = median(exec_ms, n);
        cases[k].bare_ms = median(bare_ms, n);
        for (int ph = 0; ph < 4; ph++) {
            for (int i = 0; i < n; i++)
                col[i] = phase_ms[4 * i + ph];
            phase_med[k][ph] = median(col, n);
        }
        pb_step_free(w);
    }
    free(exec_ms);
    free(bare_ms);
    free(phase_ms);
    free(col);
    /* Memory a running workflow holds in the controller. */
    const char *wf = "[{\"name\":\"find\",\"operation\":\"select\",\"table\":\"invoices\",\"columns\":[\"id\",\"amount\"],"
                     "\"where\":[{\"column\":\"paid\",\"op\":\"eq\",\"value\":false}],\"limit\":10},"
                     "{\"name\":\"pay\",\"operation\":\"update\",\"table\":\"invoices\",\"values\":{\"paid\":true},"
                     "\"where\":[{\"column\":\"id\",\"op\":\"in\",\"fromStep\":\"find\",\"field\":\"id\"}]}]";
    enum { K = 1000 };
    struct mallinfo2 before = mallinfo2();
    pb_steps **ws = calloc(K, sizeof *ws);
    pb_decision **ds = calloc(K, sizeof *ds);
    json_t **res = calloc(K, sizeof *res);
    for (int i = 0; i < K; i++) {
        ws[i] = agent_steps(m, wf);
        ds[i] = calloc(2, sizeof(pb_decision));
        res[i] = json_array();
        for (int j = 0; j < 10; j++)
            json_array_append_new(res[i], json_pack("{s:s,s:s}", "id", id1, "amount", "12.50"));
    }
    struct mallinfo2 after = mallinfo2();
    double per_wf = (double)(after.uordblks - before.uordblks) / K;
    for (int i = 0; i < K; i++) {
        pb_step_free(ws[i]);
        free(ds[i]);
        json_decref(res[i]);
    }
    free(ws);
    free(ds);
    free(res);
    PQfinish(c);
    pb_pol_free(pol);
    pb_tdb_free(t);

    printf("\n## Agent workflow steps (schema layout, 10,000 invoices, %d steps per case each way)\n\n", n);
    printf("| step | rows | executor: steps/s | executor ms/step | bare statement ms | executor overhead ms |\n");
    printf("|---|---:|---:|---:|---:|---:|\n");
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++)
        printf("| %s | %lld | %.0f | %.3f | %.3f | %.3f |\n", cases[k].label, cases[k].rows, 1e3 / cases[k].exec_ms,
               cases[k].exec_ms, cases[k].bare_ms, cases[k].exec_ms - cases[k].bare_ms);
    printf("\nWhere an executor step's time goes (medians, ms; they need not add up to the median step):\n\n");
    printf("| step | pb_ax_begin | pb_ax_exec | pb_ax_commit | pb_ax_end |\n|---|---:|---:|---:|---:|\n");
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++)
        printf("| %s | %.3f | %.3f | %.3f | %.3f |\n", cases[k].label, phase_med[k][0], phase_med[k][1],
               phase_med[k][2], phase_med[k][3]);
    printf("\nBare: BEGIN; SET LOCAL ROLE <agent>; the statement; COMMIT on one connection. Executor: the same "
           "statement through pb_ax_begin/exec/commit/end (ledger lookup, role, timeout, the statement, audit record "
           "and ledger entry in the same transaction). A running workflow holds %.1f KiB in the controller (its "
           "parsed steps, decisions and a 10-row result; mallinfo2 over %d).\n",
           per_wf / 1024.0, K);
}

static void usage(void)
{
    fprintf(stderr, "usage: bench_db_bench --conninfo CONNINFO [--quick] [-n N] [-d N] [-r ROWS]\n"
                    "                      [--only provision|move|agent] [--layouts rls,schema,database]\n"
                    "                      [--statement-timeout-ms MS]\n");
    exit(2);
}

static void parse_args(int argc, char **argv, options *o)
{
    *o = (options){.n = 1000, .n_db = 200, .rows = 1000000, .do_provision = 1, .do_move = 1, .do_agent = 1,
                   .layouts = {1, 1, 1}};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--quick") == 0) {
            o->n = 100;
            o->n_db = 20;
            o->rows = 50000;
            continue;
        }
        if (!v)
            usage();
        i++;
        if (strcmp(a, "--conninfo") == 0)
            o->conninfo = v;
        else if (strcmp(a, "-n") == 0)
            o->n = atoi(v);
        else if (strcmp(a, "-d") == 0)
            o->n_db = atoi(v);
        else if (strcmp(a, "-r") == 0)
            o->rows = atoll(v);
        else if (strcmp(a, "--statement-timeout-ms") == 0)
            o->statement_timeout_ms = atoi(v);
        else if (strcmp(a, "--only") == 0) {
            o->do_provision = strcmp(v, "provision") == 0;
            o->do_move = strcmp(v, "move") == 0;
            o->do_agent = strcmp(v, "agent") == 0;
        } else if (strcmp(a, "--layouts") == 0) {
            for (int l = 0; l < 3; l++)
                o->layouts[l] = strstr(v, pb_dm_layout_name((pb_dm_layout)l)) != NULL;
        } else
            usage();
    }
    if (!o->conninfo || o->n < 1 || o->n_db < 1 || o->rows < 4 || (!o->do_provision && !o->do_move && !o->do_agent))
        usage();
}

int main(int argc, char **argv)
{
    options o;
    parse_args(argc, argv, &o);
    pb_log_configure(PB_LOG_WARN, PB_LOG_TEXT, NULL);

    pb_dm_model *m = NULL;
    pb_err e;
    pb_err_clear(&e);
    if (pb_dm_parse("crm", MODEL_JSON, &m, &e))
        die("model", &e);

    PGconn *c = probe_connect(&o, NULL);
    PGresult *r = must(c, "SELECT current_setting('server_version'), current_setting('fsync'),"
                          " current_setting('synchronous_commit'), current_setting('shared_buffers'),"
                          " current_setting('max_connections')");
    printf("Server: PostgreSQL %s, fsync=%s, synchronous_commit=%s, shared_buffers=%s, max_connections=%s\n",
           PQgetvalue(r, 0, 0), PQgetvalue(r, 0, 1), PQgetvalue(r, 0, 2), PQgetvalue(r, 0, 3), PQgetvalue(r, 0, 4));
    PQclear(r);
    PQfinish(c);

    int rc = 0;
    if (o.do_provision) {
        provision_result res[3];
        int nr = 0;
        for (int l = 0; l < 3; l++)
            if (o.layouts[l])
                provision(&o, (pb_dm_layout)l, m, &res[nr++]);
        print_provision(res, nr);
        for (int i = 0; i < nr; i++)
            free(res[i].batch_tps);
    }
    if (o.do_move) {
        move_result mr[3];
        double fill_s = 0, checksum_s = 0;
        long long rows = 0;
        rc = move_all(&o, m, mr, &fill_s, &checksum_s, &rows);
        print_move(mr, rows, fill_s, checksum_s);
        if (rc)
            fprintf(stderr, "db_bench: CHECKSUM MISMATCH\n");
    }
    if (o.do_agent)
        agent_bench(&o, m);
    fflush(stdout);
    pb_dm_free(m);
    return rc ? 1 : 0;
}
