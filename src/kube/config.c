/*
 * config.c - kubeconfig and in-cluster configuration, and request
 * credentials (see config.h).
 *
 * Loading is done in three steps:
 *   1. each kubeconfig file is parsed (util/yaml) into a jansson tree;
 *   2. the files are merged the way kubectl merges them: for clusters, users
 *      and contexts the first file to define a name wins, and so does the
 *      first current-context; each entry remembers the file it came from so
 *      relative paths resolve against that file and errors can name it;
 *   3. the chosen context is resolved into flat fields, reading every
 *      referenced file (CA, client cert/key) right away so a bad path fails
 *      at startup with one line naming the file and the field.
 *
 * The kube_auth half holds what changes while the operator runs: a token
 * file that kubelet rotates, and exec-plugin credentials that expire.
 */
#include "kube/config.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <openssl/evp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "util/log.h"
#include "util/yaml.h"

extern char **environ;

#define MAX_CONFIG_FILE (16u << 20)  /* a kubeconfig or PEM file larger is a mistake */
#define MAX_EXEC_OUTPUT (1u << 20)
#define EXEC_TIMEOUT_MS 30000
#define TOKEN_FILE_RECHECK_S 60
#define EXEC_EXPIRY_SKEW_S 5         /* refresh a little early: clocks drift */
#define DEFAULT_SA_DIR "/var/run/secrets/kubernetes.io/serviceaccount"

struct kube_config {
    char *source;
    char *context;
    char *server;
    char *ns;
    char *tls_server_name;
    int insecure;
    char *ca_pem;
    size_t ca_len;
    /* credentials */
    char *token;
    char *token_file;
    char *username, *password;
    char *cert_pem, *key_pem;
    size_t cert_len, key_len;
    json_t *exec; /* {command, args[], env{}, apiVersion, installHint} or NULL */
};

/* ---------------------------------------------------------------- helpers */

static char *xstrdup(const char *s)
{
    return s ? strdup(s) : NULL;
}

/* Read a whole file; *out is malloc'd and NUL-terminated. On failure fills
 * err with "<path>: <strerror>" (callers add the field). */
static int read_file(const char *path, char **out, size_t *len, pb_err *err)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return pb_err_set(err, errno == ENOENT ? PB_ENOTFOUND : PB_EIO, "%s: %s", path,
                          strerror(errno));
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        if (cap - n < 2) {
            if (cap >= MAX_CONFIG_FILE) {
                free(buf);
                fclose(f);
                return pb_err_set(err, PB_ETOOLARGE, "%s: larger than %u bytes", path,
                                  MAX_CONFIG_FILE);
            }
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
        size_t r = fread(buf + n, 1, cap - n - 1, f);
        n += r;
        if (r == 0)
            break;
    }
    int failed = ferror(f);
    fclose(f);
    if (!buf)
        return pb_err_set(err, PB_ENOMEM, "%s: out of memory", path);
    if (failed) {
        free(buf);
        return pb_err_set(err, PB_EIO, "%s: read error", path);
    }
    buf[n] = '\0';
    *out = buf;
    if (len)
        *len = n;
    return 0;
}

/* Strip surrounding whitespace in place (token files often end in '\n'). */
static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
        s++;
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\n' || s[n - 1] == '\r'))
        s[--n] = '\0';
    return s;
}

/* Standard base64 (whitespace ignored) into a malloc'd, NUL-terminated
 * buffer. -1 on invalid input. */
static int b64_decode(const char *in, char **out, size_t *out_len)
{
    size_t n = strlen(in), m = 0;
    char *clean = malloc(n + 1);
    if (!clean)
        return -1;
    for (size_t i = 0; i < n; i++)
        if (in[i] != ' ' && in[i] != '\n' && in[i] != '\r' && in[i] != '\t')
            clean[m++] = in[i];
    clean[m] = '\0';
    if (m % 4 != 0) {
        free(clean);
        return -1;
    }
    char *buf = malloc(m / 4 * 3 + 1);
    int r = buf ? EVP_DecodeBlock((unsigned char *)buf, (unsigned char *)clean, (int)m) : -1;
    if (r < 0) {
        free(clean);
        free(buf);
        return -1;
    }
    /* EVP_DecodeBlock counts the bytes that padding stands for. */
    if (m >= 1 && clean[m - 1] == '=')
        r--;
    if (m >= 2 && clean[m - 2] == '=')
        r--;
    free(clean);
    buf[r] = '\0';
    *out = buf;
    *out_len = (size_t)r;
    return 0;
}

/* Resolve `p` against the directory of `file` unless absolute. */
static char *resolve_path(const char *file, const char *p)
{
    if (!p || p[0] == '/' || !file)
        return xstrdup(p);
    const char *slash = strrchr(file, '/');
    if (!slash)
        return xstrdup(p);
    size_t dlen = (size_t)(slash - file);
    size_t n = dlen + 1 + strlen(p) + 1;
    char *r = malloc(n);
    if (r)
        snprintf(r, n, "%.*s/%s", (int)dlen, file, p);
    return r;
}

