/*
 * substate.c - the Subscription state machine (see substate.h).
 */
#include "controllers/substate.h"

#include <stdio.h>
#include <string.h>

#include "controllers/planspec.h"
#include "util/json.h"
#include "util/timeutil.h"

static int days_in_month(int year, int mon0)
{
    static const int d[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    return d[mon0] + (mon0 == 1 && leap);
}

time_t substate_add_months(time_t t, int n)
{
    struct tm tm;
    gmtime_r(&t, &tm);
    int total = tm.tm_mon + n;
    tm.tm_year += total / 12;
    tm.tm_mon = total % 12;
    int dim = days_in_month(tm.tm_year + 1900, tm.tm_mon);
    if (tm.tm_mday > dim)
        tm.tm_mday = dim;
    return timegm(&tm);
}

/* Optional RFC 3339 field -> time_t (0 when absent). */
static int opt_time(const json_t *obj, const char *path, time_t *out, pb_err *err)
{
    const char *s = NULL;
    *out = 0;
    if (pb_json_opt_string(obj, path, NULL, &s, err) != 0)
        return err ? err->code : PB_EINVAL;
    if (!s)
        return 0;
    struct timespec ts;
    if (pb_time_parse_rfc3339(s, &ts, err) != 0)
        return pb_err_wrap(err, "%s", path);
    *out = ts.tv_sec;
    return 0;
}

static void sooner(time_t *next, time_t t, time_t now)
{
    if (t > now && (*next == 0 || t < *next))
        *next = t;
}

static void fmt_time(time_t t, char *buf, size_t n)
{
    struct timespec ts = {t, 0};
    pb_time_format_rfc3339(ts, buf, n);
}

/* The provider's own subscription status (status.billing, written by the
 * billing applier) decides; only the grace period of past_due is ours. */
static int from_provider(const json_t *sub, const json_t *plan, const char *bstatus, time_t now,
                         substate_result *r, pb_err *err)
{
    time_t since, period_end, trial_end;
    int rc;
    if ((rc = opt_time(sub, "status.billing.statusSince", &since, err)) != 0 ||
        (rc = opt_time(sub, "status.billing.currentPeriodEnd", &period_end, err)) != 0 ||
        (rc = opt_time(sub, "status.billing.trialEnd", &trial_end, err)) != 0)
        return rc;
    if (!since)
        since = now;
    if (period_end)
        r->period_end = period_end;
    r->trial_end = trial_end;
    r->next_transition = 0;
    char when[PB_TIME_BUF];
    const char *st = "pending", *reason = "UnknownProviderStatus";
    char msg[200];
    snprintf(msg, sizeof msg, "billing provider reports \"%.40s\"", bstatus);
    if (strcmp(bstatus, "trialing") == 0) {
        st = "trialing", reason = "Trialing", r->entitled = 1;
    } else if (strcmp(bstatus, "active") == 0) {
        st = "active", reason = "Active", r->entitled = 1;
    } else if (strcmp(bstatus, "past_due") == 0) {
        r->past_due_since = since;
        r->grace_ends = since + (time_t)(planspec_grace_period(plan) / PB_SECOND);
        fmt_time(r->grace_ends, when, sizeof when);
        if (now < r->grace_ends) {
            st = "past_due", reason = "PastDue", r->entitled = 1;
            r->next_transition = r->grace_ends;
            snprintf(msg, sizeof msg, "payment failed; grace period until %s, then suspended", when);
        } else {
            st = "unpaid", reason = "GracePeriodEnded";
            snprintf(msg, sizeof msg, "payment failed; grace period ended %s: suspended, data kept", when);
        }
    } else if (strcmp(bstatus, "unpaid") == 0) {
        st = "unpaid", reason = "Unpaid";
        snprintf(msg, sizeof msg, "billing provider reports unpaid: suspended, data kept");
    } else if (strcmp(bstatus, "paused") == 0) {
        st = "paused", reason = "PausedByProvider";
        snprintf(msg, sizeof msg, "billing provider paused the subscription: suspended, data kept");
    } else if (strcmp(bstatus, "canceled") == 0 || strcmp(bstatus, "incomplete_expired") == 0) {
        st = "canceled", reason = bstatus[0] == 'c' ? "Canceled" : "IncompleteExpired";
        r->canceled_at = since;
        fmt_time(since, when, sizeof when);
        snprintf(msg, sizeof msg, "canceled by the billing provider at %s: suspended, data kept until a human deletes the tenant", when);
    } else if (strcmp(bstatus, "incomplete") == 0) {
        st = "pending", reason = "PaymentIncomplete";
        snprintf(msg, sizeof msg, "first payment not completed yet");
    }
    snprintf(r->state, sizeof r->state, "%s", st);
    snprintf(r->reason, sizeof r->reason, "%s", reason);
    snprintf(r->message, sizeof r->message, "%s", msg);
    return 0;
}

int substate_compute(const json_t *sub, const json_t *plan, time_t now, substate_result *r,
                     pb_err *err)
{
    memset(r, 0, sizeof *r);
    time_t created, cancel_at, paid_through;
    int rc;
    if ((rc = opt_time(sub, "metadata.creationTimestamp", &created, err)) != 0 ||
        (rc = opt_time(sub, "spec.cancelAt", &cancel_at, err)) != 0 ||
        (rc = opt_time(sub, "status.paidThrough", &paid_through, err)) != 0)
        return rc;
    if (created == 0)
        created = now;
    int paused = 0;
    pb_json_opt_bool(sub, "spec.paused", 0, &paused, NULL);
    const char *provider = "manual";
    pb_json_opt_string(sub, "spec.billing.provider", "manual", &provider, NULL);

    long long trial_days = planspec_trial_days(plan);
    time_t billing_start = created + (time_t)trial_days * 86400;
    if (trial_days > 0)
        r->trial_end = billing_start;
    int months = strcmp(planspec_interval(plan), "year") == 0 ? 12 : 1;

    /* The billing period containing now (or the first one, during a trial). */
    time_t ps = billing_start, pe = substate_add_months(ps, months);
    for (int guard = 0; pe <= now && guard < 100000; guard++) {
        ps = pe;
        pe = substate_add_months(ps, months);
    }
    r->period_start = ps;
    r->period_end = pe;
    sooner(&r->next_transition, cancel_at, now);

    char when[PB_TIME_BUF];
    if (cancel_at && now >= cancel_at) {
        snprintf(r->state, sizeof r->state, "canceled");
        r->canceled_at = cancel_at;
        r->next_transition = 0;
        fmt_time(cancel_at, when, sizeof when);
        snprintf(r->reason, sizeof r->reason, "Canceled");
        snprintf(r->message, sizeof r->message, "subscription canceled at %s", when);
        return 0;
    }
    if (paused) {
        snprintf(r->state, sizeof r->state, "paused");
        snprintf(r->reason, sizeof r->reason, "Paused");
        snprintf(r->message, sizeof r->message, "spec.paused is true");
        return 0;
    }
    const char *bstatus = NULL;
    pb_json_opt_string(sub, "status.billing.status", NULL, &bstatus, NULL);
    if (strcmp(provider, "manual") != 0 && bstatus)
        return from_provider(sub, plan, bstatus, now, r, err);
    if (r->trial_end && now < r->trial_end) {
        snprintf(r->state, sizeof r->state, "trialing");
        r->entitled = 1;
        sooner(&r->next_transition, r->trial_end, now);
        fmt_time(r->trial_end, when, sizeof when);
        snprintf(r->reason, sizeof r->reason, "Trialing");
        snprintf(r->message, sizeof r->message, "trial ends %s", when);
        return 0;
    }
    if (strcmp(provider, "manual") == 0 || (paid_through && paid_through > now)) {
        snprintf(r->state, sizeof r->state, "active");
        r->entitled = 1;
        sooner(&r->next_transition, strcmp(provider, "manual") == 0 ? pe : paid_through, now);
        snprintf(r->reason, sizeof r->reason, "Active");
        snprintf(r->message, sizeof r->message, "%s",
                 strcmp(provider, "manual") == 0 ? "billed manually" : "paid through the current period");
        return 0;
    }
    /* Stripe and not paid: past due since the payment lapsed. */
    r->past_due_since = paid_through > billing_start ? paid_through : billing_start;
    r->grace_ends = r->past_due_since + (time_t)(planspec_grace_period(plan) / PB_SECOND);
    fmt_time(r->grace_ends, when, sizeof when);
    if (now < r->grace_ends) {
        snprintf(r->state, sizeof r->state, "past_due");
        r->entitled = 1;
        sooner(&r->next_transition, r->grace_ends, now);
        snprintf(r->reason, sizeof r->reason, "PastDue");
        snprintf(r->message, sizeof r->message, "payment overdue; tenant suspended at %s unless paid", when);
    } else {
        snprintf(r->state, sizeof r->state, "unpaid");
        snprintf(r->reason, sizeof r->reason, "Unpaid");
        snprintf(r->message, sizeof r->message, "grace period ended %s without payment", when);
    }
    return 0;
}
