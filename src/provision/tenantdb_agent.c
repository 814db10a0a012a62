/*
 * tenantdb_agent.c - the tenant's agent login (see "Agent logins" in
 * tenantdb.h; declarations shared with the module in tenantdb_int.h).
 *
 * The agent login is the database half of AgentPolicy enforcement, so it
 * must never hold more than its policies give: it is made with no table
 * privileges at all, its place (search_path, CONNECT, the rls agents group)
 * carries none, and pb_tdb_agent_apply only commits SQL whose every effect
 * stays on the agent's own privileges and policies on the tenant's tables.
 * That SQL is rendered elsewhere (src/agent/sqlgen.c, which this layer may
 * not include), so it is checked here three ways before it commits:
 *   1. each statement must be of the shapes the renderer makes (GRANT ... TO
 *      the agent, REVOKE ... FROM it, its policies and row-level security
 *      on the tenant's tables) and name no other tenant login; statements
 *      run one at a time with the extended protocol, so none can smuggle a
 *      second one (a COMMIT) in;
 *   2. every catalog row the transaction wrote (xmin = its own xid, so a
 *      concurrent operation elsewhere never trips it) must belong to the
 *      tenant's tables or schema;
 *   3. on those tables, everything that is not the agent's own (other
 *      roles' grants, other policies, the columns, FORCE) is as it was.
 * Any failure rolls the whole transaction back.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "provision/pg.h"
#include "provision/tenantdb.h"
#include "provision/tenantdb_int.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/secret.h"

void tdb_agent_role_of(const char *id, char out[TDB_NAME_MAX]) { snprintf(out, TDB_NAME_MAX, "pb_a_%s", id); }

/* ---- place: membership, CONNECT, search_path ---------------------------------------- */

int tdb_agent_place(pb_tdb *t, PGconn *c, const tdb_row *row, pb_dm_layout l, const char *loc, pb_err *e)
{
    const char *agent = row->agent_role;
    if (!agent[0])
        return 0;
    int rls = l == PB_DM_LAYOUT_RLS, member = 0;
    const char *db = tdb_data_db(t, l, loc);
    PGresult *r = NULL;
    const char *p[2] = {agent, db};
    /* Its groups (only the rls agents group, and only in rls), whoever is a
     * member of it (nobody: a tenant login must not borrow its grants), and
     * its own CONNECT grants (only on the data database, and not in rls,
     * where the group has it). */
    int rc = pb_pg_query(c,
                         "SELECT 'group', g.rolname FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid "
                         "  WHERE m.member = (SELECT oid FROM pg_roles WHERE rolname = $1) "
                         "UNION ALL SELECT 'member', u.rolname FROM pg_auth_members m JOIN pg_roles u ON u.oid = m.member "
                         "  WHERE m.roleid = (SELECT oid FROM pg_roles WHERE rolname = $1) "
                         "UNION ALL SELECT 'connect', d.datname FROM pg_database d, aclexplode(d.datacl) a "
                         "  WHERE a.grantee = (SELECT oid FROM pg_roles WHERE rolname = $1) "
                         "UNION ALL SELECT 'inherit', CASE WHEN rolinherit THEN 't' ELSE 'f' END FROM pg_roles WHERE rolname = $1",
                         1, p, &r, e);
    int has_connect = 0;
    for (int i = 0; rc == 0 && i < PQntuples(r); i++) {
        const char *k = PQgetvalue(r, i, 0), *v = PQgetvalue(r, i, 1);
        if (strcmp(k, "group") == 0 && rls && strcmp(v, t->rls_agents) == 0)
            member = 1;
        else if (strcmp(k, "group") == 0)
            rc = pb_pg_execf(c, e, "REVOKE %I FROM %I", v, agent);
        else if (strcmp(k, "member") == 0)
            rc = pb_pg_execf(c, e, "REVOKE %I FROM %I", agent, v);
        else if (strcmp(k, "connect") == 0 && !rls && strcmp(v, db) == 0)
            has_connect = 1;
        else if (strcmp(k, "connect") == 0)
            rc = pb_pg_execf(c, e, "REVOKE ALL ON DATABASE %I FROM %I", v, agent);
        else if (strcmp(k, "inherit") == 0 && (strcmp(v, "t") == 0) != rls)
            /* INHERIT only in rls, where its base privileges are the group's. */
            rc = pb_pg_execf(c, e, "ALTER ROLE %I %s", agent, rls ? "INHERIT" : "NOINHERIT");
    }
    PQclear(r);
    if (rc == 0 && rls && !member)
        rc = pb_pg_execf(c, e, "GRANT %I TO %I", t->rls_agents, agent);
    if (rc == 0 && !rls && !has_connect)
        rc = pb_pg_execf(c, e, "GRANT CONNECT ON DATABASE %I TO %I", db, agent);
    /* USAGE on its schema (rls: the group's), so that its search_path
     * resolves and a table it may not use says "permission denied". */
    PGconn *dc = NULL;
    if (rc == 0 && l == PB_DM_LAYOUT_DATABASE)
        rc = pb_pg_pool_get(t->pool, db, &dc, e);
    if (rc == 0 && !rls)
        rc = pb_pg_execf(dc ? dc : c, e, "GRANT USAGE ON SCHEMA %I TO %I", tdb_data_schema(l, loc), agent);
    tdb_put_conn(t, dc);
    if (rc == 0)
        rc = pb_pg_execf(c, e, "ALTER ROLE %I SET search_path = %I", agent, tdb_data_schema(l, loc));
    return rc ? pb_err_wrap(e, "placing agent login %s in %s %s", agent, pb_dm_layout_name(l), loc) : 0;
}

