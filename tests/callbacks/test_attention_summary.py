import dataclasses
import io
import math

import keras
import numpy as np
import pytest

pytest.importorskip(
    "tensorflow", reason="AttentionSummary writes with tf.summary"
)
pytest.importorskip("tensorboard", reason="events are read back with it")
sacrebleu = pytest.importorskip("sacrebleu", reason="BLEU oracle")

from PIL import Image  # noqa: E402
from tensorboard.backend.event_processing import event_accumulator  # noqa: E402
from tensorboard.util import tensor_util  # noqa: E402

from keras_attention.callbacks import AttentionSummary  # noqa: E402
from keras_attention.visualization import attention_to_image  # noqa: E402


def _read_run(run_dir):
    """Returns `{tag: (plugin_name, [(step, ndarray), ...])}` of a run."""
    accumulator = event_accumulator.EventAccumulator(
        str(run_dir), size_guidance={event_accumulator.TENSORS: 0}
    )
    accumulator.Reload()
    events = {}
    for tag in accumulator.Tags()["tensors"]:
        plugin = accumulator.SummaryMetadata(tag).plugin_data.plugin_name
        values = [
            (event.step, tensor_util.make_ndarray(event.tensor_proto))
            for event in accumulator.Tensors(tag)
        ]
        events[tag] = (plugin, values)
    return events


def _decode_png(stored):
    width, height, png = stored
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    image = Image.open(io.BytesIO(png))
    assert image.size == (int(width), int(height))
    return np.asarray(image.convert("RGB"))


def _text(events, tag="attention/text"):
    plugin, values = events[tag]
    assert plugin == "text"
    return values[-1][1].item().decode("utf-8")


def _scalar(events, tag):
    plugin, values = events[tag]
    assert plugin == "scalars"
    return float(values[-1][1])


# Sample 0: uniform attention over its 4 source tokens, stored in a padded
# [3, 6] array whose padding is deliberately not zero (it must be cropped).
UNIFORM_PADDED = np.full((3, 6), 0.5, dtype="float32")
UNIFORM_PADDED[:2, :4] = 0.25
# Sample 1: two heads, one decoding step, each head one-hot.
ONE_HOT_HEADS = np.array([[[1.0, 0.0, 0.0]], [[0.0, 1.0, 0.0]]], "float32")
SOURCES = [["a", "b", "c", "d"], ["p", "q", "r"]]
OUTPUTS = [["w", "x"], ["z"]]
REFERENCES = ["w x ", "y"]


def _fixed_decode_fn(samples):
    assert samples == "samples"
    return [
        {
            "source_tokens": SOURCES[0],
            "output_tokens": OUTPUTS[0],
            "attention": UNIFORM_PADDED,
        },
        {
            "source_tokens": SOURCES[1],
            "output_tokens": OUTPUTS[1],
            "attention": ONE_HOT_HEADS,
            "hypothesis": " z",
        },
    ]


def test_writes_images_text_and_scalars_per_epoch(tmp_path):
    callback = AttentionSummary(
        _fixed_decode_fn,
        "samples",
        tmp_path,
        references=REFERENCES,
        write_on_train_begin=True,
    )
    callback.on_train_begin()
    callback.on_epoch_end(0)
    callback.on_epoch_end(1)
    callback.on_train_end()

    events = _read_run(tmp_path / "attention")
    image_tags = {
        tag for tag, (plugin, _) in events.items() if plugin == "images"
    }
    assert image_tags == {
        "attention/sample_0",
        "attention/sample_1/head_0",
        "attention/sample_1/head_1",
    }
    for _, values in events.values():
        assert [step for step, _ in values] == [0, 1, 2]

    # Each image is the heatmap of its own sample / head.
    expected_images = {
        "attention/sample_0": attention_to_image(
            np.full((2, 4), 0.25), SOURCES[0], OUTPUTS[0], title="sample 0"
        ),
        "attention/sample_1/head_1": attention_to_image(
            ONE_HOT_HEADS[1], SOURCES[1], OUTPUTS[1], title="sample 1, head 1"
        ),
    }
    for tag, expected in expected_images.items():
        stored = events[tag][1][-1][1]
        np.testing.assert_array_equal(_decode_png(stored), expected)
    head_0 = _decode_png(events["attention/sample_1/head_0"][1][-1][1])
    head_1 = _decode_png(events["attention/sample_1/head_1"][1][-1][1])
    assert not np.array_equal(head_0, head_1)

    text = _text(events)
    assert "| # | Source | Reference | Hypothesis |" in text
    assert "| 0 | a b c d | w x | w x |" in text
    assert "| 1 | p q r | y | z |" in text

    # "w x" matches "w x " after stripping, " z" does not match "y".
    assert _scalar(events, "attention/exact_match") == pytest.approx(0.5)
    # Rows: two uniform rows over 4 positions (ln 4 each) and two one-hot
    # head rows (0 each).
    assert _scalar(events, "attention/entropy") == pytest.approx(
        2 * math.log(4) / 4, rel=1e-6
    )
    assert callback._writer is None


