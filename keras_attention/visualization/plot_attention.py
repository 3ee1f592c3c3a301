"""Attention heatmaps drawn with Matplotlib's Agg canvas.

Source tokens run along the x axis (labels rotated by 90 degrees) and
output tokens down the y axis, with a colorbar. Font sizes shrink with the
number of tokens; for very long sequences only every k-th token is
labelled so labels never overlap. Attention larger than the token lists
(padded decoder steps or source positions) is cropped to them.

The cells of a reference `alignment` are outlined by one
`matplotlib.patches.Rectangle` per cell in `ax.patches`, in the one of
magenta, red, cyan, white and black farthest from every colour of the
colormap (magenta for viridis), so it shows on any cell.

Values per token, such as the generation probability `p_gen` and the
coverage of a pointer-generator network (See et al., 2017), are drawn as
strips beside the heatmap, coloured with the colormap, each on its own
scale. `output_values`: one column per label right of the heatmap (before
the colorbar), its rows aligned with the output tokens, titled with the
label above a line `"{low}–{high}"` giving its colour scale (turned upright
when a title is too wide for the column); the scale is 0 to 1 (the absolute
colours of probabilities), widened to the data outside `[0, 1]`.
`source_values`: one row per label below the heatmap, its columns aligned
with the source tokens, labelled at the left with the label above a line
`"0–{max}"` (from the smallest value instead of 0 if one is negative; 0 to
1 if all are 0); the source token labels and the x axis label then move
below the strips. The value of each strip cell is printed in it (2
decimals, black or white by the cell's brightness) when every token of the
axis is labelled and the numbers fit their cells at 5 points or more. The
strips are inset axes of the heatmap (`ax.child_axes`), held at a fixed
size in inches next to it.

`max_source_tokens` keeps long sources legible: a source longer than it
is drawn with only its `max_source_tokens` most attended columns (the
largest column sums of the attention), in source order, each labelled
`"{position}:{token}"`, the x axis label saying how many of how many are
shown; `alignment` and `source_values` keep the same columns.

`marked_outputs` marks output tokens, e.g. the words copied from the
source: their y tick labels are bold and red, and the y axis label becomes
`"Generated tokens (bold: copied)"` (unchanged when no token is marked).

Figures are made without `pyplot`, so the user's Matplotlib backend is
untouched; Matplotlib is imported on the first drawing, not with
`keras_attention`.

References:
    - See et al., 2017, [Get To The Point: Summarization with
      Pointer-Generator Networks](https://arxiv.org/abs/1704.04368):
      `p_gen` (Eq. 8), coverage (Eq. 10).
"""

import dataclasses
import math

import numpy as np

from keras_attention.visualization import _checks
from keras_attention.visualization import _figure
from keras_attention.visualization import _strips
from keras_attention.visualization.attention_sample import AttentionSample

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
# Tick labels of marked (copied) output tokens.
_MARKED_COLOR = "#d62728"
_MARKED_WEIGHT = "bold"
_MARKED_NOTE = "bold: copied"


def _heatmap_sample(weights, source_tokens, target_tokens, **fields):
    """The one-head token `AttentionSample` that a heatmap draws.

    `weights` is an `AttentionSample` (then nothing else may be given) or
    the attention array, converted with the other arguments by
    `AttentionSample.from_dict` under their argument names.
    """
    fields = {
        "source_tokens": source_tokens,
        "target_tokens": target_tokens,
        **fields,
    }
    if isinstance(weights, AttentionSample):
        given = sorted(
            key for key, value in fields.items() if value is not None
        )
        if given:
            raise ValueError(
                "Pass either an `AttentionSample` or `weights` with the "
                "tokens and arrays, not both. Received: an AttentionSample "
                f"and {given}"
            )
        sample, name = weights, "attention"
    else:
        sample = AttentionSample.from_dict({"weights": weights, **fields})
        name = "weights"
    if sample.image is not None:
        raise ValueError(
            "Heatmaps draw token samples; draw an image sample with "
            "`plot_image_attention`. Received: an image sample"
        )
    if isinstance(sample.attention, dict) or sample.attention.ndim != 2:
        shapes = {
            layer: tuple(weights.shape)
            for layer, weights in sample.layers.items()
        }
        received = (
            f"{name}.shape={shapes[None]}"
            if None in shapes
            else f"layers with shapes {shapes}"
        )
        raise ValueError(
            f"`{name}` must be 2-D with shape [T_tgt, T_src] (one sample, "
            "one layer, one head; index heads and batch entries before "
            "plotting, e.g. with `AttentionSample.select`). Received: "
            f"{received}"
        )
    return sample


