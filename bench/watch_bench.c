/*
 * watch_bench.c - throughput of the event path: watch -> informer cache ->
 * workqueue.
 *
 * 1. watch, in-process: a fake informer_source delivers M MODIFIED events
 *    (already parsed, cycling over 1,000 ConfigMap-like objects with
 *    managedFields) to a synced informer whose handler counts them. Measures
 *    what the informer itself costs per event: strip, store upsert, index
 *    update, handler fan-out.
 * 2. watch, over HTTP: the same M events as a chunked watch stream from a
 *    local scripted server (tests/unit/kube/fakeapi.h, 127.0.0.1, ephemeral
 *    port) through kube_client's kube_watch and informer_source_kube, so
 *    curl, the line decoder and JSON parsing are included. To show where
 *    that time goes, the line decoder + JSON parser alone is timed on the
 *    same stream too.
 *    Watch figures are events/s (median of 3 runs), microseconds per event,
 *    timed from the first event's handler call to the last one's, and the
 *    CPU time per event of the thread applying them.
 * 3. workqueue: adds/s from one thread (unique keys, and each key 20 times:
 *    dedup), and add -> get -> done cycles/s with one producer and 2 worker
 *    threads, on unique keys (with and without metrics: a named queue
 *    records them) and on 100 hot keys with workers spending 50 us per key
 *    (dedup ratio = adds / keys handed out).
 *
 * No target is stated for these numbers: they are printed as they are.
 *
 * Usage: bench_watch_bench [--quick] [watch|http|queue ...]
 *   --quick: M = 10,000 and one run (CI smoke). Naming sections runs only
 *   those.
 */
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../tests/unit/kube/fakeapi.h"
#include "kube/client.h"
#include "kube/config.h"
#include "kube/informer.h"
#include "kube/workqueue.h"
#include "util/err.h"
#include "util/log.h"

#include "bench_objects.h" /* object_text(): the same ConfigMap as informer_bench.c */

#define NKEYS 1000 /* distinct objects the events cycle over */
#define MAX_RUNS 3

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* CPU time of the calling thread: unlike wall time, not inflated when
 * other processes compete for the 2 cores. */
static double thread_cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double process_cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    if (n == 0)
        return 0;
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Smallest and largest of v[0..n). */
static void range(const double *v, int n, double *lo, double *hi)
{
    *lo = *hi = n ? v[0] : 0;
    for (int i = 1; i < n; i++) {
        if (v[i] < *lo)
            *lo = v[i];
        if (v[i] > *hi)
            *hi = v[i];
    }
}

/* A growing text buffer. */
typedef struct text {
    char *p;
    size_t len, cap;
} text;

static int text_add(text *t, const char *s, size_t n)
{
    if (t->len + n + 1 > t->cap) {
        size_t cap = t->cap ? t->cap : 65536;
        while (cap < t->len + n + 1)
            cap *= 2;
        char *grown = realloc(t->p, cap);
        if (!grown)
            return -1;
        t->p = grown;
        t->cap = cap;
    }
    memcpy(t->p + t->len, s, n);
    t->len += n;
    t->p[t->len] = '\0';
    return 0;
}

/* The initial list: NKEYS objects at resourceVersion 1..NKEYS. */
static char *list_text(void)
{
    text t = {0};
    const char *head = "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMapList\",\"metadata\":{\"resourceVersion\":\"1000\"},"
                       "\"items\":[";
    int ok = text_add(&t, head, strlen(head)) == 0;
    for (int i = 0; ok && i < NKEYS; i++) {
        char obj[4096];
        int w = object_text(i, i + 1, obj, sizeof obj);
        ok = w > 0 && (i == 0 || text_add(&t, ",", 1) == 0) && text_add(&t, obj, (size_t)w) == 0;
    }
    if (!ok || text_add(&t, "]}", 2) != 0) {
        free(t.p);
        return NULL;
    }
    return t.p;
}

/* Event k modifies object k % NKEYS, at resourceVersion 1001 + k. */
static long event_rv(long k)
{
    return 1001 + k;
}

/* --- counting handler ------------------------------------------------------------- */

