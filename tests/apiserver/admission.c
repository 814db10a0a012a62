/*
 * admission.c - dynamic admission control for the dev API server: calls the
 * webhooks of the Mutating- and ValidatingWebhookConfigurations in the store
 * the way kube-apiserver does, so the operator's webhook server is tested
 * against the same requests, matching and error wording as in a cluster.
 *
 * Per webhook: match (rules, namespaceSelector, objectSelector), dry-run
 * check (sideEffects), POST an AdmissionReview v1 over HTTPS (libcurl, the
 * server certificate verified against clientConfig.caBundle), check the
 * response (apiVersion/kind, uid), then deny, patch (mutating, JSONPatch via
 * dv_json_patch) or go on. A failed call obeys failurePolicy: Fail (the
 * default) stops the request with 500 InternalError, Ignore skips the
 * webhook. Configurations run in name order, webhooks in list order.
 */
#include "admission.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "patch.h"
#include "util/buf.h"
#include "util/log.h"

#define ADMREG_GROUP "admissionregistration.k8s.io"
#define DEFAULT_TIMEOUT_SECONDS 10
#define MAX_TIMEOUT_SECONDS 30
/* A webhook answer is one AdmissionReview; bound what we buffer. */
#define MAX_RESPONSE_BYTES (3u << 20)

/* ---- small helpers ------------------------------------------------------ */

static const char *str_at(const json_t *obj, const char *key)
{
    return json_string_value(json_object_get(obj, key));
}

static int streq(const char *a, const char *b)
{
    return a && b && strcmp(a, b) == 0;
}

static int array_has(const json_t *arr, const char *s)
{
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v)
        if (streq(json_string_value(v), s))
            return 1;
    return 0;
}

/* Standard base64 (newlines allowed) -> malloc'd bytes, NUL-terminated. */
static unsigned char *b64_decode(const char *in, size_t *outlen)
{
    size_t len = strlen(in);
    unsigned char *out = malloc(len / 4 * 3 + 4);
    EVP_ENCODE_CTX *ctx = EVP_ENCODE_CTX_new();
    int n1 = 0, n2 = 0;
    if (!out || !ctx)
        goto fail;
    EVP_DecodeInit(ctx);
    if (EVP_DecodeUpdate(ctx, out, &n1, (const unsigned char *)in, (int)len) < 0 ||
        EVP_DecodeFinal(ctx, out + n1, &n2) < 0)
        goto fail;
    EVP_ENCODE_CTX_free(ctx);
    *outlen = (size_t)(n1 + n2);
    out[*outlen] = '\0';
    return out;
fail:
    EVP_ENCODE_CTX_free(ctx);
    free(out);
    return NULL;
}

static void new_uid(char out[37])
{
    unsigned char b[16];
    if (RAND_bytes(b, sizeof b) != 1)
        memset(b, 0x5a, sizeof b);
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
             b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
             b[14], b[15]);
}

/* ---- Status bodies -------------------------------------------------------- */

static json_t *status_new(int code, const char *reason, const char *message)
{
    json_t *s = json_pack("{s:s,s:s,s:{},s:s,s:s,s:i}", "kind", "Status", "apiVersion", "v1",
                          "metadata", "status", "Failure", "message", message, "code", code);
    if (reason && *reason)
        json_object_set_new(s, "reason", json_string(reason));
    return s;
}

/* 500 InternalError, as apierrors.NewInternalError words it. */
static int fail_internal(dv_admission_result *res, const char *err)
{
    char msg[2600];
    snprintf(msg, sizeof msg, "Internal error occurred: %s", err);
    json_t *s = status_new(500, "InternalError", msg);
    json_object_set_new(s, "details", json_pack("{s:[{s:s}]}", "causes", "message", err));
    json_decref(res->status);
    res->status = s;
    return -2;
}