/* ---- taking privileges away -------------------------------------------------------- */

int tdb_agent_strip_rls(PGconn *c, const char *id, const char *schema, pb_err *e)
{
    char agent[TDB_NAME_MAX];
    tdb_agent_role_of(id, agent);
    const char *p[2] = {agent, schema};
    PGresult *r = NULL;
    /* Found from the catalog, not from a model: whatever version granted
     * them, nothing of the agent's stays on the tables. */
    int rc = pb_pg_query(
        c,
        "WITH ag AS (SELECT oid FROM pg_roles WHERE rolname = $1), "
        "tb AS (SELECT c.oid, c.relname, c.relacl FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "       WHERE n.nspname = $2 AND c.relkind IN ('r', 'p')) "
        "SELECT 'policy', tb.relname, p.polname FROM tb JOIN pg_policy p ON p.polrelid = tb.oid "
        "  WHERE (SELECT oid FROM ag) = ANY (p.polroles) "
        "UNION ALL SELECT DISTINCT 'grant', tb.relname, '' FROM tb "
        "  WHERE EXISTS (SELECT 1 FROM aclexplode(tb.relacl) a WHERE a.grantee = (SELECT oid FROM ag)) "
        "     OR EXISTS (SELECT 1 FROM pg_attribute t, aclexplode(t.attacl) a "
        "                WHERE t.attrelid = tb.oid AND a.grantee = (SELECT oid FROM ag)) "
        "UNION ALL SELECT 'schema', n.nspname, '' FROM pg_namespace n, aclexplode(n.nspacl) a "
        "  WHERE n.nspname = $2 AND a.grantee = (SELECT oid FROM ag)",
        2, p, &r, e);
    for (int i = 0; rc == 0 && i < PQntuples(r); i++) {
        const char *k = PQgetvalue(r, i, 0), *tn = PQgetvalue(r, i, 1);
        if (strcmp(k, "policy") == 0)
            rc = pb_pg_execf(c, e, "DROP POLICY %I ON %I.%I", PQgetvalue(r, i, 2), schema, tn);
        else if (strcmp(k, "grant") == 0) /* table level: the column grants go too */
            rc = pb_pg_execf(c, e, "REVOKE ALL ON TABLE %I.%I FROM %I", schema, tn, agent);
        else
            rc = pb_pg_execf(c, e, "REVOKE ALL ON SCHEMA %I FROM %I", schema, agent);
    }
    PQclear(r);
    return rc ? pb_err_wrap(e, "taking agent login %s off %s", agent, schema) : 0;
}

int tdb_agent_drop_role(pb_tdb *t, PGconn *c, const char *id, const tdb_row *row, pb_err *e)
{
    char agent[TDB_NAME_MAX];
    int found = 0;
    tdb_agent_role_of(id, agent);
    int rc = tdb_role_exists(c, agent, &found, e);
    if (rc == 0 && found)
        rc = tdb_lock_out(c, agent, e);
    /* Its grants and policies in every silo database of the tenant that is
     * still there (a schema goes with its grants; shared_db below). */
    const struct {
        int has;
        pb_dm_layout l;
        const char *loc;
    } places[3] = {{row->found, row->layout, row->location},
                   {row->has_move, row->move_layout, row->move_location},
                   {row->has_old, row->old_layout, row->old_location}};
    for (int i = 0; rc == 0 && found && i < 3; i++) {
        int db_found = 0;
        PGconn *dc = NULL;
        if (!places[i].has || places[i].l != PB_DM_LAYOUT_DATABASE)
            continue;
        rc = tdb_exists(c, "SELECT 1 FROM pg_database WHERE datname = $1", places[i].loc, &db_found, e);
        if (rc == 0 && db_found)
            rc = pb_pg_pool_get(t->pool, places[i].loc, &dc, e);
        if (rc == 0 && db_found)
            rc = pb_pg_execf(dc, e, "DROP OWNED BY %I", agent);
        tdb_put_conn(t, dc);
    }
    if (rc == 0 && found)
        rc = pb_pg_execf(c, e, "DROP OWNED BY %I; DROP ROLE IF EXISTS %I", agent, agent);
    if (rc == 0 && row->found)
        rc = tdb_update_row(c,
                            "UPDATE paybill.tenants SET agent_role = NULL, agent_password_hash = NULL "
                            "WHERE tenant_id = $1 AND (agent_role IS NOT NULL OR agent_password_hash IS NOT NULL)",
                            id, NULL, NULL, e);
    if (rc == 0 && found)
        pb_log_info("agent login dropped", "tenant", id, "login", agent, NULL);
    return rc ? pb_err_wrap(e, "dropping agent login %s", agent) : 0;
}

