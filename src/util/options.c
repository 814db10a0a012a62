/*
 * options.c - the operator's option table, validation and help (see options.h).
 *
 * The flag parser fills a scratch struct of borrowed strings (pointers into
 * argv or the environment); once everything is parsed and valid the strings
 * are copied into the caller's pb_options, which then owns them.
 */
#include "util/options.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/flags.h"

/* Borrowed-string view filled by the flag parser. */
typedef struct {
    const char *kubeconfig, *context, *namespace_name, *log_level, *log_format;
    const char *metrics_addr, *health_addr, *webhook_addr, *leader_elect_namespace, *config;
    const char *webhook_certs;
    int leader_elect, workers, burst, http2, version, help;
    pb_duration lease_duration, renew_deadline, retry_period;
    double qps;
} raw_options;

static void raw_defaults(raw_options *r)
{
    memset(r, 0, sizeof *r);
    r->namespace_name = "paybill-system";
    r->log_level = "info";
    r->log_format = "json";
    r->metrics_addr = "127.0.0.1:8080";
    r->health_addr = "127.0.0.1:8081";
    r->webhook_addr = "127.0.0.1:9443";
    r->webhook_certs = "self";
    r->lease_duration = 15 * PB_SECOND;
    r->renew_deadline = 10 * PB_SECOND;
    r->retry_period = 2 * PB_SECOND;
    r->workers = 2;
    r->qps = 20;
    r->burst = 30;
}

#define NFLAGS 21

static void flag_table(raw_options *r, pb_flag t[NFLAGS])
{
    const pb_flag flags[NFLAGS] = {
        {"kubeconfig", PB_FLAG_STRING, &r->kubeconfig, "PATH",
         "kubeconfig file (else $KUBECONFIG, in-cluster, ~/.kube/config)", 0},
        {"context", PB_FLAG_STRING, &r->context, "NAME", "kubeconfig context to use", 0},
        {"namespace", PB_FLAG_STRING, &r->namespace_name, "NS", "the operator's system namespace", 0},
        {"log-level", PB_FLAG_STRING, &r->log_level, "LEVEL", "debug, info, warn or error", 0},
        {"log-format", PB_FLAG_STRING, &r->log_format, "FORMAT", "json or text", 0},
        {"metrics-addr", PB_FLAG_STRING, &r->metrics_addr, "ADDR",
         "host:port serving /metrics, or 0 to disable", 0},
        {"health-addr", PB_FLAG_STRING, &r->health_addr, "ADDR",
         "host:port serving /healthz and /readyz, or 0 to disable", 0},
        {"webhook-addr", PB_FLAG_STRING, &r->webhook_addr, "ADDR",
         "host:port serving the admission webhooks (HTTPS), or 0 to disable", 0},
        {"webhook-certs", PB_FLAG_STRING, &r->webhook_certs, "MODE",
         "self (make and rotate the serving certificate) or external (cert-manager: only read it)", 0},
        {"leader-elect", PB_FLAG_BOOL, &r->leader_elect, NULL,
         "run leader election on a Lease so one replica is active", 0},
        {"leader-elect-namespace", PB_FLAG_STRING, &r->leader_elect_namespace, "NS",
         "namespace of the Lease (default: --namespace)", 0},
        {"lease-duration", PB_FLAG_DURATION, &r->lease_duration, NULL,
         "how long a Lease is valid without renewal", 0},
        {"renew-deadline", PB_FLAG_DURATION, &r->renew_deadline, NULL,
         "how long the leader keeps trying to renew before giving up", 0},
        {"retry-period", PB_FLAG_DURATION, &r->retry_period, NULL,
         "interval between leader-election attempts", 0},
        {"workers", PB_FLAG_INT, &r->workers, "N", "concurrent reconciles per controller", 0},
        {"qps", PB_FLAG_DOUBLE, &r->qps, NULL, "API server requests per second", 0},
        {"burst", PB_FLAG_INT, &r->burst, "N", "API server request burst", 0},
        {"http2", PB_FLAG_BOOL, &r->http2, NULL,
         "talk HTTP/2 to the API server (one multiplexed connection) instead of HTTP/1.1 keep-alive "
         "connections, which cost both sides less CPU",
         0},
        {"config", PB_FLAG_STRING, &r->config, "PATH", "operator config file (YAML)", 0},
        {"version", PB_FLAG_BOOL, &r->version, NULL, "print the version and exit", 1},
        {"help", PB_FLAG_BOOL, &r->help, NULL, "print this help and exit", 1},
    };
    memcpy(t, flags, sizeof flags);
}