/* RFC 3339 ("2026-11-25T10:00:00Z", fractions and offsets allowed) to
 * epoch seconds; -1 when malformed. */
static long long parse_rfc3339(const char *s)
{
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    int used = 0;
    if (sscanf(s, "%4d-%2d-%2d%*1[Tt ]%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
               &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &used) != 6 || used == 0)
        return -1;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    const char *p = s + used;
    if (*p == '.')
        for (p++; *p >= '0' && *p <= '9'; p++) {
        }
    long long off = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int hh, mm;
        if (sscanf(p + 1, "%2d:%2d", &hh, &mm) != 2)
            return -1;
        off = (hh * 3600LL + mm * 60LL) * (*p == '-' ? -1 : 1);
        p += 6;
    } else {
        return -1;
    }
    if (*p)
        return -1;
    return (long long)timegm(&tm) - off;
}

/* ------------------------------------------------------------------ parse */

/* Parse one kubeconfig file's text. An empty file is an empty config, as
 * kubectl treats it. */
static int parse_yaml(const char *path, const char *buf, size_t len, json_t **out, pb_err *err)
{
    json_t *j = NULL;
    int rc = pb_yaml_parse_one(buf, len, &j, err);
    if (rc == PB_ENOTFOUND) {
        j = json_object();
        rc = 0;
    }
    if (rc)
        return pb_err_wrap(err, "kubeconfig %s", path);
    if (!json_is_object(j)) {
        json_decref(j);
        return pb_err_set(err, PB_EPARSE, "kubeconfig %s: top level is not a mapping", path);
    }
    *out = j;
    return 0;
}

/* ------------------------------------------------------------------ merge */

/* Merged view: {"clusters":{name:{"file":F,"v":{...}}}, "users":..., "contexts":...,
 * "current-context":{"file":F,"v":"name"}}. */
static const char *const SECTIONS[3][2] = {
    {"clusters", "cluster"}, {"users", "user"}, {"contexts", "context"}};

static int merge_file(json_t *merged, const char *path, json_t *doc, pb_err *err)
{
    for (int s = 0; s < 3; s++) {
        const char *sec = SECTIONS[s][0], *inner = SECTIONS[s][1];
        json_t *arr = json_object_get(doc, sec);
        if (!arr || json_is_null(arr))
            continue;
        if (!json_is_array(arr))
            return pb_err_set(err, PB_EINVAL, "kubeconfig %s: %s: expected a list", path, sec);
        size_t i;
        json_t *ent;
        json_array_foreach(arr, i, ent) {
            const char *name = json_string_value(json_object_get(ent, "name"));
            if (!json_is_object(ent) || !name || !*name)
                return pb_err_set(err, PB_EINVAL, "kubeconfig %s: %s[%zu].name: missing", path, sec, i);
            json_t *body = json_object_get(ent, inner);
            if (body && json_is_null(body))
                body = NULL;
            if (body && !json_is_object(body))
                return pb_err_set(err, PB_EINVAL, "kubeconfig %s: %s[%zu].%s: expected a mapping",
                                  path, sec, i, inner);
            json_t *map = json_object_get(merged, sec);
            if (json_object_get(map, name))
                continue; /* an earlier file wins */
            json_object_set_new(map, name,
                                json_pack("{s:s, s:O}", "file", path, "v",
                                          body ? body : json_object_get(merged, "_empty")));
        }
    }
    const char *cur = json_string_value(json_object_get(doc, "current-context"));
    if (cur && *cur && !json_object_get(merged, "current-context"))
        json_object_set_new(merged, "current-context", json_pack("{s:s, s:s}", "file", path, "v", cur));
    return 0;
}

/* ---------------------------------------------------------------- resolve */

/* Optional string field of an entry; PB_EINVAL when of another type. */
static int opt_str(json_t *body, const char *key, const char **out, const char *where, pb_err *err)
{
    json_t *v = json_object_get(body, key);
    *out = NULL;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_string(v))
        return pb_err_set(err, PB_EINVAL, "%s.%s: expected a string", where, key);
    *out = json_string_value(v);
    if (!**out)
        *out = NULL;
    return 0;
}

/* Fill (pem, len) from key-data (base64) or key (a path). */
static int load_pem(json_t *body, const char *file, const char *key, const char *where,
                    char **pem, size_t *len, pb_err *err)
{
    char dkey[64];
    snprintf(dkey, sizeof dkey, "%s-data", key);
    const char *data, *path;
    int rc;
    if ((rc = opt_str(body, dkey, &data, where, err)) || (rc = opt_str(body, key, &path, where, err)))
        return rc;
    if (data) {
        if (b64_decode(data, pem, len) != 0)
            return pb_err_set(err, PB_EINVAL, "%s.%s: invalid base64", where, dkey);
        return 0;
    }
    if (path) {
        char *full = resolve_path(file, path);
        if (!full)
            return pb_err_set(err, PB_ENOMEM, "out of memory");
        rc = read_file(full, pem, len, err);
        free(full);
        if (rc)
            return pb_err_wrap(err, "%s.%s", where, key);
    }
    return 0;
}

