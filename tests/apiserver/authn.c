/*
 * authn.c - authentication for the dev API server: who is asking.
 *
 * Two kinds of bearer tokens, tried in kube-apiserver's order:
 *   1. the static token file (--token-auth-file CSV: token,user,uid,"g1,g2");
 *   2. ServiceAccount tokens this server issued: JWT-shaped, HS256-signed
 *      with the server's key, valid while the ServiceAccount exists.
 * Every authenticated user gets the group system:authenticated.
 *
 * Also here: TokenRequest (`kubectl create token`) and impersonation
 * (Impersonate-User/-Group/-Uid), which asks rbac.c whether the requester may
 * "impersonate". dv_user helpers live in auth.c.
 *
 * The dv_auth is immutable after dv_auth_new, so it may be shared.
 */
#include "auth.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "util/buf.h"
#include "util/log.h"

#define SA_PREFIX "system:serviceaccount:"
#define SA_ISSUER "https://kubernetes.default.svc.cluster.local"
/* Clock skew tolerated on nbf/exp, as the real JWT validator allows. */
#define SA_LEEWAY_SECONDS 60

typedef struct static_token {
    char *token;
    dv_user user;
} static_token;

struct dv_auth {
    static_token *tokens;
    size_t ntokens;
    unsigned char key[64];
    size_t keylen;
    dv_lister lister;
    void *lister_ud;
};

/* ---- static token file ---------------------------------------------- */

/* Split one CSV line (RFC 4180 quoting: "a,b" and "" for a quote) into
 * malloc'd fields. Returns the field count, or -1 on a broken quote. */
static int csv_split(const char *line, char ***out)
{
    char **f = NULL;
    int nf = 0;
    const char *p = line;
    for (;;) {
        size_t cap = strlen(p) + 1, len = 0;
        char *buf = malloc(cap);
        char **nfp = realloc(f, (nf + 1) * sizeof *f);
        if (!buf || !nfp) {
            free(buf);
            if (nfp)
                f = nfp;
            goto fail;
        }
        f = nfp;
        f[nf++] = buf;
        if (*p == '"') {
            p++;
            for (;;) {
                if (*p == '\0')
                    goto fail; /* unterminated quote */
                if (*p == '"' && p[1] == '"') {
                    buf[len++] = '"';
                    p += 2;
                } else if (*p == '"') {
                    p++;
                    break;
                } else {
                    buf[len++] = *p++;
                }
            }
            if (*p != ',' && *p != '\0')
                goto fail; /* text after the closing quote */
        } else {
            while (*p && *p != ',') {
                if (*p == '"')
                    goto fail; /* bare quote in an unquoted field */
                buf[len++] = *p++;
            }
        }
        buf[len] = '\0';
        if (*p == '\0')
            break;
        p++; /* the comma */
    }
    *out = f;
    return nf;
fail:
    for (int i = 0; i < nf; i++)
        free(f[i]);
    free(f);
    return -1;
}

static void free_fields(char **f, int nf)
{
    for (int i = 0; i < nf; i++)
        free(f[i]);
    free(f);
}

/* One record -> a token entry. Groups: the 4th column, comma-separated. */
static int add_token(dv_auth *a, char **f, int nf)
{
    char *gcopy = NULL;
    const char **groups = NULL;
    size_t ng = 0;
    int rc = -1;
    if (nf >= 4 && f[3][0]) {
        gcopy = strdup(f[3]);
        groups = calloc(strlen(f[3]) + 2, sizeof *groups);
        if (!gcopy || !groups)
            goto out;
        char *save = NULL;
        for (char *g = strtok_r(gcopy, ",", &save); g; g = strtok_r(NULL, ",", &save))
            groups[ng++] = g;
    }
    static_token *nt = realloc(a->tokens, (a->ntokens + 1) * sizeof *nt);
    if (!nt)
        goto out;
    a->tokens = nt;
    static_token *t = &a->tokens[a->ntokens];
    memset(t, 0, sizeof *t);
    if (!(t->token = strdup(f[0])) || dv_user_set(&t->user, f[1], f[2], groups) < 0) {
        free(t->token);
        goto out;
    }
    a->ntokens++;
    rc = 0;
out:
    free(gcopy);
    free(groups);
    return rc;
}

