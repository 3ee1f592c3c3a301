"""Checks of the arrays of an `AttentionSample` (used by its constructor)
and of the plotting functions' arguments.

Every function takes the names its errors give the arguments, so that a
sample built from `plot_attention(weights, ..., target_tokens)` names
`weights` and `target_tokens`, and one built from a dict names its keys.
"""

import math
import numbers
from collections.abc import Mapping

import keras
import numpy as np

from keras_attention.visualization.text import token_text


def check_positive_int(name, value, meaning=""):
    """Raises unless `value` is a positive integer (not a bool).

    `meaning` follows "a positive integer" in the message, e.g.
    `" (panels per row)"`.
    """
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Integral)
        or value < 1
    ):
        raise ValueError(
            f"`{name}` must be a positive integer{meaning}. "
            f"Received: {name}={value!r}"
        )


def to_numpy(value):
    """A NumPy array of a backend tensor, array or nested sequence."""
    if keras.ops.is_tensor(value):
        return keras.ops.convert_to_numpy(value)
    return np.asarray(value)


def frozen(array):
    """A read-only copy of `array` (samples are immutable)."""
    array = np.array(array)
    array.flags.writeable = False
    return array


def crop_attention(weights, num_outputs, num_keys, names):
    """`weights[..., :num_outputs, :num_keys]`, finite and non-negative."""
    name = names["attention"]
    outputs = names["output_tokens"]
    if weights.ndim not in (2, 3):
        raise ValueError(
            f"`{name}` must be 2-D with shape [T_out, T_src], or 3-D with "
            f"shape [heads, T_out, T_src] for multi-head attention. "
            f"Received: {name}.shape={tuple(weights.shape)}"
        )
    if weights.shape[-2] < num_outputs or weights.shape[-1] < num_keys:
        raise ValueError(
            f"`{name}` must cover len({outputs})={num_outputs} output steps "
            f"and {num_keys} attended positions (len(source_tokens), or the "
            "layer's `key_tokens`), i.e. have shape at least [..., "
            f"{num_outputs}, {num_keys}] (larger arrays are cropped). "
            f"Received: {name}.shape={tuple(weights.shape)}"
        )
    weights = weights[..., :num_outputs, :num_keys].astype(np.float32)
    if not np.all(np.isfinite(weights)) or np.any(weights < 0):
        raise ValueError(
            f"`{name}` must hold finite, non-negative weights. Received: "
            f"min={np.min(weights)}, max={np.max(weights)}"
        )
    return weights


def crop_alignment(alignment, num_outputs, num_sources, names):
    """Bool `[num_outputs, num_sources]` of an at least as large array."""
    alignment = to_numpy(alignment)
    if (
        alignment.ndim != 2
        or alignment.shape[0] < num_outputs
        or alignment.shape[1] < num_sources
    ):
        raise ValueError(
            "`alignment` must be 2-D with shape [T_out, T_src], at least "
            f"[{num_outputs}, {num_sources}] (the token counts; larger "
            f"arrays are cropped like `{names['attention']}`). "
            f"Received: alignment.shape={tuple(alignment.shape)}"
        )
    return alignment[:num_outputs, :num_sources] != 0


def fit_alignment(alignment, num_outputs, num_sources, subject):
    """Bool `[num_outputs, num_sources]` of a padded decoder alignment.

    Rows beyond `num_outputs` are dropped and missing rows (or columns)
    have no reference; columns beyond `num_sources` must not mark any
    reference cell of a kept row. `subject` names the alignment in errors.
    """
    alignment = to_numpy(alignment)
    if alignment.ndim != 2:
        raise ValueError(
            f"{subject} must have shape [T_out, T_src]. Received: "
            f"alignment.shape={tuple(alignment.shape)}"
        )
    reference = alignment != 0
    beyond = np.nonzero(reference[:num_outputs, num_sources:])[1]
    if beyond.size:
        raise ValueError(
            f"{subject} marks source positions beyond the {num_sources} "
            "source tokens. Received: "
            f"alignment.shape={tuple(alignment.shape)} with references in "
            f"columns {sorted(set((beyond + num_sources).tolist()))}"
        )
    fitted = np.zeros((num_outputs, num_sources), dtype=bool)
    rows = min(num_outputs, reference.shape[0])
    columns = min(num_sources, reference.shape[1])
    fitted[:rows, :columns] = reference[:rows, :columns]
    return fitted