typedef struct counter {
    atomic_long events; /* adds and updates after the initial list */
    long target;        /* events expected */
    long skip;          /* adds from the initial list, not timed */
    long seen;
    double first, last;         /* time of the first and the target-th event */
    double cpu_first, cpu_last; /* the handler thread's CPU time then */
} counter;

static void count_event(counter *c)
{
    if (c->seen < c->skip) {
        c->seen++;
        return;
    }
    long n = atomic_load(&c->events) + 1;
    if (n == 1) {
        c->first = now_s();
        c->cpu_first = thread_cpu_s();
    }
    if (n == c->target) {
        c->last = now_s();
        c->cpu_last = thread_cpu_s();
    }
    atomic_store(&c->events, n);
}

static void on_add(void *ud, json_t *obj)
{
    count_event(ud);
}

static void on_update(void *ud, json_t *old_obj, json_t *new_obj)
{
    count_event(ud);
}

/* Wait (polling: the handler must stay cheap) until the counter reaches
 * its target; 0, or -1 after timeout_s. */
static int wait_events(counter *c, double timeout_s)
{
    double until = now_s() + timeout_s;
    while (atomic_load(&c->events) < c->target) {
        if (now_s() > until)
            return -1;
        usleep(2000);
    }
    return 0;
}

/* --- 1. in-process source ------------------------------------------------------------ */

typedef struct fake_source {
    json_t *list;       /* borrowed */
    json_t **pool;      /* 2 * NKEYS parsed events, borrowed */
    long m;             /* events to deliver */
    atomic_int done;
} fake_source;

static int fake_list(void *ud, informer_page_fn fn, void *fn_ud, pb_err *err)
{
    fake_source *fs = ud;
    return fn(fn_ud, fs->list, 1) ? PB_ECANCELED : 0;
}

static int fake_watch(void *ud, const char *rv, double timeout_s, informer_watch_fn fn, void *fn_ud,
                      const atomic_int *stop, pb_err *err)
{
    fake_source *fs = ud;
    if (!atomic_load(&fs->done)) {
        for (long k = 0; k < fs->m; k++)
            if (fn(fn_ud, "MODIFIED", fs->pool[k % (2 * NKEYS)]) != 0)
                break;
        atomic_store(&fs->done, 1);
    }
    while (!atomic_load(stop))
        usleep(2000);
    return 0;
}

/* One run: events/s, or 0 on failure; *cpu_us: CPU microseconds per event
 * of the reflector thread. */
static double run_fake(json_t *list, json_t **pool, long m, double *cpu_us)
{
    fake_source fs = {.list = list, .pool = pool, .m = m};
    atomic_init(&fs.done, 0);
    informer_source src = {.list = fake_list, .watch = fake_watch, .ud = &fs};
    counter c = {.target = m, .skip = NKEYS};
    informer_handler h = {.on_add = on_add, .on_update = on_update, .ud = &c};
    informer *inf = NULL;
    pb_err e;
    double rate = 0;
    if (informer_new(&src, NULL, &inf, &e) != 0 || informer_add_handler(inf, &h, &e) != 0 ||
        informer_start(inf, &e) != 0) {
        fprintf(stderr, "bench_watch: %s\n", pb_err_msg(&e));
    } else if (wait_events(&c, 120) != 0) {
        fprintf(stderr, "bench_watch: in-process: only %ld of %ld events\n", atomic_load(&c.events), m);
    } else if (c.last > c.first) {
        rate = (double)(m - 1) / (c.last - c.first);
        *cpu_us = (c.cpu_last - c.cpu_first) * 1e6 / (double)(m - 1);
    }
    informer_free(inf);
    return rate;
}

static int bench_fake(long m, int runs)
{
    char *lt = list_text();
    json_t *list = lt ? json_loads(lt, 0, NULL) : NULL;
    free(lt);
    json_t *pool[2 * NKEYS] = {0};
    int ok = list != NULL;
    for (int k = 0; ok && k < 2 * NKEYS; k++) {
        char obj[4096];
        int w = object_text(k % NKEYS, event_rv(k), obj, sizeof obj);
        pool[k] = w > 0 ? json_loadb(obj, (size_t)w, 0, NULL) : NULL;
        ok = pool[k] != NULL;
    }
    double rates[MAX_RUNS], cpu[MAX_RUNS];
    int good = 0;
    for (int r = 0; ok && r < runs; r++) {
        double rate = run_fake(list, pool, m, &cpu[good]);
        if (rate > 0)
            rates[good++] = rate;
    }
    for (int k = 0; k < 2 * NKEYS; k++)
        json_decref(pool[k]);
    json_decref(list);
    if (good == 0) {
        fprintf(stderr, "bench_watch: in-process source: no successful run\n");
        return -1;
    }
    double lo, hi, med = median(rates, good);
    range(rates, good, &lo, &hi);
    printf("  %-48s %10.0f %10.2f %10.2f   (runs %.0f..%.0f)\n", "informer, in-process source", med,
           1e6 / med, median(cpu, good), lo, hi);
    return 0;
}

