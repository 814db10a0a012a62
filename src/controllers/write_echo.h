/*
 * write_echo.h - telling the watch events of the operator's own writes
 * (their echoes) from changes someone else made.
 *
 * Why: the tenant controller writes a new tenant's children one after the
 * other, and each came back through its informer as an event that
 * re-queued the tenant: one more full reconcile per new tenant, which
 * rebuilt and compared every child and wrote nothing. An event whose
 * object is exactly the version one of our writes returned is that write's
 * echo, and the reconcile that made the write already counted on it.
 *
 * The watch often beats the reply, so a write is bracketed: from
 * wecho_begin to wecho_end the object's events are held back and their
 * versions kept; wecho_end then tells whether any of them was not the
 * write's own (someone else's change, or the write failed), and the
 * caller re-queues: nothing is ever lost, at worst the reconcile the memo
 * would have saved happens. After wecho_end, a note of the returned
 * version waits for the echo (wecho_take). Anything else (another
 * version, a deletion, an event for an object we did not write) passes.
 *
 * Memory: one entry per object being written or awaiting its echo. A
 * note whose echo never comes (after a relist only the latest version is
 * seen) stops counting after WECHO_TTL_S and is dropped by the sweep that
 * runs every 1,024 writes; a write in flight is never dropped.
 *
 * Thread-safety: a mutex; every function may be called from any thread.
 * Keys are "ns/name" (or "name"), per child kind.
 */
#ifndef PAYBILL_CONTROLLERS_WRITE_ECHO_H
#define PAYBILL_CONTROLLERS_WRITE_ECHO_H

#include <jansson.h>
#include <stddef.h>
#include <time.h>

#define WECHO_TTL_S 60

typedef struct wecho wecho;

wecho *wecho_new(void); /* NULL when out of memory */
void wecho_free(wecho *w);

/* A write of `key` of kind `kind` is about to be sent. `now`: seconds on
 * any clock that does not jump. */
void wecho_begin(wecho *w, int kind, const char *key, time_t now);

/* The write begun for `key` returned: rv is the version it made (NULL or
 * "" when it failed). 1 when an event held back since wecho_begin was not
 * this write's echo: the caller must look at the object again. */
int wecho_end(wecho *w, int kind, const char *key, const char *rv, time_t now);

/* An add or update event carrying obj (borrowed): 1 when it is to be
 * held back: the echo of a write of ours (the note is used up), or any
 * event while a write of the object is in flight (kept for wecho_end).
 * 0 when it is a change to pass on. */
int wecho_take(wecho *w, int kind, const json_t *obj, time_t now);

/* Entries held (writes in flight and notes awaiting an echo). */
size_t wecho_size(wecho *w);

#endif
