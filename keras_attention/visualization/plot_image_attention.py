"""Image attention maps drawn over the picture, one panel per word.

The panels of Xu et al. (2015, figures 2 and 3): for every generated word,
the picture with the attention of that decoding step over the grid of
image regions (e.g. the 14 x 14 cells of a CNN feature map) upsampled to
the picture's size and blended over it. Upsampling and blending happen in
NumPy, so the pixels do not depend on Matplotlib's renderer; Matplotlib
(imported on the first drawing) only lays out the panels and titles.
"""

import math
import numbers

import numpy as np

from keras_attention._optional import import_optional
from keras_attention.visualization.plot_attention import _draw_outlines
from keras_attention.visualization.plot_attention import _new_figure
from keras_attention.visualization.plot_attention import _render_to_array
from keras_attention.visualization.plot_attention import _to_numpy
from keras_attention.visualization.plot_attention import _tokens_to_text

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


def _image_to_unit_float(image, argument_name="image"):
    """`image` as a float32 `[height, width, 3]` array in `[0, 1]`.

    Integer images hold values in `[0, 255]`. Float images are read as
    `[0, 1]` when their maximum is at most 1, else as `[0, 255]`.
    """
    image = _to_numpy(image)
    if image.ndim != 3 or image.shape[-1] != 3 or 0 in image.shape:
        raise ValueError(
            f"`{argument_name}` must be an RGB picture of shape [height, "
            f"width, 3]. Received: {argument_name}.shape="
            f"{tuple(image.shape)}"
        )
    if image.dtype.kind in "iu":
        if image.min() < 0 or image.max() > 255:
            raise ValueError(
                f"An integer `{argument_name}` must hold values in [0, 255]. "
                f"Received: min={image.min()}, max={image.max()}"
            )
        return image.astype(np.float32) / 255.0
    if image.dtype.kind in "bOSUMm":
        raise ValueError(
            f"`{argument_name}` must hold integer or float values. "
            f"Received: dtype={image.dtype}"
        )
    if image.dtype.kind != "f":
        # Floats outside NumPy's own kinds (e.g. bfloat16) convert exactly.
        try:
            image = image.astype(np.float32)
        except (TypeError, ValueError) as error:
            raise ValueError(
                f"`{argument_name}` must hold integer or float values. "
                f"Received: dtype={image.dtype}"
            ) from error
    image = image.astype(np.float32)
    if not np.all(np.isfinite(image)) or image.min() < 0 or image.max() > 255:
        raise ValueError(
            f"A float `{argument_name}` must hold finite values in [0, 1] "
            f"(or [0, 255]). Received: min={image.min()}, max={image.max()}"
        )
    if image.max() > 1.0:
        image = image / 255.0
    return image


def _check_grid_shape(grid_shape):
    if grid_shape is None:
        return None
    try:
        height, width = grid_shape
    except (TypeError, ValueError):
        height = width = None
    if not all(
        isinstance(side, numbers.Integral)
        and not isinstance(side, bool)
        and side > 0
        for side in (height, width)
    ):
        raise ValueError(
            "`grid_shape` must be a pair of positive integers (h, w), the "
            f"rows and columns of the attention grid. Received: "
            f"grid_shape={grid_shape!r}"
        )
    return int(height), int(width)