/* --- 2. over HTTP ---------------------------------------------------------------------- */

/* The watch stream: M MODIFIED events, one per line. */
static char *stream_text(long m, size_t *len)
{
    text t = {0};
    int ok = 1;
    for (long k = 0; ok && k < m; k++) {
        char obj[4096];
        int w = object_text((int)(k % NKEYS), event_rv(k), obj, sizeof obj);
        ok = w > 0 && text_add(&t, "{\"type\":\"MODIFIED\",\"object\":", 28) == 0 &&
             text_add(&t, obj, (size_t)w) == 0 && text_add(&t, "}\n", 2) == 0;
    }
    if (!ok) {
        free(t.p);
        return NULL;
    }
    *len = t.len;
    return t.p;
}

/* A kube_client for srv, through a temporary kubeconfig (removed again). */
static kube_client *client_for(fa_server *srv, pb_err *e)
{
    char dir[] = "/tmp/bench_watch.XXXXXX", path[64], url[128];
    if (!mkdtemp(dir)) {
        pb_err_set(e, PB_EIO, "mkdtemp failed");
        return NULL;
    }
    snprintf(path, sizeof path, "%s/kubeconfig", dir);
    FILE *f = fopen(path, "w");
    if (f) {
        fprintf(f,
                "current-context: bench\n"
                "contexts:\n- name: bench\n  context: {cluster: local, user: u}\n"
                "clusters:\n- name: local\n  cluster:\n    server: %s\n"
                "users:\n- name: u\n  user:\n    token: bench\n",
                fa_url(srv, url, sizeof url));
        fclose(f);
    }
    kube_config_options co = {.kubeconfig = path};
    kube_config *cfg = NULL;
    kube_client *c = NULL;
    kube_client_options o = {.qps = 1000, .burst = 1000, .max_retries = -1};
    if (kube_config_load(&co, &cfg, e) == 0)
        kube_client_new(cfg, &o, &c, e);
    kube_config_free(cfg);
    unlink(path);
    rmdir(dir);
    return c;
}

static double run_http(const char *list, const char *stream, size_t stream_len, long m, double *cpu_us)
{
    fa_server *srv = fa_start(NULL);
    pb_err e;
    double rate = 0;
    kube_client *kc = client_for(srv, &e);
    if (!kc) {
        fprintf(stderr, "bench_watch: %s\n", pb_err_msg(&e));
        fa_stop(srv);
        return 0;
    }
    fa_push_json(srv, 200, list);
    /* 16 KiB chunks, roughly what the API server's flushes look like under
     * load; then a quiet stream for the informer's next watch. */
    fa_resp w = {.body = stream, .body_len = stream_len, .chunk = 16384};
    fa_push(srv, &w);
    fa_resp quiet = {.chunk = 16, .body = "", .hang = 1};
    fa_push(srv, &quiet);

    kube_gvr g = {"", "v1", "configmaps"};
    informer_source src;
    informer *inf = NULL;
    counter c = {.target = m, .skip = NKEYS};
    informer_handler h = {.on_add = on_add, .on_update = on_update, .ud = &c};
    if (informer_source_kube(kc, &g, NULL, NULL, &src, &e) != 0 || informer_new(&src, NULL, &inf, &e) != 0 ||
        informer_add_handler(inf, &h, &e) != 0 || informer_start(inf, &e) != 0) {
        fprintf(stderr, "bench_watch: %s\n", pb_err_msg(&e));
    } else if (wait_events(&c, 120) != 0) {
        fprintf(stderr, "bench_watch: http: only %ld of %ld events\n", atomic_load(&c.events), m);
    } else if (c.last > c.first) {
        rate = (double)(m - 1) / (c.last - c.first);
        *cpu_us = (c.cpu_last - c.cpu_first) * 1e6 / (double)(m - 1);
    }
    informer_free(inf);
    kube_client_free(kc);
    fa_stop(srv);
    return rate;
}

