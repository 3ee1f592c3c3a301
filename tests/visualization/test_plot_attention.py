import keras
import matplotlib
import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from keras_attention.visualization import attention_to_image
from keras_attention.visualization import plot_attention

SOURCE = ["ich", "bin", "müde", "<eos>"]
TARGET = ["i", "am", "tired"]


def _tick_texts(labels):
    return [label.get_text() for label in labels]


def test_heatmap_holds_weights_and_token_labels():
    weights = np.arange(12, dtype="float32").reshape(3, 4) / 12.0

    ax = plot_attention(weights, SOURCE, TARGET, title="sample 0")

    np.testing.assert_array_equal(ax.images[0].get_array(), weights)
    assert _tick_texts(ax.get_xticklabels()) == SOURCE
    assert _tick_texts(ax.get_yticklabels()) == TARGET
    assert all(label.get_rotation() == 90 for label in ax.get_xticklabels())
    assert ax.get_title() == "sample 0"
    # Heatmap axes plus the colorbar axes.
    assert len(ax.figure.axes) == 2
    assert isinstance(ax.figure.canvas, FigureCanvasAgg)


def test_padded_weights_are_cropped_to_token_counts():
    padded = np.random.default_rng(0).random((6, 9))

    ax = plot_attention(padded, SOURCE, TARGET)

    np.testing.assert_allclose(
        ax.images[0].get_array(), padded[:3, :4], rtol=1e-6
    )


def test_draws_into_given_axes():
    figure = Figure()
    FigureCanvasAgg(figure)
    ax = figure.add_subplot()

    returned = plot_attention(np.eye(3, 4), SOURCE, TARGET, ax=ax)

    assert returned is ax


def test_accepts_backend_tensors_and_bytes_tokens():
    weights = keras.ops.convert_to_tensor(np.eye(3, 4, dtype="float32"))

    ax = plot_attention(weights, [t.encode() for t in SOURCE], TARGET)

    np.testing.assert_array_equal(ax.images[0].get_array(), np.eye(3, 4))
    assert _tick_texts(ax.get_xticklabels()) == SOURCE


@pytest.mark.parametrize(
    "shape",
    [(2, 4), (3, 3), (2, 3)],
    ids=["few_target_rows", "few_source_cols", "both_short"],
)
def test_weights_smaller_than_tokens_raise(shape):
    with pytest.raises(ValueError, match=r"\[\.\.\., 3, 4\].*weights.shape="):
        plot_attention(np.ones(shape), SOURCE, TARGET)


@pytest.mark.parametrize("shape", [(12,), (2, 3, 4)])
def test_weights_must_be_two_dimensional(shape):
    with pytest.raises(ValueError, match=r"2-D.*Received: weights.shape="):
        plot_attention(np.ones(shape), SOURCE, TARGET)


def test_empty_or_string_tokens_raise():
    with pytest.raises(ValueError, match="`source_tokens` must contain"):
        plot_attention(np.ones((3, 4)), [], TARGET)
    with pytest.raises(ValueError, match="`target_tokens` must be a sequ"):
        plot_attention(np.ones((3, 4)), SOURCE, "i am tired")


def test_attention_to_image_returns_rgb_uint8_of_sane_size():
    image = attention_to_image(np.eye(3, 4), SOURCE, TARGET, title="t")

    assert image.dtype == np.uint8
    assert image.ndim == 3 and image.shape[-1] == 3
    height, width = image.shape[:2]
    # 100 dpi and figures between 4x3 and 16x16 inches.
    assert 300 <= height <= 1600 and 400 <= width <= 1600
    # Not a blank canvas: the heatmap colours are present.
    assert len(np.unique(image.reshape(-1, 3), axis=0)) > 10


