"""Image attention maps drawn over the picture, one panel per word.

The panels of Xu et al. (2015, figures 2 and 3): the picture in the first
panel (titled with the title, or "image"), then for every generated word
the picture with the attention of that decoding step over the grid of
image regions (e.g. the 14 x 14 cells of a CNN feature map) upsampled
bilinearly to the picture's size and blended over it, titled with the
word. Panel pixels are `(1 - alpha) * picture + alpha * cmap(map / peak)`
(with the default `"gray"` colormap the most attended pixels are
whitened, unattended ones darkened). With `scale="caption"` (the default)
`peak` is the largest weight of the whole caption: every panel is on one
absolute scale, shown by a colour bar under the panels with the level of
uniform attention (`1 / L` over `L` cells) marked, so a word that looks
everywhere shows as an even wash, not a spotlight. With `scale="word"`
each map is scaled by its own maximum, as in the paper's figures (a
nearly flat map then looks as peaked as a sharp one). Upsampling and
blending happen in NumPy, so the pixels do not depend on Matplotlib's
renderer; Matplotlib (imported on the first drawing, never through
`pyplot`) only lays out the panels, titles and colour bar.

With an `alignment`, the reference cells of each word (e.g. the cells of
the box of the object the word names) are outlined on its panel, one
`matplotlib.patches.Rectangle` per cell along the cell's edges, in the
colour `plot_attention` uses for reference cells.

References:
    - [Xu et al., 2015](https://arxiv.org/abs/1502.03044), "Show, Attend
      and Tell: Neural Image Caption Generation with Visual Attention",
      section 5.4 and figures 2-3 (the attention weights `alpha_ti` of
      equations 4-5, one per image location `i`).
"""

import math
import numbers

import numpy as np

from keras_attention._optional import import_optional
from keras_attention.visualization import _checks
from keras_attention.visualization import _figure
from keras_attention.visualization.attention_sample import AttentionSample

_FEATURE = "plot_image_attention"
_PANEL_INCHES = 2.0
# Room above each panel for its title.
_TITLE_INCHES = 0.35
# Panels of very thin pictures keep at least this height (and at most this
# multiple of the width) so that titles and panels stay readable.
_MIN_ASPECT = 0.25
_MAX_ASPECT = 4.0
# Long captions shrink the panels so that the figure stays at most this
# many inches wide and high (2400 pixels at the default dpi).
_MAX_FIGURE_SIDE = 24.0
# Room under the panels for the colour bar of `scale="caption"`.
_COLORBAR_INCHES = 0.7
SCALES = ("caption", "word")


def _upsample_bilinear(grid_values, height, width):
    """Bilinear resize of a `[h, w]` map to `[height, width]`.

    Pixel centres are mapped onto the grid with half-pixel offsets (the
    convention of `tf.image.resize`, OpenCV and Pillow): output pixel `i`
    samples the grid at `(i + 0.5) * h / height - 0.5`, clamped to the
    outermost cell centres. So a 2 x 2 map upsampled to 4 x 4 repeats
    each corner value in the corner pixel and interpolates in between.
    """

    def interpolation_matrix(source_size, target_size):
        positions = (np.arange(target_size) + 0.5) * (
            source_size / target_size
        ) - 0.5
        positions = np.clip(positions, 0.0, source_size - 1)
        lower = np.floor(positions).astype(int)
        upper = np.minimum(lower + 1, source_size - 1)
        fraction = positions - lower
        matrix = np.zeros((target_size, source_size))
        rows = np.arange(target_size)
        np.add.at(matrix, (rows, lower), 1.0 - fraction)
        np.add.at(matrix, (rows, upper), fraction)
        return matrix

    grid_values = np.asarray(grid_values, dtype=np.float64)
    rows = interpolation_matrix(grid_values.shape[0], height)
    columns = interpolation_matrix(grid_values.shape[1], width)
    return rows @ grid_values @ columns.T


def _blend(picture, attention_map, alpha, colormap, peak):
    """`picture` with `colormap(attention_map / peak)` blended over it.

    Weights of `peak` take the top colour of the colormap and pixels
    without attention the bottom one.
    """
    scaled = (
        np.clip(attention_map / peak, 0.0, 1.0)
        if peak > 0
        else np.zeros_like(attention_map)
    )
    overlay = colormap(scaled)[..., :3]
    blended = (1.0 - alpha) * picture + alpha * overlay
    return np.clip(np.round(blended * 255.0), 0, 255).astype(np.uint8)


def _check_arguments(columns, alpha, dpi, scale):
    if scale not in SCALES:
        raise ValueError(
            f"`scale` must be one of {SCALES} (one scale for the caption, "
            f"or each word's own). Received: scale={scale!r}"
        )
    _checks.check_positive_int("columns", columns, " (panels per row)")
    if (
        isinstance(alpha, bool)
        or not isinstance(alpha, numbers.Real)
        or not 0.0 <= alpha <= 1.0
    ):
        raise ValueError(
            "`alpha` must be a number in [0, 1] (the opacity of the "
            f"attention map). Received: alpha={alpha!r}"
        )
    if not dpi > 0:
        raise ValueError(f"`dpi` must be > 0. Received: dpi={dpi}")


