"""Attention correctness: attention mass on reference-aligned positions."""

from keras import ops

_HEADS = ("mean", "best", None)


def _static_shape(tensor):
    return tuple(dim if isinstance(dim, int) else None for dim in tensor.shape)


def _shapes_match(received, expected):
    return len(received) == len(expected) and all(
        r is None or e is None or r == e
        for r, e in zip(received, expected, strict=True)
    )


def _to_indicator(values):
    """Float32 tensor holding 1.0 where `values` is nonzero (or True)."""
    values = ops.cast(ops.convert_to_tensor(values), "float32")
    return ops.cast(ops.not_equal(values, 0.0), "float32")


def attention_correctness(attention, alignment, mask=None, heads="mean"):
    """Share of attention mass each output step puts on its aligned sources.

    For output step `t` with reference-aligned source positions `A_t` (the
    nonzero entries of row `t` of `alignment`), the correctness of the step
    is `sum_{j in A_t} attention[t, j]`, the attention mass on the aligned
    positions: 1 when all mass is on them, 0 when none is. The score is the
    mean over all steps of the batch that have a reference (a nonzero
    alignment row) and are not masked out. This is the "attention
    correctness" of Liu et al. (2016), who call it alignment agreement for
    translation, and of Liu et al. (2017) for image captioning, where the
    source positions are image regions.

    Steps are pooled over the whole batch (each counted step weighs the
    same, whichever sample it belongs to). Attention rows are not
    renormalised: they are expected to be distributions over the source
    positions (e.g. softmax outputs); weights of padded source positions
    count as mass off the reference. Weights of steps without a reference
    or outside the mask, and weights off the reference, are never read, so
    they may even be NaN.

    For multi-head attention `[batch, heads, T_out, T_src]` (the layout of
    `keras.layers.MultiHeadAttention(..., return_attention_scores=True)`),
    every head is scored against the same alignment.

    Args:
        attention: Attention weights of shape `[batch, T_out, T_src]`, or
            `[batch, heads, T_out, T_src]` per head; a NumPy array, backend
            tensor or nested lists of any float dtype (computed in
            float32, so `float16` and `bfloat16` weights are fine).
        alignment: Reference alignment of shape `[batch, T_out, T_src]`,
            bool or numeric; nonzero entries mark the source positions
            aligned with an output step. A step whose row is all zero has
            no reference and is skipped. To score a subset of the steps
            (e.g. one field of a structured output), pass an alignment
            holding only their rows.
        mask: Optional `[batch, T_out]` bool or numeric array; only the
            steps where it is nonzero (e.g. real output tokens, not
            padding) are counted.
        heads: How per-head attention is scored: `"mean"` scores the
            head-averaged attention map (equal to the mean of the
            per-head scores), `"best"` returns the score of the best head,
            `None` returns the score of every head. Has no effect on 3-D
            `attention`.

    Returns:
        A float32 scalar tensor in `[0, 1]` (for rows summing to one), or
        for 4-D `attention` and `heads=None` a float32 tensor of shape
        `[heads]`. When no counted step has a reference the score is 0.0,
        also for empty inputs (zero samples, steps, source positions or
        heads).

    Example:

    ```python
    # One sample, two output steps over three source positions.
    attention = np.array([[[0.7, 0.2, 0.1], [0.1, 0.3, 0.6]]])
    # Step 0 is aligned with source 0, step 1 with sources 1 and 2.
    alignment = np.array([[[1, 0, 0], [0, 1, 1]]])
    attention_correctness(attention, alignment)  # (0.7 + 0.9) / 2 = 0.8
    ```

    References:
        - [Liu et al., 2016](https://arxiv.org/abs/1609.04186), "Neural
          Machine Translation with Supervised Attention".
        - [Liu et al., 2017](https://arxiv.org/abs/1605.09553), "Attention
          Correctness in Neural Image Captioning".
    """
    attention, reference, counted = _prepare(attention, alignment, mask, heads)
    per_head = len(attention.shape) == 4
    if per_head:
        reference = reference[:, None]
        counted = counted[:, None]

    # `where` rather than products, so that NaN weights off the reference
    # or in skipped steps do not propagate.
    on_reference = ops.where(reference > 0, attention, 0.0)
    step_scores = ops.where(counted > 0, ops.sum(on_reference, axis=-1), 0.0)
    num_counted = ops.maximum(ops.sum(counted), 1.0)
    if not per_head:
        return ops.sum(step_scores) / num_counted
    head_scores = ops.sum(step_scores, axis=(0, 2)) / num_counted
    if heads is not None and attention.shape[1] == 0:
        # No heads: nothing is counted, as with no referenced step.
        return ops.zeros((), "float32")
    if heads == "mean":
        return ops.mean(head_scores)
    if heads == "best":
        return ops.max(head_scores)
    return head_scores


def _prepare(attention, alignment, mask, heads):
    """Checks the arguments of `attention_correctness`.

    Returns float32 `(attention, reference, counted)`: the attention, the
    0/1 reference `[batch, T_out, T_src]` and the 0/1 steps that count
    `[batch, T_out]` (those with a reference, and unmasked).
    """
    if not (heads is None or (isinstance(heads, str) and heads in _HEADS)):
        raise ValueError(
            f"`heads` must be one of {list(_HEADS)}. Received: heads={heads!r}"
        )
    attention = ops.cast(ops.convert_to_tensor(attention), "float32")
    attention_shape = _static_shape(attention)
    if len(attention_shape) not in (3, 4):
        raise ValueError(
            "`attention` must have shape [batch, T_out, T_src] or "
            "[batch, heads, T_out, T_src]. Received: "
            f"attention.shape={attention_shape}"
        )
    batch = attention_shape[0]
    num_out, num_src = attention_shape[-2:]

    reference = _to_indicator(alignment)
    expected = (batch, num_out, num_src)
    if not _shapes_match(_static_shape(reference), expected):
        raise ValueError(
            "`alignment` must have shape [batch, T_out, T_src] matching "
            f"`attention`, i.e. {expected}. Received: "
            f"alignment.shape={_static_shape(reference)} for "
            f"attention.shape={attention_shape}"
        )
    # 1.0 for the steps that have a reference (`any`, not `max`: a max
    # over zero source positions, or of an empty batch, raises).
    counted = ops.cast(ops.any(reference > 0, axis=-1), "float32")
    if mask is not None:
        mask = _to_indicator(mask)
        if not _shapes_match(_static_shape(mask), (batch, num_out)):
            raise ValueError(
                "`mask` must have shape [batch, T_out] matching `attention`, "
                f"i.e. {(batch, num_out)}. Received: "
                f"mask.shape={_static_shape(mask)} for "
                f"attention.shape={attention_shape}"
            )
        counted = counted * mask
    return attention, reference, counted