def _attention_grid(attention, grid_shape, num_steps):
    """Flat `[num_steps, h * w]` attention weights and the grid `(h, w)`.

    Args:
        attention: `[T, L]` with `L = h * w`, or `[T, h, w]`; rows beyond
            `num_steps` are cropped.
        grid_shape: `(h, w)` or `None`; for `[T, L]` attention it is then
            inferred as `(sqrt(L), sqrt(L))` when `L` is a perfect square.
        num_steps: Number of generated words.

    Returns:
        `(weights, (h, w))` with `weights` a float32 array whose row `t`
        is step `t`'s attention over the cells in row-major order.
    """
    attention = _to_numpy(attention)
    grid_shape = _check_grid_shape(grid_shape)
    if attention.ndim == 3:
        grid = tuple(int(side) for side in attention.shape[1:])
        if grid_shape is not None and grid_shape != grid:
            raise ValueError(
                "`grid_shape` must match the last two axes of a [T, h, w] "
                f"`attention`. Received: grid_shape={grid_shape} and "
                f"attention.shape={tuple(attention.shape)}"
            )
        attention = attention.reshape(attention.shape[0], -1)
    elif attention.ndim == 2:
        num_cells = attention.shape[1]
        if grid_shape is not None:
            grid = grid_shape
            if grid[0] * grid[1] != num_cells:
                raise ValueError(
                    "`grid_shape` (h, w) must have h * w equal to the L "
                    "attended cells of a [T, L] `attention`. Received: "
                    f"grid_shape={grid_shape} and "
                    f"attention.shape={tuple(attention.shape)}"
                )
        else:
            side = math.isqrt(num_cells)
            if num_cells == 0 or side * side != num_cells:
                raise ValueError(
                    "The attention grid of a [T, L] `attention` can only be "
                    "inferred when L is a perfect square; pass "
                    "`grid_shape=(h, w)` with h * w == L. Received: "
                    f"attention.shape={tuple(attention.shape)}"
                )
            grid = (side, side)
    else:
        raise ValueError(
            "`attention` must have shape [T, L] (L = h * w cells in "
            "row-major order) or [T, h, w]: one sample, one head (average "
            "or pick heads before plotting). Received: "
            f"attention.shape={tuple(attention.shape)}"
        )
    if 0 in grid:
        raise ValueError(
            "`attention` must attend to at least one cell. Received: "
            f"grid {grid}"
        )
    if attention.shape[0] < num_steps:
        raise ValueError(
            f"`attention` must have a row for each of the {num_steps} "
            "words (extra rows are cropped). Received: "
            f"{attention.shape[0]} rows"
        )
    attention = attention[:num_steps].astype(np.float32)
    if not np.all(np.isfinite(attention)) or np.any(attention < 0):
        raise ValueError(
            "`attention` must hold finite, non-negative weights. Received: "
            f"min={np.min(attention)}, max={np.max(attention)}"
        )
    return attention, grid


def _flatten_cells(values, grid, argument_name):
    """A `[T, h * w]` view of `[T, h * w]` or `[T, h, w]` per-cell values."""
    values = _to_numpy(values)
    height, width = grid
    if values.ndim == 3 and tuple(values.shape[1:]) == (height, width):
        return values.reshape(values.shape[0], height * width)
    if values.ndim == 2 and values.shape[1] == height * width:
        return values
    raise ValueError(
        f"`{argument_name}` must have shape [T, {height * width}] or "
        f"[T, {height}, {width}], laid out like the attention grid "
        f"{grid}. Received: {argument_name}.shape={tuple(values.shape)}"
    )


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


def _blend(picture, attention_map, alpha, colormap):
    """`picture` with `colormap(attention_map / max)` blended over it.

    Each map is scaled by its own maximum, as in the figures of the paper:
    the most attended pixels take the top colour of the colormap and pixels
    without attention the bottom one.
    """
    peak = float(np.max(attention_map))
    scaled = attention_map / peak if peak > 0 else np.zeros_like(attention_map)
    overlay = colormap(scaled)[..., :3]
    blended = (1.0 - alpha) * picture + alpha * overlay
    return np.clip(np.round(blended * 255.0), 0, 255).astype(np.uint8)


def _check_arguments(columns, alpha, dpi):
    if (
        isinstance(columns, bool)
        or not isinstance(columns, numbers.Integral)
        or columns < 1
    ):
        raise ValueError(
            "`columns` must be a positive integer (panels per row). "
            f"Received: columns={columns!r}"
        )
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