def _image_sample(image, attention, words, grid_shape, alignment):
    """The image `AttentionSample` that the panels draw.

    `image` is an `AttentionSample` (then nothing else may be given) or the
    picture, converted with the other arguments by
    `AttentionSample.from_dict` under their argument names.
    """
    fields = {
        "attention": attention,
        "words": words,
        "grid_shape": grid_shape,
        "alignment": alignment,
    }
    if not isinstance(image, AttentionSample):
        return AttentionSample.from_dict({"image": image, **fields})
    given = sorted(key for key, value in fields.items() if value is not None)
    if given:
        raise ValueError(
            "Pass either an `AttentionSample` or `image` with the words and "
            "arrays, not both. Received: an AttentionSample and "
            f"{given}"
        )
    if image.image is None:
        raise ValueError(
            "Image panels draw image samples; draw a token sample with "
            "`plot_attention`. Received: a sample without `image`"
        )
    return image


def _layout(picture, num_panels, columns, scale):
    """`(rows, columns, figsize, panel_width_inches)` of the panel grid."""
    columns = min(columns, num_panels)
    rows = math.ceil(num_panels / columns)
    height, width = picture.shape[:2]
    aspect = min(max(height / width, _MIN_ASPECT), _MAX_ASPECT)
    figure_width = columns * _PANEL_INCHES
    figure_height = rows * (_PANEL_INCHES * aspect + _TITLE_INCHES)
    if scale == "caption":
        figure_height += _COLORBAR_INCHES
    scale = min(
        1.0,
        _MAX_FIGURE_SIDE / figure_width,
        _MAX_FIGURE_SIDE / figure_height,
    )
    return (
        rows,
        columns,
        (figure_width * scale, figure_height * scale),
        _PANEL_INCHES * scale,
    )


def _draw_colorbar(figure, axes, colormap, peak, num_cells):
    """A colour bar under `axes` from 0 to `peak`, uniform attention marked."""
    matplotlib = import_optional("matplotlib", _FEATURE)
    mappable = matplotlib.cm.ScalarMappable(
        norm=matplotlib.colors.Normalize(0.0, peak), cmap=colormap
    )
    bar = figure.colorbar(
        mappable, ax=axes, location="bottom", shrink=0.8, aspect=40
    )
    uniform = 1.0 / num_cells
    bar.set_ticks(sorted({0.0, peak, *([uniform] if uniform < peak else [])}))
    bar.set_label(
        f"attention weight (uniform over {num_cells} cells: {uniform:.3g})"
    )
    return bar


def _draw_panels(figure, sample, layout, alpha, cmap, title, scale):
    matplotlib = import_optional("matplotlib", _FEATURE)
    colormap = matplotlib.colormaps.get_cmap(cmap)
    rows, columns, _, panel_inches = layout
    picture = sample.image
    height, width = picture.shape[:2]
    grid = sample.grid_shape

    def panel(index, pixels, panel_title):
        ax = figure.add_subplot(rows, columns, index + 1)
        ax.imshow(pixels)
        ax.set_axis_off()
        # `parse_math=False`: words such as "$5" must show verbatim.
        ax.set_title(panel_title, parse_math=False)
        return ax

    pixels = np.round(picture * 255.0).astype(np.uint8)
    title = sample.title_text(title)
    axes = [panel(0, pixels, "image" if title is None else title)]
    caption_peak = float(np.max(sample.attention, initial=0.0))
    for step, label in enumerate(sample.output_tokens):
        attention_map = _upsample_bilinear(
            sample.attention[step].reshape(grid), height, width
        )
        peak = caption_peak if scale == "caption" else np.max(attention_map)
        ax = panel(
            step + 1,
            _blend(picture, attention_map, alpha, colormap, float(peak)),
            label,
        )
        axes.append(ax)
        alignment = sample.alignment
        if alignment is not None and alignment[step].any():
            _figure.draw_outlines(
                ax,
                alignment[step].reshape(grid),
                cmap,
                cell_points=72.0 * panel_inches / max(grid[1], 1),
                cell_width=width / grid[1],
                cell_height=height / grid[0],
            )
    if scale == "caption" and caption_peak > 0:
        _draw_colorbar(figure, axes, colormap, caption_peak, grid[0] * grid[1])


