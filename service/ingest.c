#define SUB_LOG_DOMAIN "ingest"
#include "subsetter/ingest.h"

#include <stdlib.h>
#include <string.h>

#include "subsetter/bsonutil.h"
#include "subsetter/csv.h"
#include "subsetter/fo_dataset.h"
#include "subsetter/label.h"
#include "subsetter/labelsort.h"
#include "subsetter/log.h"
#include "subsetter/progress.h"
#include "subsetter/runs.h"
#include "subsetter/source.h"
#include "subsetter/strutil.h"
#include "subsetter/u64set.h"
#include "subsetter/writer.h"

/* Bad rows are reported one by one up to this many per file, then only counted. */
#define REPORT_BAD_ROWS 20
/* The share of bad rows is judged once this many rows were read: a file whose first row
 * is bad is not "100% bad". */
#define MIN_ROWS_FOR_SHARE 1000
#define SOURCES            "subsetter.sources"
#define MAX_SOURCES        255
/* Seconds between stored checkpoints (see on_batch_written). */
#define CHECKPOINT_EVERY 1.0

/* The fields an Open Images ingest declares besides FiftyOne's defaults. */
static const sub_fo_field_t oi_fields[] = {
    {"positive_labels", SUB_FO_CLASSIFICATIONS, false, "human-verified labels, Confidence > 0.1"},
    {"negative_labels", SUB_FO_CLASSIFICATIONS, false, "human-verified absent labels"},
    {"ground_truth", SUB_FO_CLASSIFICATION, false,
     "the one positive label of a single-label sample"},
    {"open_images_id", SUB_FO_STRING, false, "Open Images ImageID"},
    {"original_url", SUB_FO_STRING, false, "OriginalURL (Flickr)"},
    {"original_landing_url", SUB_FO_STRING, false, "OriginalLandingURL"},
    {"original_md5", SUB_FO_STRING, false, "OriginalMD5, base64 of the original's MD5"},
    {"original_size", SUB_FO_INT, false, "OriginalSize in bytes"},
    {"rotation", SUB_FO_FLOAT, false, "Rotation in degrees counterclockwise; null: unknown"},
    {"license", SUB_FO_STRING, false, "License URL"},
    {"author", SUB_FO_STRING, false, "Author"},
    {"author_profile_url", SUB_FO_STRING, false, "AuthorProfileURL"},
    {"title", SUB_FO_STRING, false, "Title"},
    {"thumbnail_url", SUB_FO_STRING, false, "Thumbnail300KURL"},
};

typedef struct {
    uint64_t offset, line, number; /* where the next image row starts */
    sub_ingest_counts_t counts;    /* of this split, up to there */
} checkpoint_t;

typedef struct {
    sub_db_t *db;
    const sub_ingest_opts_t *opts;
    const char *base;
    char *cache_dir;
    char *work_dir;
    char *media_root;
    sub_oi_classes_t classes;
    sub_fo_dataset_t ds;
    sub_ingest_result_t *res;
    char *source_names[MAX_SOURCES];
    size_t n_sources;
} ingest_t;

/* What one split's image pass needs, also seen by the writer's callback. */
typedef struct {
    ingest_t *in;
    sub_oi_split_t split;
    sub_source_t images, labels;
    sub_labelsort_t *sorted;
    checkpoint_t cp;         /* image-side counts; rejected_rows counts image rows only */
    uint64_t label_rejected; /* bad label rows, recounted by every label pass */
    sub_u64set_t seen;       /* ImageIDs of this split met since the run began */
    uint64_t bad_reported;
    double last_checkpoint; /* sub_now() of the last stored checkpoint (writer thread) */
} split_t;

void sub_ingest_counts_to_bson(const sub_ingest_counts_t *c, bson_t *out)
{
    BSON_APPEND_INT64(out, "images", (int64_t)c->images);
    BSON_APPEND_INT64(out, "label_rows", (int64_t)c->label_rows);
    BSON_APPEND_INT64(out, "positives", (int64_t)c->positives);
    BSON_APPEND_INT64(out, "negatives", (int64_t)c->negatives);
    BSON_APPEND_INT64(out, "rejected_rows", (int64_t)c->rejected_rows);
    BSON_APPEND_INT64(out, "duplicate_rows", (int64_t)c->duplicate_rows);
    BSON_APPEND_INT64(out, "orphan_label_rows", (int64_t)c->orphan_label_rows);
    BSON_APPEND_INT64(out, "images_without_labels", (int64_t)c->images_without_labels);
    BSON_APPEND_INT64(out, "skipped_splits", (int64_t)c->skipped_splits);
}

