import sys

import keras
import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.patches import Rectangle

from keras_attention.visualization import image_attention_to_image
from keras_attention.visualization import plot_image_attention
from keras_attention.visualization.plot_image_attention import (
    _upsample_bilinear,
)

WORDS = ["a", "cat", "$5"]
# A mid-gray 8 x 12 picture: any structure in a panel comes from attention.
GRAY = np.full((8, 12, 3), 128, dtype="uint8")


def _one_hot(num_steps, grid, cells):
    """`[num_steps, h * w]` attention with all mass on `cells[t]`."""
    attention = np.zeros((num_steps, grid[0] * grid[1]), dtype="float32")
    for step, (row, column) in enumerate(cells):
        attention[step, row * grid[1] + column] = 1.0
    return attention


def _panel_pixels(figure, word_index):
    return np.asarray(figure.axes[word_index + 1].images[0].get_array())


def _cell_means(pixels, grid):
    """Mean brightness of each grid cell of a `[H, W, 3]` panel."""
    rows = np.array_split(pixels.astype(float).mean(-1), grid[0], axis=0)
    return np.array(
        [
            [cell.mean() for cell in np.array_split(row, grid[1], axis=1)]
            for row in rows
        ]
    )


def test_bilinear_upsampling_matches_hand_worked_examples():
    # 2 x 2 -> 4 x 4 with half-pixel centres: output pixel i samples the
    # grid at (i + 0.5) / 2 - 0.5 = -0.25, 0.25, 0.75, 1.25, clamped to
    # [0, 1], i.e. weights (1, 0), (3/4, 1/4), (1/4, 3/4), (0, 1) on the
    # two cells. Row 0 [0, 4] becomes [0, 1, 3, 4], row 1 [8, 12] becomes
    # [8, 9, 11, 12], and the middle rows mix them 3:1 and 1:3.
    grid = np.array([[0.0, 4.0], [8.0, 12.0]])
    expected = np.array(
        [
            [0.0, 1.0, 3.0, 4.0],
            [2.0, 3.0, 5.0, 6.0],
            [6.0, 7.0, 9.0, 10.0],
            [8.0, 9.0, 11.0, 12.0],
        ]
    )
    np.testing.assert_allclose(_upsample_bilinear(grid, 4, 4), expected)
    # 1 x 2 -> 1 x 3 samples at -1/6, 1/2, 7/6: [a, (a + b) / 2, b].
    np.testing.assert_allclose(
        _upsample_bilinear(np.array([[2.0, 6.0]]), 1, 3), [[2.0, 4.0, 6.0]]
    )
    np.testing.assert_allclose(
        _upsample_bilinear(np.array([[0.3]]), 2, 3), np.full((2, 3), 0.3)
    )


def test_panel_is_picture_blended_with_max_scaled_map():
    # A 2 x 2 grid over a 4 x 4 picture. With alpha=1 and the gray
    # colormap a panel is the upsampled map scaled to a maximum of 255
    # (the hand-worked example above, divided by its maximum 12); with
    # alpha=0 it is the picture itself.
    picture = np.random.default_rng(0).integers(0, 256, (4, 4, 3), "uint8")
    attention = np.array([[0.0, 4.0, 8.0, 12.0]]) / 24.0
    upsampled = np.array(
        [[0, 1, 3, 4], [2, 3, 5, 6], [6, 7, 9, 10], [8, 9, 11, 12]]
    )
    expected = np.repeat((upsampled / 12.0 * 255.0)[..., None], 3, axis=-1)

    opaque = plot_image_attention(picture, attention, ["x"], alpha=1.0)
    transparent = plot_image_attention(picture, attention, ["x"], alpha=0.0)
    half = plot_image_attention(picture, attention, ["x"], alpha=0.5)

    # The colormap has 256 levels, hence the tolerance of one level.
    np.testing.assert_allclose(_panel_pixels(opaque, 0), expected, atol=1.5)
    np.testing.assert_array_equal(_panel_pixels(transparent, 0), picture)
    np.testing.assert_allclose(
        _panel_pixels(half, 0), 0.5 * picture + 0.5 * expected, atol=1.5
    )


