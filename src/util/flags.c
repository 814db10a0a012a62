/*
 * flags.c - command-line and environment option parsing (see flags.h).
 */
#include "util/flags.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *pb_flags_env_name(const char *env_prefix, const char *name, char *buf, size_t n)
{
    size_t len = 0;
    if (n == 0)
        return buf;
    for (const char *p = env_prefix ? env_prefix : ""; *p && len + 1 < n; p++)
        buf[len++] = *p;
    for (const char *p = name; *p && len + 1 < n; p++)
        buf[len++] = *p == '-' ? '_' : (char)toupper((unsigned char)*p);
    buf[len] = '\0';
    return buf;
}

static int parse_bool(const char *s, int *out)
{
    static const char *const t[] = {"1", "t", "T", "true", "TRUE", "True"};
    static const char *const f[] = {"0", "f", "F", "false", "FALSE", "False"};
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        if (strcmp(s, t[i]) == 0) {
            *out = 1;
            return 0;
        }
        if (strcmp(s, f[i]) == 0) {
            *out = 0;
            return 0;
        }
    }
    return -1;
}

/* Store the text value into the flag's target. `source` names where the
 * value came from for the error message ("" or " (env PAYBILL_X)"). */
static int set_value(const pb_flag *f, const char *val, const char *source, pb_err *err)
{
    const char *why = NULL;
    char *end;
    switch (f->type) {
    case PB_FLAG_STRING:
        *(const char **)f->target = val;
        return 0;
    case PB_FLAG_BOOL:
        if (parse_bool(val, (int *)f->target))
            why = "not a boolean (use true or false)";
        break;
    case PB_FLAG_INT: {
        errno = 0;
        long v = strtol(val, &end, 10);
        if (!*val || *end || isspace((unsigned char)*val))
            why = "not an integer";
        else if (errno || v < INT_MIN || v > INT_MAX)
            why = "out of range";
        else
            *(int *)f->target = (int)v;
        break;
    }
    case PB_FLAG_DOUBLE: {
        errno = 0;
        double v = strtod(val, &end);
        if (!*val || *end || isspace((unsigned char)*val) || errno || !isfinite(v))
            why = "not a number";
        else
            *(double *)f->target = v;
        break;
    }
    case PB_FLAG_DURATION: {
        pb_duration d;
        if (pb_time_parse_duration(val, &d, NULL))
            why = "not a duration (like 30s, 1m30s, 500ms)";
        else
            *(pb_duration *)f->target = d;
        break;
    }
    }
    if (why)
        return pb_err_set(err, PB_EINVAL, "invalid value \"%s\" for --%s%s: %s", val, f->name,
                          source, why);
    return 0;
}

static const pb_flag *lookup(const pb_flag *flags, size_t n, const char *name, size_t len)
{
    for (size_t i = 0; i < n; i++)
        if (strlen(flags[i].name) == len && strncmp(flags[i].name, name, len) == 0)
            return &flags[i];
    return NULL;
}