/* ---- API ----------------------------------------------------------------------------- */

/* Agent logins change only while the tenant stays put. */
static int not_moving(const tdb_row *row, pb_err *e)
{
    int rc = tdb_cross_move_pending(row, e);
    if (rc == 0 && (row->has_move || row->has_old))
        rc = pb_err_set(e, PB_ECONFLICT, "a move to %s is unfinished: rerun the move first",
                        pb_dm_layout_name(row->has_move ? row->move_layout : row->layout));
    return rc;
}

static void fill_target(const tdb_row *row, pb_tdb_agent_target *tg)
{
    memset(tg, 0, sizeof *tg);
    tg->layout = row->layout;
    snprintf(tg->schema, sizeof tg->schema, "%s", tdb_data_schema(row->layout, row->location));
    snprintf(tg->role, sizeof tg->role, "%s", row->agent_role);
}

int pb_tdb_agent_ensure(pb_tdb *t, const char *id, const char *password, pb_tdb_creds *creds,
                        pb_tdb_agent_target *target, pb_err *e)
{
    PGconn *c = NULL;
    tdb_row row;
    char agent[TDB_NAME_MAX], *pw = NULL;
    int created = 0, can_login = 0, found = 0;
    memset(creds, 0, sizeof *creds);
    if (target)
        memset(target, 0, sizeof *target);
    int rc = password ? tdb_password_ok(password, e) : tdb_new_password(&pw, e);
    if (rc)
        return pb_err_wrap(e, "agent login of tenant %s", id ? id : "");
    const char *secret = password ? password : pw;
    rc = tdb_open_tenant(t, id, 1, &c, &row, e);
    if (rc == 0)
        rc = not_moving(&row, e);
    if (rc == 0)
        tdb_agent_role_of(id, agent);
    /* Recorded before it is made, so that delete finds it after a crash. A
     * role of that name nobody recorded is a leftover (an earlier tenant of
     * the same id, a hand-made one): it goes with whatever it held, so the
     * login starts with nothing. */
    if (rc == 0 && !row.agent_role[0]) {
        rc = tdb_role_exists(c, agent, &found, e);
        if (rc == 0 && found)
            rc = tdb_agent_drop_role(t, c, id, &row, e);
        if (rc == 0)
            rc = tdb_update_row(c, "UPDATE paybill.tenants SET agent_role = $2, agent_password_hash = NULL "
                                   "WHERE tenant_id = $1",
                                id, agent, NULL, e);
        if (rc == 0)
            rc = tdb_load_row(c, id, &row, e);
    }
    if (rc == 0)
        rc = tdb_ensure_role(c, agent, PB_TDB_AGENT_CONNECTION_LIMIT, row.layout == PB_DM_LAYOUT_RLS, &created,
                             &can_login, e);
    if (rc == 0)
        rc = tdb_converge_password(c, id, agent, secret, row.agent_pw_hash, created, TDB_PW_AGENT, e);
    if (rc == 0)
        rc = tdb_load_row(c, id, &row, e);
    if (rc == 0)
        rc = tdb_agent_place(t, c, &row, row.layout, row.location, e);
    /* LOGIN while the tenant is active; suspended and retained tenants'
     * agents stay out (their sessions were ended when that happened). */
    int want = strcmp(row.state, "active") == 0;
    if (rc == 0 && want && !can_login)
        rc = pb_pg_execf(c, e, "ALTER ROLE %I LOGIN", agent);
    else if (rc == 0 && !want && can_login)
        rc = tdb_lock_out(c, agent, e);
    if (c)
        tdb_close_tenant(t, c, id, 1);
    if (rc == 0)
        rc = tdb_fill_creds(t, &row, agent, secret, creds, e);
    if (rc == 0 && target)
        fill_target(&row, target);
    if (pw) {
        pb_secret_wipe(pw, strlen(pw));
        free(pw);
    }
    if (rc)
        return pb_err_wrap(e, "agent login of tenant %s", id);
    if (created)
        pb_log_info("agent login created", "tenant", id, "login", agent, NULL);
    return 0;
}

