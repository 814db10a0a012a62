/*
 * billing_api.c - libcurl calls to billing providers' APIs: Stripe meter
 * events and subscriptions, and a generic JSON POST (see billing_api.h).
 */
#include "provision/billing_api.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/buf.h"

#define MAX_RESPONSE (1024 * 1024)

int pb_bapi_url_check(const char *url, pb_err *err)
{
    if (!url || !*url)
        return pb_err_set(err, PB_EINVAL, "billing API: no URL");
    CURLU *u = curl_url();
    if (!u)
        return pb_err_oom(err);
    char *scheme = NULL, *host = NULL;
    int rc = 0;
    if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK) {
        rc = pb_err_set(err, PB_EINVAL, "billing API: \"%s\" is not a URL", url);
    } else if (strcmp(scheme, "https") == 0) {
        rc = 0;
    } else if (strcmp(scheme, "http") == 0) {
        struct in_addr a4;
        int loop = strcmp(host, "localhost") == 0 || strcmp(host, "[::1]") == 0 ||
                   (inet_pton(AF_INET, host, &a4) == 1 && (ntohl(a4.s_addr) >> 24) == 127);
        if (!loop)
            rc = pb_err_set(err, PB_EINVAL, "billing API: \"%s\": http:// is only allowed to a loopback address; "
                                            "use https://", url);
    } else {
        rc = pb_err_set(err, PB_EINVAL, "billing API: \"%s\": scheme must be https", url);
    }
    curl_free(scheme);
    curl_free(host);
    curl_url_cleanup(u);
    return rc;
}

static size_t on_body(char *p, size_t sz, size_t n, void *ud)
{
    pb_buf *b = ud;
    if (b->len + sz * n > MAX_RESPONSE)
        return 0; /* abort the transfer */
    return pb_buf_append(b, p, sz * n) == 0 ? sz * n : 0;
}

/* One request. method "GET" or "POST" (post_body non-NULL). */
static int request(const pb_bapi_opts *o, const char *url, const char *post_body, struct curl_slist *hdrs,
                   long *status, char **body, pb_err *err)
{
    *status = 0;
    if (body)
        *body = NULL;
    int rc = pb_bapi_url_check(url, err);
    if (rc != 0)
        return rc;
    CURL *c = curl_easy_init();
    if (!c)
        return pb_err_oom(err);
    pb_buf resp = {0};
    char ebuf[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, o->timeout_ms > 0 ? o->timeout_ms : 10000L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
    if (o->ca_file)
        curl_easy_setopt(c, CURLOPT_CAINFO, o->ca_file);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, ebuf);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &resp);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "paybill-operator");
    if (hdrs)
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    if (post_body) {
        curl_easy_setopt(c, CURLOPT_POST, 1L);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, post_body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(post_body));
    }
    CURLcode cc = curl_easy_perform(c);
    if (cc != CURLE_OK) {
        rc = pb_err_set(err, PB_EUNAVAILABLE, "billing API %s: %s", url, *ebuf ? ebuf : curl_easy_strerror(cc));
    } else {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
        if (pb_buf_append(&resp, "", 1) != 0) {
            rc = pb_err_oom(err);
        } else if (body) {
            *body = pb_buf_take(&resp, NULL);
        }
    }
    pb_buf_free(&resp);
    curl_easy_cleanup(c);
    return rc;
}

int pb_bapi_form_add(char **buf, const char *key, const char *value, pb_err *err)
{
    char *k = curl_easy_escape(NULL, key, 0), *v = curl_easy_escape(NULL, value, 0);
    size_t old = *buf ? strlen(*buf) : 0;
    char *n = k && v ? realloc(*buf, old + strlen(k) + strlen(v) + 3) : NULL;
    if (n) {
        snprintf(n + old, strlen(k) + strlen(v) + 3, "%s%s=%s", old ? "&" : "", k, v);
        *buf = n;
    }
    curl_free(k);
    curl_free(v);
    return n ? 0 : pb_err_oom(err);
}

