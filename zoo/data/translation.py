"""Loaders of parallel sentences for translation.

Three file layouts are read, each from a local path or a URL (URLs are
downloaded once into the Keras cache with `keras.utils.get_file`):

* **Tab-separated pairs**: the Anki/Tatoeba files distributed by
  manythings.org (``spa-eng.zip`` holding ``spa-eng/spa.txt`` with lines
  ``english<TAB>spanish<TAB>attribution``), or any ``.txt``/``.tsv`` file,
  optionally gzipped (``.gz``) or zipped (``.zip``).
* **Line-aligned parallel files**, Multi30k style: ``train.de.gz`` and
  ``train.en.gz`` hold one sentence per line, line ``i`` of one being the
  translation of line ``i`` of the other.
* **A directory of fixed splits**: ``train``, ``valid`` (or ``val``/``dev``)
  and ``test`` (or ``test_2016_flickr``) files of either layout.

What `load_translation_data` reads as `data`:

* `None`: the embedded date-normalisation dataset
  (`zoo.data.dates.load_dates`), generated with `seed`; needs no file.
* a **directory** holding `train`, `valid`/`val`/`dev` and
  `test`/`test_2016_flickr` files: the fixed splits. Without languages
  these are tab-separated (`train.tsv.gz`, `valid.tsv`, `test.tsv`, ...);
  with `source_lang`/`target_lang` they are line-aligned files
  (`train.de.gz` + `train.en.gz`, ...). A missing valid or test file is
  carved from the training data as below.
* a **tab-separated file** (`.txt`, `.tsv`, either `.gz`, or an Anki
  `.zip`), local or URL: split with `seed` into train/valid/test by
  `valid_fraction`/`test_fraction`, no source sentence crossing splits.
* a **prefix** with `source_lang`/`target_lang`: `path/train` with
  `source_lang="de", target_lang="en"` reads `path/train.de[.gz]` and
  `path/train.en[.gz]`; split like a single file.
* a **pair** `(source_path, target_path)` of line-aligned files.

`valid` and `test` take the same forms (not directories) to give those
splits explicitly; given ones are used as they are.

`load_translation_data` is the one entry point for command-line tools; the
other functions are its building blocks. Every function returns
`(source, target)` string tuples, and every malformed input raises one
`ValueError` or `FileNotFoundError` naming the file (and the line).
"""

import pathlib
import random

from zoo.data import dates
from zoo.data.splits import check_max_examples
from zoo.data.splits import split_pairs
from zoo.files import is_url
from zoo.files import read_lines
from zoo.files import resolve_path

# File stems tried, in order, for each split inside a directory.
SPLIT_FILE_STEMS = {
    "train": ("train",),
    "valid": ("valid", "val", "dev"),
    "test": ("test", "test_2016_flickr"),
}
TAB_SEPARATED_SUFFIXES = (".tsv", ".tsv.gz", ".txt", ".txt.gz", ".zip")


