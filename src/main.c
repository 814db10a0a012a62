/*
 * main.c - paybill-operator entry point.
 *
 * Hardens the process (no core dumps, not dumpable: its memory holds
 * tenants' passwords), parses flags (every flag also from a PAYBILL_*
 * environment variable), configures logging and hands over to the
 * operator's main job. Kept small: everything testable lives in the
 * libraries under src/.
 */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controllers/operator_main.h"
#include "util/log.h"
#include "util/options.h"
#include "util/proc.h"

#ifdef PAYBILL_MIMALLOC
#include <mimalloc.h>
#endif

int main(int argc, char **argv)
{
    pb_err err;
    pb_err_clear(&err);
    /* First, before any secret is read or any thread exists; fail closed:
     * an operator whose memory could end up in a core file must not run. */
    if (pb_proc_harden(&err) != 0) {
        pb_log_error("cannot harden the process: refusing to run", "error", err.msg, NULL);
        return 1;
    }
    /* glibc gives busy threads malloc arenas of their own (up to 8 per
     * core), and each keeps what its threads freed. With 4 arenas a
     * 10,000-tenant cold start peaks at 441-470 MB instead of 540-597 MB,
     * for a median 10 % longer start (malloc lock contention); 2 arenas
     * peak at 345 MB but cost 18-25 % more CPU. A peak sets the memory
     * limit a pod needs, a cold start is rare: 4 (bench/RESULTS-operator.md).
     * Set before any thread exists; MALLOC_ARENA_MAX still decides. */
#ifndef PAYBILL_MIMALLOC /* mimalloc (CMakeLists.txt) has no arenas to cap */
    if (!getenv("MALLOC_ARENA_MAX"))
        mallopt(M_ARENA_MAX, 4);
#endif
    if (argc > 1 && strcmp(argv[1], "audit-verify") == 0) {
        pb_log_configure(PB_LOG_WARN, PB_LOG_TEXT, NULL);
        return operator_audit_verify(argc - 1, argv + 1);
    }
    pb_options opts;
    if (pb_options_parse(argc, argv, &opts, &err) != 0) {
        fprintf(stderr, "paybill-operator: %s\n", err.msg);
        return 2;
    }
    if (opts.help || opts.version) {
        if (opts.help) {
            char *usage = pb_options_usage(argv[0]);
            fputs(usage, stdout);
            free(usage);
        } else {
            printf("paybill-operator %s\n", PAYBILL_VERSION);
        }
        pb_options_free(&opts);
        return 0;
    }
    pb_log_configure(opts.log_level, opts.log_format, NULL);
#ifdef PAYBILL_MIMALLOC
    char mi[16];
    snprintf(mi, sizeof mi, "%d", mi_version());
    pb_log_info("memory allocator", "name", "mimalloc", "version", mi, NULL);
#endif
    int rc = operator_run(&opts, &err);
    if (rc != 0)
        pb_log_error("operator failed", "error", err.msg, NULL);
    pb_options_free(&opts);
    return rc == 0 ? 0 : 1;
}