/* A webhook's rejection (webhookerrors.ToStatusErr). */
static int deny(dv_admission_result *res, const char *hook, const json_t *wstatus)
{
    json_t *s = json_is_object(wstatus) ? json_deep_copy(wstatus) : json_object();
    const char *m = str_at(s, "message"), *reason = str_at(s, "reason");
    char msg[2048];
    if (m && *m)
        snprintf(msg, sizeof msg, "admission webhook \"%s\" denied the request: %s", hook, m);
    else if (reason && *reason)
        snprintf(msg, sizeof msg, "admission webhook \"%s\" denied the request: %s", hook, reason);
    else
        snprintf(msg, sizeof msg, "admission webhook \"%s\" denied the request without explanation",
                 hook);
    json_int_t code = json_integer_value(json_object_get(s, "code"));
    json_object_set_new(s, "kind", json_string("Status"));
    json_object_set_new(s, "apiVersion", json_string("v1"));
    if (!json_is_object(json_object_get(s, "metadata")))
        json_object_set_new(s, "metadata", json_object());
    json_object_set_new(s, "status", json_string("Failure"));
    json_object_set_new(s, "message", json_string(msg));
    json_object_set_new(s, "code", json_integer(code < 400 ? 400 : code));
    json_decref(res->status);
    res->status = s;
    return -1;
}

void dv_admission_result_clear(dv_admission_result *r)
{
    if (!r)
        return;
    json_decref(r->status);
    json_decref(r->warnings);
    r->status = r->warnings = NULL;
}

/* ---- matching --------------------------------------------------------------- */

static int list_matches(const json_t *arr, const char *v)
{
    return array_has(arr, "*") || array_has(arr, v ? v : "");
}

static int rule_matches(const json_t *rule, const dv_admission_request *req)
{
    if (!list_matches(json_object_get(rule, "operations"), req->operation) ||
        !list_matches(json_object_get(rule, "apiGroups"), req->group) ||
        !list_matches(json_object_get(rule, "apiVersions"), req->version))
        return 0;
    const char *scope = str_at(rule, "scope");
    int namespaced = req->ns && *req->ns;
    if (streq(scope, "Cluster") && namespaced)
        return 0;
    if (streq(scope, "Namespaced") && !namespaced)
        return 0;
    const char *sub = req->subresource ? req->subresource : "";
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(rule, "resources"), i, v) {
        const char *r = json_string_value(v);
        if (!r)
            continue;
        /* "tenants" matches only the main resource, "tenants/status" only
         * that subresource, "*" every main resource; a "*" after the slash
         * matches every subresource (and none). */
        const char *slash = strchr(r, '/');
        size_t rl = slash ? (size_t)(slash - r) : strlen(r);
        const char *rs = slash ? slash + 1 : "";
        int res_ok = (rl == 1 && r[0] == '*') ||
                     (req->resource && strlen(req->resource) == rl && strncmp(r, req->resource, rl) == 0);
        int sub_ok = strcmp(rs, "*") == 0 || strcmp(rs, sub) == 0;
        if (res_ok && sub_ok)
            return 1;
    }
    return 0;
}

static const json_t *labels_of(const json_t *obj)
{
    return json_object_get(json_object_get(obj, "metadata"), "labels");
}

/* 1 match, 0 not, -1 malformed selector. */
static int namespace_selector_matches(const json_t *hook, const dv_admission_request *req)
{
    const json_t *sel = json_object_get(hook, "namespaceSelector");
    int is_ns = streq(req->resource, "namespaces") && !(req->subresource && *req->subresource);
    if (!(req->ns && *req->ns) && !is_ns)
        return 1; /* cluster-scoped objects other than namespaces are never exempted */
    const json_t *labels;
    if (is_ns && (streq(req->operation, "CREATE") || streq(req->operation, "UPDATE")))
        labels = labels_of(req->object); /* the namespace being written is its own */
    else if (is_ns)
        labels = labels_of(req->old_object ? req->old_object : req->ns_object);
    else
        labels = labels_of(req->ns_object);
    return dv_label_selector_json_matches(sel, labels);
}

