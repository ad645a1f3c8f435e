#define SUB_LOG_DOMAIN "db"
#include "subsetter/db.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "subsetter/log.h"
#include "subsetter/mongod.h"
#include "subsetter/strutil.h"
#include "subsetter/uri.h"

/* Server error codes (src/mongo/base/error_codes.yml). */
#define SERVER_UNAUTHORIZED          13
#define SERVER_AUTHENTICATION_FAILED 18

void sub_db_global_init(void)
{
    mongoc_init();
    sub_log_install_mongoc_handler();
}

void sub_db_global_cleanup(void)
{
    mongoc_cleanup();
}

static bool contains_ci(const char *hay, const char *needle)
{
    size_t n = strlen(needle);
    for (; *hay; hay++)
        if (strncasecmp(hay, needle, n) == 0)
            return true;
    return false;
}

static bool looks_like_tls(const char *msg)
{
    return contains_ci(msg, "TLS") || contains_ci(msg, "SSL") || contains_ci(msg, "certificate") ||
           contains_ci(msg, "handshake");
}

bool sub_db_error(const bson_error_t *e, const char *what, sub_error_t *err)
{
    sub_code_t code = SUB_E_DB;
    const char *hint = "";
    int cause = (int)(e->domain * 100000u + e->code);

    if ((e->domain == MONGOC_ERROR_CLIENT && e->code == MONGOC_ERROR_CLIENT_AUTHENTICATE) ||
        (e->domain == MONGOC_ERROR_SERVER && e->code == SERVER_AUTHENTICATION_FAILED)) {
        code = SUB_E_AUTH;
        hint = " (check the user name, the password, authSource and authMechanism)";
    } else if (e->domain == MONGOC_ERROR_SERVER && e->code == SERVER_UNAUTHORIZED) {
        code = SUB_E_PRIVILEGE;
        hint = " (run `subsetter doctor` to see which privilege is missing)";
    } else if (e->domain == MONGOC_ERROR_PROTOCOL &&
               e->code == MONGOC_ERROR_PROTOCOL_BAD_WIRE_VERSION) {
        code = SUB_E_SERVER_VERSION;
    } else if (e->domain == MONGOC_ERROR_SERVER_SELECTION || e->domain == MONGOC_ERROR_STREAM) {
        if (looks_like_tls(e->message)) {
            code = SUB_E_TLS;
            hint = " (check tls=true, tlsCAFile and the server certificate; "
                   "tlsAllowInvalidCertificates=true turns the check off)";
        } else if (contains_ci(e->message, "wire version")) {
            code = SUB_E_SERVER_VERSION;
        } else {
            code = SUB_E_UNREACHABLE;
            if (contains_ci(e->message, "closed") || contains_ci(e->message, "socket error"))
                hint = " (if the server requires TLS, add tls=true to the URI)";
        }
    }
    return sub_error_set(err, code, cause, "%s: %s%s", what, e->message, hint);
}

bool sub_db_resolve_uri(const sub_config_t *cfg, char **uri, bool *embedded, sub_error_t *err)
{
    const char *configured = sub_config_get(cfg, SUB_SET_DATABASE_URI);
    *uri = NULL;
    *embedded = configured == NULL;
    if (configured) {
        *uri = sub_xstrdup(configured);
        return true;
    }
    sub_mongod_info_t info = {0};
    bool started = false;
    bool ok = sub_mongod_ensure(cfg, &info, &started, err);
    if (ok) {
        SUB_LOG(SUB_LOG_DEBUG, "%s the embedded mongod at %s (pid %d)",
                started ? "started" : "reusing", info.uri, info.pid);
        *uri = sub_xstrdup(info.uri);
    }
    sub_mongod_info_release(&info);
    return ok;
}

/* The timeout setting wins over a serverSelectionTimeoutMS in the URI only when the user
 * set it; the default yields to the URI. Connecting may not take longer either, so one
 * blackholed host cannot stall the command past the bound. */
