/*
 * testutil.c - helpers for unit tests (see testutil.h).
 */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/timeutil.h"

char *tu_slurp(FILE *f)
{
    fflush(f);
    rewind(f);
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    size_t n;
    while ((n = fread(buf + len, 1, cap - len - 1, f)) > 0) {
        len += n;
        if (cap - len < 2) {
            cap *= 2;
            buf = realloc(buf, cap);
        }
    }
    buf[len] = '\0';
    return buf;
}

char *tu_tmpdir(void)
{
    const char *base = getenv("TMPDIR");
    char tmpl[4096];
    snprintf(tmpl, sizeof tmpl, "%s/paybill-test-XXXXXX", base && *base ? base : "/tmp");
    char *d = mkdtemp(tmpl);
    return d ? strdup(d) : NULL;
}

void tu_rmtree(const char *path)
{
    char cmd[4200];
    if (!path || strlen(path) < 8)
        return;
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", path);
    if (system(cmd) != 0)
        fprintf(stderr, "warning: could not remove %s\n", path);
}

char *tu_write_file(const char *dir, const char *name, const char *content)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    snprintf(p, n, "%s/%s", dir, name);
    FILE *f = fopen(p, "w");
    if (f) {
        fputs(content, f);
        fclose(f);
    }
    return p;
}

double tu_now(void)
{
    return pb_time_mono_s();
}

unsigned tu_rand(unsigned long long *state, unsigned n)
{
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    return (unsigned)(*state % n);
}

/* 0-11 pieces, each a byte or character JSON codecs treat unlike a letter. */
static size_t random_text(unsigned long long *st, char *s)
{
    static const char *const pieces[] = {"a", "Z", "0", ".", " ", "/", "\"", "\\", "\n", "\t", "\b", "\f", "\r",
                                         "\x01", "\x1f", "\x7f", "caf\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80",
                                         "</script>", "paybill.dev/plan"};
    size_t len = 0;
    for (unsigned k = tu_rand(st, 12); k > 0; k--) {
        const char *p = pieces[tu_rand(st, sizeof pieces / sizeof *pieces)];
        memcpy(s + len, p, strlen(p));
        len += strlen(p);
    }
    s[len] = '\0';
    return len;
}

json_t *tu_random_json(unsigned long long *st, int depth, int max_depth)
{
    char s[256];
    size_t n;
    switch (tu_rand(st, depth >= max_depth ? 7 : 10)) {
    case 0:
        n = random_text(st, s);
        return json_stringn(s, n);
    case 1: return json_integer((json_int_t)tu_rand(st, 4000000) - 2000000);
    case 2:
        return json_integer(tu_rand(st, 2) ? (json_int_t)9223372036854775807LL
                                           : (json_int_t)tu_rand(st, 92) * -100000000000000000LL);
    case 3: return json_real((double)tu_rand(st, 1000000) / (1 + tu_rand(st, 1000)) * (tu_rand(st, 2) ? 1e-9 : 1e12));
    case 4: return json_real((double)tu_rand(st, 100000) / 64.0 - 700.0);
    case 5: return json_boolean(tu_rand(st, 2));
    case 6: return json_null();
    case 7:
    case 8: {
        json_t *o = json_object();
        for (unsigned k = tu_rand(st, 7); k > 0; k--) {
            n = random_text(st, s);
            json_object_setn_new(o, s, n, tu_random_json(st, depth + 1, max_depth));
        }
        return o;
    }
    default: {
        json_t *a = json_array();
        for (unsigned k = tu_rand(st, 6); k > 0; k--)
            json_array_append_new(a, tu_random_json(st, depth + 1, max_depth));
        return a;
    }
    }
}
