/*
 * write_echo.c - holding back the watch events of our own writes (see
 * write_echo.h).
 *
 * An entry is {"busy": true, "held": [rv...]} while a write is in flight,
 * then {"rv": rv, "at": t} until its echo comes or the note expires.
 */
#include "controllers/write_echo.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kube/store.h"

#define SWEEP_EVERY 1024 /* writes between sweeps of expired notes */

struct wecho {
    pthread_mutex_t mu;
    json_t *entries; /* "kind|key" -> entry */
    unsigned long since_sweep;
};

wecho *wecho_new(void)
{
    wecho *w = calloc(1, sizeof *w);
    if (!w || !(w->entries = json_object())) {
        free(w);
        return NULL;
    }
    pthread_mutex_init(&w->mu, NULL);
    return w;
}

void wecho_free(wecho *w)
{
    if (!w)
        return;
    json_decref(w->entries);
    pthread_mutex_destroy(&w->mu);
    free(w);
}

static int entry_key(int kind, const char *key, char *buf, size_t n)
{
    int len = snprintf(buf, n, "%d|%s", kind, key ? key : "");
    return key && *key && len > 0 && (size_t)len < n;
}

static int expired(const json_t *e, time_t now)
{
    return !json_is_true(json_object_get(e, "busy")) &&
           now - (time_t)json_integer_value(json_object_get(e, "at")) > WECHO_TTL_S;
}

/* Drop expired notes; writes in flight stay (caller holds mu). */
static void sweep(wecho *w, time_t now)
{
    const char *k;
    json_t *v, *tmp;
    json_object_foreach_safe(w->entries, tmp, k, v) {
        if (expired(v, now))
            json_object_del(w->entries, k);
    }
    w->since_sweep = 0;
}

void wecho_begin(wecho *w, int kind, const char *key, time_t now)
{
    char k[600];
    if (!w || !entry_key(kind, key, k, sizeof k))
        return;
    json_t *e = json_pack("{s:b, s:[]}", "busy", 1, "held");
    pthread_mutex_lock(&w->mu);
    if (e)
        json_object_set_new(w->entries, k, e);
    if (++w->since_sweep >= SWEEP_EVERY)
        sweep(w, now);
    pthread_mutex_unlock(&w->mu);
}

int wecho_end(wecho *w, int kind, const char *key, const char *rv, time_t now)
{
    char k[600];
    if (!w || !entry_key(kind, key, k, sizeof k))
        return 0;
    int other = 0, echoed = 0;
    pthread_mutex_lock(&w->mu);
    json_t *e = json_object_get(w->entries, k);
    size_t i;
    json_t *h;
    json_array_foreach(json_object_get(e, "held"), i, h) {
        if (rv && *rv && strcmp(json_string_value(h), rv) == 0)
            echoed = 1;
        else
            other = 1;
    }
    json_t *note = rv && *rv && !echoed ? json_pack("{s:s, s:I}", "rv", rv, "at", (json_int_t)now) : NULL;
    if (note)
        json_object_set_new(w->entries, k, note);
    else
        json_object_del(w->entries, k);
    pthread_mutex_unlock(&w->mu);
    return other;
}

int wecho_take(wecho *w, int kind, const json_t *obj, time_t now)
{
    char key[512], k[600];
    const char *rv = json_string_value(json_object_get(json_object_get(obj, "metadata"), "resourceVersion"));
    if (!w || !rv || !*rv || store_key_of(obj, key, sizeof key, NULL) != 0 || !entry_key(kind, key, k, sizeof k))
        return 0;
    int hold = 0;
    pthread_mutex_lock(&w->mu);
    json_t *e = json_object_get(w->entries, k);
    if (json_is_true(json_object_get(e, "busy"))) {
        hold = json_array_append_new(json_object_get(e, "held"), json_string(rv)) == 0;
    } else if (e && !expired(e, now) && strcmp(json_string_value(json_object_get(e, "rv")), rv) == 0) {
        json_object_del(w->entries, k);
        hold = 1;
    }
    pthread_mutex_unlock(&w->mu);
    return hold;
}

size_t wecho_size(wecho *w)
{
    pthread_mutex_lock(&w->mu);
    size_t n = json_object_size(w->entries);
    pthread_mutex_unlock(&w->mu);
    return n;
}
