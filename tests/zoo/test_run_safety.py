"""Fault injection: a run killed at any stage resumes or is refused.

Each case kills a tiny run with `SIGKILL` in a subprocess at one stage:
while learning a vocabulary, after an epoch, while writing an epoch's
checkpoint, while saving the model, while evaluating. The run is then
rerun here; the rerun must either end with the weights and scores of an
uninterrupted run with the same seed, or be refused with one line. It
must never mix two runs, nor find a broken model where a good one was.
The kill comes from a monkeypatch in the subprocess's script: the zoo
has no fault hooks.

The trainer's stages are killed in the toy reversal task of
`test_trainer.py`, which trains in seconds. The translation cases train
on a generated corpus whose target vocabulary (about 80 tokens) is far
from the 31-32 tokens at which XLA takes minutes to compile the beam-4
decoder; `--no-jit` and no attention summaries keep them short.
"""

import json
import textwrap

import keras
import numpy as np
import pytest

from tests.conftest import run_killed
from tests.conftest import write_corpus

pytest.importorskip("tensorflow")
pytest.importorskip("tensorflow_text")

from zoo import cli  # noqa: E402
from zoo.trainer import RunConflictError  # noqa: E402
from zoo.trainer import train  # noqa: E402

# Early stopping's best epoch (the 4th) is not the last (the 5th) with
# this learning rate: a resumed run must restore the best weights of the
# epochs before the kill.
TOY_RUN = {
    "epochs": 5,
    "learning_rate": 0.3,
    "patience": 3,
    "jit_compile": False,
    "num_summary_samples": 0,
    "verbose": 0,
}
TRANSLATION_RUN = {
    "epochs": 2,
    "vocabulary_size": 200,
    # The corpus's sentences fit (2-4 words); one source width, so the
    # evaluation compiles one greedy and one beam decoder, not five each.
    "max_source_length": 8,
    "max_target_length": 8,
    "batch_size": 32,
    "model_arguments": {"units": 16, "embedding_dim": 8},
    "jit_compile": False,
    "num_summary_samples": 0,
    "verbose": 0,
}

# The subprocess: registers the toy task, defines `die()` and the
# `callbacks` of the run, then trains until a patch kills it.
PRELUDE = """
import json
import os
import signal
import sys

sys.path.insert(0, {reversal_package_root!r})

import keras

from zoo import tasks
from zoo.trainer import train

tasks.register_task("reversal", "zoo_test_reversal.task:ReversalTask")
callbacks = []


"""

KILLS = {
    # While learning the target vocabulary (the source one is saved).
    "vocabulary": """
        from zoo.text import WordPieceTokenizer

        learn = WordPieceTokenizer.from_texts.__func__
        calls = []

        def from_texts(cls, *args, **kwargs):
            calls.append(cls)
            if len(calls) == 2:
                die()
            return learn(cls, *args, **kwargs)

        WordPieceTokenizer.from_texts = classmethod(from_texts)
    """,
    # After the first epoch, its checkpoint written.
    "epoch": """
        class Kill(keras.callbacks.Callback):
            def on_epoch_end(self, epoch, logs=None):
                die()

        callbacks.append(Kill())
    """,
    # Halfway through writing the checkpoint of the last epoch.
    "checkpoint": """
        save_weights = keras.Model.save_weights
        saves = []

        def half_save_weights(self, filepath, *args, **kwargs):
            saves.append(filepath)
            if len(saves) == {epochs}:
                with open(filepath, "wb") as file:
                    file.write(b"\\x89HDF" + bytes(4000))
                die()
            return save_weights(self, filepath, *args, **kwargs)

        keras.Model.save_weights = half_save_weights
    """,
    # While saving the trained model: 4 KB of it written.
    "save": """
        def half_save(self, filepath, *args, **kwargs):
            with open(filepath, "wb") as file:
                file.write(b"PK\\x03\\x04" + bytes(4092))
            die()

        keras.Model.save = half_save
    """,
    # While evaluating the saved model.
    "evaluation": """
        from zoo.tasks import get_task

        def evaluate(self, model):
            die()

        get_task({task!r}).evaluate = evaluate
    """,
}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return write_corpus(tmp_path_factory.mktemp("data") / "pairs.txt")


def kill_at(stage, task, reversal_package_root, options):
    """Runs `train(task, **options)` in a subprocess killed at `stage`."""
    script = PRELUDE.format(reversal_package_root=str(reversal_package_root))
    script += textwrap.dedent(
        KILLS[stage].replace("{epochs}", str(options.get("epochs", 0)))
    ).replace("{task!r}", repr(task))
    script += (
        f"\ntrain({task!r}, callbacks=callbacks, "
        f"**json.loads({json.dumps(options, default=str)!r}))\n"
    )
    run_killed(script)