int pb_tdb_agent_drop(pb_tdb *t, const char *id, pb_err *e)
{
    PGconn *c = NULL;
    tdb_row row;
    int rc = tdb_id_ok(id, e);
    if (rc == 0)
        rc = pb_pg_pool_get(t->pool, t->shared_db, &c, e);
    int locked = rc == 0 && (rc = tdb_tenant_lock(c, id, e)) == 0;
    if (rc == 0)
        rc = tdb_load_row(c, id, &row, e);
    if (rc == 0 && row.found && row.moved_to[0])
        rc = pb_err_set(e, PB_ENOTFOUND, "tenant %s is not on this server: it moved to server %s", id, row.moved_to);
    else if (rc == 0 && row.found)
        rc = tdb_cross_move_pending(&row, e);
    /* An unknown tenant has no record, but a leftover role is still ours. */
    if (rc == 0)
        rc = tdb_agent_drop_role(t, c, id, &row, e);
    if (c)
        tdb_close_tenant(t, c, id, locked);
    return rc ? pb_err_wrap(e, "dropping the agent login of tenant %s", id ? id : "") : 0;
}

/* ---- apply: statements ------------------------------------------------------------- */

typedef struct {
    char **v;
    size_t n;
} stmt_list;

static void stmts_free(stmt_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    memset(l, 0, sizeof *l);
}

/* Split at semicolons outside quotes ('...' with '' inside, "..." with ""
 * inside; the renderer makes nothing else). A misreading can only make a
 * piece that fails the shape check or the one-statement rule of the
 * extended protocol: it never runs more than was checked. */
static int split_statements(const char *sql, stmt_list *out, pb_err *e)
{
    memset(out, 0, sizeof *out);
    const char *p = sql, *start = sql;
    char q = 0;
    for (;; p++) {
        if (*p && q) {
            if (*p == q)
                q = 0; /* a doubled quote reopens at the next character */
            continue;
        }
        if (*p == '\'' || *p == '"') {
            q = *p;
            continue;
        }
        if (*p && *p != ';')
            continue;
        const char *a = start, *b = p;
        while (a < b && strchr(" \t\r\n", *a))
            a++;
        while (b > a && strchr(" \t\r\n", b[-1]))
            b--;
        if (b > a) {
            char **nv = realloc(out->v, (out->n + 1) * sizeof *nv);
            char *s = nv ? malloc((size_t)(b - a) + 1) : NULL;
            if (nv)
                out->v = nv;
            if (!s) {
                stmts_free(out);
                return pb_err_oom(e);
            }
            memcpy(s, a, (size_t)(b - a));
            s[b - a] = '\0';
            out->v[out->n++] = s;
        }
        if (!*p)
            break;
        start = p + 1;
    }
    if (q) {
        stmts_free(out);
        return pb_err_set(e, PB_EINVAL, "the agent SQL ends inside a quoted string");
    }
    return 0;
}

static int starts(const char *s, const char *pre) { return strncmp(s, pre, strlen(pre)) == 0; }

static int ends(const char *s, const char *suf)
{
    size_t n = strlen(s), k = strlen(suf);
    return n >= k && strcmp(s + n - k, suf) == 0;
}

/* Quoted "schema"."table" of every model table, for matching. */
typedef struct {
    char **v;
    size_t n;
} qnames;

static void qnames_free(qnames *q)
{
    for (size_t i = 0; i < q->n; i++)
        free(q->v[i]);
    free(q->v);
}

/* A statement of one of the shapes the agent's grants are made of (see
 * sqlgen.h), for agent login `qa` (quoted) and the tables `qt`. */
