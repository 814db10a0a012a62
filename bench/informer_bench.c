/*
 * informer_bench.c - resident memory of the informer cache, per object.
 *
 * Question answered: how much memory does an informer need to cache N small
 * objects, compared with the objects' own compact JSON? The target
 * is "less than twice the compact JSON size".
 *
 * Method, for N = 10,000 and 100,000 ConfigMap-like objects (name,
 * namespace, uid, labels, a few data keys, managedFields and a
 * last-applied-configuration annotation, which the store strips):
 *   - each run happens in a fresh forked child, so runs do not inherit each
 *     other's heap; median of 3 runs (2 when the first two agree to
 *     0.5 %: the figures are deterministic);
 *   - the child builds an informer on an in-process informer_source whose
 *     list parses the objects in pages of 500 from text (as kube_list_pages
 *     would) and whose watch just waits; it measures before start and again
 *     once the list has been stored AND released, after malloc_trim(0):
 *       RSS      /proc/self/statm resident pages (what the kernel charges),
 *       heap     mallinfo2() bytes in use (RSS minus fragmentation),
 *       jansson  bytes jansson itself holds (a counting allocator installed
 *                with json_set_alloc_funcs; malloc's 8-byte chunk header
 *                included), i.e. the cache without any allocator slack;
 *     and the peak RSS (VmHWM) while the list was being stored.
 * Then, to explain the numbers, the same list is kept in a plain key map
 * three ways (what the store keeps today, a deep copy of it, its compact
 * text), and one cached object is taken apart: jansson's per-node costs,
 * measured with the same allocator, and what the store's indexes add.
 *
 * Usage: bench_informer_bench [--quick] [-n N]
 *   --quick: N = 2,000, one run; -n: only this N (e.g. to profile one size).
 */
#include <jansson.h>
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "kube/informer.h"
#include "kube/store.h"
#include "util/err.h"
#include "util/jpack.h"

#include "bench_objects.h"

#define TARGET_RATIO 2.0

/* --- counting allocator for jansson ----------------------------------------
 * jansson's allocation hooks take no user pointer, so the counters have to
 * be file-level; atomics because the informer allocates from its own
 * thread. Benchmark-only instrumentation. */
static atomic_long jbytes, jallocs;

static void *count_malloc(size_t n)
{
    void *p = malloc(n);
    if (p) {
        atomic_fetch_add(&jbytes, (long)(malloc_usable_size(p) + sizeof(size_t)));
        atomic_fetch_add(&jallocs, 1);
    }
    return p;
}

static void count_free(void *p)
{
    if (!p)
        return;
    atomic_fetch_sub(&jbytes, (long)(malloc_usable_size(p) + sizeof(size_t)));
    atomic_fetch_sub(&jallocs, 1);
    free(p);
}

/* --- measuring -------------------------------------------------------------- */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* CPU time of this thread: micro-timings unaffected by other processes. */
static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long rss_bytes(void)
{
    long size = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f)
        return 0;
    if (fscanf(f, "%ld %ld", &size, &resident) != 2)
        resident = 0;
    fclose(f);
    return resident * sysconf(_SC_PAGESIZE);
}

/* VmHWM (peak resident set) in bytes. */
static long peak_rss_bytes(void)
{
    char line[256];
    long kb = 0;
    FILE *f = fopen("/proc/self/status", "r");
    if (!f)
        return 0;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmHWM: %ld kB", &kb) == 1)
            break;
    fclose(f);
    return kb * 1024;
}

typedef struct snapshot {
    long rss, heap, jbytes, jallocs;
} snapshot;

