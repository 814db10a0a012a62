/* Unit tests for the bounded waits of provision/pg ("Hung servers" in
 * pg.h): a PostgreSQL backend that stops answering (SIGSTOP: its socket
 * stays open and the kernel keeps taking our bytes, so neither the
 * server's statement_timeout nor TCP notices) must not hold a worker
 * forever, and the operator's shutdown cutoff ends any wait.
 *
 * Runs its own throwaway PostgreSQL (pgtest.h), with TLS on for the
 * connections that ask for it. Every stopped backend is continued again
 * before its test ends. */
#include "testutil.h"

#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "pgtest.h"
#include "provision/pg.h"
#include "util/metrics.h"

static char tls_dir[64];

/* The server gets a self-signed certificate (openssl's CLI), owned by the
 * user it runs as, its key 0600 as PostgreSQL demands. */
static int setup(void **state)
{
    (void)state;
    pb_log_configure(PB_LOG_WARN, PB_LOG_TEXT, NULL);
    snprintf(tls_dir, sizeof tls_dir, "/tmp/pbtls-XXXXXX");
    if (!mkdtemp(tls_dir))
        return -1;
    char cmd[512], key[128], crt[128];
    snprintf(key, sizeof key, "%s/server.key", tls_dir);
    snprintf(crt, sizeof crt, "%s/server.crt", tls_dir);
    snprintf(cmd, sizeof cmd,
             "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 "
             "-subj /CN=localhost -keyout %s -out %s >/dev/null 2>&1",
             key, crt);
    if (system(cmd) != 0 || chmod(key, 0600) != 0)
        return -1;
    struct passwd *pw = geteuid() == 0 ? getpwnam(PGTEST_USER) : NULL;
    if (pw && (chown(tls_dir, pw->pw_uid, pw->pw_gid) != 0 || chown(key, pw->pw_uid, pw->pw_gid) != 0 ||
               chown(crt, pw->pw_uid, pw->pw_gid) != 0))
        return -1;
    char opts[400];
    snprintf(opts, sizeof opts, "-c ssl=on -c ssl_cert_file=%s -c ssl_key_file=%s", crt, key);
    return pgtest_start_with(&pgtest_srv, opts);
}

