/*
 * tenantdb_snapshot.c - pg_dump archives of a tenant's data for the
 * Snapshot deletion policy (see pb_tdb_delete in tenantdb.h).
 *
 * rls data is first copied into a schema-layout copy "snap_<id>" so the
 * archive restores like any schema tenant. pg_dump runs as the owner role
 * (--role) on a schema or database the guard has checked first: a dump never
 * executes anything of a tenant's with the admin's privileges. Archives hold
 * tenant data: they are created 0600 in a 0700 directory whatever the
 * umask.
 */
#include "provision/tenantdb.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "provision/pg.h"
#include "provision/tenantdb_int.h"
#include "util/log.h"
#include "util/proc.h"
#include "util/secret.h"
#include "util/timeutil.h"

extern char **environ;

void pb_tdb_snapshot_clear(pb_tdb_snapshot *s)
{
    if (!s)
        return;
    free(s->path);
    memset(s, 0, sizeof *s);
}

static int sha256_file(const char *path, char out[65], pb_err *e)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return pb_err_set(e, PB_EIO, "opening %s: %s", path, strerror(errno));
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    int rc = md && EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1 ? 0 : pb_err_set(e, PB_ENOMEM, "sha256 init");
    unsigned char buf[65536];
    size_t n;
    while (rc == 0 && (n = fread(buf, 1, sizeof buf, f)) > 0)
        EVP_DigestUpdate(md, buf, n);
    if (rc == 0 && ferror(f))
        rc = pb_err_set(e, PB_EIO, "reading %s", path);
    unsigned char d[32];
    unsigned int dl = 0;
    if (rc == 0 && EVP_DigestFinal_ex(md, d, &dl) == 1)
        for (unsigned i = 0; i < dl; i++)
            snprintf(out + 2 * i, 3, "%02x", d[i]);
    EVP_MD_CTX_free(md);
    fclose(f);
    return rc;
}

/* A new file only the operator's user can read or write, whatever the
 * umask: created exclusively (never through a link or over someone else's
 * file) with mode 0600. A leftover from a crashed run is replaced. */
static int private_file(const char *path, pb_err *e)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0 && errno == EEXIST && unlink(path) == 0)
        fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return pb_err_set(e, PB_EIO, "creating %s: %s", path, strerror(errno));
    return fd;
}

#define DUMP_GRACE_MS 5000 /* past the bulk statement timeout, as for our own statements */

/* Wait for pg_dump within the bulk statement timeout (plus grace; none
 * when that has no limit) and the shutdown's cutoff; past either it is
 * stopped (SIGTERM, SIGKILL 2 s later). A server that never answers would
 * otherwise hold the worker, and the shutdown, forever (pg_dump lifts
 * statement_timeout in its own session). */
static int wait_dump(pb_tdb *t, pid_t pid, int *status, pb_err *e)
{
    double deadline = t->move_timeout_ms > 0
                          ? pb_time_mono_s() + (t->move_timeout_ms + DUMP_GRACE_MS) / 1000.0
                          : 0;
    int rc = pb_proc_wait_child(pid, pid, deadline, t->cutoff, t->cutoff_ud, 2000, status, e);
    if (rc == PB_ECANCELED)
        return pb_err_set(e, rc, "pg_dump stopped: the shutdown deadline passed");
    if (rc == PB_ETIMEOUT)
        return pb_err_set(e, rc, "pg_dump stopped after %d ms (the bulk statement timeout and %d ms)",
                          t->move_timeout_ms + DUMP_GRACE_MS, DUMP_GRACE_MS);
    return rc;
}

/* pg_dump (custom format) of one database or one schema in it into `path`,
 * as the owner role (--role: the admin logs in, then every query runs as
 * the owner). The archive goes to a file this process created private
 * (pg_dump's own --file would follow the umask); its messages to a private
 * log next to it. The admin password, if any, goes through the
 * environment, never argv. */