static uint64_t get_u64(const bson_t *b, const char *key)
{
    bson_iter_t it;
    return bson_iter_init_find(&it, b, key) && BSON_ITER_HOLDS_NUMBER(&it)
               ? (uint64_t)bson_iter_as_int64(&it)
               : 0;
}

static void counts_from_bson(const bson_t *b, sub_ingest_counts_t *c)
{
    c->images = get_u64(b, "images");
    c->label_rows = get_u64(b, "label_rows");
    c->positives = get_u64(b, "positives");
    c->negatives = get_u64(b, "negatives");
    c->rejected_rows = get_u64(b, "rejected_rows");
    c->duplicate_rows = get_u64(b, "duplicate_rows");
    c->orphan_label_rows = get_u64(b, "orphan_label_rows");
    c->images_without_labels = get_u64(b, "images_without_labels");
}

static void counts_add(sub_ingest_counts_t *to, const sub_ingest_counts_t *c)
{
    to->images += c->images;
    to->label_rows += c->label_rows;
    to->positives += c->positives;
    to->negatives += c->negatives;
    to->rejected_rows += c->rejected_rows;
    to->duplicate_rows += c->duplicate_rows;
    to->orphan_label_rows += c->orphan_label_rows;
    to->images_without_labels += c->images_without_labels;
    to->skipped_splits += c->skipped_splits;
}

/* ---- bad rows -------------------------------------------------------------------- */

static void bad_row(split_t *s, uint64_t *counter, const char *file, uint64_t line, const char *why)
{
    (*counter)++;
    if (s->bad_reported++ < REPORT_BAD_ROWS)
        SUB_LOG(SUB_LOG_WARN, "%s:%llu: skipped: %s", file, (unsigned long long)line, why);
    else if (s->bad_reported == REPORT_BAD_ROWS + 1)
        SUB_LOG(SUB_LOG_WARN, "%s: more bad rows; only counting them from here", file);
}

static const char *csv_bad_reason(sub_csv_bad_t bad)
{
    switch (bad) {
    case SUB_CSV_BAD_QUOTE:
        return "malformed CSV: quote inside an unquoted field";
    case SUB_CSV_BAD_AFTER_QUOTE:
        return "malformed CSV: text after a closing quote";
    case SUB_CSV_BAD_UNTERMINATED:
        return "malformed CSV: quoted field never closed";
    case SUB_CSV_BAD_TOO_LONG:
        return "malformed CSV: record too long";
    case SUB_CSV_BAD_NUL:
        return "malformed CSV: NUL byte";
    default:
        return "malformed CSV";
    }
}

/* Fails once bad rows exceed the allowed share of the rows read. */
static bool check_share(const split_t *s, const char *file, uint64_t bad, uint64_t rows,
                        sub_error_t *err)
{
    double share = s->in->opts->max_bad_share;
    double base = (double)(rows > MIN_ROWS_FOR_SHARE ? rows : MIN_ROWS_FOR_SHARE);
    if ((double)bad <= share * base)
        return true;
    return sub_error_set(err, SUB_E_INPUT, 0,
                         "%s: %llu of %llu rows rejected, more than the allowed share %g "
                         "(--max-bad-share); what was written so far is kept",
                         file, (unsigned long long)bad, (unsigned long long)rows, share);
}

/* ---- the label pass ---------------------------------------------------------------- */

static int intern_source(ingest_t *in, const char *name)
{
    for (size_t i = 0; i < in->n_sources; i++)
        if (strcmp(in->source_names[i], name) == 0)
            return (int)i;
    if (in->n_sources == MAX_SOURCES)
        return -1;
    in->source_names[in->n_sources] = sub_xstrdup(name);
    return (int)in->n_sources++;
}

typedef struct {
    long image, source, label, confidence;
} label_cols_t;