static char *join_url(const char *base, const char *path)
{
    size_t bl = strlen(base);
    while (bl > 0 && base[bl - 1] == '/')
        bl--;
    size_t n = bl + strlen(path) + 1;
    char *u = malloc(n);
    if (u)
        snprintf(u, n, "%.*s%s", (int)bl, base, path);
    return u;
}

static struct curl_slist *bearer(const char *api_key, struct curl_slist *h)
{
    size_t n = strlen(api_key) + 32;
    char *line = malloc(n);
    if (!line)
        return h;
    snprintf(line, n, "Authorization: Bearer %s", api_key);
    struct curl_slist *r = curl_slist_append(h, line);
    memset(line, 0, n);
    free(line);
    return r;
}

int pb_bapi_stripe_meter_event(const pb_bapi_opts *o, const char *api_key, const pb_bapi_meter_event *ev,
                               long *status, char **body, pb_err *err)
{
    *status = 0;
    if (body)
        *body = NULL;
    if (!api_key || !*api_key || !ev->event_name || !ev->customer || !*ev->customer || !ev->identifier)
        return pb_err_set(err, PB_EINVAL, "stripe meter event: api key, event name, customer and identifier needed");
    char *form = NULL, v[32], ts[32];
    snprintf(v, sizeof v, "%lld", ev->value);
    snprintf(ts, sizeof ts, "%lld", (long long)ev->timestamp);
    int rc;
    if ((rc = pb_bapi_form_add(&form, "event_name", ev->event_name, err)) != 0 ||
        (rc = pb_bapi_form_add(&form, "payload[stripe_customer_id]", ev->customer, err)) != 0 ||
        (rc = pb_bapi_form_add(&form, "payload[value]", v, err)) != 0 ||
        (rc = pb_bapi_form_add(&form, "identifier", ev->identifier, err)) != 0 ||
        (rc = pb_bapi_form_add(&form, "timestamp", ts, err)) != 0) {
        free(form);
        return rc;
    }
    char idem[160];
    snprintf(idem, sizeof idem, "Idempotency-Key: %s", ev->identifier);
    struct curl_slist *h = bearer(api_key, NULL);
    h = curl_slist_append(h, "Content-Type: application/x-www-form-urlencoded");
    h = curl_slist_append(h, idem);
    char *url = join_url(o->base_url, "/v1/billing/meter_events");
    rc = url && h ? request(o, url, form, h, status, body, err) : pb_err_oom(err);
    free(url);
    free(form);
    curl_slist_free_all(h);
    return rc;
}

int pb_bapi_stripe_get_subscription(const pb_bapi_opts *o, const char *api_key, const char *id, long *status,
                                    json_t **object, pb_err *err)
{
    *object = NULL;
    *status = 0;
    size_t n = id ? strlen(id) : 0;
    if (!api_key || !*api_key || n == 0 || n > 255 ||
        strspn(id, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-") != n)
        return pb_err_set(err, PB_EINVAL, "stripe subscription: an api key and an id of [A-Za-z0-9_-] are needed");
    char path[300];
    snprintf(path, sizeof path, "/v1/subscriptions/%s", id);
    char *url = join_url(o->base_url, path), *body = NULL;
    struct curl_slist *h = bearer(api_key, NULL);
    int rc = url && h ? request(o, url, NULL, h, status, &body, err) : pb_err_oom(err);
    if (rc == 0 && *status == 200) {
        json_t *j = json_loads(body, 0, NULL);
        if (json_is_object(j))
            *object = j;
        else
            json_decref(j);
    }
    free(body);
    free(url);
    curl_slist_free_all(h);
    return rc;
}

int pb_bapi_post_json(const pb_bapi_opts *o, const char *url, const char *json_body, const char *const *headers,
                      long *status, char **body, pb_err *err)
{
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    for (const char *const *x = headers; h && x && *x; x++)
        h = curl_slist_append(h, *x);
    int rc = h ? request(o, url, json_body, h, status, body, err) : pb_err_oom(err);
    curl_slist_free_all(h);
    return rc;
}