def crop_padded(values, num_tokens, key, tokens_name, unit):
    """Entries of a decoder's `key` cropped to `num_tokens` (padding).

    `values` is a `{label: 1-D values}` dict (`unit="values"`) or one 1-D
    array (`unit="bools"`, the marks); shorter entries raise.
    """

    def crop(entry, where):
        array = to_numpy(entry)
        if array.ndim != 1 or array.shape[0] < num_tokens:
            raise ValueError(
                f"`{where}` must be 1-D with at least len({tokens_name})="
                f"{num_tokens} {unit} (longer arrays are cropped like the "
                f"attention). Received: {where}.shape={tuple(array.shape)}"
            )
        return array[:num_tokens]

    if not isinstance(values, Mapping):
        return values if unit == "values" else crop(values, key)
    return {
        label: crop(entry, f"{key}[{label!r}]")
        for label, entry in values.items()
    }


def check_values(values, num_tokens, argument_name, tokens_name):
    """`{label: float32 [num_tokens]}` of a `{label: values}` dict.

    `None` gives `{}`. Labels are `str` (or UTF-8 `bytes`, or scalars,
    shown as text), distinct as text; each entry must be 1-D with exactly
    `num_tokens` finite values.
    """
    if values is None:
        return {}
    if not isinstance(values, Mapping):
        raise ValueError(
            f"`{argument_name}` must be a dict from label to a sequence of "
            f"len({tokens_name}) numbers. Received: "
            f"{argument_name}={values!r}"
        )
    checked = {}
    for label, entry in values.items():
        text = token_text(label, f"{argument_name} labels")
        if not text:
            raise ValueError(
                f"The labels of `{argument_name}` must be non-empty. "
                f"Received: label {label!r}"
            )
        if text in checked:
            raise ValueError(
                f"The labels of `{argument_name}` must be distinct as text. "
                f"Received: labels {list(values)!r}"
            )
        checked[text] = frozen(
            _value_array(
                entry, num_tokens, f"{argument_name}[{text!r}]", tokens_name
            )
        )
    return checked


def _value_array(entry, num_tokens, where, tokens_name):
    array = to_numpy(entry)
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
    return array


def check_marks(marks, num_outputs, outputs_name):
    """Read-only bool `[num_outputs]` array of `marked_outputs`, or `None`."""
    if marks is None:
        return None
    if isinstance(marks, (str, bytes, Mapping)):
        raise ValueError(
            "`marked_outputs` must be a sequence of bools, one per output "
            f"token. Received: marked_outputs={marks!r}"
        )
    array = to_numpy(marks)
    if array.ndim != 1 or array.shape[0] != num_outputs:
        received = (
            f"len(marked_outputs)={array.shape[0]}"
            if array.ndim == 1
            else f"marked_outputs.shape={tuple(array.shape)}"
        )
        raise ValueError(
            "`marked_outputs` must hold one bool per token of "
            f"`{outputs_name}`: {num_outputs} values. Received: {received}"
        )
    if array.dtype != bool and not (
        np.issubdtype(array.dtype, np.number) and np.isin(array, (0, 1)).all()
    ):
        raise ValueError(
            "`marked_outputs` must hold bools (or 0 and 1). Received: "
            f"marked_outputs={array.tolist()!r}"
        )
    return frozen(array.astype(bool))


