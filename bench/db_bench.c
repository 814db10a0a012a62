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
 * It needs a server to talk to: bench/db_bench.sh starts a throwaway one
 * and passes its superuser conninfo. Tables go to stdout as Markdown,
 * progress to stderr. A failed call stops the run with the library's
 * message (exit 1): these numbers mean nothing if a step failed.
 *
 * Usage: bench_db_bench --conninfo CONNINFO [--quick] [-n N] [-d N] [-r ROWS]
 *                       [--only provision|move] [--layouts rls,schema,database]
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
    int do_provision, do_move;
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

static void usage(void)
{
    fprintf(stderr, "usage: bench_db_bench --conninfo CONNINFO [--quick] [-n N] [-d N] [-r ROWS]\n"
                    "                      [--only provision|move] [--layouts rls,schema,database]\n"
                    "                      [--statement-timeout-ms MS]\n");
    exit(2);
}

static void parse_args(int argc, char **argv, options *o)
{
    *o = (options){.n = 1000, .n_db = 200, .rows = 1000000, .do_provision = 1, .do_move = 1,
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
        } else if (strcmp(a, "--layouts") == 0) {
            for (int l = 0; l < 3; l++)
                o->layouts[l] = strstr(v, pb_dm_layout_name((pb_dm_layout)l)) != NULL;
        } else
            usage();
    }
    if (!o->conninfo || o->n < 1 || o->n_db < 1 || o->rows < 4 || (!o->do_provision && !o->do_move))
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
    fflush(stdout);
    pb_dm_free(m);
    return rc ? 1 : 0;
}
