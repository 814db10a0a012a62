/*
 * pgtest.h - start and stop a throwaway PostgreSQL server for unit tests.
 *
 * Header-only on purpose (static helpers): only the provision tests need it.
 *
 *     static pgtest_server srv;
 *     static int setup(void **st) { return pgtest_start(&srv); }
 *     (pgtest_start_with(&srv, "-c max_connections=10") adds settings)
 *     static int teardown(void **st) { pgtest_stop(&srv); return 0; }
 *     ... connect with srv.conninfo (superuser "postgres", trust over the
 *     unix socket) or as any role with a password over TCP on
 *     127.0.0.1:srv.port (scram-sha-256).
 *
 * The binaries come from /usr/local/bin (what CI images link there), else
 * the newest /usr/lib/postgresql/N/bin, else PATH. PostgreSQL refuses to run
 * as root, so as root every server command runs through
 * `runuser -u paybill` (the user hack/deps.sh creates) in a temp dir owned
 * by that user. The server listens on 127.0.0.1 on a free ephemeral port
 * and on a unix socket inside its temp dir, with fsync off.
 *
 * A watchdog child waits on a pipe whose only write end is this process:
 * however the test process ends (normal exit, failed assertion, sanitizer
 * abort) the pipe closes, and the watchdog stops the server and removes the
 * temp dir. pgtest_stop() just closes the pipe and waits for it.
 *
 * A missing PostgreSQL or user is a loud failure, never a silent skip.
 */
#ifndef PAYBILL_PGTEST_H
#define PAYBILL_PGTEST_H

#include <arpa/inet.h>
#include <fcntl.h>
#include <glob.h>
#include <limits.h>
#include <netinet/in.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util/log.h"

#define PGTEST_FN static __attribute__((unused))
#define PGTEST_USER "paybill"

typedef struct pgtest_server {
    char dir[64];         /* temp dir: data/, log, socket */
    char bindir[256];
    int port;
    char conninfo[256];   /* superuser over the unix socket */
    int watchdog_fd;      /* write end; closing it stops the server */
    pid_t watchdog_pid;
} pgtest_server;

/* Copy a string that must fit; -1 when it does not. */
PGTEST_FN int pgtest_copy(char *out, size_t n, const char *s)
{
    size_t len = strlen(s);
    if (len >= n)
        return -1;
    memcpy(out, s, len + 1);
    return 0;
}

/* Find a directory holding initdb, pg_ctl, postgres and pg_dump. */
PGTEST_FN int pgtest_find_bindir(char *out, size_t n)
{
    char real[PATH_MAX];
    if (realpath("/usr/local/bin/initdb", real)) {
        *strrchr(real, '/') = '\0';
        return pgtest_copy(out, n, real);
    }
    glob_t g;
    if (glob("/usr/lib/postgresql/*/bin/initdb", 0, NULL, &g) == 0 && g.gl_pathc > 0) {
        /* glob sorts lexically: the last is the newest of same-width majors. */
        int rc = pgtest_copy(out, n, g.gl_pathv[g.gl_pathc - 1]);
        globfree(&g);
        if (rc == 0)
            *strrchr(out, '/') = '\0';
        return rc;
    }
    FILE *f = popen("command -v initdb 2>/dev/null", "r");
    if (f) {
        char line[PATH_MAX] = "";
        int ok = fgets(line, sizeof line, f) != NULL;
        pclose(f);
        if (ok && line[0] == '/' && realpath(strtok(line, "\n"), real)) {
            *strrchr(real, '/') = '\0';
            return pgtest_copy(out, n, real);
        }
    }
    return -1;
}

/* Run a shell command, as the unprivileged user when we are root. */
PGTEST_FN int pgtest_sh(const char *cmd)
{
    char full[8192];
    if (geteuid() == 0)
        snprintf(full, sizeof full, "runuser -u " PGTEST_USER " -- sh -c '%s'", cmd);
    else
        snprintf(full, sizeof full, "%s", cmd);
    int st = system(full);
    return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

PGTEST_FN int pgtest_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    int port = -1;
    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}

/* Full path of a PostgreSQL client tool (pg_dump...) next to the server. */
PGTEST_FN void pgtest_tool(const pgtest_server *s, const char *tool, char *out, size_t n)
{
    snprintf(out, n, "%s/%s", s->bindir, tool);
}

PGTEST_FN void pgtest_print_log(const pgtest_server *s)
{
    char cmd[256];
    snprintf(cmd, sizeof cmd, "tail -n 30 %s/log >&2", s->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "pgtest: no server log\n");
}

PGTEST_FN int pgtest_start_watchdog(pgtest_server *s)
{
    char stop[2048];
    snprintf(stop, sizeof stop, "%s%s/pg_ctl -D %s/data -m immediate -w stop%s >/dev/null 2>&1; rm -rf %s",
             geteuid() == 0 ? "runuser -u " PGTEST_USER " -- " : "", s->bindir, s->dir, "", s->dir);
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0)
        return -1;
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        close(fds[1]);
        int devnull = open("/dev/null", O_RDWR);
        dup2(devnull, 1);
        dup2(devnull, 2);
        char c;
        while (read(fds[0], &c, 1) > 0) {
        }
        execl("/bin/sh", "sh", "-c", stop, (char *)NULL);
        _exit(127);
    }
    close(fds[0]);
    s->watchdog_fd = fds[1];
    s->watchdog_pid = pid;
    return 0;
}

