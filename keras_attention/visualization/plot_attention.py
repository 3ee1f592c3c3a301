"""Attention heatmaps drawn with Matplotlib's Agg canvas.

Figures are built as `matplotlib.figure.Figure` objects attached to a
`FigureCanvasAgg` rather than through `pyplot`, so nothing here changes the
user's global Matplotlib backend or registers figures with `pyplot` (no
`plt.show()`, no leaked figures in notebooks or long training runs).
Matplotlib is imported on the first drawing, not with `keras_attention`.
"""

import math
from collections.abc import Mapping

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
# Value strips beside the heatmap: width of one `output_values` column and
# height of one `source_values` row, and their gap to the heatmap (inches).
_STRIP_COLUMN_INCHES = 0.45
_STRIP_ROW_INCHES = 0.3
_STRIP_GAP_INCHES = 0.1
# Numbers printed in strip cells: font bounds in points (smaller ones are
# not printed at all) and the width of a digit as a fraction of the font.
_MIN_VALUE_FONT_SIZE = 5.0
_MAX_VALUE_FONT_SIZE = 8.0
_DIGIT_WIDTH_RATIO = 0.6
# Tick labels of marked (copied) output tokens.
_MARKED_COLOR = "#d62728"
_MARKED_WEIGHT = "bold"
_MARKED_NOTE = "bold: copied"


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


def _prepare_values(values, num_tokens, argument_name, tokens_name):
    """`[(label, float32 [num_tokens] array)]` of a `{label: values}` dict.

    `None` and an empty dict give `[]`. Labels are `str` (or UTF-8
    `bytes`, or scalars, shown as text), distinct as text; each entry must
    be 1-D with exactly `num_tokens` finite values.
    """
    if values is None:
        return []
    if not isinstance(values, Mapping):
        raise ValueError(
            f"`{argument_name}` must be a dict from label to a sequence of "
            f"len({tokens_name}) numbers. Received: "
            f"{argument_name}={values!r}"
        )
    prepared = []
    for label, entry in values.items():
        text = _token_to_text(label, f"{argument_name} labels")
        if not text:
            raise ValueError(
                f"The labels of `{argument_name}` must be non-empty. "
                f"Received: label {label!r}"
            )
        where = f"{argument_name}[{text!r}]"
        array = _to_numpy(entry)
        if array.ndim != 1 or array.shape[0] != num_tokens:
            received = (
                f"len({where})={array.shape[0]}"
                if array.ndim == 1
                else f"{where}.shape={tuple(array.shape)}"
            )
            raise ValueError(
                f"`{where}` must hold one value per token of "
                f"`{tokens_name}`: {num_tokens} values. Received: {received}"
            )
        try:
            array = array.astype(np.float32)
        except (TypeError, ValueError) as error:
            raise ValueError(
                f"`{where}` must hold numbers. Received: {where}={entry!r}"
            ) from error
        if not np.all(np.isfinite(array)):
            raise ValueError(
                f"`{where}` must hold finite numbers. Received: "
                f"{where}={array.tolist()!r}"
            )
        prepared.append((text, array))
    labels = [text for text, _ in prepared]
    if len(set(labels)) != len(labels):
        raise ValueError(
            f"The labels of `{argument_name}` must be distinct as text. "
            f"Received: labels {list(values)!r}"
        )
    return prepared


def _prepare_marks(marked_outputs, num_target_tokens):
    """Bool `[num_target_tokens]` array of `marked_outputs`, or `None`."""
    if marked_outputs is None:
        return None
    if isinstance(marked_outputs, (str, bytes, Mapping)):
        raise ValueError(
            "`marked_outputs` must be a sequence of bools, one per target "
            f"token. Received: marked_outputs={marked_outputs!r}"
        )
    marks = _to_numpy(marked_outputs)
    if marks.ndim != 1 or marks.shape[0] != num_target_tokens:
        received = (
            f"len(marked_outputs)={marks.shape[0]}"
            if marks.ndim == 1
            else f"marked_outputs.shape={tuple(marks.shape)}"
        )
        raise ValueError(
            "`marked_outputs` must hold one bool per token of "
            f"`target_tokens`: {num_target_tokens} values. Received: "
            f"{received}"
        )
    if marks.dtype != bool and not (
        np.issubdtype(marks.dtype, np.number) and np.isin(marks, (0, 1)).all()
    ):
        raise ValueError(
            "`marked_outputs` must hold bools (or 0 and 1). Received: "
            f"marked_outputs={marks.tolist()!r}"
        )
    return marks.astype(bool)


