"""Input checks, masks and initializers shared by the attention layers."""

import keras
from keras import ops

# Added to a seeded initializer's seed once per weight index. A large odd
# number rather than 1, so that layers seeded 1, 2, 3, ... (a common way to
# seed a stack) do not end up sharing kernels between neighbours.
_SEED_STRIDE = 2654435761
# Seeds stay below 2**31: every backend takes them, whatever its seed dtype.
_SEED_MODULUS = 2**31


def clone_initializer(initializer, index=0):
    """A fresh copy of `initializer` for one weight of a layer.

    An unseeded Keras 3 initializer draws its seed once, when it is created,
    and returns the same values on every call, so one initializer object
    shared by several weights gives them equal (or, for different shapes,
    proportional) values: the query, key and value kernels of an attention
    layer would start identical. Keras's own `MultiHeadAttention` therefore
    builds each weight from a clone, as done here. A clone of an unseeded
    initializer draws a new seed (from Python's `random`, which
    `keras.utils.set_random_seed` seeds, so builds stay reproducible).

    Cloning alone would still repeat a seeded initializer's values across
    weights (Keras's `MultiHeadAttention` does), so a seeded initializer's
    clone gets a seed derived from the weight's `index` within its layer:
    `(seed + index * 2654435761) % 2**31`, the seed itself for `index=0`.
    Two layers built with the same seeded initializer thus get identical
    weights, and each weight of a layer differs from the others.

    An initializer seeded with a `keras.random.SeedGenerator` is returned
    as it is: it already draws new values on every call, while a clone would
    restart the generator and repeat them. So are callables that are not
    Keras initializers, and custom initializers that cannot be rebuilt from
    their config.

    The layer keeps (and serializes) the user's initializer; only the weights
    are created from clones.

    Args:
        initializer: A `keras.initializers.Initializer` (or any callable).
        index: Position of the weight among the layer's weights created from
            the same initializer argument; distinct weights need distinct
            indices.

    Returns:
        An initializer to create that one weight with.
    """
    if not isinstance(initializer, keras.initializers.Initializer):
        return initializer
    seed = getattr(initializer, "seed", None)
    if isinstance(seed, keras.random.SeedGenerator):
        return initializer
    config = initializer.get_config()
    if index and isinstance(config.get("seed"), int):
        config["seed"] = (config["seed"] + index * _SEED_STRIDE) % (
            _SEED_MODULUS
        )
    try:
        return initializer.__class__.from_config(config)
    except TypeError:
        # A custom initializer whose config does not hold its arguments.
        return initializer


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


def sequence_shape(shape):
    """`[batch, dim]` (one decoder step) -> `[batch, 1, dim]`."""
    shape = tuple(shape)
    return (shape[0], 1, shape[1]) if len(shape) == 2 else shape


def check_query_rank(query):
    """Checks that `query` is one step `[batch, dim]` or `[batch, Tq, dim]`."""
    if len(query.shape) not in (2, 3):
        raise ValueError(
            "`query` must have rank 2 ([batch, dim], one decoder step) or "
            f"3 ([batch, Tq, dim]). Received: query.shape={query.shape}"
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
