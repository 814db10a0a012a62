/*
 * metrics.c - metric registry and Prometheus text exposition (see metrics.h).
 *
 * Layout: a registry is a mutex-protected array of metrics. Each metric owns
 * its mutex, its child series (array + open-addressing hash index on the
 * label values) and, for histograms, the bucket bounds. Histogram buckets
 * are counted per bucket and made cumulative only when rendering, so an
 * observation touches one bucket.
 */
#include "util/metrics.h"

#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/log.h"

typedef enum { KIND_COUNTER, KIND_GAUGE, KIND_HISTOGRAM } metric_kind;

typedef struct {
    char **values;         /* one per label name */
    uint64_t hash;
    double value;          /* counter, gauge */
    double sum;            /* histogram */
    unsigned long long count;
    unsigned long long *buckets; /* histogram: per bucket, not cumulative */
} series;

typedef struct {
    metric_kind kind;
    char *name, *help;
    char **labels;
    size_t nlabels;
    double *bounds;
    size_t nbounds;
    pthread_mutex_t mu;
    series **children;
    size_t nchildren, cap;
    size_t *index;     /* hash slots holding child position + 1; 0 = empty */
    size_t index_size; /* power of two */
} metric;

/* The public handle types are the metric itself; distinct names keep the
 * compiler checking that a counter is not observed as a histogram. */
struct pb_counter { metric m; };
struct pb_gauge { metric m; };
struct pb_histogram { metric m; };

struct pb_metrics_registry {
    pthread_mutex_t mu;
    metric **metrics;
    size_t n, cap;
    int is_default;
};

const double pb_metrics_default_buckets[] = {
    0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6,
    0.7,   0.8,  0.9,   1.0,  1.25, 1.5, 1.75, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5,
    6,     7,    8,     9,    10,  15,  20,   25,  30,  40,  50,  60};
const size_t pb_metrics_default_nbuckets =
    sizeof pb_metrics_default_buckets / sizeof pb_metrics_default_buckets[0];

static pb_metrics_registry g_default = {PTHREAD_MUTEX_INITIALIZER, NULL, 0, 0, 1};

pb_metrics_registry *pb_metrics_default(void)
{
    return &g_default;
}

pb_metrics_registry *pb_metrics_registry_new(void)
{
    pb_metrics_registry *r = calloc(1, sizeof *r);
    if (r)
        pthread_mutex_init(&r->mu, NULL);
    return r;
}

static void series_free(series *s, size_t nlabels)
{
    if (!s)
        return;
    for (size_t i = 0; s->values && i < nlabels; i++)
        free(s->values[i]);
    free(s->values);
    free(s->buckets);
    free(s);
}

static void metric_free(metric *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->nchildren; i++)
        series_free(m->children[i], m->nlabels);
    for (size_t i = 0; m->labels && i < m->nlabels; i++)
        free(m->labels[i]);
    free(m->labels);
    free(m->children);
    free(m->index);
    free(m->bounds);
    free(m->name);
    free(m->help);
    pthread_mutex_destroy(&m->mu);
    free(m);
}

void pb_metrics_registry_free(pb_metrics_registry *r)
{
    if (!r || r->is_default)
        return;
    for (size_t i = 0; i < r->n; i++)
        metric_free(r->metrics[i]);
    free(r->metrics);
    pthread_mutex_destroy(&r->mu);
    free(r);
}

/* ---- registration ----------------------------------------------------------------- */

static int valid_name(const char *s, int allow_colon)
{
    if (!s || !*s || (*s >= '0' && *s <= '9'))
        return 0;
    for (; *s; s++) {
        char c = *s;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
              (allow_colon && c == ':')))
            return 0;
    }
    return 1;
}

static size_t count_labels(const char *const *labels)
{
    size_t n = 0;
    while (labels && labels[n])
        n++;
    return n;
}

/* Same shape as an existing metric: then registering again shares it. */
static int same_shape(const metric *m, metric_kind kind, const char *const *labels, size_t nlabels,
                      const double *bounds, size_t nbounds)
{
    if (m->kind != kind || m->nlabels != nlabels || m->nbounds != nbounds)
        return 0;
    for (size_t i = 0; i < nlabels; i++)
        if (strcmp(m->labels[i], labels[i]) != 0)
            return 0;
    for (size_t i = 0; i < nbounds; i++)
        if (m->bounds[i] != bounds[i])
            return 0;
    return 1;
}

static series *get_series(metric *m, const char *const *values);