static bool label_header(const sub_csv_record_t *h, const char *file, label_cols_t *c,
                         sub_error_t *err)
{
    c->image = sub_csv_header_index(h, "ImageID");
    c->source = sub_csv_header_index(h, "Source");
    c->label = sub_csv_header_index(h, "LabelName");
    c->confidence = sub_csv_header_index(h, "Confidence");
    if (c->image < 0 || c->source < 0 || c->label < 0 || c->confidence < 0)
        return sub_error_set(err, SUB_E_INPUT, 0,
                             "%s:1: header must name ImageID, Source, LabelName and Confidence",
                             file);
    return true;
}

/* Validates one label row into *r; returns the reason it is bad, or NULL. */
static const char *label_row(split_t *s, const sub_csv_record_t *rec, size_t ncols,
                             const label_cols_t *c, sub_label_rec_t *r)
{
    if (rec->nfields != ncols)
        return "wrong number of fields";
    if (!sub_oi_parse_image_id(rec->field[c->image], rec->len[c->image], &r->image))
        return "ImageID is not 16 hex digits";
    long cls = sub_oi_classes_find(&s->in->classes, rec->field[c->label], rec->len[c->label]);
    if (cls < 0)
        return "unknown LabelName (not in class-descriptions-boxable.csv)";
    if (!sub_oi_parse_float(rec->field[c->confidence], rec->len[c->confidence], &r->confidence))
        return "Confidence is not a number";
    int src = intern_source(s->in, rec->field[c->source]);
    if (src < 0)
        return "more than 255 distinct Source values";
    r->cls = (uint16_t)cls;
    r->source = (uint8_t)src;
    r->row = (uint32_t)rec->line;
    r->pad = 0;
    return NULL;
}

/* One record of the label file: header, bad row or label. */
static bool label_record(split_t *s, sub_csv_status_t st, const sub_csv_record_t *rec,
                         label_cols_t *cols, size_t *ncols, sub_error_t *err)
{
    const char *file = sub_oi_labels_path(s->split);
    sub_label_rec_t r;
    const char *why;
    if (st == SUB_CSV_BAD && rec->number == 1)
        return sub_error_set(err, SUB_E_INPUT, 0, "%s:1: unreadable header (%s)", file,
                             csv_bad_reason(rec->bad));
    if (st == SUB_CSV_BAD) {
        bad_row(s, &s->label_rejected, file, rec->line, csv_bad_reason(rec->bad));
        return true;
    }
    if (rec->number == 1) {
        *ncols = rec->nfields;
        return label_header(rec, file, cols, err);
    }
    if ((why = label_row(s, rec, *ncols, cols, &r)) != NULL) {
        bad_row(s, &s->label_rejected, file, rec->line, why);
        return true;
    }
    return sub_labelsort_add(s->sorted, &r, err);
}

static bool label_pass(split_t *s, sub_error_t *err)
{
    const char *file = sub_oi_labels_path(s->split);
    sub_csv_t *csv = NULL;
    sub_csv_record_t rec = {0};
    sub_csv_status_t st = SUB_CSV_END;
    label_cols_t cols = {-1, -1, -1, -1};
    size_t ncols = 0;
    sub_progress_t prog;
    char what[64];
    bool ok = sub_labelsort_new(s->in->work_dir, 0, &s->sorted, err) &&
              sub_csv_open_path(s->labels.path, NULL, &csv, err);
    snprintf(what, sizeof what, "labels %s", sub_oi_split_name(s->split));
    sub_progress_init(&prog, what, s->labels.size, s->in->opts->quiet,
                      s->in->opts->progress_interval_ms);
    while (ok && (st = sub_csv_next(csv, &rec, err)) != SUB_CSV_END) {
        ok = st != SUB_CSV_FAIL && label_record(s, st, &rec, &cols, &ncols, err);
        if (ok && rec.number % 65536 == 0) {
            sub_progress_update(&prog, (int64_t)sub_csv_bytes_consumed(csv), rec.number);
            ok = check_share(s, file, s->label_rejected, rec.number, err);
        }
    }
    ok = ok && check_share(s, file, s->label_rejected, rec.number, err);
    if (csv) {
        sub_progress_update(&prog, (int64_t)sub_csv_bytes_consumed(csv), rec.number);
        sub_progress_done(&prog);
    }
    sub_csv_free(csv);
    ok = ok && sub_labelsort_finish(s->sorted, err);
    if (ok && !sub_labelsort_was_sorted(s->sorted))
        SUB_LOG(SUB_LOG_INFO, "%s is not sorted by ImageID; sorted it on disk", file);
    return ok;
}

