"""Value strips (p_gen, coverage) and marked tokens of attention heatmaps."""

import keras
import matplotlib
import numpy as np
import pytest

from keras_attention.visualization import attention_to_image
from keras_attention.visualization import plot_attention

SOURCE = ["ich", "bin", "müde", "<eos>"]
TARGET = ["i", "am", "tired"]
WEIGHTS = np.array(
    [[0.7, 0.1, 0.1, 0.1], [0.1, 0.6, 0.2, 0.1], [0.0, 0.1, 0.8, 0.1]],
    dtype="float32",
)
P_GEN = [0.1, 0.9, 0.25]
COVERAGE = [0.8, 0.8, 1.1, 0.3]  # column sums of WEIGHTS
# tab:red, the colour of marked tick labels; viridis holds nothing close.
RED = np.array([214, 39, 40])


def _strips(ax):
    """`(right_strip, bottom_strip)` inset axes of the heatmap, or None."""
    figure = ax.figure
    figure.canvas.draw()
    box = ax.get_window_extent()
    right = bottom = None
    for child in ax.child_axes:
        extent = child.get_window_extent()
        if extent.x0 >= box.x1:
            right = child
        elif extent.y1 <= box.y0:
            bottom = child
    return right, bottom


def _rgb(figure):
    return np.asarray(figure.canvas.buffer_rgba())[..., :3].astype(int)


def _pixel(image, figure, x, y):
    """RGB at display point `(x, y)` (origin bottom left) of `figure`."""
    return image[int(round(figure.bbox.height - y)), int(round(x))]


def _red_pixels(image):
    return (np.abs(image.astype(int) - RED).sum(axis=-1) < 60).sum()


def test_no_values_and_no_marks_leave_the_image_unchanged():
    plain = attention_to_image(WEIGHTS, SOURCE, TARGET, title="t")

    for kwargs in [
        {"output_values": None, "source_values": None},
        {"output_values": {}, "source_values": {}},
        {"marked_outputs": [False, False, False]},
        {"marked_outputs": np.zeros(3, dtype=int)},
    ]:
        image = attention_to_image(WEIGHTS, SOURCE, TARGET, title="t", **kwargs)
        np.testing.assert_array_equal(image, plain)


def test_strips_make_the_image_wider_or_taller_by_their_size():
    # 4 source and 3 target tokens: the minimum 4 x 3 inch figure, so
    # 400 x 300 pixels at 100 dpi.
    plain = attention_to_image(WEIGHTS, SOURCE, TARGET)
    # One column: 0.1 inch gap + 0.45 inch; two: 0.1 + 2 * 0.45.
    one_column = attention_to_image(
        WEIGHTS, SOURCE, TARGET, output_values={"p_gen": P_GEN}
    )
    two_columns = attention_to_image(
        WEIGHTS,
        SOURCE,
        TARGET,
        output_values={"p_gen": P_GEN, "q": [0.0, 0.5, 1.0]},
    )
    # One row: 0.1 inch gap + 0.3 inch.
    one_row = attention_to_image(
        WEIGHTS, SOURCE, TARGET, source_values={"coverage": COVERAGE}
    )

    assert plain.shape == (300, 400, 3)
    assert one_column.shape == (300, 455, 3)
    assert two_columns.shape == (300, 500, 3)
    assert one_row.shape == (340, 400, 3)


def test_output_strip_holds_values_aligned_with_the_rows():
    ax = plot_attention(WEIGHTS, SOURCE, TARGET, output_values={"p_gen": P_GEN})
    strip, bottom = _strips(ax)

    assert bottom is None
    np.testing.assert_allclose(
        strip.images[0].get_array()[:, 0], P_GEN, rtol=1e-6
    )
    assert strip.images[0].get_clim() == (0.0, 1.0)
    # Same rows as the heatmap: same vertical extent and data limits.
    box, strip_box = ax.get_window_extent(), strip.get_window_extent()
    assert strip_box.y0 == pytest.approx(box.y0, abs=0.5)
    assert strip_box.y1 == pytest.approx(box.y1, abs=0.5)
    assert strip.get_ylim() == ax.get_ylim()
    # Between the heatmap and its colorbar.
    colorbar = [a for a in ax.figure.axes if a is not ax][0]
    assert (
        box.x1
        < strip_box.x0
        < strip_box.x1
        < colorbar.get_position().x0 * (ax.figure.bbox.width)
    )
    assert [label.get_text() for label in strip.get_xticklabels()] == [
        "p_gen\n0–1"
    ]
    # Small plot: every value printed, black on the light (yellow-green)
    # cell of 0.9, white on the dark (purple) cells of viridis.
    texts = [(t.get_text(), t.get_color()) for t in strip.texts]
    assert texts == [("0.10", "white"), ("0.90", "black"), ("0.25", "white")]
    # Each number sits in its own row.
    heights = [t.get_position()[1] for t in strip.texts]
    assert heights == [0.0, 1.0, 2.0]