static int teardown(void **state)
{
    (void)state;
    pgtest_stop(&pgtest_srv);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tls_dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* The cutoff the tests move (CLOCK_MONOTONIC seconds, 0 none), read
 * through pb_pg_opts.cutoff_ud. */
static double cutoff_at;
static double test_cutoff(void *ud)
{
    return *(const double *)ud;
}

/* paybill_postgres_connections_dropped_total{reason} from the exposition. */
static double dropped(const char *reason)
{
    char *text = NULL;
    size_t len = 0;
    assert_int_equal(pb_metrics_render(pb_metrics_default(), &text, &len, NULL), 0);
    char series[128];
    snprintf(series, sizeof series, "paybill_postgres_connections_dropped_total{reason=\"%s\"} ", reason);
    const char *at = strstr(text, series);
    double v = at ? strtod(at + strlen(series), NULL) : 0;
    free(text);
    return v;
}

/* statement_timeout 400 ms + 300 ms of grace: an answer is awaited 0.7 s. */
static pb_pg_opts quick_opts(void)
{
    return (pb_pg_opts){.conninfo = pgtest_srv.conninfo,
                        .connect_timeout_s = 2,
                        .statement_timeout_ms = 400,
                        .answer_grace_ms = 300,
                        .cutoff = test_cutoff,
                        .cutoff_ud = &cutoff_at};
}

static PGconn *borrow(pb_pg_pool *p)
{
    PGconn *c = NULL;
    pb_err e;
    pb_err_clear(&e);
    if (pb_pg_pool_get(p, NULL, &c, &e) != 0)
        fail_msg("pool get: %s", e.msg);
    return c;
}

static void test_hung_backend_times_out_and_is_dropped(void **state)
{
    (void)state;
    cutoff_at = 0;
    pb_pg_opts o = quick_opts();
    pb_pg_pool *p = NULL;
    assert_int_equal(pb_pg_pool_new(&o, &p, NULL), 0);
    PGconn *c = borrow(p);
    pid_t backend = PQbackendPID(c);
    assert_true(backend > 0);
    assert_int_equal(kill(backend, SIGSTOP), 0);

    pb_err e;
    pb_err_clear(&e);
    double before = dropped("no_answer");
    double t0 = tu_now();
    int rc = pb_pg_exec(c, "SELECT 1", &e);
    double took = tu_now() - t0;
    kill(backend, SIGCONT);
    assert_int_equal(rc, PB_ETIMEOUT);
    assert_true(dropped("no_answer") == before + 1);
    assert_non_null(strstr(e.msg, "no answer in 700 ms"));
    assert_true(took >= 0.65 && took < 5.0);
    /* Dropped: libpq knows, and the pool does not keep it. */
    assert_int_equal(PQstatus(c), CONNECTION_BAD);
    pb_pg_pool_put(p, c);
    assert_int_equal(pb_pg_pool_idle_count(p), 0);

    /* The next borrower gets a working connection. */
    c = borrow(p);
    assert_int_equal(pb_pg_exec(c, "SELECT 1", NULL), 0);
    pb_pg_pool_put(p, c);
    assert_int_equal(pb_pg_pool_idle_count(p), 1);
    pb_pg_pool_free(p);
}

/* A pool whose server stopped answering gives up on all its idle
 * connections after the first one's liveness check, not one check each. */
static void test_pool_gives_up_on_a_hung_server_at_once(void **state)
{
    (void)state;
    cutoff_at = 0;
    pb_pg_opts o = quick_opts();
    o.connect_timeout_s = 1;
    o.max_idle_per_db = 4;
    pb_pg_pool *p = NULL;
    assert_int_equal(pb_pg_pool_new(&o, &p, NULL), 0);
    PGconn *cs[4];
    pid_t pids[5];
    for (int i = 0; i < 4; i++) {
        cs[i] = borrow(p);
        pids[i] = PQbackendPID(cs[i]);
    }
    for (int i = 0; i < 4; i++)
        pb_pg_pool_put(p, cs[i]);
    assert_int_equal(pb_pg_pool_idle_count(p), 4);
    pids[4] = pgtest_postmaster_pid(&pgtest_srv);
    assert_true(pids[4] > 0);
    for (int i = 0; i < 5; i++)
        assert_int_equal(kill(pids[i], SIGSTOP), 0);
    PGconn *c = NULL;
    pb_err e;
    pb_err_clear(&e);
    double t0 = tu_now();
    int rc = pb_pg_pool_get(p, NULL, &c, &e);
    double took = tu_now() - t0;
    for (int i = 0; i < 5; i++)
        kill(pids[i], SIGCONT);
    assert_int_equal(rc, PB_ETIMEOUT);
    assert_null(c);
    /* One liveness check (1 s) and one connection attempt (1 s), not four
     * checks first. */
    assert_true(took >= 1.9 && took < 4.5);
    assert_int_equal(pb_pg_pool_idle_count(p), 0);
    pb_pg_pool_free(p);
}

/* Once a statement got no answer, the next statement on another of the
 * pool's connections (what a caller's error path runs: a rollback, an
 * unlock) waits connect_timeout, not its own bound again; the server's
 * next answer (here: a new connection) restores the full bound. */
static void test_silence_is_shared_by_the_pool(void **state)
{
    (void)state;
    cutoff_at = 0;
    pb_pg_opts o = quick_opts();
    o.connect_timeout_s = 1;
    o.statement_timeout_ms = 2500; /* an answer is awaited 2.8 s */
    pb_pg_pool *p = NULL;
    assert_int_equal(pb_pg_pool_new(&o, &p, NULL), 0);
    PGconn *a = borrow(p), *b = borrow(p), *other = borrow(p);
    pid_t pa = PQbackendPID(a), pb = PQbackendPID(b);
    /* A connection outside the pool learns nothing from it. */
    PGconn *alone = NULL;
    assert_int_equal(pb_pg_connect(&o, NULL, &alone, NULL), 0);
    pid_t pl = PQbackendPID(alone);
    assert_int_equal(kill(pa, SIGSTOP), 0);
    assert_int_equal(kill(pb, SIGSTOP), 0);
    assert_int_equal(kill(pl, SIGSTOP), 0);

    pb_err e;
    pb_err_clear(&e);
    double t0 = tu_now();
    assert_int_equal(pb_pg_exec(a, "SELECT 1", &e), PB_ETIMEOUT);
    double first = tu_now() - t0;
    assert_non_null(strstr(e.msg, "no answer in 2800 ms"));
    pb_err_clear(&e);
    t0 = tu_now();
    assert_int_equal(pb_pg_exec(b, "ROLLBACK", &e), PB_ETIMEOUT);
    double second = tu_now() - t0;
    pb_err e2;
    pb_err_clear(&e2);
    t0 = tu_now();
    assert_int_equal(pb_pg_exec(alone, "SELECT 1", &e2), PB_ETIMEOUT);
    double outside = tu_now() - t0;
    kill(pa, SIGCONT);
    kill(pb, SIGCONT);
    kill(pl, SIGCONT);
    assert_true(first >= 2.75 && first < 6.0);
    assert_true(second >= 0.95 && second < 2.5);
    assert_non_null(strstr(e.msg, "no answer in 1000 ms"));
    assert_non_null(strstr(e.msg, "it had not answered another connection either"));
    assert_true(outside >= 2.75);
    pb_pg_pool_put(p, a);
    pb_pg_pool_put(p, b);
    PQfinish(alone);

    /* The mark holds for a connection lent before it was set: a statement
     * slower than connect_timeout is given up (the price of the shortcut)... */
    pb_err_clear(&e);
    assert_int_equal(pb_pg_exec(other, "SELECT pg_sleep(1.5)", &e), PB_ETIMEOUT);
    pb_pg_pool_put(p, other);
    /* ...until the server answers: a new connection is made, and the same
     * statement has its full bound again. */
    PGconn *c = borrow(p);
    pb_err_clear(&e);
    assert_int_equal(pb_pg_exec(c, "SELECT pg_sleep(1.5)", &e), 0);
    pb_pg_pool_put(p, c);
    pb_pg_pool_free(p);
}

/* A parameterised query (pb_pg_query) and a wait for results read one at
 * a time (pb_pg_next_result) are bounded the same way. */
static void test_query_and_next_result_are_bounded(void **state)
{
    (void)state;
    cutoff_at = 0;
    pb_pg_opts o = quick_opts();
    PGconn *c = NULL;
    assert_int_equal(pb_pg_connect(&o, NULL, &c, NULL), 0);
    pid_t backend = PQbackendPID(c);
    assert_int_equal(kill(backend, SIGSTOP), 0);
    const char *params[1] = {"x"};
    pb_err e;
    pb_err_clear(&e);
    double t0 = tu_now();
    int rc = pb_pg_query(c, "SELECT $1::text", 1, params, NULL, &e);
    double took = tu_now() - t0;
    kill(backend, SIGCONT);
    assert_int_equal(rc, PB_ETIMEOUT);
    assert_true(took >= 0.65 && took < 5.0);
    PQfinish(c);

    assert_int_equal(pb_pg_connect(&o, NULL, &c, NULL), 0);
    backend = PQbackendPID(c);
    assert_int_equal(kill(backend, SIGSTOP), 0);
    assert_int_equal(PQsendQuery(c, "SELECT 1"), 1);
    PGresult *r = (PGresult *)1;
    t0 = tu_now();
    rc = pb_pg_next_result(c, &r, NULL);
    took = tu_now() - t0;
    kill(backend, SIGCONT);
    assert_int_equal(rc, PB_ETIMEOUT);
    assert_null(r);
    assert_true(took >= 0.65 && took < 5.0);
    PQfinish(c);
}

/* The server's statement_timeout still answers first when the server
 * runs (the connection stays usable), and a session that lifts it says
 * so, so that a long statement is not taken for a hung server. */
static void test_server_timeout_first_and_lifted_timeout_followed(void **state)
{
    (void)state;
    cutoff_at = 0;
    pb_pg_opts o = quick_opts();
    PGconn *c = NULL;
    assert_int_equal(pb_pg_connect(&o, NULL, &c, NULL), 0);
    pb_err e;
    pb_err_clear(&e);
    assert_int_equal(pb_pg_exec(c, "SELECT pg_sleep(2)", &e), PB_ETIMEOUT);
    assert_non_null(strstr(e.msg, "SQLSTATE 57014"));
    assert_int_equal(PQstatus(c), CONNECTION_OK);

    assert_int_equal(pb_pg_exec(c, "BEGIN; SET LOCAL statement_timeout = 0", NULL), 0);
    pb_pg_set_statement_timeout(c, 0);
    pb_err_clear(&e);
    if (pb_pg_exec(c, "SELECT pg_sleep(1.2)", &e) != 0)
        fail_msg("a statement under a lifted statement_timeout: %s", e.msg);
    assert_int_equal(pb_pg_exec(c, "COMMIT", NULL), 0);
    pb_pg_set_statement_timeout(c, -1);
    PQfinish(c);
}

static void test_cutoff_ends_waits_and_connects(void **state)
{
    (void)state;
    pb_pg_opts o = quick_opts();
    o.statement_timeout_ms = 10000;
    pb_pg_pool *p = NULL;
    assert_int_equal(pb_pg_pool_new(&o, &p, NULL), 0);
    cutoff_at = 0;
    PGconn *c = borrow(p);
    cutoff_at = tu_now() + 0.4;
    double before = dropped("cut_off");
    pb_err e;
    pb_err_clear(&e);
    double t0 = tu_now();
    int rc = pb_pg_exec(c, "SELECT pg_sleep(5)", &e);
    double took = tu_now() - t0;
    assert_int_equal(rc, PB_ECANCELED);
    assert_non_null(strstr(e.msg, "cut off"));
    assert_true(took >= 0.35 && took < 5.0);
    assert_true(dropped("cut_off") == before + 1);
    assert_int_equal(PQstatus(c), CONNECTION_BAD);
    pb_pg_pool_put(p, c);

    /* Past the cutoff nothing new starts. */
    pb_err_clear(&e);
    c = NULL;
    assert_int_equal(pb_pg_pool_get(p, NULL, &c, &e), PB_ECANCELED);
    assert_null(c);
    assert_non_null(strstr(e.msg, "cut off"));
    cutoff_at = 0;
    pb_pg_pool_free(p);
}

/* A server that takes the TCP connection (the kernel does, from the
 * listen backlog) and never speaks. */
static int silent_listener(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t n = sizeof a;
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(fd, 8) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &n) != 0)
        fail_msg("silent listener");
    *port = ntohs(a.sin_port);
    return fd;
}

