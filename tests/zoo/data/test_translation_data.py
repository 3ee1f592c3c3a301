import gzip
import pathlib
import time
import zipfile

import keras
import pytest

from zoo.data import translation

DATA_DIR = (
    pathlib.Path(__file__).resolve().parents[3] / ".." / "shared" / "data"
)

ANKI_LINES = [
    "Go.\tVe.\tCC-BY 2.0 (France) Attribution: tatoeba.org #2877272",
    "Go.\tVete.\tCC-BY 2.0 (France) Attribution: tatoeba.org #4986655",
    "Where is it?\t¿Dónde está?\tCC-BY 2.0 (France) Attribution: x",
    "Wow!\t¡Órale!\tCC-BY 2.0 (France) Attribution: y",
]
ANKI_PAIRS = [
    ("Go.", "Ve."),
    ("Go.", "Vete."),
    ("Where is it?", "¿Dónde está?"),
    ("Wow!", "¡Órale!"),
]


def write_text(path, text):
    path = pathlib.Path(path)
    if path.suffix == ".gz":
        with gzip.open(path, "wt", encoding="utf-8", newline="") as file:
            file.write(text)
    else:
        path.write_bytes(text.encode("utf-8"))
    return path


def test_tab_separated_txt_both_directions(tmp_path):
    path = write_text(tmp_path / "spa.txt", "\n".join(ANKI_LINES) + "\n")
    assert translation.load_tab_separated(path) == ANKI_PAIRS
    reversed_pairs = translation.load_tab_separated(
        path, source_column=1, target_column=0
    )
    assert reversed_pairs == [(t, s) for s, t in ANKI_PAIRS]
    assert (
        translation.load_tab_separated(path, max_examples=2) == (ANKI_PAIRS[:2])
    )


def test_tab_separated_zip_skips_about_file(tmp_path):
    path = tmp_path / "spa-eng.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("spa-eng/", "")
        archive.writestr("spa-eng/_about.txt", "About\tthis\tfile\n")
        archive.writestr("spa-eng/spa.txt", "\n".join(ANKI_LINES))
    assert translation.load_tab_separated(path) == ANKI_PAIRS


def test_zip_made_on_macos_skips_metadata(tmp_path):
    # As Archive Utility zips a folder: AppleDouble "._" files next to the
    # data and in __MACOSX/, plus a .DS_Store.
    path = tmp_path / "fra-eng.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("fra-eng/", "")
        archive.writestr("fra-eng/_about.txt", "About\tthis\tfile\n")
        archive.writestr("fra-eng/fra.txt", "\n".join(ANKI_LINES))
        archive.writestr("fra-eng/._fra.txt", b"\x00\x05\x16\x07 mac")
        archive.writestr("fra-eng/.DS_Store", b"\x00\x00\x00\x01Bud1")
        archive.writestr("__MACOSX/", "")
        archive.writestr("__MACOSX/fra-eng/._fra.txt", b"\x00\x05\x16\x07")
        archive.writestr("__MACOSX/fra-eng/fra.txt", "not\tthe data\n")
        archive.writestr(".hidden/notes.txt", "a\tb\n")
    assert translation.load_tab_separated(path) == ANKI_PAIRS
    splits = translation.load_translation_data(
        path, seed=0, valid_fraction=0.34, test_fraction=0.34
    )
    assert all(splits.values())
    assert sorted(pair for split in splits.values() for pair in split) == (
        sorted(ANKI_PAIRS)
    )


def test_zip_with_two_data_files_is_rejected(tmp_path):
    path = tmp_path / "two.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("a.txt", "a\tb\n")
        archive.writestr("b.txt", "c\td\n")
    with pytest.raises(ValueError, match=r"two\.zip.*exactly one"):
        translation.load_tab_separated(path)


def test_tsv_gz_with_bom_crlf_and_blank_lines(tmp_path):
    text = "\ufeffGo.\tVe.\r\n\r\nWow!\t¡Órale!\r\n"
    path = write_text(tmp_path / "train.tsv.gz", text)
    assert translation.load_tab_separated(path) == [
        ("Go.", "Ve."),
        ("Wow!", "¡Órale!"),
    ]