static int count_line(void *ud, const char *type, json_t *object)
{
    (*(long *)ud)++;
    return 0;
}

/* The line decoder and JSON parser alone, fed the stream in 16 KiB pieces:
 * the share of the HTTP figure that is parsing. */
static double run_decoder(const char *stream, size_t len, long m, double *cpu_us)
{
    kube_watch_decoder *d = kube_watch_decoder_new(0);
    long n = 0;
    pb_err e;
    double t0 = now_s(), c0 = thread_cpu_s();
    for (size_t off = 0; d && off < len; off += 16384)
        if (kube_watch_decoder_feed(d, stream + off, len - off < 16384 ? len - off : 16384, count_line, &n,
                                    NULL, &e) != 0)
            break;
    double t = now_s() - t0;
    *cpu_us = (thread_cpu_s() - c0) * 1e6 / (double)m;
    kube_watch_decoder_free(d);
    return n == m && t > 0 ? (double)m / t : 0;
}

static int bench_http(long m, int runs)
{
    size_t len = 0;
    char *list = list_text();
    char *stream = stream_text(m, &len);
    double rates[MAX_RUNS], dec[MAX_RUNS], cpu[MAX_RUNS], dcpu[MAX_RUNS];
    int good = 0, dgood = 0;
    for (int r = 0; stream && r < runs; r++) {
        double rate = run_decoder(stream, len, m, &dcpu[dgood]);
        if (rate > 0)
            dec[dgood++] = rate;
    }
    if (dgood > 0) {
        double lo, hi, med = median(dec, dgood);
        range(dec, dgood, &lo, &hi);
        printf("  %-48s %10.0f %10.2f %10.2f   (runs %.0f..%.0f)\n",
               "watch decoder + JSON parse only (no HTTP)", med, 1e6 / med, median(dcpu, dgood), lo, hi);
    }
    for (int r = 0; list && stream && r < runs; r++) {
        double rate = run_http(list, stream, len, m, &cpu[good]);
        if (rate > 0)
            rates[good++] = rate;
    }
    free(list);
    free(stream);
    if (good == 0) {
        fprintf(stderr, "bench_watch: http: no successful run\n");
        return -1;
    }
    double lo, hi, med = median(rates, good);
    range(rates, good, &lo, &hi);
    printf("  %-48s %10.0f %10.2f %10.2f   (runs %.0f..%.0f)\n", "informer, HTTP watch (curl + JSON parse)",
           med, 1e6 / med, median(cpu, good), lo, hi);
    printf("  (%.0f bytes per event line; cpu us: CPU time of the thread applying the events, which\n"
           "  is not inflated by other processes on the machine; the HTTP server's thread not included)\n",
           (double)len / (double)m);
    return 0;
}

/* --- 3. workqueue -------------------------------------------------------------------- */

typedef struct worker_state {
    workqueue *q;
    atomic_long processed;
    atomic_long last_ns; /* when the latest done() returned, ns since start */
    double start;
    int work_us;         /* simulated reconcile time per key */
} worker_state;

static void *worker(void *arg)
{
    worker_state *ws = arg;
    char *key;
    while (workqueue_get(ws->q, &key) == 0) {
        if (ws->work_us > 0)
            usleep((useconds_t)ws->work_us);
        workqueue_done(ws->q, key);
        free(key);
        atomic_fetch_add(&ws->processed, 1);
        atomic_store(&ws->last_ns, (long)((now_s() - ws->start) * 1e9));
    }
    return NULL;
}

static void key_of(long i, char *buf, size_t n)
{
    snprintf(buf, n, "tenant-%03ld/app-config-%06ld", i % 100, i);
}

typedef struct queue_result {
    double adds_per_s;   /* adds / time the producer spent adding */
    double cycles_per_s; /* keys handed out / time to the last done; 0 without workers */
    double dedup;        /* adds per key queued (no workers) or handed out */
    double cpu_us;       /* process CPU time per cycle (per add without workers) */
} queue_result;