@pytest.mark.parametrize("cell", [(0, 0), (1, 2), (3, 1)])
def test_one_hot_attention_brightens_the_attended_cell(cell):
    grid = (4, 3)
    attention = _one_hot(1, grid, [cell])

    figure = plot_image_attention(GRAY, attention, ["x"], grid_shape=grid)

    means = _cell_means(_panel_pixels(figure, 0), grid)
    assert np.unravel_index(np.argmax(means), grid) == cell
    # Cells far from the attended one are darkened below the picture.
    assert means.min() < 128 < means.max()


def test_rendered_panels_show_where_each_word_looked():
    grid = (2, 2)
    cells = [(0, 1), (1, 0)]
    attention = _one_hot(2, grid, cells)
    figure = plot_image_attention(GRAY, attention, ["a", "b"], dpi=50)
    figure.canvas.draw()
    rendered = np.asarray(figure.canvas.buffer_rgba())[..., :3]
    height = rendered.shape[0]

    for word_index, cell in enumerate(cells):
        # Window extents count pixels from the bottom left.
        box = figure.axes[word_index + 1].get_window_extent()
        panel = rendered[
            height - int(box.y1) + 1 : height - int(box.y0) - 1,
            int(box.x0) + 1 : int(box.x1) - 1,
        ]
        means = _cell_means(panel, grid)
        assert np.unravel_index(np.argmax(means), grid) == cell

    # The array version renders the same figure.
    np.testing.assert_array_equal(
        image_attention_to_image(GRAY, attention, ["a", "b"], dpi=50),
        rendered,
    )


def test_panel_count_titles_and_rows():
    attention = np.full((3, 4), 0.25)

    figure = plot_image_attention(
        GRAY, attention, [b"a", "cat", "$5"], columns=2, title="sample 0"
    )

    assert isinstance(figure.canvas, FigureCanvasAgg)
    # 4 panels of 2 a row, then the colour bar.
    panels = figure.axes[:4]
    assert [ax.get_title() for ax in panels] == ["sample 0", *WORDS]
    assert {ax.get_subplotspec().get_geometry()[:2] for ax in panels} == {
        (2, 2)
    }
    assert len(figure.axes) == 5
    np.testing.assert_array_equal(figure.axes[0].images[0].get_array(), GRAY)
    untitled = plot_image_attention(GRAY, attention[:1], ["x"], scale="word")
    assert [ax.get_title() for ax in untitled.axes] == ["image", "x"]
    assert untitled.axes[0].get_subplotspec().get_geometry()[:2] == (1, 2)


def test_uint8_and_float_pictures_are_read_alike():
    picture = np.random.default_rng(1).integers(0, 256, (4, 6, 3), "uint8")
    attention = np.full((1, 4), 0.25)

    panels = [
        _panel_pixels(plot_image_attention(image, attention, ["x"]), 0)
        for image in (
            picture,
            picture / 255.0,
            picture.astype("float32"),
            keras.ops.convert_to_tensor(picture.astype("int32")),
        )
    ]

    for panel in panels[1:]:
        np.testing.assert_allclose(panel, panels[0], atol=1)


def test_grid_is_inferred_or_taken_from_shape():
    # [T, 9]: a 3 x 3 grid; [T, h, w]: the grid of the array.
    square = plot_image_attention(GRAY, _one_hot(1, (3, 3), [(2, 0)]), ["x"])
    assert np.unravel_index(
        np.argmax(_cell_means(_panel_pixels(square, 0), (3, 3))), (3, 3)
    ) == (2, 0)

    attention = _one_hot(1, (2, 3), [(1, 2)]).reshape(1, 2, 3)
    from_array = plot_image_attention(GRAY, attention, ["x"])
    with_shape = plot_image_attention(
        GRAY, attention.reshape(1, 6), ["x"], grid_shape=(2, 3)
    )
    np.testing.assert_array_equal(
        _panel_pixels(from_array, 0), _panel_pixels(with_shape, 0)
    )
    assert np.unravel_index(
        np.argmax(_cell_means(_panel_pixels(from_array, 0), (2, 3))), (2, 3)
    ) == (1, 2)


