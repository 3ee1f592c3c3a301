"""Matplotlib figures on their own Agg canvas, and reference outlines.

Figures are `matplotlib.figure.Figure` objects attached to a
`FigureCanvasAgg` rather than made through `pyplot`, so nothing here
changes the user's global Matplotlib backend or registers figures with
`pyplot` (no `plt.show()`, no leaked figures in notebooks or long training
runs). Matplotlib is imported on the first drawing.
"""

import numpy as np

from keras_attention._optional import import_optional

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


def new_figure(figsize, dpi=None, feature="plot_attention"):
    """A `Figure` on its own Agg canvas (no `pyplot`), and the canvas.

    `feature` names the caller in the error raised without Matplotlib.
    """
    figure_module = import_optional("matplotlib.figure", feature)
    agg = import_optional("matplotlib.backends.backend_agg", feature)
    figure = figure_module.Figure(
        figsize=figsize, dpi=dpi, layout="constrained"
    )
    return figure, agg.FigureCanvasAgg(figure)


def render_to_array(figure, canvas, draw):
    """Runs `draw(figure)`, renders the figure to `uint8` RGB and clears it.

    Args:
        figure: A `Figure` made by `new_figure`.
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


def draw_outlines(
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