static int resolve_cluster(kube_config *cfg, json_t *ent, const char *name, pb_err *err)
{
    const char *file = json_string_value(json_object_get(ent, "file"));
    json_t *b = json_object_get(ent, "v");
    char where[512];
    snprintf(where, sizeof where, "kubeconfig %s: clusters[\"%s\"].cluster", file, name);
    const char *server, *sni;
    int rc;
    if ((rc = opt_str(b, "server", &server, where, err)) ||
        (rc = opt_str(b, "tls-server-name", &sni, where, err)))
        return rc;
    if (!server)
        return pb_err_set(err, PB_EINVAL, "%s.server: missing", where);
    if (strncmp(server, "https://", 8) != 0 && strncmp(server, "http://", 7) != 0)
        return pb_err_set(err, PB_EINVAL, "%s.server: \"%s\" is not an http(s) URL", where, server);
    json_t *ins = json_object_get(b, "insecure-skip-tls-verify");
    if (ins && !json_is_null(ins) && !json_is_boolean(ins))
        return pb_err_set(err, PB_EINVAL, "%s.insecure-skip-tls-verify: expected true or false", where);
    cfg->insecure = json_is_true(ins);
    cfg->server = strdup(server);
    /* Trailing slashes would double up with our paths. */
    for (size_t n = strlen(cfg->server); n > 0 && cfg->server[n - 1] == '/'; n--)
        cfg->server[n - 1] = '\0';
    cfg->tls_server_name = xstrdup(sni);
    return load_pem(b, file, "certificate-authority", where, &cfg->ca_pem, &cfg->ca_len, err);
}

static int resolve_exec(kube_config *cfg, json_t *x, const char *file, const char *where, pb_err *err)
{
    char w[600];
    snprintf(w, sizeof w, "%s.exec", where);
    if (!json_is_object(x))
        return pb_err_set(err, PB_EINVAL, "%s: expected a mapping", w);
    const char *cmd, *api, *hint;
    int rc;
    if ((rc = opt_str(x, "command", &cmd, w, err)) || (rc = opt_str(x, "apiVersion", &api, w, err)) ||
        (rc = opt_str(x, "installHint", &hint, w, err)))
        return rc;
    if (!cmd)
        return pb_err_set(err, PB_EINVAL, "%s.command: missing", w);
    if (api && strcmp(api, "client.authentication.k8s.io/v1") != 0 &&
        strcmp(api, "client.authentication.k8s.io/v1beta1") != 0)
        return pb_err_set(err, PB_EINVAL,
                          "%s.apiVersion: \"%s\" not supported (use client.authentication.k8s.io/v1)", w, api);
    json_t *args = json_array(), *env = json_object();
    json_t *a = json_object_get(x, "args");
    size_t i;
    json_t *v;
    if (a && !json_is_null(a)) {
        if (!json_is_array(a))
            rc = pb_err_set(err, PB_EINVAL, "%s.args: expected a list", w);
        json_array_foreach(a, i, v) {
            if (rc)
                break;
            if (!json_is_string(v))
                rc = pb_err_set(err, PB_EINVAL, "%s.args[%zu]: expected a string", w, i);
            else
                json_array_append(args, v);
        }
    }
    json_t *e = json_object_get(x, "env");
    if (!rc && e && !json_is_null(e)) {
        if (!json_is_array(e))
            rc = pb_err_set(err, PB_EINVAL, "%s.env: expected a list", w);
        json_array_foreach(e, i, v) {
            if (rc)
                break;
            const char *n = json_string_value(json_object_get(v, "name"));
            json_t *val = json_object_get(v, "value");
            if (!n || !*n || strchr(n, '=') || (val && !json_is_string(val) && !json_is_null(val)))
                rc = pb_err_set(err, PB_EINVAL, "%s.env[%zu]: expected {name, value} strings", w, i);
            else
                json_object_set_new(env, n, json_string(json_is_string(val) ? json_string_value(val) : ""));
        }
    }
    if (rc) {
        json_decref(args);
        json_decref(env);
        return rc;
    }
    /* Like kubectl: a command with a '/' in it is relative to its kubeconfig;
     * a bare name is looked up in PATH. */
    char *full = strchr(cmd, '/') ? resolve_path(file, cmd) : strdup(cmd);
    cfg->exec = json_pack("{s:s, s:o, s:o, s:s, s:s}", "command", full ? full : cmd, "args", args,
                          "env", env, "apiVersion", api ? api : "client.authentication.k8s.io/v1",
                          "installHint", hint ? hint : "");
    free(full);
    return cfg->exec ? 0 : pb_err_set(err, PB_ENOMEM, "out of memory");
}

