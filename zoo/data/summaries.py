"""Loaders of documents and reference summaries for summarization.

Every loader returns `SummaryExample(text, references)` lists: the
document and a tuple of one or more reference summaries. Runs of
whitespace, newlines included, become one space (a DialogSum dialogue
keeps its `#Person1#: ...` turns on one line), and surrounding whitespace
is removed. No row is lost silently (`zoo.data.rows`): rows whose
document or every reference is empty, whose document or summary is not
text (a JSON object, number, true or false), or, in CSV and TSV, whose
number of fields differs from the header's are skipped, and each file
with such rows gives one warning counting them by reason, with the line
of the first of each; a file none of whose rows is usable, or a CSV quote
that is never closed, is an error naming the file and line.

Layouts read, each from a local path or a URL (downloaded once into the
Keras cache, as `zoo.files.resolve_path` does; folders must be
local):

* **DialogSum** (Chen et al., 2021): gzipped or plain JSON lines
  `dialogsum.{train,dev,test}.jsonl[.gz]` with the fields `fname,
  dialogue, summary, topic`; the test file has three references
  `summary1..3` (and `topic1..3`) instead. `load_dialogsum`.
* **Tables**: JSON lines (`.jsonl`, `.ndjson`, `.json`; a `.json` file may
  also hold one JSON array of objects), CSV (`.csv`) or TSV (`.tsv`),
  optionally gzipped, with a text and a summary column. In JSON a list of
  strings as the summary gives several references. `load_table`.
* **BBC News Summary** (the Kaggle layout): `News Articles/<topic>/NNN.txt`
  beside `Summaries/<topic>/NNN.txt`. `load_bbc_folder`.

What `load_summarization_data` reads as `data`:

* `None`: the embedded generated news reports (`zoo.data.reports`).
* a **directory** holding DialogSum files: their train/dev/test splits.
* a **BBC News Summary** directory (or its parent): all pairs, split.
* a **directory of fixed splits**: `train`, `valid` (or `val`/`dev`) and
  `test` tables (`train.jsonl.gz`, `valid.csv`, ...); a missing valid or
  test file is carved from the training data.
* a **table file** (local or URL): split with `seed` into train/valid/test
  by `valid_fraction`/`test_fraction`, no document crossing splits.

As in `zoo.data.translation.load_translation_data`, `valid` and `test`
give those splits explicitly (table files or URLs); given ones are used as
they are.
"""

import pathlib
import random
import re
import warnings
from typing import NamedTuple

from zoo.data import reports
from zoo.data.rows import RowCounts
from zoo.data.rows import read_delimited_records
from zoo.data.rows import read_json_records
from zoo.data.splits import check_max_examples
from zoo.data.splits import split_pairs
from zoo.files import resolve_path


class SummaryExample(NamedTuple):
    """A document and its reference summaries.

    Attributes:
        text: the document, whitespace runs collapsed to single spaces.
        references: a tuple of one or more non-empty reference summaries.
    """

    text: str
    references: tuple


TABLE_FORMATS = ("jsonl", "csv", "tsv")
_TABLE_SUFFIXES = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
    ".csv": "csv",
    ".tsv": "tsv",
}
_TABLE_FILE_SUFFIXES = tuple(
    suffix + compression
    for suffix in _TABLE_SUFFIXES
    for compression in ("", ".gz")
)
# File stems tried, in order, for each split inside a directory.
SPLIT_FILE_STEMS = {
    "train": ("train",),
    "valid": ("valid", "val", "dev", "validation"),
    "test": ("test",),
}
_DIALOGSUM_SPLITS = {
    "train": "train",
    "valid": "valid",
    "validation": "valid",
    "val": "valid",
    "dev": "valid",
    "test": "test",
}
_BBC_ARTICLES = "News Articles"
_BBC_SUMMARIES = "Summaries"
_BBC_ENCODINGS = ("utf-8", "cp1252", "latin-1")
# BBC summaries are extracted sentences glued without a space: "...from
# $10.9bn.Its profits...". A lowercase letter, digit or closing mark, a
# sentence end, then a capital: the space is put back. "U.S.A" and "3.5"
# do not match.
_GLUED_SENTENCES = re.compile(r"([a-z0-9%)\"'][.!?])([A-Z])")
_WHITESPACE = re.compile(r"\s+")


def _clean(text):
    return _WHITESPACE.sub(" ", text).strip()