static void test_connect_to_a_silent_server_is_bounded(void **state)
{
    (void)state;
    int port = 0, lfd = silent_listener(&port);
    char ci[128];
    snprintf(ci, sizeof ci, "host=127.0.0.1 port=%d user=nobody dbname=x sslmode=disable gssencmode=disable", port);
    pb_pg_opts o = {.conninfo = ci, .connect_timeout_s = 1, .cutoff = test_cutoff, .cutoff_ud = &cutoff_at};
    cutoff_at = 0;
    PGconn *c = NULL;
    pb_err e;
    pb_err_clear(&e);
    double t0 = tu_now();
    assert_int_equal(pb_pg_connect(&o, NULL, &c, &e), PB_ETIMEOUT);
    double took = tu_now() - t0;
    assert_null(c);
    assert_non_null(strstr(e.msg, "no answer in 1 s"));
    assert_true(took >= 0.9 && took < 5.0);

    /* The shutdown's cutoff ends it sooner than connect_timeout. */
    o.connect_timeout_s = 30;
    cutoff_at = tu_now() + 0.3;
    t0 = tu_now();
    pb_err_clear(&e);
    assert_int_equal(pb_pg_connect(&o, NULL, &c, &e), PB_ECANCELED);
    took = tu_now() - t0;
    assert_true(took >= 0.25 && took < 5.0);
    cutoff_at = 0;
    close(lfd);
}