/* Edit distance, for "did you mean" (names are short, so O(n*m) is fine). */
static size_t distance(const char *a, size_t la, const char *b)
{
    size_t lb = strlen(b);
    if (la > 64 || lb > 64)
        return SIZE_MAX;
    size_t row[65];
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t best = diag + (a[i - 1] != b[j - 1]);
            if (row[j] + 1 < best)
                best = row[j] + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

static int unknown_flag(const pb_flag *flags, size_t n, const char *name, size_t len, pb_err *err)
{
    const pb_flag *best = NULL;
    size_t best_d = 3; /* suggest only close matches */
    for (size_t i = 0; i < n; i++) {
        size_t d = distance(name, len, flags[i].name);
        if (d < best_d) {
            best_d = d;
            best = &flags[i];
        }
    }
    if (best)
        return pb_err_set(err, PB_EINVAL, "unknown flag --%.*s (did you mean --%s? see --help)",
                          (int)len, name, best->name);
    return pb_err_set(err, PB_EINVAL, "unknown flag --%.*s (see --help)", (int)len, name);
}

/* Environment values for the flags the command line does not set. */
static int apply_env(const pb_flag *flags, size_t n, const char *env_prefix, const char *seen,
                     pb_err *err)
{
    for (size_t i = 0; i < n; i++) {
        if (flags[i].no_env || seen[i])
            continue;
        char var[128], source[160];
        pb_flags_env_name(env_prefix, flags[i].name, var, sizeof var);
        const char *val = getenv(var);
        if (!val)
            continue;
        snprintf(source, sizeof source, " (env %s)", var);
        int rc = set_value(&flags[i], val, source, err);
        if (rc)
            return rc;
    }
    return 0;
}

/* Split argv into (flag, value) pairs without applying them, so the
 * environment can be consulted only for flags the command line leaves
 * unset: a bad environment value is no error when a flag overrides it. */
static int scan_args(const pb_flag *flags, size_t n, int argc, char **argv, const pb_flag **fs,
                     const char **vals, size_t *count, int *argi, pb_err *err)
{
    int i = 1;
    *count = 0;
    while (i < argc) {
        const char *arg = argv[i];
        if (strcmp(arg, "--") == 0) {
            i++;
            break;
        }
        if (strcmp(arg, "-h") == 0 && lookup(flags, n, "help", 4))
            arg = "--help";
        if (arg[0] != '-')
            break; /* first positional argument */
        if (arg[1] != '-' || arg[2] == '\0' || arg[2] == '-' || arg[2] == '=')
            return pb_err_set(err, PB_EINVAL,
                              "bad flag syntax \"%s\" (flags look like --name or --name=value; see --help)",
                              arg);

        const char *name = arg + 2;
        const char *eq = strchr(name, '=');
        size_t len = eq ? (size_t)(eq - name) : strlen(name);
        const pb_flag *f = lookup(flags, n, name, len);
        if (!f)
            return unknown_flag(flags, n, name, len, err);

        const char *val;
        if (eq)
            val = eq + 1;
        else if (f->type == PB_FLAG_BOOL)
            val = "true";
        else if (i + 1 < argc && strncmp(argv[i + 1], "--", 2) != 0)
            val = argv[++i];
        else
            return pb_err_set(err, PB_EINVAL, "flag --%s needs a value (see --help)", f->name);
        fs[*count] = f;
        vals[(*count)++] = val;
        i++;
    }
    *argi = i;
    return 0;
}

int pb_flags_parse(const pb_flag *flags, size_t n, const char *env_prefix, int argc,
                   char **argv, int *argi, pb_err *err)
{
    size_t slots = argc > 0 ? (size_t)argc : 1, count = 0;
    const pb_flag **fs = calloc(slots, sizeof *fs);
    const char **vals = calloc(slots, sizeof *vals);
    char *seen = calloc(n + 1, 1);
    int first_arg = argc, rc;
    if (!fs || !vals || !seen) {
        rc = pb_err_set(err, PB_ENOMEM, "out of memory");
        goto out;
    }
    rc = scan_args(flags, n, argc, argv, fs, vals, &count, &first_arg, err);
    for (size_t k = 0; !rc && k < count; k++)
        seen[fs[k] - flags] = 1;
    if (!rc && env_prefix)
        rc = apply_env(flags, n, env_prefix, seen, err);
    for (size_t k = 0; !rc && k < count; k++)
        rc = set_value(fs[k], vals[k], "", err);
    if (!rc && argi)
        *argi = first_arg;
out:
    free(fs);
    free(vals);
    free(seen);
    return rc;
}

static void default_text(const pb_flag *f, char *buf, size_t n)
{
    buf[0] = '\0';
    switch (f->type) {
    case PB_FLAG_STRING: {
        const char *s = *(const char **)f->target;
        if (s && *s)
            snprintf(buf, n, "\"%s\"", s);
        break;
    }
    case PB_FLAG_BOOL:
        if (*(int *)f->target)
            snprintf(buf, n, "true");
        break;
    case PB_FLAG_INT:
        snprintf(buf, n, "%d", *(int *)f->target);
        break;
    case PB_FLAG_DOUBLE:
        snprintf(buf, n, "%g", *(double *)f->target);
        break;
    case PB_FLAG_DURATION:
        pb_time_format_duration(*(pb_duration *)f->target, buf, n);
        break;
    }
}

char *pb_flags_help(const pb_flag *flags, size_t n, const char *env_prefix)
{
    static const char *const type_names[] = {"string", "", "int", "float", "duration"};
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    if (!f)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        const pb_flag *fl = &flags[i];
        char head[96], def[96], var[128];
        const char *meta = fl->metavar ? fl->metavar : type_names[fl->type];
        snprintf(head, sizeof head, "--%s%s%s", fl->name, *meta ? " " : "", meta);
        default_text(fl, def, sizeof def);
        fprintf(f, "  %-30s %s", head, fl->usage ? fl->usage : "");
        if (def[0])
            fprintf(f, " (default %s)", def);
        if (env_prefix && !fl->no_env)
            fprintf(f, " [$%s]", pb_flags_env_name(env_prefix, fl->name, var, sizeof var));
        fputc('\n', f);
    }
    if (fclose(f) != 0) {
        free(out);
        return NULL;
    }
    return out;
}
