/*
 * log.c - structured, redacting, thread-safe logger (see log.h).
 */
#include "util/log.h"

#include <ctype.h>
#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "util/jdump.h"

static struct {
    pthread_mutex_t mu;
    pb_log_level level;
    pb_log_format format;
    FILE *out;
} g_log = {PTHREAD_MUTEX_INITIALIZER, PB_LOG_INFO, PB_LOG_JSON, NULL};

static const char *const level_names[] = {"debug", "info", "warn", "error", "off"};

void pb_log_configure(pb_log_level level, pb_log_format format, FILE *out)
{
    pthread_mutex_lock(&g_log.mu);
    g_log.level = level;
    g_log.format = format;
    g_log.out = out;
    pthread_mutex_unlock(&g_log.mu);
}

int pb_log_parse_level(const char *s, pb_log_level *out)
{
    if (!s)
        return -1;
    for (int i = 0; i <= PB_LOG_OFF; i++) {
        if (strcasecmp(s, level_names[i]) == 0) {
            *out = (pb_log_level)i;
            return 0;
        }
    }
    if (strcasecmp(s, "warning") == 0) {
        *out = PB_LOG_WARN;
        return 0;
    }
    return -1;
}

int pb_log_parse_format(const char *s, pb_log_format *out)
{
    if (s && strcasecmp(s, "json") == 0) {
        *out = PB_LOG_JSON;
        return 0;
    }
    if (s && strcasecmp(s, "text") == 0) {
        *out = PB_LOG_TEXT;
        return 0;
    }
    return -1;
}

int pb_log_enabled(pb_log_level level)
{
    pthread_mutex_lock(&g_log.mu);
    int on = level >= g_log.level && level < PB_LOG_OFF;
    pthread_mutex_unlock(&g_log.mu);
    return on;
}

int pb_log_key_is_secret(const char *key)
{
    static const char *const needles[] = {"password", "passwd", "secret", "token",
                                          "authorization", "cookie", "credential",
                                          "private", "apikey", "api_key"};
    if (!key)
        return 0;
    char low[128];
    size_t i = 0;
    for (; key[i] && i + 1 < sizeof low; i++)
        low[i] = (char)tolower((unsigned char)key[i]);
    low[i] = '\0';
    for (size_t k = 0; k < sizeof needles / sizeof needles[0]; k++)
        if (strstr(low, needles[k]))
            return 1;
    /* "key" as a suffix ("tlsKey", "client-key", "privateKey") is key
     * material; "key" alone is a workqueue key, "keyspace" is not a key. */
    size_t n = strlen(low);
    return n > 3 && strcmp(low + n - 3, "key") == 0;
}

/* Append at most n bytes to buf (size cap) keeping NUL termination. */
static void put(char *buf, size_t cap, size_t *len, const char *s, size_t n)
{
    if (*len + 1 >= cap)
        return;
    size_t room = cap - 1 - *len;
    if (n > room)
        n = room;
    memcpy(buf + *len, s, n);
    *len += n;
    buf[*len] = '\0';
}

static int match_ci(const char *p, const char *word)
{
    return strncasecmp(p, word, strlen(word)) == 0;
}

char *pb_log_redact(const char *in, char *out, size_t n)
{
    /* Their first letters, in both cases, and the ':' of a URL are what the
     * scan below stops at. */
    static const char *const kv[] = {"password=", "passwd=", "token=", "secret=",
                                      "Bearer ", "Basic "};
    static const char mask[] = "[REDACTED]";
    size_t len = 0;
    if (n == 0)
        return out;
    out[0] = '\0';
    if (!in)
        return out;
    const char *p = in;
    while (*p) {
        /* Copy in one go what cannot start a match: every log line goes
         * through here, and trying each keyword at each byte was most of
         * what a line cost. */
        size_t plain = strcspn(p, ":pPtTsSbB");
        if (plain) {
            put(out, n, &len, p, plain);
            p += plain;
            continue;
        }
        /* scheme://user:pass@host -> scheme://user:[REDACTED]@host */
        if (p[0] == ':' && p[1] == '/' && p[2] == '/') {
            const char *auth = p + 3;
            const char *end = auth + strcspn(auth, "/?# \t\"'");
            const char *at = memchr(auth, '@', (size_t)(end - auth));
            const char *colon = at ? memchr(auth, ':', (size_t)(at - auth)) : NULL;
            if (colon) {
                put(out, n, &len, p, (size_t)(colon + 1 - p));
                put(out, n, &len, mask, sizeof mask - 1);
                p = at;
                continue;
            }
        }
        int hit = 0;
        for (size_t k = 0; k < sizeof kv / sizeof kv[0]; k++) {
            if (match_ci(p, kv[k])) {
                size_t w = strlen(kv[k]);
                put(out, n, &len, p, w);
                put(out, n, &len, mask, sizeof mask - 1);
                p += w;
                p += strcspn(p, " \t&;,\"'");
                hit = 1;
                break;
            }
        }
        if (!hit)
            put(out, n, &len, p++, 1);
    }
    return out;
}

