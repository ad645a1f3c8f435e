#define SUB_LOG_DOMAIN "run"
/* cmd_run.c - `subsetter run JOB.yaml`: the whole job, stage by stage.
 *
 * Each stage is this binary run again as a child (`subsetter --job JOB <stage> ...`), so a
 * stage under `run` behaves exactly as when typed by hand: same options, same output, same
 * exit codes, same record in subsetter.runs. The run itself is one `run` document whose
 * counts list the stages with their state and the state of the dataset each one reads.
 *
 * Skipping: a stage is skipped when the latest run of the same job file (same sha256)
 * completed it with the same command line, the dataset it reads is as that stage left it
 * (the datasets document's last_modified_at, the newest sample last_modified_at and the
 * sample count), and its output (dataset, folder or file) exists. ingest is never skipped
 * here: its inputs are files, and it skips the splits whose files are unchanged itself.
 * A stage that runs again without changing anything (a complete fetch) leaves the next
 * ones skippable. Anything else runs; every stage resumes by itself (ingest checkpoints,
 * fetch leases, export keeps files in place), so a run killed anywhere continues where it
 * stopped. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "subsetter/bsonutil.h"
#include "subsetter/cli.h"
#include "subsetter/config.h"
#include "subsetter/export.h"
#include "subsetter/fo_dataset.h"
#include "subsetter/job.h"
#include "subsetter/log.h"
#include "subsetter/progress.h"
#include "subsetter/runs.h"
#include "subsetter/settings.h"
#include "subsetter/source.h"
#include "subsetter/strutil.h"

const char sub_run_usage[] =
    "usage: subsetter run JOB.yaml [--dry-run] [--force]\n\n"
    "Runs a job file's stages in order: ingest, label single, sample, fetch, export (one\n"
    "per format) and stats, each as `subsetter --job JOB.yaml <stage> ...` would. The job\n"
    "file is validated first (file:line:column on any error). A stage the last run of the\n"
    "same job file completed, on datasets as that run left them and with its output in\n"
    "place, is skipped; a run stopped anywhere continues where it stopped.\n\n"
    "  --dry-run  print the stages' commands and whether each would be skipped\n"
    "  --force    run every stage (each still resumes and skips finished work itself)\n\n"
    "SIGTERM or Ctrl-C is passed to the running stage, which stops cleanly; the run is\n"
    "recorded as interrupted and exits 128 + the signal number.\n";

const sub_option_t sub_run_options[] = {{"dry-run", false}, {"force", false}, {NULL, false}};

#define MAX_ARGS   40
#define MAX_STAGES 10

typedef struct {
    const char *name;     /* ingest, label, ... */
    char *args[MAX_ARGS]; /* owned; NULL-terminated */
    int nargs;
    char *output;      /* a path that must exist for a skip, or NULL */
    const char *input; /* the dataset it reads (its state decides a skip); NULL: never */
    const char *makes; /* the dataset it creates, which must exist for a skip */
    char line[1024];   /* the arguments joined, for records and messages */
} stage_t;

typedef struct {
    stage_t s[MAX_STAGES];
    size_t n;
    char *classes_json; /* the inline class list written out for `sample --classes` */
} plan_t;

static void arg(stage_t *st, const char *a)
{
    if (st->nargs < MAX_ARGS - 1)
        st->args[st->nargs++] = sub_xstrdup(a);
}

static void opt(stage_t *st, const char *name, const char *value)
{
    if (value) {
        arg(st, name);
        arg(st, value);
    }
}

static void opt_int(stage_t *st, const char *name, int64_t v, bool present)
{
    char buf[32];
    snprintf(buf, sizeof buf, "%lld", (long long)v);
    if (present)
        opt(st, name, buf);
}

static stage_t *add(plan_t *p, const char *name)
{
    stage_t *st = &p->s[p->n++];
    memset(st, 0, sizeof *st);
    st->name = name;
    arg(st, name);
    return st;
}

/* The inline class list as a JSON file for `sample --classes FILE` (names may hold
 * commas), {"classes": [...]}, in the cache directory, named by its content so reruns
 * find the same file. */
