/*
 * admission_bench.c - round trip of the operator's Workflow admission
 * webhook, over HTTPS, under load.
 *
 * Question answered: how long does the API server wait on us when it calls
 * POST /validate/workflows (the webhook that checks every step against the
 * tenant's DataModel and AgentPolicies), alone and with many calls at once?
 *
 * Method:
 *   - the operator's real handlers (wf_adm_register) on the real HTTPS
 *     server (src/server/http.c, libwebsockets, a leaf from tlscert.c), with
 *     caches holding one tenant on the example DataModel, its Plan, and 10
 *     AgentPolicies of 16 rules in its namespace plus 990 in 99 others
 *     (1,000 loaded);
 *   - C client threads, each with its own keep-alive libcurl connection
 *     (HTTP/1.1, TLS verified against the CA, as the API server's webhook
 *     client keeps connections), each sending AdmissionReviews in turn: a
 *     3-step Workflow that is admitted, and one denied (a hidden column; the
 *     denial message is the slowest path);
 *   - 1, 4 and 16 concurrent clients (2 cores here: 16 is overload);
 *     each request timed alone with CLOCK_MONOTONIC; p50, p90, p99, max and
 *     the requests per second of the whole run.
 * The API server's own side (its webhook client, JSON encoding, timeouts)
 * is not included: this is what Paybill adds to a Workflow create.
 *
 * Usage: bench_admission_bench [--quick]   (--quick: 500 requests per client)
 */
#include <curl/curl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "controllers/agent_policies.h"
#include "controllers/workflow_admission.h"
#include "kube/store.h"
#include "server/http.h"
#include "server/tlscert.h"
#include "util/log.h"
#include "util/secret.h"

#define MODEL                                                                                                \
    "{\"version\":1,\"tables\":["                                                                            \
    "{\"name\":\"customers\",\"columns\":[{\"name\":\"id\",\"type\":\"uuid\",\"nullable\":false},"           \
    "{\"name\":\"email\",\"type\":\"text\",\"nullable\":false},{\"name\":\"name\",\"type\":\"text\"},"       \
    "{\"name\":\"segment\",\"type\":\"enum\",\"values\":[\"smb\",\"midmarket\",\"enterprise\"]}],"         \
    "\"primaryKey\":[\"id\"]},"                                                                              \
    "{\"name\":\"invoices\",\"columns\":[{\"name\":\"id\",\"type\":\"uuid\",\"nullable\":false},"            \
    "{\"name\":\"customer_id\",\"type\":\"uuid\",\"nullable\":false},"                                       \
    "{\"name\":\"amount\",\"type\":\"numeric(12,2)\",\"nullable\":false},"                                  \
    "{\"name\":\"paid\",\"type\":\"boolean\",\"nullable\":false},{\"name\":\"due_on\",\"type\":\"date\"}]," \
    "\"primaryKey\":[\"id\"]}]}"

#define AGENT "{\"username\":\"system:serviceaccount:tenant-acme:paybill-agent\",\"uid\":\"u-1\"," \
              "\"groups\":[\"system:serviceaccounts\",\"system:authenticated\"]}"

static void put(store *s, json_t *o)
{
    static int rv;
    char rvs[16];
    snprintf(rvs, sizeof rvs, "%d", ++rv);
    json_object_set_new(json_object_get(o, "metadata"), "resourceVersion", json_string(rvs));
    if (store_upsert(s, o, NULL, NULL, NULL) != 0) {
        fprintf(stderr, "store_upsert failed\n");
        exit(1);
    }
    json_decref(o);
}

/* 16 rules: the two real ones, then 14 on the two tables for other
 * operations and columns (a policy as a tenant would grow it). */