static void apply_timeouts(const sub_config_t *cfg, mongoc_uri_t *uri)
{
    int32_t ms = (int32_t)sub_config_int(cfg, SUB_SET_SERVER_SELECTION_TIMEOUT_MS);
    bool user_set = strcmp(sub_config_origin(cfg, SUB_SET_SERVER_SELECTION_TIMEOUT_MS), "default");
    if (user_set || !mongoc_uri_has_option(uri, MONGOC_URI_SERVERSELECTIONTIMEOUTMS))
        mongoc_uri_set_option_as_int32(uri, MONGOC_URI_SERVERSELECTIONTIMEOUTMS, ms);
    ms = mongoc_uri_get_option_as_int32(uri, MONGOC_URI_SERVERSELECTIONTIMEOUTMS, ms);
    if (!mongoc_uri_has_option(uri, MONGOC_URI_CONNECTTIMEOUTMS) || user_set)
        mongoc_uri_set_option_as_int32(uri, MONGOC_URI_CONNECTTIMEOUTMS, ms < 10000 ? ms : 10000);
}

static bool check_version(const sub_config_t *cfg, sub_db_t *db, sub_error_t *err)
{
    bson_t cmd = BSON_INITIALIZER, reply;
    bson_iter_t it;
    BSON_APPEND_INT32(&cmd, "buildInfo", 1);
    bool ok = sub_db_command(db, true, &cmd, &reply, err);
    if (ok && bson_iter_init_find(&it, &reply, "version") && BSON_ITER_HOLDS_UTF8(&it))
        snprintf(db->server_version, sizeof db->server_version, "%s", bson_iter_utf8(&it, NULL));
    bson_destroy(&cmd);
    bson_destroy(&reply);
    if (!ok)
        return false;
    const char *min = sub_config_get(cfg, SUB_SET_MIN_SERVER_VERSION);
    if (sub_version_cmp(db->server_version, min) < 0)
        return sub_error_set(err, SUB_E_SERVER_VERSION, 0,
                             "%s runs MongoDB %s, older than the minimum %s "
                             "(SUBSETTER_MIN_SERVER_VERSION, from %s)",
                             db->uri_redacted, *db->server_version ? db->server_version : "?", min,
                             sub_config_origin(cfg, SUB_SET_MIN_SERVER_VERSION));
    return true;
}

/* libmongoc reports a missing tlsCAFile only in a log line and then fails the handshake as
 * "connection error"; checking the files first gives the user the file's name. */
static bool check_tls_files(const mongoc_uri_t *uri, const char *origin, sub_error_t *err)
{
    static const char *const opts[] = {MONGOC_URI_TLSCAFILE, MONGOC_URI_TLSCERTIFICATEKEYFILE};
    static const char *const names[] = {"tlsCAFile", "tlsCertificateKeyFile"};
    for (size_t i = 0; i < 2; i++) {
        const char *path = mongoc_uri_get_option_as_utf8(uri, opts[i], NULL);
        FILE *f = path ? fopen(path, "rb") : NULL;
        if (path && !f)
            return sub_error_set(err, SUB_E_CONFIG, errno, "FIFTYONE_DATABASE_URI (%s): %s %s: %s",
                                 origin, names[i], path, strerror(errno));
        if (f)
            fclose(f);
    }
    return true;
}

/* Creating the client resolves a mongodb+srv:// seed list, so a DNS failure shows up here
 * and is a reachability problem, not a configuration one. */