static snapshot measure(void)
{
    malloc_trim(0);
    struct mallinfo2 mi = mallinfo2();
    snapshot s = {rss_bytes(), (long)(mi.uordblks + mi.hblkhd), atomic_load(&jbytes), atomic_load(&jallocs)};
    return s;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* --- the objects (text from object_text() in bench_objects.h) --------------- */

static json_t *make_object(int i)
{
    char text[4096];
    int n = object_text(i, 100000 + i, text, sizeof text);
    return n > 0 ? json_loadb(text, (size_t)n, 0, NULL) : NULL;
}

static size_t compact_size(json_t *o)
{
    char *s = json_dumps(o, JSON_COMPACT);
    size_t n = s ? strlen(s) : 0;
    count_free(s); /* json_dumps memory comes from count_malloc */
    return n;
}

/* --- the fake source ------------------------------------------------------------ */

#define PAGE_SIZE_ITEMS 500 /* what informer_source_kube asks for */

typedef struct mem_source {
    int n;
    atomic_int watching; /* set once the list has been stored and released */
} mem_source;

/* Like kube_list_pages: each page of 500 arrives as one growing text
 * buffer (curl's), is parsed whole, handed to fn and released. So the heap
 * ends up shaped as the REST client would leave it. */
static int mem_list(void *ud, informer_page_fn fn, void *fn_ud, pb_err *err)
{
    mem_source *ms = ud;
    for (int first = 0; first < ms->n; first += PAGE_SIZE_ITEMS) {
        size_t cap = 16384, len = 0;
        char *page = malloc(cap);
        len += (size_t)snprintf(page, cap, "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMapList\",\"metadata\":"
                                           "{\"resourceVersion\":\"1000000\"},\"items\":[");
        for (int i = first; i < ms->n && i < first + PAGE_SIZE_ITEMS; i++) {
            char obj[4096];
            int w = object_text(i, 100000 + i, obj, sizeof obj);
            if (w < 0 || !page)
                break;
            if (len + (size_t)w + 4 > cap) {
                cap *= 2;
                char *grown = realloc(page, cap);
                if (!grown) {
                    free(page);
                    page = NULL;
                    break;
                }
                page = grown;
            }
            if (i > first)
                page[len++] = ',';
            memcpy(page + len, obj, (size_t)w);
            len += (size_t)w;
        }
        json_t *parsed = NULL;
        if (page && len + 3 <= cap) {
            memcpy(page + len, "]}", 2);
            parsed = json_loadb(page, len + 2, 0, NULL);
        }
        free(page);
        if (!parsed)
            return pb_err_set(err, PB_ENOMEM, "bench: cannot build page at item %d", first);
        int stop = fn(fn_ud, parsed, first == 0);
        json_decref(parsed);
        if (stop)
            return PB_ECANCELED;
    }
    return 0;
}

static int mem_watch(void *ud, const char *rv, double timeout_s, informer_watch_fn fn, void *fn_ud,
                     const atomic_int *stop, pb_err *err)
{
    mem_source *ms = ud;
    atomic_store(&ms->watching, 1);
    while (!atomic_load(stop))
        usleep(5000);
    return 0;
}

static void on_add(void *ud, json_t *obj)
{
    (*(long *)ud)++;
}

/* --- one run (in a child process) ----------------------------------------------- */

/* What gets measured: the informer as it is, or, to explain the numbers,
 * the same list kept in a plain key -> value map (no indexes) three ways. */
typedef enum {
    LAYOUT_INFORMER,  /* the real thing: informer + store with its 3 indexes */
    LAYOUT_SHALLOW,   /* store_strip() copies (what the store keeps), key map only */
    LAYOUT_DEEP,      /* json_deep_copy() of the stripped object: fresh, compact nodes */
    LAYOUT_TEXT,      /* the stripped object's compact JSON text, parsed on each get */
    LAYOUT_PACKED,    /* the stripped object packed with jpack (what the store keeps) */
    LAYOUT_COUNT
} layout;

static const char *layout_names[LAYOUT_COUNT] = {
    "informer (store: packed objects + key tree + 3 indexes)",
    "shallow strip, key map only",
    "deep copy of the stripped object, key map only",
    "stripped compact JSON text, key map only",
    "stripped object packed (jpack), key map only",
};

typedef struct run_result {
    int ok;
    double rss, heap, jbytes, jallocs, peak; /* per object */
    double rss_lo, rss_hi;                   /* range of rss over the runs (medians only) */
    int runs;                                /* runs behind a median */
    double seconds;                          /* list + store */
    long cached;
} run_result;

typedef struct map_fill {
    int n;
    layout how;
    json_t *map;
} map_fill;

/* Page function of the what-if layouts: keep each item the chosen way. */
static int fill_page(void *ud, json_t *page, int first)
{
    map_fill *mf = ud;
    size_t i;
    json_t *item;
    json_array_foreach(json_object_get(page, "items"), i, item) {
        char key[512];
        if (store_key_of(item, key, sizeof key, NULL) != 0)
            continue;
        json_t *stripped = store_strip(item), *kept = NULL;
        if (mf->how == LAYOUT_SHALLOW) {
            kept = json_incref(stripped);
        } else if (mf->how == LAYOUT_DEEP) {
            kept = json_deep_copy(stripped);
        } else if (mf->how == LAYOUT_PACKED) {
            size_t len = 0;
            unsigned char *packed = jpack_encode(stripped, &len);
            kept = packed ? json_stringn_nocheck((const char *)packed, len) : NULL;
            free(packed);
        } else {
            char *text = json_dumps(stripped, JSON_COMPACT);
            kept = text ? json_string_nocheck(text) : NULL;
            count_free(text);
        }
        json_decref(stripped);
        if (kept)
            json_object_set_new_nocheck(mf->map, key, kept);
    }
    return 0;
}

/* Thread body, so the what-if layouts allocate from a thread arena exactly
 * like the informer's reflector thread does. */
static void *fill_map(void *arg)
{
    map_fill *mf = arg;
    mem_source ms = {.n = mf->n};
    mem_list(&ms, fill_page, mf, NULL);
    return NULL;
}

static run_result run_informer(int n, snapshot *before, snapshot *after, long *peak)
{
    run_result r = {0};
    mem_source *ms = calloc(1, sizeof *ms);
    if (!ms)
        return r;
    ms->n = n;
    informer_source src = {.list = mem_list, .watch = mem_watch, .free = free, .ud = ms};
    informer_options o = {.name = "configmaps"};
    informer *inf = NULL;
    pb_err e;
    long adds = 0;
    informer_handler h = {.on_add = on_add, .ud = &adds};
    if (informer_new(&src, &o, &inf, &e) != 0 || informer_add_handler(inf, &h, &e) != 0) {
        fprintf(stderr, "bench_informer: %s\n", pb_err_msg(&e));
        informer_free(inf);
        return r;
    }
    *before = measure();
    double t0 = now_s();
    if (informer_start(inf, &e) != 0) {
        fprintf(stderr, "bench_informer: %s\n", pb_err_msg(&e));
        informer_free(inf);
        return r;
    }
    while (!atomic_load(&ms->watching))
        usleep(1000);
    r.seconds = now_s() - t0;
    *peak = peak_rss_bytes();
    *after = measure();
    r.cached = (long)store_len(informer_store(inf));
    r.ok = r.cached == n && adds == n;
    informer_free(inf);
    return r;
}

static run_result run_map(int n, layout how, snapshot *before, snapshot *after, long *peak)
{
    run_result r = {0};
    map_fill mf = {.n = n, .how = how, .map = json_object()};
    pthread_t t;
    *before = measure();
    double t0 = now_s();
    if (!mf.map || pthread_create(&t, NULL, fill_map, &mf) != 0) {
        json_decref(mf.map);
        return r;
    }
    pthread_join(t, NULL);
    r.seconds = now_s() - t0;
    *peak = peak_rss_bytes();
    *after = measure();
    r.cached = (long)json_object_size(mf.map);
    r.ok = r.cached == n;
    json_decref(mf.map);
    return r;
}

static run_result run_once(int n, layout how)
{
    snapshot before = {0}, after = {0};
    long peak = 0;
    run_result r = how == LAYOUT_INFORMER ? run_informer(n, &before, &after, &peak)
                                          : run_map(n, how, &before, &after, &peak);
    r.rss = (double)(after.rss - before.rss) / n;
    r.heap = (double)(after.heap - before.heap) / n;
    r.jbytes = (double)(after.jbytes - before.jbytes) / n;
    r.jallocs = (double)(after.jallocs - before.jallocs) / n;
    r.peak = (double)(peak - before.rss) / n;
    return r;
}

/* Fork, run, read the result back through a pipe. */
static run_result run_in_child(int n, layout how)
{
    run_result r = {0};
    int p[2];
    if (pipe(p) != 0)
        return r;
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        close(p[0]);
        run_result cr = run_once(n, how);
        ssize_t w = write(p[1], &cr, sizeof cr);
        close(p[1]);
        exit(w == (ssize_t)sizeof cr ? 0 : 1);
    }
    close(p[1]);
    if (pid > 0) {
        if (read(p[0], &r, sizeof r) != (ssize_t)sizeof r)
            r.ok = 0;
        waitpid(pid, NULL, 0);
    }
    close(p[0]);
    return r;
}

