locals {
  root   = "${var.base_dir}/${var.tenant}"
  bucket = "${local.root}/bucket"
}

# The bucket: a directory with a marker object (the tenant's files go
# under it, database snapshots under snapshots/). Destroying it removes
# everything but the snapshots, which a Snapshot deletion put there to
# outlive the tenant; an empty bucket goes entirely.
resource "terraform_data" "bucket_dir" {
  input = local.bucket
  provisioner "local-exec" {
    when    = destroy
    command = "[ ! -d '${self.input}' ] || { find '${self.input}' -mindepth 1 -maxdepth 1 ! -name snapshots -exec rm -rf -- {} + && { rmdir '${self.input}' 2>/dev/null || true; }; }"
  }
}

resource "local_file" "bucket" {
  depends_on      = [terraform_data.bucket_dir]
  filename        = "${local.bucket}/.paybill-bucket"
  file_permission = "0644"
  content = jsonencode({
    tenant = var.tenant
    tier   = var.tier
    region = var.region
    labels = var.labels
    marker = var.marker
  })
}

# Random material: each terraform_data gets a random UUID (122 random bits)
# as its id when created; it is kept in state and never changes after.
resource "terraform_data" "key" {
  input = "key"
}

resource "terraform_data" "key2" {
  input = "key2"
}

# The identity the tenant's workloads use (IRSA / workload identity there).
resource "terraform_data" "identity" {
  input = var.tenant
}

locals {
  # 256-bit encryption key (the cloud modules' KMS key), from 244 random bits.
  key_hex = sha256("${terraform_data.key.id}/${terraform_data.key2.id}")
}

# The dedicated server: initdb + start on a loopback port through
# hack/lib/postgres.sh; stopped and removed on destroy.
resource "terraform_data" "admin_password" {
  count = var.server ? 1 : 0
  input = "admin"
}

locals {
  admin_password = var.server ? substr(sha256("pw/${terraform_data.admin_password[0].id}"), 0, 32) : ""
  # A port from the tenant's name (stable, 20000-29999): pg_start keeps it.
  server_port = 20000 + parseint(substr(sha256(var.tenant), 0, 6), 16) % 10000
}

resource "terraform_data" "server" {
  count = var.server ? 1 : 0
  lifecycle {
    precondition {
      condition     = var.pg_lib != ""
      error_message = "server = true needs pg_lib (the absolute path of hack/lib/postgres.sh)."
    }
  }
  input = {
    dir   = "${local.root}/pg"
    root  = local.root
    port  = local.server_port
    pglib = var.pg_lib
  }
  provisioner "local-exec" {
    interpreter = ["/bin/bash", "-c"]
    environment = { PW = local.admin_password }
    command     = <<-EOT
      set -e
      . '${self.input.pglib}'
      mkdir -p '${self.input.dir}'
      if [ "$(id -u)" -eq 0 ]; then chown paybill '${self.input.dir}'; chmod 755 '${self.input.root}'; fi
      echo '${self.input.port}' > '${self.input.dir}/port'
      pg_start '${self.input.dir}'
      # on stdin, output dropped: the password must not reach the run's log
      printf "ALTER ROLE postgres PASSWORD '%s'" "$PW" | pg_psql -f - >/dev/null 2>&1 ||
        { echo "setting the server's admin password failed" >&2; exit 1; }
      printf '%s' "$PW" > '${self.input.dir}/superpass'
    EOT
  }
  provisioner "local-exec" {
    when        = destroy
    interpreter = ["/bin/bash", "-c"]
    command     = ". '${self.input.pglib}' && pg_stop '${self.input.dir}' && rm -rf '${self.input.dir}'"
  }
}

# A destroy that fails while a file exists (tests).
resource "terraform_data" "destroy_blocker" {
  count = var.destroy_blocker != "" ? 1 : 0
  input = var.destroy_blocker
  provisioner "local-exec" {
    when    = destroy
    command = "if [ -e '${self.input}' ]; then echo 'destroy blocked by ${self.input}' >&2; exit 1; fi"
  }
}

# A slow step (tests): runs again whenever the marker changes, and on destroy.
resource "terraform_data" "delay" {
  count            = var.delay_s > 0 ? 1 : 0
  triggers_replace = [var.marker]
  input            = var.delay_s
  provisioner "local-exec" {
    command = "sleep ${self.input}"
  }
  provisioner "local-exec" {
    when    = destroy
    command = "sleep ${self.input}"
  }
}

output "outputs" {
  value = merge({
    bucket       = local.bucket
    bucket_url   = "file://${local.bucket}"
    snapshot_dir = "${local.bucket}/snapshots"
    key_id       = "local:${terraform_data.key.id}"
    identity     = "local:${terraform_data.identity.id}"
    }, var.server ? {
    db_host       = "127.0.0.1"
    db_port       = tostring(local.server_port)
    db_admin_user = "postgres"
    db_sslmode    = "disable"
  } : {})
  depends_on = [terraform_data.server]
}

output "sensitive_outputs" {
  value = merge({
    encryption_key = local.key_hex
    }, var.server ? {
    db_admin_password = local.admin_password
  } : {})
  sensitive = true
}