static int do_register(pb_metrics_registry *r, metric_kind kind, const char *name, const char *help,
                       const char *const *labels, const double *bounds, size_t nbounds,
                       metric **out, pb_err *err)
{
    static const char *const kinds[] = {"counter", "gauge", "histogram"};
    size_t nlabels = count_labels(labels);
    if (!r)
        return pb_err_set(err, PB_EINVAL, "NULL metrics registry");
    if (!valid_name(name, 1))
        return pb_err_set(err, PB_EINVAL, "invalid metric name \"%s\"", name ? name : "");
    if (nlabels > PB_METRICS_MAX_LABELS)
        return pb_err_set(err, PB_EINVAL, "metric %s: more than %d labels", name, PB_METRICS_MAX_LABELS);
    for (size_t i = 0; i < nlabels; i++) {
        if (!valid_name(labels[i], 0) || strncmp(labels[i], "__", 2) == 0 ||
            (kind == KIND_HISTOGRAM && strcmp(labels[i], "le") == 0))
            return pb_err_set(err, PB_EINVAL, "metric %s: invalid label name \"%s\"", name, labels[i]);
        for (size_t j = 0; j < i; j++)
            if (strcmp(labels[i], labels[j]) == 0)
                return pb_err_set(err, PB_EINVAL, "metric %s: duplicate label \"%s\"", name, labels[i]);
    }
    for (size_t i = 0; i < nbounds; i++)
        if (!isfinite(bounds[i]) || (i > 0 && !(bounds[i] > bounds[i - 1])))
            return pb_err_set(err, PB_EINVAL, "metric %s: buckets must be finite and increasing", name);

    pthread_mutex_lock(&r->mu);
    for (size_t i = 0; i < r->n; i++) {
        metric *m = r->metrics[i];
        if (strcmp(m->name, name) != 0)
            continue;
        int same = same_shape(m, kind, labels, nlabels, bounds, nbounds);
        pthread_mutex_unlock(&r->mu);
        if (!same)
            return pb_err_set(err, PB_EEXIST, "metric %s already registered as a different %s", name,
                              kinds[m->kind]);
        *out = m;
        return 0;
    }

    metric *m = NULL;
    size_t size = kind == KIND_COUNTER ? sizeof(pb_counter)
                  : kind == KIND_GAUGE ? sizeof(pb_gauge)
                                       : sizeof(pb_histogram);
    int ok = 0;
    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 16;
        metric **grown = realloc(r->metrics, cap * sizeof *grown);
        if (grown) {
            r->metrics = grown;
            r->cap = cap;
        }
    }
    if (r->n < r->cap && (m = calloc(1, size))) {
        pthread_mutex_init(&m->mu, NULL);
        m->kind = kind;
        m->name = strdup(name);
        m->help = strdup(help ? help : "");
        m->nlabels = nlabels;
        m->labels = calloc(nlabels + 1, sizeof *m->labels);
        m->nbounds = nbounds;
        m->bounds = malloc((nbounds + 1) * sizeof *m->bounds);
        ok = m->name && m->help && m->labels && m->bounds;
        for (size_t i = 0; ok && i < nlabels; i++)
            ok = (m->labels[i] = strdup(labels[i])) != NULL;
        if (ok && nbounds)
            memcpy(m->bounds, bounds, nbounds * sizeof *bounds);
        /* A metric without labels has exactly one series, shown from the start. */
        if (ok && nlabels == 0)
            ok = get_series(m, NULL) != NULL;
    }
    if (!ok) {
        pthread_mutex_unlock(&r->mu);
        metric_free(m);
        return pb_err_set(err, PB_ENOMEM, "out of memory");
    }
    r->metrics[r->n++] = m;
    pthread_mutex_unlock(&r->mu);
    *out = m;
    return 0;
}

int pb_metrics_counter_register(pb_metrics_registry *r, const char *name, const char *help,
                                const char *const *labels, pb_counter **out, pb_err *err)
{
    metric *m;
    int rc = do_register(r, KIND_COUNTER, name, help, labels, NULL, 0, &m, err);
    if (!rc)
        *out = (pb_counter *)m;
    return rc;
}

int pb_metrics_gauge_register(pb_metrics_registry *r, const char *name, const char *help,
                              const char *const *labels, pb_gauge **out, pb_err *err)
{
    metric *m;
    int rc = do_register(r, KIND_GAUGE, name, help, labels, NULL, 0, &m, err);
    if (!rc)
        *out = (pb_gauge *)m;
    return rc;
}