/* Median of `runs` child runs; 0 when every run failed. */
static int run_median(int n, layout how, int runs, run_result *med)
{
    double rss[3], heap[3], jb[3], ja[3], peak[3], secs[3];
    int good = 0;
    for (int k = 0; k < runs && k < 3; k++) {
        run_result r = run_in_child(n, how);
        if (!r.ok) {
            fprintf(stderr, "bench_informer: %s, N=%d: run failed (cached %ld)\n", layout_names[how], n,
                    r.cached);
            continue;
        }
        rss[good] = r.rss;
        heap[good] = r.heap;
        jb[good] = r.jbytes;
        ja[good] = r.jallocs;
        peak[good] = r.peak;
        secs[good] = r.seconds;
        good++;
        /* Memory figures are deterministic here: when two runs agree to
         * 0.5 % a third adds nothing but a minute on a busy machine. */
        if (good == 2 && rss[1] > rss[0] * 0.995 && rss[1] < rss[0] * 1.005)
            break;
    }
    if (!good)
        return 0;
    med->ok = 1;
    med->rss = median(rss, good); /* sorts rss */
    med->rss_lo = rss[0];
    med->rss_hi = rss[good - 1];
    med->heap = median(heap, good);
    med->jbytes = median(jb, good);
    med->jallocs = median(ja, good);
    med->peak = median(peak, good);
    med->seconds = median(secs, good);
    med->cached = n;
    med->runs = good;
    return 1;
}