def _prepare(image, attention, words, grid_shape, alignment):
    labels = _tokens_to_text(words, "words")
    picture = _image_to_unit_float(image)
    weights, grid = _attention_grid(attention, grid_shape, len(labels))
    if alignment is not None:
        alignment = _flatten_cells(alignment, grid, "alignment")
        if alignment.shape[0] < len(labels):
            raise ValueError(
                f"`alignment` must have a row for each of the {len(labels)} "
                "words (extra rows are cropped, like `attention`). "
                f"Received: alignment.shape={tuple(alignment.shape)}"
            )
        alignment = np.asarray(alignment[: len(labels)] != 0)
    return picture, weights, grid, labels, alignment


def _layout(picture, num_panels, columns):
    """`(rows, columns, figsize, panel_width_inches)` of the panel grid."""
    columns = min(columns, num_panels)
    rows = math.ceil(num_panels / columns)
    height, width = picture.shape[:2]
    aspect = min(max(height / width, _MIN_ASPECT), _MAX_ASPECT)
    figure_width = columns * _PANEL_INCHES
    figure_height = rows * (_PANEL_INCHES * aspect + _TITLE_INCHES)
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


def _draw_panels(
    figure,
    picture,
    weights,
    grid,
    labels,
    alignment,
    layout,
    alpha,
    cmap,
    title,
):
    matplotlib = import_optional("matplotlib", _FEATURE)
    colormap = matplotlib.colormaps.get_cmap(cmap)
    rows, columns, _, panel_inches = layout
    height, width = picture.shape[:2]

    def panel(index, pixels, panel_title):
        ax = figure.add_subplot(rows, columns, index + 1)
        ax.imshow(pixels)
        ax.set_axis_off()
        # `parse_math=False`: words such as "$5" must show verbatim.
        ax.set_title(panel_title, parse_math=False)
        return ax

    pixels = np.round(picture * 255.0).astype(np.uint8)
    panel(0, pixels, "image" if title is None else str(title))
    for step, label in enumerate(labels):
        attention_map = _upsample_bilinear(
            weights[step].reshape(grid), height, width
        )
        ax = panel(
            step + 1, _blend(picture, attention_map, alpha, colormap), label
        )
        if alignment is not None and alignment[step].any():
            _draw_outlines(
                ax,
                alignment[step].reshape(grid),
                cmap,
                cell_points=72.0 * panel_inches / max(grid[1], 1),
                cell_width=width / grid[1],
                cell_height=height / grid[0],
            )


