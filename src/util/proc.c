/*
 * proc.c - process hardening at start-up, thread names, waiting for a
 * child (see proc.h).
 */
#include "util/proc.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "util/timeutil.h"

int pb_proc_harden(pb_err *err)
{
    /* The rlimit first: should prctl fail, a crash still writes no core. */
    struct rlimit none = {0, 0};
    if (setrlimit(RLIMIT_CORE, &none) != 0)
        return pb_err_set(err, PB_EIO, "setrlimit(RLIMIT_CORE, 0): %s", strerror(errno));
    if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0)
        return pb_err_set(err, PB_EIO, "prctl(PR_SET_DUMPABLE, 0): %s", strerror(errno));
    /* Read it back: a seccomp filter could make prctl "succeed" as a no-op. */
    int d = prctl(PR_GET_DUMPABLE, 0, 0, 0, 0);
    if (d != 0)
        return pb_err_set(err, PB_EIO, "process still dumpable after PR_SET_DUMPABLE 0 (%d)", d);
    return 0;
}

void pb_thread_name(const char *prefix, const char *name)
{
    char n[16]; /* the kernel's TASK_COMM_LEN, with the NUL */
    snprintf(n, sizeof n, "%s%s", prefix ? prefix : "", name ? name : "");
    (void)pthread_setname_np(pthread_self(), n);
}

int pb_proc_wait_child(pid_t pid, pid_t target, double deadline, double (*cutoff)(void *ud), void *cutoff_ud,
                       long kill_after_ms, int *status, pb_err *err)
{
    int stopped = 0, rc = 0;
    double kill_at = 0;
    /* A pidfd becomes readable when the child exits: the wait ends then,
     * not at the next tick of a poll loop (a 20 ms poll cost ~60 ms per
     * tenant's cloud run, bench/RESULTS-cloud.md). */
    int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
    for (;;) {
        pid_t w = waitpid(pid, status, WNOHANG);
        if (w == pid)
            break;
        if (w < 0 && errno != EINTR) {
            rc = pb_err_set(err, PB_EIO, "waitpid: %s", strerror(errno));
            break;
        }
        double now = pb_time_mono_s(), cut = cutoff ? cutoff(cutoff_ud) : 0;
        if (!stopped && ((cut > 0 && now >= cut) || (deadline > 0 && now >= deadline))) {
            stopped = cut > 0 && now >= cut ? PB_ECANCELED : PB_ETIMEOUT;
            kill(target, SIGTERM);
            kill_at = now + kill_after_ms / 1000.0;
        }
        if (kill_at > 0 && now >= kill_at) {
            kill(target, SIGKILL);
            kill_at = 0;
        }
        /* At least once a second; every 250 ms while a cutoff may come. */
        double wait_s = cutoff && !stopped ? 0.25 : 1.0;
        if (!stopped && deadline > 0 && deadline - now < wait_s)
            wait_s = deadline - now;
        if (!stopped && cut > 0 && cut - now < wait_s)
            wait_s = cut - now;
        if (kill_at > 0 && kill_at - now < wait_s)
            wait_s = kill_at - now;
        int ms = wait_s * 1000 < 1 ? 1 : (int)(wait_s * 1000);
        if (pidfd >= 0) {
            struct pollfd pfd = {.fd = pidfd, .events = POLLIN};
            poll(&pfd, 1, ms);
        } else {
            struct timespec ts = {0, 20 * 1000000};
            nanosleep(&ts, NULL);
        }
    }
    if (pidfd >= 0)
        close(pidfd);
    return rc ? rc : stopped;
}
