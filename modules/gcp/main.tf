# Per tenant: a Cloud KMS key ring and key, a Cloud Storage bucket
# (versioned, uniform access, public access prevented, encrypted with the
# key) for files and database snapshots, a Google service account the
# tenant's ServiceAccount impersonates through workload identity with
# access to that bucket and key only, and with server = true a Cloud SQL
# PostgreSQL instance on a private IP, encrypted with the key.
locals {
  name = "${var.name_prefix}-${var.tenant}"
  labels = merge(var.labels, {
    paybill-tenant = var.tenant
    paybill-tier   = var.tier
    paybill-marker = var.marker
  })
}

data "google_project" "current" {}

resource "random_id" "suffix" {
  byte_length = 4
}

resource "google_kms_key_ring" "tenant" {
  name     = "${local.name}-${random_id.suffix.hex}"
  location = var.region
}

resource "google_kms_crypto_key" "tenant" {
  name            = "tenant-data"
  key_ring        = google_kms_key_ring.tenant.id
  rotation_period = "7776000s"
  labels          = local.labels
}

# Cloud Storage and Cloud SQL encrypt with the key through their service agents.
resource "google_project_service_identity" "sql" {
  provider = google
  project  = var.project
  service  = "sqladmin.googleapis.com"
}

resource "google_kms_crypto_key_iam_member" "storage" {
  crypto_key_id = google_kms_crypto_key.tenant.id
  role          = "roles/cloudkms.cryptoKeyEncrypterDecrypter"
  member        = "serviceAccount:service-${data.google_project.current.number}@gs-project-accounts.iam.gserviceaccount.com"
}

resource "google_kms_crypto_key_iam_member" "sql" {
  crypto_key_id = google_kms_crypto_key.tenant.id
  role          = "roles/cloudkms.cryptoKeyEncrypterDecrypter"
  member        = "serviceAccount:${google_project_service_identity.sql.email}"
}

resource "google_storage_bucket" "tenant" {
  name                        = "${local.name}-${random_id.suffix.hex}"
  location                    = var.region
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = true
  labels                      = local.labels
  versioning {
    enabled = true
  }
  encryption {
    default_kms_key_name = google_kms_crypto_key.tenant.id
  }
  depends_on = [google_kms_crypto_key_iam_member.storage]
}

resource "google_service_account" "tenant" {
  account_id   = local.name
  display_name = "paybill tenant ${var.tenant}"
}

resource "google_service_account_iam_member" "workload_identity" {
  service_account_id = google_service_account.tenant.name
  role               = "roles/iam.workloadIdentityUser"
  member             = "serviceAccount:${var.project}.svc.id.goog[tenant-${var.tenant}/${var.service_account}]"
}

resource "google_storage_bucket_iam_member" "tenant" {
  bucket = google_storage_bucket.tenant.name
  role   = "roles/storage.objectAdmin"
  member = "serviceAccount:${google_service_account.tenant.email}"
}

resource "google_kms_crypto_key_iam_member" "tenant" {
  crypto_key_id = google_kms_crypto_key.tenant.id
  role          = "roles/cloudkms.cryptoKeyEncrypterDecrypter"
  member        = "serviceAccount:${google_service_account.tenant.email}"
}

resource "random_password" "db" {
  count   = var.server ? 1 : 0
  length  = 32
  special = false
}

resource "google_sql_database_instance" "tenant" {
  count               = var.server ? 1 : 0
  name                = "${local.name}-${random_id.suffix.hex}"
  database_version    = var.postgres_version
  region              = var.region
  encryption_key_name = google_kms_crypto_key.tenant.id
  deletion_protection = false
  settings {
    tier        = var.db_tier
    user_labels = local.labels
    ip_configuration {
      ipv4_enabled    = false
      private_network = var.db_network
      ssl_mode        = "ENCRYPTED_ONLY"
    }
    backup_configuration {
      enabled = true
    }
  }
  depends_on = [google_kms_crypto_key_iam_member.sql]
  lifecycle {
    precondition {
      condition     = var.db_network != ""
      error_message = "server = true needs db_network."
    }
  }
}

resource "google_sql_user" "admin" {
  count    = var.server ? 1 : 0
  name     = "paybill_admin"
  instance = google_sql_database_instance.tenant[0].name
  password = random_password.db[0].result
}