static int object_selector_matches(const json_t *hook, const dv_admission_request *req)
{
    const json_t *sel = json_object_get(hook, "objectSelector");
    int valid = dv_label_selector_json_matches(sel, NULL);
    if (valid < 0)
        return -1;
    if (json_object_size(json_object_get(sel, "matchLabels")) == 0 &&
        json_array_size(json_object_get(sel, "matchExpressions")) == 0)
        return 1; /* the empty selector matches even when there is no object */
    int a = req->object ? dv_label_selector_json_matches(sel, labels_of(req->object)) : 0;
    int b = req->old_object ? dv_label_selector_json_matches(sel, labels_of(req->old_object)) : 0;
    return a == 1 || b == 1;
}

/* ---- the HTTP call ----------------------------------------------------------- */

typedef struct response {
    pb_buf body;
    int overflow; /* over MAX_RESPONSE_BYTES */
} response;

static size_t on_body(char *p, size_t sz, size_t nm, void *ud)
{
    response *r = ud;
    size_t n = sz * nm;
    if (r->body.len + n > MAX_RESPONSE_BYTES) {
        r->overflow = 1;
        return 0;
    }
    return pb_buf_append(&r->body, p, n) == 0 ? n : 0;
}

/* Where to POST: url, and for the service form the CURLOPT_CONNECT_TO
 * entry that redirects the TCP connection (see DV_ADMISSION_URL_ANNOTATION).
 * 0, or -1 with err. */
static int resolve_target(dv_lister lister, void *ud, const json_t *cc, int timeout, char *url,
                          size_t urln, char *connect_to, size_t ctn, char *err, size_t errn)
{
    char tq[32];
    connect_to[0] = '\0';
    snprintf(tq, sizeof tq, "timeout=%ds", timeout);
    const char *u = str_at(cc, "url");
    if (u) {
        snprintf(url, urln, "%s%s%s", u, strchr(u, '?') ? "&" : "?", tq);
        if (strncmp(u, "https://", 8) != 0) {
            snprintf(err, errn, "failed to call webhook: Post \"%s\": unsupported scheme: "
                     "webhook URLs must use https", url);
            return -1;
        }
        return 0;
    }
    json_t *svc = json_object_get(cc, "service");
    const char *ns = str_at(svc, "namespace"), *name = str_at(svc, "name");
    const char *path = str_at(svc, "path");
    json_int_t port = json_integer_value(json_object_get(svc, "port"));
    if (port <= 0)
        port = 443;
    if (!ns || !name) {
        snprintf(err, errn, "failed to call webhook: webhook has neither clientConfig.url nor "
                 "clientConfig.service");
        return -1;
    }
    snprintf(url, urln, "https://%s.%s.svc:%lld%s?%s", name, ns, (long long)port, path ? path : "", tq);

    json_t *list = lister ? lister(ud, "", "services", ns) : NULL;
    const json_t *found = NULL, *it;
    size_t i;
    json_array_foreach(list, i, it)
        if (streq(str_at(json_object_get(it, "metadata"), "name"), name))
            found = it;
    const char *real = found ? str_at(json_object_get(json_object_get(found, "metadata"), "annotations"),
                                      DV_ADMISSION_URL_ANNOTATION)
                             : NULL;
    int rc = 0;
    char host[300];
    int rport = 443;
    if (!found) {
        snprintf(err, errn, "failed to call webhook: Post \"%s\": service \"%s\" not found", url, name);
        rc = -1;
    } else if (!real) {
        snprintf(err, errn,
                 "failed to call webhook: Post \"%s\": service %s/%s has no \"%s\" annotation "
                 "(the dev API server cannot reach in-cluster Services)",
                 url, ns, name, DV_ADMISSION_URL_ANNOTATION);
        rc = -1;
    } else {
        /* "https://host:port[/...]" or "host:port" */
        const char *h = strstr(real, "://") ? strstr(real, "://") + 3 : real;
        size_t hl = strcspn(h, "/");
        char hostport[300];
        snprintf(hostport, sizeof hostport, "%.*s", (int)hl, h);
        char *colon = strrchr(hostport, ':');
        if (colon && !strchr(colon, ']')) {
            *colon = '\0';
            rport = atoi(colon + 1);
        }
        snprintf(host, sizeof host, "%s", hostport);
        if (!host[0] || rport <= 0 || rport > 65535) {
            snprintf(err, errn, "failed to call webhook: Post \"%s\": bad %s annotation \"%s\"", url,
                     DV_ADMISSION_URL_ANNOTATION, real);
            rc = -1;
        } else {
            snprintf(connect_to, ctn, "%s.%s.svc:%lld:%s:%d", name, ns, (long long)port, host, rport);
        }
    }
    json_decref(list);
    return rc;
}

