/*
 * billing_bench.c - billing webhook receipt on one thread (one core):
 * what the endpoint's handler does per delivery - Stripe signature check
 * (stripe scheme, two live secrets, the matching one second, as during a
 * rotation), event parse, and the durable inbox insert (committed) - as
 * events per second with p50/p99 latency; then the inbox filled to
 * --events rows (default 100,000) and its size in PostgreSQL (table,
 * indexes, TOAST), bytes per event, and the time to claim the oldest
 * pending batch at that size. Also the usage outbox: closing a period for
 * --subs subscriptions (3 meters each) and claiming their reports.
 *
 * The body is a realistic Stripe customer.subscription.updated event
 * (~1.3 KB). The HTTP/TLS layer (libwebsockets) is not in these numbers.
 *
 * Usage: bench_billing_bench --conninfo CONNINFO [--events N] [--timed N]
 *        [--subs N]   (bench/billing_bench.sh starts a throwaway server)
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "controllers/billing.h"
#include "provision/billing_inbox.h"
#include "provision/billing_outbox.h"
#include "provision/pg.h"
#include "server/billing_sig.h"
#include "util/log.h"

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + t.tv_nsec / 1e9;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

typedef struct hdr_ud {
    const char *sig;
} hdr_ud;

static int header(const void *ud, const char *name, char *buf, size_t n)
{
    if (strcasecmp(name, "Stripe-Signature") != 0)
        return -1;
    snprintf(buf, n, "%s", ((const hdr_ud *)ud)->sig);
    return (int)strlen(buf);
}

static char *event_body(long i, int64_t created)
{
    char *b = malloc(2048);
    snprintf(b, 2048,
             "{\"id\":\"evt_bench_%08ld\",\"object\":\"event\",\"api_version\":\"2024-06-20\",\"created\":%" PRId64 ","
             "\"data\":{\"object\":{\"id\":\"sub_1PbENCH%08ld\",\"object\":\"subscription\",\"application\":null,"
             "\"billing_cycle_anchor\":1718000000,\"cancel_at\":null,\"cancel_at_period_end\":false,"
             "\"collection_method\":\"charge_automatically\",\"created\":1718000000,\"currency\":\"usd\","
             "\"current_period_end\":1720592000,\"current_period_start\":1718000000,\"customer\":\"cus_BENCH%08ld\","
             "\"default_payment_method\":\"pm_1PbENCHxxxxxxxxxxxxxxxx\",\"items\":{\"object\":\"list\",\"data\":[{"
             "\"id\":\"si_BENCHxxxxxxxx\",\"object\":\"subscription_item\",\"price\":{\"id\":\"price_1PbENCHxxxx\","
             "\"object\":\"price\",\"currency\":\"usd\",\"unit_amount\":4900,\"recurring\":{\"interval\":\"month\","
             "\"interval_count\":1}},\"quantity\":1}],\"has_more\":false},\"latest_invoice\":\"in_1PbENCHxxxxxxxx\","
             "\"livemode\":false,\"metadata\":{\"paybill.dev/subscription\":\"tenant-%ld\"},\"status\":\"active\","
             "\"trial_end\":null,\"trial_start\":null},\"previous_attributes\":{\"status\":\"past_due\"}},"
             "\"livemode\":false,\"pending_webhooks\":1,\"request\":{\"id\":null,\"idempotency_key\":null},"
             "\"type\":\"customer.subscription.updated\"}",
             i, created, i, i, i);
    return b;
}

int main(int argc, char **argv)
{
    const char *conninfo = NULL;
    long events = 100000, timed = 5000, subs = 1000;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--conninfo") == 0 && i + 1 < argc)
            conninfo = argv[++i];
        else if (strcmp(argv[i], "--events") == 0 && i + 1 < argc)
            events = atol(argv[++i]);
        else if (strcmp(argv[i], "--timed") == 0 && i + 1 < argc)
            timed = atol(argv[++i]);
        else if (strcmp(argv[i], "--subs") == 0 && i + 1 < argc)
            subs = atol(argv[++i]);
        else {
            fprintf(stderr, "usage: %s --conninfo CONNINFO [--events N] [--timed N] [--subs N]\n", argv[0]);
            return 2;
        }
    }
    if (!conninfo || timed <= 0 || events < timed || subs <= 0) {
        fprintf(stderr, "billing_bench: --conninfo required; --events >= --timed > 0\n");
        return 2;
    }
    pb_log_configure(PB_LOG_WARN, PB_LOG_TEXT, NULL);
    pb_err e;
    pb_pg_opts o = {.conninfo = conninfo};
    pb_pg_pool *pool = NULL;
    pb_binbox *inbox = NULL;
    if (pb_pg_pool_new(&o, &pool, &e) != 0 || pb_binbox_open(pool, "billing_bench", &inbox, &e) != 0) {
        fprintf(stderr, "billing_bench: %s\n", e.msg);
        return 1;
    }
    const pb_bsig_scheme *stripe = pb_bsig_scheme_find("stripe");
    static const unsigned char k_old[] = "whsec_old_secret_0123456789abcdef", k_new[] = "whsec_new_secret_0123456789abcdef";
    pb_bsig_key keys[2] = {{k_old, sizeof k_old - 1}, {k_new, sizeof k_new - 1}};
    int64_t t0 = (int64_t)time(NULL);

    /* Pre-sign everything (the provider's work, not ours). */
    char **bodies = calloc((size_t)events, sizeof *bodies), **sigs = calloc((size_t)events, sizeof *sigs);
    size_t body_bytes = 0;
    for (long i = 0; i < events; i++) {
        bodies[i] = event_body(i, t0 - events + i);
        body_bytes += strlen(bodies[i]);
        if (pb_bsig_sign("stripe", &keys[1], t0, bodies[i], strlen(bodies[i]), &sigs[i], &e) != 0) {
            fprintf(stderr, "sign: %s\n", e.msg);
            return 1;
        }
    }
    double *lat = calloc((size_t)events, sizeof *lat);

    /* 1. Verification alone. */
    double a = now_s();
    for (long i = 0; i < timed; i++) {
        hdr_ud hu = {sigs[i]};
        pb_bsig_input in = {.body = bodies[i], .body_len = strlen(bodies[i]), .header = header, .header_ud = &hu,
                            .keys = keys, .nkeys = 2, .now = t0, .tolerance_s = 300};
        pb_bsig_reason r;
        double s = now_s();
        if (stripe->verify(&in, NULL, &r, &e) != 0) {
            fprintf(stderr, "verify: %s\n", e.msg);
            return 1;
        }
        lat[i] = now_s() - s;
    }
    double verify_s = now_s() - a;
    qsort(lat, (size_t)timed, sizeof *lat, cmp_d);
    double v50 = lat[timed / 2], v99 = lat[(size_t)(timed * 0.99)];

    /* 2. Full receipt: verify + parse + durable insert, one at a time. */
    a = now_s();
    for (long i = 0; i < timed; i++) {
        double s = now_s();
        hdr_ud hu = {sigs[i]};
        pb_bsig_input in = {.body = bodies[i], .body_len = strlen(bodies[i]), .header = header, .header_ud = &hu,
                            .keys = keys, .nkeys = 2, .now = t0, .tolerance_s = 300};
        pb_bsig_reason r;
        billing_event ev;
        int ins = 0;
        if (stripe->verify(&in, NULL, &r, &e) != 0 || billing_event_parse(bodies[i], strlen(bodies[i]), &ev, &e) != 0 ||
            pb_binbox_put(inbox, "stripe", ev.id, ev.type, ev.created, bodies[i], strlen(bodies[i]), &ins, &e) != 0) {
            fprintf(stderr, "receipt: %s\n", e.msg);
            return 1;
        }
        billing_event_clear(&ev);
        lat[i] = now_s() - s;
    }
    double recv_s = now_s() - a;
    qsort(lat, (size_t)timed, sizeof *lat, cmp_d);
    double r50 = lat[timed / 2], r99 = lat[(size_t)(timed * 0.99)], rmax = lat[timed - 1];

    /* 3. Fill to `events` (same path, untimed) and measure. */
    a = now_s();
    for (long i = timed; i < events; i++) {
        billing_event ev;
        int ins = 0;
        if (billing_event_parse(bodies[i], strlen(bodies[i]), &ev, &e) != 0 ||
            pb_binbox_put(inbox, "stripe", ev.id, ev.type, ev.created, bodies[i], strlen(bodies[i]), &ins, &e) != 0) {
            fprintf(stderr, "fill: %s\n", e.msg);
            return 1;
        }
        billing_event_clear(&ev);
    }
    double fill_s = now_s() - a;
    PGconn *c = NULL;
    PGresult *res = NULL;
    if (pb_pg_pool_get(pool, "billing_bench", &c, &e) != 0 ||
        pb_pg_query(c,
                    "SELECT count(*), pg_relation_size('billing_inbox'), pg_indexes_size('billing_inbox'),"
                    " pg_total_relation_size('billing_inbox') FROM billing_inbox",
                    0, NULL, &res, &e) != 0) {
        fprintf(stderr, "size: %s\n", e.msg);
        return 1;
    }
    long long rows = atoll(PQgetvalue(res, 0, 0)), heap = atoll(PQgetvalue(res, 0, 1)),
              idx = atoll(PQgetvalue(res, 0, 2)), total = atoll(PQgetvalue(res, 0, 3));
    PQclear(res);
    pb_pg_pool_put(pool, c);
    pb_binbox_event *evs = NULL;
    size_t n = 0;
    double claim_best = 1e9;
    for (int k = 0; k < 5; k++) {
        a = now_s();
        if (pb_binbox_claim(inbox, 64, &evs, &n, &e) != 0) {
            fprintf(stderr, "claim: %s\n", e.msg);
            return 1;
        }
        double d = now_s() - a;
        claim_best = d < claim_best ? d : claim_best;
        pb_binbox_events_free(evs, n);
    }

    /* 4. Usage outbox: close one period for `subs` subscriptions. */
    pb_bout *ob = NULL;
    if (pb_bout_open(pool, "billing_bench", 3600, &ob, &e) != 0) {
        fprintf(stderr, "outbox: %s\n", e.msg);
        return 1;
    }
    for (long i = 0; i < subs; i++) {
        char t[32];
        snprintf(t, sizeof t, "t%ld", i);
        if (pb_bout_add(ob, t, "agent_tokens", 10 + i, t0 - 3600, &e) != 0) {
            fprintf(stderr, "add: %s\n", e.msg);
            return 1;
        }
    }
    int64_t pe = (t0 / 3600) * 3600, ps = pe - 3600;
    a = now_s();
    for (long i = 0; i < subs; i++) {
        char t[32], s[32];
        snprintf(t, sizeof t, "t%ld", i);
        snprintf(s, sizeof s, "s%ld", i);
        pb_bout_meter ms[] = {{.meter = "tenant_active", .event_name = "a", .kind = PB_BOUT_GAUGE, .value = 1},
                              {.meter = "storage_bytes", .event_name = "b", .kind = PB_BOUT_GAUGE, .value = 1 << 20},
                              {.meter = "agent_tokens", .event_name = "c", .kind = PB_BOUT_COUNTER}};
        pb_bout_close cl = {.provider = "stripe", .subscription = s, .tenant = t, .customer = "cus",
                            .period_start = ps, .period_end = pe, .meters = ms, .nmeters = 3};
        int closed = 0;
        if (pb_bout_close_period(ob, &cl, &closed, &e) != 0 || !closed) {
            fprintf(stderr, "close: %s\n", e.msg);
            return 1;
        }
    }
    double close_s = now_s() - a;
    pb_bout_row *orows = NULL;
    a = now_s();
    if (pb_bout_claim(ob, 32, &orows, &n, &e) != 0) {
        fprintf(stderr, "outbox claim: %s\n", e.msg);
        return 1;
    }
    double oclaim = now_s() - a;
    pb_bout_rows_free(orows, n);

    printf("## Billing webhook receipt (bench/billing_bench.c), one thread\n\n");
    printf("Body: Stripe customer.subscription.updated, %zu bytes on average; two live secrets.\n\n",
           body_bytes / (size_t)events);
    printf("| what | result |\n|---|---|\n");
    printf("| signature verified (no I/O), %ld events | %.0f/s; p50 %.1f us, p99 %.1f us |\n", timed,
           timed / verify_s, v50 * 1e6, v99 * 1e6);
    printf("| receipt = verify + parse + inbox INSERT committed, %ld events | %.0f/s; p50 %.2f ms, p99 %.2f ms, "
           "max %.2f ms |\n",
           timed, timed / recv_s, r50 * 1e3, r99 * 1e3, rmax * 1e3);
    printf("| inbox filled to %lld events (parse + insert, the last %ld) | %.1f s (%.0f/s) |\n", rows,
           events - timed, fill_s, (events - timed) / fill_s);
    printf("| inbox size at %lld events: heap / indexes / total (with TOAST) | %.1f MiB / %.1f MiB / %.1f MiB "
           "(%.0f bytes per event) |\n",
           rows, heap / 1048576.0, idx / 1048576.0, total / 1048576.0, (double)total / (double)rows);
    printf("| claim the 64 oldest pending at %lld pending (applier) | %.2f ms |\n", rows, claim_best * 1e3);
    printf("| usage: close one period for %ld subscriptions (3 meters, one transaction each) | %.2f s (%.2f ms each) |\n",
           subs, close_s, close_s * 1e3 / subs);
    printf("| usage: claim 32 reports from %ld in the outbox | %.2f ms |\n", subs * 3, oclaim * 1e3);
    printf("\nThe operator process holds no per-event memory: the inbox is in PostgreSQL and the applier claims "
           "64 at a time.\n");
    for (long i = 0; i < events; i++) {
        free(bodies[i]);
        free(sigs[i]);
    }
    free(bodies);
    free(sigs);
    free(lat);
    pb_bout_free(ob);
    pb_binbox_free(inbox);
    pb_pg_pool_free(pool);
    return 0;
}