def test_long_sources_keep_their_most_attended_columns(tmp_path):
    callback = AttentionSummary(
        _fixed_decode_fn, "samples", tmp_path, max_source_tokens=2
    )
    callback.on_epoch_end(0)
    callback.on_train_end()

    events = _read_run(tmp_path / "attention")
    stored = events["attention/sample_1/head_0"][1][-1][1]
    expected = attention_to_image(
        ONE_HOT_HEADS[0],
        SOURCES[1],
        OUTPUTS[1],
        title="sample 1, head 0",
        max_source_tokens=2,
    )
    np.testing.assert_array_equal(_decode_png(stored), expected)
    whole = attention_to_image(
        ONE_HOT_HEADS[0], SOURCES[1], OUTPUTS[1], title="sample 1, head 0"
    )
    assert expected.shape != whole.shape or not np.array_equal(expected, whole)


def test_bleu_matches_sacrebleu(tmp_path):
    hypotheses = ["the cat sat on the mat", "a dog runs in the park today"]
    references = ["the cat sat on a mat", "a dog runs in the park today"]

    def decode_fn(samples):
        return [
            {
                "source_tokens": ["s1", "s2"],
                "output_tokens": hypothesis.split(),
                "attention": np.full((7, 2), 0.5),
            }
            for hypothesis in hypotheses
        ]

    callback = AttentionSummary(
        decode_fn,
        None,
        tmp_path,
        references=references,
        metric=["bleu", "exact_match"],
        max_images=0,
    )
    scalars = callback.write_summaries(step=7)
    callback.close()

    expected = sacrebleu.corpus_bleu(
        hypotheses, [references], lowercase=True
    ).score
    assert 0 < expected < 100
    events = _read_run(tmp_path / "attention")
    assert _scalar(events, "attention/bleu") == pytest.approx(expected)
    assert _scalar(events, "attention/exact_match") == pytest.approx(0.5)
    assert scalars["attention/bleu"] == pytest.approx(expected)
    assert _scalar(events, "attention/entropy") == pytest.approx(math.log(2))
    assert events["attention/bleu"][1][0][0] == 7
    assert not [p for p, _ in events.values() if p == "images"]


def test_callable_metric_and_no_references(tmp_path):
    def length_ratio(hypotheses, references):
        return len(" ".join(hypotheses)) / len(" ".join(references))

    with_refs = AttentionSummary(
        _fixed_decode_fn,
        "samples",
        tmp_path / "with",
        references=["ab", "cd"],
        metric=length_ratio,
        max_images=0,
    )
    with_refs.write_summaries(step=1)
    with_refs.close()
    # Hypotheses are passed as given: "w x" + " " + " z" is 6 characters,
    # "ab cd" is 5.
    events = _read_run(tmp_path / "with" / "attention")
    assert _scalar(events, "attention/length_ratio") == pytest.approx(6 / 5)

    no_refs = AttentionSummary(
        _fixed_decode_fn, "samples", tmp_path / "without", max_images=0
    )
    no_refs.write_summaries(step=1)
    no_refs.close()
    events = _read_run(tmp_path / "without" / "attention")
    assert set(events) == {"attention/text", "attention/entropy"}
    text = _text(events)
    assert "| # | Source | Hypothesis |" in text
    assert "Reference" not in text


