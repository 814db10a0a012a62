output "outputs" {
  value = merge({
    bucket     = oci_objectstorage_bucket.tenant.name
    bucket_url = "https://objectstorage.${var.region}.oraclecloud.com/n/${data.oci_objectstorage_namespace.ns.namespace}/b/${oci_objectstorage_bucket.tenant.name}"
    key_id     = oci_kms_key.tenant.id
    identity   = "workload:tenant-${var.tenant}/${var.service_account}@${var.oke_cluster_id}"
    }, var.server ? {
    db_host       = oci_psql_db_system.tenant[0].network_details[0].primary_db_endpoint_private_ip
    db_port       = "5432"
    db_admin_user = "paybill_admin"
    db_sslmode    = "require"
  } : {})
}

output "sensitive_outputs" {
  value     = var.server ? { db_admin_password = random_password.db[0].result } : {}
  sensitive = true
}