def plot_image_attention(
    image,
    attention,
    words,
    grid_shape=None,
    columns=5,
    alpha=0.6,
    cmap="gray",
    alignment=None,
    title=None,
    dpi=100,
):
    """Draws where an image captioner looked for every generated word.

    The figure shows the picture in its first panel (titled `title`, or
    "image"), then one panel per word, titled with the word: the picture
    with that step's attention map over the grid of image regions
    upsampled bilinearly to the picture's size and blended over it, as in
    figures 2 and 3 of Xu et al. (2015). Each map is scaled by its own
    maximum and coloured with `cmap` (with the default `"gray"` the most
    attended pixels are whitened, unattended ones darkened); panel pixels
    are `(1 - alpha) * picture + alpha * cmap(map / max(map))`, computed in
    NumPy. Panels fill rows of `columns`.

    With `alignment`, the reference cells of each word (e.g. the cells of
    the box of the object the word names) are outlined on its panel, one
    `matplotlib.patches.Rectangle` per cell along the cell's edges, in the
    colour `plot_attention` uses for reference cells.

    The figure is a `matplotlib.figure.Figure` with an Agg canvas, made
    without `pyplot` (the user's backend is untouched); save it with
    `figure.savefig(...)`.

    Args:
        image: The picture, `[height, width, 3]` RGB: `uint8` (or any
            integer type) in `[0, 255]`, or float. Floats are read as
            `[0, 1]` when their maximum is at most 1 and as `[0, 255]`
            otherwise.
        attention: One sample's attention weights of one head, `[T, L]`
            over `L = h * w` image cells in row-major order, or `[T, h, w]`;
            a NumPy array or backend tensor. Row `t` is the attention used
            to generate `words[t]`; rows beyond `len(words)` (decoder
            padding) are cropped.
        words: The `T` generated words, `str` or UTF-8 `bytes`.
        grid_shape: `(h, w)` of the attention grid for `[T, L]` attention.
            When `None` it is inferred as `(sqrt(L), sqrt(L))`, which needs
            `L` to be a perfect square.
        columns: Panels per row; must be a positive integer.
        alpha: Opacity of the attention map over the picture, in `[0, 1]`.
        cmap: Matplotlib colormap name or object for the attention maps.
        alignment: Optional reference cells, `[T, L]` or `[T, h, w]`, bool
            or numeric (nonzero = reference), cropped like `attention`.
        title: Title of the picture panel; `"image"` when `None`.
        dpi: Pixels per inch of the figure; must be > 0.

    Returns:
        The `matplotlib.figure.Figure`. `figure.axes[0]` holds the picture
        and `figure.axes[t + 1]` the panel of `words[t]`.

    Example:

    ```python
    image = np.zeros((64, 64, 3), dtype="uint8")
    attention = np.full((2, 16), 1 / 16)  # two words over a 4 x 4 grid
    figure = plot_image_attention(image, attention, ["a", "cat"])
    figure.savefig("attention.png")
    ```

    References:
        - [Xu et al., 2015](https://arxiv.org/abs/1502.03044), "Show,
          Attend and Tell: Neural Image Caption Generation with Visual
          Attention", section 5.4 and figures 2-3 (the attention weights
          `alpha_ti` of equations 4-5, one per image location `i`).
    """
    _check_arguments(columns, alpha, dpi)
    picture, weights, grid, labels, alignment = _prepare(
        image, attention, words, grid_shape, alignment
    )
    layout = _layout(picture, len(labels) + 1, columns)
    figure, _ = _new_figure(layout[2], dpi=dpi, feature=_FEATURE)
    _draw_panels(
        figure,
        picture,
        weights,
        grid,
        labels,
        alignment,
        layout,
        alpha,
        cmap,
        title,
    )
    return figure


def image_attention_to_image(
    image,
    attention,
    words,
    grid_shape=None,
    columns=5,
    alpha=0.6,
    cmap="gray",
    alignment=None,
    title=None,
    dpi=100,
):
    """Renders the panels of `plot_image_attention` to an RGB image array.

    Same panels, arguments and validation as `plot_image_attention`; the
    figure is discarded after rendering. Each panel is 2 inches wide (200
    pixels at the default `dpi`), smaller when the figure would exceed 24
    inches on a side.

    Args:
        image: `[height, width, 3]` picture, see `plot_image_attention`.
        attention: `[T, L]` or `[T, h, w]` attention weights.
        words: The `T` generated words (`str` or `bytes`).
        grid_shape: `(h, w)` of the grid of `[T, L]` attention, or `None`
            to infer a square grid.
        columns: Panels per row.
        alpha: Opacity of the attention maps, in `[0, 1]`.
        cmap: Matplotlib colormap of the attention maps.
        alignment: Optional `[T, L]` or `[T, h, w]` reference cells to
            outline.
        title: Title of the picture panel (`"image"` when `None`).
        dpi: Pixels per inch of the rendered image; must be > 0.

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

    References:
        - [Xu et al., 2015](https://arxiv.org/abs/1502.03044), "Show,
          Attend and Tell", figures 2-3.
    """
    _check_arguments(columns, alpha, dpi)
    picture, weights, grid, labels, alignment = _prepare(
        image, attention, words, grid_shape, alignment
    )
    layout = _layout(picture, len(labels) + 1, columns)
    figure, canvas = _new_figure(layout[2], dpi=dpi, feature=_FEATURE)
    return _render_to_array(
        figure,
        canvas,
        lambda figure: _draw_panels(
            figure,
            picture,
            weights,
            grid,
            labels,
            alignment,
            layout,
            alpha,
            cmap,
            title,
        ),
    )
