import calendar
import datetime
import re

import pytest

from zoo.data import dates

# An independent reading of every format, written from its human-readable
# name: named groups give the fields, Python's calendar gives the names.
MONTH = "(?P<month>[a-z]+)"
YEAR4 = r"(?P<year>\d{4})"
DAY = r"(?P<day>\d{1,2})"
DAY_TH = r"(?P<day>\d{1,2})(?P<suffix>st|nd|rd|th)"
WEEKDAY = "(?P<weekday>[a-z]+)"
ORACLE_PATTERNS = {
    "d month yyyy": rf"{DAY} {MONTH} {YEAR4}",
    "month d, yyyy": rf"{MONTH} {DAY}, {YEAR4}",
    "dd/mm/yyyy": r"(?P<day>\d\d)/(?P<month>\d\d)/(?P<year>\d{4})",
    "d.m.yy": r"(?P<day>\d{1,2})\.(?P<month>\d{1,2})\.(?P<year>\d\d)",
    "weekday, month d, yyyy": rf"{WEEKDAY}, {MONTH} {DAY}, {YEAR4}",
    "weekday, d month yyyy": rf"{WEEKDAY}, {DAY} {MONTH} {YEAR4}",
    "wd d mon yyyy": rf"{WEEKDAY} {DAY} {MONTH} {YEAR4}",
    "yyyy month d": rf"{YEAR4} {MONTH} {DAY}",
    "dth of month yyyy": rf"{DAY_TH} of {MONTH} {YEAR4}",
    "MON dd yyyy": r"(?P<month>[A-Z]+) (?P<day>\d\d) (?P<year>\d{4})",
    "d mon yyyy": rf"{DAY} {MONTH} {YEAR4}",
    "mon dth, yyyy": rf"{MONTH} {DAY_TH}, {YEAR4}",
    "Weekday d Month yyyy": (
        r"(?P<weekday>[A-Z][a-z]+) (?P<day>\d{1,2}) "
        r"(?P<month>[A-Z][a-z]+) (?P<year>\d{4})"
    ),
    "the dth of month, yyyy": rf"the {DAY_TH} of {MONTH}, {YEAR4}",
    "dd-mm-yyyy": r"(?P<day>\d\d)-(?P<month>\d\d)-(?P<year>\d{4})",
    "d month yy": r"(?P<day>\d{1,2}) (?P<month>[a-z]+) (?P<year>\d\d)",
}
FULL_MONTHS = [calendar.month_name[i].lower() for i in range(1, 13)]
SHORT_MONTHS = [calendar.month_abbr[i].lower() for i in range(1, 13)]


def oracle_month(text, name_style):
    """Month number of `text`, or None if it is no month in that style."""
    text = text.lower()
    if text.isdigit():
        return int(text)
    names = FULL_MONTHS if name_style == "full" else SHORT_MONTHS + ["sept"]
    if text not in names:
        return None
    return 9 if text == "sept" else names.index(text) + 1


def oracle_year(text):
    year = int(text)
    if len(text) == 2:
        return 1900 + year if year >= 50 else 2000 + year
    return year


def oracle_parse(format_name, source):
    """Returns the date read from `source`, checking weekday and suffix."""
    match = re.fullmatch(ORACLE_PATTERNS[format_name], source)
    if match is None:
        return None
    abbreviated = "mon" in format_name.lower().split()
    fields = match.groupdict()
    month = oracle_month(fields["month"], "short" if abbreviated else "full")
    if month is None:
        return None
    date = datetime.date(oracle_year(fields["year"]), month, int(fields["day"]))
    if fields.get("weekday"):
        expected = calendar.day_name[date.weekday()].lower()
        if format_name.startswith("wd"):
            expected = expected[:3]
        assert fields["weekday"].lower() == expected, source
    if fields.get("suffix"):
        expected_suffix = {1: "st", 2: "nd", 3: "rd", 21: "st", 22: "nd"}
        expected_suffix.update({23: "rd", 31: "st"})
        assert fields["suffix"] == expected_suffix.get(date.day, "th"), source
    return date


def test_oracle_covers_every_format():
    assert set(ORACLE_PATTERNS) == set(dates.DATE_FORMATS)
    assert len(dates.DATE_FORMATS) >= 12


def test_every_example_parses_to_its_target_with_correct_weekday():
    examples = dates.generate_dates(3000, seed=1)
    formats_seen = set()
    for source, target in examples:
        parsed = {name: oracle_parse(name, source) for name in ORACLE_PATTERNS}
        matches = {name: date for name, date in parsed.items() if date}
        assert matches, f"no format reads {source!r}"
        for date in matches.values():
            assert date.isoformat() == target, source
        formats_seen.update(matches)
    assert formats_seen == set(dates.DATE_FORMATS)