/* Drops fully identical rows (same image, class, confidence and source) after the first,
 * in place; returns the new count. */
static size_t drop_duplicates(split_t *s, sub_label_rec_t *buf, const sub_label_rec_t *in, size_t n)
{
    size_t out = 0;
    for (size_t i = 0; i < n; i++) {
        bool dup = false;
        for (size_t j = 0; j < out && !dup; j++)
            dup = buf[j].cls == in[i].cls && buf[j].confidence == in[i].confidence &&
                  buf[j].source == in[i].source;
        if (dup) {
            s->cp.counts.duplicate_rows++;
            if (s->bad_reported++ < REPORT_BAD_ROWS)
                SUB_LOG(SUB_LOG_WARN, "%s:%u: skipped: duplicate of an earlier row",
                        sub_oi_labels_path(s->split), in[i].row);
        } else {
            buf[out++] = in[i];
        }
    }
    return out;
}

/* ---- the image pass ---------------------------------------------------------------- */

typedef struct {
    long id, url, landing, license, profile, author, title, size, md5, thumb, rotation;
} image_cols_t;

static bool image_header(const sub_csv_record_t *h, const char *file, image_cols_t *c,
                         sub_error_t *err)
{
    c->id = sub_csv_header_index(h, "ImageID");
    c->url = sub_csv_header_index(h, "OriginalURL");
    c->landing = sub_csv_header_index(h, "OriginalLandingURL");
    c->license = sub_csv_header_index(h, "License");
    c->profile = sub_csv_header_index(h, "AuthorProfileURL");
    c->author = sub_csv_header_index(h, "Author");
    c->title = sub_csv_header_index(h, "Title");
    c->size = sub_csv_header_index(h, "OriginalSize");
    c->md5 = sub_csv_header_index(h, "OriginalMD5");
    c->thumb = sub_csv_header_index(h, "Thumbnail300KURL");
    c->rotation = sub_csv_header_index(h, "Rotation");
    if (c->id < 0)
        return sub_error_set(err, SUB_E_INPUT, 0, "%s:1: header has no ImageID column", file);
    return true;
}

static const char *opt_field(const sub_csv_record_t *rec, long col)
{
    return col >= 0 && rec->len[col] ? rec->field[col] : NULL;
}

static const char *image_row(const sub_csv_record_t *rec, size_t ncols, const image_cols_t *c,
                             sub_oi_image_t *img, uint64_t *id)
{
    if (rec->nfields != ncols)
        return "wrong number of fields";
    for (size_t i = 0; i < rec->nfields; i++)
        if (!bson_utf8_validate(rec->field[i], rec->len[i], false))
            return "not valid UTF-8";
    if (!sub_oi_parse_image_id(rec->field[c->id], rec->len[c->id], id))
        return "ImageID is not 16 hex digits";
    memset(img, 0, sizeof *img);
    img->image_id = rec->field[c->id];
    img->original_url = opt_field(rec, c->url);
    img->landing_url = opt_field(rec, c->landing);
    img->license = opt_field(rec, c->license);
    img->author_profile_url = opt_field(rec, c->profile);
    img->author = opt_field(rec, c->author);
    img->title = opt_field(rec, c->title);
    img->original_md5 = opt_field(rec, c->md5);
    img->thumbnail_url = opt_field(rec, c->thumb);
    const char *size = opt_field(rec, c->size), *rot = opt_field(rec, c->rotation);
    if (size && !(img->has_size = sub_parse_int64(size, 0, INT64_MAX, &img->original_size)))
        return "OriginalSize is not a number";
    if (rot && !(img->has_rotation = sub_oi_parse_float(rot, strlen(rot), &img->rotation)))
        return "Rotation is not a number";
    return NULL;
}

/* Writes the checkpoint of batch b (whose documents are acknowledged) to the image list's
 * sources document. */
