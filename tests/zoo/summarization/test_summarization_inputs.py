"""What `summarize` reads: files, texts, stdin lines, and what it refuses.

One output line per input line (a blank document gets an empty line); a
folder or a missing path is refused, never summarized as the text of its
name; the text policy of `zoo.inputs` (UTF-8 or refused, empty in, empty
out) holds for the command and the Python API. The model is a tiny
untrained one: these tests check what is read, not what is written.
"""

import io
import sys

import pytest

pytest.importorskip("tensorflow")
pytest.importorskip("tensorflow_text")

from tests.conftest import cli_main  # noqa: E402
from tests.zoo.summarization import tiny_summarizer  # noqa: E402
from zoo.summarization import inference  # noqa: E402

TEXT = "the mayor of quendle opened a library on monday ."


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    path = tmp_path_factory.mktemp("summarizer") / "model.keras"
    model, _ = tiny_summarizer.save_tiny_summarizer(path)
    return model, path


def _summarize(capsys, path, *arguments):
    return cli_main(capsys, "summarize", path, *arguments, "--beam-width", 1)


def _with_stdin(monkeypatch, data):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))


def test_blank_stdin_lines_get_empty_lines(saved, capsys, monkeypatch):
    _, path = saved
    _with_stdin(monkeypatch, f"{TEXT}\n\n   \n{TEXT}\n".encode())
    status, output, _ = _summarize(capsys, path)
    assert status == 0
    summary = output.split("\n")[0]
    assert output == f"{summary}\n\n\n{summary}\n"


def test_files_texts_and_blanks_each_get_a_line(saved, capsys, tmp_path):
    _, path = saved
    document = tmp_path / "my report.txt"
    document.write_text(TEXT + "\n", encoding="utf-8")
    status, output, _ = _summarize(capsys, path, document, "  ", TEXT)
    assert status == 0
    summary = output.split("\n")[0]
    assert output == f"{summary}\n\n{summary}\n"


def test_a_folder_is_refused_with_its_name(saved, capsys, tmp_path):
    _, path = saved
    status, _, error = _summarize(capsys, path, TEXT, tmp_path)
    assert status == 2
    assert error.startswith("DOCUMENT 2: ") and "folder" in error
    assert str(tmp_path) in error


@pytest.mark.parametrize("missing", ["report.txt", "missing/report.txt"])
def test_a_missing_file_is_refused_with_its_name(
    saved, capsys, tmp_path, missing
):
    _, path = saved
    status, _, error = _summarize(capsys, path, tmp_path / missing)
    assert status == 2
    assert error.startswith("DOCUMENT 1: ") and "no file" in error
    assert str(tmp_path / missing) in error


def test_non_utf8_argument_is_refused(saved, capsys):
    _, path = saved
    text = b"caf\xe9 opened".decode("utf-8", "surrogateescape")
    status, _, error = _summarize(capsys, path, text)
    assert status == 2
    assert error.startswith("DOCUMENT 1: expected UTF-8 text")
    assert "0xe9" in error


def test_python_api_empty_in_empty_out_and_utf8_bytes(saved):
    model, _ = saved
    empty, blank, from_bytes, text = inference.summarize_texts(
        model, ["", " \n ", TEXT.encode(), TEXT]
    )
    for summary in (empty, blank):
        assert summary["summary"] == "" and summary["tokens"] == []
        assert summary["attention"].shape == (0, 0)
    assert from_bytes["summary"] == text["summary"]
    with pytest.raises(ValueError, match=r"`texts\[1\]` must be UTF-8 text"):
        inference.summarize_texts(model, [TEXT, b"caf\xe9"])


def test_heatmap_targets_are_checked_before_summarizing(
    saved, capsys, tmp_path
):
    _, path = saved
    maps = tmp_path / "maps"
    maps.mkdir()
    (maps / "summary_2.png").write_bytes(b"the user's own")
    status, output, error = _summarize(
        capsys, path, TEXT, TEXT, "--attention-dir", maps
    )
    assert status == 2 and output == ""
    assert "summary_2.png" in error
    assert (maps / "summary_2.png").read_bytes() == b"the user's own"
    assert sorted(p.name for p in maps.iterdir()) == ["summary_2.png"]
