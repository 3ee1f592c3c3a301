"""The REINFORCE objective of stochastic hard attention."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_attention")
class HardAttentionLoss(keras.layers.Layer):
    """Surrogate loss whose gradient trains sampled (hard) attention.

    Stochastic hard attention (Xu et al. 2015, section 4.1) samples one
    location `s_t ~ Multinoulli(alpha_t)` per step, which backpropagation
    cannot differentiate. The paper estimates the gradient of the log
    likelihood `L_s = log p(y | s, a)` with respect to the attention
    parameters `W` by REINFORCE (equations 10-12):

    `dL_s/dW ≈ (log p(y | s, a) - b) d log p(s | a)/dW
               + lambda_e dH[s]/dW`

    with `b` a moving average of the log likelihood (variance reduction)
    and `H[s]` the entropy of the attention. This layer returns, per
    example, the surrogate loss whose gradient is the negative of that
    estimate:

    `-stop_gradient(R - b) * sum_t log_prob_t
     - entropy_weight * sum_t entropy_t`

    with `R = log_likelihood`. Add its mean to the model's cross-entropy,
    which trains the rest of the model on `R` itself (the gradient of `R`
    is stopped here). The baseline is updated after the loss is computed,
    in training only: the first training call sets `b = mean(R)`, later
    ones `b <- baseline_decay * b + (1 - baseline_decay) * mean(R)`; until
    then `b = 0`. The layer computes in float32 whatever the dtype policy.

    Non-finite rewards (`-inf` for a target the model gives probability
    zero, or NaN) are left out: their REINFORCE term is zero (their loss
    is the entropy term alone) and `mean(R)` is the mean of the finite
    rewards of the batch. A batch with no finite reward, or an update that
    would overflow, leaves the baseline unchanged, so one bad batch cannot
    make every later loss infinite.

    Args:
        baseline_decay: Float in `[0, 1)`, the decay of the moving average
            baseline (the paper's `b_k = 0.9 b_{k-1} + 0.1 log p(y|s_k, a)`).
        entropy_weight: Non-negative float `lambda_e`, the weight of the
            entropy bonus.
        **kwargs: Base layer arguments such as `name` and `dtype`.

    Call arguments:
        log_likelihood: `[batch]`, `log p(y | s, a)` of each target sequence
            (the reward `R`).
        log_prob: `[batch, T_dec]`, the log probabilities of the sampled
            locations, from `AttentionRNN(...)(..., return_sampling=True)`.
        entropy: `[batch, T_dec]`, the entropies of the attention weights,
            from the same call.
        training: Whether to update the baseline.

    Returns:
        A float32 tensor `[batch]`, the surrogate loss of each example.

    Example:

    >>> memory = keras.random.normal((2, 7, 16))
    >>> targets = keras.random.normal((2, 5, 8))
    >>> decoder = keras_attention.layers.AttentionRNN(
    ...     keras.layers.GRUCell(16),
    ...     keras_attention.layers.BahdanauAttention(16),
    ...     style="bahdanau",
    ...     attention_sampling="hard",
    ... )
    >>> outputs, weights, _, sampling = decoder(
    ...     targets, memory, training=True, return_sampling=True
    ... )
    >>> # In a model: the summed log p(y_t) of each target sequence.
    >>> log_likelihood = -keras.ops.ones((2,))
    >>> loss = keras_attention.layers.HardAttentionLoss()(
    ...     log_likelihood,
    ...     sampling["log_prob"],
    ...     sampling["entropy"],
    ...     training=True,
    ... )
    >>> loss.shape
    (2,)

    References:
        - [Xu et al., 2015](https://arxiv.org/abs/1502.03044), section 4.1,
          equations 10-12.
        - [Williams, 1992](https://doi.org/10.1007/BF00992696), REINFORCE.
    """

    def __init__(self, baseline_decay=0.9, entropy_weight=0.01, **kwargs):
        # The inputs and the baseline stay float32 under mixed precision:
        # float16 would round log likelihoods of long sequences.
        kwargs.setdefault("autocast", False)
        super().__init__(**kwargs)
        if (
            isinstance(baseline_decay, bool)
            or not isinstance(baseline_decay, (int, float))
            or not 0.0 <= baseline_decay < 1.0
        ):
            raise ValueError(
                "`baseline_decay` must be a float in [0, 1). "
                f"Received: baseline_decay={baseline_decay!r}"
            )
        if (
            isinstance(entropy_weight, bool)
            or not isinstance(entropy_weight, (int, float))
            or entropy_weight < 0
        ):
            raise ValueError(
                "`entropy_weight` must be a non-negative float. "
                f"Received: entropy_weight={entropy_weight!r}"
            )
        self.baseline_decay = float(baseline_decay)
        self.entropy_weight = float(entropy_weight)

    def build(self, log_likelihood_shape, log_prob_shape, entropy_shape):
        _check_shapes(log_likelihood_shape, log_prob_shape, entropy_shape)
        self.baseline = self.add_weight(
            name="baseline",
            shape=(),
            dtype="float32",
            initializer="zeros",
            trainable=False,
            autocast=False,
        )
        self.initialized = self.add_weight(
            name="initialized",
            shape=(),
            dtype="int32",
            initializer="zeros",
            trainable=False,
        )
        self.built = True

    def call(self, log_likelihood, log_prob, entropy, training=None):
        _check_shapes(log_likelihood.shape, log_prob.shape, entropy.shape)
        reward = ops.stop_gradient(ops.cast(log_likelihood, "float32"))
        # A non-finite reward (a target the model gives probability 0)
        # says nothing about which location to sample: its REINFORCE term
        # is zero and it stays out of the baseline.
        finite = ops.isfinite(reward)
        baseline = ops.convert_to_tensor(self.baseline)
        advantage = ops.stop_gradient(
            ops.where(finite, reward - baseline, ops.zeros_like(reward))
        )
        log_prob = ops.sum(ops.cast(log_prob, "float32"), axis=-1)
        entropy = ops.sum(ops.cast(entropy, "float32"), axis=-1)
        loss = -advantage * log_prob - self.entropy_weight * entropy
        if training:
            self._update_baseline(reward, finite, baseline)
        return loss

    def _update_baseline(self, reward, finite, baseline):
        """Moves the baseline towards the mean of the finite rewards.

        A batch without a finite reward (or an empty one) leaves the
        baseline and its `initialized` flag as they are, as does an
        update that would overflow: the baseline stays finite.
        """
        count = ops.sum(ops.cast(finite, "float32"))
        total = ops.sum(ops.where(finite, reward, ops.zeros_like(reward)))
        mean_reward = total / ops.maximum(count, 1.0)
        decay = self.baseline_decay
        moved = decay * baseline + (1.0 - decay) * mean_reward
        initialized = ops.convert_to_tensor(self.initialized)
        updated = ops.where(initialized > 0, moved, mean_reward)
        keep = ops.logical_or(
            count == 0.0, ops.logical_not(ops.isfinite(updated))
        )
        self.baseline.assign(ops.where(keep, baseline, updated))
        self.initialized.assign(
            ops.where(keep, initialized, ops.ones((), "int32"))
        )

    def compute_output_spec(
        self, log_likelihood, log_prob, entropy, training=None
    ):
        return keras.KerasTensor((log_likelihood.shape[0],), dtype="float32")

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "baseline_decay": self.baseline_decay,
                "entropy_weight": self.entropy_weight,
            }
        )
        return config


def _check_shapes(log_likelihood_shape, log_prob_shape, entropy_shape):
    log_likelihood_shape = tuple(log_likelihood_shape)
    log_prob_shape = tuple(log_prob_shape)
    entropy_shape = tuple(entropy_shape)
    if len(log_likelihood_shape) != 1:
        raise ValueError(
            "`log_likelihood` must have rank 1 ([batch]). "
            f"Received: log_likelihood.shape={log_likelihood_shape}"
        )
    for name, shape in (
        ("log_prob", log_prob_shape),
        ("entropy", entropy_shape),
    ):
        if len(shape) != 2:
            raise ValueError(
                f"`{name}` must have rank 2 ([batch, T_dec]). "
                f"Received: {name}.shape={shape}"
            )
    shapes = (log_likelihood_shape[:1], log_prob_shape, entropy_shape)
    for axis in (0, 1):
        sizes = {s[axis] for s in shapes if len(s) > axis} - {None}
        if len(sizes) > 1:
            raise ValueError(
                "`log_likelihood` `[batch]`, `log_prob` and `entropy` "
                "`[batch, T_dec]` must agree in batch size and steps. "
                f"Received: log_likelihood.shape={log_likelihood_shape}, "
                f"log_prob.shape={log_prob_shape}, "
                f"entropy.shape={entropy_shape}"
            )