def test_strip_cells_show_the_colormap_colour_of_their_value():
    ax = plot_attention(
        WEIGHTS,
        SOURCE,
        TARGET,
        output_values={"p_gen": P_GEN},
        source_values={"coverage": COVERAGE},
    )
    right, bottom = _strips(ax)
    figure = ax.figure
    image = _rgb(figure)
    viridis = matplotlib.colormaps["viridis"]

    box = right.get_window_extent()
    for row, value in enumerate(P_GEN):
        # Near the left edge of the cell, away from the printed number.
        y = box.y1 - (row + 0.5) * box.height / 3
        expected = np.round(np.asarray(viridis(value)[:3]) * 255)
        np.testing.assert_allclose(
            _pixel(image, figure, box.x0 + 3, y), expected, atol=2
        )
    box = bottom.get_window_extent()
    for column, value in enumerate(COVERAGE):
        # Coverage scale: 0 to its maximum, 1.1.
        x = box.x0 + (column + 0.5) * box.width / 4
        expected = np.round(np.asarray(viridis(value / 1.1)[:3]) * 255)
        np.testing.assert_allclose(
            _pixel(image, figure, x, box.y0 + 3), expected, atol=2
        )


def test_source_strip_is_below_and_takes_the_source_labels():
    ax = plot_attention(
        WEIGHTS, SOURCE, TARGET, source_values={"coverage": COVERAGE}
    )
    right, strip = _strips(ax)

    assert right is None
    np.testing.assert_allclose(
        strip.images[0].get_array()[0], COVERAGE, rtol=1e-6
    )
    low, high = strip.images[0].get_clim()
    assert (low, high) == pytest.approx((0.0, 1.1))
    box, strip_box = ax.get_window_extent(), strip.get_window_extent()
    assert strip_box.x0 == pytest.approx(box.x0, abs=0.5)
    assert strip_box.x1 == pytest.approx(box.x1, abs=0.5)
    assert strip_box.y1 < box.y0
    assert strip.get_xlim() == ax.get_xlim()
    # Source tokens and the axis label move below the strip.
    assert [t.get_text() for t in strip.get_xticklabels()] == SOURCE
    assert strip.get_xlabel() == "Source tokens"
    assert ax.get_xlabel() == ""
    assert not any(t.get_visible() for t in ax.get_xticklabels())
    assert [t.get_text() for t in strip.get_yticklabels()] == [
        "coverage\n0–1.1"
    ]
    assert [t.get_text() for t in strip.texts] == [
        "0.80",
        "0.80",
        "1.10",
        "0.30",
    ]
    assert [t.get_position()[0] for t in strip.texts] == [0, 1, 2, 3]


def test_values_outside_unit_interval_widen_the_scale():
    ax = plot_attention(
        WEIGHTS,
        SOURCE,
        TARGET,
        output_values={"p_gen": P_GEN, "log_prob": [-0.5, -2.0, -12.5]},
        source_values={"shift": [-1.0, 0.0, 0.0, 0.0]},
    )
    right, bottom = _strips(ax)

    assert [image.get_clim() for image in right.images] == [
        (0.0, 1.0),
        (-12.5, 1.0),
    ]
    assert [t.get_text() for t in right.get_xticklabels()] == [
        "p_gen\n0–1",
        "log_prob\n-12.5–1",
    ]
    assert [t.get_text() for t in right.texts][3:] == [
        "-0.50",
        "-2.00",
        "-12.5",
    ]
    # All-zero maximum: the scale runs from the minimum to 0.
    assert bottom.images[0].get_clim() == (-1.0, 0.0)


def test_long_outputs_show_colours_without_numbers():
    num_target = 200
    target = [f"out{i}" for i in range(num_target)]
    p_gen = np.linspace(0.0, 1.0, num_target)

    ax = plot_attention(
        np.full((num_target, 4), 0.25),
        SOURCE,
        target,
        output_values={"p_gen": p_gen},
    )
    strip, _ = _strips(ax)

    np.testing.assert_allclose(
        strip.images[0].get_array()[:, 0], p_gen, rtol=1e-6
    )
    assert not strip.texts


