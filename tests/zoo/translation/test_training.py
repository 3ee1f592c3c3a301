"""Translation training: optimizers, budget, resume, devices, records.

The trainer itself (options, tasks, `TimeBudget`) is tested with a toy
task in `test_trainer.py`.
"""

import json

import keras
import numpy as np
import pytest
import sacrebleu

from tests.conftest import run_killed
from tests.conftest import run_python

pytest.importorskip("tensorflow")
pytest.importorskip("tensorflow_text")

from keras_attention.callbacks import AttentionSummary  # noqa: E402
from zoo import trainer  # noqa: E402
from zoo.data import load_translation_data  # noqa: E402
from zoo.translation import training  # noqa: E402
from zoo.translation.training import _learn_or_reuse_tokenizers  # noqa: E402
from zoo.translation.training import _optimizer  # noqa: E402
from zoo.translation.training import bleu_by_source_length  # noqa: E402
from zoo.translation.training import train_translation  # noqa: E402

TINY_RUN = {
    "max_examples": 128,
    "vocabulary_size": 200,
    # Two source widths (8, 16) for the compiled decoders, not three.
    "max_source_length": 16,
    # The first 64 of the 1,000 test dates: quick, and decoded by a graph
    # rather than an XLA program (`zoo.compiled.XLA_MIN_ROWS`).
    "max_eval_pairs": 64,
    "batch_size": 32,
    "model_arguments": {"units": 16, "embedding_dim": 8},
    "verbose": 0,
}


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


def test_score_translations_is_text_scores():
    # One scorer: lowercased, sacreBLEU 13a tokens ("Wait!" == "wait !").
    hypotheses = ["Wait!", "Ça suffit\u202f!", "I am tired."]
    references = ["wait !", "ça suffit\u202f!", "I'm tired."]
    scores = training.score_translations(hypotheses, references)
    assert scores["exact_match"] == pytest.approx(2 / 3)
    assert scores["bleu"] == pytest.approx(
        sacrebleu.corpus_bleu(
            hypotheses, [references], lowercase=True, tokenize="13a"
        ).score
    )
    assert training.score_translations(
        ["WAIT FOR ME, PLEASE!"], ["wait for me , please !"]
    ) == {"exact_match": 1.0, "bleu": pytest.approx(100.0)}


def test_length_spread_is_short_to_long_and_seeded():
    valid = [s for s, _ in load_translation_data(max_examples=64)["valid"]]
    picked = training.length_spread(valid, 3, seed=0)
    lengths = [len(valid[index]) for index in picked]
    assert lengths == sorted(lengths) and len(set(lengths)) == 3
    # Not the extremes: about the 1/6, 1/2 and 5/6 quantiles.
    ordered = sorted(len(text) for text in valid)
    assert ordered[0] < lengths[0] and lengths[-1] < ordered[-1]
    assert training.length_spread(valid, 3, seed=0) == picked
    # Ties (many dates share a length) are broken by the seed.
    others = [training.length_spread(valid, 3, seed=seed) for seed in (1, 2)]
    assert any(other != picked for other in others)
    for other in others:
        assert [len(valid[index]) for index in other] == lengths
    texts = ["ccc", "a", "bb"]
    assert training.length_spread(texts, 5) == [1, 2, 0]
    assert training.length_spread(texts, 0) == []
    with pytest.raises(ValueError, match="Received: num_samples=-1"):
        training.length_spread(texts, -1)


