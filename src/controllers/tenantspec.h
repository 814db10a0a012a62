/*
 * tenantspec.h - the Kubernetes objects a Tenant should have, as a pure
 * function of the Tenant, its Plan's effective isolation and whether it is
 * suspended. The Tenant reconciler creates what is missing and puts back
 * what drifted; keeping the "what" here makes it testable without a server.
 *
 * Children (all in namespace tenant-<name> except the namespace itself):
 *   Namespace tenant-<name>      labels paybill.dev/{tenant,plan,tier}, owned by the Tenant
 *   ResourceQuota tenant-quota   plan quotas (dedicated compute), zero pods
 *                                (shared compute, or suspended)
 *   LimitRange tenant-limits     default requests/limits (dedicated compute)
 *   NetworkPolicy tenant-isolation   ingress only from the namespace itself
 *                                and the system namespace
 *   NetworkPolicy tenant-suspended   deny all ingress and egress (suspended)
 *   ServiceAccount paybill-agent
 *   Role+RoleBinding tenant-admin    the owner (User <email>) administers the namespace
 *   Role+RoleBinding paybill-agent   create Workflows, read their status; nothing else
 *
 * Ownership: returned arrays and objects are new references.
 */
#ifndef PAYBILL_CONTROLLERS_TENANTSPEC_H
#define PAYBILL_CONTROLLERS_TENANTSPEC_H

#include <jansson.h>

#include "controllers/planspec.h"

#define TENANTSPEC_LABEL_TENANT "paybill.dev/tenant"
#define TENANTSPEC_LABEL_PLAN "paybill.dev/plan"
#define TENANTSPEC_LABEL_TIER "paybill.dev/tier"
#define TENANTSPEC_LABEL_MANAGED "app.kubernetes.io/managed-by"
#define TENANTSPEC_MANAGER "paybill-operator"

/* "tenant-<name>" into buf. */
const char *tenantspec_namespace(const char *tenant, char *buf, size_t n);

/* Array of {"group","version","resource","namespace","object"} in creation
 * order (namespace first). tenant and plan are full objects. */
json_t *tenantspec_children(const json_t *tenant, const json_t *plan,
                            const planspec_isolation *iso, int suspended,
                            const char *system_ns);

/* The routing entry of a shared-compute tenant in its pool's ConfigMap
 * (data key = tenant name, value = compact JSON). Caller frees. */
char *tenantspec_route_entry(const json_t *tenant, const json_t *plan,
                             const planspec_isolation *iso, int suspended);
/* "paybill-pool-<model>" into buf. */
const char *tenantspec_pool_configmap(const planspec_isolation *iso, char *buf, size_t n);

/* 1 when `live` already has everything `desired` asks for: desired labels
 * and annotations present with the same values, our ownerReference
 * present, and every other top-level field (spec, data, rules, subjects,
 * roleRef...) equal. Fields the server adds are ignored. */
int tenantspec_child_matches(const json_t *desired, const json_t *live);

#endif