static bool connect_client(const sub_config_t *cfg, const char *uri_str, sub_db_t *db,
                           sub_error_t *err)
{
    const char *origin =
        db->embedded ? "embedded mongod" : sub_config_origin(cfg, SUB_SET_DATABASE_URI);
    bson_error_t be;
    mongoc_uri_t *uri = mongoc_uri_new_with_error(uri_str, &be);
    if (!uri)
        return sub_error_set(err, SUB_E_CONFIG, 0, "FIFTYONE_DATABASE_URI (%s): %s", origin,
                             be.message);
    apply_timeouts(cfg, uri);
    mongoc_uri_set_appname(uri, "subsetter");
    db->tls = mongoc_uri_get_tls(uri);
    if (!check_tls_files(uri, origin, err)) {
        mongoc_uri_destroy(uri);
        return false;
    }
    db->client = mongoc_client_new_from_uri_with_error(uri, &be);
    db->uri = uri;
    if (!db->client) {
        if (be.domain == MONGOC_ERROR_STREAM)
            return sub_db_error(&be, "resolve the seed list", err);
        return sub_error_set(err, SUB_E_CONFIG, 0, "FIFTYONE_DATABASE_URI (%s): %s", origin,
                             be.message);
    }
    mongoc_client_set_error_api(db->client, MONGOC_ERROR_API_VERSION_2);
    db->db = mongoc_client_get_database(db->client, db->db_name);
    return true;
}

bool sub_db_open(const sub_config_t *cfg, sub_db_t *db, sub_error_t *err)
{
    char *uri_str = NULL;
    memset(db, 0, sizeof *db);
    if (!sub_db_resolve_uri(cfg, &uri_str, &db->embedded, err))
        return false;
    sub_uri_register_secrets(uri_str);
    db->uri_redacted = sub_uri_redact(uri_str);
    db->db_name = sub_xstrdup(sub_config_get(cfg, SUB_SET_DATABASE_NAME));

    bson_t ping = BSON_INITIALIZER, reply = BSON_INITIALIZER;
    BSON_APPEND_INT32(&ping, "ping", 1);
    bool ok = connect_client(cfg, uri_str, db, err) &&
              sub_db_command(db, true, &ping, &reply, err) && check_version(cfg, db, err);
    bson_destroy(&reply);
    bson_destroy(&ping);
    free(uri_str);
    if (!ok) {
        if (err)
            sub_error_prefix(err, "connect %s", db->uri_redacted);
        sub_db_close(db);
    }
    return ok;
}

bool sub_db_clone(const sub_db_t *db, sub_db_t *out, sub_error_t *err)
{
    bson_error_t be;
    memset(out, 0, sizeof *out);
    out->client = mongoc_client_new_from_uri_with_error(db->uri, &be);
    if (!out->client)
        return sub_db_error(&be, "second connection", err);
    mongoc_client_set_error_api(out->client, MONGOC_ERROR_API_VERSION_2);
    out->uri = mongoc_uri_copy(db->uri);
    out->db_name = sub_xstrdup(db->db_name);
    out->uri_redacted = sub_xstrdup(db->uri_redacted);
    out->embedded = db->embedded;
    out->tls = db->tls;
    memcpy(out->server_version, db->server_version, sizeof out->server_version);
    out->db = mongoc_client_get_database(out->client, out->db_name);
    return true;
}

void sub_db_close(sub_db_t *db)
{
    if (db->db)
        mongoc_database_destroy(db->db);
    if (db->client)
        mongoc_client_destroy(db->client);
    if (db->uri)
        mongoc_uri_destroy(db->uri);
    free(db->db_name);
    free(db->uri_redacted);
    memset(db, 0, sizeof *db);
}

bool sub_db_command(sub_db_t *db, bool admin, const bson_t *cmd, bson_t *reply, sub_error_t *err)
{
    bson_error_t be;
    const char *name = admin ? "admin" : db->db_name;
    if (mongoc_client_command_simple(db->client, name, cmd, NULL, reply, &be))
        return true;
    bson_iter_t it;
    const char *cmd_name =
        bson_iter_init(&it, cmd) && bson_iter_next(&it) ? bson_iter_key(&it) : "command";
    char *what = sub_xasprintf("%s on %s", cmd_name, name);
    sub_db_error(&be, what, err);
    free(what);
    return false;
}
