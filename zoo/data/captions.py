"""Loaders of captioned images and of precomputed image features.

Three caption layouts are read, each from a local path or a URL (files
are downloaded once into the Keras cache with `keras.utils.get_file`,
archives of folders are also extracted):

* **Flickr8k/Flickr30k** (`load_flickr`): a token file of lines
  ``image.jpg#k<TAB>caption`` (``Flickr8k.token.txt``, Flickr30k's
  ``results_20130124.token``), an image folder (``Images/``,
  ``Flicker8k_Dataset/``, ``flickr30k_images/``, ``flickr30k-images/``)
  and, for Flickr8k, the split lists ``Flickr_8k.{train,dev,test}Images.txt``
  (one file name a line). Images in no split list are not used.
* **COCO** (`load_coco`): ``captions_*.json`` with ``images`` (``id``,
  ``file_name``) and ``annotations`` (``image_id``, ``caption``), and its
  image folder (``train2014/``, ``val2017/``, ...). One file is one split.
* **Karpathy splits** (`load_karpathy`): ``dataset_coco.json``,
  ``dataset_flickr8k.json``, ``dataset_flickr30k.json``: ``images`` with
  ``filename``, optional ``filepath`` (COCO's ``train2014``/``val2014``),
  ``split`` (``train``, ``val``, ``test`` or ``restval``, which joins
  train) and ``sentences`` with ``raw`` captions.

Every loader returns `CaptionedImage(image, captions, path)` records:
`image` is the file name (the key of precomputed features), `captions`
the reference captions as written (stripped), `path` the image file, or
`None` when no image folder is given. Images whose file is absent from the
image folder, and listed images without any caption, are counted,
reported in one warning per call and skipped; so a subset of a dataset
(the 1,000 images of `../shared/data/flickr8k`) loads with the full
caption files. So are images whose path leads outside the image folder
(an absolute path, `..`, a symlink to elsewhere: `zoo.files.path_inside`):
a data file never makes the loader open a file outside its folder (if
every image does, the load fails).

`load_features` reads precomputed feature maps `[N, H, W, C]` (float16 or
float32 `features`, or uint8/int8 with `scale` and `zero_point`, real
value `scale * (features - zero_point)`) and the `image` name of each
row; `filter_by_features` keeps the captioned images that have features,
for training without the images (features mode).

Every malformed input raises one `ValueError` or `FileNotFoundError`
naming the file (and the line, or the JSON record).
"""

import dataclasses
import functools
import os
import pathlib
import re
import urllib.parse
import warnings
import zipfile
from typing import NamedTuple

import keras
import numpy as np

from zoo.data.splits import SPLIT_NAMES
from zoo.data.splits import split_pairs
from zoo.files import is_url
from zoo.files import json_field
from zoo.files import path_inside
from zoo.files import read_json
from zoo.files import read_lines
from zoo.files import resolve_path

FLICKR_TOKEN_FILES = (
    "Flickr8k.token.txt",
    "results_20130124.token",
    "Flickr30k.token.txt",
)
FLICKR_IMAGE_DIRS = (
    "Images",
    "Flicker8k_Dataset",
    "Flickr8k_Dataset",
    "flickr30k_images",
    "flickr30k-images",
)
# Split list suffixes of Flickr8k: Flickr_8k.trainImages.txt, ...
FLICKR_SPLIT_LISTS = {
    "train": "trainImages.txt",
    "valid": "devImages.txt",
    "test": "testImages.txt",
}
# Karpathy's "restval" images (COCO val2014 outside his val/test) train.
KARPATHY_SPLITS = {
    "train": "train",
    "restval": "train",
    "val": "valid",
    "test": "test",
}
_ARCHIVE_SUFFIXES = (".zip", ".tar", ".tar.gz", ".tgz", ".tar.bz2")
_TOKEN_KEY = re.compile(r"(?P<image>.+)#(?P<number>\d+)")
# One field of a line holding two entries: "caption. next.jpg#3".
_FUSED_ENTRY = re.compile(r"(?P<caption>.*\S)\s+(?P<key>\S+#\d+)")
_QUANTIZED_DTYPES = (np.uint8, np.int8)
_FLOAT_DTYPES = (np.float16, np.float32, np.float64)
# Rows dequantized (or checked) at once: bounds the float32 working copy.
_DEQUANTIZE_ROWS = 256
# A feature map's squared L2 norm must be finite in float32: the model
# multiplies features by weights and Adam squares the gradients, which
# scale with them; past this (one value of 1e38 is past it) training and
# decoding run on inf and NaN.
FEATURE_NORM_LIMIT = float(np.finfo(np.float32).max)


class CaptionedImage(NamedTuple):
    """An image and its reference captions.

    Attributes:
        image: the image's file name, e.g. `"1000268201_693b08cb0e.jpg"`:
            the key of its row in precomputed features.
        captions: a tuple of reference captions, stripped.
        path: the image file as a `pathlib.Path`, or `None` when loaded
            without an image folder.
    """

    image: str
    captions: tuple
    path: pathlib.Path | None = None


