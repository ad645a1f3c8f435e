#!/usr/bin/env python3
"""Which departures from FiftyOne's own documents does fiftyone 1.11.0 accept?

Run after make_reference_dumps.py, on the same database, with the FiftyOne
venv's python:

    FIFTYONE_DATABASE_URI=... FIFTYONE_DATABASE_NAME=fo_reference \
        VENV/bin/python tests/fiftyone/probe_load_tolerance.py OUT.json [VARIANT...]

Each variant copies the "oi-custom" dataset with plain pymongo (new ids, no
sample-collection indexes, as a C writer might), changes one thing, runs
check_fiftyone.py on the copy in a fresh process and records whether it
worked and what the load changed in the stored documents.
"""
import copy, json, os, re, subprocess, sys
import pymongo
from bson import ObjectId, json_util

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import make_reference_dumps as mrd

uri=os.environ["FIFTYONE_DATABASE_URI"]; dbn=os.environ["FIFTYONE_DATABASE_NAME"]
c=pymongo.MongoClient(uri); db=c[dbn]
base=db.datasets.find_one({"name":"oi-custom"})
bsamples=list(db[base["sample_collection_name"]].find())
py=sys.executable; check=os.path.join(HERE, "check_fiftyone.py")
outpath=sys.argv[1]

def walk(fields, fn, leaf_only=False):
    for f in fields:
        fn(f)
        if f.get("fields"):
            walk(f["fields"], fn)

def strip_keys(*keys):
    def m(d, s):
        walk(d["sample_fields"], lambda f: [f.pop(k, None) for k in keys])
    return m
def leaf_null(d, s):
    walk(d["sample_fields"], lambda f: f.__setitem__("fields", None) if f["fields"] == [] else None)
def drop_top(*keys):
    def m(d, s):
        for k in keys: d.pop(k, None)
    return m
def sample_drop(*keys):
    def m(d, s):
        for x in s:
            for k in keys: x.pop(k, None)
    return m
def label_drop(*keys):
    def m(d, s):
        for x in s:
            for fld in ("positive_labels","negative_labels"):
                for cl in x[fld]["classifications"]:
                    for k in keys: cl.pop(k, None)
            if "ground_truth" in x:
                for k in keys: x["ground_truth"].pop(k, None)
    return m
def undeclared(d, s):
    d["sample_fields"] = [f for f in d["sample_fields"] if f["name"] not in ("source_name","quality_score")]
def version(v):
    def m(d, s): d["version"]=v
    return m
def add_cls(d, s):
    walk(d["sample_fields"], lambda f: f.__setitem__("_cls", "SampleFieldDocument"))
def no_index(d, s): pass
def minimal_fields(d, s):
    keep = ("name","ftype","embedded_doc_type","subfield","fields","db_field")
    def m(f):
        for k in list(f):
            if k not in keep: f.pop(k)
    walk(d["sample_fields"], m)
def no_media_type(d,s): d.pop("media_type",None)

variants = {
 "control": lambda d,s: None,
 "no_schema_created_at_in_fields": strip_keys("schema","created_at"),
 "minimal_field_entries": minimal_fields,
 "leaf_fields_null": leaf_null,
 "no_top_dates": drop_top("created_at","last_modified_at","last_loaded_at","last_deletion_at"),
 "no_slug": drop_top("slug"),
 "no_app_config_etc": drop_top("app_config","classes","default_classes","mask_targets","default_mask_targets","skeletons","saved_views","workspaces","annotation_runs","brain_methods","evaluations","runs","group_media_types","tags","info","frame_fields"),
 "no_media_type": no_media_type,
 "samples_no_dates": sample_drop("created_at","last_modified_at"),
 "samples_no_rand": sample_drop("_rand"),
 "samples_no_media_type": sample_drop("_media_type"),
 "samples_no_dataset_id": sample_drop("_dataset_id"),
 "labels_no_id": label_drop("_id"),
 "labels_no_cls": label_drop("_cls"),
 "labels_no_tags": label_drop("tags"),
 "undeclared_custom_fields": undeclared,
 "fields_with__cls": add_cls,
 "version_0.21.0": version("0.21.0"),
 "version_missing": drop_top("version"),
}
only = sys.argv[2:] or list(variants)
res = {}
for name in only:
    mut = variants[name]
    d = copy.deepcopy(base); s = copy.deepcopy(bsamples)
    nid = ObjectId(); d["_id"]=nid; d["name"]=d["slug"]="v-"+name.replace("_","-").replace(".","-")
    d["sample_collection_name"]="samples."+str(nid)
    for x in s:
        x["_id"]=ObjectId(); x["_dataset_id"]=nid
        for fld in ("positive_labels","negative_labels"):
            for cl in x[fld]["classifications"]: cl["_id"]=ObjectId()
        if "ground_truth" in x: x["ground_truth"]["_id"]=ObjectId()
    mut(d, s)
    db.datasets.delete_many({"name": d["name"]})
    db[d["sample_collection_name"]].insert_many(s)
    db.datasets.insert_one(d)
    before = json.loads(json_util.dumps(db.datasets.find_one({"_id":nid})))
    bs = json.loads(json_util.dumps(list(db[d["sample_collection_name"]].find(sort=[("_id",1)]))))
    bi = sorted(i["name"] for i in db[d["sample_collection_name"]].list_indexes())
    p = subprocess.run([py, check, d["name"]], capture_output=True, text=True)
    after = json.loads(json_util.dumps(db.datasets.find_one({"_id":nid})))
    as_ = json.loads(json_util.dumps(list(db[d["sample_collection_name"]].find(sort=[("_id",1)]))))
    ai = sorted(i["name"] for i in db[d["sample_collection_name"]].list_indexes())
    dd = mrd.diff(before, after)
    sd = mrd.diff(bs, as_)
    out = None
    if p.returncode == 0:
        o = json.loads(p.stdout)
        out = {k: o[k] for k in ("len","tags","positive_labels","field_schema","train_take3_ids","media_type")}
    err = p.stderr.strip().splitlines()[-1] if p.returncode else None
    def paths(diffs):
        return sorted(set(
            re.sub(r"\[\d+\]", "[]", x["path"])
            + (" added" if "added" in x else " removed" if "removed" in x else "")
            for x in diffs
        ))
    res[name] = {"rc": p.returncode, "error": err, "doc_diff": paths(dd),
                 "sample_diff": paths(sd), "indexes_before": bi,
                 "indexes_after": ai, "out": out}
    print(name, "rc=%d" % p.returncode, res[name]["error"] or "", flush=True)
with open(outpath, "w") as f:
    json.dump(res, f, indent=1)
    f.write("\n")