def test_attention_to_image_depends_on_weights_and_dpi():
    first = attention_to_image(np.eye(3, 4), SOURCE, TARGET)
    second = attention_to_image(np.eye(3, 4)[::-1], SOURCE, TARGET)
    double = attention_to_image(np.eye(3, 4), SOURCE, TARGET, dpi=200)

    assert first.shape == second.shape
    assert not np.array_equal(first, second)
    assert double.shape[:2] == (2 * first.shape[0], 2 * first.shape[1])


def test_long_token_lists_stay_readable():
    num_source, num_target = 300, 40
    source = [f"tok{i}" for i in range(num_source)]
    target = [f"out{i}" for i in range(num_target)]
    weights = np.full((num_target, num_source), 1.0 / num_source)

    ax = plot_attention(weights, source, target)

    x_labels = ax.get_xticklabels()
    # Too many tokens for one label each at the minimum font size: every
    # k-th token is labelled, in order, at a legible size.
    assert 1 < len(x_labels) < num_source
    stride = num_source // len(x_labels)
    assert _tick_texts(x_labels)[:3] == [f"tok{i * stride}" for i in range(3)]
    assert min(label.get_fontsize() for label in x_labels) >= 4
    assert ax.figure.get_size_inches()[0] <= 16

    image = attention_to_image(weights, source, target, dpi=50)
    assert image.shape[1] <= 16 * 50


def test_short_token_lists_use_larger_font_than_long_ones():
    short_ax = plot_attention(np.eye(3, 4), SOURCE, TARGET)
    long_source = [f"tok{i}" for i in range(150)]
    long_ax = plot_attention(np.ones((3, 150)), long_source, TARGET)

    short_size = short_ax.get_xticklabels()[0].get_fontsize()
    long_size = long_ax.get_xticklabels()[0].get_fontsize()
    assert short_size > long_size


def test_math_like_tokens_render_verbatim():
    # "$\\frac$" is invalid mathtext: rendering fails if parsed as math.
    source = ["$\\frac$", "$5", "a_b", "<unk>"]

    image = attention_to_image(np.eye(3, 4), source, TARGET, title="$x$")

    assert image.ndim == 3


def test_invalid_dpi_raises():
    with pytest.raises(ValueError, match="`dpi` must be > 0"):
        attention_to_image(np.eye(3, 4), SOURCE, TARGET, dpi=0)


ALIGNMENT = np.array(
    [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 1]], dtype=bool
)  # "i"-"ich", "am"-"bin", "tired"-"müde <eos>"


def _outline_pixels(image):
    # Magenta (the outline colour on viridis, which holds no such colour).
    red, green, blue = (image[..., i].astype(int) for i in range(3))
    return (red > 200) & (green < 80) & (blue > 200)


def test_alignment_outlines_each_reference_cell():
    weights = np.random.default_rng(0).random((3, 4)).astype("float32")

    ax = plot_attention(weights, SOURCE, TARGET, alignment=ALIGNMENT)

    rectangles = [p for p in ax.patches if isinstance(p, Rectangle)]
    assert len(rectangles) == len(ax.patches) == ALIGNMENT.sum()
    corners = sorted(r.get_xy() for r in rectangles)
    rows, columns = ALIGNMENT.nonzero()
    assert corners == sorted(
        (column - 0.5, row - 0.5)
        for row, column in zip(rows, columns, strict=True)
    )
    for rectangle in rectangles:
        assert (rectangle.get_width(), rectangle.get_height()) == (1, 1)
        assert not rectangle.get_fill()
        np.testing.assert_allclose(rectangle.get_edgecolor(), (1, 0, 1, 1))
    # The heatmap itself is unchanged.
    np.testing.assert_array_equal(ax.images[0].get_array(), weights)
    assert not plot_attention(weights, SOURCE, TARGET).patches


def test_outline_colour_stands_out_from_the_colormap():
    ax = plot_attention(
        np.eye(3, 4), SOURCE, TARGET, cmap="Reds", alignment=np.eye(3, 4)
    )

    edge = np.asarray(ax.patches[0].get_edgecolor()[:3])
    colormap = matplotlib.colormaps["Reds"](np.linspace(0, 1, 256))[:, :3]
    assert np.min(np.linalg.norm(colormap - edge, axis=-1)) > 0.5