def _single_folder(directory):
    """The one folder an archive extracted into, skipping metadata."""
    entries = [
        entry
        for entry in directory.iterdir()
        if not entry.name.startswith((".", "_"))
    ]
    if len(entries) == 1 and entries[0].is_dir():
        return entries[0]
    return directory


def resolve_directory(path, cache_dir=None):
    """Returns a local folder for a folder path or the URL of an archive.

    A URL is downloaded and extracted with `keras.utils.get_file(...,
    extract=True)` into `cache_dir/datasets`, once. When the archive holds
    a single top folder (besides `__MACOSX/` and hidden files), that
    folder is returned.

    Args:
        path: a local folder, or the URL of a `.zip`/`.tar[.gz|.bz2]`
            archive.
        cache_dir: where downloads are cached; `None` for Keras' default.

    Returns:
        A `pathlib.Path` to an existing folder.

    Raises:
        FileNotFoundError: if a local `path` is not a folder.

    Example:

    >>> resolve_directory("/tmp")
    PosixPath('/tmp')
    """
    if not is_url(path):
        local_path = pathlib.Path(path).expanduser()
        if not local_path.is_dir():
            raise FileNotFoundError(f"No such directory: '{local_path}'")
        return local_path
    file_name = pathlib.PurePosixPath(urllib.parse.urlparse(str(path)).path)
    if not file_name.name.endswith(_ARCHIVE_SUFFIXES):
        raise ValueError(
            "A folder given as a URL must be an archive ("
            + ", ".join(_ARCHIVE_SUFFIXES)
            + f"). Received: path={path!r}"
        )
    extracted = keras.utils.get_file(
        fname=file_name.name,
        origin=str(path),
        extract=True,
        cache_dir=cache_dir,
    )
    return _single_folder(pathlib.Path(extracted))


def _resolve_file_or_directory(path, cache_dir):
    if is_url(path) and str(path).endswith(_ARCHIVE_SUFFIXES):
        return resolve_directory(path, cache_dir)
    return resolve_path(path, cache_dir)


def _find_child(directory, names, kind):
    """The first of `names` inside `directory` that is a `kind`, or None."""
    for name in names:
        candidate = directory / name
        if candidate.is_dir() if kind == "dir" else candidate.is_file():
            return candidate
    return None


def _parse_token_line(line, path, line_number):
    """Returns the (image, caption) entries of one token-file line.

    The official Flickr8k token file has two entries fused on one line
    (line 40809: "...body. e102455176_5f8ead62d5.jpg#3<TAB>..."); a
    field that ends with such an image key is split there.
    """
    fields = line.split("\t")
    where = f"{path}, line {line_number}"
    if len(fields) < 2:
        raise ValueError(
            f"{where}: expected 'image#number<TAB>caption', found no tab: "
            f"{line[:80]!r}"
        )
    keys, captions = [fields[0]], []
    for field in fields[1:-1]:
        match = _FUSED_ENTRY.fullmatch(field)
        if match is None:
            raise ValueError(
                f"{where}: expected 'image#number<TAB>caption', found "
                f"{len(fields)} tab-separated fields: {line[:80]!r}"
            )
        captions.append(match["caption"])
        keys.append(match["key"])
    captions.append(fields[-1])
    entries = []
    for key, caption in zip(keys, captions, strict=True):
        match = _TOKEN_KEY.fullmatch(key.strip())
        if match is None:
            raise ValueError(
                f"{where}: the caption id {key!r} is not 'image#number'."
            )
        if not caption.strip():
            raise ValueError(f"{where}: the caption of {key!r} is empty.")
        entries.append((match["image"], caption.strip()))
    return entries


def read_flickr_tokens(path):
    """Reads a Flickr token file into the captions of each image.

    Args:
        path: a local `Flickr8k.token.txt` or `results_20130124.token`:
            lines `image.jpg#k<TAB>caption`; blank lines are skipped.

    Returns:
        A dict mapping each image name to its list of captions, in the
        order of the file.

    Raises:
        FileNotFoundError: if the file does not exist.
        ValueError: for a line without a tab, a caption id that is not
            `image#number` or an empty caption (naming file and line), or
            a file without any caption.

    Example:

    >>> import pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "Flickr8k.token.txt"
    >>> _ = path.write_text("a.jpg#0\\tA dog .\\na.jpg#1\\tA pup .\\n")
    >>> read_flickr_tokens(path)
    {'a.jpg': ['A dog .', 'A pup .']}
    """
    captions = {}
    for line_number, line in enumerate(read_lines(path), start=1):
        if not line.strip():
            continue
        for image, caption in _parse_token_line(line, path, line_number):
            captions.setdefault(image, []).append(caption)
    if not captions:
        raise ValueError(f"{path} contains no captions.")
    return captions