static int resolve_user(kube_config *cfg, json_t *ent, const char *name, pb_err *err)
{
    const char *file = json_string_value(json_object_get(ent, "file"));
    json_t *b = json_object_get(ent, "v");
    char where[512];
    snprintf(where, sizeof where, "kubeconfig %s: users[\"%s\"].user", file, name);
    const char *token, *token_file, *user, *pass;
    int rc;
    if ((rc = opt_str(b, "token", &token, where, err)) ||
        (rc = opt_str(b, "tokenFile", &token_file, where, err)) ||
        (rc = opt_str(b, "username", &user, where, err)) ||
        (rc = opt_str(b, "password", &pass, where, err)))
        return rc;
    if (json_object_get(b, "auth-provider"))
        return pb_err_set(err, PB_EINVAL, "%s.auth-provider: not supported (use an exec plugin)", where);
    cfg->token = xstrdup(token);
    cfg->username = xstrdup(user);
    cfg->password = xstrdup(pass);
    if (token_file) {
        cfg->token_file = resolve_path(file, token_file);
        char *buf = NULL;
        if ((rc = read_file(cfg->token_file, &buf, NULL, err)))
            return pb_err_wrap(err, "%s.tokenFile", where);
        free(buf);
    }
    if ((rc = load_pem(b, file, "client-certificate", where, &cfg->cert_pem, &cfg->cert_len, err)) ||
        (rc = load_pem(b, file, "client-key", where, &cfg->key_pem, &cfg->key_len, err)))
        return rc;
    if (!cfg->cert_pem != !cfg->key_pem)
        return pb_err_set(err, PB_EINVAL, "%s.%s: missing (client-certificate and client-key go together)",
                          where, cfg->cert_pem ? "client-key" : "client-certificate");
    json_t *x = json_object_get(b, "exec");
    if (x && !json_is_null(x))
        return resolve_exec(cfg, x, file, where, err);
    return 0;
}

static int resolve_context(kube_config *cfg, json_t *merged, const char *want, pb_err *err)
{
    json_t *cur = json_object_get(merged, "current-context");
    const char *first = json_string_value(json_object_get(merged, "_first"));
    const char *name = want && *want ? want : json_string_value(json_object_get(cur, "v"));
    const char *cfile = cur ? json_string_value(json_object_get(cur, "file")) : first;
    if (!name)
        return pb_err_set(err, PB_EINVAL, "kubeconfig %s: current-context: not set and no context given",
                          first);
    json_t *ctx = json_object_get(json_object_get(merged, "contexts"), name);
    int explicit = want && *want;
    if (!ctx)
        return pb_err_set(err, PB_ENOTFOUND, "kubeconfig %s: %s: context \"%s\" not found",
                          explicit ? first : cfile, explicit ? "--context" : "current-context", name);
    const char *file = json_string_value(json_object_get(ctx, "file"));
    json_t *b = json_object_get(ctx, "v");
    char where[512];
    snprintf(where, sizeof where, "kubeconfig %s: contexts[\"%s\"].context", file, name);
    const char *cluster, *user, *ns;
    int rc;
    if ((rc = opt_str(b, "cluster", &cluster, where, err)) || (rc = opt_str(b, "user", &user, where, err)) ||
        (rc = opt_str(b, "namespace", &ns, where, err)))
        return rc;
    if (!cluster)
        return pb_err_set(err, PB_EINVAL, "%s.cluster: missing", where);
    json_t *cl = json_object_get(json_object_get(merged, "clusters"), cluster);
    if (!cl)
        return pb_err_set(err, PB_ENOTFOUND, "%s.cluster: cluster \"%s\" not found", where, cluster);
    cfg->context = strdup(name);
    cfg->ns = strdup(ns ? ns : "default");
    cfg->source = strdup(file);
    if ((rc = resolve_cluster(cfg, cl, cluster, err)))
        return rc;
    if (user) {
        json_t *u = json_object_get(json_object_get(merged, "users"), user);
        if (!u)
            return pb_err_set(err, PB_ENOTFOUND, "%s.user: user \"%s\" not found", where, user);
        return resolve_user(cfg, u, user, err);
    }
    return 0;
}

/* Load and merge `paths` (NULL-terminated); missing files are skipped only
 * when `skip_missing` (the KUBECONFIG list), as kubectl does. */
