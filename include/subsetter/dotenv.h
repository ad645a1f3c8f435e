/* dotenv.h - reads .env files by python-dotenv's rules, so one file serves FiftyOne and
 * subsetter alike.
 *
 * Accepted, as python-dotenv (checked against 1.2.4) accepts them:
 *   KEY=value            unquoted; surrounding whitespace stripped; a '#' after whitespace
 *                        starts a comment (`KEY=a#b` is "a#b"; `KEY= #c` is "")
 *   export KEY=value     the "export " prefix is ignored
 *   KEY = value          blanks around "=" are ignored
 *   'my key'=value       a single-quoted key may hold any character but "'"
 *   KEY="a \"b\"\n"      double quotes: escapes \\ \' \" \a \b \f \n \r \t \v, may span lines
 *   KEY='literal'        single quotes: only \\ and \' are escapes, may span lines
 *                        (any other backslash pair is kept as written, in both quotes)
 *   KEY="v" # comment    after a closing quote only blanks and a comment may follow
 *   KEY=                 empty string
 *   # comment, blank lines
 * Line ends: CRLF and CR read as LF, inside quoted values too, and a leading UTF-8 BOM is
 * dropped, as Python's text-mode open() does. The text must be UTF-8 (python raises).
 * "Whitespace" is what Python's str.isspace() accepts, non-ASCII spaces included.
 *
 * Interpolation: ${NAME} and ${NAME:-default} are expanded in every value, single-quoted
 * ones included (python-dotenv does not exempt them). NAME is looked up in the process
 * environment first, then in keys defined earlier in the same text: the order of
 * load_dotenv(override=False). Beware that dotenv_values() uses the other order (earlier
 * keys first). The default applies only when NAME is defined nowhere: a NAME set to ""
 * gives "", unlike the shell. No $NAME form, no nesting (`${A:-${B}}` gives A's value,
 * or else "${B", then a literal "}"), no escape: `\${A}` keeps the backslash.
 * Undefined names expand to "". An expanded value over SUB_DOTENV_MAX_BYTES is an error.
 *
 * A line python-dotenv would reject with a warning ("could not parse statement") is an
 * error here: SUB_E_CONFIG "path:line: why", line being where the statement starts
 * (python-dotenv's warning may name an earlier blank line), because a silently skipped
 * line could point the service at the wrong database. A bare `KEY` with no "=" sets
 * nothing, as load_dotenv() sets nothing for python-dotenv's None: it removes the value
 * an earlier line of the same text gave KEY, and a later ${KEY} expands to "" (the
 * environment's KEY, if set, still wins).
 */
#ifndef SUBSETTER_DOTENV_H
#define SUBSETTER_DOTENV_H

#include <stdbool.h>

#include "subsetter/error.h"
#include "subsetter/strutil.h"

/* .env files larger than this are refused: it is a configuration file, not data. */
#define SUB_DOTENV_MAX_BYTES (1024 * 1024)

/* Parses text (NUL-terminated) into *out (which must be initialized; entries are added,
 * later keys replace earlier ones). `origin` names the source in messages. On failure *out
 * keeps what was parsed before the bad line; the caller releases it either way. */
bool sub_dotenv_parse_string(const char *text, const char *origin, sub_kvlist_t *out,
                             sub_error_t *err);

/* Reads and parses a file. A missing file (or a directory: a virtualenv named .env is
 * common) is an error only when `required` is true (SUB_E_CONFIG); otherwise it leaves
 * *out untouched and returns true. Other read failures are SUB_E_IO; a NUL byte is
 * SUB_E_CONFIG. */
bool sub_dotenv_parse_file(const char *path, bool required, sub_kvlist_t *out, sub_error_t *err);

#endif