static int load_token_file(dv_auth *a, const char *path, char *msg, size_t n)
{
    FILE *fp = fopen(path, "r");
    if (!fp) {
        snprintf(msg, n, "token file '%s': %s", path, strerror(errno));
        return -1;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int lineno = 0, rc = 0;
    while ((len = getline(&line, &cap, fp)) >= 0) {
        lineno++;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = '\0';
        if (len == 0)
            continue; /* encoding/csv skips empty lines */
        char **f = NULL;
        int nf = csv_split(line, &f);
        if (nf < 0) {
            snprintf(msg, n, "token file '%s' line %d: malformed CSV (unbalanced or bare quote)",
                     path, lineno);
            rc = -1;
            break;
        }
        if (nf < 3) {
            snprintf(msg, n,
                     "token file '%s' line %d: must have at least 3 columns (token, user name, "
                     "user uid), found %d",
                     path, lineno, nf);
            free_fields(f, nf);
            rc = -1;
            break;
        }
        if (f[0][0] == '\0') {
            char ln[16];
            snprintf(ln, sizeof ln, "%d", lineno);
            pb_log_warn("empty token in token file, line skipped", "file", path, "line", ln, NULL);
        } else if (add_token(a, f, nf) < 0) {
            snprintf(msg, n, "token file '%s': out of memory", path);
            rc = -1;
        }
        free_fields(f, nf);
        if (rc < 0)
            break;
    }
    free(line);
    fclose(fp);
    return rc;
}

/* ---- lifecycle -------------------------------------------------------- */

int dv_auth_new(const char *token_file, const unsigned char *signing_key, size_t keylen,
                dv_lister lister, void *lister_ud, dv_auth **out, char *msg, size_t n)
{
    char dummy[8];
    if (!msg) {
        msg = dummy;
        n = sizeof dummy;
    }
    *out = NULL;
    dv_auth *a = calloc(1, sizeof *a);
    if (!a) {
        snprintf(msg, n, "out of memory");
        return -1;
    }
    a->lister = lister;
    a->lister_ud = lister_ud;
    if (signing_key && keylen > 0) {
        if (keylen > sizeof a->key) {
            /* HMAC hashes long keys anyway; hashing here keeps the struct fixed. */
            unsigned int dl = 0;
            EVP_Digest(signing_key, keylen, a->key, &dl, EVP_sha256(), NULL);
            a->keylen = dl;
        } else {
            memcpy(a->key, signing_key, keylen);
            a->keylen = keylen;
        }
    } else {
        if (RAND_bytes(a->key, 32) != 1) {
            snprintf(msg, n, "no randomness for the ServiceAccount signing key");
            free(a);
            return -1;
        }
        a->keylen = 32;
    }
    if (token_file && load_token_file(a, token_file, msg, n) < 0) {
        dv_auth_free(a);
        return -1;
    }
    *out = a;
    return 0;
}

void dv_auth_free(dv_auth *a)
{
    if (!a)
        return;
    for (size_t i = 0; i < a->ntokens; i++) {
        OPENSSL_cleanse(a->tokens[i].token, strlen(a->tokens[i].token));
        free(a->tokens[i].token);
        dv_user_clear(&a->tokens[i].user);
    }
    free(a->tokens);
    OPENSSL_cleanse(a->key, sizeof a->key);
    free(a);
}

dv_lister dv_auth_lister(const dv_auth *a, void **ud)
{
    if (ud)
        *ud = a->lister_ud;
    return a->lister;
}

/* ---- ServiceAccount tokens ------------------------------------------- */

/* base64url without padding (RFC 7515). Caller frees. */
static char *b64url_encode(const unsigned char *in, size_t len)
{
    char *out = malloc(4 * ((len + 2) / 3) + 1);
    if (!out)
        return NULL;
    int n = EVP_EncodeBlock((unsigned char *)out, in, (int)len);
    while (n > 0 && out[n - 1] == '=')
        n--;
    out[n] = '\0';
    for (char *p = out; *p; p++) {
        if (*p == '+')
            *p = '-';
        else if (*p == '/')
            *p = '_';
    }
    return out;
}

/* Decode base64url (no padding) of len chars. Caller frees; NULL if bad. */
static unsigned char *b64url_decode(const char *in, size_t len, size_t *outlen)
{
    if (len % 4 == 1)
        return NULL;
    size_t plen = (len + 3) / 4 * 4;
    char *tmp = malloc(plen + 1);
    unsigned char *out = malloc(plen / 4 * 3 + 1);
    if (!tmp || !out)
        goto fail;
    for (size_t i = 0; i < len; i++) {
        char c = in[i];
        if (c == '-')
            c = '+';
        else if (c == '_')
            c = '/';
        else if (!isalnum((unsigned char)c))
            goto fail; /* also rejects '+', '/' and '=' of plain base64 */
        tmp[i] = c;
    }
    for (size_t i = len; i < plen; i++)
        tmp[i] = '=';
    tmp[plen] = '\0';
    int n = EVP_DecodeBlock(out, (unsigned char *)tmp, (int)plen);
    if (n < 0)
        goto fail;
    *outlen = (size_t)n - (plen - len); /* EVP_DecodeBlock counts padding as zeros */
    out[*outlen] = '\0';
    free(tmp);
    return out;
fail:
    free(tmp);
    free(out);
    return NULL;
}

static void sign(const dv_auth *a, const char *data, size_t len, unsigned char mac[32])
{
    unsigned int ml = 32;
    HMAC(EVP_sha256(), a->key, (int)a->keylen, (const unsigned char *)data, len, mac, &ml);
}

/* Sign a token for ns/name with these audiences (a JSON array). */
static char *issue_token(const dv_auth *a, const char *ns, const char *name, const char *sa_uid,
                         long long iat, long long expiration_seconds, const json_t *audiences)
{
    if (!a || !ns || !name || !*ns || !*name)
        return NULL;
    char sub[512];
    snprintf(sub, sizeof sub, SA_PREFIX "%s:%s", ns, name);
    unsigned char jti[16];
    char jtihex[33];
    RAND_bytes(jti, sizeof jti);
    for (int i = 0; i < 16; i++)
        snprintf(jtihex + 2 * i, 3, "%02x", jti[i]);
    json_t *claims = json_pack("{s:s, s:s, s:O, s:I, s:I, s:s, s:{s:s, s:{s:s, s:s}}}",
                               "iss", SA_ISSUER, "sub", sub, "aud", audiences, "iat",
                               (json_int_t)iat, "nbf", (json_int_t)iat, "jti", jtihex,
                               "kubernetes.io", "namespace", ns, "serviceaccount", "name", name,
                               "uid", sa_uid ? sa_uid : "");
    if (!claims)
        return NULL;
    if (expiration_seconds > 0)
        json_object_set_new(claims, "exp", json_integer(iat + expiration_seconds));
    char *payload_json = json_dumps(claims, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(claims);
    static const char header_json[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
    char *h = b64url_encode((const unsigned char *)header_json, strlen(header_json));
    char *p = payload_json ? b64url_encode((unsigned char *)payload_json, strlen(payload_json))
                           : NULL;
    char *tok = NULL;
    if (h && p) {
        size_t sl = strlen(h) + 1 + strlen(p);
        char *signing_input = malloc(sl + 1);
        if (signing_input) {
            snprintf(signing_input, sl + 1, "%s.%s", h, p);
            unsigned char mac[32];
            sign(a, signing_input, sl, mac);
            char *sg = b64url_encode(mac, sizeof mac);
            if (sg && (tok = malloc(sl + 1 + strlen(sg) + 1)))
                sprintf(tok, "%s.%s", signing_input, sg);
            free(sg);
            free(signing_input);
        }
    }
    free(h);
    free(p);
    free(payload_json);
    return tok;
}

char *dv_issue_sa_token_ex(dv_auth *a, const char *ns, const char *name, const char *sa_uid,
                           long long iat, long long expiration_seconds)
{
    json_t *aud = json_pack("[s]", SA_ISSUER);
    char *tok = issue_token(a, ns, name, sa_uid, iat, expiration_seconds, aud);
    json_decref(aud);
    return tok;
}

/* TokenRequest limits of kube-apiserver's validation. */
#define TOKEN_MIN_SECONDS 600
#define TOKEN_MAX_SECONDS 4294967296LL
#define TOKEN_DEFAULT_SECONDS 3600

json_t *dv_token_request(dv_auth *a, const json_t *sa, const json_t *request, long long now,
                         char *msg, size_t n)
{
    char dummy[8];
    if (!msg) {
        msg = dummy;
        n = sizeof dummy;
    }
    json_t *md = json_object_get(sa, "metadata");
    const char *ns = json_string_value(json_object_get(md, "namespace"));
    const char *name = json_string_value(json_object_get(md, "name"));
    const char *uid = json_string_value(json_object_get(md, "uid"));
    if (!a || !ns || !name) {
        snprintf(msg, n, "serviceaccount has no namespace or name");
        return NULL;
    }
    const json_t *spec = json_object_get(request, "spec");
    json_t *exp = json_object_get(spec, "expirationSeconds");
    json_t *aud = json_object_get(spec, "audiences");
    if ((exp && !json_is_null(exp) && !json_is_integer(exp)) || (aud && !json_is_null(aud) && !json_is_array(aud))) {
        snprintf(msg, n, "TokenRequest.authentication.k8s.io \"%s\" is invalid: spec: Invalid value: "
                 "expirationSeconds must be an integer and audiences a list", name);
        return NULL;
    }
    long long secs = json_is_integer(exp) ? (long long)json_integer_value(exp) : TOKEN_DEFAULT_SECONDS;
    if (secs < TOKEN_MIN_SECONDS || secs > TOKEN_MAX_SECONDS) {
        snprintf(msg, n, "TokenRequest.authentication.k8s.io \"%s\" is invalid: spec.expirationSeconds: "
                 "Invalid value: %lld: may not specify a duration %s", name, secs,
                 secs < TOKEN_MIN_SECONDS ? "less than 10 minutes" : "larger than 2^32 seconds");
        return NULL;
    }
    json_t *audiences = json_array_size(aud) > 0 ? json_deep_copy(aud) : json_pack("[s]", SA_ISSUER);
    char *tok = issue_token(a, ns, name, uid, now, secs, audiences);
    if (!tok) {
        json_decref(audiences);
        snprintf(msg, n, "issuing the token failed");
        return NULL;
    }
    char ts[32];
    time_t t = (time_t)(now + secs);
    struct tm tmv;
    gmtime_r(&t, &tmv);
    strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", &tmv);
    json_t *bound = json_object_get(spec, "boundObjectRef");
    json_t *out = json_pack("{s:s,s:s,s:{s:s,s:s,s:n},s:{s:o,s:I,s:O},s:{s:s,s:s}}", "kind",
                            "TokenRequest", "apiVersion", "authentication.k8s.io/v1", "metadata",
                            "name", name, "namespace", ns, "creationTimestamp", "spec", "audiences",
                            audiences, "expirationSeconds", (json_int_t)secs, "boundObjectRef",
                            bound ? bound : json_null(), "status", "token", tok,
                            "expirationTimestamp", ts);
    OPENSSL_cleanse(tok, strlen(tok));
    free(tok);
    return out;
}

char *dv_issue_sa_token(dv_auth *a, const char *ns, const char *name, const char *sa_uid)
{
    return dv_issue_sa_token_ex(a, ns, name, sa_uid, (long long)time(NULL), 0);
}

/* The ServiceAccount ns/name from the store (new reference) or NULL. */
static json_t *find_sa(const dv_auth *a, const char *ns, const char *name)
{
    if (!a->lister)
        return NULL;
    json_t *list = a->lister(a->lister_ud, "", "serviceaccounts", ns);
    json_t *found = NULL, *it;
    size_t i;
    json_array_foreach(list, i, it) {
        json_t *md = json_object_get(it, "metadata");
        const char *n = json_string_value(json_object_get(md, "name"));
        const char *s = json_string_value(json_object_get(md, "namespace"));
        if (n && strcmp(n, name) == 0 && (!s || strcmp(s, ns) == 0)) {
            found = json_incref(it);
            break;
        }
    }
    json_decref(list);
    return found;
}

/* Verify a token we issued; fills u. 0 or -1. */
static int verify_sa_token(const dv_auth *a, const char *tok, dv_user *u)
{
    const char *d1 = strchr(tok, '.');
    const char *d2 = d1 ? strchr(d1 + 1, '.') : NULL;
    if (!d1 || !d2 || strchr(d2 + 1, '.'))
        return -1;
    unsigned char mac[32];
    sign(a, tok, (size_t)(d2 - tok), mac);
    size_t sl = 0;
    unsigned char *sig = b64url_decode(d2 + 1, strlen(d2 + 1), &sl);
    int good = sig && sl == sizeof mac && CRYPTO_memcmp(sig, mac, sizeof mac) == 0;
    free(sig);
    if (!good)
        return -1;

    size_t hl = 0, pl = 0;
    unsigned char *hj = b64url_decode(tok, (size_t)(d1 - tok), &hl);
    unsigned char *pj = b64url_decode(d1 + 1, (size_t)(d2 - d1 - 1), &pl);
    json_t *hdr = hj ? json_loadb((char *)hj, hl, 0, NULL) : NULL;
    json_t *cl = pj ? json_loadb((char *)pj, pl, 0, NULL) : NULL;
    free(hj);
    free(pj);
    int rc = -1;
    json_t *sa = NULL;
    const char *alg = json_string_value(json_object_get(hdr, "alg"));
    if (!alg || strcmp(alg, "HS256") != 0 || !json_is_object(cl))
        goto out;
    json_t *k8s = json_object_get(cl, "kubernetes.io");
    const char *ns = json_string_value(json_object_get(k8s, "namespace"));
    json_t *sao = json_object_get(k8s, "serviceaccount");
    const char *name = json_string_value(json_object_get(sao, "name"));
    const char *uid = json_string_value(json_object_get(sao, "uid"));
    const char *sub = json_string_value(json_object_get(cl, "sub"));
    if (!ns || !name || !sub || !*ns || !*name)
        goto out;
    char want[512];
    snprintf(want, sizeof want, SA_PREFIX "%s:%s", ns, name);
    if (strcmp(sub, want) != 0)
        goto out;
    /* Only tokens meant for the API server authenticate to it. */
    json_t *aud = json_object_get(cl, "aud");
    int for_us = json_is_string(aud) ? strcmp(json_string_value(aud), SA_ISSUER) == 0 : 0;
    size_t ai;
    json_t *av;
    json_array_foreach(aud, ai, av)
        for_us |= json_is_string(av) && strcmp(json_string_value(av), SA_ISSUER) == 0;
    if (!for_us)
        goto out;
    long long now = (long long)time(NULL);
    json_t *exp = json_object_get(cl, "exp"), *nbf = json_object_get(cl, "nbf");
    if (json_is_integer(exp) && now > json_integer_value(exp) + SA_LEEWAY_SECONDS)
        goto out;
    if (json_is_integer(nbf) && now + SA_LEEWAY_SECONDS < json_integer_value(nbf))
        goto out;
    /* Bound-token semantics: the ServiceAccount must still exist, and be the
     * same object (a recreated one has a new uid). */
    if (!(sa = find_sa(a, ns, name)))
        goto out;
    const char *live_uid = json_string_value(json_object_get(json_object_get(sa, "metadata"), "uid"));
    if (uid && *uid && live_uid && strcmp(uid, live_uid) != 0)
        goto out;
    char g2[300];
    snprintf(g2, sizeof g2, "system:serviceaccounts:%s", ns);
    const char *groups[] = {"system:serviceaccounts", g2, NULL};
    rc = dv_user_set(u, want, uid && *uid ? uid : live_uid, groups);
out:
    json_decref(sa);
    json_decref(hdr);
    json_decref(cl);
    return rc;
}

int dv_authenticate(dv_auth *a, const char *authorization, dv_user *u)
{
    if (!a || !authorization || !u)
        return -1;
    while (*authorization == ' ')
        authorization++;
    if (strncasecmp(authorization, "Bearer ", 7) != 0)
        return -1;
    const char *tok = authorization + 7;
    while (*tok == ' ')
        tok++;
    size_t len = strlen(tok);
    while (len > 0 && (tok[len - 1] == ' ' || tok[len - 1] == '\t'))
        len--;
    if (len == 0)
        return -1;
    char *t = strndup(tok, len);
    if (!t)
        return -1;
    int rc = -1;
    /* Later records win on a duplicate token, as in kube-apiserver's map. */
    for (size_t i = a->ntokens; i-- > 0;) {
        if (strcmp(a->tokens[i].token, t) == 0) {
            rc = dv_user_copy(u, &a->tokens[i].user);
            break;
        }
    }
    if (rc < 0)
        rc = verify_sa_token(a, t, u);
    OPENSSL_cleanse(t, len);
    free(t);
    return rc;
}

/* ---- impersonation ---------------------------------------------------- */

/* Split "system:serviceaccount:ns:name" into ns and name (1), else 0. */
static int split_sa_username(const char *user, char *ns, size_t nsz, char *name, size_t namesz)
{
    size_t pl = strlen(SA_PREFIX);
    if (strncmp(user, SA_PREFIX, pl) != 0)
        return 0;
    const char *rest = user + pl, *colon = strchr(rest, ':');
    if (!colon || colon == rest || !colon[1] || strchr(colon + 1, ':'))
        return 0;
    if ((size_t)(colon - rest) >= nsz || strlen(colon + 1) >= namesz)
        return 0;
    snprintf(ns, nsz, "%.*s", (int)(colon - rest), rest);
    snprintf(name, namesz, "%s", colon + 1);
    return 1;
}

int dv_impersonate(dv_auth *a, dv_user *u, const char *imp_user, const char *const *imp_groups,
                   const char *imp_uid, char *msg, size_t n)
{
    int has_groups = imp_groups && imp_groups[0];
    if (imp_uid && !*imp_uid)
        imp_uid = NULL;
    if (!imp_user || !*imp_user) {
        if (!has_groups && !imp_uid)
            return 0;
        /* kube-apiserver prints the user.Info it was asked for with %#v. */
        if (msg) {
            pb_buf m = {0};
            pb_buf_printf(&m, "requested &user.DefaultInfo{Name:\"\", UID:\"%s\", Groups:[]string", imp_uid ? imp_uid : "");
            if (!has_groups)
                pb_buf_puts(&m, "(nil)");
            for (size_t i = 0; has_groups && imp_groups[i]; i++)
                pb_buf_printf(&m, "%s\"%s\"", i ? ", " : "{", imp_groups[i]);
            if (has_groups)
                pb_buf_puts(&m, "}");
            pb_buf_puts(&m, ", Extra:map[string][]string(nil)} without impersonating a user name");
            snprintf(msg, n, "%s", m.data ? m.data : "");
            pb_buf_free(&m);
        }
        return -2;
    }
    /* Each impersonation request is authorized on its own, user first,
     * exactly as the impersonation filter does. */
    char ns[256], name[256];
    int is_sa = split_sa_username(imp_user, ns, sizeof ns, name, sizeof name);
    dv_attributes at = {.verb = "impersonate", .group = ""};
    if (is_sa) {
        at.resource = "serviceaccounts";
        at.ns = ns;
        at.name = name;
    } else {
        at.resource = "users";
        at.name = imp_user;
    }
    if (!dv_authorize(a, u, &at, msg, n))
        return -1;
    for (size_t i = 0; has_groups && imp_groups[i]; i++) {
        dv_attributes ga = {.verb = "impersonate", .group = "", .resource = "groups",
                            .name = imp_groups[i]};
        if (!dv_authorize(a, u, &ga, msg, n))
            return -1;
    }
    if (imp_uid) {
        dv_attributes ua = {.verb = "impersonate", .group = "authentication.k8s.io", .resource = "uids",
                            .name = imp_uid};
        if (!dv_authorize(a, u, &ua, msg, n))
            return -1;
    }

    /* Build the group list the filter would: given groups, or the fixed SA
     * groups; then system:authenticated (or system:unauthenticated for
     * system:anonymous) unless one of them is already present. */
    size_t ng = 0;
    for (size_t i = 0; has_groups && imp_groups[i]; i++)
        ng++;
    const char **groups = calloc(ng + 4, sizeof *groups);
    if (!groups)
        return -1;
    char nsg[300];
    size_t k = 0;
    for (size_t i = 0; i < ng; i++)
        groups[k++] = imp_groups[i];
    if (is_sa && !has_groups) {
        snprintf(nsg, sizeof nsg, "system:serviceaccounts:%s", ns);
        groups[k++] = "system:serviceaccounts";
        groups[k++] = nsg;
    }
    if (strcmp(imp_user, "system:anonymous") == 0) {
        int have = 0;
        for (size_t i = 0; i < k; i++)
            have |= strcmp(groups[i], "system:unauthenticated") == 0;
        if (!have)
            groups[k++] = "system:unauthenticated";
    }
    /* dv_user_set adds system:authenticated unless system:(un)authenticated is there. */
    dv_user nu = {0};
    int rc = dv_user_set(&nu, imp_user, imp_uid ? imp_uid : "", groups);
    free(groups);
    if (rc < 0)
        return -1;
    dv_user_clear(u);
    *u = nu;
    return 0;
}