def test_cr_only_line_endings_are_lines(tmp_path):
    # Classic Mac OS files: "\r" alone ends each line.
    path = write_text(tmp_path / "mac.txt", "\r".join(ANKI_LINES) + "\r")
    assert translation.load_tab_separated(path) == ANKI_PAIRS
    source = write_text(tmp_path / "train.de", "Ein Hund.\rEine Katze.\r")
    target = write_text(tmp_path / "train.en", "A dog.\rA cat.")
    assert translation.load_parallel_files(source, target) == [
        ("Ein Hund.", "A dog."),
        ("Eine Katze.", "A cat."),
    ]


def test_too_few_pairs_to_split_names_file_and_counts(tmp_path):
    path = write_text(tmp_path / "two.txt", "Go.\tVe.\nWow!\t¡Órale!\n")
    with pytest.raises(ValueError) as info:
        translation.load_translation_data(path)
    message = str(info.value)
    assert str(path) in message
    assert "2 sentence pairs" in message
    assert "valid (10%) and test (10%)" in message
    assert "split would be empty" in message


def test_malformed_line_names_file_and_line(tmp_path):
    path = write_text(tmp_path / "bad.tsv", "a\tb\nc\td\nno tab here\n")
    with pytest.raises(ValueError, match=r"bad\.tsv, line 3: expected"):
        translation.load_tab_separated(path)


def test_empty_field_names_line(tmp_path):
    path = write_text(tmp_path / "bad.tsv", "a\tb\nc\t \n")
    with pytest.raises(ValueError, match=r"line 2: column 1 is empty"):
        translation.load_tab_separated(path)


def test_empty_and_missing_files(tmp_path):
    empty = write_text(tmp_path / "empty.txt", "")
    with pytest.raises(ValueError, match=r"empty\.txt contains no sentence"):
        translation.load_tab_separated(empty)
    with pytest.raises(FileNotFoundError, match="missing.txt"):
        translation.load_tab_separated(tmp_path / "missing.txt")


def test_invalid_utf8_names_line(tmp_path):
    path = tmp_path / "latin1.txt"
    path.write_bytes("a\tb\nc\tañejo\n".encode("latin-1"))
    with pytest.raises(ValueError, match=r"latin1\.txt, line 2: not valid"):
        translation.load_tab_separated(path)


def test_corrupt_gzip_is_a_clear_error(tmp_path):
    path = tmp_path / "broken.tsv.gz"
    path.write_bytes(b"this is not gzip data")
    with pytest.raises(ValueError, match=r"Could not read .*broken\.tsv\.gz"):
        translation.load_tab_separated(path)


def test_bad_column_arguments(tmp_path):
    path = write_text(tmp_path / "a.txt", "a\tb\n")
    with pytest.raises(ValueError, match="must differ"):
        translation.load_tab_separated(path, source_column=1, target_column=1)
    with pytest.raises(ValueError, match="source_column"):
        translation.load_tab_separated(path, source_column=-1)
    with pytest.raises(ValueError, match="line 1: expected at least 3"):
        translation.load_tab_separated(path, target_column=2)


def test_parallel_gz_files_keep_alignment(tmp_path):
    # U+2028 is a line separator for str.splitlines; it must not split.
    write_text(tmp_path / "train.de.gz", "Ein Hund.\nZwei\u2028Katzen.\n")
    write_text(tmp_path / "train.en.gz", "A dog.\nTwo cats.\n")
    pairs = translation.load_parallel_files(
        tmp_path / "train.de.gz", tmp_path / "train.en.gz"
    )
    assert pairs == [
        ("Ein Hund.", "A dog."),
        ("Zwei\u2028Katzen.", "Two cats."),
    ]


def test_parallel_files_with_different_line_counts(tmp_path):
    source = write_text(tmp_path / "a.de", "eins\nzwei\ndrei\n")
    target = write_text(tmp_path / "a.en", "one\ntwo\n")
    with pytest.raises(ValueError, match=r"a\.de has 3 lines, .*a\.en has 2"):
        translation.load_parallel_files(source, target)


def test_parallel_file_with_empty_line(tmp_path):
    source = write_text(tmp_path / "a.de", "eins\n\ndrei\n")
    target = write_text(tmp_path / "a.en", "one\ntwo\nthree\n")
    with pytest.raises(ValueError, match=r"a\.de, line 2: empty line"):
        translation.load_parallel_files(source, target)


