/* export_splits.c - train/val/test lists of an export: which samples, and the CSV files. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "subsetter/bsonutil.h"
#include "subsetter/export.h"
#include "subsetter/fo_dataset.h"
#include "subsetter/strutil.h"

const char *const sub_export_split_names[3] = {"train", "val", "test"};

const char *sub_export_image_id(const sub_export_item_t *it)
{
    return it->image_id ? it->image_id : it->id;
}

bool *sub_export_present(const sub_export_plan_t *plan, sub_export_result_t *r)
{
    bool *present = sub_xmalloc((plan->n ? plan->n : 1) * sizeof *present);
    for (size_t i = 0; i < plan->n; i++) {
        char *src = sub_fo_normalize_path(plan->items[i].src);
        struct stat st;
        present[i] = stat(src, &st) == 0 && S_ISREG(st.st_mode);
        if (!present[i])
            sub_export_note_missing(r, src);
        free(src);
    }
    return present;
}

static bool is_member(const sub_export_plan_t *plan, const bool *usable, size_t i)
{
    return plan->classes[plan->items[i].cls].y >= 0 && (!usable || usable[i]);
}

bool sub_export_splits(const sub_export_plan_t *plan, const bool *usable,
                       const sub_split_fractions_t *f, int64_t seed, sub_export_splits_t *out,
                       sub_error_t *err)
{
    size_t n = 0, *members = sub_xmalloc((plan->n ? plan->n : 1) * sizeof *members);
    size_t *cls = sub_xmalloc((plan->n ? plan->n : 1) * sizeof *cls);
    const char **names = sub_xmalloc((plan->nlabels ? plan->nlabels : 1) * sizeof *names);
    sub_split_t *split = sub_xmalloc((plan->n ? plan->n : 1) * sizeof *split);
    memset(out, 0, sizeof *out);
    for (size_t y = 0; y < plan->nlabels; y++)
        names[y] = plan->classes[plan->by_y[y]].label;
    for (size_t i = 0; i < plan->n; i++)
        if (is_member(plan, usable, i)) {
            members[n] = i;
            cls[n++] = (size_t)plan->classes[plan->items[i].cls].y;
        }
    bool ok = sub_splits_assign(cls, n, plan->nlabels, names, f, seed, split, err);
    for (int s = 0; ok && s < 3; s++)
        out->part[s].items = sub_xmalloc((n ? n : 1) * sizeof *out->part[s].items);
    for (size_t k = 0; ok && k < n; k++) {
        sub_export_split_list_t *l = &out->part[split[k]];
        l->items[l->n++] = members[k];
    }
    free(members);
    free(cls);
    free(names);
    free(split);
    return ok;
}

static bool split_csv(const sub_export_plan_t *plan, const sub_export_split_list_t *l, sub_buf_t *b,
                      sub_error_t *err)
{
    bool ok = sub_buf_appendf(b, err, "image_id,label,y,path\r\n");
    for (size_t k = 0; ok && k < l->n; k++) {
        const sub_export_item_t *it = &plan->items[l->items[k]];
        const sub_export_class_t *c = &plan->classes[it->cls];
        ok = sub_export_csv_field(b, sub_export_image_id(it), err) &&
             sub_buf_appendc(b, ',', err) && sub_export_csv_field(b, c->label, err) &&
             sub_buf_appendf(b, err, ",%lld,", (long long)c->y) &&
             sub_export_csv_field(b, it->rel, err) && sub_buf_append(b, "\r\n", 2, err);
    }
    return ok;
}

bool sub_export_write_splits(const sub_export_plan_t *plan, const sub_export_splits_t *s,
                             const char *out, sub_error_t *err)
{
    char *dir = sub_path_join(out, "splits");
    bool ok = sub_mkdir_p(dir, err);
    for (int k = 0; ok && k < 3; k++) {
        sub_buf_t b = SUB_BUF_INIT;
        char *name = sub_xasprintf("%s.csv", sub_export_split_names[k]);
        char *path = sub_path_join(dir, name);
        ok = split_csv(plan, &s->part[k], &b, err) &&
             sub_export_write_file(path, b.data, b.len, err);
        free(path);
        free(name);
        sub_buf_release(&b);
    }
    free(dir);
    return ok;
}

void sub_export_splits_release(sub_export_splits_t *s)
{
    for (int k = 0; k < 3; k++)
        free(s->part[k].items);
    memset(s, 0, sizeof *s);
}
