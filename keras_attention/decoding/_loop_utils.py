"""Validation and buffer helpers shared by the decoding loop and strategies.

The loop runs its first step outside `keras.ops.while_loop`: it reveals the
static shapes of the logits, the state and the attention, which size the
fixed buffers that make the loop compile under XLA.
"""

import numbers

import keras
import numpy as np
from keras import ops


def check_integer(name, value, minimum=None):
    """Validates an integer argument and returns it as a Python `int`."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(
            f"`{name}` must be an integer. Received: {name}={value!r}"
        )
    value = int(value)
    if minimum is not None and value < minimum:
        raise ValueError(
            f"`{name}` must be >= {minimum}. Received: {name}={value}"
        )
    return value


def check_common_arguments(end_id, pad_id, max_length, vocabulary_size):
    """Validates the arguments all decoders share; returns them as ints."""
    end_id = check_integer("end_id", end_id)
    pad_id = check_integer("pad_id", pad_id)
    max_length = check_integer("max_length", max_length, minimum=1)
    if vocabulary_size is not None:
        vocabulary_size = check_integer(
            "vocabulary_size", vocabulary_size, minimum=1
        )
    return end_id, pad_id, max_length, vocabulary_size


def check_non_negative_float(name, value):
    """Validates a finite, non-negative float and returns it."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(
            f"`{name}` must be a number. Received: {name}={value!r}"
        )
    value = float(value)
    if not np.isfinite(value) or value < 0.0:
        raise ValueError(
            f"`{name}` must be a finite number >= 0. Received: {name}={value}"
        )
    return value


def concrete_value(tensor):
    """Returns `tensor` as a NumPy array, or None when it is symbolic.

    Values traced by `jax.jit` or `tf.function` are unknown until run time,
    so value checks on them are skipped rather than failing the trace.
    """
    try:
        return ops.convert_to_numpy(tensor)
    except Exception:
        return None


def prepare_start_ids(start_ids):
    """Converts `start_ids` to an int32 `[batch]` tensor."""
    start_ids = ops.convert_to_tensor(start_ids)
    if len(start_ids.shape) != 1:
        raise ValueError(
            "`start_ids` must have shape `[batch]`. "
            f"Received: start_ids.shape={tuple(start_ids.shape)}"
        )
    dtype = keras.backend.standardize_dtype(start_ids.dtype)
    if "int" not in dtype:
        raise ValueError(
            f"`start_ids` must have an integer dtype. Received: dtype={dtype}"
        )
    return ops.cast(start_ids, "int32")


def batch_size_of(start_ids):
    """Returns the batch size: a Python int when static, else a tensor."""
    return ops.shape(start_ids)[0]


def check_state_batch(initial_state, batch_size):
    """Checks that every tensor of the state leads with the batch size."""
    for tensor in keras.tree.flatten(initial_state):
        if tensor is None:
            raise ValueError(
                "`initial_state` must be a nested structure of tensors; pass "
                "`()` to a step function without state. Received: "
                f"initial_state={initial_state!r}"
            )
        shape = ops.shape(tensor)
        if len(shape) == 0:
            raise ValueError(
                "Every tensor in `initial_state` must have a leading batch "
                "dimension. Received: a scalar tensor."
            )
        leading = shape[0]
        if (
            isinstance(leading, int)
            and isinstance(batch_size, int)
            and leading != batch_size
        ):
            raise ValueError(
                "Every tensor in `initial_state` must have a leading "
                "dimension equal to the batch size of `start_ids` "
                f"({batch_size}). Received: a tensor of shape {tuple(shape)}"
            )


def split_step_outputs(outputs):
    """Splits `step_fn` outputs into `(logits, state, attention or None)`."""
    if not isinstance(outputs, (tuple, list)) or len(outputs) not in (2, 3):
        raise ValueError(
            "`step_fn` must return `(logits, state)` or "
            f"`(logits, state, attention)`. Received: {outputs!r}"
        )
    attention = outputs[2] if len(outputs) == 3 else None
    return outputs[0], outputs[1], attention


