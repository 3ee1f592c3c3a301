"""What `AttentionRNN` does to a context between the attention and its use.

Each part takes the context of one step (or, on the parallel path, of every
step at once) and returns the context to use in its place, with the log
probability of a sampled location when it sampled one. The parts are plain
objects: the layers they call belong to the `AttentionRNN` that made them,
which tracks and saves them. `AttentionRNN` runs its parts in order: hard
sampling first, then the context gate, so the gate scales the sampled
context.
"""

from keras import ops


class HardSampling:
    """Stochastic hard attention of Xu et al. (2015, section 4.1).

    With probability `expected_context_rate` a sequence keeps the expected
    context `sum_i alpha_ti a_i`; otherwise it samples one location
    `s_t ~ Categorical(alpha_t)` and uses the context the attention layer
    gives for one-hot weights at `s_t`. Without uniforms (outside training)
    the context is the expected one.

    Args:
        decoder: The `AttentionRNN` whose attention layer this part reads.
        expected_context_rate: Float in `[0, 1]`, the probability of the
            expected context.
    """

    # A sampled context changes every step: hard attention runs the loop.
    supports_parallel = False
    # `AttentionRNN` draws the step's two uniforms for this part.
    draws_uniforms = True

    def __init__(self, decoder, expected_context_rate):
        self._decoder = decoder
        self.expected_context_rate = expected_context_rate

    def __call__(self, query, context, weights, memory, uniforms):
        """The context to use and `log p(s_t)`.

        Args:
            query: The query of the step (unused).
            context: The expected context `[batch, dim]`.
            weights: `[batch, T_enc]` attention weights of one head.
            memory: The memory dict the weights attend over.
            uniforms: `None` or float32 `[batch, 2]`: the first number
                chooses between the expected context and a sampled
                location, the second one samples the location.

        Returns:
            `(context, log_prob)`: log_prob float32 `[batch]`, zero where no
            location was sampled, or `None` without uniforms.
        """
        if uniforms is None:
            return context, None
        sampled_context, sampled_log_prob = sample_context(
            self._decoder.attention,
            weights,
            memory,
            uniforms[:, 1],
            self._decoder.compute_dtype,
        )
        # u < rate holds for every u in [0, 1) when the rate is 1 and for
        # none when it is 0.
        expected = uniforms[:, 0] < self.expected_context_rate
        context = ops.where(
            ops.expand_dims(expected, -1),
            context,
            ops.cast(sampled_context, context.dtype),
        )
        log_prob = ops.where(
            expected, ops.zeros_like(sampled_log_prob), sampled_log_prob
        )
        return context, log_prob


class ContextGate:
    """The gating scalar of Xu et al. (2015, section 4.2.1).

    Scales the context by `beta_t = sigmoid(f_beta(q_t))`, `f_beta` being
    the decoder's learned `Dense(1)` named `"context_gate"`.

    Args:
        decoder: The `AttentionRNN` that owns the gate's `Dense` layer.
    """

    supports_parallel = True
    draws_uniforms = False

    def __init__(self, decoder):
        self._decoder = decoder

    def __call__(self, query, context, weights, memory, uniforms):
        """`(context * beta, None)`: the gated context; it samples nothing."""
        logits = ops.cast(self._decoder._context_gate(query), "float32")
        return context * ops.cast(ops.sigmoid(logits), context.dtype), None


def sample_context(attention, weights, memory, uniform, dtype):
    """Samples `s ~ Categorical(weights)` by inverse CDF.

    Args:
        attention: The attention layer that computed the weights.
        weights: `[batch, T_enc]` attention weights of one head.
        memory: The memory dict the weights attend over.
        uniform: float32 `[batch]` in `[0, 1)`.
        dtype: The dtype of the one-hot weights given to `attention`.

    Returns:
        The context for the one-hot weights of `s` `[batch, dim]` and
        float32 `log p(s)` `[batch]` (zero for rows without weight).
    """
    probabilities = ops.cast(weights, "float32")
    cumulative = ops.cumsum(probabilities, axis=-1)
    # Weights that do not sum to one (local-p) are sampled normalized.
    total = cumulative[:, -1:]
    threshold = ops.expand_dims(uniform, -1) * total
    # `<=`: a position of zero weight adds an empty interval, so it is
    # never drawn, not even for u = 0.
    location = ops.sum(ops.cast(cumulative <= threshold, "int32"), -1)
    positions = ops.expand_dims(
        ops.arange(ops.shape(probabilities)[-1], dtype="int32"), 0
    )
    present = probabilities > 0
    # Rounding may put the threshold on the total, past the last position
    # with weight; that position is the one it stands for.
    # (`initial=0`, a no-op for these non-negative positions, lets an
    # empty batch through: a max over no elements raises.)
    last_present = ops.max(
        ops.where(present, positions, ops.zeros_like(positions)),
        axis=-1,
        initial=0,
    )
    location = ops.minimum(location, last_present)
    has_weight = total > 0
    one_hot = ops.logical_and(
        positions == ops.expand_dims(location, -1), has_weight
    )
    normalized = probabilities / ops.where(
        has_weight, total, ops.ones_like(total)
    )
    log_normalized = ops.log(
        ops.where(present, normalized, ops.ones_like(normalized))
    )
    log_prob = ops.sum(
        ops.where(one_hot, log_normalized, ops.zeros_like(log_normalized)),
        axis=-1,
    )
    # The attention layer's own hooks give the context it would give for
    # these weights (the value at `s`, through any output projection).
    one_hot_weights = ops.expand_dims(ops.cast(one_hot, dtype), 1)
    context = attention._combine_values(one_hot_weights, memory)
    context = attention._project_output(
        context, ops.expand_dims(memory["value_mask"], 1)
    )
    return ops.squeeze(context, 1), log_prob