static bool save_checkpoint(split_t *s, sub_db_t *conn, const sub_batch_t *b, sub_error_t *err)
{
    const checkpoint_t *cp = b->counts;
    mongoc_collection_t *coll = mongoc_database_get_collection(conn->db, SOURCES);
    bson_t *filter =
        BCON_NEW("url", BCON_UTF8(s->images.url), "dataset", BCON_UTF8(s->in->ds.name));
    bson_t update = BSON_INITIALIZER, set, pos, counts;
    BSON_APPEND_DOCUMENT_BEGIN(&update, "$set", &set);
    BSON_APPEND_UTF8(&set, "state", "ingesting");
    BSON_APPEND_UTF8(&set, "sha256", s->images.sha256);
    BSON_APPEND_UTF8(&set, "labels_sha256", s->labels.sha256);
    BSON_APPEND_DOCUMENT_BEGIN(&set, "checkpoint", &pos);
    BSON_APPEND_INT64(&pos, "offset", (int64_t)cp->offset);
    BSON_APPEND_INT64(&pos, "line", (int64_t)cp->line);
    BSON_APPEND_INT64(&pos, "number", (int64_t)cp->number);
    bson_append_document_end(&set, &pos);
    BSON_APPEND_DOCUMENT_BEGIN(&set, "counts", &counts);
    sub_ingest_counts_to_bson(&cp->counts, &counts);
    bson_append_document_end(&set, &counts);
    BSON_APPEND_INT64(&set, "rows_read", (int64_t)cp->number);
    BSON_APPEND_INT64(&set, "rows_rejected", (int64_t)cp->counts.rejected_rows);
    bson_append_document_end(&update, &set);
    bson_t *now = BCON_NEW("updated_at", BCON_BOOL(true));
    BSON_APPEND_DOCUMENT(&update, "$currentDate", now);
    bson_error_t be;
    bool ok = mongoc_collection_update_one(coll, filter, &update, NULL, NULL, &be);
    if (!ok)
        sub_db_error(&be, "record the checkpoint", err);
    bson_destroy(now);
    bson_destroy(&update);
    bson_destroy(filter);
    mongoc_collection_destroy(coll);
    return ok;
}

/* The writer calls this after each acknowledged batch, so a checkpoint never runs ahead of
 * the data. It is stored at most every CHECKPOINT_EVERY seconds: each store is a round
 * trip during which no batch is in flight, and a resumed run redoes at most that much. */
static bool on_batch_written(void *ctx, sub_db_t *conn, const sub_batch_t *b, sub_error_t *err)
{
    split_t *s = ctx;
    double now = sub_now();
    if (now - s->last_checkpoint < CHECKPOINT_EVERY)
        return true;
    s->last_checkpoint = now;
    return save_checkpoint(s, conn, b, err);
}

static bool submit(split_t *s, sub_writer_t *w, sub_batch_t **b, uint64_t offset, uint64_t line,
                   uint64_t number, sub_error_t *err)
{
    s->cp.offset = offset;
    s->cp.line = line;
    s->cp.number = number;
    (*b)->counts = sub_xmalloc(sizeof s->cp);
    memcpy((*b)->counts, &s->cp, sizeof s->cp);
    (*b)->counts_bytes = sizeof s->cp;
    bool ok = sub_writer_submit(w, *b, err);
    *b = sub_batch_new(s->in->opts->batch_size);
    return ok;
}

static void add_image(split_t *s, sub_batch_t *b, uint64_t id, const sub_oi_image_t *img,
                      sub_label_rec_t *scratch)
{
    const sub_label_rec_t *labels;
    size_t n, pos, neg;
    sub_oi_doc_ctx_t ctx = {&s->in->ds.id, s->in->ds.created_at_ms, s->in->media_root, s->split,
                            &s->in->classes};
    sub_labelsort_find(s->sorted, id, &labels, &n);
    if (n > 1) {
        n = drop_duplicates(s, scratch, labels, n);
        labels = scratch;
    }
    bson_t *doc = bson_sized_new(1024);
    sub_oi_build_sample(&ctx, id, img, labels, n, doc, &pos, &neg);
    b->docs[b->len++] = doc;
    s->cp.counts.images++;
    s->cp.counts.label_rows += n;
    s->cp.counts.positives += pos;
    s->cp.counts.negatives += neg;
    s->cp.counts.images_without_labels += n == 0;
}