/* Go's wording for the common transport failures, so messages read like a
 * real cluster's; anything else keeps curl's text. Written into out. */
static const char *transport_error(CURLcode rc, const char *curl_msg, const char *url, char *out,
                                   size_t n)
{
    const char *h = strstr(url, "://");
    h = h ? h + 3 : url;
    int hl = (int)strcspn(h, ":/?");
    switch (rc) {
    case CURLE_OPERATION_TIMEDOUT:
        snprintf(out, n, "context deadline exceeded");
        break;
    case CURLE_COULDNT_CONNECT:
        snprintf(out, n, "dial tcp %.*s: connect: connection refused", (int)strcspn(h, "/?"), h);
        break;
    case CURLE_COULDNT_RESOLVE_HOST:
        snprintf(out, n, "dial tcp: lookup %.*s: no such host", hl, h);
        break;
    case CURLE_PEER_FAILED_VERIFICATION:
        if (strstr(curl_msg, "subject name") || strstr(curl_msg, "host name"))
            snprintf(out, n, "tls: failed to verify certificate: x509: certificate is not valid for %.*s",
                     hl, h);
        else
            snprintf(out, n, "tls: failed to verify certificate: x509: certificate signed by unknown authority");
        break;
    default:
        snprintf(out, n, "%s", curl_msg[0] ? curl_msg : curl_easy_strerror(rc));
    }
    return out;
}