static int load_kubeconfig(char **paths, int skip_missing, const char *context, kube_config *cfg,
                           pb_err *err)
{
    json_t *merged = json_pack("{s:{}, s:{}, s:{}, s:{}}", "clusters", "users", "contexts", "_empty");
    int rc = 0, loaded = 0;
    for (int i = 0; paths[i] && rc == 0; i++) {
        char *buf = NULL;
        size_t len = 0;
        rc = read_file(paths[i], &buf, &len, err);
        if (rc == PB_ENOTFOUND && skip_missing) {
            rc = 0;
            continue;
        }
        if (rc) {
            pb_err_wrap(err, "kubeconfig");
            break;
        }
        json_t *doc = NULL;
        rc = parse_yaml(paths[i], buf, len, &doc, err);
        free(buf);
        if (rc == 0) {
            if (!loaded++)
                json_object_set_new(merged, "_first", json_string(paths[i]));
            rc = merge_file(merged, paths[i], doc, err);
            json_decref(doc);
        }
    }
    if (rc == 0 && !loaded)
        rc = pb_err_set(err, PB_ENOTFOUND, "kubeconfig: none of the files in KUBECONFIG exist");
    if (rc == 0)
        rc = resolve_context(cfg, merged, context, err);
    json_decref(merged);
    return rc;
}

static int load_in_cluster(kube_config *cfg, pb_err *err)
{
    const char *host = getenv("KUBERNETES_SERVICE_HOST");
    const char *port = getenv("KUBERNETES_SERVICE_PORT");
    const char *dir = getenv("PAYBILL_SA_DIR");
    if (!dir || !*dir)
        dir = DEFAULT_SA_DIR;
    if (!host || !*host || !port || !*port)
        return pb_err_set(err, PB_EINVAL, "in-cluster config: KUBERNETES_SERVICE_HOST and "
                                          "KUBERNETES_SERVICE_PORT must be set");
    char buf[4096];
    /* An IPv6 service address needs brackets in a URL. */
    snprintf(buf, sizeof buf, strchr(host, ':') ? "https://[%s]:%s" : "https://%s:%s", host, port);
    cfg->server = strdup(buf);
    cfg->source = strdup("in-cluster");
    cfg->context = strdup("");
    snprintf(buf, sizeof buf, "%s/token", dir);
    cfg->token_file = strdup(buf);
    char *tok = NULL;
    int rc = read_file(buf, &tok, NULL, err);
    if (rc)
        return pb_err_wrap(err, "in-cluster config: service account token");
    free(tok);
    snprintf(buf, sizeof buf, "%s/ca.crt", dir);
    if ((rc = read_file(buf, &cfg->ca_pem, &cfg->ca_len, err)))
        return pb_err_wrap(err, "in-cluster config: service account CA");
    snprintf(buf, sizeof buf, "%s/namespace", dir);
    char *ns = NULL;
    if (read_file(buf, &ns, NULL, NULL) == 0 && *trim(ns))
        cfg->ns = strdup(trim(ns));
    else
        cfg->ns = strdup("default");
    free(ns);
    return 0;
}

/* Split "a:b::c" into a NULL-terminated array of non-empty paths. */
static char **split_paths(const char *list)
{
    size_t n = 2;
    for (const char *p = list; *p; p++)
        n += *p == ':';
    char **v = calloc(n, sizeof *v);
    char *copy = strdup(list);
    if (!v || !copy) {
        free(v);
        free(copy);
        return NULL;
    }
    size_t k = 0;
    char *save = NULL;
    for (char *t = strtok_r(copy, ":", &save); t; t = strtok_r(NULL, ":", &save))
        v[k++] = strdup(t);
    free(copy);
    return v;
}

static void free_paths(char **v)
{
    for (size_t i = 0; v && v[i]; i++)
        free(v[i]);
    free(v);
}

int kube_config_load(const kube_config_options *o, kube_config **out, pb_err *err)
{
    kube_config_options none = {0};
    if (!o)
        o = &none;
    *out = NULL;
    kube_config *cfg = calloc(1, sizeof *cfg);
    if (!cfg)
        return pb_err_set(err, PB_ENOMEM, "out of memory");
    const char *env = getenv("KUBECONFIG");
    const char *home = getenv("HOME");
    int rc;
    if (o->in_cluster_only) {
        rc = load_in_cluster(cfg, err);
    } else if (o->kubeconfig && *o->kubeconfig) {
        char *one[2] = {(char *)o->kubeconfig, NULL};
        rc = load_kubeconfig(one, 0, o->context, cfg, err);
    } else if (env && *env) {
        char **paths = split_paths(env);
        rc = paths ? load_kubeconfig(paths, 1, o->context, cfg, err)
                   : pb_err_set(err, PB_ENOMEM, "out of memory");
        free_paths(paths);
    } else if (getenv("KUBERNETES_SERVICE_HOST") && *getenv("KUBERNETES_SERVICE_HOST")) {
        rc = load_in_cluster(cfg, err);
    } else if (home && *home) {
        char path[PATH_MAX];
        snprintf(path, sizeof path, "%s/.kube/config", home);
        char *one[2] = {path, NULL};
        rc = load_kubeconfig(one, 0, o->context, cfg, err);
    } else {
        rc = pb_err_set(err, PB_ENOTFOUND, "no configuration: set --kubeconfig or KUBECONFIG, run in a "
                                           "cluster, or create ~/.kube/config");
    }
    if (rc) {
        kube_config_free(cfg);
        return rc;
    }
    *out = cfg;
    return 0;
}