static int run_pg_dump(pb_tdb *t, const char *db, const char *schema, const char *path, pb_err *e)
{
    char *ci = NULL, *pw = NULL, *pwenv = NULL;
    char logpath[4300];
    snprintf(logpath, sizeof logpath, "%s.log", path);
    int rc = pb_pg_pool_tool_conninfo(t->pool, db, &ci, &pw, e);
    if (rc)
        return rc;
    int out = private_file(path, e);
    int log = out >= 0 ? private_file(logpath, e) : -1;
    if (out < 0 || log < 0) {
        rc = out < 0 ? out : log;
        if (out >= 0)
            close(out);
        free(ci);
        if (pw)
            pb_secret_wipe(pw, strlen(pw));
        free(pw);
        return rc;
    }
    char *argv[14];
    int a = 0;
    argv[a++] = t->pg_dump;
    argv[a++] = "--format=custom";
    argv[a++] = "--no-owner";
    argv[a++] = "--no-privileges";
    argv[a++] = "--role=" TDB_OWNER_ROLE;
    if (schema) {
        argv[a++] = "--schema";
        argv[a++] = (char *)schema;
    }
    argv[a++] = "--dbname";
    argv[a++] = ci;
    argv[a] = NULL;

    size_t n_env = 0;
    while (environ[n_env])
        n_env++;
    char **envp = calloc(n_env + 2, sizeof *envp);
    size_t k = 0;
    for (size_t i = 0; envp && i < n_env; i++)
        if (strncmp(environ[i], "PGPASSWORD=", 11) != 0)
            envp[k++] = environ[i];
    if (envp && pw && (pwenv = malloc(strlen(pw) + 12)) != NULL) {
        sprintf(pwenv, "PGPASSWORD=%s", pw);
        envp[k++] = pwenv;
    }
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, out, 1);
    posix_spawn_file_actions_adddup2(&fa, log, 2);
    pid_t pid;
    int err = envp ? posix_spawnp(&pid, t->pg_dump, &fa, NULL, argv, envp) : ENOMEM;
    posix_spawn_file_actions_destroy(&fa);
    close(out);
    close(log);
    int status = 0;
    if (err)
        rc = pb_err_set(e, PB_EIO, "starting %s: %s", t->pg_dump, strerror(err));
    else if ((rc = wait_dump(t, pid, &status, e)) != 0)
        ; /* said */
    else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        char msg[512] = "";
        FILE *lf = fopen(logpath, "r");
        if (lf) {
            size_t got = fread(msg, 1, sizeof msg - 1, lf);
            msg[got] = '\0';
            fclose(lf);
        }
        char *nl = strchr(msg, '\n');
        if (nl)
            *nl = '\0';
        rc = pb_err_set(e, PB_EIO, "pg_dump failed (status %d): %s", status, msg);
    }
    unlink(logpath);
    if (pw)
        pb_secret_wipe(pw, strlen(pw));
    if (pwenv)
        pb_secret_wipe(pwenv, strlen(pwenv));
    free(pw);
    free(pwenv);
    free(ci);
    free(envp);
    return rc;
}

/* The snapshot directory, private to the operator's user: made 0700 (mkdir
 * takes the umask off, never adds to it), or tightened to 0700 when it is
 * there already with looser bits and is ours. One that is someone else's
 * is used as it is (the files in it are private anyway) with a warning. */
