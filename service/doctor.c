#define SUB_LOG_DOMAIN "doctor"
/* doctor.c - `subsetter doctor`: can the service work against this database, and if not,
 * exactly why not.
 *
 * It writes nothing. Exit 0 when the service can run; otherwise the code of the first
 * blocking problem (unreachable, auth, TLS, server too old, missing privilege). Schemas
 * not yet applied are reported but do not fail: the first stage applies them.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "subsetter/bsonutil.h"
#include "subsetter/cli.h"
#include "subsetter/db.h"
#include "subsetter/mongod.h"
#include "subsetter/schema.h"
#include "subsetter/strutil.h"

const char sub_doctor_usage[] =
    "usage: subsetter doctor [--json]\n\n"
    "Connects as every other command would and prints: the URI (password hidden), whether\n"
    "it is the embedded mongod, the server version, the topology, whether TLS is on, the\n"
    "authenticated user and its roles, the database, whether the user holds every privilege\n"
    "the service needs on it (and which are missing), whether the validators and indexes\n"
    "of sql-free-schemas/ are in place, and the FiftyOne datasets found. Writes nothing.\n"
    "Exit 0 when the service can run here; otherwise the code of the reason (see\n"
    "`subsetter --help`).\n";

/* What the service does to its database: read and write samples and its own
 * collections, create collections and indexes, drop what it replaces. These are all in
 * the built-in role readWrite. collMod (dbAdmin) is needed only when a new release
 * changes a validator, so it is reported but not required. */
static const char *const required_actions[] = {
    "find",        "insert",         "update",          "remove",      "createCollection",
    "createIndex", "dropCollection", "listCollections", "listIndexes", NULL};
static const char *const optional_actions[] = {"collMod", NULL};

typedef struct {
    sub_cmd_ctx_t *ctx;
    sub_db_t db;
    bson_t report; /* the --json document */
    sub_error_t err;
    sub_code_t verdict; /* SUB_E_OK or the first blocking problem */
} doctor_t;

