/* job.h - a job file: one YAML document describing a whole subset, from the source to the
 * stats, that `subsetter run` executes stage by stage.
 *
 *   settings:            any setting of the configuration table (read by config.c)
 *   source:   {kind: openimages, url, splits: [..], dataset, max_bad_share}
 *   label:    single
 *   subset:   {name, num_classes, samples_per_class, seed, classes: [..] | classes_file,
 *              allow_augment}
 *   fetch:    {enabled, base_url, concurrency, per_host, fallback, backfill, max_attempts}
 *   export:   {dir, formats: [imagefolder, manifest, npz], mode, splits: [tr, va, te], seed}
 *   stats:    {enabled, resize, mode: exact|fast, file}
 *
 * The whole file is validated before anything runs: unknown keys, wrong types, values out
 * of range and missing required keys are SUB_E_CONFIG errors naming "file:line:column".
 * String values may use ${NAME} and ${NAME:-default} (environment, as docker compose).
 * Relative paths (classes_file, export.dir, stats.file, a source directory) are relative
 * to the directory the command runs in, as on the command line.
 */
#ifndef SUBSETTER_JOB_H
#define SUBSETTER_JOB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "subsetter/error.h"

#define SUB_JOB_MAX_FORMATS 3

typedef struct {
    char *path;
    /* source */
    char *source_url;     /* NULL: the official Open Images location */
    char *source_splits;  /* "train,validation,test" or NULL (all) */
    char *source_dataset; /* default open-images-v7-full */
    char *max_bad_share;  /* as written, NULL for the default */
    /* subset */
    char *name;
    int64_t num_classes;
    int64_t samples_per_class; /* 0: the largest balanced size */
    int64_t seed;
    char **classes; /* inline list, or NULL */
    size_t nclasses;
    char *classes_file;
    bool allow_augment;
    /* fetch */
    bool fetch;
    char *base_url, *fallback;
    int64_t concurrency, per_host, max_attempts; /* 0: the command's default */
    bool backfill;
    /* export */
    char *export_dir; /* NULL: no export (and the stats file needs an absolute path) */
    char *formats[SUB_JOB_MAX_FORMATS];
    size_t nformats;
    char *export_mode;
    char *export_splits; /* "0.7,0.1,0.2" or NULL */
    int64_t split_seed;
    bool has_split_seed;
    /* stats */
    bool stats;
    int64_t resize;
    bool stats_fast;
    char *stats_file; /* the path to write */
} sub_job_t;

/* Loads and validates path into *job (overwritten; release it either way). */
bool sub_job_load(const char *path, sub_job_t *job, sub_error_t *err);
void sub_job_release(sub_job_t *job);

#endif
