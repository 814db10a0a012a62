/*
 * testutil.h - small helpers shared by the cmocka unit tests.
 *
 * Every unit test file includes this after <cmocka.h>'s prerequisites.
 */
#ifndef PAYBILL_TESTUTIL_H
#define PAYBILL_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <cmocka.h>
#include <jansson.h>

/* Read a whole FILE* (e.g. a tmpfile the code under test wrote) into a
 * malloc'd NUL-terminated string. Caller frees. */
char *tu_slurp(FILE *f);

/* A fresh temporary directory (mkdtemp under $TMPDIR or /tmp); caller frees
 * the path and may remove the tree with tu_rmtree(). */
char *tu_tmpdir(void);
void tu_rmtree(const char *path);

/* Write `content` to dir/name; returns the malloc'd full path. */
char *tu_write_file(const char *dir, const char *name, const char *content);

/* Seconds on the monotonic clock, for measuring how long a call took. */
double tu_now(void);

/* Reproducible pseudo-random numbers (xorshift64): a value in [0, n)
 * from *state, which it advances. */
unsigned tu_rand(unsigned long long *state, unsigned n);

/* A random JSON value, for tests that hold a codec against jansson's own:
 * strings with every escape, control characters and UTF-8 of each length
 * (as keys too), integers up to the int64 edges, reals, booleans, null, and
 * objects and arrays nested at most `max_depth` below `depth`. A new
 * reference. */
json_t *tu_random_json(unsigned long long *state, int depth, int max_depth);

#endif