static int shape_ok(const char *s, const char *qa, const qnames *qt, int rls)
{
    char buf[512];
    if (starts(s, "GRANT ")) {
        snprintf(buf, sizeof buf, " TO %s", qa);
        return ends(s, buf);
    }
    if (starts(s, "REVOKE ")) {
        snprintf(buf, sizeof buf, " FROM %s", qa);
        return ends(s, buf);
    }
    for (size_t i = 0; i < qt->n; i++) {
        snprintf(buf, sizeof buf, " ON %s", qt->v[i]);
        if (starts(s, "DROP POLICY IF EXISTS \"") && ends(s, buf))
            return 1;
        snprintf(buf, sizeof buf, " ON %s AS RESTRICTIVE FOR ", qt->v[i]);
        char to[256];
        snprintf(to, sizeof to, " TO %s ", qa);
        if (starts(s, "CREATE POLICY \"") && strstr(s, buf) && strstr(s, to))
            return 1;
        snprintf(buf, sizeof buf, " ON %s AS PERMISSIVE FOR ALL TO PUBLIC USING (true) WITH CHECK (true)", qt->v[i]);
        if (!rls && starts(s, "CREATE POLICY \"pb_agent_base\"") && ends(s, buf))
            return 1;
        snprintf(buf, sizeof buf, "ALTER TABLE %s ENABLE ROW LEVEL SECURITY", qt->v[i]);
        if (!rls && strcmp(s, buf) == 0)
            return 1;
    }
    return 0;
}

/* Another tenant login named anywhere ("pb_t_...", "pb_a_..."): SQL made
 * for someone else. */
static const char *foreign_login(const char *sql, const char *agent, char out[TDB_NAME_MAX])
{
    for (const char *p = sql; (p = strstr(p, "\"pb_")) != NULL; p++) {
        const char *end = strchr(p + 1, '"');
        if (!end)
            break;
        snprintf(out, TDB_NAME_MAX, "%.*s", (int)(end - p - 1), p + 1);
        if ((starts(out, "pb_t_") || starts(out, "pb_a_")) && strcmp(out, agent) != 0)
            return out;
    }
    return NULL;
}

/* ---- apply: checks on what the transaction did ---------------------------------------- */

#define SCOPE_CTE                                                                                        \
    "WITH ag AS (SELECT oid FROM pg_catalog.pg_roles WHERE rolname = $1), "                              \
    "sc AS (SELECT c.oid, c.relowner, c.relacl FROM pg_catalog.pg_class c "                              \
    "       JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "                                   \
    "       WHERE n.nspname = $2 AND c.relname::pg_catalog.text = ANY ($3::pg_catalog.text[])) "

/* What on the tenant's tables is not the agent's own: other roles' table
 * and column grants, the columns, FORCE (and in rls, where the renderer
 * leaves it alone, ENABLE) and the policies other than the agent's
 * restrictive ones and the base policy. As one md5. */
static const char SCOPE_SUM_SQL[] =
    SCOPE_CTE
    "SELECT pg_catalog.md5(coalesce(pg_catalog.string_agg(x, E'\\n' ORDER BY x), '')) FROM ("
    "  SELECT 'table ' || c.oid || ' ' || c.relforcerowsecurity || ' ' || "
    "         CASE WHEN $4::boolean THEN c.relrowsecurity::pg_catalog.text ELSE '' END AS x "
    "    FROM pg_catalog.pg_class c JOIN sc ON sc.oid = c.oid "
    "  UNION ALL SELECT 'grant ' || sc.oid || ' ' || a.grantor || ' ' || a.grantee || ' ' || a.privilege_type "
    "         || ' ' || a.is_grantable "
    "    FROM sc, pg_catalog.aclexplode(coalesce(sc.relacl, pg_catalog.acldefault('r', sc.relowner))) a "
    "   WHERE a.grantee <> (SELECT oid FROM ag) "
    "  UNION ALL SELECT 'column ' || t.attrelid || ' ' || t.attnum || ' ' || t.attname || ' ' || t.atttypid "
    "         || ' ' || t.attnotnull || ' ' || t.attisdropped "
    "    FROM pg_catalog.pg_attribute t JOIN sc ON sc.oid = t.attrelid WHERE t.attnum > 0 "
    "  UNION ALL SELECT 'column grant ' || t.attrelid || ' ' || t.attnum || ' ' || a.grantor || ' ' || a.grantee "
    "         || ' ' || a.privilege_type || ' ' || a.is_grantable "
    "    FROM pg_catalog.pg_attribute t JOIN sc ON sc.oid = t.attrelid, pg_catalog.aclexplode(t.attacl) a "
    "   WHERE a.grantee <> (SELECT oid FROM ag) "
    "  UNION ALL SELECT 'policy ' || p.polrelid || ' ' || p.polname || ' ' || p.polcmd::pg_catalog.text "
    "         || ' ' || p.polpermissive "
    "         || ' ' || p.polroles::pg_catalog.text "
    "         || ' ' || coalesce(pg_catalog.pg_get_expr(p.polqual, p.polrelid), '') "
    "         || ' ' || coalesce(pg_catalog.pg_get_expr(p.polwithcheck, p.polrelid), '') "
    "    FROM pg_catalog.pg_policy p JOIN sc ON sc.oid = p.polrelid "
    "   WHERE NOT (p.polroles = ARRAY[(SELECT oid FROM ag)] AND NOT p.polpermissive) "
    "     AND NOT (NOT $4::boolean AND p.polname = 'pb_agent_base')"
    ") f";

