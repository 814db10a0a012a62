# Per tenant: a Vault with a master encryption key, an Object Storage bucket
# (versioned, private, encrypted with the key) for files and database
# snapshots, a policy letting the tenant's OKE workload identity (its
# ServiceAccount in tenant-<tenant>) use that bucket and key only, and with
# server = true an OCI Database with PostgreSQL system on a private subnet.
locals {
  name = "${var.name_prefix}-${var.tenant}"
  tags = merge(var.labels, {
    "paybill-tenant" = var.tenant
    "paybill-tier"   = var.tier
    "paybill-marker" = var.marker
  })
}

data "oci_objectstorage_namespace" "ns" {
  compartment_id = var.compartment_id
}

resource "oci_kms_vault" "tenant" {
  compartment_id = var.compartment_id
  display_name   = local.name
  vault_type     = "DEFAULT"
  freeform_tags  = local.tags
}

resource "oci_kms_key" "tenant" {
  compartment_id      = var.compartment_id
  display_name        = "tenant-data"
  management_endpoint = oci_kms_vault.tenant.management_endpoint
  protection_mode     = "SOFTWARE"
  key_shape {
    algorithm = "AES"
    length    = 32
  }
  freeform_tags = local.tags
}

resource "oci_objectstorage_bucket" "tenant" {
  compartment_id = var.compartment_id
  namespace      = data.oci_objectstorage_namespace.ns.namespace
  name           = local.name
  access_type    = "NoPublicAccess"
  versioning     = "Enabled"
  kms_key_id     = oci_kms_key.tenant.id
  freeform_tags  = local.tags
}

resource "oci_identity_policy" "tenant" {
  compartment_id = var.tenancy_id
  name           = local.name
  description    = "paybill tenant ${var.tenant}: its workloads use its bucket and key"
  statements = [
    "Allow any-user to manage objects in compartment id ${var.compartment_id} where all {request.principal.type = 'workload', request.principal.namespace = 'tenant-${var.tenant}', request.principal.service_account = '${var.service_account}', request.principal.cluster_id = '${var.oke_cluster_id}', target.bucket.name = '${oci_objectstorage_bucket.tenant.name}'}",
    "Allow any-user to use keys in compartment id ${var.compartment_id} where all {request.principal.type = 'workload', request.principal.namespace = 'tenant-${var.tenant}', request.principal.service_account = '${var.service_account}', request.principal.cluster_id = '${var.oke_cluster_id}', target.key.id = '${oci_kms_key.tenant.id}'}",
    "Allow service objectstorage-${var.region} to use keys in compartment id ${var.compartment_id} where target.key.id = '${oci_kms_key.tenant.id}'",
  ]
  freeform_tags = local.tags
}

resource "random_password" "db" {
  count   = var.server ? 1 : 0
  length  = 32
  special = false
}

resource "oci_psql_db_system" "tenant" {
  count          = var.server ? 1 : 0
  compartment_id = var.compartment_id
  display_name   = local.name
  db_version     = var.postgres_version
  shape          = var.db_shape
  network_details {
    subnet_id = var.db_subnet_id
  }
  storage_details {
    is_regionally_durable = true
    system_type           = "OCI_OPTIMIZED_STORAGE"
  }
  credentials {
    username = "paybill_admin"
    password_details {
      password_type = "PLAIN_TEXT"
      password      = random_password.db[0].result
    }
  }
  freeform_tags = local.tags
  lifecycle {
    precondition {
      condition     = var.db_subnet_id != ""
      error_message = "server = true needs db_subnet_id."
    }
  }
}
