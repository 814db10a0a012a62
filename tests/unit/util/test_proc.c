/* Unit tests for util/proc: after pb_proc_harden the process is not
 * dumpable and its core size limit is 0 (soft and hard), as the kernel
 * reports it in /proc/self/limits, and a crash leaves no core file. Each
 * case runs in a child so the test runner itself stays as it was. */
#include "testutil.h"

#include <dirent.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util/proc.h"

/* "Max core file size        0                    0                    bytes" */
static int limits_core_zero(void)
{
    FILE *f = fopen("/proc/self/limits", "r");
    char line[256], soft[32], hard[32];
    int ok = 0;
    if (!f)
        return 0;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "Max core file size", 18) == 0 &&
            sscanf(line + 18, "%31s %31s", soft, hard) == 2)
            ok = strcmp(soft, "0") == 0 && strcmp(hard, "0") == 0;
    fclose(f);
    return ok;
}

/* Run fn in a child; returns its wait status. */
static int in_child(int (*fn)(void))
{
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        _exit(fn());
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    return status;
}

static int harden_and_check(void)
{
    /* start from a permissive limit, as a shell with `ulimit -c unlimited` */
    struct rlimit rl;
    if (getrlimit(RLIMIT_CORE, &rl) != 0)
        return 10;
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_CORE, &rl);
    if (prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) != 1)
        return 11; /* a fresh process is dumpable: the check below means something */
    pb_err err;
    if (pb_proc_harden(&err) != 0) {
        fprintf(stderr, "pb_proc_harden: %s\n", err.msg);
        return 12;
    }
    if (prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) != 0)
        return 13;
    if (getrlimit(RLIMIT_CORE, &rl) != 0 || rl.rlim_cur != 0 || rl.rlim_max != 0)
        return 14;
    if (!limits_core_zero())
        return 15;
    return 0;
}

static void test_harden(void **state)
{
    int status = in_child(harden_and_check);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

static int harden_and_crash(void)
{
    struct rlimit rl;
    getrlimit(RLIMIT_CORE, &rl);
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_CORE, &rl);
    if (pb_proc_harden(NULL) != 0)
        return 20;
    signal(SIGABRT, SIG_DFL);
    raise(SIGABRT);
    return 21;
}

static void test_crash_leaves_no_core(void **state)
{
    /* core_pattern is often relative ("core"): crash inside a scratch dir */
    char *dir = tu_tmpdir(), cwd[4096];
    assert_non_null(getcwd(cwd, sizeof cwd));
    assert_int_equal(chdir(dir), 0);
    int status = in_child(harden_and_crash);
    assert_int_equal(chdir(cwd), 0);
    DIR *d = opendir(dir);
    struct dirent *e;
    int files = 0;
    while (d && (e = readdir(d)))
        files += e->d_name[0] != '.';
    if (d)
        closedir(d);
    tu_rmtree(dir); /* before asserting: a core of this process is tens of MB */
    free(dir);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGABRT);
    assert_false(WCOREDUMP(status));
    assert_int_equal(files, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_harden),
        cmocka_unit_test(test_crash_leaves_no_core),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
