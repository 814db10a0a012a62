/*
 * proc.c - process hardening at start-up, thread names (see proc.h).
 */
#include "util/proc.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>

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
