/*
 * options.h - the operator's command-line options (built on flags.h).
 *
 * Every option also reads PAYBILL_<UPPER_SNAKE> from the environment; the
 * command line wins. Values are validated here (log level names, host:port
 * addresses, positive worker counts, leader-election timings) so main() can
 * trust the struct.
 *
 * Ownership: pb_options_parse fills a caller-provided struct whose strings
 * are malloc'd copies; release them with pb_options_free (also after a
 * failed parse). pb_options_usage returns a malloc'd string.
 */
#ifndef PAYBILL_UTIL_OPTIONS_H
#define PAYBILL_UTIL_OPTIONS_H

#include "util/err.h"
#include "util/log.h"
#include "util/timeutil.h"

#define PB_OPTIONS_ENV_PREFIX "PAYBILL_"

typedef struct pb_options {
    char *kubeconfig;             /* NULL: kubeconfig discovery (see kube/config.h) */
    char *context;                /* NULL: current-context */
    char *namespace_name;         /* system namespace, default "paybill-system" */
    pb_log_level log_level;       /* default info */
    pb_log_format log_format;     /* default json */
    char *metrics_addr;           /* default "127.0.0.1:8080"; "0" disables */
    char *health_addr;            /* default "127.0.0.1:8081"; "0" disables */
    char *webhook_addr;           /* admission webhooks (HTTPS), default
                                     "127.0.0.1:9443"; "0" disables */
    int webhook_certs_external;   /* --webhook-certs=external: the serving
                                     certificate's Secret is issued by
                                     someone else (cert-manager); default 0 */
    int leader_elect;             /* default 0 */
    char *leader_elect_namespace; /* default: namespace_name */
    pb_duration lease_duration;   /* default 15s */
    pb_duration renew_deadline;   /* default 10s */
    pb_duration retry_period;     /* default 2s */
    int workers;                  /* per controller, default 2 */
    double qps;                   /* API client rate limit, default 20 */
    int burst;                    /* default 30 */
    int http2;                    /* --http2: HTTP/2 to the API server; default
                                     0, HTTP/1.1 keep-alive (kube_client_options) */
    char *config;                 /* operator config file (YAML), NULL if none */
    int version;                  /* --version given: print it and exit */
    int help;                     /* --help given: print pb_options_usage and exit */
} pb_options;

/* Set every field to its default (strings are copies). */
int pb_options_defaults(pb_options *o, pb_err *err);

/* Defaults, then environment, then argv. Positional arguments are errors.
 * With --help or --version the corresponding field is set, validation is
 * skipped, and 0 is returned. */
int pb_options_parse(int argc, char **argv, pb_options *out, pb_err *err);

void pb_options_free(pb_options *o);

/* Usage text for --help (malloc'd, caller frees; NULL on allocation failure). */
char *pb_options_usage(const char *prog);

/* Check a "host:port" listen address (port 0-65535; host may be empty for
 * all interfaces, or a bracketed IPv6 literal). */
int pb_options_check_addr(const char *what, const char *addr, pb_err *err);

#endif