/* Catalog rows this transaction wrote outside the tenant's tables and
 * schema (xmin: its own xid; deletions outside are impossible by shape:
 * the only DROP allowed is of a policy on the tenant's tables). */
static const char OUTSIDE_SQL[] =
    SCOPE_CTE
    ", me AS (SELECT pg_catalog.pg_current_xact_id()::pg_catalog.xid AS x) "
    "SELECT w FROM ("
    "  SELECT 'relation ' || c.oid::pg_catalog.regclass::pg_catalog.text AS w FROM pg_catalog.pg_class c, me "
    "   WHERE c.xmin = me.x AND c.oid NOT IN (SELECT oid FROM sc) "
    "  UNION ALL SELECT 'column ' || t.attrelid::pg_catalog.regclass::pg_catalog.text || '.' || t.attname "
    "    FROM pg_catalog.pg_attribute t, me WHERE t.xmin = me.x AND t.attrelid NOT IN (SELECT oid FROM sc) "
    "  UNION ALL SELECT 'schema ' || n.nspname FROM pg_catalog.pg_namespace n, me "
    "   WHERE n.xmin = me.x AND n.nspname <> $2 "
    "  UNION ALL SELECT 'policy ' || p.polname || ' on ' || p.polrelid::pg_catalog.regclass::pg_catalog.text "
    "    FROM pg_catalog.pg_policy p, me WHERE p.xmin = me.x AND p.polrelid NOT IN (SELECT oid FROM sc) "
    "  UNION ALL SELECT 'function ' || f.oid::pg_catalog.regprocedure::pg_catalog.text "
    "    FROM pg_catalog.pg_proc f, me WHERE f.xmin = me.x "
    "  UNION ALL SELECT 'type ' || y.oid::pg_catalog.regtype::pg_catalog.text FROM pg_catalog.pg_type y, me "
    "   WHERE y.xmin = me.x "
    "  UNION ALL SELECT 'database ' || d.datname FROM pg_catalog.pg_database d, me WHERE d.xmin = me.x "
    "  UNION ALL SELECT 'membership of ' || m.member::pg_catalog.regrole::pg_catalog.text || ' in ' "
    "         || m.roleid::pg_catalog.regrole::pg_catalog.text FROM pg_catalog.pg_auth_members m, me "
    "   WHERE m.xmin = me.x "
    "  UNION ALL SELECT 'default privileges' FROM pg_catalog.pg_default_acl d, me WHERE d.xmin = me.x "
    "  UNION ALL SELECT 'trigger ' || g.tgname FROM pg_catalog.pg_trigger g, me WHERE g.xmin = me.x "
    "  UNION ALL SELECT 'rule ' || r.rulename FROM pg_catalog.pg_rewrite r, me WHERE r.xmin = me.x "
    "  UNION ALL SELECT 'large object ' || l.oid FROM pg_catalog.pg_largeobject_metadata l, me "
    "   WHERE l.xmin = me.x "
    "  UNION ALL SELECT 'language ' || g.lanname FROM pg_catalog.pg_language g, me WHERE g.xmin = me.x "
    "  UNION ALL SELECT 'foreign server ' || s.srvname FROM pg_catalog.pg_foreign_server s, me "
    "   WHERE s.xmin = me.x "
    "  UNION ALL SELECT 'foreign-data wrapper ' || w.fdwname FROM pg_catalog.pg_foreign_data_wrapper w, me "
    "   WHERE w.xmin = me.x "
    ") o ORDER BY 1 LIMIT 6";

/* Outside rls the tables' own permissive policy must be the base one
 * exactly (PUBLIC, every command, true both ways) wherever row-level
 * security is on, or the tenant's own login would lose rows. */
static const char BASE_SQL[] =
    SCOPE_CTE
    "SELECT c.relname FROM pg_catalog.pg_class c JOIN sc ON sc.oid = c.oid "
    " WHERE NOT $4::boolean AND c.relrowsecurity AND NOT EXISTS ("
    "   SELECT 1 FROM pg_catalog.pg_policy p WHERE p.polrelid = c.oid AND p.polname = 'pb_agent_base' "
    "      AND p.polcmd = '*' AND p.polpermissive AND p.polroles = '{0}'::pg_catalog.oid[] "
    "      AND pg_catalog.pg_get_expr(p.polqual, p.polrelid) = 'true' "
    "      AND pg_catalog.pg_get_expr(p.polwithcheck, p.polrelid) = 'true') "
    "UNION ALL SELECT c.relname FROM pg_catalog.pg_class c JOIN sc ON sc.oid = c.oid "
    " JOIN pg_catalog.pg_policy p ON p.polrelid = c.oid AND p.polname = 'pb_agent_base' WHERE $4::boolean "
    "ORDER BY 1 LIMIT 1";

