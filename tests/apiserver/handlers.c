/*
 * handlers.c - request entry point of the dev API server: fault injection,
 * authentication and impersonation, routing of /api and /apis paths to a
 * resource type and verb, RBAC authorization, then dispatch to the verb
 * handlers; plus the response helpers (metav1.Status bodies) they share.
 */
#include "handlers_int.h"
#include "patch.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "util/buf.h"
#include "util/log.h"

/* ---- helpers ------------------------------------------------------------------ */

const char *dv_q(const dv_ctx *c, const char *key)
{
    return c->req->query ? json_string_value(json_object_get(c->req->query, key)) : NULL;
}

void dv_reply_json(dv_ctx *c, int status, json_t *body)
{
    dv_response *r = c->resp;
    free(r->body);
    r->status = status;
    snprintf(r->content_type, sizeof(r->content_type), "application/json");
    r->body = json_dumps(body, JSON_COMPACT);
    r->body_len = r->body ? strlen(r->body) : 0;
    json_decref(body);
}

void dv_reply_text(dv_ctx *c, int status, char *body, size_t len)
{
    dv_response *r = c->resp;
    free(r->body);
    r->status = status;
    snprintf(r->content_type, sizeof(r->content_type), "application/json");
    r->body = body;
    r->body_len = len;
}

void dv_reply_status(dv_ctx *c, int code, const char *reason, const char *message, json_t *details)
{
    json_t *st = json_pack("{s:s,s:s,s:{},s:s,s:s,s:s,s:i}", "kind", "Status", "apiVersion", "v1",
                           "metadata", "status", "Failure", "message", message, "reason", reason,
                           "code", code);
    if (details)
        json_object_set_new(st, "details", details);
    dv_reply_json(c, code, st);
}

void dv_set_warning(dv_ctx *c, const char *text)
{
    char *w = c->resp->warning;
    size_t cap = sizeof(c->resp->warning), o;
    if (w[0])
        return; /* the first warning wins: one header is sent */
    o = (size_t)snprintf(w, cap, "299 - \"");
    for (const char *p = text; *p && o + 4 < cap; p++) {
        if (*p == '"' || *p == '\\')
            w[o++] = '\\';
        w[o++] = *p;
    }
    w[o++] = '"';
    w[o] = 0;
}

void dv_qualified(const dv_rtype *rt, char *buf, size_t n)
{
    if (*rt->group)
        snprintf(buf, n, "%s.%s", rt->plural, rt->group);
    else
        snprintf(buf, n, "%s", rt->plural);
}

void dv_reply_not_found(dv_ctx *c, const dv_rtype *rt, const char *name)
{
    char q[256], msg[600];
    dv_qualified(rt, q, sizeof(q));
    snprintf(msg, sizeof(msg), "%s \"%s\" not found", q, name);
    json_t *d = json_pack("{s:s,s:s}", "name", name, "kind", rt->plural);
    if (*rt->group)
        json_object_set_new(d, "group", json_string(rt->group));
    dv_reply_status(c, 404, "NotFound", msg, d);
}

void dv_reply_invalid(dv_ctx *c, const dv_rtype *rt, const char *name, json_t *causes)
{
    char msg[4096];
    int off;
    if (*rt->group)
        off = snprintf(msg, sizeof(msg), "%s.%s \"%s\" is invalid: ", rt->kind, rt->group, name);
    else
        off = snprintf(msg, sizeof(msg), "%s \"%s\" is invalid: ", rt->kind, name);
    size_t nc = json_array_size(causes);
    if (nc > 1 && off < (int)sizeof(msg))
        off += snprintf(msg + off, sizeof(msg) - (size_t)off, "[");
    for (size_t i = 0; i < nc && off < (int)sizeof(msg); i++) {
        json_t *cz = json_array_get(causes, i);
        const char *f = json_string_value(json_object_get(cz, "field"));
        const char *m = json_string_value(json_object_get(cz, "message"));
        off += snprintf(msg + off, sizeof(msg) - (size_t)off, "%s%s%s%s", i ? ", " : "", f ? f : "",
                        f ? ": " : "", m ? m : "");
    }
    if (nc > 1 && off < (int)sizeof(msg))
        snprintf(msg + off, sizeof(msg) - (size_t)off, "]");
    json_t *d = json_pack("{s:s,s:s,s:O}", "name", name, "kind", rt->kind, "causes", causes);
    if (*rt->group)
        json_object_set_new(d, "group", json_string(rt->group));
    json_decref(causes);
    dv_reply_status(c, 422, "Invalid", msg, d);
}

