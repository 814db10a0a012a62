/*
 * polset.h - the compiled AgentPolicies of a cluster, indexed by namespace
 * and subject, so that finding the policies that apply to one submitter
 * costs a few hash probes however many policies are loaded.
 *
 * A policy applies to a Workflow when both are in the same namespace and the
 * submitter matches one of its subjects (subject.h): ServiceAccount and
 * User subjects are keyed by username, Group subjects by group name. The
 * set is immutable once built: the controller builds a new one when a
 * policy's generation or the DataModel changes and swaps it in, so readers
 * need no lock.
 *
 * Ownership: the set borrows the policies (they must outlive it) and
 * copies nothing else; the caller frees it with pb_polset_free.
 */
#ifndef PAYBILL_AGENT_POLSET_H
#define PAYBILL_AGENT_POLSET_H

#include <stddef.h>

#include "agent/policy.h"
#include "agent/subject.h"
#include "util/err.h"

typedef struct pb_polset pb_polset;

/* Build from n policies, in the order decisions consider them (pass them
 * sorted by namespace and name for deterministic results). NULL entries
 * are refused (PB_EINVAL): a policy that failed to allocate must not
 * vanish from the set silently. */
int pb_polset_build(const pb_pol *const *pols, size_t n, pb_polset **out, pb_err *e);
void pb_polset_free(pb_polset *s);

size_t pb_polset_count(const pb_polset *s);
const pb_pol *pb_polset_at(const pb_polset *s, size_t i);

/* The policies (enforcing and Audit, broken ones included) that apply to u
 * in namespace ns, as set indexes in set order, without duplicates. Writes
 * at most cap indexes to idx and returns how many apply (more than cap
 * means idx is incomplete: callers must then fail closed). An anonymous
 * u gets 0. No allocation. */
size_t pb_polset_lookup(const pb_polset *s, const char *ns, const pb_subj_user *u, size_t *idx,
                        size_t cap);

#endif
