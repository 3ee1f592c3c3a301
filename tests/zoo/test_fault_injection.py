"""Fault injection per task: killed after an epoch, resumed, same model.

For each task a tiny run is trained uninterrupted, and the same run is
killed with `SIGKILL` in a subprocess right after its first epoch (its
checkpoint written) and rerun here: the resumed run must end with
exactly the weights of the uninterrupted one. Exactly, not nearly: both
runs execute the same float32 operations on the same CPU in the same
order, so any difference is state that the checkpoint lost (the
captioner's dropout and hard attention's sampling drew their first
epoch's random numbers again, and its reward baseline restarted from
zero, before `RunCheckpoint` kept the model's random state and the
trainer built the loss's state before restoring).

The captioner trains with hard attention and dropout on precomputed
features; the summarizer with pointer, coverage and a fixed split on a
table. Translation's kill after an epoch, and the toy task's kills
(with early stopping's state), are in `test_run_safety.py`. To keep
the file cheap (about 35 s of CPU in all, half of it starting the
subprocesses), the steps run eagerly instead of being traced
(`run_eagerly`: the same operations on the same state, which is what a
resume must restore; traced, it took twice as long and passed as well),
and the evaluation, which a resume does not change, is skipped.
"""

import json

import keras
import numpy as np
import pytest

from tests.conftest import run_killed

pytest.importorskip("tensorflow")
pytest.importorskip("tensorflow_text")

from zoo.tasks import get_task  # noqa: E402
from zoo.trainer import train  # noqa: E402

TINY = {
    "epochs": 2,
    "units": 8,
    "embedding_dim": 8,
    "attention_units": 8,
    "batch_size": 4,
    "jit_compile": False,
    "num_summary_samples": 0,
    "verbose": 0,
}

# The subprocess: trains until the end of its first epoch, then dies.
KILLED_AFTER_THE_FIRST_EPOCH = """
import json

import keras

from zoo.trainer import train

compile_model = keras.Model.compile
keras.Model.compile = lambda model, **kwargs: compile_model(
    model, run_eagerly=True, **kwargs
)

class Kill(keras.callbacks.Callback):
    # After `RunCheckpoint`, earlier in the list, has written epoch 1.
    def on_epoch_end(self, epoch, logs=None):
        die()


train({task!r}, callbacks=[Kill()], **json.loads({options!r}))
"""


def captioning_run(root):
    """Hard attention with dropout, on 8 features of 2x2x4."""
    folder = root / "flickr"
    folder.mkdir()
    names = [f"{index}.jpg" for index in range(8)]
    colours = ["red", "blue", "green", "white"]
    lines = [
        f"{name}#{number}\ta {colours[index % 4]} thing number {number}"
        for index, name in enumerate(names)
        for number in range(2)
    ]
    (folder / "Flickr8k.token.txt").write_text("\n".join(lines) + "\n")
    (folder / "Flickr_8k.trainImages.txt").write_text("\n".join(names[:6]))
    (folder / "Flickr_8k.devImages.txt").write_text(names[6])
    (folder / "Flickr_8k.testImages.txt").write_text(names[7])
    features = np.random.default_rng(0).normal(size=(8, 2, 2, 4))
    np.savez(
        root / "features.npz",
        features=features.astype("float32"),
        image=np.array(names),
    )
    return {
        "data": str(folder),
        "features": str(root / "features.npz"),
        "attention": "hard",
        "dropout": 0.5,
        "min_word_count": 1,
    }


def summarization_run(root):
    """A pointer-generator with coverage on 16 short documents."""
    words = "alpha beta gamma delta epsilon zeta eta theta iota kappa".split()
    rng = np.random.default_rng(0)
    for split, count in (("train", 12), ("valid", 2), ("test", 2)):
        rows = []
        for _ in range(count):
            text = " ".join(rng.choice(words, 8))
            rows.append(json.dumps({"text": text, "summary": text[:12]}))
        (root / f"{split}.jsonl").write_text("\n".join(rows) + "\n")
    return {
        "data": str(root),
        "coverage": True,
        "max_source_length": 12,
        "max_summary_length": 6,
    }


RUNS = {"captioning": captioning_run, "summarization": summarization_run}


class TrainedEpochs(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.epochs = []

    def on_epoch_begin(self, epoch, logs=None):
        self.epochs.append(epoch)


def weights(logdir):
    model = keras.saving.load_model(logdir / "model.keras", compile=False)
    return model.get_weights()


@pytest.mark.parametrize("task", sorted(RUNS))
def test_a_run_killed_after_an_epoch_resumes_to_the_same_weights(
    task, tmp_path, monkeypatch
):
    data = tmp_path / "data"
    data.mkdir()
    options = {**TINY, **RUNS[task](data)}
    monkeypatch.setattr(get_task(task), "evaluate", lambda self, model: {})
    compile_model = keras.Model.compile

    def compile_eagerly(model, **kwargs):
        compile_model(model, run_eagerly=True, **kwargs)

    monkeypatch.setattr(keras.Model, "compile", compile_eagerly)
    train(task, logdir=tmp_path / "uninterrupted", **options)

    logdir = tmp_path / "killed"
    script = KILLED_AFTER_THE_FIRST_EPOCH.format(
        task=task, options=json.dumps({**options, "logdir": str(logdir)})
    )
    run_killed(script)
    state = json.loads((logdir / "checkpoint" / "state.json").read_text())
    assert state["epochs"] == 1
    # The killed run's lock file, which the rerun takes over.
    assert (logdir / "run.lock").is_file()
    trained = TrainedEpochs()
    results = train(task, logdir=logdir, callbacks=[trained], **options)
    assert trained.epochs == [1] and results["epochs_resumed"] == 1
    assert not (logdir / "run.lock").exists()

    expected = weights(tmp_path / "uninterrupted")
    for got, want in zip(weights(logdir), expected, strict=True):
        np.testing.assert_array_equal(got, want)