def load_tab_separated(
    path,
    *,
    source_column=0,
    target_column=1,
    max_examples=None,
    cache_dir=None,
):
    """Loads sentence pairs from a tab-separated file (Anki/Tatoeba style).

    Each non-blank line holds at least `max(source_column, target_column)
    + 1` tab-separated columns; extra columns (the Anki attribution) are
    ignored. Fields are stripped of surrounding whitespace.

    Args:
        path: a `.txt`, `.tsv`, `.txt.gz`, `.tsv.gz` or `.zip` file, as a
            local path or a URL.
        source_column: index of the source column. For the Anki files the
            columns are `english, other language`, so `source_column=1,
            target_column=0` translates into English.
        target_column: index of the target column.
        max_examples: if set, stop after this many pairs: the *first*
            lines of the file. The Anki files are sorted by length, so these
            are the shortest sentences.
        cache_dir: download cache for URLs; `None` for Keras' default.

    Returns:
        A list of `(source, target)` string tuples.

    Raises:
        FileNotFoundError: if the file does not exist.
        ValueError: if a line has too few columns or an empty field (the
            message gives the file and line number), or the file holds no
            pair.

    Example:

    >>> import pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "spa.txt"
    >>> _ = path.write_text("Go.\\tVe.\\tCC-BY 2.0\\n", encoding="utf-8")
    >>> load_tab_separated(path, source_column=1, target_column=0)
    [('Ve.', 'Go.')]
    """
    for name, column in (
        ("source_column", source_column),
        ("target_column", target_column),
    ):
        if not isinstance(column, int) or column < 0:
            raise ValueError(
                f"`{name}` must be an integer >= 0. Received: {name}={column!r}"
            )
    if source_column == target_column:
        raise ValueError(
            "`source_column` and `target_column` must differ. Received: "
            f"source_column={source_column}, target_column={target_column}"
        )
    check_max_examples(max_examples)
    path = resolve_path(path, cache_dir)
    num_columns = max(source_column, target_column) + 1
    pairs = []
    for line_number, line in enumerate(read_lines(path), start=1):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) < num_columns:
            raise ValueError(
                f"{path}, line {line_number}: expected at least "
                f"{num_columns} tab-separated columns, found {len(fields)}: "
                f"{line[:80]!r}"
            )
        source = fields[source_column].strip()
        target = fields[target_column].strip()
        if not source or not target:
            empty_column = source_column if not source else target_column
            raise ValueError(
                f"{path}, line {line_number}: column {empty_column} is "
                f"empty: {line[:80]!r}"
            )
        pairs.append((source, target))
        if max_examples is not None and len(pairs) == max_examples:
            break
    if not pairs:
        raise ValueError(f"{path} contains no sentence pairs.")
    return pairs


def _read_sentences(path):
    lines = read_lines(path)
    sentences = []
    for line_number, line in enumerate(lines, start=1):
        sentence = line.strip()
        if not sentence:
            raise ValueError(
                f"{path}, line {line_number}: empty line in a line-aligned "
                "file (every line must hold one sentence)."
            )
        sentences.append(sentence)
    if not sentences:
        raise ValueError(f"{path} contains no sentences.")
    return sentences


def load_parallel_files(
    source_path, target_path, *, max_examples=None, cache_dir=None
):
    """Loads line-aligned parallel files (Multi30k style).

    Args:
        source_path: file with one source sentence per line, plain or
            `.gz`, local path or URL.
        target_path: file with the translation of line `i` of
            `source_path` on its line `i`.
        max_examples: if set, keep only the first `max_examples` pairs.
        cache_dir: download cache for URLs; `None` for Keras' default.

    Returns:
        A list of `(source, target)` string tuples.

    Raises:
        FileNotFoundError: if a file does not exist.
        ValueError: if the files have different numbers of lines, or a
            line is empty (naming the file and line).

    Example:

    >>> import pathlib, tempfile
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "train.de").write_text("Ein Hund.\\n", encoding="utf-8")
    >>> _ = (folder / "train.en").write_text("A dog.\\n", encoding="utf-8")
    >>> load_parallel_files(folder / "train.de", folder / "train.en")
    [('Ein Hund.', 'A dog.')]
    """
    check_max_examples(max_examples)
    source_path = resolve_path(source_path, cache_dir)
    target_path = resolve_path(target_path, cache_dir)
    sources = _read_sentences(source_path)
    targets = _read_sentences(target_path)
    if len(sources) != len(targets):
        raise ValueError(
            "Line-aligned files must have the same number of lines. "
            f"Received: {source_path} has {len(sources)} lines, "
            f"{target_path} has {len(targets)}."
        )
    pairs = list(zip(sources, targets, strict=True))
    return pairs[:max_examples] if max_examples is not None else pairs


def _with_suffixes(stem, suffixes):
    """Returns the first existing file among `stem + suffix`, or None."""
    for suffix in suffixes:
        candidate = stem.parent / (stem.name + suffix)
        if candidate.is_file():
            return candidate
    return None


def _find_parallel_file(prefix, language):
    found = _with_suffixes(
        pathlib.Path(prefix), (f".{language}", f".{language}.gz")
    )
    if found is None:
        raise FileNotFoundError(
            f"No file '{prefix}.{language}' or '{prefix}.{language}.gz'."
        )
    return found