def _most_attended_columns(sample, max_source_tokens):
    """The sample cut to its `max_source_tokens` most attended columns.

    Returns:
        `(sample, x_label)`: the sample itself and `"Source tokens"` when
        it is short enough.
    """
    if max_source_tokens is not None:
        _checks.check_positive_int(
            "max_source_tokens", max_source_tokens, " or None"
        )
    total = len(sample.source_tokens)
    if max_source_tokens is None or total <= max_source_tokens:
        return sample, "Source tokens"
    attention = np.asarray(sample.attention)
    order = np.argsort(-attention.sum(axis=0), kind="stable")
    keep = np.sort(order[:max_source_tokens])
    cut = {
        "source_tokens": [
            f"{index}:{sample.source_tokens[index]}" for index in keep
        ],
        "attention": attention[:, keep],
    }
    if sample.alignment is not None:
        cut["alignment"] = np.asarray(sample.alignment)[:, keep]
    if sample.source_values:
        cut["source_values"] = {
            label: np.asarray(values)[keep]
            for label, values in sample.source_values.items()
        }
    label = (
        f"Source tokens (the {max_source_tokens} most attended of {total}, "
        "position:token)"
    )
    return dataclasses.replace(sample, **cut), label


def _figure_size(sample):
    """Figure size in inches, with room for value columns and rows."""
    width = len(sample.source_tokens) * _INCHES_PER_TOKEN + _EXTRA_WIDTH
    height = len(sample.output_tokens) * _INCHES_PER_TOKEN + _EXTRA_HEIGHT
    width = max(width, _MIN_FIGURE_WIDTH)
    height = max(height, _MIN_FIGURE_HEIGHT)
    if sample.output_values:
        width += _strips.STRIP_GAP_INCHES + (
            len(sample.output_values) * _strips.STRIP_COLUMN_INCHES
        )
    if sample.source_values:
        height += _strips.STRIP_GAP_INCHES + (
            len(sample.source_values) * _strips.STRIP_ROW_INCHES
        )
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


def _label_sources(axes, tokens, font_size, label_every, x_label):
    positions = np.arange(len(tokens))[::label_every]
    axes.set_xticks(positions)
    # `parse_math=False`: tokens such as "$" or "$x$" must show verbatim
    # instead of going through (and possibly failing in) mathtext.
    axes.set_xticklabels(
        [tokens[i] for i in positions],
        rotation=90,
        fontsize=font_size,
        parse_math=False,
    )
    axes.set_xlabel(x_label)


def _label_outputs(ax, tokens, marks, font_size, label_every):
    positions = np.arange(len(tokens))[::label_every]
    ax.set_yticks(positions)
    labels = ax.set_yticklabels(
        [tokens[i] for i in positions], fontsize=font_size, parse_math=False
    )
    if marks is None or not marks.any():
        ax.set_ylabel("Generated tokens")
        return
    for index, label in zip(positions, labels, strict=True):
        if marks[index]:
            label.set_fontweight(_MARKED_WEIGHT)
            label.set_color(_MARKED_COLOR)
    ax.set_ylabel(f"Generated tokens ({_MARKED_NOTE})")


def _draw(ax, sample, title, cmap, x_label="Source tokens"):
    """Draws the heatmap of a one-head token `sample` on `ax`."""
    image = ax.imshow(
        sample.attention,
        aspect="auto",
        cmap=cmap,
        interpolation="nearest",
        vmin=0.0,
    )
    figure = ax.figure
    figure.colorbar(image, ax=ax, fraction=0.05)
    position = ax.get_position()
    width, height = figure.get_size_inches()
    # Points per source column and per output row of the heatmap.
    column_points = 72.0 * position.width * width / len(sample.source_tokens)
    row_points = 72.0 * position.height * height / len(sample.output_tokens)
    x_font, x_every = _tick_layout(
        position.width * width, len(sample.source_tokens)
    )
    y_font, y_every = _tick_layout(
        position.height * height, len(sample.output_tokens)
    )
    if sample.alignment is not None:
        _figure.draw_outlines(
            ax, sample.alignment, cmap, min(column_points, row_points)
        )
    if sample.output_values:
        _strips.draw_output_strip(
            ax, list(sample.output_values.items()), cmap, row_points, y_every
        )
    # The source tokens label the lowest axes: the heatmap, or the strip
    # of `source_values` right below it.
    source_axes = ax
    if sample.source_values:
        source_axes = _strips.draw_source_strip(
            ax,
            list(sample.source_values.items()),
            cmap,
            column_points,
            x_every,
        )
        ax.tick_params(axis="x", bottom=False, labelbottom=False)
    _label_sources(source_axes, sample.source_tokens, x_font, x_every, x_label)
    _label_outputs(
        ax, sample.output_tokens, sample.marked_outputs, y_font, y_every
    )
    title = sample.title_text(title)
    if title is not None:
        ax.set_title(title, parse_math=False)
    return ax