def test_named_layers_get_their_own_images_and_entropy(tmp_path):
    def decode_fn(samples):
        return [
            {
                "source_tokens": ["a", "b", "c", "d"],
                "output_tokens": ["x", "y"],
                "attention": {
                    "cross": np.full((2, 4), 0.25),
                    "self": np.eye(2),
                },
                "key_tokens": {"self": ["x", "y"]},
            }
        ]

    callback = AttentionSummary(decode_fn, None, tmp_path, name="attn")
    callback.write_summaries(step=3)
    callback.close()

    events = _read_run(tmp_path / "attn")
    image_tags = {
        tag for tag, (plugin, _) in events.items() if plugin == "images"
    }
    assert image_tags == {"attn/cross/sample_0", "attn/self/sample_0"}
    # The self-attention heatmap is labelled with its own key tokens.
    np.testing.assert_array_equal(
        _decode_png(events["attn/self/sample_0"][1][0][1]),
        attention_to_image(
            np.eye(2), ["x", "y"], ["x", "y"], title="sample 0, self"
        ),
    )
    assert _scalar(events, "attn/entropy/cross") == pytest.approx(math.log(4))
    assert _scalar(events, "attn/entropy/self") == pytest.approx(0.0)
    assert "attn/entropy" not in events


def test_batched_dict_output_is_split_per_sample(tmp_path):
    # Padded batch: sample 0 uses 2x3 of the [2, 3, 5] array, sample 1 1x2.
    attention = np.zeros((2, 3, 5), "float32")
    attention[0, :2, :3] = 1.0 / 3.0
    attention[1, :1, :2] = [0.5, 0.5]

    def decode_fn(samples):
        return {
            "source_tokens": [["a", "b", "c"], [b"d", b"e"]],
            "output_tokens": [["x", "y"], ["z"]],
            "attention": attention,
            "hypothesis": ["x y", "z"],
        }

    callback = AttentionSummary(
        decode_fn, None, tmp_path, references=["x y", "q"]
    )
    callback.write_summaries(step=1)
    callback.close()

    events = _read_run(tmp_path / "attention")
    assert {"attention/sample_0", "attention/sample_1"} <= set(events)
    assert _decode_png(events["attention/sample_1"][1][0][1]).shape[-1] == 3
    assert _scalar(events, "attention/exact_match") == pytest.approx(0.5)
    expected_entropy = (2 * math.log(3) + math.log(2)) / 3
    assert _scalar(events, "attention/entropy") == pytest.approx(
        expected_entropy, rel=1e-6
    )
    assert "| 1 | d e | q | z |" in _text(events)


def test_every_n_epochs_and_max_images(tmp_path):
    callback = AttentionSummary(
        _fixed_decode_fn,
        "samples",
        tmp_path,
        references=REFERENCES,
        every_n_epochs=2,
        max_images=1,
    )
    callback.on_train_begin()
    for epoch in range(4):
        callback.on_epoch_end(epoch)
    callback.on_train_end()

    events = _read_run(tmp_path / "attention")
    image_tags = {
        tag for tag, (plugin, _) in events.items() if plugin == "images"
    }
    assert image_tags == {"attention/sample_0"}
    assert [step for step, _ in events["attention/text"][1]] == [2, 4]
    # The text covers all samples even when images are capped.
    assert "| 1 | p q r | y | z |" in _text(events)


def test_text_table_escapes_markdown(tmp_path):
    def decode_fn(samples):
        return [
            {
                "source_tokens": ["<unk>", "a_b"],
                "output_tokens": ["x"],
                "attention": np.array([[0.5, 0.5]]),
                "hypothesis": "a|b *c*",
            }
        ]

    callback = AttentionSummary(decode_fn, None, tmp_path, max_images=0)
    callback.write_summaries(step=1)
    callback.close()

    text = _text(_read_run(tmp_path / "attention"))
    assert "| 0 | \\<unk\\> a\\_b | a\\|b \\*c\\* |" in text