def _load_one(spec, *, source_lang, target_lang, source_column, target_column):
    """Loads one split given as a file, a URL, a prefix or a file pair."""
    if isinstance(spec, (tuple, list)):
        if len(spec) != 2:
            raise ValueError(
                "A pair of line-aligned files must be given as "
                f"(source_path, target_path). Received: {spec!r}"
            )
        return load_parallel_files(spec[0], spec[1])
    if source_lang is not None:
        if is_url(spec):
            raise ValueError(
                "Line-aligned files at URLs must be given as a pair "
                f"(source_url, target_url). Received: {spec!r}"
            )
        return load_parallel_files(
            _find_parallel_file(spec, source_lang),
            _find_parallel_file(spec, target_lang),
        )
    return load_tab_separated(
        spec,
        source_column=source_column,
        target_column=target_column,
    )


def _find_split_files(directory, source_lang, target_lang):
    """Maps split names to file specs found in a directory of splits."""
    found = {}
    for split, stems in SPLIT_FILE_STEMS.items():
        for stem in stems:
            prefix = directory / stem
            if source_lang is not None:
                source = _with_suffixes(
                    prefix, (f".{source_lang}", f".{source_lang}.gz")
                )
                target = _with_suffixes(
                    prefix, (f".{target_lang}", f".{target_lang}.gz")
                )
                if source is not None and target is not None:
                    found[split] = (source, target)
                    break
            else:
                path = _with_suffixes(prefix, TAB_SEPARATED_SUFFIXES)
                if path is not None:
                    found[split] = path
                    break
    if "train" not in found:
        if source_lang is not None:
            expected = f"train.{source_lang}[.gz] and train.{target_lang}[.gz]"
        else:
            expected = "train" + "|".join(TAB_SEPARATED_SUFFIXES)
        raise FileNotFoundError(
            f"No training file in directory '{directory}': expected {expected}."
        )
    return found


def _load_dates(valid, test, max_examples, seed, return_alignment):
    if valid is not None or test is not None:
        raise ValueError(
            "`valid` and `test` need `data`; the embedded dates dataset "
            f"makes its own splits. Received: valid={valid!r}, "
            f"test={test!r}"
        )
    sizes = {} if max_examples is None else {"num_train": max_examples}
    return dates.load_dates(
        **sizes, seed=seed, return_alignment=return_alignment
    )


def _check_languages(source_lang, target_lang):
    if (source_lang is None) != (target_lang is None):
        raise ValueError(
            "`source_lang` and `target_lang` must be given together. "
            f"Received: source_lang={source_lang!r}, "
            f"target_lang={target_lang!r}"
        )
    if source_lang is not None and source_lang == target_lang:
        raise ValueError(
            "`source_lang` and `target_lang` must differ. Received: "
            f"source_lang={source_lang!r}, target_lang={target_lang!r}"
        )


def _load_given_splits(data, explicit, load, source_lang, target_lang):
    """Loads the training split and the valid/test splits that are given.

    Returns the training pairs and a dict of the loaded valid/test splits
    (explicit ones first, then a directory's own files).
    """
    explicit = dict(explicit)
    if (
        not isinstance(data, (tuple, list))
        and not is_url(data)
        and pathlib.Path(data).expanduser().is_dir()
    ):
        directory = pathlib.Path(data).expanduser()
        split_files = _find_split_files(directory, source_lang, target_lang)
        train = load(split_files["train"])
        for split in ("valid", "test"):
            if explicit[split] is None and split in split_files:
                explicit[split] = split_files[split]
    else:
        train = load(data)
    loaded = {
        split: load(spec)
        for split, spec in explicit.items()
        if spec is not None
    }
    return train, loaded


def _carve_missing_splits(
    train, loaded, data, valid_fraction, test_fraction, seed
):
    """Carves the valid/test splits not in `loaded` from `train`.

    Adds them to `loaded` and returns what remains for training.
    """
    missing = [split for split in ("valid", "test") if split not in loaded]
    if not missing:
        return train
    fractions = {"valid": valid_fraction, "test": test_fraction}
    carved = split_pairs(
        train,
        valid_fraction=valid_fraction if "valid" in missing else 0.0,
        test_fraction=test_fraction if "test" in missing else 0.0,
        seed=seed,
    )
    for split in missing:
        loaded[split] = carved[split]
    _check_carved_splits(carved, missing, data, *fractions.values())
    return carved["train"]


