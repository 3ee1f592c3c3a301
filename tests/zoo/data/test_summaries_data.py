import gzip
import json
import pathlib
import warnings

import keras
import pytest

from zoo.data import summaries
from zoo.data.summaries import SummaryExample

RECORDS = [
    {"text": "The mayor spoke.\nThen she left.", "summary": "Mayor spoke."},
    {"text": "Shares rose  5 percent.", "summary": ["Shares up.", "Rise."]},
    {"text": "A storm hit the town.", "summary": "Storm."},
]
EXAMPLES = [
    SummaryExample("The mayor spoke. Then she left.", ("Mayor spoke.",)),
    SummaryExample("Shares rose 5 percent.", ("Shares up.", "Rise.")),
    SummaryExample("A storm hit the town.", ("Storm.",)),
]


def write_text(path, text):
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.name.endswith(".gz"):
        with gzip.open(path, "wt", encoding="utf-8", newline="") as file:
            file.write(text)
    else:
        path.write_bytes(text.encode("utf-8"))
    return path


def write_jsonl(path, records):
    return write_text(
        path, "".join(json.dumps(record) + "\n" for record in records)
    )


def dialogsum_record(index, references=1):
    record = {
        "fname": f"x_{index}",
        "dialogue": f"#Person1#: Hello {index}.\n#Person2#: Hi.",
        "topic": "greeting",
    }
    if references == 1:
        record["summary"] = f"They greet {index}."
    else:
        for number in range(1, references + 1):
            record[f"summary{number}"] = f"Summary {number} of {index}."
    return record


@pytest.mark.parametrize("name", ["news.jsonl", "news.jsonl.gz", "n.ndjson"])
def test_json_lines(tmp_path, name):
    path = write_jsonl(tmp_path / name, RECORDS)
    assert summaries.load_table(path) == EXAMPLES


def test_json_array_and_other_columns(tmp_path):
    records = [
        {"article": r["text"], "highlights": r["summary"], "id": i}
        for i, r in enumerate(RECORDS)
    ]
    path = write_text(tmp_path / "news.json", json.dumps(records, indent=1))
    loaded = summaries.load_table(
        path, text_column="article", summary_column="highlights"
    )
    assert loaded == EXAMPLES


def test_csv_and_gzipped_tsv(tmp_path):
    csv_path = write_text(
        tmp_path / "news.csv",
        'id,text,summary\n1,"The mayor spoke.\nThen she left.",Mayor spoke.\n'
        '2,"Shares, bonds rose.","Up, all."\n',
    )
    assert summaries.load_table(csv_path) == [
        EXAMPLES[0],
        SummaryExample("Shares, bonds rose.", ("Up, all.",)),
    ]
    tsv_path = write_text(
        tmp_path / "news.tsv.gz",
        "summary\ttext\nStorm.\tA storm hit the town.\n",
    )
    assert summaries.load_table(tsv_path) == [EXAMPLES[2]]
    # `format` overrides the suffix.
    txt_path = write_text(
        tmp_path / "news.txt", "text\tsummary\nA storm hit the town.\tStorm.\n"
    )
    assert summaries.load_table(txt_path, format="tsv") == [EXAMPLES[2]]
    with pytest.raises(ValueError, match=r"news\.txt.*format"):
        summaries.load_table(txt_path)
    with pytest.raises(ValueError, match="`format` must be None or one of"):
        summaries.load_table(txt_path, format="xml")


def test_missing_column_message_names_file_column_and_columns(tmp_path):
    path = write_jsonl(
        tmp_path / "news.jsonl", [{"body": "x", "abstract": "y"}]
    )
    with pytest.raises(ValueError) as error:
        summaries.load_table(path)
    message = str(error.value)
    assert "\n" not in message
    assert str(path) in message and "line 1" in message
    assert "'text'" in message and "['abstract', 'body']" in message
    csv_path = write_text(tmp_path / "news.csv", "text,abstract\na,b\n")
    with pytest.raises(ValueError) as error:
        summaries.load_table(csv_path)
    message = str(error.value)
    assert str(csv_path) in message
    assert "summary column 'summary'" in message
    assert "['text', 'abstract']" in message


def test_malformed_json_names_file_and_line(tmp_path):
    path = write_text(
        tmp_path / "news.jsonl", json.dumps(RECORDS[0]) + "\n{oops\n"
    )
    with pytest.raises(ValueError, match=r"news\.jsonl, line 2: not valid"):
        summaries.load_table(path)
    path = write_text(tmp_path / "list.jsonl", "[1, 2]\n")
    with pytest.raises(ValueError, match="record 1: expected a JSON object"):
        summaries.load_table(path)


