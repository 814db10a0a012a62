/*
 * operator_main.h - entry point of the operator's main job (operator.c):
 * everything paybill-operator does after parsing its flags.
 */
#ifndef PAYBILL_CONTROLLERS_OPERATOR_MAIN_H
#define PAYBILL_CONTROLLERS_OPERATOR_MAIN_H

#include "util/err.h"
#include "util/options.h"

/* Blocks until SIGTERM/SIGINT (0 after a clean shutdown) or a fatal error
 * (negative, err says what: bad config, unreachable API server, lost
 * leadership). */
int operator_run(const pb_options *opts, pb_err *err);

/* `paybill-operator audit-verify ...` (audit_cmd.c): argv[0] is
 * "audit-verify". Returns the process exit status. */
int operator_audit_verify(int argc, char **argv);

#endif