int pb_options_check_addr(const char *what, const char *addr, pb_err *err)
{
    const char *colon = addr ? strrchr(addr, ':') : NULL;
    if (!colon)
        return pb_err_set(err, PB_EINVAL, "invalid %s \"%s\": want host:port", what,
                          addr ? addr : "");
    if (addr[0] == '[' && (colon == addr || colon[-1] != ']'))
        return pb_err_set(err, PB_EINVAL, "invalid %s \"%s\": bad IPv6 literal", what, addr);
    if (addr[0] != '[' && memchr(addr, ':', (size_t)(colon - addr)))
        return pb_err_set(err, PB_EINVAL, "invalid %s \"%s\": put IPv6 hosts in brackets", what, addr);
    const char *p = colon + 1;
    long port = 0;
    if (!*p || strlen(p) > 5)
        return pb_err_set(err, PB_EINVAL, "invalid %s \"%s\": bad port", what, addr);
    for (; *p; p++) {
        if (*p < '0' || *p > '9')
            return pb_err_set(err, PB_EINVAL, "invalid %s \"%s\": bad port", what, addr);
        port = port * 10 + (*p - '0');
    }
    if (port > 65535)
        return pb_err_set(err, PB_EINVAL, "invalid %s \"%s\": port out of range", what, addr);
    return 0;
}

static int validate(const raw_options *r, pb_log_level *lvl, pb_log_format *fmt, pb_err *err)
{
    int rc;
    if (pb_log_parse_level(r->log_level, lvl))
        return pb_err_set(err, PB_EINVAL, "invalid --log-level \"%s\": want debug, info, warn or error",
                          r->log_level);
    if (pb_log_parse_format(r->log_format, fmt))
        return pb_err_set(err, PB_EINVAL, "invalid --log-format \"%s\": want json or text",
                          r->log_format);
    if (strcmp(r->metrics_addr, "0") != 0 &&
        (rc = pb_options_check_addr("--metrics-addr", r->metrics_addr, err)))
        return rc;
    if (strcmp(r->health_addr, "0") != 0 &&
        (rc = pb_options_check_addr("--health-addr", r->health_addr, err)))
        return rc;
    if (strcmp(r->webhook_addr, "0") != 0 &&
        (rc = pb_options_check_addr("--webhook-addr", r->webhook_addr, err)))
        return rc;
    if (strcmp(r->webhook_certs, "self") != 0 && strcmp(r->webhook_certs, "external") != 0)
        return pb_err_set(err, PB_EINVAL, "invalid --webhook-certs \"%s\": want self or external",
                          r->webhook_certs);
    if (!r->namespace_name[0])
        return pb_err_set(err, PB_EINVAL, "--namespace must not be empty");
    if (r->workers < 1)
        return pb_err_set(err, PB_EINVAL, "--workers must be at least 1 (got %d)", r->workers);
    if (!(r->qps > 0))
        return pb_err_set(err, PB_EINVAL, "--qps must be positive (got %g)", r->qps);
    if (r->burst < 1)
        return pb_err_set(err, PB_EINVAL, "--burst must be at least 1 (got %d)", r->burst);
    /* client-go's leader-election rules: lease > renew > 1.2 * retry > 0 */
    if (r->retry_period <= 0 || r->renew_deadline <= 0 || r->lease_duration <= 0)
        return pb_err_set(err, PB_EINVAL, "leader-election durations must be positive");
    if (r->lease_duration <= r->renew_deadline)
        return pb_err_set(err, PB_EINVAL, "--lease-duration must be greater than --renew-deadline");
    if ((double)r->renew_deadline <= 1.2 * (double)r->retry_period)
        return pb_err_set(err, PB_EINVAL, "--renew-deadline must be greater than 1.2 x --retry-period");
    return 0;
}