def test_text_metrics_are_text_scores_and_table_shows_plain_text(tmp_path):
    import tensorflow as tf

    from keras_attention.metrics import text_scores

    hypotheses = ["Ça suffit\u202f!", "Wait!", "I am tired"]
    references = ["ça suffit !", "wait!", "I'm tired."]

    def decode_fn(samples):
        # A padded batch as a decoder returns it, text as a string tensor.
        return {
            "source_tokens": [["a"], ["b"], ["c"]],
            "output_tokens": [["x"], ["y"], ["z"]],
            "attention": np.ones((3, 1, 1)),
            "hypothesis": tf.constant(hypotheses),
        }

    callback = AttentionSummary(
        decode_fn,
        None,
        tmp_path,
        references=np.array([r.encode() for r in references]),
        metric=["exact_match", "bleu"],
        max_images=0,
    )
    scalars = callback.write_summaries(step=1)
    callback.close()

    expected = text_scores(hypotheses, references)
    assert expected["exact_match"] == pytest.approx(2 / 3)
    assert scalars["attention/exact_match"] == expected["exact_match"]
    assert scalars["attention/bleu"] == pytest.approx(expected["bleu"])
    text = _text(_read_run(tmp_path / "attention"))
    assert "| 0 | a | ça suffit ! | Ça suffit\u202f! |" in text
    assert "| 2 | c | I'm tired. | I am tired |" in text
    assert "\\u202f" not in text and "b'" not in text
    assert "tf.Tensor" not in text


# Cross-attention of two samples with reference alignments. Sample 0:
# steps aligned with {a} and {b, c} get 0.7 and 0.3 + 0.6.
CROSS_0 = np.array([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6]], "float32")
ALIGNMENT_0 = np.array([[1, 0, 0], [0, 1, 1]])
# Sample 1: one step over two source tokens, stored padded; the step is
# aligned with {q} (given to the constructor): 0.5.
CROSS_1 = np.full((3, 4), 9.0, "float32")
CROSS_1[0, :2] = 0.5


def _aligned_decode_fn(samples):
    return [
        {
            "source_tokens": ["a", "b", "c"],
            "output_tokens": ["x", "y"],
            "attention": CROSS_0,
            "alignment": ALIGNMENT_0.astype(bool),
        },
        {
            "source_tokens": ["p", "q"],
            "output_tokens": ["z"],
            "attention": CROSS_1,
        },
    ]


def test_alignments_give_correctness_scalars_and_outlined_heatmaps(tmp_path):
    callback = AttentionSummary(
        _aligned_decode_fn,
        None,
        tmp_path,
        # Sample 0's own alignment wins over this one; sample 1's second
        # row is beyond its one decoded step and ignored.
        alignments=[np.array([[0, 0, 1]]), np.array([[0, 1], [1, 0]])],
    )
    scalars = callback.write_summaries(step=4)
    callback.close()

    events = _read_run(tmp_path / "attention")
    expected = (0.7 + 0.9 + 0.5) / 3
    assert _scalar(events, "attention/attention_correctness") == (
        pytest.approx(expected)
    )
    assert scalars["attention/attention_correctness"] == (
        pytest.approx(expected)
    )
    assert events["attention/attention_correctness"][1][0][0] == 4
    # Single-head weights: no best-head scalar.
    assert "attention/attention_correctness_best_head" not in events

    stored = _decode_png(events["attention/sample_0"][1][0][1])
    np.testing.assert_array_equal(
        stored,
        attention_to_image(
            CROSS_0,
            ["a", "b", "c"],
            ["x", "y"],
            title="sample 0",
            alignment=ALIGNMENT_0,
        ),
    )
    assert not np.array_equal(
        stored,
        attention_to_image(CROSS_0, ["a", "b", "c"], ["x", "y"], "sample 0"),
    )
    np.testing.assert_array_equal(
        _decode_png(events["attention/sample_1"][1][0][1]),
        attention_to_image(
            CROSS_1, ["p", "q"], ["z"], title="sample 1", alignment=[[0, 1]]
        ),
    )


