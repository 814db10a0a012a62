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

/* Read a whole FILE* (e.g. a tmpfile the code under test wrote) into a
 * malloc'd NUL-terminated string. Caller frees. */
char *tu_slurp(FILE *f);

/* A fresh temporary directory (mkdtemp under $TMPDIR or /tmp); caller frees
 * the path and may remove the tree with tu_rmtree(). */
char *tu_tmpdir(void);
void tu_rmtree(const char *path);

/* Write `content` to dir/name; returns the malloc'd full path. */
char *tu_write_file(const char *dir, const char *name, const char *content);

#endif