void kube_config_free(kube_config *cfg)
{
    if (!cfg)
        return;
    free(cfg->source);
    free(cfg->context);
    free(cfg->server);
    free(cfg->ns);
    free(cfg->tls_server_name);
    free(cfg->ca_pem);
    free(cfg->token);
    free(cfg->token_file);
    free(cfg->username);
    free(cfg->password);
    free(cfg->cert_pem);
    free(cfg->key_pem);
    json_decref(cfg->exec);
    free(cfg);
}

const char *kube_config_server(const kube_config *cfg) { return cfg->server; }
const char *kube_config_namespace(const kube_config *cfg) { return cfg->ns; }
const char *kube_config_source(const kube_config *cfg) { return cfg->source; }
const char *kube_config_context(const kube_config *cfg) { return cfg->context; }
int kube_config_insecure(const kube_config *cfg) { return cfg->insecure; }
const char *kube_config_tls_server_name(const kube_config *cfg) { return cfg->tls_server_name; }

const char *kube_config_ca_pem(const kube_config *cfg, size_t *len)
{
    if (len)
        *len = cfg->ca_len;
    return cfg->ca_pem;
}

/* ------------------------------------------------------------------- auth */

struct kube_auth {
    pthread_mutex_t mu;
    kube_credentials fixed; /* static credentials from the config */
    char *source;
    /* token file */
    char *token_file;
    char *file_token;
    struct timespec file_mtime;
    off_t file_size;
    time_t file_read_at;
    /* exec plugin */
    json_t *exec;
    kube_credentials exec_cred;
    int exec_valid;
    long long exec_expiry; /* epoch seconds, 0 = never expires */
};

void kube_credentials_clear(kube_credentials *c)
{
    if (!c)
        return;
    free(c->token);
    free(c->username);
    free(c->password);
    free(c->cert_pem);
    free(c->key_pem);
    memset(c, 0, sizeof *c);
}

static char *memdup0(const char *p, size_t n)
{
    if (!p)
        return NULL;
    char *r = malloc(n + 1);
    if (r) {
        memcpy(r, p, n);
        r[n] = '\0';
    }
    return r;
}

int kube_auth_new(const kube_config *cfg, kube_auth **out, pb_err *err)
{
    kube_auth *a = calloc(1, sizeof *a);
    if (!a)
        return pb_err_set(err, PB_ENOMEM, "out of memory");
    pthread_mutex_init(&a->mu, NULL);
    a->fixed.token = xstrdup(cfg->token);
    a->fixed.username = xstrdup(cfg->username);
    a->fixed.password = xstrdup(cfg->password);
    a->fixed.cert_pem = memdup0(cfg->cert_pem, cfg->cert_len);
    a->fixed.cert_len = cfg->cert_len;
    a->fixed.key_pem = memdup0(cfg->key_pem, cfg->key_len);
    a->fixed.key_len = cfg->key_len;
    a->token_file = xstrdup(cfg->token_file);
    a->source = xstrdup(cfg->source);
    a->exec = cfg->exec ? json_deep_copy(cfg->exec) : NULL;
    *out = a;
    return 0;
}

void kube_auth_free(kube_auth *a)
{
    if (!a)
        return;
    kube_credentials_clear(&a->fixed);
    kube_credentials_clear(&a->exec_cred);
    free(a->source);
    free(a->token_file);
    free(a->file_token);
    json_decref(a->exec);
    pthread_mutex_destroy(&a->mu);
    free(a);
}

/* Re-read the token file if it changed; caller holds the lock. A rotation
 * in progress (file briefly missing) keeps the last good token. */
static int refresh_token_file(kube_auth *a, pb_err *err)
{
    struct stat st;
    memset(&st, 0, sizeof st);
    time_t now = time(NULL);
    int have = a->file_token != NULL;
    if (stat(a->token_file, &st) == 0 && have && st.st_size == a->file_size &&
        st.st_mtim.tv_sec == a->file_mtime.tv_sec && st.st_mtim.tv_nsec == a->file_mtime.tv_nsec &&
        now - a->file_read_at < TOKEN_FILE_RECHECK_S)
        return 0;
    char *buf = NULL;
    pb_err e;
    if (read_file(a->token_file, &buf, NULL, &e) != 0) {
        if (have) {
            pb_log_warn("token file unreadable, keeping the previous token", "file", a->token_file,
                        "error", e.msg, NULL);
            return 0;
        }
        return pb_err_set(err, e.code, "%s: tokenFile %s", a->source, e.msg);
    }
    char *t = trim(buf);
    free(a->file_token);
    a->file_token = strdup(t);
    free(buf);
    a->file_size = st.st_size;
    a->file_mtime = st.st_mtim;
    a->file_read_at = now;
    return 0;
}

/* Build the child's environment: ours, then the plugin's env entries, then
 * KUBERNETES_EXEC_INFO. Returns a NULL-terminated malloc'd array. */