/* Opens the image list, reads its header, and moves to the checkpoint when resuming. */
static bool open_images(split_t *s, sub_csv_t **csv, image_cols_t *cols, size_t *ncols,
                        sub_error_t *err)
{
    const char *file = sub_oi_images_path(s->split);
    sub_csv_opts_t at = {
        .start_offset = s->cp.offset, .start_line = s->cp.line, .start_number = s->cp.number};
    sub_csv_record_t rec;
    if (!sub_csv_open_path(s->images.path, NULL, csv, err))
        return false;
    if (sub_csv_next(*csv, &rec, err) != SUB_CSV_OK)
        return sub_error_set(err, SUB_E_INPUT, 0, "%s: no header row", file);
    *ncols = rec.nfields;
    if (!image_header(&rec, file, cols, err))
        return false;
    if (!s->cp.offset)
        return true;
    sub_csv_free(*csv);
    *csv = NULL;
    return sub_csv_open_path(s->images.path, &at, csv, err);
}

static bool image_pass(split_t *s, bool upsert, sub_error_t *err)
{
    const char *file = sub_oi_images_path(s->split);
    sub_csv_t *csv = NULL;
    sub_writer_t *w = NULL;
    sub_csv_record_t rec;
    sub_csv_status_t st;
    image_cols_t cols = {-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1};
    size_t ncols = 0;
    uint64_t line = s->cp.line, number = s->cp.number;
    sub_batch_t *b = sub_batch_new(s->in->opts->batch_size);
    sub_label_rec_t *scratch = sub_xmalloc(65536 * sizeof *scratch);
    sub_progress_t prog;
    char what[64];
    bool ok = open_images(s, &csv, &cols, &ncols, err) &&
              sub_writer_start(s->in->db, s->in->ds.sample_collection, upsert, s->in->opts->writers,
                               on_batch_written, s, &w, err);
    snprintf(what, sizeof what, "images %s", sub_oi_split_name(s->split));
    sub_progress_init(&prog, what, s->images.size, s->in->opts->quiet,
                      s->in->opts->progress_interval_ms);
    while (ok && (st = sub_csv_next(csv, &rec, err)) != SUB_CSV_END) {
        sub_oi_image_t img;
        uint64_t id;
        const char *why;
        line = rec.line;
        number = rec.number;
        if (st == SUB_CSV_FAIL)
            ok = false;
        else if (st == SUB_CSV_BAD)
            bad_row(s, &s->cp.counts.rejected_rows, file, rec.line, csv_bad_reason(rec.bad));
        else if ((why = image_row(&rec, ncols, &cols, &img, &id)) != NULL)
            bad_row(s, &s->cp.counts.rejected_rows, file, rec.line, why);
        else if (!sub_u64set_add(&s->seen, id))
            bad_row(s, &s->cp.counts.rejected_rows, file, rec.line,
                    "duplicate ImageID (listed earlier in this file)");
        else
            add_image(s, b, id, &img, scratch);
        if (ok && b->len == b->cap) {
            uint64_t next = sub_csv_bytes_consumed(csv);
            ok = check_share(s, file, s->cp.counts.rejected_rows, number, err) &&
                 submit(s, w, &b, next, sub_csv_line(csv), number, err);
            sub_progress_update(&prog, (int64_t)next, number);
        }
    }
    if (ok && b->len)
        ok = submit(s, w, &b, sub_csv_bytes_consumed(csv), sub_csv_line(csv), number, err);
    if (csv) {
        sub_progress_update(&prog, (int64_t)sub_csv_bytes_consumed(csv), number);
        sub_progress_done(&prog);
    }
    if (w && !sub_writer_finish(w, NULL, ok ? err : NULL))
        ok = false;
    sub_batch_free(b);
    free(scratch);
    sub_csv_free(csv);
    (void)line;
    return ok && check_share(s, file, s->cp.counts.rejected_rows, number, err);
}

/* ---- one split ----------------------------------------------------------------------- */

/* Loads the image list's sources document: a finished split with the same files is
 * skipped, an unfinished one resumes at its checkpoint. */
