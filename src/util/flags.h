/*
 * flags.h - a small table-driven command-line parser with environment
 * fallbacks, in the style of Go's pflag.
 *
 *     --name=value   --name value   --bool-flag   --bool-flag=false   --
 *
 * Every flag can also come from the environment as <prefix><UPPER_SNAKE>
 * (--leader-elect -> PAYBILL_LEADER_ELECT); a flag on the command line wins
 * over the environment (an environment value is not even parsed when the
 * command line sets that flag), and the environment over the default
 * (whatever the target holds before parsing). A boolean flag takes no
 * separate argument
 * ("--x false" is --x followed by the argument "false"), like pflag.
 *
 * Errors are PB_EINVAL with a message a user can act on, e.g.
 *   unknown flag --namespce (did you mean --namespace? see --help)
 *   flag --workers needs a value
 *   invalid value "abc" for --workers (env PAYBILL_WORKERS): not an integer
 *
 * String targets receive borrowed pointers into argv or the environment;
 * copy them if they must outlive those.
 */
#ifndef PAYBILL_UTIL_FLAGS_H
#define PAYBILL_UTIL_FLAGS_H

#include <stddef.h>

#include "util/err.h"
#include "util/timeutil.h"

typedef enum {
    PB_FLAG_STRING,   /* target: const char ** */
    PB_FLAG_BOOL,     /* target: int * (0 or 1) */
    PB_FLAG_INT,      /* target: int * */
    PB_FLAG_DOUBLE,   /* target: double * (finite) */
    PB_FLAG_DURATION, /* target: pb_duration * ("30s", "1h30m") */
} pb_flag_type;

typedef struct pb_flag {
    const char *name;    /* without dashes: "leader-elect" */
    pb_flag_type type;
    void *target;
    const char *metavar; /* for help: "PATH", "ADDR"; NULL = the type's name */
    const char *usage;   /* one line of help */
    int no_env;          /* 1: command line only (--help, --version) */
} pb_flag;

/* Apply environment values (if env_prefix != NULL), then argv[1..]. Parsing
 * stops at "--" or at the first argument that is not a flag; *argi gets the
 * index of the first positional argument (argc if none). "-h" is accepted as
 * "--help" when the table has a "help" flag. */
int pb_flags_parse(const pb_flag *flags, size_t n, const char *env_prefix, int argc,
                   char **argv, int *argi, pb_err *err);

/* Help text, one line per flag, with the current target values shown as
 * defaults (so call it on a freshly initialised table) and the environment
 * variable names. Returns a malloc'd string the caller frees, or NULL. */
char *pb_flags_help(const pb_flag *flags, size_t n, const char *env_prefix);

/* The environment variable for a flag: prefix + UPPER_SNAKE(name). Writes
 * into buf (size n) and returns it. */
char *pb_flags_env_name(const char *env_prefix, const char *name, char *buf, size_t n);

#endif
