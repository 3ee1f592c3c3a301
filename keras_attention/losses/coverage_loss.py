"""The coverage loss of See et al.'s pointer-generator network."""

from keras import ops


def coverage_loss(attention, mask=None):
    """Penalizes attending again to source positions already attended to.

    Equation 12 of See et al. (2017) defines, at decoder step `t`,

    `covloss_t = sum_i min(a_i^t, c_i^t)`, with `c^t = sum_{t' < t} a^{t'}`

    the coverage: the attention each source position `i` received at the
    earlier steps (zero at the first step). The loss is bounded by 1 per
    step and is zero while the decoder attends only to fresh positions.
    This function returns, for each example, the mean of `covloss_t` over
    its decoder steps; the model adds `lambda * mean(coverage_loss(...))`
    to its negative log likelihood (equation 13).

    Masked decoder steps (`mask`) neither count in the mean nor add to the
    coverage of later steps. Pass the decoder's mask: `AttentionRNN`
    repeats the last real step's weights on padded steps.

    Args:
        attention: Attention weights `[batch, T_dec, T_enc]`, e.g. the
            second output of `AttentionRNN` or of `BahdanauAttention` with a
            sequence of queries.
        mask: Optional boolean `[batch, T_dec]`: the real decoder steps.

    Returns:
        A float32 tensor `[batch]`: the mean of `covloss_t` over the
        unmasked steps of each example (0 for an example without any).

    Example:

    >>> attention = keras.ops.array([[[0.5, 0.5, 0.0], [0.5, 0.0, 0.5]]])
    >>> keras_attention.losses.coverage_loss(attention)
    [0.25]

    (Step 1 has no coverage yet; at step 2 the coverage is `[0.5, 0.5, 0]`,
    so `covloss = min(0.5, 0.5) + min(0, 0.5) + min(0.5, 0) = 0.5`: the mean
    over the two steps is 0.25.)

    References:
        - [See et al., 2017](https://arxiv.org/abs/1704.04368), section 2.3,
          equations 10, 12 and 13.
    """
    if len(attention.shape) != 3:
        raise ValueError(
            "`attention` must have rank 3 ([batch, T_dec, T_enc]). "
            f"Received: attention.shape={tuple(attention.shape)}"
        )
    attention = ops.cast(attention, "float32")
    if mask is not None:
        _check_mask(mask, attention.shape)
        present = ops.cast(mask, "bool")
        attention = ops.where(
            ops.expand_dims(present, -1), attention, ops.zeros_like(attention)
        )
    # The exclusive sum over the earlier steps: the inclusive one minus the
    # step itself would leave rounding residue where there is no coverage.
    cumulative = ops.cumsum(attention, axis=1)
    coverage = ops.concatenate(
        [ops.zeros_like(cumulative[:, :1]), cumulative[:, :-1]], axis=1
    )
    # Masked steps have zero attention, so their min(a, c) is zero.
    step_losses = ops.sum(ops.minimum(attention, coverage), axis=-1)
    if mask is None:
        steps = ops.sum(ops.ones_like(step_losses), axis=-1)
    else:
        steps = ops.sum(ops.cast(present, "float32"), axis=-1)
    return ops.sum(step_losses, axis=-1) / ops.maximum(steps, 1.0)


def _check_mask(mask, attention_shape):
    expected = tuple(attention_shape[:2])
    received = tuple(mask.shape)
    fits = len(received) == 2 and all(
        r is None or e is None or r == e
        for r, e in zip(received, expected, strict=True)
    )
    if not fits:
        raise ValueError(
            f"`mask` must have shape {expected} ([batch, T_dec] of "
            f"`attention`). Received: mask.shape={received}, "
            f"attention.shape={tuple(attention_shape)}"
        )