def plot_attention(
    weights,
    source_tokens=None,
    target_tokens=None,
    title=None,
    ax=None,
    cmap="viridis",
    alignment=None,
    output_values=None,
    source_values=None,
    marked_outputs=None,
    max_source_tokens=None,
):
    """Draws one attention matrix as a heatmap with token labels.

    Takes an `AttentionSample`, or its arrays as arguments. The layout (the
    outlines of `alignment`, the value strips, the marked tokens) is
    described in the module docstring. When `ax` is `None` a new
    `matplotlib.figure.Figure` with an Agg canvas is created (no `pyplot`);
    reach it through `ax.figure`, e.g. `ax.figure.savefig("a.png")`. It is
    made larger for the strips.

    Args:
        weights: An `AttentionSample` with one `[T_tgt, T_src]` array of
            attention (see `AttentionSample.select`; then leave the other
            data arguments `None`), or the attention weights of one sample
            and one head: array-like (NumPy array, backend tensor, nested
            lists) of shape `[T_tgt, T_src]` with
            `T_tgt >= len(target_tokens)` and `T_src >= len(source_tokens)`
            (cropped to the tokens).
        source_tokens: Sequence of source tokens (`str` or UTF-8 `bytes`).
        target_tokens: Sequence of generated tokens (`str` or UTF-8
            `bytes`), the sample's `output_tokens`.
        title: Optional title of the axes (replacing the sample's).
        ax: Optional `matplotlib.axes.Axes` to draw into. A colorbar is
            added to its figure.
        cmap: Matplotlib colormap name or object.
        alignment: Optional reference alignment, bool or numeric, of shape
            `[T_tgt, T_src]` like `weights` (and cropped like it); the
            nonzero cells are outlined.
        output_values: Optional dict `{label: values}` with exactly
            `len(target_tokens)` finite numbers per label, e.g.
            `{"p_gen": p_gen}`; drawn as columns right of the heatmap.
        source_values: Optional dict `{label: values}` with exactly
            `len(source_tokens)` finite numbers per label, e.g.
            `{"coverage": coverage}`; drawn as rows below the heatmap.
        marked_outputs: Optional sequence of `len(target_tokens)` bools
            (or 0/1); the `True` tokens get bold red tick labels.
        max_source_tokens: Optional positive integer: a longer source is
            drawn with only its most attended columns (module docstring).

    Returns:
        The `matplotlib.axes.Axes` holding the heatmap.

    Example:

    ```python
    ax = plot_attention(
        np.full((2, 3), 1 / 3),
        ["ich", "bin", "<eos>"],
        ["i", "am"],
        alignment=[[1, 0, 0], [0, 1, 0]],  # "i"-"ich", "am"-"bin"
    )
    ax.figure.savefig("attention.png")
    ```

    A pointer-generator summary, "germany" copied from the source:

    ```python
    ax = plot_attention(
        AttentionSample(
            source_tokens=["germany", "beat", "argentina"],
            output_tokens=["germany", "wins"],
            attention=[[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]],
            output_values={"p_gen": [0.1, 0.9]},
            source_values={"coverage": [0.8, 0.3, 0.9]},
            marked_outputs=[True, False],
        )
    )
    ```
    """
    sample = _heatmap_sample(
        weights,
        source_tokens,
        target_tokens,
        alignment=alignment,
        output_values=output_values,
        source_values=source_values,
        marked_outputs=marked_outputs,
    )
    sample, x_label = _most_attended_columns(sample, max_source_tokens)
    if ax is None:
        figure, _ = _figure.new_figure(_figure_size(sample))
        ax = figure.add_subplot()
    return _draw(ax, sample, title, cmap, x_label)


def attention_to_image(
    weights,
    source_tokens=None,
    target_tokens=None,
    title=None,
    dpi=100,
    cmap="viridis",
    alignment=None,
    output_values=None,
    source_values=None,
    marked_outputs=None,
    max_source_tokens=None,
):
    """Renders an attention heatmap to an RGB image array.

    Same drawing, arguments and validation as `plot_attention`. The figure
    size grows with the number of tokens, between 4x3 and 16x16 inches, so
    the image is between 400x300 and 1600x1600 pixels at the default `dpi`;
    the strips add 0.1 inches plus 0.45 inches per `output_values` label to
    the width and 0.1 inches plus 0.3 inches per `source_values` label to
    the height (up to 16 inches). The figure is discarded after rendering.

    Args:
        weights: An `AttentionSample` with one `[T_tgt, T_src]` array of
            attention, or the array-like attention weights, see
            `plot_attention`.
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
        max_source_tokens: Optional positive integer: only the most
            attended source columns of a longer source, see
            `plot_attention`.

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
    sample = _heatmap_sample(
        weights,
        source_tokens,
        target_tokens,
        alignment=alignment,
        output_values=output_values,
        source_values=source_values,
        marked_outputs=marked_outputs,
    )
    sample, x_label = _most_attended_columns(sample, max_source_tokens)
    figure, canvas = _figure.new_figure(_figure_size(sample), dpi=dpi)
    return _figure.render_to_array(
        figure,
        canvas,
        lambda figure: _draw(
            figure.add_subplot(), sample, title, cmap, x_label
        ),
    )
