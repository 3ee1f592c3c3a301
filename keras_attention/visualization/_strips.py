"""Value strips beside an attention heatmap (`plot_attention`).

Values per token, such as `p_gen` and the coverage of a pointer-generator
network (See et al., 2017), drawn as inset axes of the heatmap: one column
per `output_values` label right of it, one row per `source_values` label
below it, each coloured with the heatmap's colormap on its own scale, with
the values printed in the cells where they fit.
"""

import numpy as np

from keras_attention._optional import import_optional

# Value strips beside the heatmap: width of one `output_values` column and
# height of one `source_values` row, and their gap to the heatmap (inches).
STRIP_COLUMN_INCHES = 0.45
STRIP_ROW_INCHES = 0.3
STRIP_GAP_INCHES = 0.1
# Numbers printed in strip cells: font bounds in points (smaller ones are
# not printed at all) and the width of a digit as a fraction of the font.
_MIN_VALUE_FONT_SIZE = 5.0
_MAX_VALUE_FONT_SIZE = 8.0
_DIGIT_WIDTH_RATIO = 0.6
# Glyphs need roughly this fraction of a cell's height (and width).
_FONT_FILL_RATIO = 0.8


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
        bounds = [STRIP_GAP_INCHES, 0, size_inches, 1]
    else:
        inches = figure.dpi_scale_trans + transforms.ScaledTranslation(
            0, 0, ax.transAxes
        )
        transform = transforms.blended_transform_factory(ax.transAxes, inches)
        bounds = [0, -STRIP_GAP_INCHES - size_inches, 1, size_inches]
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


def draw_output_strip(ax, output_values, cmap, row_points, label_every):
    """Columns of per-output-token values right of the heatmap."""
    num_rows = len(output_values[0][1])
    strip = _strip_axes(ax, "right", len(output_values) * STRIP_COLUMN_INCHES)
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
                texts, STRIP_COLUMN_INCHES * 72.0, row_points
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
    column_points = STRIP_COLUMN_INCHES * 72.0
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


def draw_source_strip(ax, source_values, cmap, column_points, label_every):
    """Rows of per-source-token values below the heatmap."""
    num_columns = len(source_values[0][1])
    strip = _strip_axes(ax, "bottom", len(source_values) * STRIP_ROW_INCHES)
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
                texts, column_points, STRIP_ROW_INCHES * 72.0
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