static json_t *policy_spec(int subject_index)
{
    json_t *rules = json_array();
    json_array_append_new(rules, json_loads("{\"table\":\"customers\",\"operations\":[\"select\"],"
                                            "\"columns\":[\"id\",\"name\",\"segment\"]}", 0, NULL));
    json_array_append_new(rules, json_loads("{\"table\":\"invoices\",\"operations\":[\"select\",\"update\"],"
                                            "\"columns\":[\"id\",\"customer_id\",\"amount\",\"paid\",\"due_on\"],"
                                            "\"maxRows\":50}", 0, NULL));
    for (int i = 0; i < 14; i++)
        json_array_append_new(rules, json_pack("{s:s,s:[s],s:[s,s],s:i}", "table", i % 2 ? "customers" : "invoices",
                                               "operations", i % 3 ? "insert" : "delete", "columns", "id",
                                               i % 2 ? "name" : "amount", "maxRows", 10 + i));
    json_t *subjects = subject_index == 0
                           ? json_loads("[{\"kind\":\"ServiceAccount\",\"name\":\"paybill-agent\"}]", 0, NULL)
                           : json_pack("[{s:s,s:s+}]", "kind", "User", "name", "user-", subject_index == 1 ? "a" : "b");
    return json_pack("{s:o,s:o,s:{s:i}}", "subjects", subjects, "rules", rules, "limits", "rowsPerStep", 100);
}

static char *review(const char *uid, const char *steps)
{
    json_t *spec = json_pack("{s:o,s:o}", "steps", json_loads(steps, 0, NULL), "submitter", json_loads(AGENT, 0, NULL));
    char hash[65];
    wf_adm_spec_hash(spec, hash, NULL);
    json_t *r = json_pack(
        "{s:s,s:s,s:{s:s,s:s,s:{s:s,s:s,s:s},s:{s:s,s:s,s:s},s:s,s:s,s:o,s:{s:{s:s,s:s,s:{s:s}},s:o}}}", "apiVersion",
        "admission.k8s.io/v1", "kind", "AdmissionReview", "request", "uid", uid, "operation", "CREATE", "kind", "group",
        "paybill.dev", "version", "v1alpha1", "kind", "Workflow", "resource", "group", "paybill.dev", "version",
        "v1alpha1", "resource", "workflows", "namespace", "tenant-acme", "name", "w", "userInfo",
        json_loads(AGENT, 0, NULL), "object", "metadata", "name", "w", "namespace", "tenant-acme", "annotations",
        WF_ADM_SPEC_HASH_ANNOTATION, hash, "spec", spec);
    char *t = json_dumps(r, JSON_COMPACT);
    json_decref(r);
    return t;
}

static const char *ADMITTED_STEPS =
    "[{\"name\":\"find\",\"operation\":\"select\",\"table\":\"invoices\",\"columns\":[\"id\",\"amount\"],"
    "\"where\":[{\"column\":\"paid\",\"op\":\"eq\",\"value\":false},{\"column\":\"amount\",\"op\":\"lt\",\"value\":"
    "\"100.00\"}],\"orderBy\":[{\"column\":\"amount\"}],\"limit\":10},"
    "{\"name\":\"pay\",\"operation\":\"update\",\"table\":\"invoices\",\"values\":{\"paid\":true},"
    "\"where\":[{\"column\":\"id\",\"op\":\"in\",\"fromStep\":\"find\",\"field\":\"id\"}],\"limit\":10},"
    "{\"name\":\"who\",\"operation\":\"select\",\"table\":\"customers\",\"columns\":[\"id\",\"name\"],\"limit\":10}]";
static const char *DENIED_STEPS =
    "[{\"name\":\"leak\",\"operation\":\"select\",\"table\":\"customers\",\"columns\":[\"id\",\"email\"],\"limit\":5}]";

typedef struct client {
    pthread_t th;
    const char *url, *ca_file;
    const char *bodies[2];
    int n;
    double *lat_us;
    int errors, denied;
} client;

static size_t sink(char *p, size_t s, size_t n, void *ud)
{
    (void)p;
    (void)ud;
    return s * n;
}

static double now_us(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e6 + (double)t.tv_nsec / 1e3;
}