static bool load_progress(split_t *s, bool *done, sub_error_t *err)
{
    mongoc_collection_t *coll = mongoc_database_get_collection(s->in->db->db, SOURCES);
    bson_t *filter =
        BCON_NEW("url", BCON_UTF8(s->images.url), "dataset", BCON_UTF8(s->in->ds.name));
    mongoc_cursor_t *c = mongoc_collection_find_with_opts(coll, filter, NULL, NULL);
    const bson_t *doc;
    bson_error_t be;
    *done = false;
    memset(&s->cp, 0, sizeof s->cp);
    if (mongoc_cursor_next(c, &doc)) {
        const char *state = sub_bson_get_str(doc, "state");
        const char *sha = sub_bson_get_str(doc, "sha256");
        const char *lsha = sub_bson_get_str(doc, "labels_sha256");
        bson_t pos, counts;
        bool same = sha && lsha && strcmp(sha, s->images.sha256) == 0 &&
                    strcmp(lsha, s->labels.sha256) == 0;
        if (same && state && sub_bson_get_doc(doc, "counts", &counts))
            counts_from_bson(&counts, &s->cp.counts);
        if (same && state && strcmp(state, "done") == 0) {
            *done = true;
        } else if (same && state && strcmp(state, "ingesting") == 0 &&
                   sub_bson_get_doc(doc, "checkpoint", &pos)) {
            s->cp.offset = get_u64(&pos, "offset");
            s->cp.line = get_u64(&pos, "line");
            s->cp.number = get_u64(&pos, "number");
        } else {
            memset(&s->cp, 0, sizeof s->cp);
        }
    }
    bool ok = !mongoc_cursor_error(c, &be) || sub_db_error(&be, "read subsetter.sources", err);
    mongoc_cursor_destroy(c);
    bson_destroy(filter);
    mongoc_collection_destroy(coll);
    return ok;
}

static bool fetch_split_files(split_t *s, sub_error_t *err)
{
    ingest_t *in = s->in;
    return sub_source_fetch(in->base, sub_oi_images_path(s->split), in->cache_dir, NULL, &s->images,
                            err) &&
           sub_source_fetch(in->base, sub_oi_labels_path(s->split), in->cache_dir, NULL, &s->labels,
                            err);
}

/* Records both files after load_progress() has read the previous state, which a
 * resumable split keeps. */
static bool record_split_files(split_t *s, bool resuming, sub_error_t *err)
{
    ingest_t *in = s->in;
    const char *split = sub_oi_split_name(s->split);
    return sub_source_record(in->db, &s->labels, in->ds.name, "openimages/labels", split,
                             "downloaded", err) &&
           sub_source_record(in->db, &s->images, in->ds.name, "openimages/images", split,
                             resuming ? "ingesting" : "downloaded", err);
}

static bool finish_split(split_t *s, sub_error_t *err)
{
    s->cp.counts.orphan_label_rows =
        sub_labelsort_count(s->sorted) - sub_labelsort_matched(s->sorted);
    s->cp.counts.rejected_rows += s->label_rejected;
    sub_batch_t b = {.counts = &s->cp};
    bool ok = save_checkpoint(s, s->in->db, &b, err);
    return ok &&
           sub_source_record(s->in->db, &s->images, s->in->ds.name, "openimages/images",
                             sub_oi_split_name(s->split), "done", err) &&
           sub_source_record(s->in->db, &s->labels, s->in->ds.name, "openimages/labels",
                             sub_oi_split_name(s->split), "done", err);
}

static bool ingest_split(ingest_t *in, sub_oi_split_t split, sub_error_t *err)
{
    split_t s = {.in = in, .split = split};
    bool done = false;
    bool ok = fetch_split_files(&s, err) && load_progress(&s, &done, err);
    if (ok && done) {
        SUB_LOG(SUB_LOG_INFO, "%s: already ingested from the same files, skipped",
                sub_oi_split_name(split));
        s.cp.counts.skipped_splits = 1;
    } else if (ok) {
        bool resuming = s.cp.offset > 0;
        if (resuming)
            SUB_LOG(SUB_LOG_INFO, "%s: resuming at row %llu", sub_oi_split_name(split),
                    (unsigned long long)s.cp.number);
        /* Counts up to the checkpoint came from the database (image side only); the
         * label pass recounts the label file's bad rows every time. */
        ok = record_split_files(&s, resuming, err) && label_pass(&s, err) &&
             image_pass(&s, resuming, err) && finish_split(&s, err);
    }
    if (ok)
        counts_add(&in->res->split[split], &s.cp.counts);
    sub_labelsort_free(s.sorted);
    sub_u64set_release(&s.seen);
    sub_source_release(&s.images);
    sub_source_release(&s.labels);
    return ok;
}

/* ---- the dataset ------------------------------------------------------------------- */

