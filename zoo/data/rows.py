"""Rows of table files, read strictly and counted by what became of them.

Loaders of CSV, TSV and JSON lines tables read their rows here, so that
no row is silently lost:

- A CSV or TSV quote that is never closed (a stray `"` at the start of a
  field would swallow every later line into one field) or a quote closed
  in the middle of a field is an error naming the line where the row
  starts (`read_delimited_records`).
- A row with more or fewer fields than the header is skipped and counted
  (a comma in an unquoted field shifts the columns).
- `RowCounts` counts the kept rows and the skipped ones by reason, and
  reports the skipped ones in one warning per file: how many of how
  many, per reason, and where the first of each is.
"""

import csv
import io
import json
import warnings

from zoo.files import read_lines

WRONG_FIELD_COUNT = "a wrong number of fields"


class RowCounts:
    """The rows of one file: how many were kept, and why others were not.

    Example:

    >>> counts = RowCounts()
    >>> counts.keep()
    >>> counts.skip("an empty summary", "line 3")
    >>> counts.message("news.csv")
    'news.csv: skipped 1 of 2 examples (1 with an empty summary); the \
first at line 3.'
    """

    def __init__(self):
        self.kept = 0
        # reason -> [count, location of the first]
        self.skipped = {}

    def keep(self):
        """Counts a kept row."""
        self.kept += 1

    def skip(self, reason, location):
        """Counts a skipped row, e.g. `skip("an empty summary", "line 3")`."""
        if reason in self.skipped:
            self.skipped[reason][0] += 1
        else:
            self.skipped[reason] = [1, location]

    @property
    def num_skipped(self):
        return sum(count for count, _ in self.skipped.values())

    def message(self, source, noun="examples"):
        """The one-line report of the skipped rows, or `None` if none."""
        if not self.skipped:
            return None
        reasons = ", ".join(
            f"{count:,} with {reason}"
            for reason, (count, _) in self.skipped.items()
        )
        firsts = ", ".join(location for _, location in self.skipped.values())
        each = " of each" if len(self.skipped) > 1 else ""
        total = self.num_skipped + self.kept
        return (
            f"{source}: skipped {self.num_skipped:,} of {total:,} {noun} "
            f"({reasons}); the first{each} at {firsts}."
        )

    def warn(self, source, noun="examples", stacklevel=2):
        """Warns once about the skipped rows (nothing when none was)."""
        message = self.message(source, noun)
        if message is not None:
            warnings.warn(message, stacklevel=stacklevel + 1)


def _location(first_line, last_line):
    if first_line == last_line:
        return f"line {first_line}"
    return f"lines {first_line}-{last_line}"


def read_delimited_records(path, delimiter, counts):
    """The rows of a CSV or TSV file with a header, as dicts.

    Fields follow Python's `csv` dialect: a field may be quoted with `"`
    (and then hold the delimiter, newlines and doubled quotes `""`).
    Quotes are checked strictly: a quote never closed, or closed before
    the end of its field, is an error, never a field that swallows the
    lines after it.

    Args:
        path: A local `pathlib.Path` (plain, `.gz` or `.zip`, UTF-8).
        delimiter: `","` or `"\\t"`.
        counts: A `RowCounts`; a row with another number of fields than
            the header is counted there as skipped (`WRONG_FIELD_COUNT`).

    Returns:
        `(header, records)`: the header's field names, and a list of
        `(location, record)` pairs, `location` as `"line 5"` or `"lines
        5-7"`, `record` a dict from field name to string.

    Raises:
        ValueError: For a malformed quote, naming the file and the line
            where its row starts.
    """
    lines = read_lines(path)
    reader = csv.reader(
        io.StringIO("\n".join(lines)), delimiter=delimiter, strict=True
    )
    header, records = None, []
    while True:
        first_line = reader.line_num + 1
        try:
            fields = next(reader)
        except StopIteration:
            break
        except csv.Error as error:
            raise _quote_error(
                path, first_line, reader.line_num, error
            ) from None
        if not fields:
            continue  # A blank line.
        # The row starts at its first non-blank line.
        while first_line < reader.line_num and not lines[first_line - 1]:
            first_line += 1
        location = _location(first_line, reader.line_num)
        if header is None:
            header = fields
        elif len(fields) != len(header):
            counts.skip(
                WRONG_FIELD_COUNT,
                f"{location} ({len(fields)} fields, the header has "
                f"{len(header)})",
            )
        else:
            records.append((location, dict(zip(header, fields, strict=True))))
    return header or [], records


def _quote_error(path, first_line, last_line, error):
    if str(error) == "unexpected end of data":
        return ValueError(
            f"{path}, line {first_line}: a quoted field starts in this row "
            f"and is never closed (it would run to the end of the file, "
            f"line {last_line}). A stray '\"'? Quote the whole field and "
            "double the quotes inside it."
        )
    return ValueError(
        f"{path}, {_location(first_line, last_line)}: {error} (a quoted "
        "field must end at its closing quote; a stray '\"'? Quote the "
        "whole field and double the quotes inside it)."
    )


def read_json_records(path):
    """`(location, record)` pairs of a JSON lines file or JSON array.

    Blank lines are skipped; every record must be a JSON object.

    Raises:
        ValueError: For invalid JSON or a record that is not an object,
            naming the file and the line (or record).
    """
    lines = read_lines(path)
    first = next((line.strip() for line in lines if line.strip()), "")
    if first.startswith("["):
        try:
            records = json.loads("\n".join(lines))
        except json.JSONDecodeError as error:
            raise ValueError(
                f"{path}, line {error.lineno}: not valid JSON ({error.msg})."
            ) from None
        located = [
            (f"record {number}", record)
            for number, record in enumerate(records, start=1)
        ]
    else:
        located = []
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                raise ValueError(
                    f"{path}, line {number}: not valid JSON ({error.msg})."
                ) from None
            located.append((f"line {number}", record))
    for location, record in located:
        if not isinstance(record, dict):
            raise ValueError(
                f"{path}, {location}: expected a JSON object, found "
                f"{type(record).__name__}."
            )
    return located