def _read_image_list(path):
    names = [line.strip() for line in read_lines(path) if line.strip()]
    return list(dict.fromkeys(names))


def _find_split_lists(directory):
    """Maps split names to the Flickr8k split lists found in `directory`."""
    found = {}
    for split, suffix in FLICKR_SPLIT_LISTS.items():
        candidates = sorted(directory.glob(f"*{suffix}"))
        if len(candidates) > 1:
            raise ValueError(
                f"More than one {split} split list in '{directory}': "
                f"{[candidate.name for candidate in candidates]}"
            )
        if candidates:
            found[split] = candidates[0]
    return found


def _check_files(relative_paths, image_dir):
    """The relative paths without a file in `image_dir`, and those outside.

    A path is outside when it leads out of `image_dir` (an absolute path,
    `..`, or a symlink to elsewhere: `zoo.files.path_inside`). Lists each
    folder once rather than testing every file (the real caption files
    name tens of thousands of images); only symlinks are resolved.

    Returns:
        `(absent, outside)`: two sets of the given relative paths.
    """
    by_folder = {}
    for relative in relative_paths:
        parsed = pathlib.PurePosixPath(relative)
        by_folder.setdefault(str(parsed.parent), []).append(
            (relative, parsed.name)
        )
    absent, outside = set(), set()
    for folder, paths in by_folder.items():
        if not _is_inside(image_dir, folder):
            outside.update(relative for relative, _ in paths)
            continue
        try:
            with os.scandir(image_dir / folder) as entries:
                links = {entry.name: entry.is_symlink() for entry in entries}
        except (FileNotFoundError, NotADirectoryError):
            links = {}
        for relative, name in paths:
            if name not in links:
                absent.add(relative)
            elif links[name] and not _is_inside(image_dir, relative):
                outside.add(relative)
    return absent, outside


def _is_inside(folder, relative):
    try:
        path_inside(folder, relative)
    except ValueError:
        return False
    return True


def _skip_reasons(absent, outside, uncaptioned, image_dir):
    """The reasons of a skip warning: counts and an example of each."""
    reasons = []
    if outside:
        reasons.append(
            f"{len(outside):,} leading outside {image_dir} (e.g. "
            f"{min(outside)!r})"
        )
    if absent:
        reasons.append(
            f"{len(absent):,} absent from {image_dir} (e.g. {min(absent)!r})"
        )
    if uncaptioned:
        reasons.append(f"{len(uncaptioned):,} without captions")
    return reasons


def _finish(entries, image_dir, source):
    """Builds `CaptionedImage`s from `(image, relative_path, captions)`.

    `entries` maps split names to entry lists. Entries without captions,
    whose file is absent from `image_dir` or whose path leads outside it
    are dropped; one warning gives their numbers by reason.

    Raises:
        ValueError: If every captioned image leads outside `image_dir`.
    """
    listed = {
        relative for split in entries.values() for _, relative, _ in split
    }
    uncaptioned = {
        relative
        for split in entries.values()
        for _, relative, captions in split
        if not captions
    }
    absent, outside = set(), set()
    if image_dir is not None:
        absent, outside = _check_files(listed - uncaptioned, image_dir)
    if outside and outside == listed - uncaptioned:
        raise ValueError(
            f"{source}: every captioned image must be a file inside "
            f"{image_dir}. Received: {len(outside):,} paths leading "
            f"outside it (e.g. {min(outside)!r})"
        )
    skipped = absent | outside | uncaptioned
    if skipped:
        reasons = _skip_reasons(absent, outside, uncaptioned, image_dir)
        warnings.warn(
            f"{source}: skipped {len(skipped):,} of {len(listed):,} listed "
            f"images: {' and '.join(reasons)}.",
            stacklevel=3,
        )
    return {
        split: [
            CaptionedImage(
                image,
                tuple(captions),
                None if image_dir is None else image_dir / relative,
            )
            for image, relative, captions in split_entries
            if relative not in skipped
        ]
        for split, split_entries in entries.items()
    }


def split_images(images, *, valid_fraction=0.1, test_fraction=0.1, seed=0):
    """Splits captioned images into train/valid/test by image.

    The distinct image names are shuffled with `seed` and divided by the
    fractions (`zoo.data.translation.split_pairs`); all records of an
    image go to the same split, in their input order.

    Args:
        images: a list of `CaptionedImage`.
        valid_fraction: fraction of the images for validation, in [0, 1).
        test_fraction: fraction of the images for testing, in [0, 1).
        seed: integer seed of the shuffle.

    Returns:
        A dict with keys `"train"`, `"valid"` and `"test"`.

    Raises:
        ValueError: for fractions outside [0, 1) or summing to 1 or more.

    Example:

    >>> images = [CaptionedImage(f"{i}.jpg", ("a cat",)) for i in range(10)]
    >>> splits = split_images(images, valid_fraction=0.2, test_fraction=0.1)
    >>> [len(splits[name]) for name in ("train", "valid", "test")]
    [7, 2, 1]
    """
    splits = split_pairs(
        [(image.image, image) for image in images],
        valid_fraction=valid_fraction,
        test_fraction=test_fraction,
        seed=seed,
    )
    return {
        name: [image for _, image in pairs] for name, pairs in splits.items()
    }


