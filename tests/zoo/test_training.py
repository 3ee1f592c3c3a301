"""Training mechanics of `zoo.translation.training`: resume, budget, devices."""

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import sacrebleu

from tests.conftest import REPO_ROOT

pytest.importorskip("tensorflow")
pytest.importorskip("tensorflow_text")

from zoo.translation.training import bleu_by_source_length  # noqa: E402
from zoo.translation.training import train_translation  # noqa: E402

TINY_RUN = {
    "max_examples": 128,
    "vocabulary_size": 200,
    "batch_size": 32,
    "model_arguments": {"units": 16, "embedding_dim": 8},
    "verbose": 0,
}


def run_python(script, timeout=600):
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_bleu_by_source_length_matches_sacrebleu_on_each_bucket():
    sources = ["a b", "a b c d e f", "a " * 30, "c d e"]
    hypotheses = ["the cat sat", "a dog ran far away", "x y", "it is here"]
    references = ["the cat sat", "a dog ran away", "x y z", "it was here"]
    buckets = bleu_by_source_length(
        sources, hypotheses, references, boundaries=(5, 10)
    )
    assert [b["lengths"] for b in buckets] == ["1-5", "6-10", "11+"]
    assert [b["sentences"] for b in buckets] == [2, 1, 1]
    members = [[0, 3], [1], [2]]
    for bucket, indices in zip(buckets, members, strict=True):
        expected = sacrebleu.corpus_bleu(
            [hypotheses[i] for i in indices],
            [[references[i] for i in indices]],
        ).score
        assert bucket["bleu"] == pytest.approx(expected)


def test_time_budget_stops_after_the_first_batch(tmp_path):
    results = train_translation(
        logdir=tmp_path / "run",
        epochs=5,
        max_minutes=1e-6,
        **TINY_RUN,
    )
    assert results["epochs"] == 1
    assert results["train_pairs"] == TINY_RUN["batch_size"]
    for name in ("greedy", "beam4"):
        assert results[name]["sentences_per_second"] > 0
        buckets = results[name]["bleu_by_source_length"]
        assert sum(b["sentences"] for b in buckets) == 1000
    import keras

    import zoo.translation  # noqa: F401

    # Loss, metric and schedule are registered: loading recompiles.
    loaded = keras.saving.load_model(results["model_path"])
    assert loaded.loss.name == "masked_sparse_crossentropy"
    assert isinstance(loaded.optimizer, keras.optimizers.Adam)
    saved = json.loads((tmp_path / "run" / "evaluation.json").read_text())
    assert (
        saved["greedy"]["bleu_by_source_length"]
        == (results["greedy"]["bleu_by_source_length"])
    )


def test_vocabularies_are_reused_for_the_same_texts(tmp_path):
    vocabulary_dir = tmp_path / "vocabulary"
    common = {**TINY_RUN, "epochs": 1, "max_minutes": 1e-6}
    train_translation(
        logdir=tmp_path / "a", vocabulary_dir=vocabulary_dir, **common
    )
    files = sorted(vocabulary_dir.iterdir())
    assert len(files) == 2
    stamps = [path.stat().st_mtime_ns for path in files]
    train_translation(
        "bahdanau",
        logdir=tmp_path / "b",
        vocabulary_dir=vocabulary_dir,
        **common,
    )
    assert sorted(vocabulary_dir.iterdir()) == files
    assert [path.stat().st_mtime_ns for path in files] == stamps
    train_translation(
        logdir=tmp_path / "c",
        vocabulary_dir=vocabulary_dir,
        **{**common, "vocabulary_size": 150},
    )
    assert len(list(vocabulary_dir.iterdir())) == 4


KILLED_RUN = """
    import os
    import signal

    import keras
    import numpy as np

    from zoo.translation.training import train_translation

    class KillAfterFirstEpoch(keras.callbacks.Callback):
        # Runs after BackupAndRestore has written the epoch's checkpoint.
        def on_epoch_end(self, epoch, logs=None):
            np.savez(
                "{weights}", *[w.numpy() for w in self.model.weights]
            )
            os.kill(os.getpid(), signal.SIGKILL)

    train_translation(
        logdir="{logdir}", epochs=3, callbacks=[KillAfterFirstEpoch()],
        **{run}
    )
"""


def test_a_killed_run_resumes_from_its_last_epoch(tmp_path):
    logdir = tmp_path / "run"
    weights_path = tmp_path / "weights_at_kill.npz"
    killed = run_python(
        KILLED_RUN.format(
            weights=weights_path, logdir=logdir, run=repr(TINY_RUN)
        )
    )
    assert killed.returncode == -9, killed.stderr[-3000:]
    assert not (logdir / "model.keras").exists()

    import keras

    class Recorder(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.epochs = []

        def on_train_begin(self, logs=None):
            # BackupAndRestore, earlier in the list, has restored by now.
            self.weights = [w.numpy() for w in self.model.weights]

        def on_epoch_begin(self, epoch, logs=None):
            self.epochs.append(epoch)

    recorder = Recorder()
    results = train_translation(
        logdir=logdir, epochs=3, callbacks=[recorder], **TINY_RUN
    )
    assert recorder.epochs == [1, 2]
    saved = np.load(weights_path)
    expected = [saved[f"arr_{i}"] for i in range(len(saved.files))]
    assert len(expected) == len(recorder.weights)
    for restored, at_kill in zip(recorder.weights, expected, strict=True):
        np.testing.assert_array_equal(restored, at_kill)
    assert (logdir / "model.keras").is_file()
    assert results["epochs"] == 2


MIRRORED_RUN = """
    import json

    import keras
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * 2
    )

    from zoo.translation.training import train_translation

    class Replicas(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            strategy = self.model.distribute_strategy
            self.replicas = strategy.num_replicas_in_sync
            self.kind = type(strategy).__name__

        def on_epoch_end(self, epoch, logs=None):
            self.losses = getattr(self, "losses", []) + [logs["loss"]]

    replicas = Replicas()
    results = train_translation(
        logdir="{logdir}", epochs=2, distribute="mirrored",
        callbacks=[replicas], **{run}
    )
    print(json.dumps({{
        "replicas": replicas.replicas,
        "kind": replicas.kind,
        "losses": replicas.losses,
        "exact_match": results["greedy"]["exact_match"],
    }}))
"""


def test_mirrored_training_on_two_logical_cpus(tmp_path):
    run = {**TINY_RUN, "max_examples": 512}
    result = run_python(
        MIRRORED_RUN.format(logdir=tmp_path / "run", run=repr(run))
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["kind"] == "MirroredStrategy"
    assert report["replicas"] == 2
    assert report["losses"][1] < report["losses"][0]
    assert (tmp_path / "run" / "model.keras").is_file()
