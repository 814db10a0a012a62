/*
 * operator.c - the paybill-operator main job: wires settings, the API
 * client, the manager, the shared informers and the controllers together,
 * serves probes and metrics, and runs until SIGTERM.
 *
 * Which informer feeds which controller (controller-runtime's builder
 * For / Watches):
 *
 *   Plan          For plans;   Watches tenants (tenant count per plan)
 *   Subscription  For subscriptions; Watches plans, tenants
 *   DataModel     For datamodels; Watches tenants (rollout progress)
 *   Tenant        For tenants; Watches subscriptions, plans, datamodels and
 *                 every child kind but Secrets (through the
 *                 paybill.dev/tenant label, so a child edited or deleted by
 *                 hand is put back)
 *
 * Child informers only list objects labelled
 * app.kubernetes.io/managed-by=paybill-operator: the cache holds what we
 * manage, not the whole cluster. ConfigMaps are only watched in the system
 * namespace (the pool ConfigMaps) and Secrets not at all: a label selector
 * does not limit what RBAC lets a watcher read, and the operator's RBAC
 * (charts/paybill/templates/rbac.yaml) grants Secrets only in the system
 * namespace and, by name, in the tenant namespaces it created. The Tenant
 * reconciler GETs the one Secret it manages instead.
 */
#include "controllers/operator_main.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "controllers/agent_policies.h"
#include "controllers/licence_controller.h"
#include "controllers/billing.h"
#include "controllers/cloud.h"
#include "controllers/tenant_servers.h"
#include "controllers/opconfig.h"
#include "controllers/opmetrics.h"
#include "controllers/operator.h"
#include "controllers/tenantspec.h"
#include "controllers/write_echo.h"
#include "controllers/webhook_certs.h"
#include "controllers/workflow_admission.h"
#include "kube/manager.h"
#include "provision/tenantdb.h"
#include "server/http.h"
#include "util/json.h"
#include "util/log.h"
#include "util/secret.h"

#define MANAGED_SELECTOR TENANTSPEC_LABEL_MANAGED "=" TENANTSPEC_MANAGER

static void record_event(void *ud, const json_t *obj, const char *type, const char *reason,
                         const char *message)
{
    recorder *rec = ud;
    if (rec)
        recorder_event(rec, (json_t *)obj, type, reason, "%s", message);
}

static json_t *map_tenant_to_subscriptions(json_t *tenant, void *ud)
{
    operator_ctx *op = ud;
    const char *name = json_string_value(json_object_get(json_object_get(tenant, "metadata"), "name"));
    json_t *keys = json_array();
    operator_keys_where(op->subscriptions, OPERATOR_INDEX_SUB_TENANT, name, "metadata.name", keys);
    return operator_nonempty_keys(keys);
}

/* A DataModel change concerns every tenant that uses it, and tenants not
 * provisioned yet (they may be waiting for it). */
static json_t *map_datamodel_to_tenants(json_t *dm, void *ud)
{
    operator_ctx *op = ud;
    const char *name = json_string_value(json_object_get(json_object_get(dm, "metadata"), "name"));
    json_t *keys = json_array();
    operator_keys_where(op->tenants, OPERATOR_INDEX_TENANT_DATAMODEL, name, "metadata.name", keys);
    json_t *all = store_list(op->tenants);
    size_t i;
    json_t *t;
    json_array_foreach(all, i, t) {
        if (!json_object_get(json_object_get(t, "status"), "database"))
            json_array_append(keys, json_object_get(json_object_get(t, "metadata"), "name"));
    }
    json_decref(all);
    return operator_nonempty_keys(keys);
}