@pytest.mark.parametrize(
    "num_pairs, warmup_steps",
    # Two epochs of 64-pair batches, clipped to [400, 4000]: Tatoeba's
    # 114,942 pairs are 1,796 batches an epoch.
    [(1_000, 400), (114_942, 3_592), (1_000_000, 4_000)],
)
def test_transformer_optimizer_follows_the_paper(num_pairs, warmup_steps):
    optimizer = _optimizer(
        "transformer", {"model_dim": 256}, None, num_pairs, 64
    )

    assert optimizer.beta_2 == 0.98
    assert optimizer.epsilon == 1e-9
    schedule = keras.optimizers.schedules.deserialize(
        optimizer.get_config()["learning_rate"]
    )
    assert schedule.get_config() == {
        "model_dim": 256,
        "warmup_steps": warmup_steps,
    }
    # Eq. 3 of Vaswani et al. with 1-based steps: rising linearly to the
    # peak 256^-0.5 * warmup^-0.5 at step `warmup`, then as step^-0.5.
    peak = 256**-0.5 * warmup_steps**-0.5
    np.testing.assert_allclose(
        float(schedule(warmup_steps - 1)), peak, rtol=1e-5
    )
    np.testing.assert_allclose(
        float(schedule(warmup_steps // 2 - 1)), peak / 2, rtol=1e-5
    )
    np.testing.assert_allclose(
        float(schedule(4 * warmup_steps - 1)), peak / 2, rtol=1e-5
    )


def test_transformer_under_a_time_budget_gets_a_constant_rate():
    optimizer = _optimizer(
        "transformer", {"model_dim": 256}, None, 114_942, 64, time_budget=True
    )

    assert (optimizer.beta_2, optimizer.epsilon) == (0.98, 1e-9)
    np.testing.assert_allclose(float(optimizer.learning_rate), 5e-4)


def test_given_learning_rate_overrides_every_architecture():
    for arch in ("bahdanau", "luong", "transformer"):
        optimizer = _optimizer(arch, {"model_dim": 64}, 1e-4, 1_000, 64)
        np.testing.assert_allclose(float(optimizer.learning_rate), 1e-4)


class RecordedSummary(AttentionSummary):
    instances = []

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.instances.append(self)


def test_time_budget_stops_after_the_first_batch(tmp_path, monkeypatch):
    monkeypatch.setattr(trainer, "AttentionSummary", RecordedSummary)
    RecordedSummary.instances.clear()
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
        assert sum(b["sentences"] for b in buckets) == 64
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
    # Attention correctness of the dates, overall and per field: None when
    # no translation is ISO-shaped yet (after one batch), else a share.
    for name in ("greedy", "beam4"):
        scores = results[name]["attention_correctness"]
        assert list(scores) == ["all", "year", "month", "day"]
        assert all(v is None or 0.0 <= v <= 1.0 for v in scores.values())
        assert saved[name]["attention_correctness"] == scores
        # A single attention map (Luong): no per-head scores.
        assert "attention_correctness_best_head" not in results[name]
    splits = load_translation_data(max_examples=TINY_RUN["max_examples"])
    assert len(splits["test"]) == 1000
    sources = [source for source, _ in splits["test"][:64]]
    samples = results["samples"]
    assert [sample["source"] for sample in samples] == [
        sources[index] for index in training.length_spread(sources, 5, 0)
    ]
    assert len({len(sample["source"]) for sample in samples}) == 5
    # The TensorBoard samples: a spread of validation sources, with the
    # reference alignment of the dates over output x source tokens.
    (summary,) = RecordedSummary.instances
    valid = [source for source, _ in splits["valid"]]
    assert summary.samples == [
        valid[index] for index in training.length_spread(valid, 3, 0)
    ]
    assert len({len(source) for source in summary.samples}) == 3
    for sample in summary.decode_fn(summary.samples):
        assert sample["alignment"].shape == sample["attention"].shape
        assert sample["alignment"].shape == (
            len(sample["output_tokens"]),
            len(sample["source_tokens"]),
        )


@pytest.mark.usefixtures("eager_functions")
def test_vocabularies_are_reused_for_the_same_texts(tmp_path):
    vocabulary_dir = tmp_path / "vocabulary"
    pairs = load_translation_data(max_examples=128)["train"]

    def learn(texts, vocabulary_size=200):
        return _learn_or_reuse_tokenizers(
            texts, vocabulary_dir, vocabulary_size, 24, verbose=0
        )

    source, target = learn(pairs)
    files = sorted(vocabulary_dir.iterdir())
    assert len(files) == 2
    stamps = [path.stat().st_mtime_ns for path in files]
    # Same texts and size (another architecture, a resumed run): the files
    # are read, not learned and written again.
    source_again, target_again = learn(pairs)
    assert sorted(vocabulary_dir.iterdir()) == files
    assert [path.stat().st_mtime_ns for path in files] == stamps
    assert source_again.get_vocabulary() == source.get_vocabulary()
    assert target_again.get_vocabulary() == target.get_vocabulary()
    # Another size or other texts: learned anew, beside the others.
    learn(pairs, vocabulary_size=150)
    assert len(list(vocabulary_dir.iterdir())) == 4
    learn(pairs[:64])
    assert len(list(vocabulary_dir.iterdir())) == 6


KILLED_RUN = """
    import os
    import signal

    import keras
    import numpy as np

    from zoo.translation.training import train_translation

    class KillAfterFirstEpoch(keras.callbacks.Callback):
        # Runs after RunCheckpoint has written the epoch's checkpoint.
        def on_epoch_end(self, epoch, logs=None):
            np.savez(
                "{weights}", *[w.numpy() for w in self.model.weights]
            )
            die()

    train_translation(
        logdir="{logdir}", epochs=3, callbacks=[KillAfterFirstEpoch()],
        **{run}
    )
"""


# What a resume restores is checked here, not the XLA train step nor the
# attention samples (the time-budget test has both): neither is made.
RESUMED_RUN = {**TINY_RUN, "jit_compile": False, "num_summary_samples": 0}


def test_a_killed_run_resumes_from_its_last_epoch(tmp_path):
    logdir = tmp_path / "run"
    weights_path = tmp_path / "weights_at_kill.npz"
    run_killed(
        KILLED_RUN.format(
            weights=weights_path, logdir=logdir, run=repr(RESUMED_RUN)
        )
    )
    assert not (logdir / "model.keras").exists()
    vocabularies = sorted((logdir / "vocabulary").iterdir())
    stamps = [path.stat().st_mtime_ns for path in vocabularies]
    assert len(vocabularies) == 2

    import keras

    class Recorder(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.epochs = []

        def on_train_begin(self, logs=None):
            # RunCheckpoint, earlier in the list, has restored by now.
            self.weights = [w.numpy() for w in self.model.weights]

        def on_epoch_begin(self, epoch, logs=None):
            self.epochs.append(epoch)

    recorder = Recorder()
    results = train_translation(
        logdir=logdir, epochs=3, callbacks=[recorder], **RESUMED_RUN
    )
    assert recorder.epochs == [1, 2]
    saved = np.load(weights_path)
    expected = [saved[f"arr_{i}"] for i in range(len(saved.files))]
    assert len(expected) == len(recorder.weights)
    for restored, at_kill in zip(recorder.weights, expected, strict=True):
        np.testing.assert_array_equal(restored, at_kill)
    assert (logdir / "model.keras").is_file()
    # The record counts the epoch trained before the kill too.
    assert results["epochs"] == 3 and results["epochs_resumed"] == 1
    # The resumed run read the killed run's vocabularies, not new ones.
    assert sorted((logdir / "vocabulary").iterdir()) == vocabularies
    assert [path.stat().st_mtime_ns for path in vocabularies] == stamps


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