static bool write_classes(const sub_job_t *j, const char *cache, plan_t *p, sub_error_t *err)
{
    bson_t doc = BSON_INITIALIZER, arr;
    sub_bson_array_t keys = {.arr = &arr};
    uint32_t h = 2166136261u; /* FNV-1a of the names */
    BSON_APPEND_ARRAY_BEGIN(&doc, "classes", &arr);
    for (size_t i = 0; i < j->nclasses; i++) {
        bson_append_utf8(&arr, sub_bson_array_next_key(&keys), -1, j->classes[i], -1);
        for (const char *c = j->classes[i];; c++) {
            h = (h ^ (unsigned char)*c) * 16777619u;
            if (!*c)
                break;
        }
    }
    bson_append_array_end(&doc, &arr);
    char *dir = sub_path_join(cache, "jobs"), name[64];
    snprintf(name, sizeof name, "classes-%08x.json", h);
    p->classes_json = sub_path_join(dir, name);
    bool ok = sub_mkdir_p(dir, err) && sub_export_write_json(p->classes_json, &doc, err);
    free(dir);
    bson_destroy(&doc);
    return ok;
}

static bool plan_stages(const sub_job_t *j, const char *cache, plan_t *p, sub_error_t *err)
{
    stage_t *st = add(p, "ingest");
    arg(st, "openimages");
    opt(st, "--dataset", j->source_dataset);
    opt(st, "--source", j->source_url);
    opt(st, "--splits", j->source_splits);
    opt(st, "--max-bad-share", j->max_bad_share);
    st = add(p, "label");
    st->input = j->source_dataset;
    arg(st, "single");
    opt(st, "--dataset", j->source_dataset);
    st = add(p, "sample");
    st->input = j->source_dataset;
    st->makes = j->name;
    opt(st, "--dataset", j->source_dataset);
    opt(st, "--name", j->name);
    opt_int(st, "--num-classes", j->num_classes, true);
    opt_int(st, "--samples-per-class", j->samples_per_class, j->samples_per_class > 0);
    opt_int(st, "--seed", j->seed, true);
    if (j->classes && !write_classes(j, cache, p, err))
        return false;
    opt(st, "--classes", j->classes ? p->classes_json : j->classes_file);
    if (j->allow_augment)
        arg(st, "--allow-augment");
    if (j->fetch) {
        st = add(p, "fetch");
        st->input = j->name;
        opt(st, "--dataset", j->name);
        opt(st, "--base-url", j->base_url);
        opt_int(st, "--concurrency", j->concurrency, j->concurrency > 0);
        opt_int(st, "--per-host", j->per_host, j->per_host > 0);
        if (j->fallback && strcmp(j->fallback, "original") == 0)
            opt(st, "--fallback", "original");
        opt_int(st, "--max-attempts", j->max_attempts, j->max_attempts > 0);
        if (!j->backfill)
            arg(st, "--no-backfill");
    }
    for (size_t i = 0; j->export_dir && i < j->nformats; i++) {
        st = add(p, "export");
        st->input = j->name;
        st->output = sub_path_join(j->export_dir, j->formats[i]);
        opt(st, "--dataset", j->name);
        opt(st, "--format", j->formats[i]);
        opt(st, "--out", st->output);
        opt(st, "--mode", j->export_mode);
        opt(st, "--splits", j->export_splits);
        opt_int(st, "--seed", j->split_seed, j->has_split_seed);
    }
    if (j->stats) {
        st = add(p, "stats");
        st->input = j->name;
        st->output = sub_xstrdup(j->stats_file);
        opt(st, "--dataset", j->name);
        opt(st, "--out", j->stats_file);
        opt_int(st, "--resize", j->resize, true);
        arg(st, j->stats_fast ? "--fast" : "--exact");
    }
    for (size_t i = 0; i < p->n; i++) {
        size_t used = 0;
        for (int a = 0; a < p->s[i].nargs && used < sizeof p->s[i].line; a++)
            used += (size_t)snprintf(p->s[i].line + used, sizeof p->s[i].line - used, "%s%s",
                                     a ? " " : "", p->s[i].args[a]);
    }
    return true;
}