static int dup_opt(char **dst, const char *src)
{
    *dst = NULL;
    if (!src)
        return 0;
    *dst = strdup(src);
    return *dst ? 0 : -1;
}

/* Copy the raw view into the caller's struct (strings duplicated). */
static int commit(const raw_options *r, pb_log_level lvl, pb_log_format fmt, pb_options *o,
                  pb_err *err)
{
    memset(o, 0, sizeof *o);
    const char *lens = r->leader_elect_namespace && *r->leader_elect_namespace
                           ? r->leader_elect_namespace
                           : r->namespace_name;
    /* An empty --kubeconfig= or --context= means "not set". */
    if (dup_opt(&o->kubeconfig, r->kubeconfig && *r->kubeconfig ? r->kubeconfig : NULL) ||
        dup_opt(&o->context, r->context && *r->context ? r->context : NULL) ||
        dup_opt(&o->namespace_name, r->namespace_name) ||
        dup_opt(&o->metrics_addr, r->metrics_addr) || dup_opt(&o->health_addr, r->health_addr) ||
        dup_opt(&o->webhook_addr, r->webhook_addr) ||
        dup_opt(&o->leader_elect_namespace, lens) ||
        dup_opt(&o->config, r->config && *r->config ? r->config : NULL)) {
        pb_options_free(o);
        return pb_err_set(err, PB_ENOMEM, "out of memory");
    }
    o->log_level = lvl;
    o->log_format = fmt;
    o->leader_elect = r->leader_elect;
    o->webhook_certs_external = strcmp(r->webhook_certs, "external") == 0;
    o->lease_duration = r->lease_duration;
    o->renew_deadline = r->renew_deadline;
    o->retry_period = r->retry_period;
    o->workers = r->workers;
    o->qps = r->qps;
    o->burst = r->burst;
    o->http2 = r->http2;
    o->version = r->version;
    o->help = r->help;
    return 0;
}

int pb_options_defaults(pb_options *o, pb_err *err)
{
    raw_options r;
    raw_defaults(&r);
    return commit(&r, PB_LOG_INFO, PB_LOG_JSON, o, err);
}

int pb_options_parse(int argc, char **argv, pb_options *out, pb_err *err)
{
    raw_options r;
    pb_flag table[NFLAGS];
    int argi;
    memset(out, 0, sizeof *out);
    raw_defaults(&r);
    flag_table(&r, table);
    int rc = pb_flags_parse(table, NFLAGS, PB_OPTIONS_ENV_PREFIX, argc, argv, &argi, err);
    if (rc)
        return rc;
    pb_log_level lvl = PB_LOG_INFO;
    pb_log_format fmt = PB_LOG_JSON;
    if (!r.help && !r.version) {
        if (argi < argc)
            return pb_err_set(err, PB_EINVAL, "unexpected argument \"%s\" (see --help)", argv[argi]);
        if ((rc = validate(&r, &lvl, &fmt, err)))
            return rc;
    }
    return commit(&r, lvl, fmt, out, err);
}

void pb_options_free(pb_options *o)
{
    if (!o)
        return;
    free(o->kubeconfig);
    free(o->context);
    free(o->namespace_name);
    free(o->metrics_addr);
    free(o->webhook_addr);
    free(o->health_addr);
    free(o->leader_elect_namespace);
    free(o->config);
    memset(o, 0, sizeof *o);
}

char *pb_options_usage(const char *prog)
{
    raw_options r;
    pb_flag table[NFLAGS];
    raw_defaults(&r);
    flag_table(&r, table);
    char *flags = pb_flags_help(table, NFLAGS, PB_OPTIONS_ENV_PREFIX);
    if (!flags)
        return NULL;
    char *out = NULL;
    if (asprintf(&out,
                 "Usage: %s [flags]\n\n"
                 "Paybill operator: reconciles Plans, Tenants, Subscriptions, AgentPolicies\n"
                 "and Workflows. Every flag can also be set with the environment variable\n"
                 "shown in brackets; the command line wins.\n\nFlags:\n%s",
                 prog ? prog : "paybill-operator", flags) < 0)
        out = NULL;
    free(flags);
    return out;
}
