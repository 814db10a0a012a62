/*
 * proc.h - process-wide hardening done once at start-up, thread names, and
 * waiting for a child process within a deadline.
 *
 * The operator's memory holds secrets: tenants' database passwords in the
 * informer cache, admin credentials of the database servers, its API token.
 * A core dump would write all of that to disk (or hand it to a crash
 * collector), and a dumpable process can be ptrace'd or have its memory read
 * through /proc/<pid>/mem by anything running as the same user. So:
 *
 *     pb_err err;
 *     if (pb_proc_harden(&err) != 0) { log err.msg; exit non-zero; }
 *
 * first thing in main(), before any secret is loaded and before threads
 * exist. It fails closed: a process that could not be hardened must not go
 * on.
 */
#ifndef PAYBILL_UTIL_PROC_H
#define PAYBILL_UTIL_PROC_H

#include <sys/types.h>

#include "util/err.h"

/* Make the process non-dumpable (prctl PR_SET_DUMPABLE 0: no core file,
 * no ptrace attach or /proc/<pid>/mem for same-user processes) and set
 * RLIMIT_CORE to 0 soft and hard, so it cannot be raised again either.
 * Returns 0, or PB_EIO with the failing call and errno in err. */
int pb_proc_harden(pb_err *err);

/* Name the calling thread "<prefix><name>", cut to the kernel's 15 bytes,
 * so top -H, perf and /proc/<pid>/task/<tid>/comm tell the operator's
 * threads apart (a reflector per informer, workers per controller). Best
 * effort: a name is a diagnostic, never a reason to fail. */
void pb_thread_name(const char *prefix, const char *name);

/* Wait for child `pid` to end (*status as waitpid's). Past `deadline`
 * (CLOCK_MONOTONIC seconds, 0: none), or once the cutoff has passed
 * (cutoff(cutoff_ud), read while waiting; NULL or 0: none), it is stopped:
 * SIGTERM to `target` (pid, or -pid for its process group), SIGKILL
 * kill_after_ms later, and the wait goes on until it ends. Returns 0 when
 * it ended by itself, PB_ECANCELED (cutoff) or PB_ETIMEOUT (deadline) when
 * it was stopped, PB_EIO (err filled) when waitpid fails. The wait ends as
 * the child does (a pidfd; 20 ms ticks where there is none). */
int pb_proc_wait_child(pid_t pid, pid_t target, double deadline, double (*cutoff)(void *ud), void *cutoff_ud,
                       long kill_after_ms, int *status, pb_err *err);

#endif