def infer_vocabulary_size(logits, batch_size, vocabulary_size):
    """Checks the first step's logits and returns the vocabulary size."""
    shape = ops.shape(logits)
    if len(shape) != 2:
        raise ValueError(
            "`step_fn` must return logits of shape `[batch, vocab]`. "
            f"Received: logits.shape={tuple(shape)}"
        )
    if (
        isinstance(shape[0], int)
        and isinstance(batch_size, int)
        and shape[0] != batch_size
    ):
        raise ValueError(
            "`step_fn` must return logits with batch size "
            f"{batch_size}. Received: logits.shape={tuple(shape)}"
        )
    static_vocabulary_size = logits.shape[-1]
    if vocabulary_size is None:
        if static_vocabulary_size is None:
            raise ValueError(
                "The vocabulary size cannot be inferred from logits with an "
                "unknown last dimension. Pass `vocabulary_size`. Received: "
                f"logits.shape={tuple(logits.shape)}"
            )
        return static_vocabulary_size
    if (
        static_vocabulary_size is not None
        and static_vocabulary_size != vocabulary_size
    ):
        raise ValueError(
            "`vocabulary_size` must match the last dimension of the logits "
            f"returned by `step_fn` ({static_vocabulary_size}). Received: "
            f"vocabulary_size={vocabulary_size}"
        )
    return vocabulary_size


def check_token_ids(vocabulary_size, start_ids, end_id, pad_id):
    """Checks that the special token ids lie in `[0, vocabulary_size)`."""
    for name, token_id in (("end_id", end_id), ("pad_id", pad_id)):
        if not 0 <= token_id < vocabulary_size:
            raise ValueError(
                f"`{name}` must be in [0, {vocabulary_size}). "
                f"Received: {name}={token_id}"
            )
    values = concrete_value(start_ids)
    if values is not None and values.size:
        low, high = int(values.min()), int(values.max())
        if low < 0 or high >= vocabulary_size:
            raise ValueError(
                f"`start_ids` must be in [0, {vocabulary_size}). "
                f"Received: start_ids with min={low} and max={high}"
            )


def check_attention(attention, batch_size):
    """Checks that attention, when returned, leads with the batch size."""
    if attention is None:
        return
    shape = ops.shape(attention)
    batch_mismatch = (
        len(shape) > 0
        and isinstance(shape[0], int)
        and isinstance(batch_size, int)
        and shape[0] != batch_size
    )
    if len(shape) == 0 or batch_mismatch:
        raise ValueError(
            "`step_fn` must return attention with a leading batch dimension "
            f"of {batch_size}. Received: attention.shape={tuple(shape)}"
        )


def log_softmax_float32(logits):
    """Log-probabilities in float32, whatever the dtype of the logits."""
    return ops.log_softmax(ops.cast(logits, "float32"), axis=-1)


def write_step(buffer, step, values):
    """Writes `values` `[n, ...]` at time `step` of `buffer` `[n, T, ...]`."""
    start_indices = [0, step] + [0] * (len(buffer.shape) - 2)
    return ops.slice_update(buffer, start_indices, ops.expand_dims(values, 1))


def mask_rows(condition, values):
    """Zeroes the rows of `values` `[n, ...]` where `condition` `[n]` fails."""
    condition = ops.reshape(condition, [-1] + [1] * (len(values.shape) - 1))
    return ops.where(condition, values, ops.zeros_like(values))


def _history_step_axis(rank):
    # Just before the last (source) axis; a per-step attention of rank 1,
    # `[n]`, gets its steps last.
    return max(1, rank - 2)


def history_buffer(attention, rows, max_length):
    """A zero float32 buffer for the attention of every step.

    The steps go just before the last (source) axis, so per-step weights
    `[n, T_src]` give `[rows, max_length, T_src]` and multi-head weights
    `[n, heads, T_src]` give `[rows, heads, max_length, T_src]`, the layout
    of the attention layers' own weights.
    """
    shape = [rows] + list(attention.shape[1:])
    shape.insert(_history_step_axis(len(shape) + 1), max_length)
    return ops.zeros(shape, "float32")


def write_history(history, step, attention):
    """Writes one step's `attention` `[n, ...]` into `history`."""
    axis = _history_step_axis(len(history.shape))
    start_indices = [0] * len(history.shape)
    start_indices[axis] = step
    return ops.slice_update(
        history, start_indices, ops.expand_dims(attention, axis)
    )


def run_first_step(
    step_fn, initial_state, start_ids, end_id, pad_id, vocabulary_size
):
    """Validates the decoder inputs and runs the first step outside the loop.

    Args:
        step_fn: The decoder's step function.
        initial_state: Its first state.
        start_ids: The first input tokens `[batch]`.
        end_id: Validated int, the end token.
        pad_id: Validated int, the padding token.
        vocabulary_size: Validated int or `None` (inferred from the logits).

    Returns:
        `(batch_size, vocabulary_size, (logits, state, attention))`: the
        batch size (a Python int when static), the checked vocabulary size
        and the outputs of `step_fn(start_ids, initial_state)`, `attention`
        being `None` when `step_fn` returns none.
    """
    start_ids = prepare_start_ids(start_ids)
    batch_size = batch_size_of(start_ids)
    check_state_batch(initial_state, batch_size)
    if vocabulary_size is not None:
        # Before the first step: the step function may fail on bad ids.
        check_token_ids(vocabulary_size, start_ids, end_id, pad_id)
    logits, state, attention = split_step_outputs(
        step_fn(start_ids, initial_state)
    )
    vocabulary_size = infer_vocabulary_size(logits, batch_size, vocabulary_size)
    check_token_ids(vocabulary_size, start_ids, end_id, pad_id)
    check_attention(attention, batch_size)
    return batch_size, vocabulary_size, (logits, state, attention)


