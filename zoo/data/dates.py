"""Human-readable dates paired with ISO 8601 dates: the embedded dataset.

The task (after the date-normalisation exercise popularised by Andrew Ng's
sequence-models course) is to translate a date written in one of many human
formats into ``YYYY-MM-DD``::

    "saturday, 9 may 2018"  ->  "2018-05-09"
    "9.5.18"                ->  "2018-05-09"
    "MAY 09 2018"           ->  "2018-05-09"

Every example is generated, so the dataset needs no download, is
deterministic under a seed, and the correct alignment is known exactly:

* ``target[0:4]`` (the year) is copied from the year token of the source.
  When the source writes the year with two digits, the century is implied
  by the range of the dataset: ``50``-``99`` mean 1950-1999 and ``00``-``49``
  mean 2000-2049, so the two digits still determine the year uniquely.
* ``target[5:7]`` (the month) comes from the month token: a month name,
  an abbreviation (``"sep"`` and ``"sept"`` both occur for September) or a
  month number.
* ``target[8:10]`` (the day) comes from the day token, possibly with an
  ordinal suffix (``"9th"``).
* The hyphens of the target and the weekday of the source (when present)
  are not aligned to anything: the weekday is redundant, and always the
  correct one for the date.

Numeric dates are always written day first (``"09/05/2018"`` is the 9th of
May), the European convention; no month-first numeric format is generated,
so no source string is ambiguous.

`generate_dates(..., return_alignment=True)` (and `load_dates`) return the
character spans of the year, month and day tokens in each source, for
checking attention maps; `date_links` pairs them with the fields' fixed
positions in the ISO target (`ISO_FIELD_SPANS`), the character links that
`zoo.text.token_alignment` turns into token alignments.
"""

import datetime
import random
import re

MONTH_NAMES = (
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
)
MONTH_ABBREVIATIONS = (
    "jan",
    "feb",
    "mar",
    "apr",
    "may",
    "jun",
    "jul",
    "aug",
    "sep",
    "oct",
    "nov",
    "dec",
)
WEEKDAY_NAMES = (
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
)

# Character spans of the fields in the ISO target "YYYY-MM-DD".
ISO_FIELD_SPANS = {"year": (0, 4), "month": (5, 7), "day": (8, 10)}

# An output holds a field at its ISO position when it starts like these.
_ISO_PREFIXES = {
    "year": re.compile(r"[0-9]{4}(?:-|$)"),
    "month": re.compile(r"[0-9]{4}-[0-9]{2}(?:-|$)"),
    "day": re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}$"),
}

FIRST_DATE = datetime.date(1950, 1, 1)
LAST_DATE = datetime.date(2049, 12, 31)

# Each format is a template of fields and literal text. Fields:
#   d    day without padding ("9")       dd   day with zero padding ("09")
#   dth  day with ordinal suffix ("9th")
#   m    month number ("5")              mm   month zero padded ("05")
#   mon  month abbreviation ("may", "sep" or "sept")
#   month  full month name
#   yyyy four-digit year                 yy   two-digit year
#   wd   weekday abbreviation ("sat")    weekday  full weekday name
# The second item is the casing of the whole string.
DATE_FORMATS = {
    "d month yyyy": ("{d} {month} {yyyy}", "lower"),
    "month d, yyyy": ("{month} {d}, {yyyy}", "lower"),
    "dd/mm/yyyy": ("{dd}/{mm}/{yyyy}", "lower"),
    "d.m.yy": ("{d}.{m}.{yy}", "lower"),
    "weekday, month d, yyyy": ("{weekday}, {month} {d}, {yyyy}", "lower"),
    "weekday, d month yyyy": ("{weekday}, {d} {month} {yyyy}", "lower"),
    "wd d mon yyyy": ("{wd} {d} {mon} {yyyy}", "lower"),
    "yyyy month d": ("{yyyy} {month} {d}", "lower"),
    "dth of month yyyy": ("{dth} of {month} {yyyy}", "lower"),
    "MON dd yyyy": ("{mon} {dd} {yyyy}", "upper"),
    "d mon yyyy": ("{d} {mon} {yyyy}", "lower"),
    "mon dth, yyyy": ("{mon} {dth}, {yyyy}", "lower"),
    "Weekday d Month yyyy": ("{weekday} {d} {month} {yyyy}", "title"),
    "the dth of month, yyyy": ("the {dth} of {month}, {yyyy}", "lower"),
    "dd-mm-yyyy": ("{dd}-{mm}-{yyyy}", "lower"),
    "d month yy": ("{d} {month} {yy}", "lower"),
}

_ALIGNED_FIELDS = {
    "d": "day",
    "dd": "day",
    "dth": "day",
    "m": "month",
    "mm": "month",
    "mon": "month",
    "month": "month",
    "yyyy": "year",
    "yy": "year",
    "wd": "weekday",
    "weekday": "weekday",
}