def _carve_missing(splits, listed, valid_fraction, test_fraction, seed):
    """Carves the splits that have no list from the training images."""
    missing = [split for split in ("valid", "test") if split not in listed]
    if not missing:
        return splits
    carved = split_images(
        splits["train"],
        valid_fraction=valid_fraction if "valid" in missing else 0.0,
        test_fraction=test_fraction if "test" in missing else 0.0,
        seed=seed,
    )
    splits = dict(splits, train=carved["train"])
    for split in missing:
        splits[split] = carved[split]
    return splits


def _flickr_files(data, cache_dir):
    """Returns the token file and the folder holding the Flickr files."""
    local = _resolve_file_or_directory(data, cache_dir)
    if not local.is_dir():
        return local, local.parent
    token_path = _find_child(local, FLICKR_TOKEN_FILES, "file")
    if token_path is None:
        raise FileNotFoundError(
            f"No Flickr token file in directory '{local}': expected one of "
            f"{list(FLICKR_TOKEN_FILES)}."
        )
    return token_path, local


def load_flickr(
    data,
    *,
    image_dir=None,
    valid_fraction=0.1,
    test_fraction=0.1,
    seed=0,
    cache_dir=None,
):
    """Loads Flickr8k or Flickr30k captions in their original layout.

    With Flickr8k's split lists (`Flickr_8k.trainImages.txt`, `...dev...`,
    `...test...`, next to the token file), the splits are theirs and
    images in no list are not used; a missing dev or test list is carved
    from the training images, and without any list (Flickr30k) all three
    splits are carved from the images of the token file, by
    `valid_fraction`/`test_fraction` with `seed`. Listed images whose file
    is absent from the image folder, or that have no caption, are
    counted, reported in one warning and skipped (before any carving).

    Args:
        data: the folder holding the token file (and usually the split
            lists and image folder), or the token file itself; a local
            path or a URL (of the token file or of an archive of the
            folder).
        image_dir: the image folder (a path or the URL of an archive);
            `None` for the first of `FLICKR_IMAGE_DIRS` found next to
            the token file, or, if there is none, no image check (and
            `path=None`): use `filter_by_features` in features mode.
        valid_fraction: fraction of the images carved for validation when
            there is no dev list.
        test_fraction: likewise for the test split.
        seed: integer seed of the carving.
        cache_dir: download cache for URLs; `None` for Keras' default.

    Returns:
        A dict with keys `"train"`, `"valid"` and `"test"`, each a list of
        `CaptionedImage` in the order of the split list (or token file).

    Raises:
        FileNotFoundError: if `data`, its token file or `image_dir` is
            missing.
        ValueError: for a malformed token file (naming file and line).

    Example:

    >>> import pathlib, tempfile
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "Flickr8k.token.txt").write_text(
    ...     "a.jpg#0\\tA dog runs .\\nb.jpg#0\\tTwo cats .\\n"
    ... )
    >>> _ = (folder / "Flickr_8k.trainImages.txt").write_text("a.jpg\\n")
    >>> _ = (folder / "Flickr_8k.testImages.txt").write_text("b.jpg\\n")
    >>> splits = load_flickr(folder, valid_fraction=0.0)
    >>> splits["train"]
    [CaptionedImage(image='a.jpg', captions=('A dog runs .',), path=None)]
    >>> [len(splits[name]) for name in ("train", "valid", "test")]
    [1, 0, 1]
    """
    token_path, directory = _flickr_files(data, cache_dir)
    if image_dir is None:
        image_dir = _find_child(directory, FLICKR_IMAGE_DIRS, "dir")
    else:
        image_dir = resolve_directory(image_dir, cache_dir)
    captions = read_flickr_tokens(token_path)
    lists = _find_split_lists(directory)
    if lists and "train" not in lists:
        raise FileNotFoundError(
            f"'{directory}' has {sorted(p.name for p in lists.values())} "
            f"but no training split list (*{FLICKR_SPLIT_LISTS['train']})."
        )
    if lists:
        listed = {
            split: _read_image_list(path) for split, path in lists.items()
        }
    else:
        listed = {"train": list(captions)}
    entries = {
        split: [(name, name, captions.get(name, [])) for name in names]
        for split, names in listed.items()
    }
    splits = _finish(entries, image_dir, token_path)
    splits = _carve_missing(splits, listed, valid_fraction, test_fraction, seed)
    return {split: splits[split] for split in SPLIT_NAMES}