static void plan_release(plan_t *p)
{
    for (size_t i = 0; i < p->n; i++) {
        for (int a = 0; a < p->s[i].nargs; a++)
            free(p->s[i].args[a]);
        free(p->s[i].output);
    }
    free(p->classes_json);
    memset(p, 0, sizeof *p);
}

/* ---- the state of the job's datasets ------------------------------------------------- */

/* "<dataset last_modified_at>|<newest sample last_modified_at>|<samples>", "missing". */
static char *dataset_state(sub_db_t *db, const char *name)
{
    sub_fo_dataset_t ds = {0};
    bson_t doc;
    bool found = sub_fo_dataset_open(db, name, &ds, &doc, NULL);
    bson_iter_t it;
    int64_t lm = 0, newest = 0, count = 0;
    if (found && bson_iter_init_find(&it, &doc, "last_modified_at") &&
        BSON_ITER_HOLDS_DATE_TIME(&it))
        lm = bson_iter_date_time(&it);
    if (found) {
        mongoc_collection_t *c = mongoc_database_get_collection(db->db, ds.sample_collection);
        bson_t empty = BSON_INITIALIZER;
        bson_t *opts =
            BCON_NEW("sort", "{", "last_modified_at", BCON_INT32(-1), "}", "projection", "{",
                     "last_modified_at", BCON_BOOL(true), "}", "limit", BCON_INT64(1));
        mongoc_cursor_t *cur = mongoc_collection_find_with_opts(c, &empty, opts, NULL);
        const bson_t *d;
        if (mongoc_cursor_next(cur, &d) && bson_iter_init_find(&it, d, "last_modified_at") &&
            BSON_ITER_HOLDS_DATE_TIME(&it))
            newest = bson_iter_date_time(&it);
        mongoc_cursor_destroy(cur);
        bson_destroy(opts);
        count = mongoc_collection_estimated_document_count(c, NULL, NULL, NULL, NULL);
        mongoc_collection_destroy(c);
    }
    bson_destroy(&doc);
    sub_fo_dataset_release(&ds);
    return found
               ? sub_xasprintf("%lld|%lld|%lld", (long long)lm, (long long)newest, (long long)count)
               : sub_xstrdup("missing");
}

/* ---- the previous run of this job ---------------------------------------------------- */

typedef struct {
    bson_t doc; /* its counts, or empty */
    bool found;
} previous_t;

static void find_previous(sub_db_t *db, const char *job_sha, const bson_oid_t *self,
                          previous_t *prev)
{
    mongoc_collection_t *c = mongoc_database_get_collection(db->db, "subsetter.runs");
    bson_t *filter = BCON_NEW("stage", BCON_UTF8("run"), "params.job_sha256", BCON_UTF8(job_sha),
                              "_id", "{", "$ne", BCON_OID(self), "}");
    bson_t *opts = BCON_NEW("sort", "{", "started_at", BCON_INT32(-1), "}", "limit", BCON_INT64(1));
    mongoc_cursor_t *cur = mongoc_collection_find_with_opts(c, filter, opts, NULL);
    const bson_t *d;
    bson_t counts;
    prev->found = mongoc_cursor_next(cur, &d) && sub_bson_get_doc(d, "counts", &counts);
    if (prev->found)
        bson_copy_to(&counts, &prev->doc);
    else
        bson_init(&prev->doc);
    mongoc_cursor_destroy(cur);
    bson_destroy(filter);
    bson_destroy(opts);
    mongoc_collection_destroy(c);
}

/* Whether the previous run completed stage i with the same command line, leaving the
 * dataset it reads in the state `now`. */
static bool previously_done(const previous_t *prev, size_t i, const stage_t *st, const char *now)
{
    bson_t stages, e;
    char key[24]; /* any size_t */
    snprintf(key, sizeof key, "%zu", i);
    if (!prev->found || !sub_bson_get_doc(&prev->doc, "stages", &stages) ||
        !sub_bson_get_doc(&stages, key, &e))
        return false;
    const char *args = sub_bson_get_str(&e, "args"), *state = sub_bson_get_str(&e, "state");
    const char *input = sub_bson_get_str(&e, "input_state");
    return args && state && input && strcmp(args, st->line) == 0 && strcmp(input, now) == 0 &&
           (strcmp(state, "done") == 0 || strcmp(state, "skipped") == 0);
}