/* POST body to the webhook; on success the parsed response (new ref). */
static json_t *post_review(dv_lister lister, void *ud, const json_t *hook, const char *body,
                           char *err, size_t errn)
{
    const json_t *cc = json_object_get(hook, "clientConfig");
    json_int_t timeout = json_integer_value(json_object_get(hook, "timeoutSeconds"));
    if (timeout <= 0)
        timeout = DEFAULT_TIMEOUT_SECONDS;
    if (timeout > MAX_TIMEOUT_SECONDS)
        timeout = MAX_TIMEOUT_SECONDS;
    char url[1024], connect_to[600];
    if (resolve_target(lister, ud, cc, (int)timeout, url, sizeof url, connect_to, sizeof connect_to,
                       err, errn) < 0)
        return NULL;

    unsigned char *ca = NULL;
    size_t calen = 0;
    const char *ca_b64 = str_at(cc, "caBundle");
    if (ca_b64 && *ca_b64 && !(ca = b64_decode(ca_b64, &calen))) {
        snprintf(err, errn, "failed to call webhook: clientConfig.caBundle is not valid base64");
        return NULL;
    }

    CURL *c = curl_easy_init();
    struct curl_slist *hdrs = NULL, *ct = NULL;
    response resp = {0};
    json_t *out = NULL;
    char cerr[CURL_ERROR_SIZE] = "";
    if (!c) {
        snprintf(err, errn, "failed to call webhook: cannot create an HTTP client");
        goto done;
    }
    hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
    hdrs = curl_slist_append(hdrs, "Accept: application/json, */*");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)timeout * 1000L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_NOPROXY, "*"); /* webhooks are never reached through a proxy */
    curl_easy_setopt(c, CURLOPT_USERAGENT, "kube-apiserver-admission");
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, cerr);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &resp);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https");
    if (ca) {
        struct curl_blob blob = {.data = ca, .len = calen, .flags = CURL_BLOB_COPY};
        curl_easy_setopt(c, CURLOPT_CAINFO_BLOB, &blob);
    }
    if (connect_to[0]) {
        ct = curl_slist_append(NULL, connect_to);
        curl_easy_setopt(c, CURLOPT_CONNECT_TO, ct);
    }
    CURLcode rc = curl_easy_perform(c);
    long code = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    if (rc != CURLE_OK) {
        if (resp.overflow)
            snprintf(err, errn, "failed to call webhook: Post \"%s\": response larger than %u bytes",
                     url, MAX_RESPONSE_BYTES);
        else
        {
            char detail[CURL_ERROR_SIZE + 300];
            snprintf(err, errn, "failed to call webhook: Post \"%s\": %s", url,
                     transport_error(rc, cerr, url, detail, sizeof detail));
        }
        goto done;
    }
    if (code < 200 || code > 299) {
        snprintf(err, errn,
                 "failed to call webhook: an error on the server (\"%.200s\") has prevented the "
                 "request from succeeding (HTTP %ld)",
                 pb_buf_str(&resp.body), code);
        goto done;
    }
    json_error_t je;
    out = resp.body.data ? json_loadb(resp.body.data, resp.body.len, 0, &je) : NULL;
    if (!json_is_object(out)) {
        snprintf(err, errn, "failed to call webhook: couldn't get version/kind; json parse error: %s",
                 resp.body.data ? je.text : "empty body");
        json_decref(out);
        out = NULL;
    }
done:
    curl_slist_free_all(hdrs);
    curl_slist_free_all(ct);
    if (c)
        curl_easy_cleanup(c);
    pb_buf_free(&resp.body);
    if (ca) {
        OPENSSL_cleanse(ca, calen);
        free(ca);
    }
    return out;
}

/* ---- one webhook --------------------------------------------------------------- */

static json_t *build_review(const dv_admission_request *req, const char *uid)
{
    json_t *gvk = json_pack("{s:s,s:s,s:s}", "group", req->group ? req->group : "", "version",
                            req->version ? req->version : "", "kind", req->kind ? req->kind : "");
    json_t *gvr = json_pack("{s:s,s:s,s:s}", "group", req->group ? req->group : "", "version",
                            req->version ? req->version : "", "resource",
                            req->resource ? req->resource : "");
    json_t *r = json_pack("{s:s,s:O,s:O,s:O,s:O,s:s,s:b}", "uid", uid, "kind", gvk, "resource", gvr,
                          "requestKind", gvk, "requestResource", gvr, "operation",
                          req->operation ? req->operation : "", "dryRun", req->dry_run);
    json_decref(gvk);
    json_decref(gvr);
    if (req->subresource && *req->subresource) {
        json_object_set_new(r, "subResource", json_string(req->subresource));
        json_object_set_new(r, "requestSubResource", json_string(req->subresource));
    }
    if (req->name && *req->name)
        json_object_set_new(r, "name", json_string(req->name));
    if (req->ns && *req->ns)
        json_object_set_new(r, "namespace", json_string(req->ns));
    json_t *ui = json_object();
    if (req->user) {
        json_object_set_new(ui, "username", json_string(req->user->name ? req->user->name : ""));
        if (req->user->uid && *req->user->uid)
            json_object_set_new(ui, "uid", json_string(req->user->uid));
        json_t *g = json_array();
        for (size_t i = 0; i < req->user->ngroups; i++)
            json_array_append_new(g, json_string(req->user->groups[i]));
        json_object_set_new(ui, "groups", g);
    }
    json_object_set_new(r, "userInfo", ui);
    json_object_set_new(r, "object", req->object ? json_deep_copy(req->object) : json_null());
    json_object_set_new(r, "oldObject", req->old_object ? json_deep_copy(req->old_object) : json_null());
    const char *opts = streq(req->operation, "CREATE")   ? "CreateOptions"
                       : streq(req->operation, "UPDATE") ? "UpdateOptions"
                       : streq(req->operation, "DELETE") ? "DeleteOptions"
                                                         : NULL;
    if (opts) {
        json_t *o = json_pack("{s:s,s:s}", "kind", opts, "apiVersion", "meta.k8s.io/v1");
        if (req->dry_run)
            json_object_set_new(o, "dryRun", json_pack("[s]", "All"));
        json_object_set_new(r, "options", o);
    } else {
        json_object_set_new(r, "options", json_null());
    }
    return json_pack("{s:s,s:s,s:o}", "kind", "AdmissionReview", "apiVersion", "admission.k8s.io/v1",
                     "request", r);
}