def make_pairs(num_sources, targets_per_source):
    return [
        (f"source {i}", f"target {i}.{j}")
        for i in range(num_sources)
        for j in range(targets_per_source)
    ]


def test_split_pairs_keeps_each_source_in_one_split():
    pairs = make_pairs(200, 3)
    splits = translation.split_pairs(
        pairs, valid_fraction=0.1, test_fraction=0.2, seed=5
    )
    sources = {name: {s for s, _ in split} for name, split in splits.items()}
    assert not sources["train"] & sources["valid"]
    assert not sources["train"] & sources["test"]
    assert not sources["valid"] & sources["test"]
    assert (len(sources["valid"]), len(sources["test"])) == (20, 40)
    assert sorted(sum(splits.values(), [])) == sorted(pairs)
    assert splits == translation.split_pairs(
        pairs, valid_fraction=0.1, test_fraction=0.2, seed=5
    )
    assert splits != translation.split_pairs(
        pairs, valid_fraction=0.1, test_fraction=0.2, seed=6
    )


@pytest.mark.parametrize(
    "valid_fraction, test_fraction, message",
    [(-0.1, 0.1, "valid_fraction"), (0.6, 0.5, "must be < 1")],
)
def test_split_pairs_bad_fractions(valid_fraction, test_fraction, message):
    with pytest.raises(ValueError, match=message):
        translation.split_pairs(
            make_pairs(5, 1),
            valid_fraction=valid_fraction,
            test_fraction=test_fraction,
        )


def test_load_translation_data_defaults_to_dates():
    splits = translation.load_translation_data(max_examples=50, seed=3)
    assert [len(splits[name]) for name in ("train", "valid", "test")] == [
        50,
        1000,
        1000,
    ]
    source, target = splits["train"][0]
    assert len(target) == 10 and target[4] == "-" and target[7] == "-"


def test_directory_of_tab_separated_splits(tmp_path):
    write_text(tmp_path / "train.tsv.gz", "a\tA\nb\tB\nc\tC\n")
    write_text(tmp_path / "valid.tsv", "d\tD\n")
    write_text(tmp_path / "test.tsv", "e\tE\n")
    splits = translation.load_translation_data(
        tmp_path, source_column=1, target_column=0
    )
    assert splits == {
        "train": [("A", "a"), ("B", "b"), ("C", "c")],
        "valid": [("D", "d")],
        "test": [("E", "e")],
    }


def test_directory_of_parallel_splits_multi30k_names(tmp_path):
    for stem, words in [
        ("train", ["eins", "zwei"]),
        ("val", ["drei"]),
        ("test_2016_flickr", ["vier"]),
    ]:
        write_text(tmp_path / f"{stem}.de.gz", "\n".join(words) + "\n")
        english = {"eins": "one", "zwei": "two", "drei": "three"}
        english["vier"] = "four"
        write_text(
            tmp_path / f"{stem}.en.gz",
            "\n".join(english[word] for word in words) + "\n",
        )
    splits = translation.load_translation_data(
        str(tmp_path), source_lang="de", target_lang="en"
    )
    assert splits == {
        "train": [("eins", "one"), ("zwei", "two")],
        "valid": [("drei", "three")],
        "test": [("vier", "four")],
    }
    prefix_splits = translation.load_translation_data(
        tmp_path / "train",
        valid=tmp_path / "val",
        test=(
            tmp_path / "test_2016_flickr.de.gz",
            tmp_path / "test_2016_flickr.en.gz",
        ),
        source_lang="de",
        target_lang="en",
    )
    assert prefix_splits == splits


def test_directory_without_training_file(tmp_path):
    write_text(tmp_path / "valid.tsv", "a\tb\n")
    with pytest.raises(FileNotFoundError, match="No training file"):
        translation.load_translation_data(tmp_path)