@pytest.mark.parametrize(
    "attention, grid_shape, message",
    [
        (np.ones((1, 6)) / 6, None, "perfect square"),
        (np.ones((1, 6)) / 6, (2, 2), r"h \* w equal to the L"),
        (np.ones((1, 2, 3)) / 6, (3, 2), "must match the last two axes"),
        (np.ones((1, 4)) / 4, (2, 0), "pair of positive integers"),
        (np.ones((1, 4)) / 4, 4, "pair of positive integers"),
        (np.ones(4) / 4, None, r"\[T, L\]"),
        (np.ones((1, 1, 2, 2)), None, r"\[T, h, w\]"),
        (np.ones((1, 0)), None, "perfect square"),
        (np.array([[0.5, 0.5, -0.5, 0.5]]), None, "non-negative"),
        (np.array([[np.nan, 0.5, 0.0, 0.5]]), None, "finite"),
    ],
)
def test_bad_attention_or_grid_raise(attention, grid_shape, message):
    with pytest.raises(ValueError, match=message):
        plot_image_attention(GRAY, attention, ["x"], grid_shape=grid_shape)


def test_extra_attention_rows_are_cropped():
    padded = np.random.default_rng(2).random((5, 4))

    figure = plot_image_attention(GRAY, padded, ["a", "b"])
    cropped = plot_image_attention(GRAY, padded[:2], ["a", "b"])

    # The picture, two panels and the colour bar.
    assert len(figure.axes) == 4
    for word_index in range(2):
        np.testing.assert_array_equal(
            _panel_pixels(figure, word_index),
            _panel_pixels(cropped, word_index),
        )
    with pytest.raises(ValueError, match="a row for each of the 3 words"):
        plot_image_attention(GRAY, padded[:2], WORDS)


def test_alignment_outlines_the_reference_cells_of_each_word():
    # 8 x 12 picture, 2 x 3 grid: cells are 4 pixels high, 4 wide.
    grid = (2, 3)
    attention = np.full((3, 6), 1 / 6)
    alignment = np.zeros((4, 2, 3), dtype=bool)  # one padded row
    alignment[0, 0, 0] = True
    alignment[2, 1, 1] = alignment[2, 1, 2] = True

    figure = plot_image_attention(
        GRAY, attention, WORDS, grid_shape=grid, alignment=alignment
    )

    panels = figure.axes[1:4]
    assert not figure.axes[0].patches
    assert [len(ax.patches) for ax in panels] == [1, 0, 2]
    assert all(isinstance(patch, Rectangle) for patch in panels[2].patches)
    corners = sorted(patch.get_xy() for patch in panels[2].patches)
    # Cells (1, 1) and (1, 2) start at pixel (x=4, y=4) and (x=8, y=4);
    # pixel edges lie half a unit before the pixel centres.
    assert corners == [(3.5, 3.5), (7.5, 3.5)]
    assert {
        (patch.get_width(), patch.get_height()) for patch in panels[2].patches
    } == {(4.0, 4.0)}
    assert panels[0].patches[0].get_xy() == (-0.5, -0.5)
    # Flat [T, L] alignments are the same cells.
    flat = plot_image_attention(
        GRAY,
        attention,
        WORDS,
        grid_shape=grid,
        alignment=alignment.reshape(4, 6),
    )
    assert [len(ax.patches) for ax in flat.axes[1:4]] == [1, 0, 2]


def test_rendered_alignment_draws_the_outline_colour():
    attention = np.full((1, 4), 0.25)
    alignment = np.array([[1, 0, 0, 0]])

    plain = image_attention_to_image(GRAY, attention, ["x"])
    outlined = image_attention_to_image(
        GRAY, attention, ["x"], alignment=alignment
    )

    assert plain.shape == outlined.shape

    # Magenta (the outline colour for the gray colormap) appears only with
    # the outline: strong red and blue, weak green.
    def magenta(pixels):
        pixels = pixels.astype(int)
        return np.sum(
            (pixels[..., 0] > 200)
            & (pixels[..., 2] > 200)
            & (pixels[..., 1] < 80)
        )

    assert magenta(plain) == 0
    assert magenta(outlined) > 10


@pytest.mark.parametrize(
    "alignment, message",
    [
        (np.ones((1, 3, 3)), r"\[T, 4\] or \[T, 2, 2\]"),
        (np.ones((1, 5)), r"\[T, 4\] or \[T, 2, 2\]"),
        (np.ones((0, 4)), "a row for each of the 1 words"),
    ],
)
def test_bad_alignment_raises(alignment, message):
    with pytest.raises(ValueError, match=message):
        plot_image_attention(
            GRAY, np.full((1, 4), 0.25), ["x"], alignment=alignment
        )


