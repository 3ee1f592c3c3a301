"""The doubly stochastic attention penalty of Show, Attend and Tell."""

from keras import ops


def doubly_stochastic_penalty(attention, value_mask=None, target=1.0):
    """Penalizes source positions whose attention over time misses `target`.

    Equation 14 of Xu et al. (2015) adds to the negative log likelihood

    `lambda * sum_i (1 - sum_t alpha_ti)^2`

    which encourages the decoder to pay equal attention to every part of
    the image over the course of generation. This function returns the sum
    `sum_i (target - sum_t alpha_ti)^2` for each example; the caller
    multiplies it by `lambda` and averages it over the batch. Multi-head
    weights give each head its own term, all summed. Masked target steps
    have all-zero attention rows and so add nothing to `sum_t`; masked
    source positions (`value_mask`) add nothing to the sum over `i`.

    Args:
        attention: Attention weights `[batch, T_dec, T_enc]`, or heads first
            `[batch, heads, T_dec, T_enc]` (as the layers of this library
            return them).
        value_mask: Optional boolean `[batch, T_enc]`: the source positions
            that count.
        target: The total attention each position should receive over the
            sequence (`1` in the paper; `T_dec / T_enc` spreads the steps
            evenly over the positions).

    Returns:
        A float32 tensor `[batch]`, the penalty of each example.

    Example:

    >>> attention = keras.ops.array([[[0.5, 0.5, 0.0], [0.5, 0.5, 0.0]]])
    >>> keras_attention.losses.doubly_stochastic_penalty(attention)
    [1.0]

    References:
        - [Xu et al., 2015](https://arxiv.org/abs/1502.03044), section 4.2.1,
          equation 14.
    """
    rank = len(attention.shape)
    if rank not in (3, 4):
        raise ValueError(
            "`attention` must have rank 3 ([batch, T_dec, T_enc]) or 4 "
            "([batch, heads, T_dec, T_enc]). "
            f"Received: attention.shape={tuple(attention.shape)}"
        )
    if isinstance(target, bool) or not isinstance(target, (int, float)):
        raise ValueError(
            f"`target` must be a number. Received: target={target!r}"
        )
    attention = ops.cast(attention, "float32")
    # Summed over the target steps: `[batch, (heads,) T_enc]`.
    received = ops.sum(attention, axis=-2)
    penalty = ops.square(float(target) - received)
    if value_mask is not None:
        _check_value_mask(value_mask, attention.shape)
        present = ops.cast(value_mask, "bool")
        if rank == 4:
            present = ops.expand_dims(present, 1)
        penalty = ops.where(present, penalty, ops.zeros_like(penalty))
    return ops.sum(ops.reshape(penalty, (ops.shape(penalty)[0], -1)), -1)


def _check_value_mask(value_mask, attention_shape):
    expected = (attention_shape[0], attention_shape[-1])
    received = tuple(value_mask.shape)
    fits = len(received) == 2 and all(
        r is None or e is None or r == e
        for r, e in zip(received, expected, strict=True)
    )
    if not fits:
        raise ValueError(
            f"`value_mask` must have shape {expected} ([batch, T_enc] of "
            f"`attention`). Received: value_mask.shape={received}, "
            f"attention.shape={tuple(attention_shape)}"
        )