static void line(doctor_t *d, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void line(doctor_t *d, const char *key, const char *fmt, ...)
{
    if (d->ctx->json)
        return;
    va_list ap;
    va_start(ap, fmt);
    printf("  %-11s ", key);
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
}

static void check_connection(doctor_t *d)
{
    sub_mongod_info_t info = {0};
    bool running = false;
    BSON_APPEND_UTF8(&d->report, "uri", d->db.uri_redacted);
    BSON_APPEND_BOOL(&d->report, "embedded", d->db.embedded);
    if (d->db.embedded && sub_mongod_status(&d->ctx->cfg, &info, &running, NULL) && running) {
        line(d, "uri", "%s (embedded mongod, pid %d, data %s)", d->db.uri_redacted, info.pid,
             info.dbpath);
        BSON_APPEND_INT32(&d->report, "embedded_pid", info.pid);
        BSON_APPEND_UTF8(&d->report, "embedded_dbpath", info.dbpath);
    } else {
        line(d, "uri", "%s (%s)", d->db.uri_redacted,
             sub_config_origin(&d->ctx->cfg, SUB_SET_DATABASE_URI));
    }
    sub_mongod_info_release(&info);
    line(d, "server", "MongoDB %s", d->db.server_version);
    BSON_APPEND_UTF8(&d->report, "server_version", d->db.server_version);
    line(d, "tls", "%s", d->db.tls ? "on" : "off");
    BSON_APPEND_BOOL(&d->report, "tls", d->db.tls);
}

static void check_topology(doctor_t *d)
{
    bson_t cmd = BSON_INITIALIZER, reply;
    BSON_APPEND_INT32(&cmd, "hello", 1);
    char *topo;
    if (!sub_db_command(&d->db, true, &cmd, &reply, NULL)) {
        topo = sub_xstrdup("unknown (hello failed)");
    } else if (sub_bson_get_str(&reply, "setName")) {
        bson_iter_t it;
        bool primary =
            bson_iter_init_find(&it, &reply, "isWritablePrimary") && bson_iter_as_bool(&it);
        topo = sub_xasprintf("replica set %s (connected to %s, %s)",
                             sub_bson_get_str(&reply, "setName"),
                             sub_bson_get_str(&reply, "me") ? sub_bson_get_str(&reply, "me") : "?",
                             primary ? "primary" : "secondary");
        BSON_APPEND_UTF8(&d->report, "replica_set", sub_bson_get_str(&reply, "setName"));
    } else if (sub_bson_get_str(&reply, "msg") &&
               strcmp(sub_bson_get_str(&reply, "msg"), "isdbgrid") == 0) {
        topo = sub_xstrdup("sharded cluster (mongos)");
    } else {
        topo = sub_xstrdup("standalone");
    }
    line(d, "topology", "%s", topo);
    BSON_APPEND_UTF8(&d->report, "topology", topo);
    free(topo);
    bson_destroy(&cmd);
    bson_destroy(&reply);
}

/* A privilege covers `action` on database `db` when its resource is that database (any
 * collection), every database, or any resource. */
static bool privilege_grants(const bson_t *privs, const char *db, const char *action)
{
    bson_iter_t it, ait;
    if (!bson_iter_init(&it, privs))
        return false;
    while (bson_iter_next(&it)) {
        bson_t priv, res, actions;
        bson_iter_t rit;
        if (!BSON_ITER_HOLDS_DOCUMENT(&it) || !sub_bson_get_doc(privs, bson_iter_key(&it), &priv) ||
            !sub_bson_get_doc(&priv, "resource", &res) ||
            !sub_bson_get_doc(&priv, "actions", &actions))
            continue;
        bool any = bson_iter_init_find(&rit, &res, "anyResource") && bson_iter_as_bool(&rit);
        const char *rdb = sub_bson_get_str(&res, "db"),
                   *rcoll = sub_bson_get_str(&res, "collection");
        bool match = any || (rdb && rcoll && (!*rdb || strcmp(rdb, db) == 0) && !*rcoll);
        if (!match || !bson_iter_init(&ait, &actions))
            continue;
        while (bson_iter_next(&ait))
            if (BSON_ITER_HOLDS_UTF8(&ait) && strcmp(bson_iter_utf8(&ait, NULL), action) == 0)
                return true;
    }
    return false;
}

/* Appends to *list (comma-separated) the actions not granted; returns how many. */
static int missing_actions(const bson_t *privs, const char *db, const char *const *actions,
                           sub_buf_t *list, bson_t *arr)
{
    int n = 0;
    sub_bson_array_t keys = {.arr = arr};
    for (const char *const *a = actions; *a; a++) {
        if (privilege_grants(privs, db, *a))
            continue;
        bson_append_utf8(arr, sub_bson_array_next_key(&keys), -1, *a, -1);
        sub_buf_appendf(list, NULL, "%s%s", list->len ? ", " : "", *a);
        n++;
    }
    return n;
}

static void list_users(doctor_t *d, const bson_t *auth, sub_buf_t *users)
{
    bson_t arr;
    bson_iter_t it;
    if (sub_bson_get_doc(auth, "authenticatedUsers", &arr) && bson_iter_init(&it, &arr)) {
        while (bson_iter_next(&it)) {
            bson_t u;
            if (sub_bson_get_doc(&arr, bson_iter_key(&it), &u))
                sub_buf_appendf(users, NULL, "%s%s@%s", users->len ? ", " : "",
                                sub_bson_get_str(&u, "user"), sub_bson_get_str(&u, "db"));
        }
    }
    sub_buf_t roles = SUB_BUF_INIT;
    if (sub_bson_get_doc(auth, "authenticatedUserRoles", &arr) && bson_iter_init(&it, &arr)) {
        while (bson_iter_next(&it)) {
            bson_t r;
            if (sub_bson_get_doc(&arr, bson_iter_key(&it), &r))
                sub_buf_appendf(&roles, NULL, "%s%s@%s", roles.len ? ", " : "",
                                sub_bson_get_str(&r, "role"), sub_bson_get_str(&r, "db"));
        }
    }
    if (users->len) {
        line(d, "user", "%s (roles: %s)", users->data, roles.len ? roles.data : "none");
        BSON_APPEND_UTF8(&d->report, "user", users->data);
        BSON_APPEND_UTF8(&d->report, "roles", roles.len ? roles.data : "");
    }
    sub_buf_release(&roles);
}

static void check_privileges(doctor_t *d, bool unauthenticated_reads_work)
{
    bson_t cmd = BSON_INITIALIZER, reply, auth, privs, req, opt;
    sub_buf_t users = SUB_BUF_INIT, miss = SUB_BUF_INIT, miss_opt = SUB_BUF_INIT;
    BSON_APPEND_INT32(&cmd, "connectionStatus", 1);
    BSON_APPEND_BOOL(&cmd, "showPrivileges", true);
    if (!sub_db_command(&d->db, true, &cmd, &reply, &d->err)) {
        line(d, "privileges", "unknown: %s", d->err.msg);
        goto out;
    }
    if (!sub_bson_get_doc(&reply, "authInfo", &auth) ||
        !sub_bson_get_doc(&auth, "authenticatedUserPrivileges", &privs))
        bson_init(&privs);
    list_users(d, &auth, &users);
    if (!users.len) {
        line(d, "user", "none (%s)",
             unauthenticated_reads_work ? "the server does not require authentication"
                                        : "not authenticated");
        BSON_APPEND_NULL(&d->report, "user");
        if (unauthenticated_reads_work) {
            line(d, "privileges", "all (authentication is not enforced)");
            BSON_APPEND_BOOL(&d->report, "privileges_ok", true);
            goto out;
        }
    }
    BSON_APPEND_ARRAY_BEGIN(&d->report, "missing_privileges", &req);
    int n = missing_actions(&privs, d->db.db_name, required_actions, &miss, &req);
    bson_append_array_end(&d->report, &req);
    BSON_APPEND_ARRAY_BEGIN(&d->report, "missing_optional_privileges", &opt);
    missing_actions(&privs, d->db.db_name, optional_actions, &miss_opt, &opt);
    bson_append_array_end(&d->report, &opt);
    BSON_APPEND_BOOL(&d->report, "privileges_ok", n == 0);
    if (n) {
        line(d, "privileges",
             "MISSING on database %s: %s (the built-in role readWrite on %s "
             "grants them all)",
             d->db.db_name, miss.data, d->db.db_name);
        sub_error_set(&d->err, SUB_E_PRIVILEGE, 0,
                      "the user lacks %s on database %s; grant it the role readWrite on %s",
                      miss.data, d->db.db_name, d->db.db_name);
        if (d->verdict == SUB_E_OK)
            d->verdict = SUB_E_PRIVILEGE;
    } else {
        line(d, "privileges", "ok: every action the service needs on %s%s%s%s", d->db.db_name,
             miss_opt.len ? " (not held, needed only to upgrade a validator: " : "",
             miss_opt.len ? miss_opt.data : "", miss_opt.len ? ")" : "");
    }
    bson_destroy(&privs);
out:
    sub_buf_release(&users);
    sub_buf_release(&miss);
    sub_buf_release(&miss_opt);
    bson_destroy(&cmd);
    bson_destroy(&reply);
}

/* Returns whether listCollections worked, which tells whether reads need a login. */
static bool check_schemas(doctor_t *d)
{
    sub_schema_report_t rep = {0};
    sub_error_t e = {0};
    bool ok = sub_schema_status(&d->db, &rep, &e);
    bson_t arr, one;
    sub_bson_array_t keys = {.arr = &arr};
    if (!ok) {
        line(d, "schemas", "unknown: %s", e.msg);
        BSON_APPEND_NULL(&d->report, "schemas_in_place");
        sub_schema_report_release(&rep);
        return false;
    }
    sub_buf_t missing = SUB_BUF_INIT;
    BSON_APPEND_BOOL(&d->report, "schemas_in_place", sub_schema_report_ok(&rep));
    BSON_APPEND_ARRAY_BEGIN(&d->report, "schemas", &arr);
    for (size_t i = 0; i < rep.len; i++) {
        const sub_schema_result_t *r = &rep.items[i];
        bson_append_document_begin(&arr, sub_bson_array_next_key(&keys), -1, &one);
        BSON_APPEND_UTF8(&one, "name", r->collection);
        BSON_APPEND_BOOL(&one, "exists", r->exists);
        BSON_APPEND_BOOL(&one, "validator_ok", r->validator_ok);
        BSON_APPEND_BOOL(&one, "indexes_ok", r->missing_indexes == NULL);
        bson_append_document_end(&arr, &one);
        if (!r->exists || !r->validator_ok || r->missing_indexes)
            sub_buf_appendf(&missing, NULL, "%s%s (%s)", missing.len ? ", " : "", r->collection,
                            !r->exists         ? "missing"
                            : !r->validator_ok ? "validator differs"
                                               : "indexes missing");
    }
    bson_append_array_end(&d->report, &arr);
    if (missing.len)
        line(d, "schemas",
             "not in place: %s; the first stage applies them, or run "
             "`subsetter schema apply`",
             missing.data);
    else
        line(d, "schemas", "in place: validators and indexes of %zu collections", rep.len);
    sub_buf_release(&missing);
    sub_schema_report_release(&rep);
    return true;
}

/* FiftyOne lists only datasets whose sample collection starts with "samples." (the App's
 * DATASET_FILTER); so does doctor. */
static void check_datasets(doctor_t *d)
{
    mongoc_collection_t *coll = mongoc_database_get_collection(d->db.db, "datasets");
    bson_t *filter = BCON_NEW("sample_collection_name", BCON_REGEX("^samples\\.", ""));
    bson_t *opts = BCON_NEW("sort", "{", "name", BCON_INT32(1), "}");
    mongoc_cursor_t *c = mongoc_collection_find_with_opts(coll, filter, opts, NULL);
    const bson_t *doc;
    bson_error_t be;
    bson_t arr, one;
    sub_buf_t names = SUB_BUF_INIT;
    sub_bson_array_t keys = {.arr = &arr};
    BSON_APPEND_ARRAY_BEGIN(&d->report, "datasets", &arr);
    while (mongoc_cursor_next(c, &doc)) {
        const char *name = sub_bson_get_str(doc, "name"),
                   *samples = sub_bson_get_str(doc, "sample_collection_name");
        if (!name || !samples)
            continue;
        mongoc_collection_t *sc = mongoc_database_get_collection(d->db.db, samples);
        int64_t count = mongoc_collection_estimated_document_count(sc, NULL, NULL, NULL, NULL);
        mongoc_collection_destroy(sc);
        bson_append_document_begin(&arr, sub_bson_array_next_key(&keys), -1, &one);
        BSON_APPEND_UTF8(&one, "name", name);
        BSON_APPEND_INT64(&one, "samples", count);
        if (sub_bson_get_str(doc, "version"))
            BSON_APPEND_UTF8(&one, "version", sub_bson_get_str(doc, "version"));
        bson_append_document_end(&arr, &one);
        sub_buf_appendf(&names, NULL, "%s%s (%lld samples)", names.len ? ", " : "", name,
                        (long long)count);
    }
    bson_append_array_end(&d->report, &arr);
    if (mongoc_cursor_error(c, &be))
        line(d, "datasets", "unknown: %s", be.message);
    else
        line(d, "datasets", "%u%s%s", keys.n, keys.n ? ": " : "", names.len ? names.data : "");
    sub_buf_release(&names);
    mongoc_cursor_destroy(c);
    bson_destroy(filter);
    bson_destroy(opts);
    mongoc_collection_destroy(coll);
}

int sub_cmd_doctor(sub_cmd_ctx_t *ctx)
{
    doctor_t d = {.ctx = ctx, .verdict = SUB_E_OK};
    if (ctx->argc > 0) {
        sub_error_set(&d.err, SUB_E_USAGE, 0, "unexpected argument '%s'", ctx->argv[0]);
        return sub_cli_fail(ctx, &d.err);
    }
    if (!sub_db_open(&ctx->cfg, &d.db, &d.err))
        return sub_cli_fail(ctx, &d.err);
    bson_init(&d.report);
    if (!ctx->json)
        printf("subsetter doctor\n");
    check_connection(&d);
    check_topology(&d);
    line(&d, "database", "%s (%s)", d.db.db_name,
         sub_config_origin(&ctx->cfg, SUB_SET_DATABASE_NAME));
    BSON_APPEND_UTF8(&d.report, "database", d.db.db_name);
    bool reads_work = check_schemas(&d);
    check_privileges(&d, reads_work);
    if (reads_work)
        check_datasets(&d);

    int rc = 0;
    if (d.verdict != SUB_E_OK) {
        d.err.code = d.verdict;
        fprintf(stderr, "subsetter doctor: %s\n", d.err.msg);
        rc = sub_code_exit(d.verdict);
    } else if (!ctx->json) {
        printf("ok: subsetter can work with this database\n");
    }
    if (ctx->json) {
        if (d.verdict != SUB_E_OK)
            sub_cli_append_error(&d.report, &d.err);
        else
            BSON_APPEND_BOOL(&d.report, "ok", true);
        sub_cli_print_json(&d.report);
    }
    bson_destroy(&d.report);
    sub_db_close(&d.db);
    return rc;
}