int pb_metrics_histogram_register(pb_metrics_registry *r, const char *name, const char *help,
                                  const char *const *labels, const double *buckets,
                                  size_t nbuckets, pb_histogram **out, pb_err *err)
{
    if (!buckets || nbuckets == 0) {
        buckets = pb_metrics_default_buckets;
        nbuckets = pb_metrics_default_nbuckets;
    }
    metric *m;
    int rc = do_register(r, KIND_HISTOGRAM, name, help, labels, buckets, nbuckets, &m, err);
    if (!rc)
        *out = (pb_histogram *)m;
    return rc;
}

/* ---- series lookup ------------------------------------------------------------------- */

static uint64_t hash_values(const char *const *values, size_t n)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (size_t i = 0; i < n; i++) {
        for (const unsigned char *p = (const unsigned char *)values[i]; *p; p++)
            h = (h ^ *p) * 1099511628211ull;
        h = (h ^ 0xff) * 1099511628211ull; /* separator: ("a","b") != ("ab","") */
    }
    return h;
}

static int values_equal(const series *s, const char *const *values, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(s->values[i], values[i]) != 0)
            return 0;
    return 1;
}

static int index_insert(size_t *index, size_t size, uint64_t hash, size_t pos)
{
    for (size_t i = hash & (size - 1);; i = (i + 1) & (size - 1)) {
        if (!index[i]) {
            index[i] = pos + 1;
            return 0;
        }
    }
}

/* Find or create the series for `values` (m->nlabels strings). Caller holds
 * m->mu, or is registering m before anyone else can see it. */
static series *get_series(metric *m, const char *const *values)
{
    uint64_t h = hash_values(values, m->nlabels);
    if (m->index_size) {
        for (size_t i = h & (m->index_size - 1); m->index[i]; i = (i + 1) & (m->index_size - 1)) {
            series *s = m->children[m->index[i] - 1];
            if (s->hash == h && values_equal(s, values, m->nlabels))
                return s;
        }
    }
    /* Grow the arrays first so a failure leaves the metric unchanged. */
    if (m->nchildren == m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 8;
        series **grown = realloc(m->children, cap * sizeof *grown);
        if (!grown)
            return NULL;
        m->children = grown;
        m->cap = cap;
    }
    if ((m->nchildren + 1) * 2 > m->index_size) {
        size_t size = m->index_size ? m->index_size * 2 : 16;
        size_t *index = calloc(size, sizeof *index);
        if (!index)
            return NULL;
        for (size_t i = 0; i < m->nchildren; i++)
            index_insert(index, size, m->children[i]->hash, i);
        free(m->index);
        m->index = index;
        m->index_size = size;
    }
    series *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->hash = h;
    s->values = calloc(m->nlabels + 1, sizeof *s->values);
    int ok = s->values != NULL;
    for (size_t i = 0; ok && i < m->nlabels; i++)
        ok = (s->values[i] = strdup(values[i])) != NULL;
    if (ok && m->kind == KIND_HISTOGRAM)
        ok = (s->buckets = calloc(m->nbounds + 1, sizeof *s->buckets)) != NULL;
    if (!ok) {
        series_free(s, m->nlabels);
        return NULL;
    }
    m->children[m->nchildren] = s;
    index_insert(m->index, m->index_size, h, m->nchildren);
    m->nchildren++;
    return s;
}

/* Collect the NULL-terminated label values; -1 (logged) on a count mismatch. */
static int collect(const metric *m, va_list ap, const char **values, const char *op)
{
    size_t n = 0;
    const char *v;
    while ((v = va_arg(ap, const char *)) != NULL) {
        if (n == PB_METRICS_MAX_LABELS) {
            n++;
            break;
        }
        values[n++] = v;
    }
    if (n != m->nlabels) {
        char want[24], got[24];
        snprintf(want, sizeof want, "%zu", m->nlabels);
        snprintf(got, sizeof got, "%zu", n);
        pb_log_error("metrics: wrong number of label values, observation dropped", "metric", m->name,
                     "op", op, "want", want, "got", got, NULL);
        return -1;
    }
    return 0;
}

typedef enum { OP_ADD, OP_SET, OP_OBSERVE } op_kind;