def test_empty_documents_and_summaries_are_counted(tmp_path):
    records = RECORDS + [
        {"text": "  \n", "summary": "Nothing."},
        {"text": None, "summary": "Nothing."},
        {"text": "Something.", "summary": ""},
        {"text": "Something.", "summary": ["", " "]},
    ]
    path = write_jsonl(tmp_path / "news.jsonl", records)
    with pytest.warns(UserWarning) as caught:
        loaded = summaries.load_table(path)
    assert loaded == EXAMPLES
    assert len(caught) == 1
    message = str(caught[0].message)
    assert str(path) in message
    assert "skipped 4 of 7 examples" in message
    assert "2 with an empty document, 2 with an empty summary" in message


def test_bbc_folder_pairs_and_orphans(tmp_path):
    root = tmp_path / "BBC News Summary"
    articles = root / "News Articles"
    summaries_dir = root / "Summaries"
    write_text(
        articles / "business" / "001.txt",
        "Ad sales boost profit\n\nQuarterly profits rose.\n\nIts sales grew.\n",
    )
    write_text(
        summaries_dir / "business" / "001.txt",
        "Quarterly profits rose 2%.Its sales grew to $10.9bn.U.S.A stays.",
    )
    # Windows-1252 text (a curly apostrophe) is read too.
    (articles / "tech").mkdir()
    (articles / "tech" / "002.txt").write_bytes(
        "Phones\n\nIt\u2019s new.".encode("cp1252")
    )
    write_text(summaries_dir / "tech" / "002.txt", "It\u2019s new.")
    write_text(articles / "tech" / "003.txt", "Orphan article\n\nBody.")
    write_text(summaries_dir / "sport" / "009.txt", "Orphan summary.")
    with pytest.warns(UserWarning) as caught:
        loaded = summaries.load_bbc_folder(tmp_path)
    assert loaded == [
        SummaryExample(
            "Ad sales boost profit Quarterly profits rose. Its sales grew.",
            (
                "Quarterly profits rose 2%. Its sales grew to $10.9bn. "
                "U.S.A stays.",
            ),
        ),
        SummaryExample("Phones It\u2019s new.", ("It\u2019s new.",)),
    ]
    assert len(caught) == 1
    message = str(caught[0].message)
    assert "skipped 2 files without their pair" in message
    assert "1 articles without a summary" in message
    assert "1 summaries without an article" in message
    assert "News Articles/tech/003.txt" in message
    with pytest.raises(FileNotFoundError, match="not a BBC News Summary"):
        summaries.load_bbc_folder(articles)


def test_dialogsum_files_in_tmp(tmp_path):
    write_jsonl(
        tmp_path / "dialogsum.train.jsonl.gz",
        [dialogsum_record(i) for i in range(4)],
    )
    write_jsonl(tmp_path / "dialogsum.dev.jsonl", [dialogsum_record(9)])
    write_jsonl(
        tmp_path / "dialogsum.test.jsonl.gz",
        [dialogsum_record(7, references=3)],
    )
    train = summaries.load_dialogsum(tmp_path, "train")
    assert train[1] == SummaryExample(
        "#Person1#: Hello 1. #Person2#: Hi.", ("They greet 1.",)
    )
    assert summaries.load_dialogsum(tmp_path, "valid") == (
        summaries.load_dialogsum(tmp_path / "dialogsum.dev.jsonl")
    )
    (test,) = summaries.load_dialogsum(tmp_path, "test")
    assert test.references == (
        "Summary 1 of 7.",
        "Summary 2 of 7.",
        "Summary 3 of 7.",
    )
    splits = summaries.load_summarization_data(tmp_path)
    assert [len(splits[name]) for name in ("train", "valid", "test")] == [
        4,
        1,
        1,
    ]
    assert splits["source"] == f"DialogSum files in {tmp_path}"
    with pytest.raises(ValueError, match="`split` must be one of"):
        summaries.load_dialogsum(tmp_path, "training")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="No DialogSum test file"):
        summaries.load_dialogsum(tmp_path / "empty", "test")


def test_dialogsum_record_without_dialogue(tmp_path):
    path = write_jsonl(
        tmp_path / "dialogsum.train.jsonl", [{"fname": "a", "summary": "b"}]
    )
    with pytest.raises(ValueError, match=r"line 1: no text column 'dialogue'"):
        summaries.load_dialogsum(path)


def test_real_dialogsum(shared_data):
    directory = shared_data / "dialogsum"
    if not directory.is_dir():
        pytest.skip(f"DialogSum not found at {directory}")
    splits = summaries.load_summarization_data(directory)
    assert [len(splits[name]) for name in ("train", "valid", "test")] == [
        12460,
        500,
        500,
    ]
    assert all(len(e.references) == 1 for e in splits["train"])
    assert all(len(e.references) == 1 for e in splits["valid"])
    assert all(len(e.references) == 3 for e in splits["test"])
    assert all("\n" not in e.text for e in splits["train"])
    assert splits["train"][0].text.startswith(
        "#Person1#: Hi, Mr. Smith. I'm Doctor Hawkins. Why are you here "
        "today? #Person2#: I found"
    )