@pytest.mark.parametrize(
    "image, kwargs, message",
    [
        (np.zeros((8, 12)), {}, r"\[height, width, 3\]"),
        (np.zeros((8, 12, 4)), {}, r"\[height, width, 3\]"),
        (np.full((8, 12, 3), 256), {}, r"\[0, 255\]"),
        (np.full((8, 12, 3), -0.1), {}, "finite values"),
        (np.zeros((8, 12, 3), bool), {}, "integer or float"),
        (GRAY, {"columns": 0}, "`columns` must be a positive integer"),
        (GRAY, {"columns": 2.0}, "`columns` must be a positive integer"),
        (GRAY, {"alpha": 1.5}, r"`alpha` must be a number in \[0, 1\]"),
        (GRAY, {"dpi": 0}, "`dpi` must be > 0"),
    ],
)
def test_bad_image_or_arguments_raise(image, kwargs, message):
    with pytest.raises(ValueError, match=message):
        plot_image_attention(image, np.full((1, 4), 0.25), ["x"], **kwargs)
    with pytest.raises(ValueError, match=message):
        image_attention_to_image(image, np.full((1, 4), 0.25), ["x"], **kwargs)


def test_words_must_be_a_sequence_of_strings():
    with pytest.raises(ValueError, match="`words` must be a sequence"):
        plot_image_attention(GRAY, np.full((1, 4), 0.25), "cat")
    with pytest.raises(ValueError, match="`words` must contain at least"):
        plot_image_attention(GRAY, np.full((1, 4), 0.25), [])


def test_array_is_uint8_rgb_and_grows_with_dpi():
    attention = np.full((2, 4), 0.25)

    small = image_attention_to_image(GRAY, attention, ["a", "b"], dpi=40)
    large = image_attention_to_image(GRAY, attention, ["a", "b"], dpi=80)

    assert small.dtype == np.uint8 and small.ndim == 3
    assert small.shape[-1] == 3
    assert large.shape[0] == pytest.approx(2 * small.shape[0], abs=2)
    assert large.shape[1] == pytest.approx(2 * small.shape[1], abs=2)


def test_without_matplotlib_names_the_feature_and_extra(monkeypatch):
    for name in list(sys.modules):
        if name == "matplotlib" or name.startswith("matplotlib."):
            monkeypatch.setitem(sys.modules, name, None)
    with pytest.raises(ImportError) as info:
        plot_image_attention(GRAY, np.full((1, 4), 0.25), ["x"])
    assert "plot_image_attention needs `matplotlib`" in str(info.value)
    assert "keras-attention-zoo[plot]" in str(info.value)


def test_caption_scale_is_shared_and_word_scale_is_each_panels_own():
    # Word 0 looks everywhere (uniform over 4 cells); word 1 at one cell.
    attention = np.array([[0.25, 0.25, 0.25, 0.25], [0.0, 0.0, 0.0, 1.0]])
    picture = np.zeros((4, 4, 3), "uint8")
    shared = plot_image_attention(picture, attention, ["a", "b"], alpha=1.0)
    own = plot_image_attention(
        picture, attention, ["a", "b"], alpha=1.0, scale="word"
    )
    # One scale, 0 to the caption's largest weight (1.0): the uniform map
    # is an even quarter of white, not full white as on its own scale.
    np.testing.assert_allclose(_panel_pixels(shared, 0), 0.25 * 255, atol=1.5)
    np.testing.assert_allclose(_panel_pixels(own, 0), 255, atol=1.5)
    np.testing.assert_array_equal(
        _panel_pixels(shared, 1), _panel_pixels(own, 1)
    )
    # The colour bar: 0 to the peak, the uniform level 1/4 marked.
    colorbar = shared.axes[-1]
    assert list(colorbar.get_xticks()) == [0.0, 0.25, 1.0]
    assert "uniform over 4 cells: 0.25" in colorbar.get_xlabel()
    assert len(own.axes) == 3


def test_bad_scale_names_the_choices():
    with pytest.raises(ValueError, match="`scale` must be one of"):
        plot_image_attention(GRAY, np.full((1, 4), 0.25), ["x"], scale="max")
