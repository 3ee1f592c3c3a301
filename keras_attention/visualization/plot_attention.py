"""Attention heatmaps drawn with Matplotlib's Agg canvas.

Figures are built as `matplotlib.figure.Figure` objects attached to a
`FigureCanvasAgg` rather than through `pyplot`, so nothing here changes the
user's global Matplotlib backend or registers figures with `pyplot` (no
`plt.show()`, no leaked figures in notebooks or long training runs).
Matplotlib is imported on the first drawing, not with `keras_attention`.
"""

import math

import keras
import numpy as np

from keras_attention._optional import import_optional

_MIN_FONT_SIZE = 4.0
_MAX_FONT_SIZE = 10.0
# Glyphs of a rotated tick label need roughly this fraction of the space
# between neighbouring ticks to avoid overlapping.
_FONT_FILL_RATIO = 0.8
_INCHES_PER_TOKEN = 0.3
_MIN_FIGURE_WIDTH = 4.0
_MIN_FIGURE_HEIGHT = 3.0
_MAX_FIGURE_SIDE = 16.0
# Room for the y tick labels and the colorbar (width) and for the rotated
# x tick labels and the title (height).
_EXTRA_WIDTH = 2.5
_EXTRA_HEIGHT = 2.0
# Outline colours of reference-aligned cells, tried in this order; the one
# farthest from every colour of the colormap is used.
_OUTLINE_CANDIDATES = (
    (1.0, 0.0, 1.0),  # magenta
    (1.0, 0.0, 0.0),  # red
    (0.0, 1.0, 1.0),  # cyan
    (1.0, 1.0, 1.0),  # white
    (0.0, 0.0, 0.0),  # black
)
# Outline width as a fraction of the cell size, and its bounds in points.
_OUTLINE_FRACTION = 0.12
_MIN_OUTLINE_WIDTH = 0.5
_MAX_OUTLINE_WIDTH = 2.0


def _to_numpy(weights):
    if keras.ops.is_tensor(weights):
        return keras.ops.convert_to_numpy(weights)
    return np.asarray(weights)


def _token_to_text(token, argument_name="tokens"):
    """Text of one token or string: `str`, `bytes` or a scalar tensor.

    Scalar NumPy arrays and tensors (e.g. an element of a TensorFlow string
    tensor) are unwrapped, so the text never shows as a Python repr such as
    `b'...'` or `tf.Tensor(...)`; numbers become their `str`. Sequences
    (lists, arrays with axes) raise, instead of being shown as their repr.
    """
    if isinstance(token, str):
        return token
    if isinstance(token, bytes):
        return token.decode("utf-8", errors="replace")
    if hasattr(token, "numpy") and callable(token.numpy):
        # TensorFlow and (CPU) PyTorch tensors.
        token = token.numpy()
    elif hasattr(token, "__array__") and not isinstance(token, np.generic):
        token = np.asarray(token)
    if isinstance(token, np.ndarray) and token.ndim == 0:
        token = token.item()
    if isinstance(token, np.generic):
        token = token.item()
    if isinstance(token, (str, bytes)):
        return _token_to_text(token, argument_name)
    if isinstance(token, (list, tuple, dict, set, np.ndarray)):
        raise ValueError(
            f"Each entry of `{argument_name}` must be a single string (or "
            f"UTF-8 bytes, or a scalar). Received an entry of type "
            f"{type(token).__name__}: {token!r}"
        )
    return str(token)


def _tokens_to_text(tokens, argument_name):
    if isinstance(tokens, (str, bytes)):
        raise ValueError(
            f"`{argument_name}` must be a sequence of tokens, not a single "
            f"string. Received: {argument_name}={tokens!r}"
        )
    labels = [_token_to_text(token, argument_name) for token in tokens]
    if not labels:
        raise ValueError(
            f"`{argument_name}` must contain at least one token. "
            f"Received: {argument_name}={tokens!r}"
        )
    return labels