def test_per_head_correctness_mean_and_best_head_per_layer(tmp_path):
    # Head 0 puts 0.8 and 0.6 on the references (0.7), head 1 0.1 and 0.4
    # (0.25): mean 0.475, best 0.7.
    cross = np.array(
        [
            [[0.8, 0.1, 0.1], [0.2, 0.2, 0.6]],
            [[0.1, 0.8, 0.1], [0.3, 0.3, 0.4]],
        ]
    )

    def decode_fn(samples):
        # A batch of one, as a dict of per-sample sequences.
        return {
            "source_tokens": [["a", "b", "c"]],
            "output_tokens": [["x", "y"]],
            "attention": {"cross": cross[None], "self": np.eye(2)[None]},
            "key_tokens": {"self": [["x", "y"]]},
            "alignment": np.array([[[1, 0, 0], [0, 0, 1]]]),
        }

    callback = AttentionSummary(
        decode_fn, None, tmp_path, name="attn", max_images=0
    )
    callback.write_summaries(step=1)
    callback.close()

    events = _read_run(tmp_path / "attn")
    assert _scalar(events, "attn/attention_correctness/cross") == (
        pytest.approx(0.475)
    )
    assert _scalar(events, "attn/attention_correctness_best_head/cross") == (
        pytest.approx(0.7)
    )
    # Self-attention attends to output tokens: the alignment does not apply.
    assert not [
        tag for tag in events if tag.endswith("/self") and "corr" in tag
    ]


def test_correctness_is_nan_without_reference_steps_and_absent_without(
    tmp_path,
):
    callback = AttentionSummary(
        _aligned_decode_fn,
        None,
        tmp_path,
        alignments=[None, np.zeros((1, 2))],
    )
    decoded = callback.decode()
    assert decoded[1].alignment.shape == (1, 2)
    # Sample 0 brings its own alignment.
    assert callback.compute_scalars(decoded)[
        "attention/attention_correctness"
    ] == pytest.approx(0.8)

    decoded[0] = dataclasses.replace(
        decoded[0], alignment=np.zeros_like(decoded[0].alignment)
    )
    scalars = callback.compute_scalars(decoded)
    assert math.isnan(scalars["attention/attention_correctness"])

    plain = AttentionSummary(_fixed_decode_fn, "samples", tmp_path)
    assert not [
        tag
        for tag in plain.compute_scalars(plain.decode())
        if "correctness" in tag
    ]


def test_works_in_model_fit(tmp_path):
    model = keras.Sequential(
        [keras.Input(shape=(3,)), keras.layers.Dense(2 * 4)]
    )
    model.compile(optimizer="sgd", loss="mse")
    inputs = np.random.default_rng(0).random((8, 3)).astype("float32")
    targets = np.random.default_rng(1).random((8, 8)).astype("float32")
    returned = []

    def decode_fn(samples):
        logits = model.predict(samples, verbose=0).reshape(-1, 2, 4)
        weights = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
        returned.append(weights)
        return [
            {
                "source_tokens": ["a", "b", "c", "d"],
                "output_tokens": ["x", "y"],
                "attention": sample_weights,
            }
            for sample_weights in weights
        ]

    callback = AttentionSummary(
        decode_fn, inputs[:2], tmp_path, references=["x y", "x"]
    )
    model.fit(
        inputs, targets, epochs=2, batch_size=4, verbose=0, callbacks=[callback]
    )

    events = _read_run(tmp_path / "attention")
    assert {"attention/sample_0", "attention/sample_1"} <= set(events)
    assert [step for step, _ in events["attention/entropy"][1]] == [1, 2]
    for (_, logged), weights in zip(
        events["attention/entropy"][1], returned, strict=True
    ):
        expected = np.mean(-np.sum(weights * np.log(weights), axis=-1))
        assert float(logged) == pytest.approx(expected, rel=1e-5)
    assert _scalar(events, "attention/exact_match") == pytest.approx(0.5)
    assert callback._writer is None


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"metric": "rouge"}, "`metric` must be one of"),
        ({"metric": [len, len]}, "distinct name"),
        ({"every_n_epochs": 0}, "`every_n_epochs` must be an integer >= 1"),
        ({"max_images": -1}, "`max_images` must be an integer >= 0"),
        ({"name": ""}, "`name` must be a non-empty string"),
        ({"references": "w x"}, "`references` must be a sequence"),
        ({"decode_fn": "not callable"}, "`decode_fn` must be callable"),
        ({"alignments": "x"}, "`alignments` must be a sequence"),
        ({"alignments": [np.ones(3)]}, r"alignments\[0\]\.shape=\(3,\)"),
        (
            {"max_source_tokens": 0},
            "`max_source_tokens` must be an integer >= 1",
        ),
    ],
)
def test_constructor_validation(tmp_path, kwargs, message):
    arguments = {"decode_fn": _fixed_decode_fn, "samples": None}
    arguments.update(kwargs)
    with pytest.raises(ValueError, match=message):
        AttentionSummary(logdir=tmp_path, **arguments)