def test_alignment_is_cropped_like_weights_and_validated():
    padded = np.zeros((5, 6))
    padded[:3, :4] = ALIGNMENT
    padded[4, 5] = 1  # beyond the tokens: cropped away

    ax = plot_attention(np.ones((5, 6)), SOURCE, TARGET, alignment=padded)

    assert len(ax.patches) == ALIGNMENT.sum()
    with pytest.raises(ValueError, match=r"`alignment`.*alignment.shape="):
        plot_attention(np.ones((3, 4)), SOURCE, TARGET, alignment=np.ones(4))
    with pytest.raises(ValueError, match=r"at least \[3, 4\]"):
        plot_attention(
            np.ones((3, 4)), SOURCE, TARGET, alignment=np.ones((3, 3))
        )


def test_attention_to_image_draws_the_outlines():
    weights = np.full((3, 4), 0.25)

    plain = attention_to_image(weights, SOURCE, TARGET)
    outlined = attention_to_image(weights, SOURCE, TARGET, alignment=ALIGNMENT)

    assert plain.shape == outlined.shape
    assert not _outline_pixels(plain).any()
    # Each outlined cell's edge is at least a few dozen pixels long.
    assert _outline_pixels(outlined).sum() > 50 * ALIGNMENT.sum()


def test_scalar_tensor_and_array_tokens_show_as_text():
    import tensorflow as tf

    source = [tf.constant("ich"), np.array(b"bin"), np.str_("m\u00fcde"), 7]

    ax = plot_attention(np.eye(3, 4), source, TARGET)

    assert _tick_texts(ax.get_xticklabels()) == ["ich", "bin", "müde", "7"]
    with pytest.raises(ValueError, match="single string.*list"):
        plot_attention(np.eye(3, 4), [["ich"], "b", "c", "d"], TARGET)


def test_long_sources_keep_their_most_attended_columns():
    # Column sums 0.2, 0.9, 0.1, 0.6, 0.2: the two most attended are the
    # second and the fourth source tokens, drawn in source order.
    weights = np.array(
        [[0.1, 0.8, 0.0, 0.1, 0.0], [0.1, 0.1, 0.1, 0.5, 0.2]], "float32"
    )
    sources = ["a", "b", "c", "d", "e"]
    alignment = np.zeros((2, 5), bool)
    alignment[0, 1] = alignment[1, 4] = True
    ax = plot_attention(
        weights,
        sources,
        ["x", "y"],
        alignment=alignment,
        source_values={"coverage": weights.sum(axis=0)},
        max_source_tokens=2,
    )
    np.testing.assert_array_equal(
        np.asarray(ax.images[0].get_array()), weights[:, [1, 3]]
    )
    (strip,) = ax.child_axes
    assert [label.get_text() for label in strip.get_xticklabels()] == [
        "1:b",
        "3:d",
    ]
    assert strip.get_xlabel() == (
        "Source tokens (the 2 most attended of 5, position:token)"
    )
    np.testing.assert_allclose(
        np.asarray(strip.images[0].get_array()).ravel(), [0.9, 0.6]
    )
    # Only the kept reference cell (x, b) is outlined; (y, e) was cut.
    assert len(ax.patches) == 1
    # A source that fits is drawn whole, labelled as before.
    whole = plot_attention(weights, sources, ["x", "y"], max_source_tokens=5)
    assert whole.get_xlabel() == "Source tokens"
    assert np.asarray(whole.images[0].get_array()).shape == (2, 5)


@pytest.mark.parametrize("value", [0, -1, 2.0, True, "3"])
def test_bad_max_source_tokens_raise(value):
    with pytest.raises(ValueError, match="`max_source_tokens` must be"):
        attention_to_image(
            np.full((1, 3), 1 / 3),
            ["a", "b", "c"],
            ["x"],
            max_source_tokens=value,
        )