def _ordinal(day):
    if 10 <= day % 100 <= 20:
        suffix = "th"
    else:
        suffix = {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")
    return f"{day}{suffix}"


def _field_text(field, date, rng):
    if field == "d":
        return str(date.day)
    if field == "dd":
        return f"{date.day:02d}"
    if field == "dth":
        return _ordinal(date.day)
    if field == "m":
        return str(date.month)
    if field == "mm":
        return f"{date.month:02d}"
    if field == "mon":
        if date.month == 9 and rng.random() < 0.5:
            return "sept"
        return MONTH_ABBREVIATIONS[date.month - 1]
    if field == "month":
        return MONTH_NAMES[date.month - 1]
    if field == "yyyy":
        return f"{date.year:04d}"
    if field == "yy":
        return f"{date.year % 100:02d}"
    if field == "wd":
        return WEEKDAY_NAMES[date.weekday()][:3]
    if field == "weekday":
        return WEEKDAY_NAMES[date.weekday()]
    raise ValueError(f"Unknown date field {{{field}}}.")


def _split_template(template):
    """Splits "{d} of {month}" into [("field", "d"), ("text", " of "), ...]."""
    pieces = []
    rest = template
    while rest:
        start = rest.find("{")
        if start < 0:
            pieces.append(("text", rest))
            break
        if start > 0:
            pieces.append(("text", rest[:start]))
        end = rest.index("}", start)
        pieces.append(("field", rest[start + 1 : end]))
        rest = rest[end + 1 :]
    return pieces


def format_date(date, format_name, rng=None):
    """Writes a date in one of the `DATE_FORMATS`, with its alignment.

    Args:
        date: a `datetime.date` between 1950-01-01 and 2049-12-31 (two-digit
            years are only unambiguous in that range).
        format_name: a key of `DATE_FORMATS`, e.g. `"d.m.yy"`.
        rng: a `random.Random` that picks between the abbreviations "sep"
            and "sept" for September. Defaults to always "sep".

    Returns:
        A tuple `(source, target, alignment)`: the human-readable string,
        the ISO string `"YYYY-MM-DD"`, and a dict mapping `"year"`,
        `"month"`, `"day"` and, when the format has one, `"weekday"` to
        the `(start, end)` character span of that token in `source`.

    Example:

    >>> import datetime
    >>> date = datetime.date(2018, 5, 9)
    >>> source, target, alignment = format_date(date, "dth of month yyyy")
    >>> source, target
    ('9th of may 2018', '2018-05-09')
    >>> source[slice(*alignment["month"])]
    'may'
    """
    if format_name not in DATE_FORMATS:
        raise ValueError(
            f"`format_name` must be one of {sorted(DATE_FORMATS)}. "
            f"Received: format_name={format_name!r}"
        )
    if not FIRST_DATE <= date <= LAST_DATE:
        raise ValueError(
            f"`date` must be between {FIRST_DATE} and {LAST_DATE}. "
            f"Received: date={date}"
        )
    rng = rng if rng is not None else random.Random(0)
    template, casing = DATE_FORMATS[format_name]
    parts = []
    alignment = {}
    position = 0
    for kind, value in _split_template(template):
        text = value if kind == "text" else _field_text(value, date, rng)
        if kind == "field":
            alignment[_ALIGNED_FIELDS[value]] = (position, position + len(text))
        parts.append(text)
        position += len(text)
    source = "".join(parts)
    if casing == "upper":
        source = source.upper()
    elif casing == "title":
        # str.title() would turn "9th" into "9Th".
        source = " ".join(word.capitalize() for word in source.split(" "))
    return source, date.isoformat(), alignment


def _draw_example(rng):
    num_days = (LAST_DATE - FIRST_DATE).days
    date = FIRST_DATE + datetime.timedelta(days=rng.randint(0, num_days))
    return format_date(date, rng.choice(list(DATE_FORMATS)), rng)


def generate_dates(num_examples, seed=0, return_alignment=False):
    """Generates (human-readable date, ISO date) pairs.

    Dates are drawn uniformly from 1950-01-01 to 2049-12-31 and formats
    uniformly from `DATE_FORMATS`. The same seed always gives the same list.
    Pairs may repeat; `load_dates` gives splits without repeats.

    Args:
        num_examples: number of pairs, >= 0.
        seed: integer seed of the Python `random.Random` generator.
        return_alignment: if `True`, also return for each pair the
            character spans of the year, month and day (and weekday) tokens
            in the source, as documented in this module's docstring.

    Returns:
        A list of `(source, target)` string tuples, or of
        `(source, target, alignment)` tuples if `return_alignment`.

    Example:

    >>> pairs = generate_dates(2, seed=0)
    >>> pairs[0]
    ('the 15th of february, 2019', '2019-02-15')
    """
    if not isinstance(num_examples, int) or num_examples < 0:
        raise ValueError(
            "`num_examples` must be an integer >= 0. "
            f"Received: num_examples={num_examples!r}"
        )
    rng = random.Random(seed)
    examples = []
    for _ in range(num_examples):
        source, target, alignment = _draw_example(rng)
        if return_alignment:
            examples.append((source, target, alignment))
        else:
            examples.append((source, target))
    return examples


def date_links(alignment, output=None):
    """Character links of a date's fields, from the source to the ISO target.

    Every ISO string has its fields at the same positions, so the target
    spans also locate the fields in a model's output (its translation,
    not the reference): pass it as `output` to link only the fields that
    are where ISO puts them. A field is found when the output is
    ISO-shaped up to it: 4 digits for the year, then `-` and 2 digits for
    the month, then `-` and 2 digits for the day, the field followed by a
    `-` or the end (`"2018-05-9"` has its year and month, not its day).
    Whether the digits are right does not matter: the links say where the
    model should have looked.

    Args:
        alignment: the alignment dict of a source, as returned with
            `return_alignment=True` by `generate_dates` or `load_dates`.
        output: optional text to locate the fields in, e.g. a model's
            translation of the source; `None` for the reference target,
            which has all three.

    Returns:
        A dict mapping `"year"`, `"month"` and `"day"` (those found in
        `output`) to a link `(source_span, target_span)`: the field's span
        in the source and its fixed span in `"YYYY-MM-DD"`
        (`ISO_FIELD_SPANS`). The weekday and the hyphens have no link.

    Example:

    >>> import datetime
    >>> date = datetime.date(2018, 5, 9)
    >>> _, _, alignment = format_date(date, "dth of month yyyy")
    >>> date_links(alignment)["year"]
    ((11, 15), (0, 4))
    >>> sorted(date_links(alignment, output="2018-05-9"))
    ['month', 'year']
    """
    missing = [field for field in ISO_FIELD_SPANS if field not in alignment]
    if missing:
        raise ValueError(
            "`alignment` must give the spans of the year, month and day. "
            f"Received: alignment={alignment!r}"
        )
    if output is not None and not isinstance(output, str):
        raise ValueError(
            f"`output` must be a string or None. Received: output={output!r}"
        )
    return {
        field: (tuple(alignment[field]), target_span)
        for field, target_span in ISO_FIELD_SPANS.items()
        if output is None or _ISO_PREFIXES[field].match(output)
    }


def load_dates(
    num_train=20_000,
    num_valid=1_000,
    num_test=1_000,
    seed=0,
    return_alignment=False,
):
    """Loads train/valid/test splits of the date-normalisation dataset.

    The splits share no source string (a target date can occur in several
    splits, written differently), and are deterministic under `seed`.

    Args:
        num_train: number of training pairs.
        num_valid: number of validation pairs.
        num_test: number of test pairs.
        seed: integer seed.
        return_alignment: if `True`, each split holds `(source, target,
            alignment)` tuples, with the alignment dicts of
            `generate_dates`; the pairs are the same either way.

    Returns:
        A dict with keys `"train"`, `"valid"` and `"test"`, each a list of
        `(source, target)` string tuples (or triples, see
        `return_alignment`).

    Example:

    >>> splits = load_dates(num_train=100, num_valid=10, num_test=10)
    >>> [len(splits[name]) for name in ("train", "valid", "test")]
    [100, 10, 10]
    """
    sizes = {"train": num_train, "valid": num_valid, "test": num_test}
    for name, size in sizes.items():
        if not isinstance(size, int) or size < 0:
            raise ValueError(
                f"`num_{name}` must be an integer >= 0. "
                f"Received: num_{name}={size!r}"
            )
    total = sum(sizes.values())
    # About 36,500 days times 16 formats give some 600,000 distinct sources;
    # well below that, rejecting repeated sources costs little.
    max_total = 300_000
    if total > max_total:
        raise ValueError(
            f"`num_train + num_valid + num_test` must be <= {max_total}. "
            f"Received: {total}"
        )
    rng = random.Random(seed)
    seen = set()
    unique_pairs = []
    while len(unique_pairs) < total:
        source, target, alignment = _draw_example(rng)
        if source not in seen:
            seen.add(source)
            if return_alignment:
                unique_pairs.append((source, target, alignment))
            else:
                unique_pairs.append((source, target))
    return {
        "train": unique_pairs[:num_train],
        "valid": unique_pairs[num_train : num_train + num_valid],
        "test": unique_pairs[num_train + num_valid :],
    }