def check_ngram_size(no_repeat_ngram_size):
    """Validates `no_repeat_ngram_size` (0 disables blocking); returns it."""
    return check_integer(
        "no_repeat_ngram_size", no_repeat_ngram_size, minimum=0
    )


def repeated_ngram_mask(sequences, step, ngram_size, vocabulary_size):
    """The next tokens that would repeat an n-gram of each hypothesis.

    With `k = step` tokens `y_1..y_k` generated, token `w` is blocked when
    `(y_{k-n+2}, ..., y_k, w)` equals an n-gram of `y_1..y_k`, i.e. when an
    earlier (n-1)-gram `y_{j+1}..y_{j+n-1}` (0-based start `j <= k - n`)
    matches the last n-1 tokens: `w = y_{j+n}` is then blocked. Every row
    is read as `step` tokens long, which holds for the live hypotheses
    (the rows that use the mask).

    The earlier positions are compared at once (`[rows, max_length]` per
    context token) and the blocked tokens scattered into `[rows, vocab]`,
    so no `[rows, max_length, vocab]` one-hot is built. The scatter sets
    rather than adds (`ops.scatter` loops in Python on PyTorch, and the
    `reduction` of `ops.scatter_update` is newer than Keras 3.10);
    duplicates write the same value, so their order does not matter, and
    positions that block nothing write to an extra column that is dropped.

    Args:
        sequences: int32 `[rows, max_length]`, the generated tokens.
        step: int or int32 scalar tensor, the number of tokens generated.
        ngram_size: int >= 1, the `n` of the n-grams.
        vocabulary_size: int, the size of the mask's last axis.

    Returns:
        A boolean `[rows, vocabulary_size]` tensor, or `None` when no
        n-gram can repeat within `max_length` tokens.
    """
    max_length = sequences.shape[1]
    context_size = ngram_size - 1
    # A repeat needs n tokens before the step that writes the last token of
    # the repeat, which is at most step `max_length - 1`.
    num_starts = max_length - ngram_size
    if num_starts <= 0:
        return None
    matches = ops.ones_like(sequences[:, :num_starts], dtype="bool")
    if context_size:
        # Positions before the first token (step < n - 1) are clipped; no
        # start j <= step - n exists then, so what they read is unused.
        context_positions = ops.maximum(
            ops.arange(context_size, dtype="int32") + (step - context_size), 0
        )
        context = ops.take(sequences, context_positions, axis=1)
        for offset in range(context_size):
            matches = ops.logical_and(
                matches,
                ops.equal(
                    sequences[:, offset : offset + num_starts],
                    context[:, offset : offset + 1],
                ),
            )
    in_history = ops.less_equal(
        ops.arange(num_starts, dtype="int32"), step - ngram_size
    )
    matches = ops.logical_and(matches, ops.expand_dims(in_history, 0))
    followers = sequences[:, context_size : context_size + num_starts]
    columns = ops.where(matches, followers, vocabulary_size)
    rows = ops.shape(sequences)[0]
    row_ids = ops.zeros_like(columns) + ops.expand_dims(
        ops.arange(rows, dtype="int32"), 1
    )
    indices = ops.reshape(ops.stack([row_ids, columns], axis=-1), [-1, 2])
    # float32: integer scatters may be placed on the host on GPUs.
    hits = ops.scatter_update(
        ops.zeros([rows, vocabulary_size + 1], "float32"),
        indices,
        ops.ones([ops.shape(indices)[0]], "float32"),
    )
    return ops.greater(hits[:, :vocabulary_size], 0.0)


def block_repeated_ngrams(
    log_probs, sequences, step, ngram_size, vocabulary_size
):
    """Sets to `-inf` the log-probabilities of `repeated_ngram_mask`.

    Returns `log_probs` unchanged when `ngram_size` is 0 or no n-gram can
    repeat within the buffer's length.
    """
    if ngram_size == 0:
        return log_probs
    blocked = repeated_ngram_mask(sequences, step, ngram_size, vocabulary_size)
    if blocked is None:
        return log_probs
    return ops.where(blocked, float("-inf"), log_probs)