/* Read the admin credentials of a database server from its Secret. */
static int admin_conninfo(kube_client *c, const opconfig_db_server *s, const char *default_ns,
                          char **out, pb_err *err)
{
    const char *ns = s->admin_secret_namespace ? s->admin_secret_namespace : default_ns;
    kube_gvr secrets = {"", "v1", "secrets"};
    json_t *sec = NULL;
    int rc = kube_get(c, &secrets, ns, s->admin_secret_name, NULL, &sec, err);
    if (rc != 0)
        return pb_err_wrap(err, "database server %s: admin Secret %s/%s", s->name, ns, s->admin_secret_name);
    char *vals[2] = {NULL, NULL};
    static const char *const keys[2] = {"username", "password"};
    for (int i = 0; i < 2 && rc == 0; i++) {
        const char *b64 = json_string_value(json_object_get(json_object_get(sec, "data"), keys[i]));
        unsigned char *raw = NULL;
        size_t n = 0;
        if (!b64 || pb_secret_b64_decode(b64, strlen(b64), &raw, &n, err) != 0)
            rc = pb_err_set(err, PB_EINVAL, "database server %s: Secret %s/%s has no valid data.%s",
                            s->name, ns, s->admin_secret_name, keys[i]);
        else
            vals[i] = strndup((const char *)raw, n);
        if (raw)
            pb_secret_wipe(raw, n);
        free(raw);
    }
    json_decref(sec);
    if (rc == 0) {
        /* libpq key='value' syntax: every value quoted, ' and \ escaped. */
        const char *keys_v[][2] = {{"host", s->host}, {"sslmode", s->sslmode}, {"user", vals[0]},
                                   {"password", vals[1]}};
        size_t cap = 64;
        for (size_t i = 0; i < 4; i++)
            cap += strlen(keys_v[i][0]) + 2 * strlen(keys_v[i][1]) + 4;
        char *ci = malloc(cap);
        if (!ci) {
            rc = pb_err_set(err, PB_ENOMEM, "out of memory");
        } else {
            size_t k = (size_t)snprintf(ci, cap, "port=%d dbname='postgres'", s->port);
            for (size_t i = 0; i < 4; i++) {
                k += (size_t)snprintf(ci + k, cap - k, " %s='", keys_v[i][0]);
                for (const char *p = keys_v[i][1]; *p; p++) {
                    if (*p == '\'' || *p == '\\')
                        ci[k++] = '\\';
                    ci[k++] = *p;
                }
                ci[k++] = '\'';
                ci[k] = '\0';
            }
            *out = ci;
        }
    }
    for (int i = 0; i < 2; i++) {
        if (vals[i]) {
            pb_secret_wipe(vals[i], strlen(vals[i]));
            free(vals[i]);
        }
    }
    return rc;
}

int operator_db_connect(operator_ctx *op, int which, pb_err *err)
{
    operator_db *d = &op->dbs[which];
    if (d->tdb)
        return 0;
    const opconfig_db_server *s = d->server;
    if (!s)
        return pb_err_set(err, PB_EINVAL, "no %s database server configured",
                          which == OP_DB_SHARED ? "shared" : "dedicated");
    char *conninfo = NULL;
    int rc = admin_conninfo(op->client, s, op->system_ns, &conninfo, err);
    if (rc != 0)
        return rc;
    pb_tdb_config tc = {.admin_conninfo = conninfo,
                        .server_name = s->name,
                        .role = which == OP_DB_DEDICATED ? PB_TDB_DEDICATED : PB_TDB_SHARED,
                        .shared_db = s->database,
                        .tenant_host = s->tenant_host ? s->tenant_host : s->host,
                        .tenant_port = s->port,
                        .sslmode = s->sslmode,
                        .snapshot_dir = op->snapshot_dir,
                        .connect_timeout_s = 5,
                        .cutoff = operator_db_cutoff,
                        .cutoff_ud = op};
    rc = pb_tdb_new(&tc, &d->tdb, err);
    pb_secret_wipe(conninfo, strlen(conninfo));
    free(conninfo);
    if (rc != 0)
        return pb_err_wrap(err, "database server %s (%s:%d)", s->name, s->host, s->port);
    pb_log_info("database server connected", "server", s->name, "role", s->role, "host", s->host, NULL);
    return 0;
}

double operator_db_cutoff(void *ud)
{
    const operator_ctx *op = ud;
    return kube_client_cutoff(op->client);
}

int operator_db_admin_conninfo(operator_ctx *op, int which, char **out, pb_err *err)
{
    *out = NULL;
    const opconfig_db_server *s = op->dbs[which].server;
    if (!s)
        return pb_err_set(err, PB_EINVAL, "no %s database server configured",
                          which == OP_DB_SHARED ? "shared" : "dedicated");
    return admin_conninfo(op->client, s, op->system_ns, out, err);
}