def _prepare_extras(
    output_values, source_values, marked_outputs, source_labels, target_labels
):
    return {
        "output_values": _prepare_values(
            output_values, len(target_labels), "output_values", "target_tokens"
        ),
        "source_values": _prepare_values(
            source_values, len(source_labels), "source_values", "source_tokens"
        ),
        "marked_outputs": _prepare_marks(marked_outputs, len(target_labels)),
    }


def _figure_size(
    num_source_tokens, num_target_tokens, num_columns=0, num_rows=0
):
    """Figure size in inches, with room for value columns and rows."""
    width = num_source_tokens * _INCHES_PER_TOKEN + _EXTRA_WIDTH
    height = num_target_tokens * _INCHES_PER_TOKEN + _EXTRA_HEIGHT
    width = max(width, _MIN_FIGURE_WIDTH)
    height = max(height, _MIN_FIGURE_HEIGHT)
    if num_columns:
        width += _STRIP_GAP_INCHES + num_columns * _STRIP_COLUMN_INCHES
    if num_rows:
        height += _STRIP_GAP_INCHES + num_rows * _STRIP_ROW_INCHES
    return min(width, _MAX_FIGURE_SIDE), min(height, _MAX_FIGURE_SIDE)


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


def _format_value(value):
    """Text of one strip value, e.g. `"0.73"`, `"12.5"` or `"1.2e+03"`."""
    text = f"{value:.2f}" if abs(value) < 10 else f"{value:.3g}"
    # A tiny negative value must not read as a different number than 0.
    return "0.00" if text == "-0.00" else text


def _format_scale(value):
    return f"{value:.3g}"


def _text_color(rgba):
    """Black on light cell colours, white on dark ones."""
    red, green, blue = rgba[:3]
    luminance = 0.299 * red + 0.587 * green + 0.114 * blue
    return "black" if luminance > 0.5 else "white"


def _value_font_size(texts, cell_width_points, cell_height_points):
    """Font size fitting every text in its cell, or `None` if too small."""
    characters = max(len(text) for text in texts)
    font_size = min(
        _MAX_VALUE_FONT_SIZE,
        _FONT_FILL_RATIO * cell_height_points,
        _FONT_FILL_RATIO
        * cell_width_points
        / (_DIGIT_WIDTH_RATIO * characters),
    )
    return font_size if font_size >= _MIN_VALUE_FONT_SIZE else None


def _strip_axes(ax, side, size_inches):
    """Inset axes of `ax` right of it or below it, `size_inches` wide/high.

    The gap and the size are in inches from the heatmap's edge, so a strip
    keeps its size and stays aligned with the heatmap's rows (or columns)
    wherever the constrained layout moves the heatmap; the layout makes
    room for it as for any decoration of `ax`.
    """
    transforms = import_optional("matplotlib.transforms", "plot_attention")
    figure = ax.figure
    if side == "right":
        inches = figure.dpi_scale_trans + transforms.ScaledTranslation(
            1, 0, ax.transAxes
        )
        transform = transforms.blended_transform_factory(inches, ax.transAxes)
        bounds = [_STRIP_GAP_INCHES, 0, size_inches, 1]
    else:
        inches = figure.dpi_scale_trans + transforms.ScaledTranslation(
            0, 0, ax.transAxes
        )
        transform = transforms.blended_transform_factory(ax.transAxes, inches)
        bounds = [0, -_STRIP_GAP_INCHES - size_inches, 1, size_inches]
    return ax.inset_axes(bounds, transform=transform)