/* COPY into a backend that stopped: the socket's buffers fill, and the
 * wait for room is bounded like any other (nonblocking mode; flushing
 * after each chunk keeps libpq from buffering the whole COPY instead). */
static void test_copy_into_a_hung_backend_is_bounded(void **state)
{
    (void)state;
    cutoff_at = 0;
    pb_pg_opts o = quick_opts();
    PGconn *c = NULL;
    assert_int_equal(pb_pg_connect(&o, NULL, &c, NULL), 0);
    assert_int_equal(pb_pg_exec(c, "CREATE TEMPORARY TABLE sink (line text)", NULL), 0);
    PGresult *r = NULL;
    assert_int_equal(pb_pg_run(c, "COPY sink FROM STDIN", &r, NULL), 0);
    assert_int_equal(PQresultStatus(r), PGRES_COPY_IN);
    PQclear(r);
    pid_t backend = PQbackendPID(c);
    assert_int_equal(kill(backend, SIGSTOP), 0);
    static char chunk[64 * 1024];
    memset(chunk, 'x', sizeof chunk - 1);
    chunk[sizeof chunk - 1] = '\n';
    int rc = 0;
    double t0 = tu_now();
    /* At most 256 MB: far beyond any socket buffer. */
    for (int i = 0; i < 4096 && rc == 0; i++) {
        int put;
        while (rc == 0 && (put = PQputCopyData(c, chunk, (int)sizeof chunk)) == 0)
            rc = pb_pg_wait(c, 1, NULL);
        if (rc == 0 && put < 0)
            fail_msg("PQputCopyData: %s", PQerrorMessage(c));
        if (rc == 0)
            rc = pb_pg_flush(c, NULL);
    }
    double took = tu_now() - t0;
    kill(backend, SIGCONT);
    assert_int_equal(rc, PB_ETIMEOUT);
    assert_true(took < 5.0);
    assert_int_equal(PQstatus(c), CONNECTION_BAD);
    PQfinish(c);
}

