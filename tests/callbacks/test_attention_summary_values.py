"""AttentionSummary with p_gen, coverage and copied-word marks."""

import io

import numpy as np
import pytest

pytest.importorskip(
    "tensorflow", reason="AttentionSummary writes with tf.summary"
)
pytest.importorskip("tensorboard", reason="events are read back with it")

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


def _image(events, tag):
    plugin, values = events[tag]
    assert plugin == "images"
    width, height, png = values[-1][1]
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


SOURCE = ["germany", "beat", "argentina", "3-0"]
OUTPUT = ["germany", "wins", "3-0"]
# Padded like a decoder's batch: 4 steps, 6 source positions.
ATTENTION = np.zeros((4, 6), "float32")
ATTENTION[:3, :4] = [
    [0.7, 0.1, 0.1, 0.1],
    [0.2, 0.5, 0.2, 0.1],
    [0.0, 0.1, 0.1, 0.8],
]
# The padded step and positions hold values that must be cropped away.
P_GEN = np.array([0.2, 0.9, 0.1, 7.0], "float32")
COVERAGE = np.array([0.9, 0.7, 0.4, 1.0, 5.0, 5.0], "float32")
MARKS = np.array([True, False, True, True])


def _summary_sample():
    return {
        "source_tokens": SOURCE,
        "output_tokens": OUTPUT,
        "attention": ATTENTION,
        "output_values": {"p_gen": P_GEN},
        "source_values": {"coverage": COVERAGE},
        "marked_outputs": MARKS,
    }


def test_writes_strips_bold_text_and_mean_p_gen(tmp_path):
    def decode_fn(samples):
        return [
            _summary_sample(),
            {
                "source_tokens": ["a", "b"],
                "output_tokens": ["x"],
                "attention": np.array([[0.5, 0.5]]),
                "output_values": {"p_gen": [0.6]},
            },
        ]

    callback = AttentionSummary(decode_fn, None, tmp_path)
    scalars = callback.write_summaries(step=1)
    callback.close()
    events = _read_run(tmp_path / "attention")

    # The heatmap shows the cropped values and marks.
    expected = attention_to_image(
        ATTENTION[:3, :4],
        SOURCE,
        OUTPUT,
        title="sample 0",
        output_values={"p_gen": [0.2, 0.9, 0.1]},
        source_values={"coverage": [0.9, 0.7, 0.4, 1.0]},
        marked_outputs=[True, False, True],
    )
    stored = _image(events, "attention/sample_0")
    np.testing.assert_array_equal(stored, expected)
    plain = attention_to_image(
        ATTENTION[:3, :4], SOURCE, OUTPUT, title="sample 0"
    )
    # 0.55 inch wider (p_gen column), 0.4 inch taller (coverage row).
    assert stored.shape == (plain.shape[0] + 40, plain.shape[1] + 55, 3)

    text = _text(events)
    assert "| 0 | germany beat argentina 3-0 | **germany** wins **3-0** |" in (
        text
    )
    assert "| 1 | a b | x |" in text
    # A blank line ends the table before the legend.
    assert text.endswith("\n\n**bold**: copied from the source")

    # Pooled over the 3 + 1 generated tokens, padding excluded.
    expected_p_gen = (0.2 + 0.9 + 0.1 + 0.6) / 4
    assert _scalar(events, "attention/p_gen") == pytest.approx(expected_p_gen)
    assert scalars["attention/p_gen"] == pytest.approx(expected_p_gen)


def test_decode_crops_values_and_marks_like_the_attention():
    callback = AttentionSummary(lambda _: [_summary_sample()], None, "unused")

    (sample,) = callback.decode()

    assert list(sample.output_values) == ["p_gen"]
    np.testing.assert_allclose(sample.output_values["p_gen"], P_GEN[:3])
    np.testing.assert_allclose(sample.source_values["coverage"], COVERAGE[:4])
    np.testing.assert_array_equal(sample.marked_outputs, MARKS[:3])
    assert sample.marked_outputs.dtype == bool


def test_source_values_only_reach_layers_over_the_source(tmp_path):
    self_attention = np.array([[1.0, 0.0, 0.0], [0.5, 0.5, 0.0], [0, 0, 1]])

    def decode_fn(samples):
        sample = _summary_sample()
        sample["attention"] = {"cross": ATTENTION, "self": self_attention}
        sample["key_tokens"] = {"self": OUTPUT}
        return [sample]

    callback = AttentionSummary(decode_fn, None, tmp_path, name="attn")
    callback.write_summaries(step=2)
    callback.close()
    events = _read_run(tmp_path / "attn")

    values = {
        "output_values": {"p_gen": P_GEN[:3]},
        "marked_outputs": MARKS[:3],
    }
    np.testing.assert_array_equal(
        _image(events, "attn/self/sample_0"),
        attention_to_image(
            self_attention, OUTPUT, OUTPUT, title="sample 0, self", **values
        ),
    )
    np.testing.assert_array_equal(
        _image(events, "attn/cross/sample_0"),
        attention_to_image(
            ATTENTION,
            SOURCE,
            OUTPUT,
            title="sample 0, cross",
            source_values={"coverage": COVERAGE[:4]},
            **values,
        ),
    )
    assert _scalar(events, "attn/p_gen") == pytest.approx(0.4)