enum { HOOK_ALLOW = 0, HOOK_DENY = -1, HOOK_FAIL = -2, HOOK_CALL_FAILED = -3 };

/* Call one matching webhook. *obj is the current object (mutating: may be
 * replaced by the patched one). Returns HOOK_ALLOW, HOOK_DENY / HOOK_FAIL
 * with res->status set, or HOOK_CALL_FAILED with err (failurePolicy decides). */
static int call_hook(dv_lister lister, void *ud, const json_t *hook, const dv_admission_request *req,
                     int mutating, json_t **obj, dv_admission_result *res, char *err, size_t errn)
{
    const char *name = str_at(hook, "name") ? str_at(hook, "name") : "";
    /* The first version we speak, in the webhook's order of preference. */
    const char *version = NULL;
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(hook, "admissionReviewVersions"), i, v) {
        if (streq(json_string_value(v), "v1") || streq(json_string_value(v), "v1beta1")) {
            version = json_string_value(v);
            break;
        }
    }
    if (!version) {
        snprintf(err, errn, "could not create admission objects: webhook does not accept known "
                 "AdmissionReview versions (v1, v1beta1)");
        return HOOK_CALL_FAILED;
    }
    int v1 = strcmp(version, "v1") == 0;
    char uid[37];
    new_uid(uid);
    dv_admission_request cur = *req;
    if (mutating)
        cur.object = *obj;
    json_t *review = build_review(&cur, uid);
    if (!v1)
        json_object_set_new(review, "apiVersion", json_string("admission.k8s.io/v1beta1"));
    char *body = json_dumps(review, JSON_COMPACT);
    json_decref(review);
    if (!body) {
        snprintf(err, errn, "out of memory");
        return HOOK_CALL_FAILED;
    }
    json_t *answer = post_review(lister, ud, hook, body, err, errn);
    free(body);
    if (!answer)
        return HOOK_CALL_FAILED;

    /* webhookrequest.VerifyAdmissionResponse, check for check. */
    int rc = HOOK_CALL_FAILED;
    json_t *r = json_object_get(answer, "response");
    const char *av = str_at(answer, "apiVersion"), *kind = str_at(answer, "kind");
    const char *ruid = str_at(r, "uid");
    const char *patch_b64 = str_at(r, "patch"), *pt = str_at(r, "patchType");
    int has_patch = patch_b64 && *patch_b64, has_pt = json_object_get(r, "patchType") != NULL;
    const char *bad = NULL;
    char why[600];
    if (!json_is_object(r)) {
        bad = "webhook response was absent";
    } else if (v1 && !streq(ruid, uid)) {
        snprintf(why, sizeof why, "expected response.uid=\"%s\", got \"%s\"", uid, ruid ? ruid : "");
        bad = why;
    } else if (v1 && (!streq(av, "admission.k8s.io/v1") || !streq(kind, "AdmissionReview"))) {
        snprintf(why, sizeof why, "expected webhook response of admission.k8s.io/v1, Kind=AdmissionReview, "
                 "got %s, Kind=%s", av ? av : "", kind ? kind : "");
        bad = why;
    } else if (v1 && mutating && has_patch && !has_pt) {
        bad = "webhook returned response.patch but not response.patchType";
    } else if (v1 && mutating && !has_patch && has_pt) {
        bad = "webhook returned response.patchType but not response.patch";
    } else if (v1 && !mutating && has_patch) {
        bad = "validating webhook may not return response.patch";
    } else if (v1 && !mutating && has_pt) {
        bad = "validating webhook may not return response.patchType";
    }
    if (bad) {
        snprintf(err, errn, "received invalid webhook response: %s", bad);
        goto out;
    }
    json_t *w;
    json_array_foreach(json_object_get(r, "warnings"), i, w)
        if (json_is_string(w))
            json_array_append(res->warnings, w);
    if (!json_is_true(json_object_get(r, "allowed"))) {
        rc = deny(res, name, json_object_get(r, "status"));
        goto out;
    }
    if (!mutating || !has_patch) {
        rc = HOOK_ALLOW;
        goto out;
    }
    if (v1 && !streq(pt, "JSONPatch")) { /* v1beta1 answers are pinned to JSONPatch */
        snprintf(err, errn, "unsupported patch type \"%s\"", pt ? pt : "");
        goto out;
    }
    /* From here on errors are not call failures: failurePolicy does not apply. */
    size_t plen = 0;
    unsigned char *praw = b64_decode(patch_b64, &plen);
    json_t *ops = praw ? json_loadb((char *)praw, plen, 0, NULL) : NULL;
    free(praw);
    char perr[1024] = "", m[1300];
    if (!json_is_array(ops)) {
        snprintf(m, sizeof m, "admission webhook \"%s\" returned a patch that is not a base64 JSON Patch array", name);
        rc = fail_internal(res, m);
    } else if (json_array_size(ops) == 0) {
        rc = HOOK_ALLOW;
    } else if (!*obj) {
        snprintf(m, sizeof m, "admission webhook \"%s\" attempted to modify the object, which is not "
                 "supported for this operation", name);
        rc = fail_internal(res, m);
    } else {
        json_t *patched = NULL;
        if (dv_json_patch(*obj, ops, &patched, perr, sizeof perr) != 0) {
            rc = fail_internal(res, perr);
        } else {
            json_decref(*obj);
            *obj = patched;
            rc = HOOK_ALLOW;
        }
    }
    json_decref(ops);