def _draw_strip_cells(strip, values, cmap, low, high, positions, font_size):
    """One image of `values` at `positions` (extent), numbers if `font_size`."""
    matplotlib = import_optional("matplotlib", "plot_attention")
    image = strip.imshow(
        values,
        aspect="auto",
        cmap=cmap,
        interpolation="nearest",
        vmin=low,
        vmax=high,
        extent=positions,
    )
    if font_size is None:
        return
    colormap = matplotlib.colormaps.get_cmap(cmap)
    left, right, bottom, top = positions
    num_rows, num_columns = values.shape
    cell_width = (right - left) / num_columns
    cell_height = (bottom - top) / num_rows
    for (row, column), value in np.ndenumerate(values):
        strip.text(
            left + (column + 0.5) * cell_width,
            top + (row + 0.5) * cell_height,
            _format_value(value),
            ha="center",
            va="center",
            fontsize=font_size,
            color=_text_color(colormap(image.norm(value))),
            parse_math=False,
        )


def _draw_output_strip(ax, output_values, cmap, row_points, label_every):
    """Columns of per-output-token values right of the heatmap."""
    num_rows = len(output_values[0][1])
    strip = _strip_axes(ax, "right", len(output_values) * _STRIP_COLUMN_INCHES)
    titles = []
    for column, (label, values) in enumerate(output_values):
        # The absolute 0..1 scale of probabilities such as p_gen, widened
        # to the data for values outside it.
        low = min(0.0, float(values.min()))
        high = max(1.0, float(values.max()))
        texts = [_format_value(value) for value in values]
        font_size = None
        if label_every == 1:
            font_size = _value_font_size(
                texts, _STRIP_COLUMN_INCHES * 72.0, row_points
            )
        _draw_strip_cells(
            strip,
            values[:, None],
            cmap,
            low,
            high,
            (column - 0.5, column + 0.5, num_rows - 0.5, -0.5),
            font_size,
        )
        titles.append(f"{label}\n{_format_scale(low)}–{_format_scale(high)}")
    strip.set_xlim(-0.5, len(output_values) - 0.5)
    strip.set_ylim(num_rows - 0.5, -0.5)
    strip.set_yticks([])
    strip.xaxis.tick_top()
    strip.set_xticks(np.arange(len(output_values)))
    column_points = _STRIP_COLUMN_INCHES * 72.0
    fits = all(
        _DIGIT_WIDTH_RATIO * _MAX_VALUE_FONT_SIZE * len(line) <= column_points
        for title in titles
        for line in title.split("\n")
    )
    strip.set_xticklabels(
        titles,
        fontsize=_MAX_VALUE_FONT_SIZE,
        rotation=0 if fits else 90,
        parse_math=False,
    )
    return strip


def _draw_source_strip(ax, source_values, cmap, column_points, label_every):
    """Rows of per-source-token values below the heatmap."""
    num_columns = len(source_values[0][1])
    strip = _strip_axes(ax, "bottom", len(source_values) * _STRIP_ROW_INCHES)
    labels = []
    for row, (label, values) in enumerate(source_values):
        # From 0 (no attention received yet, for coverage) to the largest
        # value.
        low = min(0.0, float(values.min()))
        high = float(values.max())
        if high <= low:
            high = low + 1.0
        texts = [_format_value(value) for value in values]
        font_size = None
        if label_every == 1:
            font_size = _value_font_size(
                texts, column_points, _STRIP_ROW_INCHES * 72.0
            )
        _draw_strip_cells(
            strip,
            values[None, :],
            cmap,
            low,
            high,
            (-0.5, num_columns - 0.5, row + 0.5, row - 0.5),
            font_size,
        )
        # Two short lines keep the label clear of the y axis label.
        labels.append(f"{label}\n{_format_scale(low)}–{_format_scale(high)}")
    strip.set_xlim(-0.5, num_columns - 0.5)
    strip.set_ylim(len(source_values) - 0.5, -0.5)
    strip.set_yticks(np.arange(len(source_values)))
    strip.set_yticklabels(
        labels, fontsize=_MAX_VALUE_FONT_SIZE, parse_math=False
    )
    return strip