def _as_text(value):
    """A field as text: null is empty, a list of strings is joined by
    spaces; `None` for a value that is not text (an object, a number,
    true or false, a list holding anything else)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return _clean(value)
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return _clean(" ".join(value))
    return None


def _references(value):
    """A summary field as a tuple of non-empty references; `None` if a
    reference is not text (a list gives several references)."""
    values = value if isinstance(value, list) else [value]
    if not all(item is None or isinstance(item, str) for item in values):
        return None
    return tuple(text for text in map(_as_text, values) if text)


def _json_kind(value):
    """What a JSON value is, in JSON's words ("an object")."""
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list holding more than strings"
    return type(value).__name__


def _row(location, text, summary):
    """`(location, document, references)` of a row's raw fields.

    The document or the references are `None`, and the location says
    what was found, for a field that is not text.
    """
    document, references = _as_text(text), _references(summary)
    for field, value, cleaned in (
        ("document", text, document),
        ("summary", summary, references),
    ):
        if cleaned is None:
            location = f"{location} (the {field} is {_json_kind(value)})"
    return location, document, references


def _keep_nonempty(rows, source, counts=None):
    """Examples with a document and a reference; warns about the rest.

    Rows whose document or summary is not text (a JSON object, number,
    ...) or is empty are skipped, counted by reason and reported in one
    warning; a file whose every row is skipped is an error.

    Args:
        rows: `(location, document, references)` triples (`_row`).
        source: the file or folder named in the warning.
        counts: the `RowCounts` of rows skipped while reading, if any.

    Raises:
        ValueError: if rows were read but none is an example.
    """
    counts = RowCounts() if counts is None else counts
    examples = []
    for location, text, references in rows:
        if text is None:
            counts.skip("a document that is not text", location)
        elif references is None:
            counts.skip("a summary that is not text", location)
        elif not text:
            counts.skip("an empty document", location)
        elif not references:
            counts.skip("an empty summary", location)
        else:
            counts.keep()
            examples.append(SummaryExample(text, references))
    if counts.skipped and not examples:
        raise ValueError(counts.message(source) + " No example is left.")
    counts.warn(source, stacklevel=3)
    return examples


def _table_format(path, format):
    if format is not None:
        if format not in TABLE_FORMATS:
            raise ValueError(
                f"`format` must be None or one of {list(TABLE_FORMATS)}. "
                f"Received: format={format!r}"
            )
        return format
    name = path.name.lower().removesuffix(".gz")
    suffix = pathlib.PurePath(name).suffix
    if suffix not in _TABLE_SUFFIXES:
        raise ValueError(
            f"{path}: cannot tell the table format from the suffix "
            f"{suffix!r}; expected one of {sorted(_TABLE_SUFFIXES)} "
            "(optionally .gz), or pass `format` ('jsonl', 'csv' or 'tsv')."
        )
    return _TABLE_SUFFIXES[suffix]


def _missing_column(path, kind, column, found, location=None):
    where = f"{path}, {location}" if location else str(path)
    return ValueError(
        f"{where}: no {kind} column {column!r}. Columns found: {found}"
    )


def _read_delimited(path, delimiter, text_column, summary_column, counts):
    header, records = read_delimited_records(path, delimiter, counts)
    for kind, column in (("text", text_column), ("summary", summary_column)):
        if column not in header:
            raise _missing_column(path, kind, column, header)
    return [
        _row(location, record[text_column], record[summary_column])
        for location, record in records
    ]


def load_table(
    path,
    text_column="text",
    summary_column="summary",
    format=None,
    cache_dir=None,
):
    """Loads documents and summaries from a JSON lines, CSV or TSV table.

    Args:
        path: the table file, local path or URL, optionally gzipped.
        text_column: the column (JSON key) of the documents. In JSON, a
            list of strings is joined by spaces.
        summary_column: the column of the summaries. In JSON, a list of
            strings gives several references (empty ones dropped).
        format: `"jsonl"`, `"csv"` or `"tsv"`; `None` reads it from the
            suffix (`.jsonl`, `.ndjson`, `.json`, `.csv`, `.tsv`, each
            optionally `.gz`). CSV and TSV follow Python's `csv` dialect,
            strictly: a field may be quoted with `"` (and then hold
            newlines and doubled quotes `""`); a quote never closed, or
            closed before its field ends, is an error.
        cache_dir: download cache for URLs; `None` for Keras' default.

    Returns:
        A list of `SummaryExample`. Rows with an empty document or
        summary, a document or summary that is not text (a JSON object,
        number, true or false; a list of strings is text), or another
        number of fields than the header are skipped, with one warning
        counting them by reason.

    Raises:
        FileNotFoundError: if the file does not exist.
        ValueError: if a column is missing (naming the file, the column
            and the columns found), the file is not valid JSON, CSV or
            UTF-8 (naming the file and line), or no row is usable.

    Example:

    >>> import pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "news.jsonl"
    >>> _ = path.write_text(
    ...     '{"text": "A long story.", "summary": ["Story.", "A story."]}\\n'
    ... )
    >>> load_table(path)
    [SummaryExample(text='A long story.', references=('Story.', 'A story.'))]
    """
    path = resolve_path(path, cache_dir)
    format = _table_format(path, format)
    counts = RowCounts()
    if format in ("csv", "tsv"):
        delimiter = "," if format == "csv" else "\t"
        rows = _read_delimited(
            path, delimiter, text_column, summary_column, counts
        )
    else:
        rows = []
        for location, record in read_json_records(path):
            for kind, column in (
                ("text", text_column),
                ("summary", summary_column),
            ):
                if column not in record:
                    raise _missing_column(
                        path, kind, column, sorted(record), location
                    )
            rows.append(
                _row(location, record[text_column], record[summary_column])
            )
    return _keep_nonempty(rows, path, counts)