def test_hand_worked_examples():
    may_9 = datetime.date(2018, 5, 9)  # a Wednesday
    expected = {
        "d month yyyy": "9 may 2018",
        "month d, yyyy": "may 9, 2018",
        "dd/mm/yyyy": "09/05/2018",
        "d.m.yy": "9.5.18",
        "weekday, month d, yyyy": "wednesday, may 9, 2018",
        "weekday, d month yyyy": "wednesday, 9 may 2018",
        "wd d mon yyyy": "wed 9 may 2018",
        "yyyy month d": "2018 may 9",
        "dth of month yyyy": "9th of may 2018",
        "MON dd yyyy": "MAY 09 2018",
        "Weekday d Month yyyy": "Wednesday 9 May 2018",
        "the dth of month, yyyy": "the 9th of may, 2018",
        "dd-mm-yyyy": "09-05-2018",
        "d month yy": "9 may 18",
        "d mon yyyy": "9 may 2018",
        "mon dth, yyyy": "may 9th, 2018",
    }
    assert set(expected) == set(dates.DATE_FORMATS)
    for name, source in expected.items():
        assert dates.format_date(may_9, name)[:2] == (source, "2018-05-09")
    moon_landing = datetime.date(1969, 7, 20)  # a Sunday
    assert dates.format_date(moon_landing, "wd d mon yyyy")[0] == (
        "sun 20 jul 1969"
    )
    assert dates.format_date(datetime.date(1950, 1, 1), "d.m.yy")[0] == (
        "1.1.50"
    )
    assert dates.format_date(datetime.date(2049, 12, 31), "d.m.yy")[:2] == (
        "31.12.49",
        "2049-12-31",
    )
    assert dates.format_date(datetime.date(2001, 9, 22), "mon dth, yyyy")[
        0
    ] in ("sep 22nd, 2001", "sept 22nd, 2001")


def test_deterministic_under_seed():
    assert dates.generate_dates(500, seed=7) == dates.generate_dates(
        500, seed=7
    )
    assert dates.generate_dates(500, seed=7) != dates.generate_dates(
        500, seed=8
    )


def test_date_range_and_september_spellings():
    examples = dates.generate_dates(5000, seed=2)
    years = [int(target[:4]) for _, target in examples]
    assert 1950 <= min(years) <= 1952
    assert 2047 <= max(years) <= 2049
    words = {word for source, _ in examples for word in source.split()}
    assert {"sep", "sept"} <= {word.lower() for word in words}


def test_alignment_spans_hold_the_target_fields():
    examples = dates.generate_dates(2000, seed=3, return_alignment=True)
    for source, target, alignment in examples:
        year, month, day = (int(part) for part in target.split("-"))
        year_text = source[slice(*alignment["year"])]
        assert oracle_year(year_text) == year, source
        month_text = source[slice(*alignment["month"])].lower()
        if month_text.isdigit():
            assert int(month_text) == month, source
        else:
            assert FULL_MONTHS[month - 1].startswith(month_text[:3]), source
        day_text = source[slice(*alignment["day"])].rstrip("stndrh")
        assert int(day_text) == day, source
        if "weekday" in alignment:
            weekday_text = source[slice(*alignment["weekday"])].lower()
            weekday = calendar.day_name[
                datetime.date(year, month, day).weekday()
            ]
            assert weekday.lower().startswith(weekday_text), source


def test_load_dates_splits_are_disjoint_and_sized():
    splits = dates.load_dates(num_train=3000, num_valid=300, num_test=300)
    assert [len(splits[name]) for name in ("train", "valid", "test")] == [
        3000,
        300,
        300,
    ]
    sources = {name: {s for s, _ in pairs} for name, pairs in splits.items()}
    assert len(sources["train"]) == 3000
    assert not sources["train"] & sources["valid"]
    assert not sources["train"] & sources["test"]
    assert not sources["valid"] & sources["test"]
    assert splits == dates.load_dates(3000, 300, 300)
    assert splits != dates.load_dates(3000, 300, 300, seed=1)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: dates.generate_dates(-1), "num_examples"),
        (lambda: dates.load_dates(num_valid=-5), "num_valid"),
        (lambda: dates.load_dates(num_train=10**7), "must be <="),
        (
            lambda: dates.format_date(datetime.date(2018, 1, 1), "iso"),
            "format_name",
        ),
        (
            lambda: dates.format_date(datetime.date(2050, 1, 1), "d.m.yy"),
            "between",
        ),
    ],
)
def test_bad_arguments_raise(call, message):
    with pytest.raises(ValueError, match=message):
        call()