/* --- where the bytes go ------------------------------------------------------------ */

typedef struct census {
    long objects, arrays, strings, numbers, keys;
    long key_bytes, string_bytes;
} census;

static void count_nodes(json_t *v, census *c)
{
    const char *k;
    json_t *x;
    size_t i;
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        c->objects++;
        json_object_foreach(v, k, x) {
            c->keys++;
            c->key_bytes += (long)strlen(k);
            count_nodes(x, c);
        }
        break;
    case JSON_ARRAY:
        c->arrays++;
        json_array_foreach(v, i, x)
            count_nodes(x, c);
        break;
    case JSON_STRING:
        c->strings++;
        c->string_bytes += (long)json_string_length(v);
        break;
    case JSON_INTEGER:
    case JSON_REAL:
        c->numbers++;
        break;
    default:
        break; /* true/false/null are shared singletons */
    }
}

/* jansson bytes held by a deep copy of v: its exact node cost. */
static long node_bytes(json_t *v)
{
    long b0 = atomic_load(&jbytes);
    json_t *c = json_deep_copy(v);
    long b = atomic_load(&jbytes) - b0;
    json_decref(c);
    return b;
}

/* CPU microseconds per call since t0, over reps calls. */
static double us_per_call(double t0, int reps)
{
    return (cpu_s() - t0) * 1e6 / reps;
}

/* What reading costs in each layout: a store_get (tree lookup + unpack),
 * unpacking alone, parsing the text back, and the deep copy the previous
 * store made per upsert. */