/* One producer (this thread) adding `adds` keys cycling over `nkeys`, and
 * `workers` threads (0 or 2) doing get + done. */
static int queue_run(long adds, long nkeys, const char *name, int workers, int work_us, queue_result *out)
{
    workqueue *q = NULL;
    workqueue_options o = {.name = name};
    pb_err e;
    if (workqueue_new(&o, &q, &e) != 0)
        return -1;
    worker_state ws = {.q = q, .work_us = work_us};
    atomic_init(&ws.processed, 0);
    atomic_init(&ws.last_ns, 0);
    ws.start = now_s();
    pthread_t t[2];
    int started = 0;
    for (; started < workers && started < 2; started++)
        if (pthread_create(&t[started], NULL, worker, &ws) != 0)
            break;
    char key[64];
    double t0 = now_s(), c0 = process_cpu_s();
    for (long i = 0; started == workers && i < adds; i++) {
        key_of(i % nkeys, key, sizeof key);
        workqueue_add(q, key);
    }
    double add_secs = now_s() - t0;
    size_t queued = workqueue_len(q);
    /* Idle = nothing queued, nothing in flight, and no progress over 5 ms
     * (a done() may requeue a key that was added while in flight). */
    for (long prev = -1; workers > 0;) {
        long p = atomic_load(&ws.processed);
        if (workqueue_len(q) == 0 && workqueue_in_flight(q) == 0 && p == prev)
            break;
        prev = p;
        usleep(5000);
    }
    /* The idle polling above is a few wakeups: negligible CPU. */
    double cpu = process_cpu_s() - c0;
    workqueue_shutdown(q);
    for (int i = 0; i < started; i++)
        pthread_join(t[i], NULL);
    workqueue_free(q);
    long processed = atomic_load(&ws.processed);
    double secs = (double)atomic_load(&ws.last_ns) / 1e9 - (t0 - ws.start);
    if (started != workers || add_secs <= 0 || (workers && (processed == 0 || secs <= 0)))
        return -1;
    out->adds_per_s = (double)adds / add_secs;
    out->cycles_per_s = workers ? (double)processed / secs : 0;
    out->dedup = workers ? (double)adds / (double)processed : (double)adds / (double)(queued ? queued : 1);
    out->cpu_us = cpu * 1e6 / (double)(workers ? processed : adds);
    return 0;
}

static int queue_row(const char *label, long adds, long nkeys, const char *name, int workers, int work_us,
                     int runs)
{
    double a[MAX_RUNS], c[MAX_RUNS], d[MAX_RUNS], u[MAX_RUNS];
    int good = 0;
    for (int r = 0; r < runs; r++) {
        queue_result qr;
        if (queue_run(adds, nkeys, name, workers, work_us, &qr) == 0) {
            a[good] = qr.adds_per_s;
            c[good] = qr.cycles_per_s;
            d[good] = qr.dedup;
            u[good] = qr.cpu_us;
            good++;
        }
    }
    if (good == 0) {
        fprintf(stderr, "bench_watch: %s: no successful run\n", label);
        return -1;
    }
    double cyc = median(c, good);
    printf("  %-48s %10.0f", label, median(a, good));
    if (cyc > 0)
        printf(" %10.0f %10.2f", cyc, 1e6 / cyc);
    else
        printf(" %10s %10s", "-", "-");
    printf(" %10.2f %7.1f   (%ld adds, %ld keys)\n", median(u, good), median(d, good), adds, nkeys);
    return 0;
}

/* Keys waiting for a retry: `nkeys` add_after() calls with delays spread
 * over 1..1,000 s (each key its own backoff, as when every reconcile fails
 * while the API server is down), then each key moved earlier once (a watch
 * event for it). Returns add_after() calls per second and CPU us per call. */