static int private_dir(const char *dir, pb_err *e)
{
    if (mkdir(dir, 0700) == 0)
        return 0;
    if (errno != EEXIST)
        return pb_err_set(e, PB_EIO, "creating %s: %s", dir, strerror(errno));
    struct stat st;
    if (stat(dir, &st) != 0)
        return pb_err_set(e, PB_EIO, "%s: %s", dir, strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return pb_err_set(e, PB_EIO, "%s is not a directory", dir);
    if ((st.st_mode & 077) == 0)
        return 0;
    if (st.st_uid == geteuid()) {
        if (chmod(dir, 0700) != 0)
            return pb_err_set(e, PB_EIO, "restricting %s to its owner: %s", dir, strerror(errno));
        pb_log_warn("snapshot directory was open to others: now 0700", "dir", dir, NULL);
        return 0;
    }
    pb_log_warn("snapshot directory is open to others and not the operator's to change; archives in it are "
                "still 0600",
                "dir", dir, NULL);
    return 0;
}

/* What pg_dump will read, checked beforehand (in a transaction on c, as
 * the owner role): nothing in the schema or tenant database that the owner
 * role did not make, and the model's tables its plain tables. The tenant
 * is locked out by then and can change nothing: the check holds for the
 * dump. */
static int check_dump(PGconn *c, const char *schema, int whole_db, const pb_dm_model *m, pb_err *e)
{
    int rc = pb_pg_begin(c, e);
    /* The bookkeeping of a tenant database is the admin's: readable by the
     * owner role so that it goes into the archive (databases made before
     * this was granted at creation). */
    if (rc == 0 && whole_db)
        rc = pb_pg_exec(c,
                        "GRANT USAGE ON SCHEMA paybill TO " TDB_OWNER_ROLE ";\n"
                        "GRANT SELECT ON paybill.migrations TO " TDB_OWNER_ROLE ";\n",
                        e);
    if (rc == 0)
        rc = tdb_act_as_owner(c, NULL, e);
    if (rc == 0)
        rc = whole_db ? tdb_guard_database(c, e) : tdb_guard_schema(c, schema, e);
    if (rc == 0)
        rc = tdb_guard_tables(c, schema, m, e);
    if (rc == 0)
        rc = pb_pg_commit(c, e);
    pb_pg_rollback(c);
    return rc;
}

/* For rls, a schema "snap_<id>" gets a schema-layout copy of the tenant's
 * rows (so the archive restores like any schema tenant), is dumped, and is
 * dropped again; the copy is made as the owner role, acting on that
 * tenant's rows. */
int tdb_snapshot(pb_tdb *t, const char *id, const tdb_row *row, const pb_dm_model *m, pb_tdb_snapshot *snap,
                 pb_err *e)
{
    char tmp[4200], stamp[32], snap_schema[TDB_NAME_MAX];
    if (!t->snapshot_dir)
        return pb_err_set(e, PB_EINVAL, "Snapshot needs a snapshot directory in the configuration");
    int rc = private_dir(t->snapshot_dir, e);
    if (rc)
        return rc;
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &tm);
    char path[4096];
    snprintf(path, sizeof path, "%s/%s-%s.dump", t->snapshot_dir, id, stamp);
    for (int i = 1; access(path, F_OK) == 0 && i < 100; i++)
        snprintf(path, sizeof path, "%s/%s-%s-%d.dump", t->snapshot_dir, id, stamp, i);
    snprintf(tmp, sizeof tmp, "%s.partial", path);
    snprintf(snap_schema, sizeof snap_schema, "snap_%s", id);

    if (row->layout == PB_DM_LAYOUT_RLS) {
        PGconn *c = NULL;
        char *ddl = NULL;
        pb_dm_target tg = {PB_DM_LAYOUT_SCHEMA, snap_schema};
        rc = pb_pg_pool_get(t->pool, t->shared_db, &c, e);
        if (rc == 0)
            rc = pb_pg_begin(c, e);
        if (rc == 0)
            rc = tdb_bulk_timeout(t, c, e);
        if (rc == 0)
            rc = pb_pg_execf(c, e,
                             "DROP SCHEMA IF EXISTS %I CASCADE; CREATE SCHEMA %I AUTHORIZATION " TDB_OWNER_ROLE,
                             snap_schema, snap_schema);
        if (rc == 0)
            rc = tdb_act_as_owner(c, id, e);
        if (rc == 0)
            rc = tdb_guard_tables(c, row->location, m, e);
        if (rc == 0)
            rc = pb_dm_render(NULL, m, &tg, 0, &ddl, e);
        if (rc == 0)
            rc = pb_pg_exec(c, ddl, e);
        for (size_t i = 0; rc == 0 && i < pb_dm_table_count(m); i++) {
            char *cols = tdb_column_list(c, m, i, e);
            rc = cols ? pb_pg_execf(c, e, "INSERT INTO %I.%I (%s) SELECT %s FROM %I.%I WHERE " PB_DM_TENANT_COLUMN " = %L",
                                    snap_schema, pb_dm_table_name(m, i), cols, cols, row->location,
                                    pb_dm_table_name(m, i), id)
                      : PB_ENOMEM;
            free(cols);
        }
        if (rc == 0)
            rc = pb_pg_commit(c, e);
        pb_pg_rollback(c);
        free(ddl);
        if (rc == 0)
            rc = run_pg_dump(t, t->shared_db, snap_schema, tmp, e);
        pb_err ignored;
        if (c)
            pb_pg_execf(c, &ignored, "DROP SCHEMA IF EXISTS %I CASCADE", snap_schema);
        tdb_put_conn(t, c);
    } else {
        int whole = row->layout == PB_DM_LAYOUT_DATABASE;
        PGconn *c = NULL;
        rc = pb_pg_pool_get(t->pool, tdb_data_db(t, row->layout, row->location), &c, e);
        if (rc == 0)
            rc = check_dump(c, tdb_data_schema(row->layout, row->location), whole, m, e);
        tdb_put_conn(t, c);
        if (rc == 0)
            rc = run_pg_dump(t, tdb_data_db(t, row->layout, row->location), whole ? NULL : row->location, tmp, e);
    }
    if (rc == 0)
        rc = sha256_file(tmp, snap->sha256, e);
    if (rc == 0 && rename(tmp, path) != 0)
        rc = pb_err_set(e, PB_EIO, "renaming %s: %s", tmp, strerror(errno));
    if (rc) {
        unlink(tmp);
        return pb_err_wrap(e, "snapshot");
    }
    if (!(snap->path = strdup(path)))
        return pb_err_set(e, PB_ENOMEM, "out of memory");
    return 0;
}