def test_single_file_is_split_without_crossing_sources(tmp_path):
    lines = [f"{s}\t{t}" for s, t in make_pairs(100, 2)]
    path = write_text(tmp_path / "pairs.txt", "\n".join(lines))
    splits = translation.load_translation_data(
        path, valid_fraction=0.2, test_fraction=0.1, seed=1
    )
    sources = {name: {s for s, _ in split} for name, split in splits.items()}
    assert (len(sources["valid"]), len(sources["test"])) == (20, 10)
    assert len(splits["train"]) == 140
    assert not sources["train"] & (sources["valid"] | sources["test"])
    subset = translation.load_translation_data(
        path, valid_fraction=0.2, test_fraction=0.1, seed=1, max_examples=30
    )
    assert len(subset["train"]) == 30
    assert set(subset["train"]) <= set(splits["train"])
    assert subset["valid"] == splits["valid"]


def test_explicit_valid_and_carved_test(tmp_path):
    lines = [f"{s}\t{t}" for s, t in make_pairs(50, 1)]
    train = write_text(tmp_path / "train.txt", "\n".join(lines))
    valid = write_text(tmp_path / "dev.txt", "x\tX\n")
    splits = translation.load_translation_data(
        train, valid=valid, test_fraction=0.2
    )
    assert splits["valid"] == [("x", "X")]
    assert len(splits["test"]) == 10 and len(splits["train"]) == 40


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"source_lang": "de"}, "given together"),
        ({"source_lang": "en", "target_lang": "en"}, "must differ"),
        ({"data": None, "valid": "x.tsv"}, "need `data`"),
        ({"max_examples": 0}, "max_examples"),
        ({"data": ("a", "b", "c")}, "pair of line-aligned"),
        ({"data": "x.tsv", "return_alignment": True}, "only available for"),
    ],
)
def test_load_translation_data_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        translation.load_translation_data(**kwargs)


def test_url_is_fetched_with_keras_get_file(tmp_path, monkeypatch):
    local = write_text(tmp_path / "cached-spa.txt", "\n".join(ANKI_LINES))
    calls = []

    def fake_get_file(fname=None, origin=None, **kwargs):
        calls.append((fname, origin, kwargs.get("cache_dir")))
        return str(local)

    monkeypatch.setattr(keras.utils, "get_file", fake_get_file)
    url = "https://example.org/data/spa-eng.txt"
    pairs = translation.load_tab_separated(url, cache_dir=str(tmp_path))
    assert pairs == ANKI_PAIRS
    assert calls == [("spa-eng.txt", url, str(tmp_path))]
    with pytest.raises(ValueError, match="must be the URL of a file"):
        translation.load_tab_separated("https://example.org/")
    with pytest.raises(ValueError, match="given as a pair"):
        translation.load_translation_data(
            "https://example.org/train", source_lang="de", target_lang="en"
        )


def require(path):
    if not path.exists():
        pytest.skip(f"shared dataset not found at {path}")
    return path


def test_real_spa_eng_fixed_splits_load_fast():
    directory = require(DATA_DIR / "spa-eng")
    start = time.perf_counter()
    splits = translation.load_translation_data(
        directory, source_column=1, target_column=0
    )
    elapsed = time.perf_counter() - start
    assert [len(splits[name]) for name in ("train", "valid", "test")] == [
        114_942,
        2_009,
        2_013,
    ]
    assert splits["train"][0] == ("Ve.", "Go.")
    sources = {name: {s for s, _ in split} for name, split in splits.items()}
    assert not sources["train"] & (sources["valid"] | sources["test"])
    assert elapsed < 10, f"loading took {elapsed:.1f} s"


def test_real_spa_eng_zip_is_split():
    path = require(DATA_DIR / "spa-eng" / "spa-eng.zip")
    splits = translation.load_translation_data(
        path, source_column=1, target_column=0, seed=0
    )
    assert sum(len(split) for split in splits.values()) == 118_964
    sources = {name: {s for s, _ in split} for name, split in splits.items()}
    assert not sources["train"] & (sources["valid"] | sources["test"])
    assert not sources["valid"] & sources["test"]


def test_real_multi30k():
    directory = require(DATA_DIR / "multi30k")
    splits = translation.load_translation_data(
        directory, source_lang="de", target_lang="en"
    )
    assert [len(splits[name]) for name in ("train", "valid", "test")] == [
        29_000,
        1_014,
        1_000,
    ]
    assert splits["train"][0][1].startswith("Two young, White males")