int dv_reply_json_patch_error(dv_ctx *c, const json_t *ops)
{
    char msg[512];
    const char *fv = dv_q(c, "fieldValidation");
    int rc = dv_json_patch_decode(ops, !fv || strcmp(fv, "Ignore"), msg, sizeof(msg));
    if (rc == 0)
        return 0;
    if (rc == -2) {
        char m[600];
        snprintf(m, sizeof(m), "Request entity too large: %s", msg);
        dv_reply_status(c, 413, "RequestEntityTooLarge", m, NULL);
    } else {
        dv_reply_status(c, 400, "BadRequest", msg, NULL);
    }
    return 1;
}

void dv_reply_json_patch_failed(dv_ctx *c)
{
    dv_reply_status(c, 422, "Invalid", "the server rejected our request due to an error in our request",
                    json_object());
}

void dv_now_rfc3339(char buf[32])
{
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

void dv_new_uid(char buf[40])
{
    unsigned char b[16];
    if (RAND_bytes(b, sizeof(b)) != 1)
        memset(b, 0x5a, sizeof(b));
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    snprintf(buf, 40, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
             b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
}

void dv_api_version(const dv_rtype *rt, char *buf, size_t n)
{
    if (*rt->group)
        snprintf(buf, n, "%s/%s", rt->group, rt->version);
    else
        snprintf(buf, n, "%s", rt->version);
}

void dv_field_manager(const dv_ctx *c, char *buf, size_t n)
{
    const char *fm = dv_q(c, "fieldManager");
    if (fm && *fm) {
        snprintf(buf, n, "%s", fm);
        return;
    }
    const char *ua = c->req->user_agent;
    if (!ua || !*ua)
        ua = "unknown";
    size_t len = strcspn(ua, "/");
    snprintf(buf, n, "%.*s", (int)len, ua);
}

json_t *dv_lister_fn(void *ud, const char *group, const char *resource, const char *ns)
{
    dv_api *api = ud;
    return dv_store_list(api->store, group ? group : "", resource, ns);
}

/* ---- lifecycle ------------------------------------------------------------------ */

static int read_or_make_key(const char *data_dir, unsigned char key[32])
{
    char path[4096];
    if (data_dir) {
        snprintf(path, sizeof(path), "%s/sa-signing.key", data_dir);
        FILE *f = fopen(path, "rb");
        if (f) {
            size_t got = fread(key, 1, 32, f);
            fclose(f);
            if (got == 32)
                return 0;
        }
    }
    if (RAND_bytes(key, 32) != 1)
        return -1;
    if (data_dir) {
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fd >= 0) {
            if (write(fd, key, 32) != 32)
                pb_log_warn("cannot persist signing key", "path", path, NULL);
            close(fd);
        }
    }
    return 0;
}

/* dv_auth reads tokens from one CSV file: when an admin token is wanted,
 * write a private copy of the user's file with the admin line appended. */
static int make_token_file(const dv_api_config *cfg, char *path, size_t pn, char *msg, size_t n)
{
    if (!cfg->admin_token)
        return 0;
    const char *tmp = getenv("TMPDIR");
    snprintf(path, pn, "%s/devapi-tokens-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    int fd = mkstemp(path);
    if (fd < 0) {
        snprintf(msg, n, "%s: %s", path, strerror(errno));
        path[0] = 0;
        return -1;
    }
    FILE *out = fdopen(fd, "w");
    if (cfg->token_file) {
        FILE *in = fopen(cfg->token_file, "r");
        if (!in) {
            snprintf(msg, n, "%s: %s", cfg->token_file, strerror(errno));
            fclose(out);
            unlink(path);
            path[0] = 0;
            return -1;
        }
        char buf[4096];
        size_t got;
        while ((got = fread(buf, 1, sizeof(buf), in)) > 0)
            fwrite(buf, 1, got, out);
        fclose(in);
        fputc('\n', out);
    }
    fprintf(out, "%s,admin,admin,\"system:masters\"\n", cfg->admin_token);
    fclose(out);
    return 0;
}

int dv_api_new(const dv_api_config *cfg, dv_api **out, char *msg, size_t n)
{
    dv_api *api = calloc(1, sizeof(*api));
    api->cfg = *cfg;
    api->rng = (unsigned int)time(NULL) ^ (unsigned int)getpid();
    if (dv_store_open(cfg->data_dir, cfg->watch_window ? cfg->watch_window : 1000, &api->store, msg, n) != 0)
        goto fail;
    dv_gc_init(api);
    api->reg = dv_registry_new();
    unsigned char key[32];
    if (read_or_make_key(cfg->data_dir, key) != 0) {
        snprintf(msg, n, "cannot generate a signing key");
        goto fail;
    }
    char tokpath[4096] = "";
    if (make_token_file(cfg, tokpath, sizeof(tokpath), msg, n) != 0)
        goto fail;
    int rc = dv_auth_new(tokpath[0] ? tokpath : cfg->token_file, key, sizeof(key), dv_lister_fn, api,
                         &api->auth, msg, n);
    if (tokpath[0])
        unlink(tokpath);
    if (rc != 0)
        goto fail;
    if (cfg->record_file && !(api->record = fopen(cfg->record_file, "a"))) {
        snprintf(msg, n, "--record %s: %s", cfg->record_file, strerror(errno));
        goto fail;
    }
    dv_load_crds(api);
    dv_seed(api);
    *out = api;
    return 0;
fail:
    dv_api_free(api);
    return -1;
}

void dv_api_free(dv_api *api)
{
    if (!api)
        return;
    dv_watches_free_all(api);
    dv_auth_free(api->auth);
    dv_registry_free(api->reg);
    dv_store_free(api->store);
    dv_gc_free(api);
    if (api->record)
        fclose(api->record);
    free(api);
}

void dv_response_clear(dv_response *resp)
{
    free(resp->body);
    resp->body = NULL;
    resp->body_len = 0;
    if (resp->watch)
        dv_watch_close(resp->watch);
    resp->watch = NULL;
}

int dv_api_unsynced(const dv_api *api) { return dv_store_unsynced(api->store); }

int dv_api_sync(dv_api *api) { return dv_store_sync(api->store); }

void dv_api_tick(dv_api *api)
{
    dv_watches_tick(api);
    dv_gc_run_if_pending(api);
    dv_store_trim(api->store);
}

/* ---- routing --------------------------------------------------------------------- */

#define MAX_SEGS 12

static int split_path(char *p, char **segs)
{
    int n = 0;
    for (char *tok = strtok(p, "/"); tok && n < MAX_SEGS; tok = strtok(NULL, "/"))
        segs[n++] = tok;
    return strtok(NULL, "/") ? -1 : n;
}

static const char *verb_for(const dv_ctx *c)
{
    const char *m = c->req->method;
    if (!strcmp(m, "GET") || !strcmp(m, "HEAD")) {
        const char *w = dv_q(c, "watch");
        if (!c->name && w && (!strcmp(w, "true") || !strcmp(w, "1")))
            return "watch";
        return c->name ? "get" : "list";
    }
    if (!strcmp(m, "POST"))
        return c->name ? NULL : "create";
    if (!strcmp(m, "PUT"))
        return c->name ? "update" : NULL;
    if (!strcmp(m, "PATCH"))
        return c->name ? "patch" : NULL;
    if (!strcmp(m, "DELETE"))
        return c->name ? "delete" : "deletecollection";
    return NULL;
}

static void reply_no_resource(dv_ctx *c)
{
    dv_reply_status(c, 404, "NotFound", "the server could not find the requested resource",
                    json_pack("{}"));
}

static int verb_allowed(const dv_rtype *rt, const char *verb)
{
    size_t i;
    json_t *v;
    json_array_foreach(rt->verbs, i, v)
        if (!strcmp(json_string_value(v), verb))
            return 1;
    return 0;
}

static int rand_percent(dv_api *api)
{
    return (int)(rand_r(&api->rng) % 10000);
}

/* The subresources served, and which verbs they take. */
static int subresource_allowed(const dv_rtype *rt, const char *sub, const char *verb)
{
    int rw = !strcmp(verb, "get") || !strcmp(verb, "update") || !strcmp(verb, "patch");
    if (!strcmp(sub, "status"))
        return rt->has_status && rw;
    if (!strcmp(sub, "scale"))
        return !strcmp(rt->group, "apps") && rw;
    if (!strcmp(sub, "finalize"))
        return !*rt->group && !strcmp(rt->plural, "namespaces") && !strcmp(verb, "update");
    if (!strcmp(sub, "token"))
        return !*rt->group && !strcmp(rt->plural, "serviceaccounts") && !strcmp(verb, "create");
    return 0;
}

/* dryRun takes only "All": anything else is refused before the write, in
 * the words of the options' validation (CreateOptions, ...). 0 when refused. */
static int dry_run_ok(dv_ctx *c)
{
    const char *dr = dv_q(c, "dryRun");
    if (!dr || !strcmp(dr, "All"))
        return 1;
    const char *v = c->verb, *kind;
    if (!strcmp(v, "create"))
        kind = "CreateOptions";
    else if (!strcmp(v, "update"))
        kind = "UpdateOptions";
    else if (!strcmp(v, "patch"))
        kind = "PatchOptions";
    else if (!strcmp(v, "delete") || !strcmp(v, "deletecollection"))
        kind = "DeleteOptions";
    else
        return 1;
    char why[300], m[512];
    snprintf(why, sizeof(why), "Unsupported value: [\"%.200s\"]: supported values: \"All\"", dr);
    snprintf(m, sizeof(m), "%s.meta.k8s.io \"\" is invalid: dryRun: %s", kind, why);
    dv_reply_status(c, 422, "Invalid", m,
                    json_pack("{s:s,s:s,s:[{s:s,s:s,s:s}]}", "group", "meta.k8s.io", "kind", kind, "causes", "reason",
                              "FieldValueNotSupported", "message", why, "field", "dryRun"));
    return 0;
}

static void serve_resource(dv_ctx *c, const char *grp, const char *ver, char **seg, int nseg)
{
    /* seg: the path after /api/v1 or /apis/G/V. */
    int i = 0;
    if (nseg < 1) {
        reply_no_resource(c);
        return;
    }
    if (!strcmp(seg[0], "namespaces") && nseg >= 3) {
        const dv_rtype *nsrt = dv_registry_find(c->api->reg, grp, ver, seg[2]);
        if (nsrt && nsrt->namespaced) {
            c->ns = seg[1];
            i = 2;
        }
    }
    c->rt = dv_registry_find(c->api->reg, grp, ver, seg[i]);
    if (!c->rt || nseg - i > 3) {
        reply_no_resource(c);
        return;
    }
    if (nseg - i >= 2)
        c->name = seg[i + 1];
    if (nseg - i == 3)
        c->sub = seg[i + 2];
    if (c->rt->namespaced && c->name && !c->ns) {
        reply_no_resource(c);
        return;
    }
    c->verb = verb_for(c);
    int token_request = c->sub && !strcmp(c->sub, "token");
    if (token_request && !strcmp(c->req->method, "POST"))
        c->verb = "create"; /* POST .../serviceaccounts/NAME/token */
    if (c->sub && !subresource_allowed(c->rt, c->sub, c->verb ? c->verb : "")) {
        if (c->verb && subresource_allowed(c->rt, c->sub, "get"))
            dv_reply_status(c, 405, "MethodNotAllowed",
                            "the server does not allow this method on the requested resource", json_pack("{}"));
        else
            reply_no_resource(c);
        return;
    }
    if (!c->verb || (!c->sub && !verb_allowed(c->rt, c->verb))) {
        dv_reply_status(c, 405, "MethodNotAllowed", "the server does not allow this method on the requested resource",
                        json_pack("{}"));
        return;
    }
    if (c->rt->namespaced && !c->ns && !strcmp(c->verb, "create")) {
        reply_no_resource(c);
        return;
    }
    dv_attributes at = {c->verb, c->rt->group, c->rt->plural, c->sub, c->name, c->ns, NULL};
    char msg[1024] = "";
    if (!dv_authorize(c->api->auth, &c->user, &at, msg, sizeof(msg))) {
        json_t *d = json_pack("{s:s}", "kind", c->rt->plural);
        if (c->name)
            json_object_set_new(d, "name", json_string(c->name));
        if (*c->rt->group)
            json_object_set_new(d, "group", json_string(c->rt->group));
        dv_reply_status(c, 403, "Forbidden", msg, d);
        return;
    }
    const char *v = c->verb;
    if (!dry_run_ok(c))
        return;
    if (c->sub && !strcmp(c->sub, "scale"))
        dv_handle_scale(c);
    else if (!strcmp(v, "get"))
        dv_handle_get(c);
    else if (!strcmp(v, "list"))
        dv_handle_list(c);
    else if (!strcmp(v, "watch"))
        dv_handle_watch(c);
    else if (!strcmp(v, "create") && token_request)
        dv_handle_token_request(c);
    else if (!strcmp(v, "create"))
        dv_handle_create(c);
    else if (!strcmp(v, "update"))
        dv_handle_update(c);
    else if (!strcmp(v, "patch"))
        dv_handle_patch(c);
    else if (!strcmp(v, "delete"))
        dv_handle_delete(c);
    else
        dv_handle_deletecollection(c);
    if (strcmp(v, "get") && strcmp(v, "list") && strcmp(v, "watch"))
        dv_gc_run_if_pending(c->api);
}

/* ---- --record: write requests as JSON lines ------------------------------------------ */

/* Append s percent-encoded (RFC 3986 unreserved characters kept) to b. */
static void url_encode(pb_buf *b, const char *s)
{
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (isalnum(ch) || strchr("-._~", ch))
            pb_buf_append(b, s, 1);
        else
            pb_buf_printf(b, "%%%02X", ch);
    }
}

/* One line per write (bench/devapi_bench.c --replay reads them back), after
 * it was served, so "code" is the answer it got and "uid" the uid of the
 * object it created (201). The path gets its query
 * string back (re-encoded from the parsed parameters: lws hands them over
 * decoded). A body that is not UTF-8 (protobuf) cannot be a JSON string and
 * goes in "bodyBase64" instead. The line is built first and written with one
 * fwrite, which stdio locks, then flushed: whole lines, in order, even if
 * this ever runs on more than the one event-loop thread it runs on now. */
static void record_write(dv_ctx *c)
{
    const dv_request *r = c->req;
    dv_api *api = c->api;
    if (!api->record || !strcmp(r->method, "GET") || !strcmp(r->method, "HEAD") || !strcmp(r->method, "OPTIONS"))
        return;
    pb_buf path = {0};
    pb_buf_puts(&path, r->path);
    const char *k;
    json_t *v;
    char sep = '?';
    json_object_foreach((json_t *)r->query, k, v) {
        pb_buf_append(&path, &sep, 1);
        url_encode(&path, k);
        pb_buf_puts(&path, "=");
        url_encode(&path, json_string_value(v) ? json_string_value(v) : "");
        sep = '&';
    }
    json_t *line = json_pack("{s:s, s:s, s:s?, s:s, s:s?, s:i}", "method", r->method, "path", pb_buf_str(&path),
                             "contentType", r->content_type, "user", c->user.name ? c->user.name : "", "userAgent",
                             r->user_agent, "code", c->resp->status);
    /* The uid of an object the write created, so a replay can map it to
     * the one the replayed write gets (bodies that follow quote it). */
    if (c->resp->status == 201 && c->resp->body_len && strstr(c->resp->content_type, "json")) {
        json_t *obj = json_loadb(c->resp->body, c->resp->body_len, 0, NULL);
        const char *uid = json_string_value(json_object_get(json_object_get(obj, "metadata"), "uid"));
        if (uid)
            json_object_set_new(line, "uid", json_string(uid));
        json_decref(obj);
    }
    json_t *body = r->body_len ? json_stringn(r->body, r->body_len) : json_string("");
    if (body) {
        json_object_set_new(line, "body", body);
    } else {
        char *b64 = malloc(4 * ((r->body_len + 2) / 3) + 1);
        EVP_EncodeBlock((unsigned char *)b64, (const unsigned char *)r->body, (int)r->body_len);
        json_object_set_new(line, "bodyBase64", json_string(b64));
        free(b64);
    }
    char *text = json_dumps(line, JSON_COMPACT);
    size_t n = text ? strlen(text) : 0;
    if (text)
        text[n++] = '\n'; /* over the terminating NUL: fwrite takes a length */
    if ((!text || fwrite(text, 1, n, api->record) != n || fflush(api->record) != 0) && !api->record_failed) {
        api->record_failed = 1;
        pb_log_warn("--record: writing a request failed; the recording is incomplete", "error", strerror(errno),
                    NULL);
    }
    free(text);
    json_decref(line);
    pb_buf_free(&path);
}

void dv_api_handle(dv_api *api, const dv_request *req, dv_response *resp)
{
    memset(resp, 0, sizeof(*resp));
    dv_ctx c = {.api = api, .req = req, .resp = resp};
    const char *path = req->path;
    if (!strcmp(path, "/healthz") || !strcmp(path, "/readyz") || !strcmp(path, "/livez")) {
        resp->status = 200;
        snprintf(resp->content_type, sizeof(resp->content_type), "text/plain; charset=utf-8");
        resp->body = strdup("ok");
        resp->body_len = 2;
        return;
    }
    if (!req->authorization && api->cfg.insecure_admin) {
        static const char *const masters[] = {"system:masters", "system:authenticated", NULL};
        dv_user_set(&c.user, "admin", "admin", masters);
    } else if (dv_authenticate(api->auth, req->authorization, &c.user) != 0) {
        dv_reply_status(&c, 401, "Unauthorized", "Unauthorized", NULL);
        record_write(&c);
        return;
    }
    if (req->impersonate_user || (req->impersonate_groups && req->impersonate_groups[0]) || req->impersonate_uid) {
        char msg[1024] = "";
        int rc = dv_impersonate(api->auth, &c.user, req->impersonate_user, req->impersonate_groups,
                                req->impersonate_uid, msg, sizeof(msg));
        if (rc == -2) {
            dv_reply_status(&c, 400, "BadRequest", msg, NULL);
            goto out;
        }
        if (rc != 0) {
            dv_reply_status(&c, 403, "Forbidden", msg, json_pack("{s:s}", "kind", "users"));
            goto out;
        }
    }
    if (api->cfg.fault_error_rate > 0 && rand_percent(api) < (int)(api->cfg.fault_error_rate * 10000)) {
        if (api->cfg.fault_error_code == 429) {
            resp->retry_after = 1;
            dv_reply_status(&c, 429, "TooManyRequests", "Too many requests, please try again later.",
                            json_pack("{s:i}", "retryAfterSeconds", 1));
        } else {
            dv_reply_status(&c, 500, "InternalError", "Internal error occurred: injected fault", NULL);
        }
        goto out;
    }
    if (!strncmp(path, "/api", 4) || !strncmp(path, "/openapi", 8) || !strcmp(path, "/version")) {
        /* Non-resource paths (discovery, OpenAPI, version) go through RBAC
         * like any request: the bootstrap policy opens them to
         * system:authenticated. Resource paths are authorized later. */
        int resource_path = (!strncmp(path, "/api/v1/", 8) && path[8]) ||
                            (!strncmp(path, "/apis/", 6) && strchr(path + 6, '/') &&
                             strchr(strchr(path + 6, '/') + 1, '/') && strchr(strchr(path + 6, '/') + 1, '/')[1]);
        if (!resource_path) {
            dv_attributes at = {"get", NULL, NULL, NULL, NULL, NULL, path};
            char msg[1024] = "";
            if (!dv_authorize(api->auth, &c.user, &at, msg, sizeof(msg))) {
                dv_reply_status(&c, 403, "Forbidden", msg, json_pack("{}"));
                goto out;
            }
        }
    }
    if (dv_handle_discovery(&c))
        goto out;
    size_t plen = strlen(path);
    char *copy = malloc(plen + 1);
    memcpy(copy, path, plen + 1);
    char *seg[MAX_SEGS];
    int nseg = split_path(copy, seg);
    if (nseg >= 2 && !strcmp(seg[0], "api") && !strcmp(seg[1], "v1")) {
        serve_resource(&c, "", "v1", seg + 2, nseg - 2);
    } else if (nseg >= 3 && !strcmp(seg[0], "apis")) {
        serve_resource(&c, seg[1], seg[2], seg + 3, nseg - 3);
    } else {
        reply_no_resource(&c);
    }
    free(copy);
out:
    record_write(&c);
    if (resp->status >= 400 || pb_log_enabled(PB_LOG_DEBUG)) {
        char code[8];
        snprintf(code, sizeof(code), "%d", resp->status);
        pb_log(resp->status >= 500 ? PB_LOG_WARN : PB_LOG_DEBUG, "request", "method", req->method,
               "path", req->path, "user", c.user.name, "code", code, NULL);
    }
    dv_user_clear(&c.user);
    dv_store_trim(api->store); /* between requests: what it borrowed is no longer used */
}