def test_batched_dict_values_are_split_per_sample(tmp_path):
    def decode_fn(samples):
        return {
            "source_tokens": [["a", "b", "c"], ["d", "e"]],
            "output_tokens": [["x", "y"], ["z"]],
            "attention": np.full((2, 2, 3), 1.0 / 3.0),
            "output_values": {
                "p_gen": np.array([[1.0, 0.5], [0.0, 0.25]]),
                "novelty": np.array([[0.0, 1.0], [1.0, 0.0]]),
            },
            "marked_outputs": np.array([[False, True], [False, False]]),
        }

    callback = AttentionSummary(decode_fn, None, tmp_path, max_images=0)
    scalars = callback.write_summaries(step=1)
    callback.close()
    events = _read_run(tmp_path / "attention")

    # Sample 1's second step is padding: means over x, y, z only.
    assert scalars["attention/p_gen"] == pytest.approx(0.5)
    assert _scalar(events, "attention/novelty") == pytest.approx(2 / 3)
    text = _text(events)
    assert "| 0 | a b c | x **y** |" in text
    # Sample 1's marks are all false: its tokens, none bold.
    assert "| 1 | d e | z |" in text
    assert text.endswith("**bold**: copied from the source")


def test_no_marks_no_legend_and_hypothesis_kept(tmp_path):
    def decode_fn(samples):
        return [
            {
                "source_tokens": ["a", "b"],
                "output_tokens": ["x", "y"],
                "attention": np.full((2, 2), 0.5),
                "hypothesis": "xy",
                "marked_outputs": [False, False],
            },
            {
                "source_tokens": ["c"],
                "output_tokens": ["z"],
                "attention": np.ones((1, 1)),
                "hypothesis": "zz",
            },
        ]

    callback = AttentionSummary(decode_fn, None, tmp_path, max_images=0)
    scalars = callback.write_summaries(step=1)
    callback.close()

    text = _text(_read_run(tmp_path / "attention"))
    # With marks the row shows the output tokens; without, the hypothesis.
    assert "| 0 | a b | x y |" in text
    assert "| 1 | c | zz |" in text
    assert "bold" not in text
    assert not [tag for tag in scalars if "p_gen" in tag]


def test_marked_tokens_are_escaped_inside_the_bold(tmp_path):
    def decode_fn(samples):
        return [
            {
                "source_tokens": ["a*b", "<unk>"],
                "output_tokens": ["a*b", "<unk>", " "],
                "attention": np.full((3, 2), 0.5),
                "marked_outputs": [1, 1, 1],
            }
        ]

    callback = AttentionSummary(decode_fn, None, tmp_path, max_images=0)
    callback.write_summaries(step=1)
    callback.close()

    text = _text(_read_run(tmp_path / "attention"))
    # The blank token is left out rather than rendered as "****".
    assert "| 0 | a\\*b \\<unk\\> | **a\\*b** **\\<unk\\>** |" in text


def test_image_samples_are_unaffected(tmp_path):
    def decode_fn(samples):
        return [
            {
                "image": np.zeros((8, 8, 3), "uint8"),
                "output_tokens": ["a", "cat"],
                "attention": np.full((2, 4), 0.25),
            }
        ]

    callback = AttentionSummary(decode_fn, None, tmp_path, max_images=0)
    scalars = callback.write_summaries(step=1)
    callback.close()

    assert set(scalars) == {"attention/entropy"}
    assert "bold" not in _text(_read_run(tmp_path / "attention"))


@pytest.mark.parametrize(
    "changes, message",
    [
        (
            {"output_values": {"p_gen": [0.5, 0.5]}},
            r"`output_values\['p_gen'\]` must be 1-D with at least "
            r"len\(output_tokens\)=3 values.*Received: "
            r"output_values\['p_gen'\]\.shape=\(2,\) for sample 0",
        ),
        (
            {"source_values": {"coverage": [0.5, 0.5, 0.5]}},
            r"`source_values\['coverage'\]` must be 1-D with at least "
            r"len\(source_tokens\)=4 values.*shape=\(3,\) for sample 0",
        ),
        (
            {"marked_outputs": [True]},
            r"`marked_outputs` must be 1-D with at least "
            r"len\(output_tokens\)=3 bools.*shape=\(1,\) for sample 0",
        ),
        (
            {"marked_outputs": [2, 0, 0]},
            r"`marked_outputs` must hold bools.*sample 0",
        ),
        (
            {"output_values": {"p_gen": [0.5, np.inf, 0.5]}},
            r"must hold finite numbers.*sample 0",
        ),
        (
            {"output_values": [0.5, 0.5, 0.5]},
            r"`output_values` must be a dict.*sample 0",
        ),
    ],
)
def test_invalid_values_raise_naming_the_sample(changes, message):
    def decode_fn(samples):
        sample = _summary_sample()
        sample.update(changes)
        return [sample]

    callback = AttentionSummary(decode_fn, None, "unused")
    with pytest.raises(ValueError, match=message):
        callback.decode()


@pytest.mark.parametrize(
    "label", ["entropy", "text", "sample_0", "exact_match"]
)
def test_labels_must_not_take_the_callbacks_own_tags(tmp_path, label):
    def decode_fn(samples):
        sample = _summary_sample()
        sample["output_values"] = {label: P_GEN}
        return [sample]

    callback = AttentionSummary(
        decode_fn, None, tmp_path, references=["germany wins"]
    )
    with pytest.raises(ValueError, match=rf"label '{label}'"):
        callback.write_summaries(step=1)
    callback.close()