def plot_image_attention(
    image,
    attention=None,
    words=None,
    grid_shape=None,
    columns=5,
    alpha=0.6,
    cmap="gray",
    alignment=None,
    title=None,
    dpi=100,
    scale="caption",
):
    """Draws where an image captioner looked for every generated word.

    Takes an image `AttentionSample`, or its arrays as arguments; draws the
    panels described in the module docstring, in rows of `columns`. The
    figure is a `matplotlib.figure.Figure` with an Agg canvas, made without
    `pyplot` (the user's backend is untouched); save it with
    `figure.savefig(...)`.

    Args:
        image: An image `AttentionSample` (then leave `attention`, `words`,
            `grid_shape` and `alignment` `None`), or the picture,
            `[height, width, 3]` RGB: `uint8` (or any integer type) in
            `[0, 255]`, or float, read as `[0, 1]` when its maximum is at
            most 1 and as `[0, 255]` otherwise.
        attention: One sample's attention weights of one head, `[T, L]`
            over `L = h * w` image cells in row-major order, or `[T, h, w]`;
            a NumPy array or backend tensor. Row `t` is the attention used
            to generate `words[t]`; rows beyond `len(words)` (decoder
            padding) are cropped.
        words: The `T` generated words, `str` or UTF-8 `bytes` (the
            sample's `output_tokens`).
        grid_shape: `(h, w)` of the attention grid for `[T, L]` attention.
            When `None` it is inferred as `(sqrt(L), sqrt(L))`, which needs
            `L` to be a perfect square.
        columns: Panels per row; must be a positive integer.
        alpha: Opacity of the attention map over the picture, in `[0, 1]`.
        cmap: Matplotlib colormap name or object for the attention maps.
        alignment: Optional reference cells, `[T, L]` or `[T, h, w]`, bool
            or numeric (nonzero = reference), cropped like `attention`.
        title: Title of the picture panel (replacing the sample's);
            `"image"` when there is none.
        dpi: Pixels per inch of the figure; must be > 0.
        scale: `"caption"`: every panel from 0 to the caption's largest
            weight, with a colour bar; `"word"`: each panel from 0 to its
            own largest weight (the paper's figures), no colour bar.

    Returns:
        The `matplotlib.figure.Figure`. `figure.axes[0]` holds the picture
        and `figure.axes[t + 1]` the panel of `words[t]`; with
        `scale="caption"` the colour bar's axes come last.

    Example:

    ```python
    image = np.zeros((64, 64, 3), dtype="uint8")
    attention = np.full((2, 16), 1 / 16)  # two words over a 4 x 4 grid
    figure = plot_image_attention(image, attention, ["a", "cat"])
    figure.savefig("attention.png")
    ```
    """
    _check_arguments(columns, alpha, dpi, scale)
    sample = _image_sample(image, attention, words, grid_shape, alignment)
    layout = _layout(
        sample.image, len(sample.output_tokens) + 1, columns, scale
    )
    figure, _ = _figure.new_figure(layout[2], dpi=dpi, feature=_FEATURE)
    _draw_panels(figure, sample, layout, alpha, cmap, title, scale)
    return figure


def image_attention_to_image(
    image,
    attention=None,
    words=None,
    grid_shape=None,
    columns=5,
    alpha=0.6,
    cmap="gray",
    alignment=None,
    title=None,
    dpi=100,
    scale="caption",
):
    """Renders the panels of `plot_image_attention` to an RGB image array.

    Same panels, arguments and validation as `plot_image_attention`; the
    figure is discarded after rendering. Each panel is 2 inches wide (200
    pixels at the default `dpi`), smaller when the figure would exceed 24
    inches on a side.

    Args:
        image: An image `AttentionSample`, or the `[height, width, 3]`
            picture, see `plot_image_attention`.
        attention: `[T, L]` or `[T, h, w]` attention weights.
        words: The `T` generated words (`str` or `bytes`).
        grid_shape: `(h, w)` of the grid of `[T, L]` attention, or `None`
            to infer a square grid.
        columns: Panels per row.
        alpha: Opacity of the attention maps, in `[0, 1]`.
        cmap: Matplotlib colormap of the attention maps.
        alignment: Optional `[T, L]` or `[T, h, w]` reference cells to
            outline.
        title: Title of the picture panel (`"image"` when there is none).
        dpi: Pixels per inch of the rendered image; must be > 0.
        scale: `"caption"` (one scale and a colour bar) or `"word"` (each
            panel by its own maximum).

    Returns:
        A `uint8` NumPy array of shape `[height, width, 3]` (RGB), ready
        for `tf.summary.image` after adding a batch axis.

    Example:

    ```python
    pixels = image_attention_to_image(
        np.zeros((64, 64, 3), "uint8"), np.full((1, 4), 0.25), ["cat"]
    )
    pixels.dtype, pixels.shape[-1]  # (dtype('uint8'), 3)
    ```
    """
    _check_arguments(columns, alpha, dpi, scale)
    sample = _image_sample(image, attention, words, grid_shape, alignment)
    layout = _layout(
        sample.image, len(sample.output_tokens) + 1, columns, scale
    )
    figure, canvas = _figure.new_figure(layout[2], dpi=dpi, feature=_FEATURE)
    return _figure.render_to_array(
        figure,
        canvas,
        lambda figure: _draw_panels(
            figure, sample, layout, alpha, cmap, title, scale
        ),
    )