static void read_costs(json_t *stripped)
{
    int reps = 20000;
    char *text = json_dumps(stripped, JSON_COMPACT);
    size_t plen = 0;
    unsigned char *packed = jpack_encode(stripped, &plen);
    store *st = store_new();
    char key[512] = "";
    for (int i = 0; i < 10000; i++) { /* a realistic tree depth for the lookup */
        json_t *o = make_object(i);
        store_upsert(st, o, NULL, NULL, NULL);
        if (i == 42)
            store_key_of(o, key, sizeof key, NULL);
        json_decref(o);
    }
    double t0 = cpu_s();
    for (int i = 0; i < reps; i++)
        json_decref(store_get(st, key));
    double get_us = us_per_call(t0, reps);
    char rv[64];
    t0 = cpu_s();
    for (int i = 0; i < reps; i++)
        store_resource_version(st, key, rv, sizeof rv);
    double rv_us = us_per_call(t0, reps);
    t0 = cpu_s();
    for (int i = 0; i < reps; i++)
        json_decref(jpack_decode(packed, plen));
    double unpack_us = us_per_call(t0, reps);
    t0 = cpu_s();
    for (int i = 0; i < reps; i++)
        free(jpack_encode(stripped, &plen));
    double pack_us = us_per_call(t0, reps);
    t0 = cpu_s();
    for (int i = 0; i < reps; i++)
        json_decref(json_loads(text, 0, NULL));
    double parse_us = us_per_call(t0, reps);
    t0 = cpu_s();
    for (int i = 0; i < reps; i++)
        json_decref(json_deep_copy(stripped));
    double copy_us = us_per_call(t0, reps);
    printf("  CPU per call: store_get %.2f us (jpack_decode alone %.2f us), store_resource_version %.2f us,\n"
           "  jpack_encode %.2f us; for comparison json_loads of the text %.2f us, json_deep_copy %.2f us\n",
           get_us, unpack_us, rv_us, pack_us, parse_us, copy_us);
    store_free(st);
    free(packed);
    count_free(text);
}

static void breakdown(double heap_per_obj)
{
    json_t *full = make_object(42);
    json_t *stripped = store_strip(full);
    census c = {0};
    count_nodes(stripped, &c);
    long obj_bytes = node_bytes(stripped);
    size_t packed_len = 0;
    free(jpack_encode(stripped, &packed_len));

    /* Unit costs, measured rather than taken from jansson's headers. */
    json_t *o = json_object();
    long empty_obj = node_bytes(o);
    json_object_set_new(o, "k", json_null());
    long one_key = node_bytes(o) - empty_obj;
    json_decref(o);
    json_t *s = json_string("x");
    long str1 = node_bytes(s);
    json_decref(s);

    long payload = c.key_bytes + c.string_bytes;
    size_t json_sz = compact_size(stripped);
    printf("\nwhere one cached object's bytes go (object #42 as stored: %zu bytes of compact JSON):\n", json_sz);
    printf("  nodes: %ld objects, %ld arrays, %ld strings, %ld numbers; %ld keys\n", c.objects, c.arrays,
           c.strings, c.numbers, c.keys);
    printf("  payload (characters of keys and strings):   %5ld bytes\n", payload);
    printf("  packed (jpack), as the store keeps it:      %5zu bytes (%.2fx the JSON)\n", packed_len,
           (double)packed_len / (double)json_sz);
    printf("  store on top (item, key, key tree node, namespace and label index nodes): %.0f bytes\n",
           heap_per_obj - (double)packed_len);
    printf("  as jansson nodes it would be:                %5ld bytes (%.1fx the payload, %.1fx the JSON)\n",
           obj_bytes, payload ? (double)obj_bytes / (double)payload : 0.0, (double)obj_bytes / (double)json_sz);
    printf("  jansson unit costs incl. malloc headers: empty object %ld B (struct + 8 hash buckets),\n"
           "  each key %ld B + its length, each string %ld B + its length (16-byte rounding)\n",
           empty_obj, one_key - 1, str1 - 1);
    printf("  the object as served parses into %ld jansson bytes (%.1fx its %zu bytes of JSON): what\n"
           "  a page of the list costs while it is being stored\n",
           node_bytes(full), (double)node_bytes(full) / (double)compact_size(full), compact_size(full));
    read_costs(stripped);
    json_decref(stripped);
    json_decref(full);
}

/* --- main ------------------------------------------------------------------------- */