/* The first server of each role; connect now when possible (an early,
 * clear log line), later otherwise. */
static void configure_databases(operator_ctx *op, const opconfig *cfg)
{
    op->snapshot_dir = cfg->snapshot_dir;
    for (size_t i = 0; i < cfg->nservers; i++) {
        int which = strcmp(cfg->servers[i].role, "dedicated") == 0 ? OP_DB_DEDICATED : OP_DB_SHARED;
        if (op->dbs[which].server)
            pb_log_warn("more than one database server of this role: using the first", "role",
                        cfg->servers[i].role, "ignored", cfg->servers[i].name, NULL);
        else
            op->dbs[which].server = &cfg->servers[i];
    }
    if (!op->dbs[OP_DB_SHARED].server) {
        if (op->dbs[OP_DB_DEDICATED].server)
            pb_log_warn("databaseServers has no shared server: tenants with a database stay not Ready", NULL);
        else
            pb_log_warn("no database servers configured: tenants whose plan has a database stay not Ready", NULL);
        op->dbs[OP_DB_DEDICATED].server = NULL;
        return;
    }
    pthread_mutex_lock(&op->db_mu);
    for (int w = 0; w < OP_DB_COUNT; w++) {
        pb_err e;
        pb_err_clear(&e);
        if (op->dbs[w].server && operator_db_connect(op, w, &e) != 0)
            pb_log_warn("database server not reachable yet; tenants wait with DatabaseReady=False",
                        "error", e.msg, NULL);
    }
    pthread_mutex_unlock(&op->db_mu);
}

typedef struct probe_ctx {
    manager *m;
    int ready; /* 0 healthz, 1 readyz */
} probe_ctx;

static void probe_handler(const pb_http_request *req, pb_http_response *resp, void *arg)
{
    (void)req;
    probe_ctx *p = arg;
    char why[256] = "";
    int rc = p->ready ? manager_readyz(p->m, why, sizeof why) : manager_healthz(p->m, why, sizeof why);
    if (rc == 0)
        pb_http_reply(resp, 200, "text/plain", "ok", 2);
    else
        pb_http_reply(resp, 503, "text/plain", why, strlen(why));
}

/* Start an endpoint server on addr with the probe routes, the metrics
 * route, or both (when --health-addr and --metrics-addr are the same). */
static int serve(const char *addr, const char *name, int with_probes, int with_metrics,
                 pb_http_server **out, probe_ctx probes[2], pb_err *err)
{
    *out = NULL;
    if (!addr || !*addr || strcmp(addr, "0") == 0 || (!with_probes && !with_metrics))
        return 0;
    pb_http_config hc = {.addr = addr, .name = name};
    int rc = pb_http_server_new(&hc, out, err);
    if (rc == 0 && with_probes) {
        rc = pb_http_route(*out, "GET", "/healthz", probe_handler, &probes[0], err);
        if (rc == 0)
            rc = pb_http_route(*out, "GET", "/readyz", probe_handler, &probes[1], err);
    }
    if (rc == 0 && with_metrics)
        rc = pb_http_route(*out, "GET", "/metrics", pb_http_metrics_handler, NULL, err);
    if (rc == 0)
        rc = pb_http_server_start(*out, err);
    if (rc != 0)
        return pb_err_wrap(err, "%s endpoint on %s", name, addr);
    char port[16];
    snprintf(port, sizeof port, "%d", pb_http_server_port(*out));
    pb_log_info("serving", "endpoint", name, "addr", addr, "port", port, NULL);
    return 0;
}

typedef struct watch_spec {
    controller **ctl;
    informer *inf;
    controller_map_fn fn;
    controller_update_predicate pred; /* which updates matter; NULL: all */
    const char *pred_path;            /* for operator_pred_path_changed */
} watch_spec;

/* Every route of the operator's HTTPS endpoint (webhook_certs serves it
 * with its managed certificate); ud is the operator_ctx. */
static int register_https_routes(pb_http_server *srv, void *ud, pb_err *err)
{
    int brc = billing_register_routes(((operator_ctx *)ud)->billing, srv, err);
    if (brc != 0)
        return brc;
    operator_ctx *op = ud;
    int rc = wf_adm_register(srv, op->admission, err);
    return rc ? rc : licence_register_routes(srv, op, err);
}