def check_scores(scores):
    """`{label: float}` of a dict of finite scalar scores (`None`: `{}`)."""
    if scores is None:
        return {}
    if not isinstance(scores, Mapping):
        raise ValueError(
            "`scores` must be a dict from label to a number. Received: "
            f"scores={scores!r}"
        )
    checked = {}
    for label, value in scores.items():
        text = token_text(label, "scores labels")
        array = to_numpy(value)
        if (
            array.ndim != 0
            or not np.issubdtype(array.dtype, np.number)
            or not np.isfinite(array)
        ):
            raise ValueError(
                f"`scores[{text!r}]` must be one finite number. Received: "
                f"scores[{text!r}]={value!r}"
            )
        checked[text] = float(array)
    return checked


def image_to_unit_float(image, argument_name="image"):
    """`image` as a float32 `[height, width, 3]` array in `[0, 1]`.

    Integer images hold values in `[0, 255]`. Float images are read as
    `[0, 1]` when their maximum is at most 1, else as `[0, 255]`.
    """
    image = to_numpy(image)
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
    kind_error = ValueError(
        f"`{argument_name}` must hold integer or float values. "
        f"Received: dtype={image.dtype}"
    )
    if image.dtype.kind in "bOSUMm":
        raise kind_error
    try:
        # Floats outside NumPy's own kinds (e.g. bfloat16) convert exactly.
        image = image.astype(np.float32)
    except (TypeError, ValueError) as error:
        raise kind_error from error
    if not np.all(np.isfinite(image)) or image.min() < 0 or image.max() > 255:
        raise ValueError(
            f"A float `{argument_name}` must hold finite values in [0, 1] "
            f"(or [0, 255]). Received: min={image.min()}, max={image.max()}"
        )
    if image.max() > 1.0:
        image = image / 255.0
    return image


def check_grid_shape(grid_shape):
    """`(h, w)` as two positive `int`s, or `None`."""
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


def _grid_of(attention, grid_shape):
    """The grid `(h, w)` of `[T, L]` or `[T, h, w]` image attention."""
    shape = tuple(attention.shape)
    if attention.ndim == 3:
        grid = tuple(int(side) for side in shape[1:])
        if grid_shape is not None and grid_shape != grid:
            raise ValueError(
                "`grid_shape` must match the last two axes of a [T, h, w] "
                f"`attention`. Received: grid_shape={grid_shape} and "
                f"attention.shape={shape}"
            )
        return grid
    if attention.ndim != 2:
        raise ValueError(
            "`attention` must have shape [T, L] (L = h * w cells in "
            "row-major order) or [T, h, w]: one sample, one head (average "
            f"or pick heads before plotting). Received: attention.shape={shape}"
        )
    num_cells = shape[1]
    if grid_shape is not None:
        if grid_shape[0] * grid_shape[1] != num_cells:
            raise ValueError(
                "`grid_shape` (h, w) must have h * w equal to the L "
                "attended cells of a [T, L] `attention`. Received: "
                f"grid_shape={grid_shape} and attention.shape={shape}"
            )
        return grid_shape
    side = math.isqrt(num_cells)
    if num_cells == 0 or side * side != num_cells:
        raise ValueError(
            "The attention grid of a [T, L] `attention` can only be "
            "inferred when L is a perfect square; pass "
            "`grid_shape=(h, w)` with h * w == L. Received: "
            f"attention.shape={shape}"
        )
    return side, side


def attention_grid(attention, grid_shape, num_steps):
    """Flat `[num_steps, h * w]` image attention and its grid `(h, w)`.

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
    attention = to_numpy(attention)
    grid = _grid_of(attention, check_grid_shape(grid_shape))
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
    attention = attention.reshape(attention.shape[0], -1)
    attention = attention[:num_steps].astype(np.float32)
    if not np.all(np.isfinite(attention)) or np.any(attention < 0):
        raise ValueError(
            "`attention` must hold finite, non-negative weights. Received: "
            f"min={np.min(attention)}, max={np.max(attention)}"
        )
    return attention, grid


def flatten_cells(values, grid, argument_name):
    """A `[T, h * w]` view of `[T, h * w]` or `[T, h, w]` per-cell values."""
    values = to_numpy(values)
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
