"""Ancestral sampling (with temperature and top-k) over a step function."""

import numbers

import keras
from keras import ops

from keras_attention.decoding import _decode_loop
from keras_attention.decoding import _loop_utils


def _check_sampling_arguments(temperature, top_k, seed):
    """Validates `temperature`, `top_k` and `seed`; returns them."""
    if (
        isinstance(temperature, bool)
        or not isinstance(temperature, numbers.Real)
        or not temperature > 0
    ):
        raise ValueError(
            f"`temperature` must be a number > 0. "
            f"Received: temperature={temperature!r}"
        )
    if top_k is not None:
        top_k = _loop_utils.check_integer("top_k", top_k, minimum=1)
    is_int = isinstance(seed, numbers.Integral) and not isinstance(seed, bool)
    if not (
        seed is None or is_int or isinstance(seed, keras.random.SeedGenerator)
    ):
        raise ValueError(
            "`seed` must be None, an int or a `keras.random.SeedGenerator`. "
            f"Received: seed={seed!r}"
        )
    return float(temperature), top_k, seed


def _token_sampler(noise, temperature, top_k):
    """The `choose_tokens` of sampling, from the noise `[max_length, batch]`."""

    def choose_sampled(log_probs, step):
        uniform = ops.take(noise, step, axis=0)
        scaled = log_probs / temperature
        vocabulary = log_probs.shape[-1]
        if top_k is None or top_k >= vocabulary:
            return ops.cast(_inverse_cdf_sample(scaled, uniform), "int32")
        top_values, top_ids = ops.top_k(scaled, top_k)
        rank = _inverse_cdf_sample(top_values, uniform)
        tokens = ops.take_along_axis(top_ids, ops.expand_dims(rank, 1), 1)
        return ops.cast(tokens[:, 0], "int32")

    return choose_sampled


def _inverse_cdf_sample(log_weights, uniform):
    """Samples an index per row of `log_weights` `[batch, n]`.

    Returns the first index whose cumulative probability exceeds the row's
    uniform draw; scaling the draw by the total keeps zero-probability
    indices (e.g. masked tokens) unreachable despite rounding in the sum.
    """
    log_probs = log_weights - ops.logsumexp(log_weights, axis=-1, keepdims=True)
    cumulative = ops.cumsum(ops.exp(log_probs), axis=-1)
    threshold = ops.expand_dims(uniform, 1) * cumulative[:, -1:]
    index = ops.sum(ops.cast(cumulative <= threshold, "int32"), axis=-1)
    return ops.minimum(index, log_weights.shape[-1] - 1)


def random_sampling(
    step_fn,
    initial_state,
    start_ids,
    end_id,
    max_length,
    temperature=1.0,
    top_k=None,
    seed=None,
    pad_id=0,
    vocabulary_size=None,
    no_repeat_ngram_size=0,
):
    """Decodes by sampling every token from the model's distribution.

    At each step the next token is drawn from
    `softmax(logits / temperature)`, restricted to the `top_k` most
    probable tokens when `top_k` is set (Fan et al., 2018). The uniform
    noise for all steps is drawn once before the loop with
    `keras.random.uniform` and turned into tokens by inverse-CDF sampling,
    so the loop body is stateless and compiles with XLA on every backend.
    A fixed `seed` gives the same samples on every call; on JAX also
    eagerly and under `jax.jit` alike, while TensorFlow's stateless random
    generator draws different (equally valid) noise under XLA than
    eagerly.
    Loop, padding, n-gram blocking and return values are those of
    `greedy_search`; blocked tokens are left out of the sampled
    distribution (before temperature and top-k).

    Args:
        step_fn: callable `(token_ids, state) -> (logits, state)` or
            `(token_ids, state) -> (logits, state, attention)`; see
            `greedy_search`.
        initial_state: nested structure of tensors with leading dimension
            `batch`, passed to the first call of `step_fn`.
        start_ids: integer tensor `[batch]`, the first input tokens.
        end_id: int in `[0, vocab)`, the token that finishes a sequence.
        max_length: int >= 1, the maximum number of generated tokens.
        temperature: float > 0. Below 1 sharpens the distribution (towards
            greedy search), above 1 flattens it.
        top_k: optional int >= 1: sample only among the `top_k` most
            probable tokens (all tokens when `top_k` exceeds the
            vocabulary). `None` samples from the whole vocabulary.
        seed: None, an int or a `keras.random.SeedGenerator`, passed to
            `keras.random.uniform`. An int makes the result reproducible;
            under `jax.jit` use an int.
        pad_id: int in `[0, vocab)`, the token id written after the end
            token.
        vocabulary_size: optional int; when given it must equal the last
            dimension of the logits. Inferred from the logits otherwise.
        no_repeat_ngram_size: int >= 0, the size `n` of the n-grams that
            may not repeat within a sequence (see `greedy_search`); 0 (the
            default) disables blocking.

    Returns:
        The dict of `greedy_search` (`"sequences"`, `"lengths"`, `"scores"`
        and, when `step_fn` returns attention, `"attention"` in its
        layout). The scores are the summed log-probabilities under the
        model's own distribution, i.e. before temperature and top-k, so
        that samples can be compared or reranked.

    Example:

    >>> import numpy as np
    >>> from keras import ops
    >>> table = ops.convert_to_tensor(
    ...     np.log([[0.1, 0.6, 0.3], [0.2, 0.1, 0.7], [0.4, 0.3, 0.3]]),
    ...     "float32",
    ... )
    >>> def step_fn(token_ids, state):
    ...     return ops.take(table, token_ids, axis=0), state
    >>> outputs = random_sampling(
    ...     step_fn, ops.zeros([8, 1]), ops.zeros([8], "int32"), end_id=2,
    ...     max_length=5, temperature=0.7, top_k=2, seed=42,
    ... )
    >>> tuple(outputs["sequences"].shape)
    (8, 5)

    References:
        - [Fan et al., 2018. Hierarchical Neural Story Generation](
          https://arxiv.org/abs/1805.04833)
        - [Paulus et al., 2017. A Deep Reinforced Model for Abstractive
          Summarization](https://arxiv.org/abs/1705.04304), section 2.5
          (`no_repeat_ngram_size`).
    """
    options = (temperature, top_k, seed, no_repeat_ngram_size)
    strategy = _sampling_strategy(*options)
    arguments = (step_fn, initial_state, start_ids, end_id, max_length)
    return _decode_loop.run(strategy, *arguments, pad_id, vocabulary_size)


def _sampling_strategy(temperature, top_k, seed, no_repeat_ngram_size):
    """The `make_strategy` of `_decode_loop.run` for sampling.

    It validates the sampling arguments after the shared ones and draws the
    noise of every step before the loop.
    """

    def make_strategy(end_id, pad_id, max_length, start_ids):
        checked_temperature, checked_top_k, checked_seed = (
            _check_sampling_arguments(temperature, top_k, seed)
        )
        ngram_size = _loop_utils.check_ngram_size(no_repeat_ngram_size)
        batch_size = _loop_utils.batch_size_of(
            _loop_utils.prepare_start_ids(start_ids)
        )
        noise = keras.random.uniform(
            [max_length, batch_size], seed=checked_seed
        )
        choose_sampled = _token_sampler(
            noise, checked_temperature, checked_top_k
        )
        return _decode_loop.SinglePathStrategy(
            choose_sampled, end_id, pad_id, ngram_size
        )

    return make_strategy