/* Start a server; 0 on success. On failure prints why and returns -1.
 * `options`: extra server settings appended to the defaults (later ones
 * win), e.g. "-c max_connections=10"; NULL for none. */
PGTEST_FN int pgtest_start_with(pgtest_server *s, const char *options)
{
    memset(s, 0, sizeof *s);
    s->watchdog_fd = -1;
    if (pgtest_find_bindir(s->bindir, sizeof s->bindir) != 0) {
        fprintf(stderr, "pgtest: PostgreSQL server binaries not found (need initdb/pg_ctl in "
                        "/usr/local/bin, /usr/lib/postgresql/*/bin or PATH; run hack/deps.sh)\n");
        return -1;
    }
    struct passwd *pw = NULL;
    if (geteuid() == 0 && !(pw = getpwnam(PGTEST_USER))) {
        fprintf(stderr, "pgtest: running as root needs the user '" PGTEST_USER
                        "' to run PostgreSQL (run hack/deps.sh)\n");
        return -1;
    }
    snprintf(s->dir, sizeof s->dir, "/tmp/pbpg-XXXXXX");
    if (!mkdtemp(s->dir)) {
        perror("pgtest: mkdtemp");
        return -1;
    }
    if (pw && chown(s->dir, pw->pw_uid, pw->pw_gid) != 0) {
        perror("pgtest: chown");
        return -1;
    }
    if (pgtest_start_watchdog(s) != 0) {
        perror("pgtest: watchdog");
        return -1;
    }
    char cmd[4096];
    snprintf(cmd, sizeof cmd,
             "%s/initdb -D %s/data -U postgres --auth-local=trust --auth-host=scram-sha-256 "
             "-E UTF8 --locale=C --no-sync >%s/initdb.log 2>&1",
             s->bindir, s->dir, s->dir);
    if (pgtest_sh(cmd) != 0) {
        fprintf(stderr, "pgtest: initdb failed:\n");
        snprintf(cmd, sizeof cmd, "tail -n 20 %s/initdb.log >&2", s->dir);
        if (system(cmd) != 0)
            fprintf(stderr, "(no initdb log)\n");
        return -1;
    }
    /* The port can be taken between probing and binding: retry a few. */
    for (int attempt = 0; attempt < 3; attempt++) {
        s->port = pgtest_free_port();
        snprintf(cmd, sizeof cmd,
                 "%s/pg_ctl -D %s/data -l %s/log -w -t 30 -o \"-p %d -c listen_addresses=127.0.0.1 "
                 "-c unix_socket_directories=%s -c fsync=off -c synchronous_commit=off "
                 "-c full_page_writes=off -c max_connections=60 -c shared_buffers=16MB %s\" start "
                 ">/dev/null 2>&1",
                 s->bindir, s->dir, s->dir, s->port, s->dir, options ? options : "");
        if (pgtest_sh(cmd) == 0) {
            snprintf(s->conninfo, sizeof s->conninfo, "host=%s port=%d user=postgres dbname=postgres",
                     s->dir, s->port);
            return 0;
        }
    }
    fprintf(stderr, "pgtest: pg_ctl start failed:\n");
    pgtest_print_log(s);
    return -1;
}

PGTEST_FN int pgtest_start(pgtest_server *s) { return pgtest_start_with(s, NULL); }

/* The postmaster's pid (its data dir's postmaster.pid), or -1. */
PGTEST_FN pid_t pgtest_postmaster_pid(const pgtest_server *s)
{
    char path[sizeof s->dir + 32];
    snprintf(path, sizeof path, "%s/data/postmaster.pid", s->dir);
    FILE *f = fopen(path, "r");
    long pid = -1;
    if (!f || fscanf(f, "%ld", &pid) != 1)
        pid = -1;
    if (f)
        fclose(f);
    return (pid_t)pid;
}

/* Stop the server and remove its directory (via the watchdog). */
PGTEST_FN void pgtest_stop(pgtest_server *s)
{
    if (s->watchdog_fd >= 0) {
        close(s->watchdog_fd);
        s->watchdog_fd = -1;
        int st;
        waitpid(s->watchdog_pid, &st, 0);
    }
}

/* The fixture of a test group that needs one server and nothing else:
 *     cmocka_run_group_tests(tests, pgtest_group_setup, pgtest_group_teardown)
 * with the server in pgtest_srv and warnings-only logs. */
static __attribute__((unused)) pgtest_server pgtest_srv;

PGTEST_FN int pgtest_group_setup(void **state)
{
    (void)state;
    pb_log_configure(PB_LOG_WARN, PB_LOG_TEXT, NULL);
    return pgtest_start(&pgtest_srv);
}

PGTEST_FN int pgtest_group_teardown(void **state)
{
    (void)state;
    pgtest_stop(&pgtest_srv);
    return 0;
}

#endif