static void update(metric *m, op_kind op, double v, va_list ap)
{
    static const char *const names[] = {"add", "set", "observe"};
    const char *values[PB_METRICS_MAX_LABELS + 1];
    if (!m || collect(m, ap, values, names[op]))
        return;
    pthread_mutex_lock(&m->mu);
    series *s = get_series(m, values);
    if (!s) {
        pthread_mutex_unlock(&m->mu);
        pb_log_error("metrics: out of memory, observation dropped", "metric", m->name, NULL);
        return;
    }
    if (op == OP_ADD) {
        s->value += v;
    } else if (op == OP_SET) {
        s->value = v;
    } else {
        size_t b = 0;
        while (b < m->nbounds && !(v <= m->bounds[b]))
            b++;
        s->buckets[b]++; /* b == nbounds: only the +Inf bucket */
        s->sum += v;
        s->count++;
    }
    pthread_mutex_unlock(&m->mu);
}

void pb_metrics_counter_add(pb_counter *c, double v, ...)
{
    if (!(v >= 0)) {
        pb_log_error("metrics: counters only go up, observation dropped", "metric",
                     c ? c->m.name : "(null)", NULL);
        return;
    }
    va_list ap;
    va_start(ap, v);
    update(c ? &c->m : NULL, OP_ADD, v, ap);
    va_end(ap);
}

void pb_metrics_gauge_set(pb_gauge *g, double v, ...)
{
    va_list ap;
    va_start(ap, v);
    update(g ? &g->m : NULL, OP_SET, v, ap);
    va_end(ap);
}

void pb_metrics_gauge_add(pb_gauge *g, double v, ...)
{
    va_list ap;
    va_start(ap, v);
    update(g ? &g->m : NULL, OP_ADD, v, ap);
    va_end(ap);
}

void pb_metrics_histogram_observe(pb_histogram *h, double v, ...)
{
    va_list ap;
    va_start(ap, v);
    update(h ? &h->m : NULL, OP_OBSERVE, v, ap);
    va_end(ap);
}

/* Read a series without creating it. */
static int peek(metric *m, va_list ap, double *value, unsigned long long *count)
{
    const char *values[PB_METRICS_MAX_LABELS + 1];
    *value = 0;
    *count = 0;
    if (!m || collect(m, ap, values, "get"))
        return -1;
    uint64_t h = hash_values(values, m->nlabels);
    pthread_mutex_lock(&m->mu);
    for (size_t i = 0; i < m->nchildren; i++) {
        series *s = m->children[i];
        if (s->hash == h && values_equal(s, values, m->nlabels)) {
            *value = s->value;
            *count = s->count;
            break;
        }
    }
    pthread_mutex_unlock(&m->mu);
    return 0;
}

double pb_metrics_counter_get(pb_counter *c, ...)
{
    double v;
    unsigned long long n;
    va_list ap;
    va_start(ap, c);
    peek(c ? &c->m : NULL, ap, &v, &n);
    va_end(ap);
    return v;
}

double pb_metrics_gauge_get(pb_gauge *g, ...)
{
    double v;
    unsigned long long n;
    va_list ap;
    va_start(ap, g);
    peek(g ? &g->m : NULL, ap, &v, &n);
    va_end(ap);
    return v;
}

unsigned long long pb_metrics_histogram_count(pb_histogram *h, ...)
{
    double v;
    unsigned long long n;
    va_list ap;
    va_start(ap, h);
    peek(h ? &h->m : NULL, ap, &v, &n);
    va_end(ap);
    return n;
}

/* ---- exposition ----------------------------------------------------------------------- */

char *pb_metrics_format_value(double v, char *buf, size_t n)
{
    if (isnan(v)) {
        snprintf(buf, n, "NaN");
        return buf;
    }
    if (isinf(v)) {
        snprintf(buf, n, v > 0 ? "+Inf" : "-Inf");
        return buf;
    }
    if (v == 0) {
        snprintf(buf, n, signbit(v) ? "-0" : "0");
        return buf;
    }
    /* Shortest digits that round-trip, then Go's choice between %e and %f:
     * exponent form when the decimal exponent is < -4 or >= 6. */
    char tmp[40];
    int prec;
    for (prec = 1; prec < 17; prec++) {
        snprintf(tmp, sizeof tmp, "%.*e", prec - 1, v);
        if (strtod(tmp, NULL) == v)
            break;
    }
    snprintf(tmp, sizeof tmp, "%.*e", prec - 1, v);
    int exp = atoi(strchr(tmp, 'e') + 1);
    if (exp < -4 || exp >= 6)
        snprintf(buf, n, "%s", tmp);
    else
        snprintf(buf, n, "%.*f", prec - 1 - exp > 0 ? prec - 1 - exp : 0, v);
    return buf;
}

/* Label values escape backslash, double quote and newline; HELP text only
 * backslash and newline. */
