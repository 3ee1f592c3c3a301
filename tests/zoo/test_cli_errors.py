"""Ordinary mistakes on the command line: one line, exit status 2.

Each mistake must give one line, `keras-attention-zoo: error: ...`,
naming the argument or file, what was expected and what was received,
and no traceback; model arguments are checked before any data work, and
options are accepted anywhere on the command line.
"""

import errno
import io
import os

import keras
import numpy as np
import pytest

pytest.importorskip("tensorflow")
pytest.importorskip("tensorflow_text")

from tests.conftest import cli_main  # noqa: E402
from tests.conftest import write_corpus  # noqa: E402
from zoo import run_directory  # noqa: E402
from zoo.translation.training import train_translation  # noqa: E402

run = cli_main


@pytest.fixture(scope="module")
def zoo_model(tmp_path_factory):
    """An untrained Luong translator with its tokenizers, saved."""
    from zoo.text import WordPieceTokenizer
    from zoo.translation import LuongTranslator

    folder = tmp_path_factory.mktemp("model")
    lines = write_corpus(folder / "pairs.txt").read_text().splitlines()
    pairs = [line.split("\t") for line in lines]
    source = WordPieceTokenizer.from_texts(
        [s for s, _ in pairs], vocabulary_size=200, sequence_length=12
    )
    # About 80 target tokens: far from the 31-32 at which XLA compiles
    # the beam-4 decoder for minutes.
    target = WordPieceTokenizer.from_texts(
        [t for _, t in pairs], vocabulary_size=200
    )
    model = LuongTranslator(
        source.vocabulary_size,
        target.vocabulary_size,
        embedding_dim=8,
        units=8,
        num_layers=1,
        source_tokenizer=source,
        target_tokenizer=target,
        max_decode_length=6,
    )
    model((np.zeros((1, 12), "int32"), np.zeros((1, 6), "int32")))
    model.save(folder / "model.keras")
    return folder / "model.keras"


@pytest.mark.parametrize(
    "model_args, message",
    [
        (
            "[1,2]",
            "argument --model-args: expected a JSON object such as "
            "'{\"units\": 256}', received '[1,2]' (a JSON array) (see "
            "keras-attention-zoo train translation --help)",
        ),
        (
            "{units: 3",
            "argument --model-args: expected a JSON object such as "
            "'{\"units\": 256}', received '{units: 3' (Expecting property "
            "name enclosed in double quotes at character 1) (see "
            "keras-attention-zoo train translation --help)",
        ),
        (
            '{"units": "64"}',
            "Invalid model argument `units` of --arch luong: must be an "
            "integer. Received: units='64'",
        ),
        (
            '{"max_decode_length": 10}',
            "Model argument `max_decode_length` is set by "
            "--max-target-length, not by --model-args. Received: "
            "max_decode_length=10",
        ),
        (
            '{"unit": 64}',
            "Unknown model argument `unit` of --arch luong (did you mean "
            "`units`?). Known model arguments: alignment, dropout, "
            "embedding_dim, initial_state, input_feeding, num_layers, "
            "score, units, window.",
        ),
    ],
)
def test_model_arguments_are_checked_before_any_data_work(
    model_args, message, tmp_path, capsys
):
    logdir = tmp_path / "run"
    status, out, error = run(
        capsys,
        *("train", "translation", "--logdir", logdir),
        *("--model-args", model_args),
    )
    assert (status, error) == (2, message)
    # Not after minutes of vocabulary learning: before the logdir exists.
    assert out == "" and not logdir.exists()


def test_model_arguments_are_those_of_the_architecture(tmp_path):
    with pytest.raises(ValueError, match="Unknown model argument `units` of "):
        train_translation(
            "transformer",
            logdir=tmp_path / "run",
            model_arguments={"units": 64},
        )
    with pytest.raises(ValueError, match="must be one of 'encoder', 'zeros'"):
        train_translation(
            "bahdanau",
            logdir=tmp_path / "run",
            model_arguments={"initial_state": "learned"},
        )
    assert not (tmp_path / "run").exists()


def test_model_arguments_are_the_constructors():
    import inspect

    from zoo.translation import ARCHITECTURES
    from zoo.translation.options import MODEL_ARGUMENTS

    set_by_the_task = {
        "self",
        "source_vocabulary_size",
        "target_vocabulary_size",
        "kwargs",
    }
    for arch, model_class in ARCHITECTURES.items():
        parameters = inspect.signature(model_class).parameters
        declared = {option.name: option for option in MODEL_ARGUMENTS[arch]}
        assert set(declared) == set(parameters) - set_by_the_task, arch
        for name, option in declared.items():
            assert option.default == parameters[name].default, (arch, name)


@pytest.mark.parametrize(
    "arguments, message",
    [
        (
            ["--learning-rate", "-1"],
            "argument --learning-rate: must be > 0, got -1.0",
        ),
        (["--epochs", "x"], "argument --epochs: expected an integer, "),
        (["--arch", "rnn"], "argument --arch: invalid choice: 'rnn'"),
    ],
)
def test_bad_flag_values_are_one_line(arguments, message, capsys):
    status, _, error = run(capsys, "train", "translation", *arguments)
    assert status == 2 and error.startswith(message)
    # The usage is one `--help` away, not printed above the mistake.
    assert error.endswith("(see keras-attention-zoo train translation --help)")


