"""Official relative paths of an Open Images V7 mirror (classifications only).

The paths are those under https://storage.googleapis.com/openimages/ that FiftyOne's
`_ANNOTATION_DOWNLOAD_URLS` uses for open-images-v7 with label_types="classifications".
"""

SPLITS = ("train", "validation", "test")

CLASSES = "v5/class-descriptions-boxable.csv"
HIERARCHY = "2018_04/bbox_labels_600_hierarchy.json"
HIERARCHY_ROOT = "/m/0bl9f"  # "Entity"; never in the class file

IMAGE_LISTS = {
    "train": "2018_04/train/train-images-boxable-with-rotation.csv",
    "validation": "2018_04/validation/validation-images-with-rotation.csv",
    "test": "2018_04/test/test-images-with-rotation.csv",
}

LABELS = {
    "train": "v5/train-annotations-human-imagelabels-boxable.csv",
    "validation": "v5/validation-annotations-human-imagelabels-boxable.csv",
    "test": "v5/test-annotations-human-imagelabels-boxable.csv",
}

MANIFEST = "mirror-manifest.json"

IMAGE_LIST_HEADER = ("ImageID", "Subset", "OriginalURL", "OriginalLandingURL", "License",
                     "AuthorProfileURL", "Author", "Title", "OriginalSize", "OriginalMD5",
                     "Thumbnail300KURL", "Rotation")
LABELS_HEADER = ("ImageID", "Source", "LabelName", "Confidence")
CLASSES_HEADER = ("LabelName", "DisplayName")  # only the v7 variant has it

# Image counts of the real release (boxable train subset, full validation and test).
FULL_SIZES = {"train": 1743042, "validation": 41620, "test": 125436}
SMALL_SIZES = {"train": 2000, "validation": 200, "test": 300}

LICENSE_URL = "https://creativecommons.org/licenses/by/2.0/"


def all_files():
    """Every mirror file, relative to the mirror root, in a fixed order."""
    out = [CLASSES, HIERARCHY]
    for s in SPLITS:
        out += [IMAGE_LISTS[s], LABELS[s]]
    return out
