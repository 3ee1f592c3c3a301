"""Input checks and masks shared by the attention layers."""

from keras import ops


def check_query_and_value(query, value, key=None):
    """Checks ranks and static lengths of the call inputs.

    Takes tensors or shapes. Only static dimensions are checked; dynamic ones
    (`None`) are trusted.
    """
    query, value = _shape(query), _shape(value)
    key = None if key is None else _shape(key)
    if len(query) not in (2, 3):
        raise ValueError(
            "`query` must have rank 2 ([batch, dim], one decoder step) or 3 "
            f"([batch, Tq, dim]). Received: query.shape={query}"
        )
    if len(value) != 3:
        raise ValueError(
            "`value` must have rank 3 ([batch, Tv, dim]). "
            f"Received: value.shape={value}"
        )
    if len(query) == 3 and query[1] == 0:
        raise ValueError(
            "`query` must hold at least one time step. "
            f"Received: query.shape={query}"
        )
    if value[1] == 0:
        raise ValueError(
            "`value` must hold at least one time step. "
            f"Received: value.shape={value}"
        )
    if key is None:
        return
    if len(key) != 3:
        raise ValueError(
            "`key` must have rank 3 ([batch, Tv, dim]). "
            f"Received: key.shape={key}"
        )
    for axis, name in ((0, "batch size"), (1, "length")):
        key_dim, value_dim = key[axis], value[axis]
        if key_dim is not None and value_dim is not None:
            if key_dim != value_dim:
                raise ValueError(
                    f"`key` and `value` must have the same {name}. "
                    f"Received: key.shape={key}, "
                    f"value.shape={value}"
                )


def _shape(tensor_or_shape):
    shape = getattr(tensor_or_shape, "shape", tensor_or_shape)
    return tuple(shape)


def check_mask(mask, name, expected_shape):
    """Checks that a `[batch, T]` mask fits the tensor it masks."""
    if mask is None:
        return
    expected_shape = tuple(expected_shape)
    received = _shape(mask)
    fits = len(received) == len(expected_shape) and all(
        r is None or e is None or r == e
        for r, e in zip(received, expected_shape, strict=True)
    )
    if not fits:
        raise ValueError(
            f"`{name}` must have shape {expected_shape}. "
            f"Received: {name}.shape={received}"
        )


def expand_single_step(query, query_mask):
    """Turns a `[batch, dim]` decoder step into a `[batch, 1, dim]` query."""
    if len(query.shape) == 3:
        return query, query_mask, False
    query = ops.expand_dims(query, 1)
    if query_mask is not None:
        query_mask = ops.reshape(query_mask, (-1, 1))
    return query, query_mask, True


def value_mask_or_ones(value, value_mask):
    """A boolean `[batch, Tv]` mask; all `True` when no mask is given."""
    if value_mask is not None:
        return ops.cast(value_mask, "bool")
    shape = ops.shape(value)
    return ops.ones((shape[0], shape[1]), dtype="bool")


def combine_masks(value_mask, query_mask=None, causal_mask=None):
    """Merges the masks into one boolean `[batch, Tq, Tv]`-broadcastable mask.

    Args:
        value_mask: Boolean `[batch, Tv]`.
        query_mask: Optional boolean `[batch, Tq]`.
        causal_mask: Optional boolean `[Tq, Tv]`.
    """
    mask = ops.expand_dims(ops.cast(value_mask, "bool"), 1)
    if query_mask is not None:
        query_mask = ops.expand_dims(ops.cast(query_mask, "bool"), -1)
        mask = ops.logical_and(mask, query_mask)
    if causal_mask is not None:
        mask = ops.logical_and(mask, ops.expand_dims(causal_mask, 0))
    return mask


def causal_mask(query_length, value_length, query_start_index=0):
    """Boolean `[Tq, Tv]`: query step `i` sees value steps `<= start + i`."""
    query_positions = ops.arange(query_length, dtype="int32")
    query_positions = query_positions + ops.cast(query_start_index, "int32")
    value_positions = ops.arange(value_length, dtype="int32")
    return ops.expand_dims(query_positions, 1) >= ops.expand_dims(
        value_positions, 0
    )


def zero_masked_rows(outputs, mask):
    """Zeros outputs whose query row has no position left to attend to.

    Args:
        outputs: `[batch, Tq, ...]`.
        mask: Boolean `[batch or 1, Tq or 1, Tv]`.
    """
    row_has_keys = ops.any(mask, axis=-1)
    row_has_keys = ops.broadcast_to(row_has_keys, ops.shape(outputs)[:2])
    for _ in range(len(outputs.shape) - 2):
        row_has_keys = ops.expand_dims(row_has_keys, -1)
    return ops.where(row_has_keys, outputs, ops.zeros_like(outputs))
