/*
 * audit_cmd.c - `paybill-operator audit-verify --tenant NAME`: checks a
 * tenant's hash-chained agent audit trail (provision/agentexec.h) and
 * reports the first broken link. An offline tool for auditors: it talks to
 * PostgreSQL only, with the admin conninfo from PAYBILL_ADMIN_CONNINFO (or
 * --conninfo; the environment keeps the password off the command line).
 *
 * Exit status: 0 intact, 1 broken (or unreadable), 2 usage.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "controllers/operator_main.h"
#include "provision/agentexec.h"
#include "provision/tenantdb.h"

int operator_audit_verify(int argc, char **argv)
{
    const char *tenant = NULL, *conninfo = getenv("PAYBILL_ADMIN_CONNINFO"), *server = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--tenant") && i + 1 < argc)
            tenant = argv[++i];
        else if (!strcmp(argv[i], "--conninfo") && i + 1 < argc)
            conninfo = argv[++i];
        else if (!strcmp(argv[i], "--server-name") && i + 1 < argc)
            server = argv[++i];
        else {
            fprintf(stderr, "usage: paybill-operator audit-verify --tenant NAME [--conninfo CONNINFO] "
                            "[--server-name NAME]\n  (conninfo default: $PAYBILL_ADMIN_CONNINFO)\n");
            return 2;
        }
    }
    if (!tenant || !conninfo) {
        fprintf(stderr, "paybill-operator audit-verify: --tenant and an admin conninfo are required\n");
        return 2;
    }
    char id[64];
    snprintf(id, sizeof id, "%s", tenant);
    for (char *p = id; *p; p++)
        if (*p == '-')
            *p = '_';
    pb_err e;
    pb_err_clear(&e);
    pb_tdb *t = NULL;
    pb_tdb_config cfg = {.admin_conninfo = conninfo, .server_name = server};
    /* pb_tdb_new converges the shared bookkeeping (idempotent DDL), which
     * can collide with a running operator doing the same: retry briefly. */
    int rc0 = -1;
    for (int attempt = 0; attempt < 5 && rc0 != 0; attempt++) {
        if (attempt) {
            struct timespec d = {0, 300000000};
            nanosleep(&d, NULL);
        }
        pb_err_clear(&e);
        rc0 = pb_tdb_new(&cfg, &t, &e);
    }
    if (rc0 != 0) {
        fprintf(stderr, "paybill-operator audit-verify: %s\n", e.msg);
        return 1;
    }
    long long records = 0;
    int rc = pb_ax_verify(t, id, &records, &e);
    if (rc == 0)
        printf("audit chain of tenant %s: %lld records, intact\n", tenant, records);
    else
        printf("audit chain of tenant %s: BROKEN: %s\n", tenant, e.msg);
    pb_tdb_free(t);
    return rc == 0 ? 0 : 1;
}