def test_negative_learning_rate_is_refused_in_python_too(tmp_path):
    with pytest.raises(ValueError, match="`learning_rate`.*must be > 0"):
        train_translation(logdir=tmp_path / "run", learning_rate=-1.0)


def test_a_logdir_that_is_a_file(tmp_path, capsys):
    logdir = tmp_path / "run"
    logdir.write_text("not a folder")
    status, _, error = run(capsys, "train", "translation", "--logdir", logdir)
    assert status == 2
    assert error == f"--logdir {logdir}: expected a directory, received a file"


def test_a_read_only_logdir_with_vocabularies(tmp_path, capsys, monkeypatch):
    logdir = tmp_path / "run"
    (logdir / "vocabulary").mkdir(parents=True)
    if os.geteuid() == 0:
        # Root writes anywhere: refuse the write the way a read-only
        # folder would.
        def refuse(path, write):
            raise PermissionError(errno.EACCES, "Permission denied", path)

        monkeypatch.setattr(run_directory, "write_atomically", refuse)
    else:
        logdir.chmod(0o555)
    try:
        status, out, error = run(
            capsys, "train", "translation", "--logdir", logdir
        )
    finally:
        logdir.chmod(0o755)
    assert status == 2
    # The lock file comes first; root creates it, and is refused the record.
    written = "run.json" if os.geteuid() == 0 else "run.lock"
    assert error == (
        f"--logdir {logdir}: expected a writable directory, received one "
        f"where {written} cannot be written (Permission denied)"
    )
    assert out == ""  # Refused before reading any data.


def test_a_data_file_with_two_pairs(tmp_path, capsys):
    data = tmp_path / "two.txt"
    data.write_text("hello\thola\nbye\tadios\n")
    status, _, error = run(
        capsys,
        *("train", "translation", "--data", data),
        *("--logdir", tmp_path / "run"),
    )
    assert status == 2
    assert error.startswith(f"{data} holds 2 sentence pairs, too few to ")


def test_translate_a_plain_keras_model(tmp_path, capsys):
    path = tmp_path / "plain.keras"
    keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)]).save(path)
    status, _, error = run(capsys, "translate", path, "hello")
    assert status == 2
    assert error == (
        f"MODEL {path}: `translate` needs a translation model (from "
        "`keras-attention-zoo train translation`), received a Sequential, "
        "not a zoo model"
    )


def test_translate_a_truncated_or_missing_model(zoo_model, tmp_path, capsys):
    truncated = tmp_path / "model.keras"
    truncated.write_bytes(zoo_model.read_bytes()[:4096])
    status, _, error = run(capsys, "translate", truncated, "hello")
    assert status == 2
    assert error == (
        f"MODEL {truncated}: expected a .keras model file, received a file "
        "that is not a complete .keras archive (4096 bytes; truncated?)"
    )
    missing = tmp_path / "missing.keras"
    status, _, error = run(capsys, "evaluate", missing)
    assert status == 2 and error == (
        f"MODEL {missing}: expected a .keras model file, received a path "
        "that does not exist"
    )
    status, _, error = run(capsys, "translate", tmp_path, "hello")
    assert status == 2 and error.endswith("received a directory")


def test_options_after_the_positional_arguments(zoo_model, capsys):
    status, out, _ = run(
        capsys, "translate", zoo_model, "--beam-width", "2", "kaba lode"
    )
    assert status == 0 and len(out.splitlines()) == 1


def test_invalid_utf8_input_names_where(zoo_model, capsys, monkeypatch):
    monkeypatch.setattr(
        "sys.stdin", io.TextIOWrapper(io.BytesIO(b"kaba\nlo\xffde\n"))
    )
    status, _, error = run(capsys, "translate", zoo_model)
    assert status == 2
    assert error == (
        "stdin line 2: expected UTF-8 text, received the byte 0xff at byte 2"
    )
    # Undecodable bytes in an argument reach Python as surrogates.
    status, _, error = run(capsys, "translate", zoo_model, "ka\udcffba")
    assert status == 2
    assert error == (
        "TEXT 1: expected UTF-8 text, received the byte 0xff at character 2"
    )


def test_export_to_a_file_or_a_read_only_folder(
    zoo_model, tmp_path, capsys, monkeypatch
):
    target = tmp_path / "saved"
    target.write_text("a file")
    status, _, error = run(capsys, "export", zoo_model, target)
    assert status == 2 and str(target) in error, error
    assert target.read_text() == "a file"

    from zoo.translation import export

    def read_only(model, output_dir, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied", output_dir)

    monkeypatch.setattr(export, "export_saved_model", read_only)
    folder = tmp_path / "read-only" / "saved"
    status, _, error = run(capsys, "export", zoo_model, folder)
    assert status == 2
    assert error == f"[Errno 13] Permission denied: '{folder}'"
