import dataclasses

import keras
import numpy as np
import pytest

from keras_attention.visualization import AttentionSample
from keras_attention.visualization import attention_to_image
from keras_attention.visualization import image_attention_to_image
from keras_attention.visualization import plot_attention
from keras_attention.visualization import plot_image_attention

SOURCE = ["germany", "beat", "argentina", "<eos>"]
OUTPUT = ["germany", "wins", "<eos>"]
WEIGHTS = np.array(
    [[0.7, 0.1, 0.1, 0.1], [0.1, 0.2, 0.6, 0.1], [0.0, 0.0, 0.0, 1.0]]
)
PICTURE = np.full((8, 8, 3), 128, dtype="uint8")


def _sample(**overrides):
    fields = {
        "source_tokens": SOURCE,
        "output_tokens": OUTPUT,
        "attention": WEIGHTS,
    }
    fields.update(overrides)
    return AttentionSample(**fields)


def test_token_sample_is_normalized_and_immutable():
    padded = np.zeros((5, 6))
    padded[:3, :4] = WEIGHTS
    sample = _sample(
        source_tokens=[b"germany", "beat", np.str_("argentina"), "<eos>"],
        attention=keras.ops.convert_to_tensor(padded),
        alignment=np.eye(5, 6),
        output_values={"p_gen": [0.1, 0.9, 0.5]},
        source_values={b"coverage": [0.8, 0.3, 0.9, 1.0]},
        marked_outputs=[1, 0, 0],
    )

    assert sample.source_tokens == tuple(SOURCE)
    assert sample.output_tokens == tuple(OUTPUT)
    assert sample.attention.dtype == np.float32
    np.testing.assert_allclose(sample.attention, WEIGHTS, rtol=1e-6)
    np.testing.assert_array_equal(sample.alignment, np.eye(3, 4, dtype=bool))
    assert list(sample.source_values) == ["coverage"]
    assert sample.marked_outputs.dtype == bool
    assert sample.hypothesis == "germany wins <eos>"
    assert sample.source == "germany beat argentina <eos>"
    assert sample.key_tokens == {}
    assert sample.layers == {None: sample.attention}
    assert sample.aligned_layers == (None,)
    with pytest.raises(dataclasses.FrozenInstanceError):
        sample.title = "x"
    with pytest.raises(ValueError, match="read-only"):
        sample.attention[0, 0] = 1.0


def test_heads_and_named_layers():
    heads = np.stack([WEIGHTS, WEIGHTS[:, ::-1]])
    self_attention = np.tril(np.ones((3, 3))) / np.arange(1, 4)[:, None]
    sample = _sample(
        attention={"cross": heads, "self": self_attention},
        key_tokens={"self": OUTPUT},
        alignment=np.eye(3, 4),
        source_values={"coverage": [1, 1, 1, 1]},
    )

    assert sample.attention["cross"].shape == (2, 3, 4)
    assert sample.aligned_layers == ("cross",)
    head = sample.select("cross", head=1)
    np.testing.assert_allclose(head.attention, WEIGHTS[:, ::-1])
    assert head.alignment is not None and head.source_values
    own = sample.select("self")
    assert own.source_tokens == tuple(OUTPUT)
    assert own.alignment is None and not own.source_values
    with pytest.raises(ValueError, match=r"`layer` must be one of.*layer=None"):
        sample.select()
    with pytest.raises(ValueError, match=r"`head` must index.*head=2"):
        sample.select("cross", head=2)


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"source_tokens": "germany"}, "`source_tokens` must be a sequence"),
        ({"output_tokens": []}, "`output_tokens` must contain at least"),
        ({"attention": np.ones(4)}, r"2-D .*Received: attention\.shape="),
        ({"attention": np.ones((3, 3))}, r"at least \[\.\.\., 3, 4\]"),
        ({"attention": -WEIGHTS}, "finite, non-negative"),
        ({"attention": {}}, "must not be an empty dict"),
        ({"key_tokens": {"self": OUTPUT}}, "`key_tokens` must be a dict"),
        ({"alignment": np.ones((3, 3))}, r"`alignment`.*at least \[3, 4\]"),
        (
            {"output_values": {"p_gen": [0.1, 0.2]}},
            r"`output_values\['p_gen'\]`.*3 values\. Received: len",
        ),
        ({"output_values": [0.1, 0.2, 0.3]}, "`output_values` must be a dict"),
        (
            {"source_values": {"c": [0, 0, np.inf, 0]}},
            r"`source_values\['c'\]` must hold finite numbers",
        ),
        ({"marked_outputs": [2, 0, 0]}, r"`marked_outputs` must hold bools"),
        ({"hypothesis": ["a", "b"]}, "`hypothesis` must be a single string"),
        ({"scores": {"bleu": [1.0, 2.0]}}, r"`scores\['bleu'\]` must be one"),
        ({"grid_shape": None, "image": np.zeros((4, 4))}, "not both"),
    ],
)
def test_invalid_fields_raise_naming_them(overrides, message):
    with pytest.raises(ValueError, match=message):
        _sample(**overrides)