def _coco_entries(data, path):
    """(file_name, file_name, captions) of every image of a COCO file."""
    images = json_field(data, "images", path, "", list)
    annotations = json_field(data, "annotations", path, "", list)
    names, captions = {}, {}
    for index, image in enumerate(images):
        where = f"images[{index}]"
        image_id = json_field(image, "id", path, where, (int, str))
        if image_id in names:
            raise ValueError(f"{path}: {where} repeats id {image_id!r}.")
        names[image_id] = json_field(image, "file_name", path, where, str)
        captions[image_id] = []
    for index, annotation in enumerate(annotations):
        where = f"annotations[{index}]"
        image_id = json_field(annotation, "image_id", path, where, (int, str))
        caption = json_field(annotation, "caption", path, where, str)
        if image_id not in captions:
            raise ValueError(
                f"{path}: {where} has image_id={image_id!r}, which no entry "
                "of 'images' has."
            )
        captions[image_id].append(caption.strip())
    return [(names[key], names[key], captions[key]) for key in names]


def _resolve_image_dir(image_dir, cache_dir):
    if image_dir is None:
        return None
    return resolve_directory(image_dir, cache_dir)


def load_coco(captions_json, image_dir=None, *, cache_dir=None):
    """Loads a COCO captions file (`captions_train2014.json`, ...).

    Args:
        captions_json: the JSON file, a local path or a URL. It holds
            `images` (each with `id` and `file_name`) and `annotations`
            (each with `image_id` and `caption`).
        image_dir: the folder of its images (`train2014/`), a path or the
            URL of an archive; images absent from it are counted, reported
            in one warning and skipped. `None`: no check, `path=None`.
        cache_dir: download cache for URLs; `None` for Keras' default.

    Returns:
        A list of `CaptionedImage`, in the order of `images`; images
        without any annotation are skipped (and counted in the warning).

    Raises:
        FileNotFoundError: if the file or `image_dir` is missing.
        ValueError: for invalid JSON (naming file and line), a missing
            key or wrong type (naming the record, e.g. `annotations[3]`),
            a repeated image id or an annotation of an unknown image.

    Example:

    >>> import json, pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "captions_val2014.json"
    >>> _ = path.write_text(json.dumps({
    ...     "images": [{"id": 7, "file_name": "COCO_7.jpg"}],
    ...     "annotations": [{"image_id": 7, "caption": "A cat. "}],
    ... }))
    >>> load_coco(path)
    [CaptionedImage(image='COCO_7.jpg', captions=('A cat.',), path=None)]
    """
    path = resolve_path(captions_json, cache_dir)
    entries = _coco_entries(read_json(path), path)
    image_dir = _resolve_image_dir(image_dir, cache_dir)
    return _finish({"all": entries}, image_dir, path)["all"]


def _karpathy_entries(data, path):
    """Entries of each split of a Karpathy split file."""
    images = json_field(data, "images", path, "", list)
    entries = {split: [] for split in SPLIT_NAMES}
    for index, image in enumerate(images):
        where = f"images[{index}]"
        filename = json_field(image, "filename", path, where, str)
        split = json_field(image, "split", path, where, str)
        if split not in KARPATHY_SPLITS:
            raise ValueError(
                f"{path}: {where} has split={split!r}, not one of "
                f"{list(KARPATHY_SPLITS)}."
            )
        sentences = json_field(image, "sentences", path, where, list)
        captions = [
            json_field(sentence, "raw", path, f"{where}.sentences[{i}]", str)
            for i, sentence in enumerate(sentences)
        ]
        relative = filename
        if image.get("filepath"):
            folder = json_field(image, "filepath", path, where, str)
            relative = str(pathlib.PurePosixPath(folder, filename))
        entries[KARPATHY_SPLITS[split]].append(
            (filename, relative, [caption.strip() for caption in captions])
        )
    return entries


