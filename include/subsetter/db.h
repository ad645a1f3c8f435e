/* db.h - the connection to MongoDB: URI resolution, connect, classify what went wrong.
 *
 * sub_db_open() turns "nothing answered" into one of the documented exit codes, each with
 * a message naming the host and the cause and never the password:
 *   SUB_E_UNREACHABLE  no server selected in time (refused, DNS, timeout)
 *   SUB_E_AUTH         wrong user, password, authSource or mechanism
 *   SUB_E_TLS          handshake failed, certificate not trusted, hostname mismatch
 *   SUB_E_SERVER_VERSION  the server is older than SUBSETTER_MIN_SERVER_VERSION
 *   SUB_E_CONFIG       the URI itself does not parse
 */
#ifndef SUBSETTER_DB_H
#define SUBSETTER_DB_H

#include <stdbool.h>

#include <mongoc/mongoc.h>

#include "subsetter/config.h"
#include "subsetter/error.h"

typedef struct {
    mongoc_client_t *client;
    mongoc_database_t *db;
    char *db_name;
    char *uri_redacted; /* safe to print */
    bool embedded;      /* the local mongod of sub_mongod_ensure() */
    bool tls;
    char server_version[32]; /* from buildInfo */
    mongoc_uri_t *uri;       /* effective URI (timeouts applied); holds the password: never print */
} sub_db_t;

/* Calls mongoc_init() and routes libmongoc's logs through ours; once, from main(). */
void sub_db_global_init(void);
void sub_db_global_cleanup(void);

/* The URI to use: FIFTYONE_DATABASE_URI, or that of the embedded mongod (started if
 * needed). Caller frees *uri. */
bool sub_db_resolve_uri(const sub_config_t *cfg, char **uri, bool *embedded, sub_error_t *err);

/* Connects, checks that a server answers (ping) and that it is recent enough.
 * On failure *db is closed and empty; sub_db_close() is safe either way. */
bool sub_db_open(const sub_config_t *cfg, sub_db_t *db, sub_error_t *err);

void sub_db_close(sub_db_t *db);

/* A second connection to the same server and database, for another thread (libmongoc
 * clients are not thread-safe). No ping: the original already checked the server. */
bool sub_db_clone(const sub_db_t *db, sub_db_t *out, sub_error_t *err);

/* Runs a command on the service's database (or "admin" when admin is true); *reply is
 * initialized on every path and the caller destroys it. */
bool sub_db_command(sub_db_t *db, bool admin, const bson_t *cmd, bson_t *reply, sub_error_t *err);

/* Translates a libmongoc/server error into ours, prefixed with `what`. Always false. */
bool sub_db_error(const bson_error_t *e, const char *what, sub_error_t *err);

#endif