def _sample(**overrides):
    sample = {
        "source_tokens": ["a", "b"],
        "output_tokens": ["x"],
        "attention": np.array([[0.5, 0.5]]),
    }
    sample.update(overrides)
    return sample


@pytest.mark.parametrize(
    "decoded, message",
    [
        ([{"source_tokens": ["a"], "output_tokens": ["x"]}], "missing"),
        ([_sample(key_tokens={"other": ["a"]})], "`key_tokens`.*layer names"),
        (
            [
                _sample(
                    attention={"l1": np.ones((1, 2))}, key_tokens={"l1": "a"}
                )
            ],
            "`key_tokens` must be a sequence",
        ),
        ([_sample(attention=np.ones((1, 1)))], "must cover"),
        ([_sample(attention=np.ones((1, 1, 1, 2)))], r"\[heads, T_out"),
        ([_sample(attention=np.array([[1.5, -0.5]]))], "non-negative"),
        (
            [_sample(attention={"l1": np.ones((1, 2))}), _sample()],
            "same attention layers",
        ),
        ([_sample(), _sample(), _sample()], "one string per decoded sample"),
        (
            [_sample(alignment=np.ones((1, 1, 2)))],
            r"`alignment`.*sample 0 must have shape \[T_out, T_src\]",
        ),
        (
            [_sample(alignment=np.array([[0, 0, 1]]))],
            "beyond the 2 source tokens",
        ),
        (
            [_sample(hypothesis=["x", "y"]), _sample()],
            "`hypothesis` must be a single string",
        ),
        ([], "non-empty list"),
        ({"source_tokens": [["a"]], "output_tokens": []}, "lengths"),
    ],
)
def test_bad_decode_fn_output_raises(tmp_path, decoded, message):
    callback = AttentionSummary(
        lambda samples: decoded, None, tmp_path, references=["x", "y"]
    )
    with pytest.raises(ValueError, match=message):
        callback.on_epoch_end(0)
    callback.close()


def test_decode_fn_may_return_attention_samples(tmp_path):
    from keras_attention.visualization import AttentionSample

    def sample_decode_fn(samples):
        return [
            AttentionSample(**sample)
            if index == 0
            else AttentionSample.from_dict(sample)
            for index, sample in enumerate(_fixed_decode_fn(samples))
        ]

    as_dicts = AttentionSummary(_fixed_decode_fn, "samples", tmp_path / "a")
    as_samples = AttentionSummary(sample_decode_fn, "samples", tmp_path / "b")

    decoded = as_samples.decode()

    assert all(isinstance(sample, AttentionSample) for sample in decoded)
    assert as_samples.write_summaries(step=1) == as_dicts.write_summaries(
        step=1
    )
    as_samples.close()
    as_dicts.close()
    first, second = (
        _read_run(tmp_path / run / "attention") for run in ("a", "b")
    )
    assert set(first) == set(second)
    assert _text(first) == _text(second)