static void timestamp(char *buf, size_t n)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    size_t k = strftime(buf, n, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + k, n - k, ".%03ldZ", ts.tv_nsec / 1000000);
}

void pb_log(pb_log_level level, const char *msg, ...)
{
    if (level < PB_LOG_DEBUG || level >= PB_LOG_OFF || !pb_log_enabled(level))
        return;
    char ts[40];
    timestamp(ts, sizeof ts);

    pthread_mutex_lock(&g_log.mu);
    pb_log_format format = g_log.format;
    FILE *out = g_log.out ? g_log.out : stderr;
    pthread_mutex_unlock(&g_log.mu);

    char redacted[2048];
    va_list ap;
    va_start(ap, msg);
    char *line = NULL;
    if (format == PB_LOG_JSON) {
        json_t *o = json_object();
        json_object_set_new(o, "ts", json_string(ts));
        json_object_set_new(o, "level", json_string(level_names[level]));
        json_object_set_new(o, "msg", json_string(pb_log_redact(msg, redacted, sizeof redacted)));
        const char *k;
        while ((k = va_arg(ap, const char *)) != NULL) {
            const char *v = va_arg(ap, const char *);
            json_t *jv = !v                        ? json_null()
                         : pb_log_key_is_secret(k) ? json_string("[REDACTED]")
                                                   : json_string(pb_log_redact(v, redacted, sizeof redacted));
            /* json_string() rejects invalid UTF-8: keep the event, mark the value. */
            json_object_set_new(o, k, jv ? jv : json_string("<invalid utf-8>"));
        }
        char *s = pb_jdump(o, JSON_COMPACT);
        json_decref(o);
        if (s) {
            size_t l = strlen(s);
            line = realloc(s, l + 2);
            if (!line) {
                free(s);
            } else {
                line[l] = '\n';
                line[l + 1] = '\0';
            }
        }
    } else {
        char buf[8192];
        size_t len = 0;
        buf[0] = '\0';
        char head[96];
        int hn = snprintf(head, sizeof head, "%s %-5s ", ts, level_names[level]);
        for (int i = (int)strlen(ts) + 1; i < hn; i++)
            head[i] = (char)toupper((unsigned char)head[i]);
        put(buf, sizeof buf, &len, head, (size_t)hn);
        pb_log_redact(msg, redacted, sizeof redacted);
        put(buf, sizeof buf, &len, redacted, strlen(redacted));
        const char *k;
        while ((k = va_arg(ap, const char *)) != NULL) {
            const char *v = va_arg(ap, const char *);
            const char *shown = !v ? "<nil>"
                                : pb_log_key_is_secret(k) ? "[REDACTED]"
                                                          : pb_log_redact(v, redacted, sizeof redacted);
            put(buf, sizeof buf, &len, " ", 1);
            put(buf, sizeof buf, &len, k, strlen(k));
            put(buf, sizeof buf, &len, "=", 1);
            int quote = strpbrk(shown, " \t\"=") != NULL || shown[0] == '\0';
            if (quote)
                put(buf, sizeof buf, &len, "\"", 1);
            put(buf, sizeof buf, &len, shown, strlen(shown));
            if (quote)
                put(buf, sizeof buf, &len, "\"", 1);
        }
        put(buf, sizeof buf, &len, "\n", 1);
        if (buf[len - 1] != '\n') /* truncated: still end the line */
            buf[len - 1] = '\n';
        line = strdup(buf);
    }
    va_end(ap);
    if (!line)
        return;
    pthread_mutex_lock(&g_log.mu);
    fputs(line, out);
    fflush(out);
    pthread_mutex_unlock(&g_log.mu);
    free(line);
}