def weights(results):
    model = keras.saving.load_model(results["model_path"], compile=False)
    return model.get_weights()


def without_clocks(record):
    """A record without its timings and paths, which runs never share."""
    if isinstance(record, dict):
        return {
            key: without_clocks(value)
            for key, value in record.items()
            if "second" not in key
            and key not in ("epochs_resumed", "logdir", "model_path")
        }
    if isinstance(record, list):
        return [without_clocks(value) for value in record]
    return record


def assert_same_run(results, expected):
    """Same weights and scores as the uninterrupted run."""
    for got, want in zip(weights(results), weights(expected), strict=True):
        np.testing.assert_array_equal(got, want)
    assert without_clocks(results) == without_clocks(expected)


class ValidationLosses(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.losses = []
        self.began = False

    def on_train_begin(self, logs=None):
        self.began = True

    def on_epoch_end(self, epoch, logs=None):
        self.losses.append(logs["val_loss"])


@pytest.fixture(scope="module")
def toy_baseline(reversal_package_root, tmp_path_factory):
    losses = ValidationLosses()
    results = train(
        "reversal",
        logdir=tmp_path_factory.mktemp("toy") / "run",
        callbacks=[losses],
        **TOY_RUN,
    )
    # The case the early-stopping state matters for.
    assert int(np.argmin(losses.losses)) == 3, losses.losses
    return results


@pytest.fixture(scope="module")
def translation_baseline(corpus, tmp_path_factory):
    return train(
        "translation",
        data=corpus,
        logdir=tmp_path_factory.mktemp("translation") / "run",
        **TRANSLATION_RUN,
    )


def test_killed_writing_a_checkpoint_resumes_from_the_one_before(
    reversal_package_root, toy_baseline, tmp_path
):
    options = {"logdir": tmp_path / "run", **TOY_RUN}
    kill_at("checkpoint", "reversal", reversal_package_root, options)
    checkpoint = tmp_path / "run" / "checkpoint"
    state = json.loads((checkpoint / "state.json").read_text())
    # The half-written file of epoch 5 is not named; epoch 4 (the best
    # so far, kept for early stopping) is.
    assert state["epochs"] == 4 and state["weights"] == "epoch-4.weights.h5"
    assert state["early_stopping"]["best_weights"] == "epoch-4.weights.h5"
    assert not (tmp_path / "run" / "model.keras").exists()

    losses = ValidationLosses()
    results = train("reversal", callbacks=[losses], **options)
    assert len(losses.losses) == 1
    assert results["epochs"] == 5 and results["epochs_resumed"] == 4
    assert_same_run(results, toy_baseline)
    # A finished run drops its checkpoint.
    assert not checkpoint.exists()


def test_killed_saving_the_model_leaves_no_broken_model(
    reversal_package_root, toy_baseline, tmp_path
):
    logdir = tmp_path / "run"
    options = {"logdir": logdir, **TOY_RUN}
    kill_at("save", "reversal", reversal_package_root, options)
    # The 4 KB were written beside model.keras, not over it.
    assert not (logdir / "model.keras").exists()
    assert not (logdir / "evaluation.json").exists()
    assert json.loads((logdir / "run.json").read_text())["stage"] == (
        "training"
    )

    losses = ValidationLosses()
    results = train("reversal", callbacks=[losses], **options)
    # All five epochs were checkpointed: nothing left to train.
    assert losses.losses == []
    assert_same_run(results, toy_baseline)
    assert not (logdir / ".model.partial.keras").exists()


def test_killed_evaluating_resumes_at_the_evaluation(
    reversal_package_root, toy_baseline, tmp_path
):
    logdir = tmp_path / "run"
    options = {"logdir": logdir, **TOY_RUN}
    kill_at("evaluation", "reversal", reversal_package_root, options)
    assert json.loads((logdir / "run.json").read_text())["stage"] == (
        "evaluating"
    )
    saved = (logdir / "model.keras").stat().st_mtime_ns

    losses = ValidationLosses()
    results = train("reversal", callbacks=[losses], **options)
    assert not losses.began  # No training, not even a restart at epoch 1.
    assert (logdir / "model.keras").stat().st_mtime_ns == saved
    assert_same_run(results, toy_baseline)
    # The record of the training, kept while evaluating.
    assert results["epochs"] == 5
    assert results["train_pairs"] == toy_baseline["train_pairs"]
    assert json.loads((logdir / "evaluation.json").read_text()) == results


def test_a_finished_run_is_refused_unless_overwritten(
    reversal_package_root, toy_baseline, tmp_path, capsys
):
    logdir = tmp_path / "run"
    arguments = ["train", "reversal", "--logdir", str(logdir), "--epochs"]
    arguments += ["1", "--verbose", "0", "--no-jit", "--num-summary-samples"]
    arguments += ["0"]
    assert cli.main(arguments) == 0
    first = (logdir / "evaluation.json").read_text()
    stamp = (logdir / "model.keras").stat().st_mtime_ns
    capsys.readouterr()

    assert cli.main(arguments) == 2
    error = capsys.readouterr().err.strip()
    assert error == (
        f"keras-attention-zoo: error: {logdir} holds a finished run "
        "(model.keras, evaluation.json); use another --logdir, or "
        "--overwrite to replace it"
    )
    assert (logdir / "evaluation.json").read_text() == first
    assert (logdir / "model.keras").stat().st_mtime_ns == stamp

    assert cli.main([*arguments, "--overwrite", "--epochs", "2"]) == 0
    results = json.loads((logdir / "evaluation.json").read_text())
    assert results["epochs"] == 2 and results["epochs_resumed"] == 0


def test_files_without_a_run_record_are_refused(
    reversal_package_root, tmp_path
):
    # A checkpoint of a version before run records: whose, is unknown.
    logdir = tmp_path / "run"
    (logdir / "backup").mkdir(parents=True)
    (logdir / "backup" / "latest.weights.h5").write_bytes(b"old")
    with pytest.raises(RunConflictError, match="no run record"):
        train("reversal", logdir=logdir, **TOY_RUN)
    assert (logdir / "backup" / "latest.weights.h5").read_bytes() == b"old"


def test_killed_learning_a_vocabulary_reruns_to_the_same_model(
    reversal_package_root, corpus, translation_baseline, tmp_path
):
    logdir = tmp_path / "run"
    options = {"data": corpus, "logdir": logdir, **TRANSLATION_RUN}
    kill_at("vocabulary", "translation", reversal_package_root, options)
    # The source vocabulary was saved, the target one never half-written.
    assert [path.suffix for path in (logdir / "vocabulary").iterdir()] == [
        ".txt"
    ]
    results = train("translation", **options)
    assert_same_run(results, translation_baseline)


def test_a_killed_run_refuses_other_settings_then_resumes(
    reversal_package_root, corpus, translation_baseline, tmp_path, capsys
):
    logdir = tmp_path / "run"
    options = {"data": corpus, "logdir": logdir, **TRANSLATION_RUN}
    kill_at("epoch", "translation", reversal_package_root, options)
    vocabularies = sorted((logdir / "vocabulary").iterdir())

    # The case: another seed, then another architecture; neither
    # gets as far as the data.
    base = ["train", "translation", "--data", str(corpus), "--logdir"]
    base += [str(logdir), "--vocabulary-size", "200", "--verbose", "0"]
    base += ["--max-source-length", "8", "--max-target-length", "8"]
    base += ["--model-args", '{"units": 16, "embedding_dim": 8}']
    refusals = {
        "seed": (["--seed", "1"], "its seed is 0, this run's is 1"),
        "arch": (
            ["--arch", "bahdanau"],
            'its arch is "luong", this run\'s is "bahdanau"',
        ),
        "model": (
            ["--model-args", '{"units": 32, "embedding_dim": 8}'],
            "its model_arguments.units is 16, this run's is 32",
        ),
    }
    for flags, difference in refusals.values():
        assert cli.main(base + flags) == 2
        (error,) = capsys.readouterr().err.splitlines()
        assert error == (
            f"keras-attention-zoo: error: {logdir} holds another run: "
            f"{difference}; use another --logdir, or --overwrite to "
            "replace that run"
        )
    # Other data: refused before any vocabulary is learned from it.
    other = write_corpus(tmp_path / "other.txt", seed=1)
    with pytest.raises(RunConflictError, match="its data_fingerprint is"):
        train("translation", **{**options, "data": other})
    assert sorted((logdir / "vocabulary").iterdir()) == vocabularies

    # The refusals changed nothing: the same settings resume the run.
    losses = ValidationLosses()
    results = train("translation", callbacks=[losses], **options)
    assert len(losses.losses) == 1 and results["epochs_resumed"] == 1
    assert_same_run(results, translation_baseline)