out:
    json_decref(answer);
    return rc;
}

/* ---- the two phases ---------------------------------------------------------- */

static int by_name(const void *a, const void *b)
{
    const char *x = str_at(json_object_get(*(json_t *const *)a, "metadata"), "name");
    const char *y = str_at(json_object_get(*(json_t *const *)b, "metadata"), "name");
    return strcmp(x ? x : "", y ? y : "");
}

static int run_phase(dv_lister lister, void *ud, const dv_admission_request *req, int mutating,
                     json_t **obj, dv_admission_result *res)
{
    if (!res->warnings)
        res->warnings = json_array();
    /* kube-apiserver never sends its own webhook configurations to webhooks,
     * so a broken webhook cannot lock itself in. */
    if (streq(req->group, ADMREG_GROUP) || !lister)
        return 0;
    json_t *configs = lister(ud, ADMREG_GROUP,
                             mutating ? "mutatingwebhookconfigurations" : "validatingwebhookconfigurations",
                             NULL);
    size_t nc = json_array_size(configs);
    json_t **sorted = calloc(nc ? nc : 1, sizeof *sorted);
    int rc = 0;
    if (!sorted) {
        json_decref(configs);
        return fail_internal(res, "out of memory");
    }
    for (size_t i = 0; i < nc; i++)
        sorted[i] = json_array_get(configs, i);
    qsort(sorted, nc, sizeof *sorted, by_name);

    for (size_t ci = 0; ci < nc && rc == 0; ci++) {
        size_t wi;
        json_t *hook;
        json_array_foreach(json_object_get(sorted[ci], "webhooks"), wi, hook) {
            const char *name = str_at(hook, "name") ? str_at(hook, "name") : "";
            int matched = 0;
            size_t ri;
            json_t *rule;
            json_array_foreach(json_object_get(hook, "rules"), ri, rule)
                if (rule_matches(rule, req)) {
                    matched = 1;
                    break;
                }
            if (!matched)
                continue;
            dv_admission_request cur = *req;
            if (mutating)
                cur.object = *obj;
            int nsm = namespace_selector_matches(hook, &cur);
            int obm = nsm == 1 ? object_selector_matches(hook, &cur) : 0;
            if (nsm < 0 || obm < 0) {
                char m[600];
                snprintf(m, sizeof m, "admission webhook \"%s\": invalid %s", name,
                         nsm < 0 ? "namespaceSelector" : "objectSelector");
                rc = fail_internal(res, m);
                break;
            }
            if (!nsm || !obm)
                continue;
            if (req->dry_run) {
                const char *se = str_at(hook, "sideEffects");
                char m[600];
                if (!se || (strcmp(se, "None") != 0 && strcmp(se, "NoneOnDryRun") != 0)) {
                    snprintf(m, sizeof m, "admission webhook \"%s\" does not support dry run", name);
                    json_decref(res->status);
                    res->status = status_new(400, "BadRequest", m);
                    rc = -1;
                    break;
                }
            }
            char err[2048] = "";
            int hr = call_hook(lister, ud, hook, req, mutating, obj, res, err, sizeof err);
            if (hr == HOOK_ALLOW)
                continue;
            if (hr == HOOK_DENY || hr == HOOK_FAIL) {
                rc = hr;
                break;
            }
            char full[2400];
            snprintf(full, sizeof full, "failed calling webhook \"%s\": %s", name, err);
            if (streq(str_at(hook, "failurePolicy"), "Ignore")) {
                pb_log_warn("failed calling webhook, failing open", "webhook", name, "error", err, NULL);
                continue;
            }
            pb_log_warn("failed calling webhook, failing closed", "webhook", name, "error", err, NULL);
            rc = fail_internal(res, full);
            break;
        }
    }
    free(sorted);
    json_decref(configs);
    return rc;
}