int operator_run(const pb_options *opts, pb_err *err)
{
    opconfig cfg;
    int rc = opconfig_load(opts->config, &cfg, err);
    if (rc != 0)
        return rc;
    const char *system_ns = cfg.system_namespace ? cfg.system_namespace : opts->namespace_name;

    operator_ctx op;
    memset(&op, 0, sizeof op);
    pthread_mutex_init(&op.db_mu, NULL);
    pthread_mutex_init(&op.agent_db_mu, NULL);
    pthread_mutex_init(&op.plan_mu, NULL);
    pthread_mutex_init(&op.echo_mu, NULL);
    op.system_ns = system_ns;
    manager *m = NULL;
    kube_config *kc = NULL;
    kube_client *client = NULL;
    pb_http_server *health = NULL, *metrics = NULL;
    webhook_certs *webhooks = NULL;
    wf_adm_ctx admission;
    store *secrets = NULL;
    probe_ctx probes[2];
    billing_config bcfg;
    memset(&bcfg, 0, sizeof bcfg);
    if (!(op.child_echoes = wecho_new())) {
        rc = pb_err_oom(err);
        goto out;
    }

    /* The manager first: it blocks SIGTERM/SIGINT before any thread exists. */
    kube_config_options ko = {.kubeconfig = opts->kubeconfig, .context = opts->context};
    if ((rc = kube_config_load(&ko, &kc, err)) != 0)
        goto out;
    kube_client_options co = {.qps = opts->qps, .burst = opts->burst, .http2 = opts->http2};
    if ((rc = kube_client_new(kc, &co, &client, err)) != 0)
        goto out;
    op.client = client;
    manager_options mo = {.client = client,
                          .name = "paybill-operator",
                          .system_namespace = opts->leader_elect_namespace ? opts->leader_elect_namespace : system_ns,
                          .leader_elect = opts->leader_elect,
                          .lease_duration_s = (double)opts->lease_duration / 1e9,
                          .renew_deadline_s = (double)opts->renew_deadline / 1e9,
                          .retry_period_s = (double)opts->retry_period / 1e9,
                          .handle_signals = 1};
    if ((rc = manager_new(&mo, &m, err)) != 0) {
        kube_client_free(client); /* not yet owned by a manager */
        goto out;
    }
    op.event = record_event;
    op.event_ud = manager_recorder(m);

    informer *plans, *tenants, *subs, *dms, *apols, *wfs, *apprs, *children[OP_CHILD_COUNT];
    if ((rc = manager_informer(m, &OPERATOR_GVR_PLANS, NULL, &plans, err)) != 0 ||
        (rc = manager_informer(m, &OPERATOR_GVR_TENANTS, NULL, &tenants, err)) != 0 ||
        (rc = manager_informer(m, &OPERATOR_GVR_SUBSCRIPTIONS, NULL, &subs, err)) != 0 ||
        (rc = manager_informer(m, &OPERATOR_GVR_DATAMODELS, NULL, &dms, err)) != 0 ||
        (rc = manager_informer(m, &OPERATOR_GVR_AGENTPOLICIES, NULL, &apols, err)) != 0 ||
        (rc = manager_informer(m, &OPERATOR_GVR_WORKFLOWS, NULL, &wfs, err)) != 0 ||
        (rc = manager_informer(m, &OPERATOR_GVR_APPROVALS, NULL, &apprs, err)) != 0)
        goto out;
    for (int k = 0; k < OP_CHILD_COUNT; k++) {
        informer_source src;
        children[k] = NULL;
        if (k == OP_CHILD_SECRETS) { /* filled by GETs, see above */
            if (!(secrets = store_new())) {
                rc = pb_err_set(err, PB_ENOMEM, "out of memory");
                goto out;
            }
            op.children[k] = secrets;
            continue;
        }
        const char *ns = k == OP_CHILD_CONFIGMAPS ? system_ns : NULL;
        if ((rc = informer_source_kube(client, operator_child_gvr(k), ns, MANAGED_SELECTOR, &src, err)) != 0 ||
            (rc = manager_add_informer(m, operator_child_gvr(k)->resource, &src, &children[k], err)) != 0)
            goto out;
        op.children[k] = informer_store(children[k]);
    }
    op.plans = informer_store(plans);
    op.tenants = informer_store(tenants);
    op.subscriptions = informer_store(subs);
    op.datamodels = informer_store(dms);
    op.agentpolicies = informer_store(apols);
    op.workflows = informer_store(wfs);
    op.approvals = informer_store(apprs);
    agentpol_sources aps = {.policies = op.agentpolicies, .tenants = op.tenants, .plans = op.plans,
                            .datamodels = op.datamodels};
    if ((rc = agentpol_cache_new(&aps, &op.agent_policies, err)) != 0)
        goto out;
    admission = (wf_adm_ctx){.policies = op.agent_policies, .workflows = op.workflows, .client = client,
                             .tenants = op.tenants, .system_ns = op.system_ns};
    op.admission = &admission;
    if ((rc = operator_add_path_index(op.subscriptions, OPERATOR_INDEX_SUB_TENANT, err)) != 0 ||
        (rc = operator_add_path_index(op.subscriptions, OPERATOR_INDEX_SUB_PLAN, err)) != 0 ||
        (rc = operator_add_path_index(op.tenants, OPERATOR_INDEX_TENANT_PLAN, err)) != 0 ||
        (rc = operator_add_path_index(op.tenants, OPERATOR_INDEX_TENANT_DATAMODEL, err)) != 0)
        goto out;

    configure_databases(&op, &cfg);
    if ((rc = opmetrics_watch(tenants, subs, err)) != 0)
        goto out;
    /* Billing webhooks (the routes join the HTTPS endpoint below) and
     * their applier; off without a billing: section. */
    if ((rc = billing_config_parse(cfg.billing, opts->config ? opts->config : "(defaults)", &bcfg, err)) != 0 ||
        (rc = billing_start(&op, m, &bcfg, &op.billing, err)) != 0)
        goto out;
    if ((rc = tsrv_new(&op.tenant_servers, err)) != 0)
        goto out;
    /* Cloud runs (a pool of tofu subprocesses); off without a cloud: section. */
    {
        cloud_config ccfg;
        if ((rc = cloud_config_parse(cfg.cloud, opts->config ? opts->config : "(defaults)", &ccfg, err)) != 0 ||
            (rc = cloud_start(&op, &ccfg, &op.cloud, err)) != 0)
            goto out;
    }

    controller_options plan_o = {.name = "plan", .workers = opts->workers, .reconcile = plan_reconcile, .user = &op};
    controller_options sub_o = {.name = "subscription", .workers = opts->workers, .reconcile = subscription_reconcile, .user = &op};
    controller_options ten_o = {.name = "tenant", .workers = opts->workers, .reconcile = tenant_reconcile, .user = &op};
    controller_options dm_o = {.name = "datamodel", .workers = 1, .reconcile = datamodel_reconcile, .user = &op};
    controller_options pol_o = {.name = "agentpolicy", .workers = opts->workers, .reconcile = agentpolicy_reconcile, .user = &op};
    controller_options wf_o = {.name = "workflow", .workers = opts->workers, .reconcile = workflow_reconcile, .user = &op};
    controller_options audit_o = {.name = "audit", .workers = 1, .reconcile = audit_reconcile, .user = &op};
    if ((rc = manager_add_controller(m, &plan_o, &op.plan_ctrl, err)) != 0 ||
        (rc = manager_add_controller(m, &sub_o, &op.sub_ctrl, err)) != 0 ||
        (rc = manager_add_controller(m, &ten_o, &op.tenant_ctrl, err)) != 0 ||
        (rc = manager_add_controller(m, &dm_o, &op.dm_ctrl, err)) != 0 ||
        (rc = manager_add_controller(m, &pol_o, &op.policy_ctrl, err)) != 0 ||
        (rc = controller_for(op.policy_ctrl, apols, OPERATOR_API_VERSION, "AgentPolicy", 0, err)) != 0 ||
        (rc = manager_add_controller(m, &wf_o, &op.workflow_ctrl, err)) != 0 ||
        (rc = controller_for(op.workflow_ctrl, wfs, OPERATOR_API_VERSION, "Workflow", 0, err)) != 0 ||
        (rc = manager_add_controller(m, &audit_o, &op.audit_ctrl, err)) != 0 ||
        (rc = controller_for_predicates(op.audit_ctrl, tenants, OPERATOR_API_VERSION, "Tenant", 0, audit_pending,
                                        audit_requested, NULL, err)) != 0 ||
        (rc = controller_for(op.dm_ctrl, dms, OPERATOR_API_VERSION, "DataModel", 0, err)) != 0 ||
        (rc = controller_for(op.plan_ctrl, plans, OPERATOR_API_VERSION, "Plan", 0, err)) != 0 ||
        /* Not on the echoes of its own status writes (see below). */
        (rc = controller_for_filtered(op.sub_ctrl, subs, OPERATOR_API_VERSION, "Subscription", 0,
                                      operator_subscription_updated, &op, err)) != 0 ||
        /* Not on the echoes of our own status writes (the tenant
         * controller's and the licence controller's): they came back as
         * reconciles that wrote nothing. A status edited by anyone else
         * is put back. */
        (rc = controller_for_filtered(op.tenant_ctrl, tenants, OPERATOR_API_VERSION, "Tenant", 0,
                                      operator_tenant_updated, &op, err)) != 0)
        goto out;
    /* Predicates keep fan-out proportional to what changed: a Plan's status
     * write (its tenant count) must not re-queue every tenant on it. */
    watch_spec watches[] = {
        {&op.plan_ctrl, tenants, plan_map_tenant, operator_pred_path_changed, "status.plan"},
        {&op.sub_ctrl, plans, operator_map_plan_to_subscriptions, controller_generation_changed, NULL},
        {&op.sub_ctrl, tenants, map_tenant_to_subscriptions, operator_pred_never, NULL},
        {&op.tenant_ctrl, subs, operator_map_subscription_to_tenant, NULL, NULL},
        {&op.tenant_ctrl, plans, operator_map_plan_to_tenants, controller_generation_changed, NULL},
        {&op.tenant_ctrl, dms, map_datamodel_to_tenants, operator_pred_path_changed, "status.appliedModel"},
        {&op.dm_ctrl, tenants, operator_map_tenant_to_datamodel, operator_pred_path_changed, "status.database"},
        /* A policy's view depends on its namespace's other policies, the
         * tenant (namespace, plan, DataModel, database), the Plan's limits
         * and the applied DataModel. */
        {&op.policy_ctrl, apols, operator_map_agentpolicy_to_namespace, controller_generation_changed, NULL},
        {&op.policy_ctrl, tenants, operator_map_tenant_to_agentpolicies, operator_pred_path_changed, "status"},
        {&op.policy_ctrl, plans, operator_map_plan_to_agentpolicies, controller_generation_changed, NULL},
        {&op.policy_ctrl, dms, operator_map_datamodel_to_agentpolicies, operator_pred_path_changed, "status.appliedModel"},
        /* Workflows wait for Approvals and for their tenant (suspension). */
        {&op.workflow_ctrl, apprs, operator_map_to_workflows, NULL, NULL},
        /* Tenants wait for Approvals of their cloud plans (cloud.h). */
        {&op.tenant_ctrl, apprs, cloud_map_approval_to_tenant, NULL, NULL},
        {&op.workflow_ctrl, tenants, operator_map_to_workflows, operator_pred_path_changed, "status.phase"},
    };
    for (size_t i = 0; i < sizeof watches / sizeof watches[0]; i++)
        if ((rc = controller_watches_filtered(*watches[i].ctl, watches[i].inf, watches[i].fn, &op,
                                              watches[i].pred, (void *)watches[i].pred_path, err)) != 0)
            goto out;
    for (int k = 0; k < OP_CHILD_COUNT; k++) {
        op.child_watch[k] = (operator_child_watch){.op = &op, .kind = k};
        if (children[k] &&
            (rc = controller_watches_predicates(op.tenant_ctrl, children[k], operator_map_child_to_tenant, &op,
                                                operator_child_added, operator_child_updated,
                                                &op.child_watch[k], err)) != 0)
            goto out;
    }
    /* Signed licences per tenant, and their keys (licence_controller.h). */
    if ((rc = licence_setup(m, &op, &cfg.licence, tenants, plans, subs, children[OP_CHILD_CONFIGMAPS],
                            opts->workers, err)) != 0)
        goto out;

    probes[0] = (probe_ctx){m, 0};
    probes[1] = (probe_ctx){m, 1};
    int shared = opts->health_addr && opts->metrics_addr && strcmp(opts->health_addr, opts->metrics_addr) == 0 &&
                 strcmp(opts->health_addr, "127.0.0.1:0") != 0;
    if ((rc = serve(opts->health_addr, "health", 1, shared, &health, probes, err)) != 0 ||
        (rc = serve(opts->metrics_addr, "metrics", 0, !shared, &metrics, probes, err)) != 0)
        goto out;
    /* Every replica serves the webhooks, leader or not: the API server
     * calls whichever one the Service picks. */
    if (opts->webhook_addr && strcmp(opts->webhook_addr, "0") != 0) {
        webhook_certs_options wo = {.client = client,
                                    .namespace_name = system_ns,
                                    .listen_addr = opts->webhook_addr,
                                    .register_routes = register_https_routes,
                                    .register_ud = &op,
                                    .external = opts->webhook_certs_external};
        if ((rc = webhook_certs_start(&wo, &webhooks, err)) != 0)
            goto out;
    }

    pb_log_info("operator starting", "version", PAYBILL_VERSION, "systemNamespace", system_ns,
                "leaderElection", opts->leader_elect ? "true" : "false", NULL);
    rc = manager_run(m, err);
    pb_log_info("operator stopped", "result", rc == 0 ? "clean" : pb_err_msg(err), NULL);
out:
    webhook_certs_free(webhooks); /* before the manager frees the client */
    billing_free(op.billing); /* after the server that calls it, before the client */
    cloud_free(op.cloud);     /* joins the run pool: before the client its runs' results use */
    if (health)
        pb_http_server_stop(health);
    if (metrics)
        pb_http_server_stop(metrics);
    manager_free(m); /* stops everything first; frees the client */
    tsrv_free(op.tenant_servers);
    licence_state_free(op.licence);
    agentpol_cache_free(op.agent_policies);
    pb_http_server_free(health);
    pb_http_server_free(metrics);
    for (int w = 0; w < OP_DB_COUNT; w++)
        if (op.dbs[w].tdb)
            pb_tdb_free(op.dbs[w].tdb);
    pthread_mutex_destroy(&op.db_mu);
    pthread_mutex_destroy(&op.agent_db_mu);
    pthread_mutex_destroy(&op.plan_mu);
    pthread_mutex_destroy(&op.echo_mu);
    json_decref(op.echo);
    wecho_free(op.child_echoes); /* after the manager: its informers call the predicates */
    json_decref(op.plan_written);
    json_decref(op.plan_count_due);
    json_decref(op.agent_db_applied);
    json_decref(op.agent_inflight);
    store_free(secrets);
    kube_config_free(kc);
    opconfig_free(&cfg);
    billing_config_free(&bcfg);
    return rc;
}

void operator_mark_approval_used(operator_ctx *op, const char *ns, const char *approval_uid, const char *by,
                                 const char *now)
{
    json_t *items = op->approvals ? store_by_index(op->approvals, STORE_INDEX_NAMESPACE, ns, NULL) : NULL;
    size_t k;
    json_t *a;
    json_array_foreach(items, k, a) {
        const char *auid = json_string_value(json_object_get(json_object_get(a, "metadata"), "uid"));
        if (!auid || strcmp(auid, approval_uid) != 0)
            continue;
        json_t *st = json_pack("{s:s, s:s, s:s}", "phase", "Used", "usedAt", now, "usedBy", by);
        json_t *old = json_incref(json_object_get(a, "status"));
        json_object_set_new(a, "status", st);
        pb_err e;
        pb_err_clear(&e);
        if (operator_write_status(op, &OPERATOR_GVR_APPROVALS, a, old, &e) != 0)
            pb_log_warn("marking an approval used", "approval", auid, "error", e.msg, NULL);
        json_decref(old);
    }
    json_decref(items);
}