static int delayed_run(long nkeys, double *per_s, double *cpu_us)
{
    workqueue *q = NULL;
    workqueue_options o = {0};
    pb_err e;
    if (workqueue_new(&o, &q, &e) != 0)
        return -1;
    char key[64];
    unsigned seed = 12345;
    double t0 = now_s(), c0 = process_cpu_s();
    for (int pass = 0; pass < 2; pass++)
        for (long i = 0; i < nkeys; i++) {
            key_of(i, key, sizeof key);
            seed = seed * 1103515245u + 12345u;
            double d = 1.0 + (double)(seed >> 8 & 0xffff) / 65536.0 * 999.0;
            workqueue_add_after(q, key, pass ? d / 2 : d);
        }
    double secs = now_s() - t0, cpu = process_cpu_s() - c0;
    workqueue_free(q);
    if (secs <= 0)
        return -1;
    *per_s = (double)(2 * nkeys) / secs;
    *cpu_us = cpu * 1e6 / (double)(2 * nkeys);
    return 0;
}

static int delayed_row(long nkeys, int runs)
{
    double a[MAX_RUNS], u[MAX_RUNS];
    int good = 0;
    for (int r = 0; r < runs; r++)
        if (delayed_run(nkeys, &a[good], &u[good]) == 0)
            good++;
    if (good == 0)
        return -1;
    char label[64];
    snprintf(label, sizeof label, "add_after, %ld keys backing off", nkeys);
    printf("  %-48s %10.0f %10s %10s %10.2f %7s   (each key twice: due in 1..1000 s, then earlier)\n",
           label, median(a, good), "-", "-", median(u, good), "-");
    return 0;
}

static int bench_queue(long adds, int runs)
{
    int rc = 0;
    printf("\nworkqueue, median of %d run%s\n", runs, runs > 1 ? "s" : "");
    printf("  %-48s %10s %10s %10s %10s %7s\n", "", "adds/s", "cycles/s", "us/cycle", "cpu us/op", "dedup");
    rc |= queue_row("1 thread, no workers, unique keys", adds, adds, NULL, 0, 0, runs);
    rc |= queue_row("1 thread, no workers, each key 20 times", adds, adds / 20, NULL, 0, 0, runs);
    rc |= queue_row("producer + 2 workers, unique keys", adds, adds, NULL, 2, 0, runs);
    rc |= queue_row("  same, named queue (metrics on)", adds, adds, "bench", 2, 0, runs);
    /* Hot keys only dedup when workers are busy: give each key 50 us of
     * "reconcile" so adds arrive while keys are queued or in flight. */
    rc |= queue_row("producer + 2 workers (50 us/key), 100 hot keys", adds, 100, NULL, 2, 50, runs);
    rc |= delayed_row(adds / 20, runs);
    rc |= delayed_row(adds / 2, runs);
    printf("  cycles/s: keys handed out by get() and done() per second, from the first add to the last\n"
           "  done; cpu us/op: process CPU time per cycle (per add without workers); dedup: adds per\n"
           "  key queued (no workers) or per key handed out (with workers).\n"
           "  The producer adds as fast as it can, which is why it outruns the workers.\n");
    return rc;
}

/* --- main ---------------------------------------------------------------------------- */

int main(int argc, char **argv)
{
    int quick = 0, want_watch = 0, want_http = 0, want_queue = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0)
            quick = 1;
        else if (strcmp(argv[i], "watch") == 0)
            want_watch = 1;
        else if (strcmp(argv[i], "http") == 0)
            want_http = 1;
        else if (strcmp(argv[i], "queue") == 0)
            want_queue = 1;
        else {
            fprintf(stderr, "usage: %s [--quick] [watch|http|queue ...]\n", argv[0]);
            return 2;
        }
    }
    if (!want_watch && !want_http && !want_queue)
        want_watch = want_http = want_queue = 1;
    pb_log_configure(PB_LOG_WARN, PB_LOG_TEXT, NULL);
    long m = quick ? 10000 : 100000;
    int runs = quick ? 1 : 3;
    int rc = 0;
    if (want_watch || want_http) {
        printf("watch throughput: %ld MODIFIED events over %d objects applied to the cache from one stream,\n"
               "median of %d run%s\n",
               m, NKEYS, runs, runs > 1 ? "s" : "");
        printf("  %-48s %10s %10s %10s\n", "", "events/s", "us/event", "cpu us");
    }
    if (want_watch)
        rc |= bench_fake(m, runs);
    if (want_http)
        rc |= bench_http(m, runs);
    if (want_queue)
        rc |= bench_queue(quick ? 20000 : 200000, runs);
    return rc ? 1 : 0;
}