def load_karpathy(dataset_json, image_dir=None, *, cache_dir=None):
    """Loads Karpathy's splits (`dataset_coco.json`, `dataset_flickr8k.json`).

    Karpathy's `restval` images (COCO val2014 images in neither his
    validation nor test split) go to the training split.

    Args:
        dataset_json: the JSON file, a local path or a URL: `images`, each
            with `filename`, `split`, `sentences` (each with `raw`) and,
            for COCO, `filepath` (`train2014` or `val2014`).
        image_dir: the image folder (for COCO the folder holding
            `train2014/` and `val2014/`), a path or the URL of an archive;
            images absent from it are counted, reported in one warning and
            skipped. `None`: no check, `path=None`.
        cache_dir: download cache for URLs; `None` for Keras' default.

    Returns:
        A dict with keys `"train"`, `"valid"` and `"test"`, each a list of
        `CaptionedImage` in file order; `image` is the file name without
        its `filepath`.

    Raises:
        FileNotFoundError: if the file or `image_dir` is missing.
        ValueError: for invalid JSON (naming file and line), a missing key
            or wrong type (naming the record, e.g. `images[3]`) or an
            unknown split.

    Example:

    >>> import json, pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "dataset_flickr8k.json"
    >>> _ = path.write_text(json.dumps({"images": [{
    ...     "filename": "a.jpg", "split": "val",
    ...     "sentences": [{"raw": "A dog runs."}],
    ... }]}))
    >>> load_karpathy(path)["valid"]
    [CaptionedImage(image='a.jpg', captions=('A dog runs.',), path=None)]
    """
    path = resolve_path(dataset_json, cache_dir)
    entries = _karpathy_entries(read_json(path), path)
    image_dir = _resolve_image_dir(image_dir, cache_dir)
    return _finish(entries, image_dir, path)


def load_caption_data(
    data,
    *,
    image_dir=None,
    valid_fraction=0.1,
    test_fraction=0.1,
    seed=0,
    cache_dir=None,
):
    """Loads train/valid/test captioned images from any supported layout.

    A `.json` file is read as Karpathy splits when its images have a
    `split`, else as a COCO captions file, whose images are split by
    `valid_fraction`/`test_fraction` with `seed`. Anything else (a
    folder, a token file, an archive URL) is read by `load_flickr`.

    Args:
        data: a Flickr folder or token file, a COCO `captions_*.json` or a
            Karpathy `dataset_*.json`; local paths or URLs.
        image_dir: the image folder (see the loaders); `None` for
            Flickr's own folder, or no image check for the JSON files.
        valid_fraction: fraction of the images carved for validation
            where the layout has no validation split.
        test_fraction: likewise for the test split.
        seed: integer seed of the carving.
        cache_dir: download cache for URLs; `None` for Keras' default.

    Returns:
        A dict with keys `"train"`, `"valid"` and `"test"`, each a list of
        `CaptionedImage`.

    Raises:
        FileNotFoundError: if a file or folder is missing.
        ValueError: for malformed files (naming the file and line or
            record).

    Example:

    >>> import json, pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "captions.json"
    >>> _ = path.write_text(json.dumps({
    ...     "images": [{"id": i, "file_name": f"{i}.jpg"} for i in range(10)],
    ...     "annotations": [{"image_id": i, "caption": "x"} for i in range(10)],
    ... }))
    >>> splits = load_caption_data(path, valid_fraction=0.2)
    >>> [len(splits[name]) for name in ("train", "valid", "test")]
    [7, 2, 1]
    """
    if not str(data).endswith(".json"):
        return load_flickr(
            data,
            image_dir=image_dir,
            valid_fraction=valid_fraction,
            test_fraction=test_fraction,
            seed=seed,
            cache_dir=cache_dir,
        )
    path = resolve_path(data, cache_dir)
    content = read_json(path)
    image_dir = _resolve_image_dir(image_dir, cache_dir)
    images = content.get("images") if isinstance(content, dict) else None
    if images and isinstance(images[0], dict) and "split" in images[0]:
        return _finish(_karpathy_entries(content, path), image_dir, path)
    entries = _coco_entries(content, path)
    images = _finish({"all": entries}, image_dir, path)["all"]
    return split_images(
        images,
        valid_fraction=valid_fraction,
        test_fraction=test_fraction,
        seed=seed,
    )


@dataclasses.dataclass(frozen=True, eq=False)
class ImageFeatures:
    """Precomputed feature maps of named images.

    Attributes:
        names: a tuple of `N` distinct image file names, row order.
        features: array `[N, H, W, C]`: float, or the quantized integers
            when loaded with `dequantize=False`.
        scale: for quantized features, the scale (scalar or `[C]`
            float32 array); `None` for real-valued features.
        zero_point: for quantized features, the zero point (scalar or
            `[C]` int32 array); `None` for real-valued features.
    """

    names: tuple
    features: np.ndarray
    scale: np.ndarray | None = None
    zero_point: np.ndarray | None = None

    @functools.cached_property
    def index(self):
        """A dict mapping each image name to its row."""
        return {name: row for row, name in enumerate(self.names)}

    def __len__(self):
        return len(self.names)

    def __contains__(self, name):
        return name in self.index

    def rows(self, names):
        """Returns the rows of `names` as an int64 array.

        Raises:
            KeyError: naming the first name without features.
        """
        try:
            return np.array([self.index[name] for name in names], np.int64)
        except KeyError as error:
            raise KeyError(
                f"No features for image {error.args[0]!r}."
            ) from None


