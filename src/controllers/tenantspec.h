/*
 * tenantspec.h - the Kubernetes objects a Tenant should have, as a pure
 * function of the Tenant, its Plan's effective isolation and whether it is
 * suspended. The Tenant reconciler creates what is missing and puts back
 * what drifted; keeping the "what" here makes it testable without a server.
 *
 * Children (all in namespace tenant-<name> except the namespace itself),
 * in creation order:
 *   Namespace tenant-<name>      labels paybill.dev/{tenant,plan,tier}, the
 *                                Pod Security level of the plan
 *                                (pod-security.kubernetes.io/{enforce,warn,audit}
 *                                + -version: latest), owned by the Tenant
 *   RoleBinding paybill-operator the operator's own ServiceAccount -> ClusterRole
 *                                paybill-operator-tenant: what it may write in
 *                                this namespace (its children, the Secret
 *                                tenant-database) is granted here and nowhere else
 *   ResourceQuota tenant-quota   plan quotas (dedicated compute), zero pods
 *                                (shared compute, or suspended); always
 *                                services.nodeports / services.loadbalancers
 *                                from the plan (default 0)
 *   LimitRange tenant-limits     default requests/limits (dedicated compute)
 *   NetworkPolicy tenant-isolation   (not while suspended) ingress from the
 *                                namespace itself and from Paybill's pods
 *                                (app.kubernetes.io/name=paybill) in the
 *                                system namespace; egress to the namespace,
 *                                cluster DNS and the tenant's database
 *                                (status.database.endpoint) only
 *   NetworkPolicy tenant-suspended   deny all ingress and egress (suspended;
 *                                the only policy then, as policies add up)
 *   ServiceAccount paybill-agent
 *   RoleBinding tenant-admin     the owner (User <email>) -> ClusterRole paybill-tenant-admin
 *   RoleBinding paybill-agent    the agent -> ClusterRole paybill-tenant-agent
 * The three ClusterRoles ship with the chart: the operator creates no Role.
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
/* Namespaces a cluster admin labels with this ("true") may have Services
 * with externalIPs (charts/paybill/templates/admission-policies.yaml). */
#define TENANTSPEC_LABEL_ALLOW_EXTERNAL_IPS "paybill.dev/allow-external-ips"
/* Pods in the system namespace that may reach tenant pods carry this. */
#define TENANTSPEC_SYSTEM_POD_LABEL "app.kubernetes.io/name"
#define TENANTSPEC_SYSTEM_POD_VALUE "paybill"

/* RBAC in tenant namespaces: RoleBinding names and the chart's ClusterRoles
 * they reference. The operator's ServiceAccount (in the system namespace)
 * is the chart's. */
#define TENANTSPEC_OPERATOR_SA "paybill-operator"
#define TENANTSPEC_BINDING_OPERATOR "paybill-operator"
#define TENANTSPEC_BINDING_ADMIN "tenant-admin"
#define TENANTSPEC_BINDING_AGENT "paybill-agent"
#define TENANTSPEC_CLUSTERROLE_OPERATOR "paybill-operator-tenant"
#define TENANTSPEC_CLUSTERROLE_ADMIN "paybill-tenant-admin"
#define TENANTSPEC_CLUSTERROLE_AGENT "paybill-tenant-agent"

/* "tenant-<name>" into buf. */
/* The ResourceQuota the operator keeps in every tenant namespace. */
#define TENANTSPEC_QUOTA_NAME "tenant-quota"

const char *tenantspec_namespace(const char *tenant, char *buf, size_t n);

/* Array of {"group","version","resource","namespace","object"} in creation
 * order (namespace first, then the operator's RoleBinding). tenant and plan
 * are full objects; the database egress rule comes from the tenant's
 * status.database.endpoint ("host:port"), absent until there is one. */
json_t *tenantspec_children(const json_t *tenant, const json_t *plan,
                            const planspec_isolation *iso, int suspended,
                            const char *system_ns);

/* The routing entry of a shared-compute tenant in its pool's ConfigMap
 * (data key = tenant name, value = compact JSON). Caller frees. */
char *tenantspec_route_entry(const json_t *tenant, const json_t *plan,
                             const planspec_isolation *iso, int suspended);
/* "paybill-pool-<model>" into buf. */
const char *tenantspec_pool_configmap(const planspec_isolation *iso, char *buf, size_t n);

/* 1 when the live namespace `ns` was created by the operator for `tenant`:
 * labelled app.kubernetes.io/managed-by=paybill-operator and
 * paybill.dev/tenant=<tenant>, and controlled by nothing else than the
 * Tenant whose uid is `uid` (NULL: any Tenant). 0 otherwise, with why
 * (n bytes) saying what is missing: the operator never adopts such a
 * namespace, so a Tenant cannot take over (and later delete) a namespace
 * someone else made. */
int tenantspec_namespace_owned(const json_t *ns, const char *tenant, const char *uid, char *why,
                               size_t n);

/* The egress peer allowing a database endpoint "host:port": an ipBlock of
 * exactly that address (/32, /128) when host is an IP literal; for a host
 * name, which a NetworkPolicy cannot name, every address except link-local
 * and cloud metadata ones (169.254.0.0/16, 100.100.100.200, fe80::/10,
 * fd00:ec2::254), on that port only. NULL for no rule: no endpoint, a bad
 * port, or an address that is itself link-local or a metadata service.
 * New reference: {"to": [...], "ports": [{"protocol":"TCP","port":N}]}. */
json_t *tenantspec_database_egress(const char *endpoint);

/* 1 when `live` already has everything `desired` asks for: desired labels
 * and annotations present with the same values, our ownerReference
 * present, and every other top-level field (spec, data, rules, subjects,
 * roleRef...) equal. Fields the server adds are ignored. */
int tenantspec_child_matches(const json_t *desired, const json_t *live);

#endif