static void *run_client(void *arg)
{
    client *c = arg;
    CURL *h = curl_easy_init();
    struct curl_slist *hd = curl_slist_append(NULL, "Content-Type: application/json");
    curl_easy_setopt(h, CURLOPT_URL, c->url);
    curl_easy_setopt(h, CURLOPT_CAINFO, c->ca_file);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hd);
    curl_easy_setopt(h, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_1_1);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, sink);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    for (int i = 0; i < c->n; i++) {
        const char *body = c->bodies[i % 4 == 3]; /* 1 in 4 denied */
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
        double t0 = now_us();
        CURLcode rc = curl_easy_perform(h);
        c->lat_us[i] = now_us() - t0;
        long code = 0;
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
        if (rc != CURLE_OK || code != 200)
            c->errors++;
    }
    curl_slist_free_all(hd);
    curl_easy_cleanup(h);
    return NULL;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (!f || fputs(text, f) < 0 || fclose(f) != 0) {
        perror(path);
        exit(1);
    }
}

int main(int argc, char **argv)
{
    int quick = argc > 1 && strcmp(argv[1], "--quick") == 0;
    int per_client = quick ? 500 : 4000;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    /* Denials are logged at info, as deployed; formatted, then discarded. */
    FILE *devnull = fopen("/dev/null", "w");
    pb_log_configure(PB_LOG_INFO, PB_LOG_JSON, devnull);

    store *pols = store_new(), *tenants = store_new(), *plans = store_new(), *dms = store_new();
    put(tenants, json_loads("{\"metadata\":{\"name\":\"acme\",\"uid\":\"t\"},\"status\":{\"namespace\":\"tenant-acme\","
                            "\"plan\":\"pro\",\"database\":{\"dataModel\":\"crm\"}}}", 0, NULL));
    put(plans, json_loads("{\"metadata\":{\"name\":\"pro\",\"uid\":\"p\",\"generation\":1},"
                          "\"spec\":{\"features\":[\"agents\"],\"limits\":{\"stepsPerWorkflow\":20,\"rowsPerStep\":1000}}}", 0, NULL));
    put(dms, json_pack("{s:{s:s},s:{s:o}}", "metadata", "name", "crm", "status", "appliedModel",
                       json_loads(MODEL, 0, NULL)));
    for (int ns = 0; ns < 100; ns++)
        for (int i = 0; i < 10; i++) {
            char nsname[32], name[32], uid[48];
            snprintf(nsname, sizeof nsname, ns ? "tenant-t%d" : "tenant-acme", ns);
            snprintf(name, sizeof name, "policy-%d", i);
            snprintf(uid, sizeof uid, "u-%d-%d", ns, i);
            put(pols, json_pack("{s:{s:s,s:s,s:s,s:i},s:o}", "metadata", "name", name, "namespace", nsname, "uid",
                                uid, "generation", 1, "spec", policy_spec(i % 3)));
        }
    agentpol_cache *cache;
    agentpol_sources src = {pols, tenants, plans, dms};
    if (agentpol_cache_new(&src, &cache, NULL) != 0)
        return 1;
    wf_adm_ctx ctx = {.policies = cache};

    char dir[] = "/tmp/admission-bench-XXXXXX";
    if (!mkdtemp(dir))
        return 1;
    pb_tlscert_pair ca = {0}, leaf = {0};
    const char *ips[] = {"127.0.0.1", NULL};
    pb_err e = {0};
    if (pb_tlscert_new_ca("bench-ca", 86400, time(NULL), &ca, &e) ||
        pb_tlscert_new_leaf(&ca, "bench", NULL, ips, 86400, time(NULL), &leaf, &e)) {
        fprintf(stderr, "certificates: %s\n", e.msg);
        return 1;
    }
    char ca_file[128], cert_file[128], key_file[128];
    snprintf(ca_file, sizeof ca_file, "%s/ca.crt", dir);
    snprintf(cert_file, sizeof cert_file, "%s/tls.crt", dir);
    snprintf(key_file, sizeof key_file, "%s/tls.key", dir);
    write_file(ca_file, ca.cert_pem);
    write_file(cert_file, leaf.cert_pem);
    write_file(key_file, leaf.key_pem);
    pb_http_config hc = {.addr = "127.0.0.1:0", .tls_cert_file = cert_file, .tls_key_file = key_file,
                         .name = "webhooks"};
    pb_http_server *srv = NULL;
    if (pb_http_server_new(&hc, &srv, &e) || wf_adm_register(srv, &ctx, &e) || pb_http_server_start(srv, &e)) {
        fprintf(stderr, "server: %s\n", e.msg);
        return 1;
    }
    char url[128];
    snprintf(url, sizeof url, "https://127.0.0.1:%d%s", pb_http_server_port(srv), WF_ADM_VALIDATE_PATH);
    char *admitted = review("r-ok", ADMITTED_STEPS), *denied = review("r-deny", DENIED_STEPS);
    printf("admission webhook round trip (POST %s over HTTPS, keep-alive, 1,000 policies loaded, 16 rules each;\n"
           "3 of 4 reviews admit a 3-step Workflow, 1 of 4 denies a hidden column; %ld cores)\n",
           WF_ADM_VALIDATE_PATH, sysconf(_SC_NPROCESSORS_ONLN));
    /* The handler alone (decode, view lookup, step checks, decision,
     * response), without HTTP and TLS: what the webhook itself costs. */
    {
        int n = quick ? 2000 : 20000;
        double *lat = calloc((size_t)n, sizeof *lat);
        for (int i = 0; i < n; i++) {
            const char *body = i % 4 == 3 ? denied : admitted;
            double t0 = now_us();
            pb_adm_request *rq = NULL;
            json_t *out = NULL;
            if (pb_adm_decode(body, strlen(body), &rq, &e) == 0 && wf_adm_validate(&ctx, rq, &out, &e) == 0) {
                char *text = json_dumps(out, JSON_COMPACT);
                free(text);
            }
            json_decref(out);
            pb_adm_request_free(rq);
            lat[i] = now_us() - t0;
        }
        qsort(lat, (size_t)n, sizeof *lat, cmp);
        printf("in-process (decode + decide + encode, no HTTP): p50 %.1f us, p99 %.1f us\n", lat[n / 2],
               lat[n * 99 / 100]);
        free(lat);
    }
    printf("%8s %10s %10s %10s %10s %10s %8s\n", "clients", "p50 us", "p90 us", "p99 us", "max us", "req/s", "errors");
    const int conc[] = {1, 4, 16};
    for (size_t k = 0; k < sizeof conc / sizeof conc[0]; k++) {
        int nc = conc[k];
        client *cs = calloc((size_t)nc, sizeof *cs);
        double t0 = now_us();
        for (int i = 0; i < nc; i++) {
            cs[i] = (client){.url = url, .ca_file = ca_file, .bodies = {admitted, denied}, .n = per_client};
            cs[i].lat_us = calloc((size_t)per_client, sizeof(double));
            pthread_create(&cs[i].th, NULL, run_client, &cs[i]);
        }
        int errors = 0;
        size_t total = (size_t)nc * (size_t)per_client, at = 0;
        double *all = malloc(total * sizeof *all);
        for (int i = 0; i < nc; i++) {
            pthread_join(cs[i].th, NULL);
            errors += cs[i].errors;
            /* The first request pays the TLS handshake: kept, it is real. */
            memcpy(all + at, cs[i].lat_us, (size_t)per_client * sizeof(double));
            at += (size_t)per_client;
            free(cs[i].lat_us);
        }
        double secs = (now_us() - t0) / 1e6;
        qsort(all, total, sizeof *all, cmp);
        printf("%8d %10.0f %10.0f %10.0f %10.0f %10.0f %8d\n", nc, all[total / 2], all[total * 9 / 10],
               all[total * 99 / 100], all[total - 1], (double)total / secs, errors);
        free(all);
        free(cs);
    }
    free(admitted);
    free(denied);
    pb_http_server_free(srv);
    agentpol_cache_free(cache);
    store_free(pols);
    store_free(tenants);
    store_free(plans);
    store_free(dms);
    pb_tlscert_pair_clear(&ca);
    pb_tlscert_pair_clear(&leaf);
    unlink(ca_file);
    unlink(cert_file);
    unlink(key_file);
    rmdir(dir);
    curl_global_cleanup();
    fclose(devnull);
    return 0;
}