def _dialogsum_summary(record):
    """The summary field, or the list of `summary1`, `summary2`, ..."""
    if "summary" in record:
        return record["summary"]
    numbered = sorted(
        (int(key.removeprefix("summary")), key)
        for key in record
        if re.fullmatch(r"summary\d+", key)
    )
    return [record[key] for _, key in numbered]


def _find_dialogsum_file(directory, split):
    stems = {
        "train": ("train",),
        "valid": ("dev", "valid", "validation", "val"),
        "test": ("test",),
    }[split]
    for stem in stems:
        for suffix in (".jsonl", ".jsonl.gz"):
            candidate = directory / f"dialogsum.{stem}{suffix}"
            if candidate.is_file():
                return candidate
    return None


def load_dialogsum(path_or_dir, split="train", cache_dir=None):
    """Loads one split of DialogSum.

    The document is the dialogue, its turns (`#Person1#: ...`) kept in
    order on one line; the references are `summary`, or `summary1`,
    `summary2`, ... (the test split has three).

    Args:
        path_or_dir: a directory holding `dialogsum.<split>.jsonl[.gz]`,
            or one such file (local path or URL; `split` is then ignored).
        split: `"train"`, `"dev"` (or `"valid"`, `"validation"`) or
            `"test"`.
        cache_dir: download cache for URLs; `None` for Keras' default.

    Returns:
        A list of `SummaryExample`.

    Raises:
        FileNotFoundError: if the file or the split's file is missing.
        ValueError: for an unknown `split`, or a record without a dialogue
            or summary (naming the file, line and the fields found).

    Example:

    >>> import pathlib, tempfile
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "dialogsum.dev.jsonl").write_text(
    ...     '{"dialogue": "#Person1#: Hi.\\\\n#Person2#: Hello.", '
    ...     '"summary": "They greet."}\\n'
    ... )
    >>> load_dialogsum(folder, "dev")
    [SummaryExample(text='#Person1#: Hi. #Person2#: Hello.', \
references=('They greet.',))]
    """
    if split not in _DIALOGSUM_SPLITS:
        raise ValueError(
            f"`split` must be one of {sorted(_DIALOGSUM_SPLITS)}. "
            f"Received: split={split!r}"
        )
    path = resolve_path(path_or_dir, cache_dir)
    if path.is_dir():
        directory = path
        path = _find_dialogsum_file(directory, _DIALOGSUM_SPLITS[split])
        if path is None:
            raise FileNotFoundError(
                f"No DialogSum {split} file in '{directory}': expected "
                f"dialogsum.{split}.jsonl[.gz]."
            )
    rows = []
    for location, record in read_json_records(path):
        if "dialogue" not in record:
            raise _missing_column(
                path, "text", "dialogue", sorted(record), location
            )
        if "summary" not in record and not any(
            re.fullmatch(r"summary\d+", key) for key in record
        ):
            raise _missing_column(
                path, "summary", "summary", sorted(record), location
            )
        rows.append(
            _row(location, record["dialogue"], _dialogsum_summary(record))
        )
    return _keep_nonempty(rows, path)


def _read_bbc_file(path):
    data = path.read_bytes()
    for encoding in _BBC_ENCODINGS:
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise AssertionError("latin-1 decodes any bytes")


def _bbc_base(root):
    """The folder holding `News Articles` and `Summaries`, or None."""
    for base in (root, root / "BBC News Summary"):
        if (base / _BBC_ARTICLES).is_dir() and (base / _BBC_SUMMARIES).is_dir():
            return base
    return None