def _read_npz(path):
    try:
        archive = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
        raise ValueError(f"Could not read {path} as .npz: {error}") from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise ValueError(
            f"{path}: expected an .npz archive of named arrays, found a "
            "single array."
        )
    try:
        with archive:
            return {key: archive[key] for key in archive.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
        raise ValueError(f"Could not read {path} as .npz: {error}") from None


def _check_names(names, num_rows, path):
    if names.ndim != 1 or names.dtype.kind not in "US":
        raise ValueError(
            f"{path}: 'image' must be a 1-D array of strings, found "
            f"shape {names.shape} and dtype {names.dtype}."
        )
    if len(names) != num_rows:
        raise ValueError(
            f"{path}: 'image' names {len(names)} images but 'features' has "
            f"{num_rows} rows."
        )
    names = tuple(
        name.decode("utf-8") if isinstance(name, bytes) else str(name)
        for name in names.tolist()
    )
    if len(set(names)) != len(names):
        repeated = next(n for n in names if names.count(n) > 1)
        raise ValueError(f"{path}: image {repeated!r} has several rows.")
    return names


def _check_quantization(arrays, features, path):
    """Returns (scale, zero_point) checked for quantized features."""
    missing = [key for key in ("scale", "zero_point") if key not in arrays]
    if missing:
        raise ValueError(
            f"{path}: {features.dtype} features need 'scale' and "
            f"'zero_point' (real = scale * (features - zero_point)); "
            f"missing {missing}."
        )
    channels = features.shape[-1]
    scale = arrays["scale"].astype(np.float32)
    zero_point = arrays["zero_point"]
    for key, value in (("scale", scale), ("zero_point", zero_point)):
        if value.shape not in ((), (channels,)):
            raise ValueError(
                f"{path}: {key!r} must be a scalar or have shape "
                f"({channels},), found shape {value.shape}."
            )
    if not np.all(np.isfinite(scale)) or not np.all(scale > 0):
        raise ValueError(f"{path}: 'scale' must be finite and > 0.")
    if zero_point.dtype.kind not in "iu":
        raise ValueError(
            f"{path}: 'zero_point' must be integer, found {zero_point.dtype}."
        )
    return scale, zero_point.astype(np.int32)


def _check_shape(features, path):
    """Refuses feature maps of another rank, or without rows or cells."""
    if features.ndim != 4:
        raise ValueError(
            f"{path}: 'features' must have shape [N, H, W, C], found "
            f"{features.shape}."
        )
    if 0 in features.shape:
        raise ValueError(
            f"{path}: 'features' must have shape [N, H, W, C] with every "
            f"size at least 1 (rows, locations, channels), found "
            f"{features.shape}."
        )


def _check_values(features, names, path, scale=None, zero_point=None):
    """Refuses a feature map holding a value that is not finite, or whose
    squared L2 norm is past `FEATURE_NORM_LIMIT`, naming its row and image.

    Quantized features are checked by their real values (`scale`,
    `zero_point`). Rows are checked a block at a time, squared in float32
    (a square past float32's range is past the limit too) and summed in
    float64.
    """
    for start in range(0, len(features), _DEQUANTIZE_ROWS):
        block = features[start : start + _DEQUANTIZE_ROWS]
        with np.errstate(over="ignore", invalid="ignore"):
            if scale is not None:
                block = dequantize_features(block, scale, zero_point)
            squares = np.square(block.astype(np.float32, copy=False))
            norms = np.sum(
                squares.reshape(len(block), -1), axis=1, dtype=np.float64
            )
        bad = ~(norms <= FEATURE_NORM_LIMIT)  # NaN compares False.
        if not bad.any():
            continue
        row = start + int(np.argmax(bad))
        values = np.asarray(block[row - start], np.float64).reshape(-1)
        if np.isfinite(values).all():
            with np.errstate(over="ignore"):
                norm = np.sum(np.square(values))
            found = f"a squared L2 norm of {norm:.3g}"
        else:
            found = f"the value {values[~np.isfinite(values)][0]}"
        raise ValueError(
            f"{path}: every feature map must be finite, with a squared L2 "
            f"norm at most {FEATURE_NORM_LIMIT:.3g} (float32's largest). "
            f"Received: {found} in row {row} (image {names[row]!r})"
        )


def dequantize_features(features, scale, zero_point, dtype="float32"):
    """Returns `scale * (features - zero_point)` as `dtype`.

    Computed in float32, a block of rows at a time, so the only large
    array is the result.

    Args:
        features: integer array `[N, ...]`.
        scale: scalar or array broadcastable to the last axis.
        zero_point: likewise.
        dtype: `"float32"` or `"float16"`.

    Returns:
        A NumPy array of `features.shape` and `dtype`.

    Example:

    >>> import numpy as np
    >>> dequantize_features(np.array([[0, 2, 4]], np.uint8), 0.5, 2).tolist()
    [[-1.0, 0.0, 1.0]]
    """
    result = np.empty(features.shape, dtype)
    scale = np.asarray(scale, np.float32)
    zero_point = np.asarray(zero_point, np.float32)
    for start in range(0, len(features), _DEQUANTIZE_ROWS):
        block = features[start : start + _DEQUANTIZE_ROWS].astype(np.float32)
        block -= zero_point
        block *= scale
        result[start : start + _DEQUANTIZE_ROWS] = block
    return result


def load_features(path, *, dequantize=True, dtype="float32", cache_dir=None):
    """Loads precomputed feature maps `[N, H, W, C]` of named images.

    The `.npz` archive holds `features` (`[N, H, W, C]`, float16/32/64,
    or uint8/int8 with `scale` and `zero_point`, scalars or per channel:
    real value = `scale * (features - zero_point)`) and `image`, the file
    name of each row (as `../shared/data/flickr8k/
    features_mobilenet_v2_7x7x1280.npz`).

    Args:
        path: the `.npz` file, a local path or a URL.
        dequantize: whether quantized features are turned into
            real values; with `False` they stay integers and the result
            keeps `scale`/`zero_point` (a quarter of the memory of
            float32, for dequantizing batch by batch).
        dtype: `"float32"` or `"float16"`, the dtype of real-valued
            features in the result.
        cache_dir: download cache for URLs; `None` for Keras' default.

    Returns:
        An `ImageFeatures(names, features, scale, zero_point)`.

    Raises:
        FileNotFoundError: if the file is missing.
        ValueError: naming the file, if it is not an `.npz` archive, an
            array is missing, shapes disagree or hold a size 0, names
            repeat, the dtype or quantization parameters are invalid, or
            (naming the row and image) a feature map holds a value that
            is not finite or a squared L2 norm past `FEATURE_NORM_LIMIT`
            (float32's largest value; a value of 1e38 is past it).

    Example:

    >>> import numpy as np, pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "features.npz"
    >>> np.savez(path, features=np.full((1, 2, 2, 3), 4, np.uint8),
    ...          image=np.array(["a.jpg"]), scale=0.5, zero_point=2)
    >>> features = load_features(path)
    >>> features.names, features.features[0, 0, 0].tolist()
    (('a.jpg',), [1.0, 1.0, 1.0])
    """
    if dtype not in ("float32", "float16"):
        raise ValueError(
            f"`dtype` must be 'float32' or 'float16'. Received: dtype={dtype!r}"
        )
    path = resolve_path(path, cache_dir)
    arrays = _read_npz(path)
    for key in ("features", "image"):
        if key not in arrays:
            raise ValueError(
                f"{path}: no {key!r} array (arrays: {sorted(arrays)})."
            )
    features = arrays["features"]
    _check_shape(features, path)
    names = _check_names(arrays["image"], len(features), path)
    if features.dtype in _FLOAT_DTYPES:
        if "scale" in arrays or "zero_point" in arrays:
            raise ValueError(
                f"{path}: {features.dtype} features are real-valued; "
                "'scale' and 'zero_point' are for uint8/int8 features."
            )
        _check_values(features, names, path)
        return ImageFeatures(names, features.astype(dtype, copy=False))
    if features.dtype not in _QUANTIZED_DTYPES:
        raise ValueError(
            f"{path}: 'features' must be float16/float32/float64 or "
            f"uint8/int8 with 'scale', found {features.dtype}."
        )
    scale, zero_point = _check_quantization(arrays, features, path)
    if not dequantize:
        _check_values(features, names, path, scale, zero_point)
        return ImageFeatures(names, features, scale, zero_point)
    with np.errstate(over="ignore"):
        real = dequantize_features(features, scale, zero_point, dtype=dtype)
    _check_values(real, names, path)
    return ImageFeatures(names, real)


def filter_by_features(images, features):
    """Keeps the captioned images that have features (features mode).

    Images without a row in `features` are counted, reported in one
    warning and skipped.

    Args:
        images: a list of `CaptionedImage`, or a dict of such lists (the
            splits returned by the loaders).
        features: an `ImageFeatures` (see `load_features`).

    Returns:
        The same structure holding only images with features.

    Example:

    >>> import numpy as np
    >>> features = ImageFeatures(("a.jpg",), np.zeros((1, 1, 1, 1)))
    >>> images = [CaptionedImage("a.jpg", ("x",))]
    >>> filter_by_features({"train": images}, features)["train"] == images
    True
    """
    splits = images if isinstance(images, dict) else {"all": images}
    kept = {
        split: [image for image in records if image.image in features]
        for split, records in splits.items()
    }
    missing = {
        image.image
        for records in splits.values()
        for image in records
        if image.image not in features
    }
    if missing:
        listed = {
            image.image for records in splits.values() for image in records
        }
        warnings.warn(
            f"skipped {len(missing):,} of {len(listed):,} captioned images "
            f"without precomputed features (e.g. {min(missing)!r}).",
            stacklevel=2,
        )
    return kept if isinstance(images, dict) else kept["all"]
