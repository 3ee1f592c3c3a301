"""The masked softmax shared by every attention layer of the library."""

from keras import ops

# Large enough to vanish under exp() in float32, small enough never to
# overflow when subtracted from real logits.
_LARGE_NEGATIVE = -1e9


def masked_softmax(scores, mask=None, axis=-1):
    """Softmax over `axis` that gives exactly zero weight to masked positions.

    The softmax always runs in float32, whatever the dtype of `scores`, so that
    `mixed_float16` and `mixed_bfloat16` models keep weights that sum to one.
    Masked positions get a weight of exactly `0.0` (not a small number), and a
    row whose positions are all masked gives zeros instead of NaN, with finite
    gradients.

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
    # One key (a one-token source) is a valid input and gets weight 1;
    # `ops.softmax` would warn that a softmax over a size-1 axis is "likely
    # not what you intended".
    single_key = scores.shape[axis] == 1
    if mask is None:
        return (
            ops.ones_like(scores) if single_key else ops.softmax(scores, axis)
        )
    mask = ops.cast(mask, "bool")
    if single_key:
        weights = ops.ones_like(scores)
    else:
        # A fully masked row becomes uniform here and is zeroed just below;
        # a finite constant instead of -inf keeps both the value and the
        # gradient finite.
        weights = ops.softmax(
            ops.where(mask, scores, _LARGE_NEGATIVE), axis=axis
        )
    return ops.where(mask, weights, ops.zeros_like(weights))
