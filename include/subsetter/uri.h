/* uri.h - MongoDB connection strings: redaction and secrets.
 *
 * Parsing proper is libmongoc's (mongoc_uri_new_with_error), which honors every option
 * FiftyOne users write: tls, tlsCAFile, tlsCertificateKeyFile, tlsAllowInvalidCertificates,
 * authSource, authMechanism, replicaSet, mongodb+srv://. This file only makes sure the
 * password never reaches a terminal, a log or a file.
 */
#ifndef SUBSETTER_URI_H
#define SUBSETTER_URI_H

/* A copy of uri with the password of its userinfo replaced by "***"
 * ("mongodb://u:***@h/?authSource=admin"); the caller frees it. Works on strings that
 * libmongoc would reject too, so an invalid URI can be quoted safely in an error. */
char *sub_uri_redact(const char *uri);

#include <stdbool.h>

#include "subsetter/error.h"

/* Refuses what libmongoc would misread in a way that leaks: an unescaped '@' in the user
 * name or password makes the rest of the password a host name, which then appears in
 * DNS queries and error messages. SUB_E_CONFIG naming the fix (%40). */
bool sub_uri_check_userinfo(const char *uri, const char *origin, sub_error_t *err);

/* Registers the password of uri (as written and percent-decoded) as a log secret. */
void sub_uri_register_secrets(const char *uri);

#endif
