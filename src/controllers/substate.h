/*
 * substate.h - the Subscription state machine, as a pure function of the
 * subscription, its plan and the current time.
 *
 *   trialing --trial ends--> active            (provider manual: always paid)
 *                        \-> past_due          (provider stripe, not paid)
 *   past_due --paid--> active
 *   past_due --grace period over--> unpaid     (tenant suspended)
 *   any --spec.paused--> paused                (tenant suspended)
 *   any --cancelAt reached--> canceled         (tenant suspended; final)
 *
 * "Paid" for stripe means status.paidThrough (written by the billing
 * webhook) is in the future. Once the billing applier has written the
 * provider's own status (status.billing.status, Stripe's vocabulary), it
 * decides instead: trialing, active, past_due (for the plan's grace period
 * from status.billing.statusSince, then unpaid), unpaid, paused, canceled
 * and incomplete_expired (canceled), incomplete (pending: not entitled).
 * spec.paused and spec.cancelAt, human decisions, still come first. No
 * state deletes anything: not entitled means suspended, data kept. Periods are calendar months or years counted
 * from the end of the trial. Being deterministic in `now`, the same inputs
 * always give the same status: reconciles are idempotent and testable.
 */
#ifndef PAYBILL_CONTROLLERS_SUBSTATE_H
#define PAYBILL_CONTROLLERS_SUBSTATE_H

#include <jansson.h>
#include <time.h>

#include "util/err.h"

typedef struct substate_result {
    char state[16];          /* trialing active past_due unpaid canceled paused pending */
    int entitled;            /* 1 when the tenant should run (trialing, active, past_due) */
    time_t trial_end;        /* 0 when there is no trial */
    time_t period_start, period_end;
    time_t past_due_since;   /* 0 unless past_due/unpaid */
    time_t grace_ends;       /* 0 unless past_due/unpaid */
    time_t canceled_at;      /* 0 unless canceled */
    time_t next_transition;  /* when to look again; 0 = nothing scheduled */
    char reason[64];         /* CamelCase condition reason */
    char message[256];
} substate_result;

/* sub: the Subscription object (spec, metadata.creationTimestamp,
 * status.paidThrough); plan: its Plan object. PB_EINVAL on unparsable
 * times in the inputs, naming the field. */
int substate_compute(const json_t *sub, const json_t *plan, time_t now, substate_result *out,
                     pb_err *err);

/* Add `n` calendar months to t (UTC), clamping the day to the month's end. */
time_t substate_add_months(time_t t, int n);

#endif