def _crop_attention(weights, num_source_tokens, num_target_tokens):
    """Crops the last two axes of `weights` to the token counts.

    Args:
        weights: NumPy array whose last two axes are `[T_tgt, T_src]`.
        num_source_tokens: Number of source tokens (last axis).
        num_target_tokens: Number of generated tokens (second to last axis).

    Returns:
        `weights[..., :num_target_tokens, :num_source_tokens]`.
    """
    if (
        weights.ndim < 2
        or weights.shape[-2] < num_target_tokens
        or weights.shape[-1] < num_source_tokens
    ):
        raise ValueError(
            "`weights` must have shape [..., T_tgt, T_src] with "
            f"T_tgt >= len(target_tokens) and T_src >= len(source_tokens), "
            f"i.e. at least [..., {num_target_tokens}, {num_source_tokens}]. "
            f"Received: weights.shape={tuple(weights.shape)}"
        )
    return weights[..., :num_target_tokens, :num_source_tokens]


def _prepare(weights, source_tokens, target_tokens, alignment=None):
    source_labels = _tokens_to_text(source_tokens, "source_tokens")
    target_labels = _tokens_to_text(target_tokens, "target_tokens")
    weights = _to_numpy(weights)
    if weights.ndim != 2:
        raise ValueError(
            "`weights` must be 2-D with shape [T_tgt, T_src] (one sample, "
            "one head; index heads and batch entries before plotting). "
            f"Received: weights.shape={tuple(weights.shape)}"
        )
    weights = _crop_attention(weights, len(source_labels), len(target_labels))
    if alignment is not None:
        alignment = _to_numpy(alignment)
        if (
            alignment.ndim != 2
            or alignment.shape[0] < len(target_labels)
            or alignment.shape[1] < len(source_labels)
        ):
            raise ValueError(
                "`alignment` must be 2-D with shape [T_tgt, T_src], at least "
                f"[{len(target_labels)}, {len(source_labels)}] (the token "
                "counts; larger arrays are cropped like `weights`). "
                f"Received: alignment.shape={tuple(alignment.shape)}"
            )
        alignment = alignment[: len(target_labels), : len(source_labels)]
        alignment = np.asarray(alignment != 0)
    return weights.astype(np.float32), source_labels, target_labels, alignment


def _figure_size(num_source_tokens, num_target_tokens):
    width = num_source_tokens * _INCHES_PER_TOKEN + _EXTRA_WIDTH
    height = num_target_tokens * _INCHES_PER_TOKEN + _EXTRA_HEIGHT
    return (
        min(max(width, _MIN_FIGURE_WIDTH), _MAX_FIGURE_SIDE),
        min(max(height, _MIN_FIGURE_HEIGHT), _MAX_FIGURE_SIDE),
    )


def _tick_layout(axis_inches, num_tokens):
    """Returns `(font_size, label_every)` so that tick labels do not overlap.

    The font shrinks with the space available per token; once it would drop
    below `_MIN_FONT_SIZE` only every `label_every`-th token is labelled.
    """
    points_per_token = axis_inches * 72.0 / num_tokens
    font_size = _FONT_FILL_RATIO * points_per_token
    label_every = 1
    if font_size < _MIN_FONT_SIZE:
        label_every = math.ceil(_MIN_FONT_SIZE / font_size)
    return min(max(font_size, _MIN_FONT_SIZE), _MAX_FONT_SIZE), label_every


def _new_figure(figsize, dpi=None, feature="plot_attention"):
    """A `Figure` on its own Agg canvas (no `pyplot`), and the canvas.

    `feature` names the caller in the error raised without Matplotlib.
    """
    figure_module = import_optional("matplotlib.figure", feature)
    agg = import_optional("matplotlib.backends.backend_agg", feature)
    figure = figure_module.Figure(
        figsize=figsize, dpi=dpi, layout="constrained"
    )
    return figure, agg.FigureCanvasAgg(figure)


def _render_to_array(figure, canvas, draw):
    """Runs `draw(figure)`, renders the figure to `uint8` RGB and clears it.

    Args:
        figure: A `Figure` made by `_new_figure`.
        canvas: Its `FigureCanvasAgg`.
        draw: Callable adding the content to `figure`; the figure is
            cleared even when it raises.

    Returns:
        A `uint8` NumPy array of shape `[height, width, 3]`.
    """
    try:
        draw(figure)
        canvas.draw()
        image = np.ascontiguousarray(np.asarray(canvas.buffer_rgba())[..., :3])
    finally:
        # Breaks the figure <-> artist reference cycles right away instead
        # of waiting for the cyclic garbage collector.
        figure.clear()
    return image