int dv_admission_mutate_ex(dv_lister lister, void *ud, const dv_admission_request *req,
                           json_t **out, dv_admission_result *res)
{
    json_t *obj = req->object ? json_deep_copy(req->object) : NULL;
    int rc = run_phase(lister, ud, req, 1, &obj, res);
    if (rc != 0) {
        json_decref(obj);
        obj = NULL;
    }
    *out = obj;
    return rc;
}

int dv_admission_validate_ex(dv_lister lister, void *ud, const dv_admission_request *req,
                             dv_admission_result *res)
{
    json_t *obj = NULL;
    return run_phase(lister, ud, req, 0, &obj, res);
}

static void copy_message(const dv_admission_result *res, char *msg, size_t n)
{
    if (msg && n)
        snprintf(msg, n, "%s", res->status ? str_at(res->status, "message") : "");
}

int dv_admission_mutate(dv_lister lister, void *ud, const dv_admission_request *req,
                        json_t **out, char *msg, size_t n)
{
    dv_admission_result res = {0};
    int rc = dv_admission_mutate_ex(lister, ud, req, out, &res);
    copy_message(&res, msg, n);
    dv_admission_result_clear(&res);
    return rc;
}

int dv_admission_validate(dv_lister lister, void *ud, const dv_admission_request *req,
                          char *msg, size_t n)
{
    dv_admission_result res = {0};
    int rc = dv_admission_validate_ex(lister, ud, req, &res);
    copy_message(&res, msg, n);
    dv_admission_result_clear(&res);
    return rc;
}