static void put_escaped(FILE *f, const char *s, int quote)
{
    for (; *s; s++) {
        if (*s == '\\')
            fputs("\\\\", f);
        else if (*s == '\n')
            fputs("\\n", f);
        else if (quote && *s == '"')
            fputs("\\\"", f);
        else
            fputc(*s, f);
    }
}

/* {a="x",b="y"[,le="..."]}; nothing when there are no labels at all. */
static void put_labels(FILE *f, const metric *m, const series *s, const char *le)
{
    if (m->nlabels == 0 && !le)
        return;
    fputc('{', f);
    for (size_t i = 0; i < m->nlabels; i++) {
        fprintf(f, "%s%s=\"", i ? "," : "", m->labels[i]);
        put_escaped(f, s->values[i], 1);
        fputc('"', f);
    }
    if (le)
        fprintf(f, "%sle=\"%s\"", m->nlabels ? "," : "", le);
    fputc('}', f);
}

static int cmp_metrics(const void *a, const void *b)
{
    return strcmp((*(metric *const *)a)->name, (*(metric *const *)b)->name);
}

static int cmp_series(const void *a, const void *b, void *nlabels)
{
    const series *x = *(series *const *)a, *y = *(series *const *)b;
    for (size_t i = 0; i < *(size_t *)nlabels; i++) {
        int c = strcmp(x->values[i], y->values[i]);
        if (c)
            return c;
    }
    return 0;
}

static void render_metric(FILE *f, metric *m)
{
    static const char *const types[] = {"counter", "gauge", "histogram"};
    char num[40], le[40];
    pthread_mutex_lock(&m->mu);
    if (m->nchildren == 0) {
        pthread_mutex_unlock(&m->mu);
        return;
    }
    fprintf(f, "# HELP %s ", m->name);
    put_escaped(f, m->help, 0);
    fprintf(f, "\n# TYPE %s %s\n", m->name, types[m->kind]);

    series **sorted = malloc(m->nchildren * sizeof *sorted);
    if (sorted) {
        memcpy(sorted, m->children, m->nchildren * sizeof *sorted);
        qsort_r(sorted, m->nchildren, sizeof *sorted, cmp_series, &m->nlabels);
    }
    for (size_t i = 0; i < m->nchildren; i++) {
        series *s = sorted ? sorted[i] : m->children[i];
        if (m->kind != KIND_HISTOGRAM) {
            fputs(m->name, f);
            put_labels(f, m, s, NULL);
            fprintf(f, " %s\n", pb_metrics_format_value(s->value, num, sizeof num));
            continue;
        }
        unsigned long long cum = 0;
        for (size_t b = 0; b <= m->nbounds; b++) {
            cum += s->buckets[b];
            if (b < m->nbounds)
                pb_metrics_format_value(m->bounds[b], le, sizeof le);
            else
                snprintf(le, sizeof le, "+Inf");
            fprintf(f, "%s_bucket", m->name);
            put_labels(f, m, s, le);
            fprintf(f, " %llu\n", cum);
        }
        fprintf(f, "%s_sum", m->name);
        put_labels(f, m, s, NULL);
        fprintf(f, " %s\n", pb_metrics_format_value(s->sum, num, sizeof num));
        fprintf(f, "%s_count", m->name);
        put_labels(f, m, s, NULL);
        fprintf(f, " %llu\n", s->count);
    }
    free(sorted);
    pthread_mutex_unlock(&m->mu);
}

int pb_metrics_render(pb_metrics_registry *r, char **out, size_t *len, pb_err *err)
{
    char *buf = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&buf, &n);
    if (!f)
        return pb_err_set(err, PB_ENOMEM, "out of memory");

    /* Snapshot the metric list so registration is not blocked while
     * rendering; metrics are never removed before the registry is freed. */
    pthread_mutex_lock(&r->mu);
    size_t count = r->n;
    metric **list = count ? malloc(count * sizeof *list) : NULL;
    if (list)
        memcpy(list, r->metrics, count * sizeof *list);
    pthread_mutex_unlock(&r->mu);
    if (count && !list) {
        fclose(f);
        free(buf);
        return pb_err_set(err, PB_ENOMEM, "out of memory");
    }
    if (count)
        qsort(list, count, sizeof *list, cmp_metrics);
    for (size_t i = 0; i < count; i++)
        render_metric(f, list[i]);
    free(list);
    if (fclose(f) != 0) {
        free(buf);
        return pb_err_set(err, PB_ENOMEM, "out of memory");
    }
    *out = buf;
    if (len)
        *len = n;
    return 0;
}
