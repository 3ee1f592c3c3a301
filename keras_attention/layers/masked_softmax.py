"""The masked softmax shared by every attention layer of the library."""

from keras import ops


def masked_softmax(scores, mask=None, axis=-1):
    """Softmax over `axis` that gives exactly zero weight to masked positions.

    The softmax always runs in float32, whatever the dtype of `scores`, so that
    `mixed_float16` and `mixed_bfloat16` models keep weights that sum to one.
    Masked positions get a weight of exactly `0.0` (not a small number), and a
    row whose positions are all masked gives zeros instead of NaN, with finite
    gradients. The weights of the unmasked positions are those of a softmax
    over them alone, for any finite logits, and NaN or Inf logits at masked
    positions change neither the weights nor the gradients.

    Args:
        scores: Float tensor of attention logits.
        mask: Optional boolean tensor broadcastable to `scores`; `True` marks
            the positions that may be attended to.
        axis: The axis to normalize over.

    Returns:
        A float32 tensor of the shape of `scores`.

    Example:

    >>> scores = keras.ops.array([[1.0, 2.0, 3.0], [1.0, 2.0, 3.0]])
    >>> mask = keras.ops.array([[True, True, False], [False, False, False]])
    >>> keras_attention.layers.masked_softmax(scores, mask)
    [[0.2689, 0.7311, 0.0], [0.0, 0.0, 0.0]]
    """
    scores = ops.cast(scores, "float32")
    if mask is None:
        # One key (a one-token source) is a valid input and gets weight 1;
        # `ops.softmax` would warn that a softmax over a size-1 axis is
        # "likely not what you intended".
        if scores.shape[axis] == 1:
            return ops.ones_like(scores)
        return ops.softmax(scores, axis)
    mask = ops.broadcast_to(ops.cast(mask, "bool"), ops.shape(scores))
    if scores.shape[axis] == 1:
        return ops.where(mask, ops.ones_like(scores), ops.zeros_like(scores))
    # Masked logits are replaced by -inf, not offset by a large constant:
    # the weights stay exact for any finite logits (even below -1e9), and
    # a NaN or Inf at a masked position reaches neither the value nor the
    # gradient. A fully masked row (all -inf would give NaN) is softmaxed
    # as zeros and then zeroed.
    masked_scores = ops.where(mask, scores, float("-inf"))
    any_unmasked = ops.any(mask, axis=axis, keepdims=True)
    masked_scores = ops.where(
        any_unmasked, masked_scores, ops.zeros_like(scores)
    )
    weights = ops.softmax(masked_scores, axis=axis)
    return ops.where(mask, weights, ops.zeros_like(weights))
