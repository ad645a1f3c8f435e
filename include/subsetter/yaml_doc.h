/* yaml_doc.h - a YAML file loaded into a small tree that remembers where each node was.
 *
 * Job files are small, so the whole document is built in memory (capped at
 * SUB_YAML_MAX_BYTES) and validated before anything runs; every error names
 * "path:line:column" (1-based) of the offending node, as libyaml's marks give it.
 * Anchors and aliases, tags and multi-document streams are refused: a job file does not
 * need them and they make "what does this key say" hard to answer.
 * Duplicate mapping keys are an error.
 */
#ifndef SUBSETTER_YAML_DOC_H
#define SUBSETTER_YAML_DOC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "subsetter/error.h"

#define SUB_YAML_MAX_BYTES (1024 * 1024)
/* Deeper nesting of mappings and sequences is refused: no job file needs it. */
#define SUB_YAML_MAX_DEPTH 64

typedef enum { SUB_YAML_SCALAR, SUB_YAML_MAPPING, SUB_YAML_SEQUENCE } sub_yaml_kind_t;

typedef struct sub_yaml_node {
    sub_yaml_kind_t kind;
    unsigned line;   /* 1-based */
    unsigned column; /* 1-based */
    char *scalar;    /* SCALAR: the text (never NULL for scalars) */
    bool quoted;     /* SCALAR: written in quotes or as a | > block, so `"10"` is a string */
    /* MAPPING: keys[i] (always scalars) maps to values[i]. SEQUENCE: values[i]. */
    struct sub_yaml_node **keys;
    struct sub_yaml_node **values;
    size_t len;
} sub_yaml_node_t;

typedef struct {
    char *path;            /* as given, for messages */
    sub_yaml_node_t *root; /* NULL for an empty document */
} sub_yaml_doc_t;

/* Loads a file. *doc is overwritten (it need not be initialized). On failure *doc is empty
 * but valid; release it either way. A missing file or a directory is SUB_E_CONFIG, another
 * read failure SUB_E_IO, anything wrong inside SUB_E_CONFIG "path:line:column: why".
 * A document that is empty, only comments or a lone "---" gives root NULL. Collections
 * nest at most SUB_YAML_MAX_DEPTH deep. */
bool sub_yaml_load_file(const char *path, sub_yaml_doc_t *doc, sub_error_t *err);

/* Loads from memory; `origin` plays the role of the path in messages. */
bool sub_yaml_load_string(const char *text, size_t len, const char *origin, sub_yaml_doc_t *doc,
                          sub_error_t *err);

void sub_yaml_doc_release(sub_yaml_doc_t *doc);

/* The value for `key` in a mapping node, or NULL (also when map is not a mapping). */
const sub_yaml_node_t *sub_yaml_map_get(const sub_yaml_node_t *map, const char *key);

/* Sets err to SUB_E_CONFIG "path:line:column: <message>" for node n and returns false. */
bool sub_yaml_error(const sub_yaml_doc_t *doc, const sub_yaml_node_t *n, sub_error_t *err,
                    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Typed reads: on a type mismatch, a SUB_E_CONFIG error at the node's position naming
 * `what` and the expected type ("jobs/x.yaml:4:12: settings.port: expected an integer,
 * got \"abc\""); n may be NULL (a missing key: "got nothing", no position).
 *   string: any scalar, quoted or not (an empty `key:` gives ""); not a mapping/sequence.
 *   int64:  an unquoted [-+]?[0-9]+ in [min, max], no leading zeros (YAML 1.1 reads 010
 *           as octal, YAML 1.2 as ten).
 *   bool:   an unquoted true/false/yes/no/on/off, any case.
 *   double: an unquoted [-+]?(digits[.digits]|.digits)([eE][-+]?digits)?, finite, no
 *           leading zeros; no nan, inf, hex or YAML's .inf. */
bool sub_yaml_get_string(const sub_yaml_doc_t *doc, const sub_yaml_node_t *n, const char *what,
                         const char **out, sub_error_t *err);
bool sub_yaml_get_int64(const sub_yaml_doc_t *doc, const sub_yaml_node_t *n, const char *what,
                        int64_t min, int64_t max, int64_t *out, sub_error_t *err);
bool sub_yaml_get_bool(const sub_yaml_doc_t *doc, const sub_yaml_node_t *n, const char *what,
                       bool *out, sub_error_t *err);
bool sub_yaml_get_double(const sub_yaml_doc_t *doc, const sub_yaml_node_t *n, const char *what,
                         double *out, sub_error_t *err);

#endif