static void print_header(void)
{
    printf("  %-60s %8s %8s %8s %7s %8s %7s %7s %7s\n", "", "RSS/obj", "heap/obj", "jansson", "allocs",
           "peak/obj", "xJSON", "xserved", "/target");
}

static void print_row(const char *label, const run_result *r, double stripped_sz, double full_sz)
{
    printf("  %-60s %8.0f %8.0f %8.0f %7.1f %8.0f %6.2fx %6.2fx %7.2f\n", label, r->rss, r->heap, r->jbytes,
           r->jallocs, r->peak, r->rss / stripped_sz, r->rss / full_sz, r->rss / (TARGET_RATIO * stripped_sz));
}

int main(int argc, char **argv)
{
    int quick = 0, only = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0)
            quick = 1;
        else if (strcmp(argv[i], "-n") == 0 && i + 1 < argc && atoi(argv[i + 1]) > 0)
            only = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: %s [--quick] [-n N]\n", argv[0]);
            return 2;
        }
    }
    json_set_alloc_funcs(count_malloc, count_free);
    int sizes_full[] = {10000, 100000}, sizes_quick[] = {2000}, sizes_only[] = {only};
    int *sizes = only ? sizes_only : quick ? sizes_quick : sizes_full;
    int nsizes = only || quick ? 1 : 2;
    int runs = quick ? 1 : 3;

    /* Compact JSON sizes, averaged over the first 1,000 objects (they vary
     * only by a few digits). */
    double full_sz = 0, stripped_sz = 0;
    for (int i = 0; i < 1000; i++) {
        json_t *o = make_object(i);
        json_t *st = store_strip(o);
        full_sz += (double)compact_size(o);
        stripped_sz += (double)compact_size(st);
        json_decref(st);
        json_decref(o);
    }
    full_sz /= 1000;
    stripped_sz /= 1000;

    printf("informer memory: ConfigMap-like objects; median of %d run%s (2 when the first two agree to\n"
           "0.5 %%), each in a fresh process\n",
           runs, runs > 1 ? "s" : "");
    printf("  compact JSON per object: %.0f bytes as served, %.0f as stored (managedFields and last-applied "
           "stripped)\n",
           full_sz, stripped_sz);
    printf("  target: RSS per object < %.0f x the stored JSON = %.0f bytes\n\n", TARGET_RATIO,
           TARGET_RATIO * stripped_sz);
    print_header();

    int failures = 0;
    run_result last = {0};
    for (int si = 0; si < nsizes; si++) {
        char label[96];
        snprintf(label, sizeof label, "informer, N = %d", sizes[si]);
        if (!run_median(sizes[si], LAYOUT_INFORMER, runs, &last)) {
            failures++;
            continue;
        }
        print_row(label, &last, stripped_sz, full_sz);
        printf("  %-60s (RSS/obj over %d runs: %.0f..%.0f; list + store: %.2f s)\n", "", last.runs,
               last.rss_lo, last.rss_hi, last.seconds);
    }

    /* Per-object figures hardly depend on N (see the table above), so the
     * what-ifs use the smaller size to stay within the time budget. */
    int n = sizes[0];
    printf("\nwhat-if layouts for the same list (N = %d), key map only (no indexes):\n", n);
    print_header();
    for (int how = LAYOUT_SHALLOW; how < LAYOUT_COUNT; how++) {
        run_result r = {0};
        if (!run_median(n, (layout)how, runs, &r)) {
            failures++;
            continue;
        }
        print_row(layout_names[how], &r, stripped_sz, full_sz);
    }
    printf("\n  RSS/obj: resident memory added per cached object (statm, after malloc_trim); heap: malloc\n"
           "  bytes in use (mallinfo2); jansson: bytes jansson holds (exact); allocs: jansson allocations\n"
           "  per object; peak: VmHWM growth while listing; xJSON: RSS / stored JSON; xserved: RSS / JSON\n"
           "  as served; /target: RSS / (2 x stored JSON), below 1.00 meets the target.\n");
    if (last.ok)
        breakdown(last.heap);
    return failures ? 1 : 0;
}