static bool output_exists(const stage_t *st)
{
    struct stat sb;
    return !st->output || stat(st->output, &sb) == 0;
}

/* ---- running a stage ------------------------------------------------------------------ */

static volatile sig_atomic_t child_pid, stop_signal;

static void on_signal(int sig)
{
    stop_signal = sig;
    if (child_pid > 0)
        kill((pid_t)child_pid, sig);
}

/* The stage's exit code, or -1 when it could not be started. */
static int run_child(const sub_cmd_ctx_t *ctx, const sub_job_t *j, const stage_t *st)
{
    char *argv[MAX_ARGS + 8];
    int n = 0;
    argv[n++] = "subsetter";
    argv[n++] = "--job";
    argv[n++] = j->path;
    if (ctx->quiet)
        argv[n++] = "--quiet";
    for (int a = 0; a < st->nargs; a++)
        argv[n++] = st->args[a];
    argv[n] = NULL;
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        execv("/proc/self/exe", argv);
        fprintf(stderr, "subsetter run: cannot run %s: %s\n", st->name, strerror(errno));
        _exit(127);
    }
    if (pid < 0)
        return -1;
    child_pid = pid;
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    child_pid = 0;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

typedef struct {
    sub_cmd_ctx_t *ctx;
    sub_job_t job;
    plan_t plan;
    sub_db_t db;
    sub_run_t run;
    previous_t prev;
    bson_t stages; /* this run's stage records, an array */
    sub_bson_array_t keys;
} runner_t;

/* Appends the stage's record, with the state of the dataset it reads as it is now. */
static void record_stage(runner_t *r, const stage_t *st, const char *state, int code,
                         double seconds)
{
    bson_t e;
    char *input = st->input ? dataset_state(&r->db, st->input) : NULL;
    bson_append_document_begin(&r->stages, sub_bson_array_next_key(&r->keys), -1, &e);
    BSON_APPEND_UTF8(&e, "stage", st->name);
    BSON_APPEND_UTF8(&e, "args", st->line);
    BSON_APPEND_UTF8(&e, "state", state);
    BSON_APPEND_INT32(&e, "exit", code);
    BSON_APPEND_DOUBLE(&e, "seconds", seconds);
    if (input)
        BSON_APPEND_UTF8(&e, "input_state", input);
    bson_append_document_end(&r->stages, &e);
    free(input);
}

static void counts_doc(const runner_t *r, bson_t *counts)
{
    bson_init(counts);
    BSON_APPEND_ARRAY(counts, "stages", &r->stages);
}

/* Records the stages so far (a failure is only logged: the worst outcome is a stage run
 * again next time). */
static void save_progress(runner_t *r)
{
    bson_t counts;
    sub_error_t err;
    counts_doc(r, &counts);
    if (!sub_run_progress(&r->db, &r->run, &counts, &err))
        SUB_LOG(SUB_LOG_WARN, "could not record the run's progress: %s", err.msg);
    bson_destroy(&counts);
}

static bool skippable(runner_t *r, size_t i, const stage_t *st)
{
    if (!st->input || !output_exists(st))
        return false;
    char *now = dataset_state(&r->db, st->input);
    char *made = st->makes ? dataset_state(&r->db, st->makes) : NULL;
    bool ok = previously_done(&r->prev, i, st, now) && (!made || strcmp(made, "missing") != 0);
    free(now);
    free(made);
    return ok;
}