def load_bbc_folder(root):
    """Loads the BBC News Summary articles and their summaries.

    The article's first line is its title; title and body make the text.
    The summaries' sentences, glued together in the files ("...profit.The
    firm..."), get their space back. An article without a summary file,
    or a summary without its article, is skipped; one warning counts them.
    Files are read as UTF-8, else Windows-1252, else Latin-1.

    Args:
        root: the folder holding `News Articles` and `Summaries` (or the
            folder above it, `BBC News Summary`).

    Returns:
        A list of `SummaryExample`, ordered by topic and file name.

    Raises:
        FileNotFoundError: if `root` or its two folders do not exist.
        ValueError: if no article has its summary.

    Example:

    >>> import pathlib, tempfile
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> for folder, text in [
    ...     ("News Articles", "Title\\n\\nBody one. Body two."),
    ...     ("Summaries", "Body one.Body two."),
    ... ]:
    ...     (root / folder / "tech").mkdir(parents=True)
    ...     _ = (root / folder / "tech" / "001.txt").write_text(text)
    >>> load_bbc_folder(root)
    [SummaryExample(text='Title Body one. Body two.', \
references=('Body one. Body two.',))]
    """
    root = resolve_path(root)
    base = _bbc_base(root) if root.is_dir() else None
    if base is None:
        raise FileNotFoundError(
            f"'{root}' is not a BBC News Summary folder: expected "
            f"'{_BBC_ARTICLES}' and '{_BBC_SUMMARIES}' folders in it."
        )
    articles_dir = base / _BBC_ARTICLES
    summaries_dir = base / _BBC_SUMMARIES
    articles = {
        path.relative_to(articles_dir) for path in articles_dir.glob("*/*.txt")
    }
    summaries = {
        path.relative_to(summaries_dir)
        for path in summaries_dir.glob("*/*.txt")
    }
    no_summary = sorted(articles - summaries)
    no_article = sorted(summaries - articles)
    if no_summary or no_article:
        examples = [
            f"'{_BBC_ARTICLES}/{no_summary[0]}'" if no_summary else None,
            f"'{_BBC_SUMMARIES}/{no_article[0]}'" if no_article else None,
        ]
        warnings.warn(
            f"{base}: skipped {len(no_summary) + len(no_article):,} files "
            f"without their pair: {len(no_summary):,} articles without a "
            f"summary, {len(no_article):,} summaries without an article "
            f"(e.g. {', '.join(e for e in examples if e)}).",
            stacklevel=2,
        )
    paired = sorted(articles & summaries)
    if not paired:
        raise ValueError(f"{base}: no article has its summary file.")
    rows = []
    for relative in paired:
        text = _as_text(_read_bbc_file(articles_dir / relative))
        summary = _GLUED_SENTENCES.sub(
            r"\1 \2", _read_bbc_file(summaries_dir / relative)
        )
        rows.append((f"'{relative}'", text, _references(summary)))
    return _keep_nonempty(rows, base)


def _with_suffixes(stem, suffixes):
    for suffix in suffixes:
        candidate = stem.parent / (stem.name + suffix)
        if candidate.is_file():
            return candidate
    return None


def _find_split_tables(directory):
    found = {}
    for split, stems in SPLIT_FILE_STEMS.items():
        for stem in stems:
            path = _with_suffixes(directory / stem, _TABLE_FILE_SUFFIXES)
            if path is not None:
                found[split] = path
                break
    return found


def _generated_reports(valid, test, max_examples, seed):
    if valid is not None or test is not None:
        raise ValueError(
            "`valid` and `test` need `data`; the generated reports make "
            f"their own splits. Received: valid={valid!r}, test={test!r}"
        )
    sizes = {} if max_examples is None else {"num_train": max_examples}
    generated = reports.generate_reports(**sizes, seed=seed)
    splits = {
        split: [
            SummaryExample(report.text, (report.summary,))
            for report in generated[split]
        ]
        for split in ("train", "valid", "test")
    }
    splits["source"] = f"generated news reports (seed {seed})"
    return splits


