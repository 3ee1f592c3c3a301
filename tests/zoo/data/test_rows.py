"""Table rows are counted and reported by reason, never swallowed.

A stray quote in a CSV must not turn the rest of the file into one field
(nor count it as one skipped row); a row with the wrong number of fields
and a JSON value that is not text (an object, a number) are skipped,
counted by reason, and located in the one warning of their file.
"""

import json
import warnings

import pytest

from zoo.data import rows
from zoo.data import summaries

NUM_ROWS = 200


def _csv_lines():
    return ["text,summary"] + [
        f"document {number} tells of a storm,storm {number}"
        for number in range(NUM_ROWS)
    ]


def _load(path):
    """`(examples, warning messages)` of `summaries.load_table(path)`."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        examples = summaries.load_table(path)
    return examples, [str(warning.message) for warning in caught]


def test_a_quote_never_closed_is_an_error_at_its_line(tmp_path):
    lines = _csv_lines()
    # Row 121 (line 122) opens a quote that nothing closes: before, it
    # swallowed the remaining 79 rows ("skipped 1 of 121").
    lines[121] = '"document 120 tells of a storm,storm 120'
    path = tmp_path / "news.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(ValueError) as error:
        summaries.load_table(path)
    message = str(error.value)
    assert f"{path}, line 122: a quoted field" in message
    assert "never closed" in message and "line 201" in message


def test_a_quote_closed_mid_field_is_an_error_naming_its_lines(tmp_path):
    lines = _csv_lines()
    lines[121] = '"document 120 tells of a storm,storm 120'
    # A later quoted field closes the stray quote in its middle.
    lines[150] = '"document 149, with a comma",storm 149'
    path = tmp_path / "news.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"news\.csv, lines 122-151: "):
        summaries.load_table(path)


def test_rows_with_another_number_of_fields_are_counted(tmp_path):
    lines = _csv_lines()
    lines[5] = "document 4, unquoted, holds commas,storm 4"
    lines[9] = "document 8 lost its summary"
    # A quoted field may hold newlines: one row over two lines.
    lines[12] = '"document 11\nover two lines",storm 11'
    path = tmp_path / "news.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    examples, messages = _load(path)
    assert len(examples) == NUM_ROWS - 2
    assert examples[9].text == "document 11 over two lines"
    assert messages == [
        f"{path}: skipped 2 of {NUM_ROWS} examples (2 with a wrong number "
        "of fields); the first at line 6 (4 fields, the header has 2)."
    ]


def test_json_values_that_are_not_text_are_counted(tmp_path):
    records = [
        {"text": "A storm hit the town.", "summary": {"a": 1}},
        {"text": 5, "summary": "Storm."},
        {"text": "A storm hit the town.", "summary": ["Storm.", 3]},
        {"text": "A storm hit the town.", "summary": {"a": 1}},
        {"text": ["A storm", "hit the town."], "summary": ["Storm."]},
    ]
    path = tmp_path / "news.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    examples, messages = _load(path)
    assert examples == [
        summaries.SummaryExample("A storm hit the town.", ("Storm.",))
    ]
    assert messages == [
        f"{path}: skipped 4 of 5 examples (3 with a summary that is not "
        "text, 1 with a document that is not text); the first of each at "
        "line 1 (the summary is an object), line 2 (the document is a "
        "number)."
    ]


def test_a_file_without_any_usable_row_is_an_error(tmp_path):
    path = tmp_path / "news.jsonl"
    path.write_text(json.dumps({"text": "A storm.", "summary": {"a": 1}}))
    with pytest.raises(ValueError, match="No example is left"):
        summaries.load_table(path)


def test_dialogsum_summaries_that_are_not_text_are_counted(tmp_path):
    records = [
        {"dialogue": "#Person1#: Hi.", "summary1": "Greeting.", "summary2": 7},
        {"dialogue": "#Person1#: Bye.", "summary": "Farewell."},
    ]
    path = tmp_path / "dialogsum.test.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        examples = summaries.load_dialogsum(path)
    assert [example.references for example in examples] == [("Farewell.",)]
    assert "1 with a summary that is not text" in str(caught[0].message)


def test_row_counts_report_nothing_when_nothing_was_skipped():
    counts = rows.RowCounts()
    counts.keep()
    assert counts.message("news.csv") is None
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        counts.warn("news.csv")