def test_from_dict_takes_aliases_and_names_them_in_errors():
    sample = AttentionSample.from_dict(
        {"weights": WEIGHTS, "source_tokens": SOURCE, "target_tokens": OUTPUT}
    )
    assert sample.output_tokens == tuple(OUTPUT)

    with pytest.raises(ValueError, match="`target_tokens` must be a sequ"):
        AttentionSample.from_dict(
            {"weights": WEIGHTS, "source_tokens": SOURCE, "target_tokens": "x"}
        )
    with pytest.raises(ValueError, match=r"Received: weights\.shape=\(4,\)"):
        AttentionSample.from_dict(
            {"weights": np.ones(4), "source_tokens": SOURCE, "words": OUTPUT}
        )
    with pytest.raises(ValueError, match="same field"):
        AttentionSample.from_dict(
            {"attention": WEIGHTS, "weights": WEIGHTS, "source_tokens": SOURCE}
        )
    with pytest.raises(ValueError, match=r"missing \['output_tokens'\]"):
        AttentionSample.from_dict(
            {"attention": WEIGHTS, "source_tokens": SOURCE}
        )
    with pytest.raises(ValueError, match="must be a dict"):
        AttentionSample.from_dict([WEIGHTS])


def test_from_dict_padded_crops_and_names_the_sample():
    fields = {
        "source_tokens": SOURCE,
        "output_tokens": OUTPUT,
        "attention": WEIGHTS,
        "output_values": {"p_gen": [0.1, 0.9, 0.5, 0.0]},
        "marked_outputs": [True, False, False, True],
        "alignment": [[1, 0], [0, 1]],  # short: missing cells unaligned
        "unknown": "ignored",
    }

    sample = AttentionSample.from_dict(fields, padded=True)

    np.testing.assert_allclose(sample.output_values["p_gen"], [0.1, 0.9, 0.5])
    np.testing.assert_array_equal(sample.marked_outputs, [True, False, False])
    assert sample.alignment.shape == (3, 4) and sample.alignment.sum() == 2
    exact = {key: value for key, value in fields.items() if key != "alignment"}
    exact["target_tokens"] = exact.pop("output_tokens")
    with pytest.raises(ValueError, match=r"`target_tokens`: 3 values"):
        AttentionSample.from_dict(exact)
    with pytest.raises(
        ValueError,
        match=r"`alignment` from a test for sample 2 marks source positions "
        r"beyond the 4",
    ):
        AttentionSample.from_dict(
            {**fields, "alignment": np.eye(3, 6)[:, ::-1]},
            padded=True,
            index=2,
            origin="from a test",
        )
    with pytest.raises(
        ValueError, match=r"shape=\(2,\) for sample 2 from a test$"
    ):
        AttentionSample.from_dict(
            {**fields, "output_values": {"p_gen": [0.1, 0.2]}},
            padded=True,
            index=2,
            origin="from a test",
        )