/* Over TLS, large rows and a large COPY (many TLS records) arrive whole
 * through the bounded waits: input OpenSSL already holds is taken before
 * the socket is polled again. */
static void test_tls_large_results_and_copy(void **state)
{
    (void)state;
    cutoff_at = 0;
    PGconn *adm = PQconnectdb(pgtest_srv.conninfo);
    assert_int_equal(PQstatus(adm), CONNECTION_OK);
    PQclear(PQexec(adm, "CREATE ROLE tls_user LOGIN PASSWORD 'tls-pw'"));
    PQfinish(adm);
    char ci[256];
    snprintf(ci, sizeof ci, "host=127.0.0.1 port=%d user=tls_user password=tls-pw dbname=postgres sslmode=require",
             pgtest_srv.port);
    pb_pg_opts o = {.conninfo = ci,
                    .connect_timeout_s = 5,
                    .statement_timeout_ms = 10000,
                    .answer_grace_ms = 300,
                    .cutoff = test_cutoff,
                    .cutoff_ud = &cutoff_at};
    PGconn *c = NULL;
    pb_err e;
    pb_err_clear(&e);
    if (pb_pg_connect(&o, NULL, &c, &e) != 0)
        fail_msg("TLS connect: %s", e.msg);
    assert_true(PQsslInUse(c));
    PGresult *r = NULL;
    if (pb_pg_query(c, "SELECT repeat('x', 300000) FROM generate_series(1, 20)", 0, NULL, &r, &e) != 0)
        fail_msg("large rows over TLS: %s", e.msg);
    assert_int_equal(PQntuples(r), 20);
    assert_int_equal(PQgetlength(r, 19, 0), 300000);
    PQclear(r);

    assert_int_equal(pb_pg_run(c, "COPY (SELECT repeat('y', 100000) FROM generate_series(1, 50)) TO STDOUT", &r, NULL), 0);
    assert_int_equal(PQresultStatus(r), PGRES_COPY_OUT);
    PQclear(r);
    long long bytes = 0;
    for (;;) {
        char *buf = NULL;
        int n = PQgetCopyData(c, &buf, 1);
        if (n > 0) {
            bytes += n;
            PQfreemem(buf);
        } else if (n == 0) {
            if (pb_pg_wait(c, 0, &e) != 0)
                fail_msg("COPY over TLS: %s", e.msg);
        } else {
            break;
        }
    }
    assert_int_equal(bytes, 50LL * 100001);
    assert_int_equal(pb_pg_next_result(c, &r, NULL), 0);
    assert_int_equal(PQresultStatus(r), PGRES_COMMAND_OK);
    PQclear(r);
    assert_int_equal(pb_pg_next_result(c, &r, NULL), 0);
    assert_null(r);
    assert_int_equal(pb_pg_exec(c, "SELECT 1", NULL), 0);
    PQfinish(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hung_backend_times_out_and_is_dropped),
        cmocka_unit_test(test_query_and_next_result_are_bounded),
        cmocka_unit_test(test_pool_gives_up_on_a_hung_server_at_once),
        cmocka_unit_test(test_silence_is_shared_by_the_pool),
        cmocka_unit_test(test_server_timeout_first_and_lifted_timeout_followed),
        cmocka_unit_test(test_cutoff_ends_waits_and_connects),
        cmocka_unit_test(test_connect_to_a_silent_server_is_bounded),
        cmocka_unit_test(test_copy_into_a_hung_backend_is_bounded),
        cmocka_unit_test(test_tls_large_results_and_copy),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