def _check_carved_splits(carved, missing, data, valid_fraction, test_fraction):
    """Refuses data too small to carve every split it has to carve."""
    fractions = {"valid": valid_fraction, "test": test_fraction}
    empty = [
        split
        for split in ["train"] + missing
        if not carved[split] and (split == "train" or fractions[split] > 0)
    ]
    if not empty:
        return
    sources = sum(len(pairs) for pairs in carved.values())
    raise ValueError(
        f"{data} holds {sources} sentence pairs, too few to carve "
        + " and ".join(f"{split} ({fractions[split]:.0%})" for split in missing)
        + f" from them: the {' and '.join(empty)} split would be empty. "
        "Give more pairs, or the missing splits as files (--valid, --test)."
    )


def load_translation_data(
    data=None,
    *,
    valid=None,
    test=None,
    source_lang=None,
    target_lang=None,
    source_column=0,
    target_column=1,
    valid_fraction=0.1,
    test_fraction=0.1,
    max_examples=None,
    seed=0,
    return_alignment=False,
):
    """Loads train/valid/test sentence pairs from any supported source.

    `data` and the splits take the forms listed in this module's
    docstring ("What `load_translation_data` reads").

    Args:
        data: the training data: `None` (the dates), a directory, a file, a
            URL, a prefix or a pair of files.
        valid: explicit validation data, or `None` to use the directory's
            file or carve it from `data`.
        test: explicit test data, or `None` likewise.
        source_lang: suffix of the source files of line-aligned data
            (`"de"` for `train.de.gz`). Requires `target_lang`.
        target_lang: suffix of the target files of line-aligned data.
        source_column: source column of tab-separated data. The Anki files
            are `english<TAB>other`: use `source_column=1, target_column=0`
            to translate into English.
        target_column: target column of tab-separated data.
        valid_fraction: fraction of distinct source sentences carved from
            the training data for validation, when not given otherwise.
        test_fraction: likewise for the test split.
        max_examples: if set, the training split is reduced to a random
            (seeded) subset of at most this many pairs; valid and test are
            kept whole. For the dates, the number of training pairs.
        seed: integer seed for the dates, the split and the subset.
        return_alignment: for the embedded dates only (`data=None`): each
            split holds `(source, target, alignment)` tuples, the alignment
            giving the character spans of the source's fields
            (`zoo.data.dates.load_dates`). Other data has no alignment.

    Returns:
        A dict with keys `"train"`, `"valid"` and `"test"`, each a list of
        `(source, target)` string tuples (triples with
        `return_alignment`).

    Raises:
        FileNotFoundError: if a file or a directory's training file is
            missing.
        ValueError: for inconsistent arguments or malformed files (naming
            the file and line).

    Example:

    >>> splits = load_translation_data(max_examples=100)
    >>> splits["train"][0]
    ('the 15th of february, 2019', '2019-02-15')
    >>> [len(splits[name]) for name in ("train", "valid", "test")]
    [100, 1000, 1000]
    """
    check_max_examples(max_examples)
    _check_languages(source_lang, target_lang)
    if return_alignment and data is not None:
        raise ValueError(
            "`return_alignment` is only available for the embedded dates "
            f"(data=None). Received: data={data!r}"
        )
    if data is None:
        return _load_dates(valid, test, max_examples, seed, return_alignment)

    def load(spec):
        return _load_one(
            spec,
            source_lang=source_lang,
            target_lang=target_lang,
            source_column=source_column,
            target_column=target_column,
        )

    train, loaded = _load_given_splits(
        data, {"valid": valid, "test": test}, load, source_lang, target_lang
    )
    train = _carve_missing_splits(
        train, loaded, data, valid_fraction, test_fraction, seed
    )
    if max_examples is not None and len(train) > max_examples:
        kept = sorted(
            random.Random(seed).sample(range(len(train)), max_examples)
        )
        train = [train[index] for index in kept]
    return {"train": train, "valid": loaded["valid"], "test": loaded["test"]}