def test_marked_outputs_get_bold_red_labels_and_a_note():
    ax = plot_attention(
        WEIGHTS, SOURCE, TARGET, marked_outputs=[True, False, True]
    )
    figure = ax.figure
    figure.canvas.draw()

    labels = ax.get_yticklabels()
    assert [label.get_text() for label in labels] == TARGET
    assert [label.get_fontweight() for label in labels] == [
        "bold",
        "normal",
        "bold",
    ]
    colors = [matplotlib.colors.to_hex(label.get_color()) for label in labels]
    assert colors[0] == colors[2] == "#d62728"
    assert colors[1] != "#d62728"
    assert ax.get_ylabel() == "Generated tokens (bold: copied)"
    assert plot_attention(WEIGHTS, SOURCE, TARGET).get_ylabel() == (
        "Generated tokens"
    )

    marked = attention_to_image(
        WEIGHTS, SOURCE, TARGET, marked_outputs=[True, False, True]
    )
    plain = attention_to_image(WEIGHTS, SOURCE, TARGET)
    assert _red_pixels(plain) == 0
    assert _red_pixels(marked) > 20


def test_accepts_tensors_and_bytes_labels():
    ax = plot_attention(
        WEIGHTS,
        SOURCE,
        TARGET,
        output_values={b"p_gen": keras.ops.convert_to_tensor(P_GEN)},
        marked_outputs=keras.ops.convert_to_tensor([True, False, False]),
    )
    strip, _ = _strips(ax)

    assert strip.get_xticklabels()[0].get_text().startswith("p_gen\n")
    assert ax.get_yticklabels()[0].get_fontweight() == "bold"


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (
            {"output_values": {"p_gen": [0.1, 0.2]}},
            r"`output_values\['p_gen'\]` must hold one value per token of "
            r"`target_tokens`: 3 values\. Received: "
            r"len\(output_values\['p_gen'\]\)=2",
        ),
        (
            {"source_values": {"coverage": [0.1, 0.2, 0.3, 0.4, 0.5]}},
            r"`source_values\['coverage'\]` must hold one value per token "
            r"of `source_tokens`: 4 values\. Received: "
            r"len\(source_values\['coverage'\]\)=5",
        ),
        (
            {"output_values": {"p_gen": np.ones((3, 1))}},
            r"3 values\. Received: output_values\['p_gen'\]\.shape=\(3, 1\)",
        ),
        (
            {"marked_outputs": [True, False]},
            r"`marked_outputs` must hold one bool per token of "
            r"`target_tokens`: 3 values\. Received: len\(marked_outputs\)=2",
        ),
        (
            {"output_values": [0.1, 0.2, 0.3]},
            r"`output_values` must be a dict.*Received: output_values=\[",
        ),
        (
            {"output_values": {"p_gen": [0.1, np.nan, 0.3]}},
            r"`output_values\['p_gen'\]` must hold finite numbers",
        ),
        (
            {"source_values": {"": [1, 2, 3, 4]}},
            r"labels of `source_values` must be non-empty",
        ),
        (
            {"output_values": {"p": [0, 0, 0], b"p": [1, 1, 1]}},
            r"labels of `output_values` must be distinct as text\. "
            r"Received: labels \['p', b'p'\]",
        ),
        (
            {"marked_outputs": [0.5, 1, 0]},
            r"`marked_outputs` must hold bools \(or 0 and 1\)\. Received: "
            r"marked_outputs=\[0\.5, 1\.0, 0\.0\]",
        ),
        (
            {"marked_outputs": "yes"},
            r"`marked_outputs` must be a sequence of bools",
        ),
    ],
)
def test_invalid_values_and_marks_raise(kwargs, message):
    with pytest.raises(ValueError, match=message):
        plot_attention(WEIGHTS, SOURCE, TARGET, **kwargs)
    with pytest.raises(ValueError, match=message):
        attention_to_image(WEIGHTS, SOURCE, TARGET, **kwargs)


def test_values_match_cropped_tokens_not_padded_weights():
    padded = np.zeros((5, 7), "float32")
    padded[:3, :4] = WEIGHTS

    ax = plot_attention(
        padded,
        SOURCE,
        TARGET,
        output_values={"p_gen": P_GEN},
        source_values={"coverage": COVERAGE},
    )

    right, bottom = _strips(ax)
    assert right.images[0].get_array().shape == (3, 1)
    assert bottom.images[0].get_array().shape == (1, 4)
    with pytest.raises(ValueError, match=r"3 values\. Received: len.*=5"):
        plot_attention(
            padded, SOURCE, TARGET, output_values={"p_gen": np.ones(5)}
        )