def _draw(
    ax,
    weights,
    source_labels,
    target_labels,
    title,
    cmap,
    alignment=None,
    output_values=(),
    source_values=(),
    marked_outputs=None,
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
    if output_values:
        _draw_output_strip(
            ax,
            output_values,
            cmap,
            72.0 * position.height * figure_height / len(target_labels),
            y_every,
        )
    # The source tokens label the lowest axes: the heatmap, or the strip
    # of `source_values` right below it.
    source_axes = ax
    if source_values:
        source_axes = _draw_source_strip(
            ax,
            source_values,
            cmap,
            72.0 * position.width * figure_width / len(source_labels),
            x_every,
        )
        ax.tick_params(axis="x", bottom=False, labelbottom=False)
    x_positions = np.arange(len(source_labels))[::x_every]
    y_positions = np.arange(len(target_labels))[::y_every]
    source_axes.set_xticks(x_positions)
    # `parse_math=False`: tokens such as "$" or "$x$" must show verbatim
    # instead of going through (and possibly failing in) mathtext.
    source_axes.set_xticklabels(
        [source_labels[i] for i in x_positions],
        rotation=90,
        fontsize=x_font,
        parse_math=False,
    )
    ax.set_yticks(y_positions)
    y_labels = ax.set_yticklabels(
        [target_labels[i] for i in y_positions],
        fontsize=y_font,
        parse_math=False,
    )
    source_axes.set_xlabel("Source tokens")
    if marked_outputs is not None and marked_outputs.any():
        for index, label in zip(y_positions, y_labels, strict=True):
            if marked_outputs[index]:
                label.set_fontweight(_MARKED_WEIGHT)
                label.set_color(_MARKED_COLOR)
        ax.set_ylabel(f"Generated tokens ({_MARKED_NOTE})")
    else:
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
    output_values=None,
    source_values=None,
    marked_outputs=None,
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

    Values per token, such as the generation probability `p_gen` and the
    coverage of a pointer-generator network (See et al., 2017), are drawn
    as strips beside the heatmap, coloured with `cmap`, each on its own
    scale:

    - `output_values`: one column per label right of the heatmap (before
      the colorbar), its rows aligned with the generated tokens, titled
      with the label above a line `"{low}–{high}"` giving its colour scale
      (turned upright when a title is too wide for the column). The scale
      is 0 to 1 (probabilities keep their absolute colours), widened to
      the data when values lie outside `[0, 1]`.
    - `source_values`: one row per label below the heatmap, its columns
      aligned with the source tokens, labelled at the left with the label
      above a line `"0–{max}"`: the scale runs from 0 to the largest value
      (from the smallest value instead of 0 if one is negative; 0 to 1 if
      all are 0). The source token labels and the x axis label then move
      below the strips.

    The value of each strip cell is printed in it (2 decimals, black or
    white by the cell's brightness) when every token of the axis is
    labelled and the numbers fit their cells at 5 points or more; larger
    plots show the colours only. The strips are inset axes of `ax`
    (`ax.child_axes`), held at a fixed size in inches next to it.

    `marked_outputs` marks generated tokens, e.g. the words copied from the
    source: their y tick labels are bold and red, and the y axis label
    becomes `"Generated tokens (bold: copied)"` (unchanged when no token is
    marked). The token text itself is not changed.

    When `ax` is `None` a new `matplotlib.figure.Figure` with an Agg canvas
    is created (no `pyplot`, so the user's backend is untouched); reach it
    through `ax.figure`, e.g. `ax.figure.savefig("attention.png")`. It is
    made larger for the strips.

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
        output_values: Optional dict `{label: values}` with exactly
            `len(target_tokens)` finite numbers per label (a sequence, 1-D
            array or tensor), e.g. `{"p_gen": p_gen}`; drawn as columns
            right of the heatmap. An empty dict draws nothing.
        source_values: Optional dict `{label: values}` with exactly
            `len(source_tokens)` finite numbers per label, e.g.
            `{"coverage": coverage}`; drawn as rows below the heatmap.
        marked_outputs: Optional sequence of `len(target_tokens)` bools
            (or 0/1); the `True` tokens get bold red tick labels.

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

    A pointer-generator summary, "germany" copied from the source:

    ```python
    ax = plot_attention(
        [[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]],
        ["germany", "beat", "argentina"],
        ["germany", "wins"],
        output_values={"p_gen": [0.1, 0.9]},
        source_values={"coverage": [0.8, 0.3, 0.9]},
        marked_outputs=[True, False],
    )
    ```

    References:
        - See et al., 2017, [Get To The Point: Summarization with
          Pointer-Generator Networks](https://arxiv.org/abs/1704.04368):
          `p_gen` (Eq. 8), coverage (Eq. 10).
    """
    weights, source_labels, target_labels, alignment = _prepare(
        weights, source_tokens, target_tokens, alignment
    )
    extras = _prepare_extras(
        output_values,
        source_values,
        marked_outputs,
        source_labels,
        target_labels,
    )
    if ax is None:
        figure, _ = _new_figure(
            _figure_size(
                len(source_labels),
                len(target_labels),
                len(extras["output_values"]),
                len(extras["source_values"]),
            )
        )
        ax = figure.add_subplot()
    return _draw(
        ax,
        weights,
        source_labels,
        target_labels,
        title,
        cmap,
        alignment,
        **extras,
    )


def attention_to_image(
    weights,
    source_tokens,
    target_tokens,
    title=None,
    dpi=100,
    cmap="viridis",
    alignment=None,
    output_values=None,
    source_values=None,
    marked_outputs=None,
):
    """Renders an attention heatmap to an RGB image array.

    Same drawing and validation as `plot_attention` (including cropping of
    weights longer than the token lists, the outlines of `alignment`, and
    the value strips and marked tokens). The figure size grows with the
    number of tokens, between 4x3 and 16x16 inches, so the image is
    between 400x300 and 1600x1600 pixels at the default `dpi`; the strips
    add 0.1 inches plus 0.45 inches per `output_values` label to the width
    and 0.1 inches plus 0.3 inches per `source_values` label to the height
    (up to 16 inches). The
    figure is discarded after rendering.

    Args:
        weights: Array-like of shape `[T_tgt, T_src]`, see `plot_attention`.
        source_tokens: Sequence of source tokens (`str` or `bytes`).
        target_tokens: Sequence of generated tokens (`str` or `bytes`).
        title: Optional title drawn above the heatmap.
        dpi: Pixels per inch of the rendered image; must be > 0.
        cmap: Matplotlib colormap name or object.
        alignment: Optional `[T_tgt, T_src]` reference alignment whose
            nonzero cells are outlined, see `plot_attention`.
        output_values: Optional dict `{label: [len(target_tokens)] values}`
            drawn as columns right of the heatmap, see `plot_attention`.
        source_values: Optional dict `{label: [len(source_tokens)] values}`
            drawn as rows below the heatmap, see `plot_attention`.
        marked_outputs: Optional `[len(target_tokens)]` bools; marked
            tokens get bold red labels, see `plot_attention`.

    Returns:
        A `uint8` NumPy array of shape `[height, width, 3]` (RGB), ready
        for `tf.summary.image` after adding a batch axis.

    Example:

    ```python
    image = attention_to_image(np.eye(3), ["a", "b", "c"], ["x", "y", "z"])
    image.dtype, image.shape[-1]  # (dtype('uint8'), 3)
    image = attention_to_image(
        np.eye(3),
        ["a", "b", "c"],
        ["a", "y", "c"],
        output_values={"p_gen": [0.1, 0.8, 0.2]},
        marked_outputs=[True, False, True],
    )
    ```
    """
    if not dpi > 0:
        raise ValueError(f"`dpi` must be > 0. Received: dpi={dpi}")
    weights, source_labels, target_labels, alignment = _prepare(
        weights, source_tokens, target_tokens, alignment
    )
    extras = _prepare_extras(
        output_values,
        source_values,
        marked_outputs,
        source_labels,
        target_labels,
    )
    figure, canvas = _new_figure(
        _figure_size(
            len(source_labels),
            len(target_labels),
            len(extras["output_values"]),
            len(extras["source_values"]),
        ),
        dpi=dpi,
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
            **extras,
        )

    return _render_to_array(figure, canvas, draw)