static char **exec_environ(json_t *env, const char *info)
{
    size_t n = 0;
    while (environ && environ[n])
        n++;
    char **v = calloc(n + json_object_size(env) + 2, sizeof *v);
    if (!v)
        return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        const char *eq = strchr(environ[i], '=');
        size_t nl = eq ? (size_t)(eq - environ[i]) : strlen(environ[i]);
        char name[256];
        snprintf(name, sizeof name, "%.*s", (int)nl, environ[i]);
        if (json_object_get(env, name) || !strcmp(name, "KUBERNETES_EXEC_INFO"))
            continue;
        v[k++] = strdup(environ[i]);
    }
    const char *key;
    json_t *val;
    json_object_foreach(env, key, val) {
        size_t l = strlen(key) + strlen(json_string_value(val)) + 2;
        v[k] = malloc(l);
        if (v[k])
            snprintf(v[k++], l, "%s=%s", key, json_string_value(val));
    }
    size_t l = strlen(info) + 22;
    v[k] = malloc(l);
    if (v[k])
        snprintf(v[k++], l, "KUBERNETES_EXEC_INFO=%s", info);
    return v;
}

/* Run the plugin, collecting stdout and stderr (each capped) within the
 * timeout. Returns the exit status or a negative code. */
static int run_exec(kube_auth *a, char **out, char **errout, pb_err *err)
{
    const char *cmd = json_string_value(json_object_get(a->exec, "command"));
    json_t *args = json_object_get(a->exec, "args");
    const char *api = json_string_value(json_object_get(a->exec, "apiVersion"));
    char info[256];
    snprintf(info, sizeof info,
             "{\"apiVersion\":\"%s\",\"kind\":\"ExecCredential\",\"spec\":{\"interactive\":false}}", api);
    size_t na = json_array_size(args);
    char **argv = calloc(na + 2, sizeof *argv);
    char **envp = exec_environ(json_object_get(a->exec, "env"), info);
    int po[2] = {-1, -1}, pe[2] = {-1, -1};
    int rc = 0;
    pid_t pid = -1;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    if (!argv || !envp || pipe2(po, O_CLOEXEC) != 0 || pipe2(pe, O_CLOEXEC) != 0) {
        rc = pb_err_set(err, PB_EIO, "exec plugin %s: cannot set up: %s", cmd, strerror(errno));
        goto done;
    }
    argv[0] = (char *)cmd;
    for (size_t i = 0; i < na; i++)
        argv[i + 1] = (char *)json_string_value(json_array_get(args, i));
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, po[1], 1);
    posix_spawn_file_actions_adddup2(&fa, pe[1], 2);
    int sr = strchr(cmd, '/') ? posix_spawn(&pid, cmd, &fa, NULL, argv, envp)
                              : posix_spawnp(&pid, cmd, &fa, NULL, argv, envp);
    close(po[1]);
    close(pe[1]);
    po[1] = pe[1] = -1;
    if (sr != 0) {
        const char *hint = json_string_value(json_object_get(a->exec, "installHint"));
        rc = pb_err_set(err, PB_EIO, "exec plugin %s: %s%s%s", cmd, strerror(sr), hint && *hint ? ": " : "",
                        hint ? hint : "");
        goto done;
    }
    /* Collect both pipes until EOF or the deadline. */
    size_t len[2] = {0, 0};
    char *buf[2] = {calloc(1, MAX_EXEC_OUTPUT + 1), calloc(1, 4096)};
    size_t cap[2] = {MAX_EXEC_OUTPUT, 4095};
    struct pollfd pfd[2] = {{po[0], POLLIN, 0}, {pe[0], POLLIN, 0}};
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int open_fds = 2, timed_out = 0;
    while (open_fds > 0 && buf[0] && buf[1]) {
        clock_gettime(CLOCK_MONOTONIC, &t1);
        long el = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
        if (el >= EXEC_TIMEOUT_MS) {
            timed_out = 1;
            break;
        }
        if (poll(pfd, 2, (int)(EXEC_TIMEOUT_MS - el)) < 0 && errno != EINTR)
            break;
        for (int i = 0; i < 2; i++) {
            if (pfd[i].fd < 0 || !(pfd[i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            char tmp[4096];
            ssize_t r = read(pfd[i].fd, tmp, sizeof tmp);
            if (r <= 0) {
                pfd[i].fd = -1;
                open_fds--;
                continue;
            }
            size_t take = (size_t)r < cap[i] - len[i] ? (size_t)r : cap[i] - len[i];
            memcpy(buf[i] + len[i], tmp, take);
            len[i] += take;
        }
    }
    if (timed_out)
        kill(pid, SIGKILL);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (!buf[0] || !buf[1]) {
        free(buf[0]);
        free(buf[1]);
        rc = pb_err_set(err, PB_ENOMEM, "out of memory");
    } else if (timed_out) {
        free(buf[0]);
        free(buf[1]);
        rc = pb_err_set(err, PB_ETIMEOUT, "exec plugin %s: no answer within %d s", cmd,
                        EXEC_TIMEOUT_MS / 1000);
    } else {
        *out = buf[0];
        *errout = buf[1];
        rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
done:
    posix_spawn_file_actions_destroy(&fa);
    for (int i = 0; i < 2; i++) {
        if (po[i] >= 0)
            close(po[i]);
        if (pe[i] >= 0)
            close(pe[i]);
    }
    free(argv);
    for (size_t i = 0; envp && envp[i]; i++)
        free(envp[i]);
    free(envp);
    return rc;
}

/* Run the exec plugin and cache its ExecCredential; caller holds the lock. */
static int refresh_exec(kube_auth *a, pb_err *err)
{
    const char *cmd = json_string_value(json_object_get(a->exec, "command"));
    char *out = NULL, *errout = NULL;
    int st = run_exec(a, &out, &errout, err);
    if (st < 0)
        return pb_err_wrap(err, "%s", a->source);
    int rc = 0;
    json_t *j = NULL;
    if (st != 0) {
        rc = pb_err_set(err, PB_EUNAUTHORIZED, "%s: exec plugin %s: exit status %d: %s", a->source, cmd, st,
                        trim(errout));
        goto done;
    }
    json_error_t je;
    j = json_loads(out, 0, &je);
    const char *kind = json_string_value(json_object_get(j, "kind"));
    if (!j || !kind || strcmp(kind, "ExecCredential") != 0) {
        rc = pb_err_set(err, PB_EPARSE, "%s: exec plugin %s: output is not an ExecCredential%s%s", a->source,
                        cmd, j ? "" : ": ", j ? "" : je.text);
        goto done;
    }
    json_t *s = json_object_get(j, "status");
    const char *tok = json_string_value(json_object_get(s, "token"));
    const char *cert = json_string_value(json_object_get(s, "clientCertificateData"));
    const char *key = json_string_value(json_object_get(s, "clientKeyData"));
    const char *exp = json_string_value(json_object_get(s, "expirationTimestamp"));
    if (!(tok && *tok) && !(cert && key)) {
        rc = pb_err_set(err, PB_EPARSE, "%s: exec plugin %s: status.token or status.clientCertificateData "
                        "and clientKeyData: missing", a->source, cmd);
        goto done;
    }
    long long expiry = 0;
    if (exp && *exp && (expiry = parse_rfc3339(exp)) < 0) {
        rc = pb_err_set(err, PB_EPARSE,
                        "%s: exec plugin %s: status.expirationTimestamp: \"%s\" is not RFC 3339", a->source,
                        cmd, exp);
        goto done;
    }
    kube_credentials_clear(&a->exec_cred);
    a->exec_cred.token = tok && *tok ? strdup(tok) : NULL;
    if (cert && key) {
        a->exec_cred.cert_pem = strdup(cert);
        a->exec_cred.cert_len = strlen(cert);
        a->exec_cred.key_pem = strdup(key);
        a->exec_cred.key_len = strlen(key);
    }
    a->exec_expiry = expiry;
    a->exec_valid = 1;
done:
    json_decref(j);
    free(out);
    free(errout);
    return rc;
}

int kube_auth_get(kube_auth *a, kube_credentials *out, pb_err *err)
{
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&a->mu);
    int rc = 0;
    if (a->token_file)
        rc = refresh_token_file(a, err);
    if (rc == 0 && a->exec &&
        (!a->exec_valid || (a->exec_expiry && (long long)time(NULL) >= a->exec_expiry - EXEC_EXPIRY_SKEW_S)))
        rc = refresh_exec(a, err);
    if (rc == 0) {
        /* Precedence as in client-go: exec beats the token file beats a
         * static token; an exec certificate beats the configured one. */
        const char *tok = a->fixed.token;
        if (a->file_token)
            tok = a->file_token;
        if (a->exec && a->exec_cred.token)
            tok = a->exec_cred.token;
        const kube_credentials *certsrc = a->exec && a->exec_cred.cert_pem ? &a->exec_cred : &a->fixed;
        out->token = xstrdup(tok);
        out->username = xstrdup(a->fixed.username);
        out->password = xstrdup(a->fixed.password);
        out->cert_pem = memdup0(certsrc->cert_pem, certsrc->cert_len);
        out->cert_len = certsrc->cert_len;
        out->key_pem = memdup0(certsrc->key_pem, certsrc->key_len);
        out->key_len = certsrc->key_len;
    }
    pthread_mutex_unlock(&a->mu);
    return rc;
}

int kube_auth_invalidate(kube_auth *a)
{
    pthread_mutex_lock(&a->mu);
    int useful = 0;
    if (a->exec) {
        a->exec_valid = 0;
        useful = 1;
    }
    if (a->token_file) {
        a->file_read_at = 0; /* forces a re-read, keeping the old token if that fails */
        useful = 1;
    }
    pthread_mutex_unlock(&a->mu);
    return useful;
}
