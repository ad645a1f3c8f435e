/* export_classes.c - the numbering of a plan's labels (y of the NPZ and the split files),
 * and what the source says about each label (its index and id). */
#include <stdlib.h>
#include <string.h>

#include "subsetter/bsonutil.h"
#include "subsetter/export.h"
#include "subsetter/strutil.h"

/* The index of the plan class labelled s, or nclasses. */
static size_t find_label(const sub_export_plan_t *plan, const char *s)
{
    for (size_t i = 0; i < plan->nclasses; i++)
        if (plan->classes[i].label && strcmp(plan->classes[i].label, s) == 0)
            return i;
    return plan->nclasses;
}

typedef struct {
    const char *label;
    size_t cls;
} named_t;

static int by_label(const void *a, const void *b)
{
    return strcmp(((const named_t *)a)->label, ((const named_t *)b)->label);
}

/* y from the recorded class list, in its order. */
static void number_recorded(sub_export_plan_t *plan, const bson_t *ds_doc)
{
    bson_t info, sample, classes;
    bson_iter_t it;
    if (!ds_doc || !sub_bson_get_doc(ds_doc, "info", &info) ||
        !sub_bson_get_doc(&info, "subsetter_sample", &sample) ||
        !sub_bson_get_doc(&sample, "classes", &classes) || !bson_iter_init(&it, &classes))
        return;
    while (bson_iter_next(&it)) {
        size_t c = BSON_ITER_HOLDS_UTF8(&it) ? find_label(plan, bson_iter_utf8(&it, NULL))
                                             : plan->nclasses;
        if (c < plan->nclasses && plan->classes[c].y < 0) {
            plan->classes[c].y = (int64_t)plan->nlabels;
            plan->by_y[plan->nlabels++] = c;
        }
    }
}

/* The labels the recorded list lacks, after it, in sorted order. */
static void number_rest(sub_export_plan_t *plan)
{
    named_t *rest = sub_xmalloc((plan->nclasses ? plan->nclasses : 1) * sizeof *rest);
    size_t n = 0;
    for (size_t i = 0; i < plan->nclasses; i++)
        if (plan->classes[i].label && plan->classes[i].y < 0)
            rest[n++] = (named_t){plan->classes[i].label, i};
    qsort(rest, n, sizeof *rest, by_label);
    for (size_t k = 0; k < n; k++) {
        plan->classes[rest[k].cls].y = (int64_t)plan->nlabels;
        plan->by_y[plan->nlabels++] = rest[k].cls;
    }
    free(rest);
}

/* original: the label's index in default_classes. */
static void find_originals(sub_export_plan_t *plan, const bson_t *ds_doc)
{
    bson_t classes;
    bson_iter_t it;
    int64_t i = 0;
    if (!ds_doc || !sub_bson_get_doc(ds_doc, "default_classes", &classes) ||
        !bson_iter_init(&it, &classes))
        return;
    for (; bson_iter_next(&it); i++) {
        size_t c = BSON_ITER_HOLDS_UTF8(&it) ? find_label(plan, bson_iter_utf8(&it, NULL))
                                             : plan->nclasses;
        if (c < plan->nclasses && plan->classes[c].original < 0)
            plan->classes[c].original = i;
    }
}

/* label_id: the info.classes_map key (Open Images' MID) whose value is the label. */
static void find_ids(sub_export_plan_t *plan, const bson_t *ds_doc)
{
    bson_t info, map;
    bson_iter_t it;
    if (!ds_doc || !sub_bson_get_doc(ds_doc, "info", &info) ||
        !sub_bson_get_doc(&info, "classes_map", &map) || !bson_iter_init(&it, &map))
        return;
    while (bson_iter_next(&it)) {
        size_t c = BSON_ITER_HOLDS_UTF8(&it) ? find_label(plan, bson_iter_utf8(&it, NULL))
                                             : plan->nclasses;
        if (c < plan->nclasses && !plan->classes[c].label_id)
            plan->classes[c].label_id = sub_xstrdup(bson_iter_key(&it));
    }
}

void sub_export_plan_order(sub_export_plan_t *plan, const bson_t *ds_doc)
{
    free(plan->by_y);
    plan->by_y = sub_xmalloc((plan->nclasses ? plan->nclasses : 1) * sizeof *plan->by_y);
    plan->nlabels = 0;
    for (size_t i = 0; i < plan->nclasses; i++)
        plan->classes[i].y = -1;
    number_recorded(plan, ds_doc);
    number_rest(plan);
    find_originals(plan, ds_doc);
    find_ids(plan, ds_doc);
}