def _outline_color(cmap):
    """The candidate outline colour farthest from all colours of `cmap`."""
    matplotlib = import_optional("matplotlib", "plot_attention")
    colormap = matplotlib.colormaps.get_cmap(cmap)
    colors = colormap(np.linspace(0.0, 1.0, 256))[:, :3]
    distances = [
        np.min(np.linalg.norm(colors - np.asarray(candidate), axis=-1))
        for candidate in _OUTLINE_CANDIDATES
    ]
    return _OUTLINE_CANDIDATES[int(np.argmax(distances))]


def _draw_outlines(
    ax, alignment, cmap, cell_points, cell_width=1.0, cell_height=1.0
):
    """Outlines the nonzero cells of the 2-D `alignment` on `ax`.

    Cell `(row, column)` spans `cell_width` x `cell_height` data units from
    `(column * cell_width - 0.5, row * cell_height - 0.5)`: the edges of
    the pixels of an `imshow` image whose cells are that many pixels wide
    and high (1 x 1 for a heatmap with one pixel per cell).
    """
    patches = import_optional("matplotlib.patches", "plot_attention")
    color = _outline_color(cmap)
    width = min(
        max(_OUTLINE_FRACTION * cell_points, _MIN_OUTLINE_WIDTH),
        _MAX_OUTLINE_WIDTH,
    )
    for row, column in zip(*np.nonzero(alignment), strict=True):
        ax.add_patch(
            patches.Rectangle(
                (column * cell_width - 0.5, row * cell_height - 0.5),
                cell_width,
                cell_height,
                fill=False,
                edgecolor=color,
                linewidth=width,
            )
        )


def _draw(
    ax, weights, source_labels, target_labels, title, cmap, alignment=None
):
    image = ax.imshow(
        weights,
        aspect="auto",
        cmap=cmap,
        interpolation="nearest",
        vmin=0.0,
    )
    figure = ax.figure
    figure.colorbar(image, ax=ax, fraction=0.05)

    position = ax.get_position()
    figure_width, figure_height = figure.get_size_inches()
    x_font, x_every = _tick_layout(
        position.width * figure_width, len(source_labels)
    )
    y_font, y_every = _tick_layout(
        position.height * figure_height, len(target_labels)
    )
    if alignment is not None:
        cell_points = 72.0 * min(
            position.width * figure_width / len(source_labels),
            position.height * figure_height / len(target_labels),
        )
        _draw_outlines(ax, alignment, cmap, cell_points)
    x_positions = np.arange(len(source_labels))[::x_every]
    y_positions = np.arange(len(target_labels))[::y_every]
    ax.set_xticks(x_positions)
    # `parse_math=False`: tokens such as "$" or "$x$" must show verbatim
    # instead of going through (and possibly failing in) mathtext.
    ax.set_xticklabels(
        [source_labels[i] for i in x_positions],
        rotation=90,
        fontsize=x_font,
        parse_math=False,
    )
    ax.set_yticks(y_positions)
    ax.set_yticklabels(
        [target_labels[i] for i in y_positions],
        fontsize=y_font,
        parse_math=False,
    )
    ax.set_xlabel("Source tokens")
    ax.set_ylabel("Generated tokens")
    if title is not None:
        ax.set_title(str(title), parse_math=False)
    return ax