def test_generated_reports_by_default():
    splits = summaries.load_summarization_data(max_examples=20, seed=1)
    assert [len(splits[name]) for name in ("train", "valid", "test")] == [
        20,
        300,
        300,
    ]
    assert splits["source"] == "generated news reports (seed 1)"
    example = splits["test"][0]
    assert isinstance(example, SummaryExample)
    assert len(example.references) == 1
    with pytest.raises(ValueError, match="`valid` and `test` need `data`"):
        summaries.load_summarization_data(valid="x.jsonl")


def test_single_file_is_carved_without_crossing(tmp_path):
    records = [
        {"text": f"Document {i % 40}.", "summary": f"Summary {i}."}
        for i in range(50)
    ]
    path = write_jsonl(tmp_path / "all.jsonl", records)
    splits = summaries.load_summarization_data(
        path, valid_fraction=0.1, test_fraction=0.2, seed=5
    )
    texts = {
        name: {e.text for e in splits[name]}
        for name in ("train", "valid", "test")
    }
    # 40 distinct documents: 4 valid, 8 test, 28 train.
    assert [len(texts[name]) for name in ("train", "valid", "test")] == [
        28,
        4,
        8,
    ]
    assert not texts["train"] & texts["valid"]
    assert not texts["train"] & texts["test"]
    assert sum(len(splits[name]) for name in texts) == 50
    assert splits["source"] == f"{path} (valid and test carved with seed 5)"
    again = summaries.load_summarization_data(
        path, valid_fraction=0.1, test_fraction=0.2, seed=5
    )
    assert again == splits
    subset = summaries.load_summarization_data(
        path, valid_fraction=0.1, test_fraction=0.2, seed=5, max_examples=7
    )
    assert len(subset["train"]) == 7
    assert set(subset["train"]) <= set(splits["train"])


def test_explicit_splits_and_directory_of_tables(tmp_path):
    train = write_jsonl(tmp_path / "train.jsonl", RECORDS)
    valid = write_text(tmp_path / "v.csv", "text,summary\nValid doc.,V.\n")
    splits = summaries.load_summarization_data(
        train, valid=valid, test_fraction=0.34
    )
    assert splits["valid"] == [SummaryExample("Valid doc.", ("V.",))]
    assert len(splits["train"]) == 2 and len(splits["test"]) == 1
    assert "(test carved with seed 0)" in splits["source"]
    write_text(tmp_path / "dev.tsv.gz", "text\tsummary\nDev doc.\tD.\n")
    write_jsonl(tmp_path / "test.jsonl.gz", RECORDS[:1])
    splits = summaries.load_summarization_data(tmp_path)
    assert splits["train"] == EXAMPLES
    assert splits["valid"] == [SummaryExample("Dev doc.", ("D.",))]
    assert splits["test"] == EXAMPLES[:1]
    assert splits["source"] == f"tables in {tmp_path}"


def test_bbc_folder_through_the_entry_point(tmp_path):
    for index in range(20):
        write_text(
            tmp_path / "News Articles" / "tech" / f"{index:03}.txt",
            f"Title {index}\n\nBody {index}.",
        )
        write_text(
            tmp_path / "Summaries" / "tech" / f"{index:03}.txt",
            f"Body {index}.",
        )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        splits = summaries.load_summarization_data(tmp_path)
    assert [len(splits[name]) for name in ("train", "valid", "test")] == [
        18,
        1,
        1,
    ]
    assert splits["source"] == (
        f"BBC News Summary folder {tmp_path} (valid and test carved with "
        "seed 0)"
    )


def test_errors_of_the_entry_point(tmp_path):
    with pytest.raises(FileNotFoundError, match="No such file"):
        summaries.load_summarization_data(tmp_path / "absent.jsonl")
    with pytest.raises(FileNotFoundError, match="No summarization data"):
        summaries.load_summarization_data(tmp_path)
    path = write_jsonl(tmp_path / "two.jsonl", RECORDS[:2])
    with pytest.raises(ValueError, match="too few to carve"):
        summaries.load_summarization_data(path)
    with pytest.raises(ValueError, match="`max_examples` must be None"):
        summaries.load_summarization_data(path, max_examples=0)


def test_url_is_fetched_with_keras_get_file(tmp_path, monkeypatch):
    local = write_jsonl(tmp_path / "cached.jsonl", RECORDS)
    calls = []

    def fake_get_file(fname=None, origin=None, **kwargs):
        calls.append((fname, origin))
        return str(local)

    monkeypatch.setattr(keras.utils, "get_file", fake_get_file)
    url = "https://example.org/data/news.jsonl"
    assert summaries.load_table(url) == EXAMPLES
    assert calls == [("news.jsonl", url)]