/* Runs or skips each stage; returns the exit code. */
static int execute(runner_t *r, bool force)
{
    for (size_t i = 0; i < r->plan.n; i++) {
        const stage_t *st = &r->plan.s[i];
        if (!force && skippable(r, i, st)) {
            SUB_LOG(SUB_LOG_INFO, "skip: %s (done by the last run of this job)", st->line);
            record_stage(r, st, "skipped", 0, 0);
            save_progress(r);
            continue;
        }
        SUB_LOG(SUB_LOG_INFO, "stage %zu/%zu: subsetter %s", i + 1, r->plan.n, st->line);
        double t0 = sub_now();
        int code = run_child(r->ctx, &r->job, st);
        const char *state = code == 0 ? "done" : stop_signal ? "interrupted" : "failed";
        record_stage(r, st, state, code, sub_now() - t0);
        save_progress(r);
        if (code != 0 || stop_signal) {
            if (stop_signal)
                return 128 + stop_signal;
            SUB_LOG(SUB_LOG_ERROR, "stage %s failed with exit code %d", st->name, code);
            return code < 0 ? 1 : code;
        }
    }
    return 0;
}

static void print_plan(const plan_t *p)
{
    for (size_t i = 0; i < p->n; i++)
        printf("subsetter %s\n", p->s[i].line);
}

static void params_doc(const runner_t *r, const char *sha, bson_t *params)
{
    BSON_APPEND_UTF8(params, "job", r->job.path);
    BSON_APPEND_UTF8(params, "job_sha256", sha);
}

int sub_cmd_run(sub_cmd_ctx_t *ctx)
{
    runner_t r = {.ctx = ctx};
    sub_error_t err = {0};
    char sha[65];
    int64_t size;
    if (ctx->argc != 1)
        return sub_cli_usage(ctx, "expected one job file");
    if (!sub_job_load(ctx->argv[0], &r.job, &err) ||
        !plan_stages(&r.job, sub_config_get(&ctx->cfg, SUB_SET_CACHE_DIR), &r.plan, &err) ||
        !sub_source_hash_file(r.job.path, NULL, sha, &size, &err)) {
        sub_job_release(&r.job);
        plan_release(&r.plan);
        return sub_cli_fail(ctx, &err);
    }
    if (sub_kvlist_get(&ctx->opts, "dry-run")) {
        print_plan(&r.plan);
        sub_job_release(&r.job);
        plan_release(&r.plan);
        return 0;
    }
    bson_t params = BSON_INITIALIZER;
    params_doc(&r, sha, &params);
    bson_init(&r.stages);
    r.keys.arr = &r.stages;
    int rc = 0;
    if (!sub_cmd_begin(ctx, &r.db, "run", r.job.name, &params, &r.run, &err)) {
        rc = sub_cli_fail(ctx, &err);
    } else {
        struct sigaction sa = {.sa_handler = on_signal}, old_term, old_int;
        sigaction(SIGTERM, &sa, &old_term);
        sigaction(SIGINT, &sa, &old_int);
        find_previous(&r.db, sha, &r.run.id, &r.prev);
        rc = execute(&r, sub_kvlist_get(&ctx->opts, "force") != NULL);
        sigaction(SIGTERM, &old_term, NULL);
        sigaction(SIGINT, &old_int, NULL);
        bson_t counts;
        counts_doc(&r, &counts);
        if (rc != 0)
            sub_error_set(&err, stop_signal ? SUB_E_INCOMPLETE : SUB_E_INTERNAL, rc,
                          stop_signal ? "interrupted by signal %d" : "a stage failed (exit %d)",
                          stop_signal ? (int)stop_signal : rc);
        sub_error_t rec;
        if (!sub_run_end(&r.db, &r.run,
                         rc == 0       ? "done"
                         : stop_signal ? "interrupted"
                                       : "failed",
                         &counts, rc == 0 ? NULL : &err, &rec))
            SUB_LOG(SUB_LOG_WARN, "could not record the run: %s", rec.msg);
        bson_destroy(&counts);
        sub_db_close(&r.db);
        if (rc == 0)
            printf("run %s: done; subset %s, exports in %s\n", r.job.path, r.job.name,
                   r.job.export_dir ? r.job.export_dir : "(none)");
        bson_destroy(&r.prev.doc);
    }
    bson_destroy(&params);
    bson_destroy(&r.stages);
    sub_job_release(&r.job);
    plan_release(&r.plan);
    return rc;
}