def plot_attention(
    weights,
    source_tokens,
    target_tokens,
    title=None,
    ax=None,
    cmap="viridis",
    alignment=None,
):
    """Draws one attention matrix as a heatmap with token labels.

    Source tokens run along the x axis (labels rotated by 90 degrees) and
    generated tokens down the y axis, with a colorbar. Font sizes shrink
    with the number of tokens; for very long sequences only every k-th
    token is labelled so labels never overlap.

    `weights` may be larger than the token lists: padded decoder steps or
    padded source positions are cropped away, i.e. the plotted matrix is
    `weights[:len(target_tokens), :len(source_tokens)]`.

    With `alignment`, every reference-aligned cell (a nonzero entry) is
    outlined by a rectangle along its edges, one
    `matplotlib.patches.Rectangle` per cell in `ax.patches`. The outline
    colour is the one of magenta, red, cyan, white and black farthest from
    every colour of `cmap` (magenta for viridis), so it shows on any cell.

    When `ax` is `None` a new `matplotlib.figure.Figure` with an Agg canvas
    is created (no `pyplot`, so the user's backend is untouched); reach it
    through `ax.figure`, e.g. `ax.figure.savefig("attention.png")`.

    Args:
        weights: Array-like (NumPy array, backend tensor or nested lists)
            of shape `[T_tgt, T_src]` holding one sample's attention weights
            for one head, with `T_tgt >= len(target_tokens)` and
            `T_src >= len(source_tokens)`.
        source_tokens: Sequence of source tokens (`str` or UTF-8 `bytes`).
        target_tokens: Sequence of generated tokens (`str` or UTF-8
            `bytes`).
        title: Optional title of the axes.
        ax: Optional `matplotlib.axes.Axes` to draw into. A colorbar is
            added to its figure.
        cmap: Matplotlib colormap name or object.
        alignment: Optional reference alignment, bool or numeric, of shape
            `[T_tgt, T_src]` like `weights` (and cropped like it); the
            nonzero cells are outlined.

    Returns:
        The `matplotlib.axes.Axes` holding the heatmap.

    Example:

    ```python
    weights = np.full((2, 3), 1 / 3)
    ax = plot_attention(
        weights,
        ["ich", "bin", "<eos>"],
        ["i", "am"],
        alignment=[[1, 0, 0], [0, 1, 0]],  # "i"-"ich", "am"-"bin"
    )
    ax.figure.savefig("attention.png")
    ```
    """
    weights, source_labels, target_labels, alignment = _prepare(
        weights, source_tokens, target_tokens, alignment
    )
    if ax is None:
        figure, _ = _new_figure(
            _figure_size(len(source_labels), len(target_labels))
        )
        ax = figure.add_subplot()
    return _draw(
        ax, weights, source_labels, target_labels, title, cmap, alignment
    )


def attention_to_image(
    weights,
    source_tokens,
    target_tokens,
    title=None,
    dpi=100,
    cmap="viridis",
    alignment=None,
):
    """Renders an attention heatmap to an RGB image array.

    Same drawing and validation as `plot_attention` (including cropping of
    weights longer than the token lists, and the outlines of `alignment`).
    The figure size grows with the number of tokens, between 4x3 and 16x16
    inches, so the image is between 400x300 and 1600x1600 pixels at the
    default `dpi`. The figure is discarded after rendering.

    Args:
        weights: Array-like of shape `[T_tgt, T_src]`, see `plot_attention`.
        source_tokens: Sequence of source tokens (`str` or `bytes`).
        target_tokens: Sequence of generated tokens (`str` or `bytes`).
        title: Optional title drawn above the heatmap.
        dpi: Pixels per inch of the rendered image; must be > 0.
        cmap: Matplotlib colormap name or object.
        alignment: Optional `[T_tgt, T_src]` reference alignment whose
            nonzero cells are outlined, see `plot_attention`.

    Returns:
        A `uint8` NumPy array of shape `[height, width, 3]` (RGB), ready
        for `tf.summary.image` after adding a batch axis.

    Example:

    ```python
    image = attention_to_image(np.eye(3), ["a", "b", "c"], ["x", "y", "z"])
    image.dtype, image.shape[-1]  # (dtype('uint8'), 3)
    ```
    """
    if not dpi > 0:
        raise ValueError(f"`dpi` must be > 0. Received: dpi={dpi}")
    weights, source_labels, target_labels, alignment = _prepare(
        weights, source_tokens, target_tokens, alignment
    )
    figure, canvas = _new_figure(
        _figure_size(len(source_labels), len(target_labels)), dpi=dpi
    )

    def draw(figure):
        _draw(
            figure.add_subplot(),
            weights,
            source_labels,
            target_labels,
            title,
            cmap,
            alignment,
        )

    return _render_to_array(figure, canvas, draw)