def test_image_sample_flattens_attention_and_alignment():
    attention = np.full((3, 2, 3), 1 / 6)
    alignment = np.zeros((4, 2, 3))  # one padded row
    alignment[1, 0, 2] = 1

    sample = AttentionSample(
        image=PICTURE,
        output_tokens=["a", "cat", "<end>"],
        attention=attention,
        alignment=alignment,
        output_values={"p": [0.0, 1.0, 0.5]},
    )

    assert sample.grid_shape == (2, 3)
    assert sample.attention.shape == (3, 6)
    assert sample.image.dtype == np.float32
    np.testing.assert_allclose(sample.image, 128 / 255)
    assert sample.source is None and sample.source_tokens is None
    assert sample.alignment.shape == (3, 6) and sample.alignment[1, 2]
    inferred = AttentionSample.from_dict(
        {"image": PICTURE, "words": ["a"], "attention": np.full((2, 4), 0.25)}
    )
    assert inferred.grid_shape == (2, 2)
    assert inferred.attention.shape == (1, 4)


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"attention": {"l": np.full((1, 4), 0.25)}}, "not a dict"),
        ({"source_tokens": ["a"]}, "not both"),
        ({"source_values": {"c": [1.0]}}, "image samples do not"),
        ({"attention": np.full((1, 6), 1 / 6)}, "perfect square"),
        ({"grid_shape": (3, 3)}, r"h \* w equal to the L"),
        ({"image": np.zeros((8, 8))}, r"\[height, width, 3\]"),
        ({"alignment": np.ones((1, 3, 3))}, r"\[T, 4\] or \[T, 2, 2\]"),
        ({"alignment": np.ones((0, 4))}, "a row for each of the 1 words"),
    ],
)
def test_invalid_image_samples_raise(overrides, message):
    fields = {
        "image": PICTURE,
        "output_tokens": ["cat"],
        "attention": np.full((1, 4), 0.25),
    }
    fields.update(overrides)
    with pytest.raises(ValueError, match=message):
        AttentionSample(**fields)


def test_to_dict_round_trips_and_replace_revalidates():
    sample = _sample(title="t", scores={"bleu": 12.345})

    again = AttentionSample.from_dict(sample.to_dict())

    assert again.to_dict().keys() == sample.to_dict().keys()
    np.testing.assert_array_equal(again.attention, sample.attention)
    with pytest.raises(ValueError, match="non-negative"):
        dataclasses.replace(sample, attention=-WEIGHTS)
    assert sample.title_text() == "t (bleu 12.3)"
    assert sample.title_text("other") == "other (bleu 12.3)"
    assert _sample().title_text() is None


def test_plots_take_samples():
    sample = _sample(
        title="a sample",
        output_values={"p_gen": [0.1, 0.9, 0.5]},
        marked_outputs=[True, False, False],
    )

    ax = plot_attention(sample)

    assert ax.get_title() == "a sample"
    np.testing.assert_allclose(ax.images[0].get_array(), WEIGHTS, rtol=1e-6)
    assert len(ax.child_axes) == 1
    from_arrays = attention_to_image(
        WEIGHTS,
        SOURCE,
        OUTPUT,
        title="a sample",
        output_values={"p_gen": [0.1, 0.9, 0.5]},
        marked_outputs=[True, False, False],
    )
    np.testing.assert_array_equal(attention_to_image(sample), from_arrays)

    image_sample = AttentionSample(
        image=PICTURE, output_tokens=["cat"], attention=np.full((1, 4), 0.25)
    )
    figure = plot_image_attention(image_sample, title="picture")
    # The picture, the word's panel, then the colour bar.
    assert [ax.get_title() for ax in figure.axes[:2]] == ["picture", "cat"]
    np.testing.assert_array_equal(
        image_attention_to_image(image_sample),
        image_attention_to_image(PICTURE, np.full((1, 4), 0.25), ["cat"]),
    )


def test_plots_refuse_mixed_or_wrong_samples():
    with pytest.raises(ValueError, match=r"not both.*\['target_tokens'\]"):
        plot_attention(_sample(), target_tokens=OUTPUT)
    with pytest.raises(ValueError, match=r"`attention` must be 2-D.*select"):
        plot_attention(_sample(attention=np.stack([WEIGHTS, WEIGHTS])))
    image_sample = AttentionSample(
        image=PICTURE, output_tokens=["cat"], attention=np.full((1, 4), 0.25)
    )
    with pytest.raises(ValueError, match="plot_image_attention"):
        attention_to_image(image_sample)
    with pytest.raises(ValueError, match="plot_attention"):
        plot_image_attention(_sample())
    with pytest.raises(ValueError, match=r"not both.*\['words'\]"):
        plot_image_attention(image_sample, words=["dog"])
