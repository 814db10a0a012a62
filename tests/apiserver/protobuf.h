/*
 * protobuf.h - the few Kubernetes protobuf bodies the dev API server must
 * read because client-go's typed clients send them regardless of what the
 * server prefers: what `kubectl create <kind>` builds - ConfigMap, Secret,
 * Namespace, ServiceAccount, Role, ClusterRole, RoleBinding,
 * ClusterRoleBinding, Deployment, Job, Service, ResourceQuota - and what
 * client-go programs write on their own: coordination.k8s.io/v1 Lease
 * (leader election, OpenTofu's kubernetes state lock) and core/v1 Event
 * (record.EventRecorder). Matched on apiVersion and kind. (Access reviews and
 * token requests are decoded by auth.h's dv_auth_protobuf_to_json.) Decoded
 * into their JSON form.
 *
 * Ownership: returns a new reference, or NULL when the bytes are not a
 * well-formed "k8s\0"-framed runtime.Unknown of a supported kind.
 */
#ifndef DEVAPI_PROTOBUF_H
#define DEVAPI_PROTOBUF_H

#include <jansson.h>
#include <stddef.h>

json_t *dv_proto_decode(const unsigned char *buf, size_t len);

#endif