static bool prepare_dataset(ingest_t *in, const sub_config_t *cfg, const char *name,
                            sub_error_t *err)
{
    sub_source_t classes = {0}, hier = {0};
    bson_t info = BSON_INITIALIZER, map, names = BSON_INITIALIZER, tree;
    size_t unknown = 0;
    bool ok = sub_source_fetch(in->base, SUB_OI_CLASSES_PATH, in->cache_dir, NULL, &classes, err) &&
              sub_source_fetch(in->base, SUB_OI_HIERARCHY_PATH, in->cache_dir, NULL, &hier, err) &&
              sub_oi_classes_load(classes.path, &in->classes, err);
    if (ok) {
        BSON_APPEND_DOCUMENT_BEGIN(&info, "classes_map", &map);
        sub_oi_classes_to_bson(&in->classes, &map, &names);
        bson_append_document_end(&info, &map);
        BSON_APPEND_DOCUMENT_BEGIN(&info, "hierarchy", &tree);
        ok = sub_oi_hierarchy_load(hier.path, &in->classes, &tree, &unknown, err);
        bson_append_document_end(&info, &tree);
    }
    if (ok && unknown)
        SUB_LOG(SUB_LOG_WARN, "%s: %zu LabelNames not in %s kept as MIDs", SUB_OI_HIERARCHY_PATH,
                unknown, SUB_OI_CLASSES_PATH);
    ok = ok &&
         sub_fo_dataset_ensure(in->db, name, sub_config_get(cfg, SUB_SET_FIFTYONE_VERSION),
                               oi_fields, sizeof oi_fields / sizeof *oi_fields, &info, &names,
                               &in->ds, err) &&
         sub_label_create_index(in->db, in->ds.sample_collection, err) &&
         sub_source_record(in->db, &classes, name, "openimages/classes", NULL, "done", err) &&
         sub_source_record(in->db, &hier, name, "openimages/hierarchy", NULL, "done", err);
    bson_destroy(&info);
    bson_destroy(&names);
    sub_source_release(&classes);
    sub_source_release(&hier);
    return ok;
}

static void ingest_release(ingest_t *in)
{
    free(in->cache_dir);
    free(in->work_dir);
    free(in->media_root);
    sub_oi_classes_release(&in->classes);
    sub_fo_dataset_release(&in->ds);
    for (size_t i = 0; i < in->n_sources; i++)
        free(in->source_names[i]);
}

/* The dataset's last_modified_at moves only when a split was ingested: a re-run that
 * skips every split leaves the dataset as it was (so `run` can tell nothing changed). */
static bool run_splits(ingest_t *in, sub_error_t *err)
{
    int ingested = 0;
    for (int i = 0; i < SUB_OI__SPLITS; i++) {
        if (!in->opts->splits[i])
            continue;
        if (!ingest_split(in, (sub_oi_split_t)i, err)) {
            sub_error_prefix(err, "ingest %s", sub_oi_split_name((sub_oi_split_t)i));
            return false;
        }
        ingested += in->res->split[i].skipped_splits == 0;
        counts_add(&in->res->total, &in->res->split[i]);
    }
    return ingested == 0 || sub_fo_dataset_touch(in->db, &in->ds, err);
}

bool sub_ingest_openimages(sub_db_t *db, const sub_config_t *cfg, const sub_ingest_opts_t *opts,
                           sub_ingest_result_t *result, sub_error_t *err)
{
    ingest_t in = {.db = db, .opts = opts, .res = result};
    double start = sub_now();
    const char *name = opts->dataset ? opts->dataset : SUB_OI_DEFAULT_DATASET;
    memset(result, 0, sizeof *result);
    in.base = opts->source ? opts->source : SUB_OI_DEFAULT_BASE;
    in.cache_dir = sub_xstrdup(sub_config_get(cfg, SUB_SET_CACHE_DIR));
    in.work_dir = sub_path_join(in.cache_dir, "work");
    in.media_root = sub_fo_normalize_path(sub_config_get(cfg, SUB_SET_MEDIA_ROOT));
    bool ok = prepare_dataset(&in, cfg, name, err) && run_splits(&in, err);
    if (in.ds.sample_collection) {
        bson_oid_to_string(&in.ds.id, result->dataset_id);
        snprintf(result->sample_collection, sizeof result->sample_collection, "%s",
                 in.ds.sample_collection);
    }
    result->seconds = sub_now() - start;
    ingest_release(&in);
    return ok;
}