def _load_directory(directory, load_file):
    """Training examples, the splits a directory gives, and a description."""
    if _find_dialogsum_file(directory, "train") is not None:
        given = {}
        for split in ("valid", "test"):
            if _find_dialogsum_file(directory, split) is not None:
                given[split] = load_dialogsum(directory, split)
        return (
            load_dialogsum(directory, "train"),
            given,
            f"DialogSum files in {directory}",
        )
    bbc = _bbc_base(directory)
    if bbc is not None:
        return load_bbc_folder(bbc), {}, f"BBC News Summary folder {bbc}"
    files = _find_split_tables(directory)
    if "train" not in files:
        raise FileNotFoundError(
            f"No summarization data in directory '{directory}': expected "
            "dialogsum.train.jsonl[.gz], the BBC News Summary folders "
            f"'{_BBC_ARTICLES}' and '{_BBC_SUMMARIES}', or a training "
            f"table train{{{','.join(_TABLE_FILE_SUFFIXES)}}}."
        )
    given = {
        split: load_file(path)
        for split, path in files.items()
        if split != "train"
    }
    return load_file(files["train"]), given, f"tables in {directory}"


def load_summarization_data(
    data=None,
    *,
    valid=None,
    test=None,
    text_column="text",
    summary_column="summary",
    valid_fraction=0.05,
    test_fraction=0.05,
    seed=0,
    max_examples=None,
):
    """Loads train/valid/test summarization examples from any source.

    `data` takes the forms listed in this module's docstring ("What
    `load_summarization_data` reads").

    Args:
        data: `None` (the generated reports), a directory (DialogSum, BBC
            News Summary or split tables), or a table file or URL.
        valid: explicit validation table (file or URL), or `None` to use
            the directory's or carve it from the training data.
        test: explicit test table, or `None` likewise.
        text_column: document column of table files.
        summary_column: summary column of table files.
        valid_fraction: fraction of distinct documents carved from the
            training data for validation, when not given otherwise.
        test_fraction: likewise for the test split.
        seed: integer seed of the generated reports, of the carving and
            of the subset.
        max_examples: if set, the training split is reduced to a random
            (seeded) subset of at most this many examples; valid and test
            are kept whole. For the generated reports, the number of
            training reports.

    Returns:
        A dict with keys `"train"`, `"valid"` and `"test"`, each a list of
        `SummaryExample`, and `"source"`, a one-line description of what
        was read (`"DialogSum files in ..."`, `"generated news reports
        (seed 0)"`, and which splits were carved).

    Raises:
        FileNotFoundError: if a file or a directory's data is missing.
        ValueError: for inconsistent arguments, malformed files, or data
            too small to carve the missing splits from.

    Example:

    >>> splits = load_summarization_data(max_examples=10)
    >>> [len(splits[name]) for name in ("train", "valid", "test")]
    [10, 300, 300]
    >>> splits["source"]
    'generated news reports (seed 0)'
    """
    check_max_examples(max_examples)
    if data is None:
        return _generated_reports(valid, test, max_examples, seed)

    def load_file(spec):
        return load_table(
            spec, text_column=text_column, summary_column=summary_column
        )

    path = resolve_path(data)
    if path.is_dir():
        train, given, source = _load_directory(path, load_file)
    else:
        train, given, source = load_file(path), {}, str(path)
    for split, spec in (("valid", valid), ("test", test)):
        if spec is not None:
            given[split] = load_file(spec)
    missing = [split for split in ("valid", "test") if split not in given]
    if missing:
        train, carved_splits = _carve(
            train, missing, source, valid_fraction, test_fraction, seed
        )
        given.update(carved_splits)
        source += f" ({' and '.join(missing)} carved with seed {seed})"
    if max_examples is not None and len(train) > max_examples:
        kept = sorted(
            random.Random(seed).sample(range(len(train)), max_examples)
        )
        train = [train[index] for index in kept]
    return {
        "train": train,
        "valid": given["valid"],
        "test": given["test"],
        "source": source,
    }


def _carve(train, missing, source, valid_fraction, test_fraction, seed):
    """Carves the `missing` splits from `train`: `(train, {split: ...})`."""
    carved = split_pairs(
        train,
        valid_fraction=valid_fraction if "valid" in missing else 0.0,
        test_fraction=test_fraction if "test" in missing else 0.0,
        seed=seed,
    )
    fractions = {"valid": valid_fraction, "test": test_fraction}
    empty = [
        split
        for split in ["train", *missing]
        if not carved[split] and (split == "train" or fractions[split])
    ]
    if empty:
        raise ValueError(
            f"{source} holds {len(train):,} examples, too few to carve "
            + " and ".join(
                f"{split} ({fractions[split]:.0%})" for split in missing
            )
            + f" from them: the {' and '.join(empty)} split would be "
            "empty. Give more examples, or the missing splits as files."
        )
    return carved["train"], {split: carved[split] for split in missing}