static char *table_array(const pb_dm_model *m)
{
    pb_buf b = {0};
    pb_buf_puts(&b, "{");
    for (size_t i = 0; i < pb_dm_table_count(m); i++)
        pb_buf_printf(&b, "%s%s", i ? "," : "", pb_dm_table_name(m, i)); /* identifiers: nothing to quote */
    pb_buf_puts(&b, "}");
    return pb_buf_take(&b, NULL);
}

static int scope_sum(PGconn *c, const char *const p[4], char out[33], pb_err *e)
{
    PGresult *r = NULL;
    int rc = pb_pg_query(c, SCOPE_SUM_SQL, 4, p, &r, e);
    if (rc == 0)
        snprintf(out, 33, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
    return rc;
}

/* The statements, one by one, as the owner role on the guarded tables,
 * then the checks; the caller commits or rolls back. */
static int apply_in_tx(pb_tdb *t, PGconn *dc, const tdb_row *row, const char *schema, const pb_dm_model *m,
                       const stmt_list *st, pb_err *e)
{
    int rls = row->layout == PB_DM_LAYOUT_RLS;
    char *names = table_array(m);
    if (!names)
        return pb_err_oom(e);
    const char *p[4] = {row->agent_role, schema, names, rls ? "true" : "false"};
    char before[33] = "", after[33] = "";
    long long v = 0;
    const char *lk[2] = {tdb_data_db(t, row->layout, row->location), schema};
    /* Applies to the same tables one at a time (in rls: every tenant's
     * agent shares them), so that the tables' state read below is only
     * ever changed by this transaction. */
    int rc = pb_pg_query(dc, "SELECT pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('paybill.agent_apply'), "
                             "pg_catalog.hashtext($1 || '/' || $2))",
                         2, lk, NULL, e);
    if (rc == 0)
        rc = tdb_target_version(dc, schema, &v, e);
    if (rc == 0 && v != pb_dm_version(m))
        rc = pb_err_set(e, PB_ECONFLICT,
                        "the tenant's tables are at DataModel version %lld, the grants were rendered for %lld: "
                        "render them again for the tenant's version",
                        v, pb_dm_version(m));
    if (rc == 0)
        rc = tdb_act_as_owner(dc, NULL, e);
    if (rc == 0)
        rc = tdb_guard_tables(dc, schema, m, e);
    if (rc == 0)
        rc = scope_sum(dc, p, before, e);
    for (size_t i = 0; rc == 0 && i < st->n; i++)
        if ((rc = pb_pg_query(dc, st->v[i], 0, NULL, NULL, e)) != 0)
            pb_err_wrap(e, "statement %zu (%.80s)", i + 1, st->v[i]);
    /* In rls the group gives USAGE on the schema: the renderer's own grant
     * would add one ACL entry per tenant. */
    if (rc == 0 && rls)
        rc = pb_pg_execf(dc, e, "REVOKE USAGE ON SCHEMA %I FROM %I", schema, row->agent_role);
    if (rc == 0)
        rc = tdb_guard_tables(dc, schema, m, e);
    if (rc == 0)
        rc = tdb_act_as_admin(dc, e);
    PGresult *r = NULL;
    if (rc == 0)
        rc = pb_pg_query(dc, OUTSIDE_SQL, 3, p, &r, e);
    if (rc == 0 && PQntuples(r) > 0) {
        char list[512] = "";
        size_t len = 0;
        for (int i = 0; i < PQntuples(r) && len < sizeof list; i++)
            len += (size_t)snprintf(list + len, sizeof list - len, "%s%s", i ? ", " : "", PQgetvalue(r, i, 0));
        rc = pb_err_set(e, PB_EINVAL,
                        "the agent SQL changed what is not the agent login's privileges on the tenant's tables "
                        "(%s): refused, nothing applied",
                        list);
    }
    PQclear(r);
    r = NULL;
    if (rc == 0)
        rc = scope_sum(dc, p, after, e);
    if (rc == 0 && strcmp(before, after) != 0)
        rc = pb_err_set(e, PB_EINVAL,
                        "the agent SQL changed other roles' grants, the policies or the columns of the tenant's "
                        "tables (only the agent login's own privileges and restrictive policies may change): "
                        "refused, nothing applied");
    if (rc == 0)
        rc = pb_pg_query(dc, BASE_SQL, 4, p, &r, e);
    if (rc == 0 && PQntuples(r) > 0)
        rc = pb_err_set(e, PB_EINVAL,
                        rls ? "the agent SQL made a base policy on %s.%s: in rls it would open every tenant's rows"
                            : "table %s.%s has row-level security without the base policy (PUBLIC, true): the "
                              "tenant's own login would lose its rows; refused, nothing applied",
                        schema, PQgetvalue(r, 0, 0));
    PQclear(r);
    free(names);
    return rc;
}

int pb_tdb_agent_apply(pb_tdb *t, const char *id, const pb_tdb_agent_target *target, const pb_dm_model *m,
                       const char *grants_sql, pb_err *e)
{
    PGconn *c = NULL, *dc = NULL;
    tdb_row row;
    stmt_list st = {0};
    qnames qt = {0};
    char other[TDB_NAME_MAX], *qa = NULL;
    if (!target || !m || !grants_sql)
        return pb_err_set(e, PB_EINVAL, "agent grants of tenant %s: target, model and SQL are required",
                          id ? id : "");
    int rc = tdb_open_tenant(t, id, 1, &c, &row, e);
    if (rc)
        return pb_err_wrap(e, "agent grants");
    rc = not_moving(&row, e);
    int found = 0;
    if (rc == 0 && row.agent_role[0])
        rc = tdb_role_exists(c, row.agent_role, &found, e);
    if (rc == 0 && !found)
        rc = pb_err_set(e, PB_ENOTFOUND, "tenant %s has no agent login: pb_tdb_agent_ensure it first", id);
    const char *schema = tdb_data_schema(row.layout, row.location);
    if (rc == 0 && strcmp(target->role, row.agent_role) != 0)
        rc = pb_err_set(e, PB_EINVAL, "the grants were rendered for role \"%.63s\", not for %s (tenant %s's agent login)",
                        target->role, row.agent_role, id);
    else if (rc == 0 && (target->layout != row.layout || strcmp(target->schema, schema) != 0))
        rc = pb_err_set(e, PB_ECONFLICT,
                        "the grants were rendered for layout %s, schema %.63s; the tenant's tables are in layout "
                        "%s, schema %s now (it moved): render them again from pb_tdb_agent_ensure's target",
                        pb_dm_layout_name(target->layout), target->schema, pb_dm_layout_name(row.layout), schema);
    if (rc == 0 && foreign_login(grants_sql, row.agent_role, other))
        rc = pb_err_set(e, PB_EINVAL, "the agent SQL names login %s, which is not tenant %s's agent login %s", other,
                        id, row.agent_role);
    if (rc == 0)
        rc = split_statements(grants_sql, &st, e);
    if (rc == 0 && st.n == 0)
        rc = pb_err_set(e, PB_EINVAL, "the agent SQL has no statements");
    if (rc == 0)
        rc = pb_pg_pool_get(t->pool, tdb_data_db(t, row.layout, row.location), &dc, e);
    if (rc == 0 && !(qa = pb_pg_format(dc, e, "%I", row.agent_role)))
        rc = e && e->code ? e->code : PB_ENOMEM;
    if (rc == 0 && pb_dm_table_count(m) && !(qt.v = calloc(pb_dm_table_count(m), sizeof *qt.v)))
        rc = pb_err_oom(e);
    for (size_t i = 0; rc == 0 && i < pb_dm_table_count(m); i++, qt.n++)
        if (!(qt.v[i] = pb_pg_format(dc, e, "%I.%I", schema, pb_dm_table_name(m, i))))
            rc = e && e->code ? e->code : PB_ENOMEM;
    for (size_t i = 0; rc == 0 && i < st.n; i++)
        if (!shape_ok(st.v[i], qa, &qt, row.layout == PB_DM_LAYOUT_RLS))
            rc = pb_err_set(e, PB_EINVAL,
                            "statement %zu of the agent SQL is not one the agent login's grants are made of "
                            "(GRANT to it, REVOKE from it, its policies and row-level security on the tenant's "
                            "tables in %s): %.120s",
                            i + 1, schema, st.v[i]);
    if (rc == 0)
        rc = pb_pg_begin(dc, e);
    if (rc == 0)
        rc = apply_in_tx(t, dc, &row, schema, m, &st, e);
    if (rc == 0)
        rc = pb_pg_commit(dc, e);
    pb_pg_rollback(dc);
    tdb_put_conn(t, dc);
    tdb_close_tenant(t, c, id, 1);
    free(qa);
    qnames_free(&qt);
    stmts_free(&st);
    if (rc)
        return pb_err_wrap(e, "agent grants of tenant %s", id);
    pb_log_info("agent grants applied", "tenant", id, "login", row.agent_role, "layout",
                pb_dm_layout_name(row.layout), NULL);
    return 0;
}
