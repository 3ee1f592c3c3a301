"""Bahdanau (additive) attention."""

import math

import keras
from keras import ops

from keras_attention.layers import _attention_utils as utils
from keras_attention.layers.base_attention import BaseAttention


@keras.saving.register_keras_serializable(package="keras_attention")
class BahdanauAttention(BaseAttention):
    """Additive attention of Bahdanau et al. (2014), with its own weights.

    The score of query `q_i` against key `k_j` is

    `e_ij = v^T tanh(W_q q_i + W_k k_j + b)`

    followed by a masked softmax over `j` and a weighted sum of the values.
    Unlike `keras.layers.AdditiveAttention`, which scores `q + k` directly,
    this layer owns the projections `W_q`, `W_k`, the vector `v` and the bias
    `b`, as in the paper. With `normalize=True` the score vector is weight
    normalized, `v = g v / ||v||` with a learned scalar `g` (Salimans and
    Kingma, 2016), which helps training with large `units`.

    With `coverage=True` the score also sees how much attention each source
    position has received so far (See et al. 2017, equation 11):

    `e_ij = v^T tanh(W_q q_i + W_k k_j + w_c c_ij + b)`

    where `c_ij` is the coverage of position `j` for query `i` (the sum of
    the attention weights of the earlier decoder steps, passed as
    `call(..., coverage=...)`) and `w_c` a learned vector of size `units`.
    `AttentionRNN(coverage=True)` keeps and passes the coverage.

    `W_k k` does not depend on the decoder, so a step-by-step decoder
    computes it once with `precompute_memory()`; the coverage changes at
    every step, so it enters the score, not the memory.

    Args:
        units: Positive integer, the size of the hidden layer of the score
            network (the dimension of `W_q q` and `W_k k`).
        normalize: Whether to weight-normalize the score vector `v`.
        use_bias: Whether to add the bias `b` inside the `tanh`.
        coverage: Whether the score has the coverage term `w_c c_ij` of See
            et al. (a weight `"coverage_vector"` of shape `[units]`).
        dropout: Float in `[0, 1)`, fraction of the attention weights to drop
            during training.
        kernel_initializer: Initializer of `W_q`, `W_k`, `v` and `w_c`, each
            created from its own clone so that they start different; a seeded
            initializer gets a seed derived per weight (see
            `clone_initializer` in `_attention_utils`), which keeps seeded
            models reproducible.
        bias_initializer: Initializer of `b`.
        kernel_regularizer: Optional regularizer of `W_q`, `W_k`, `v` and
            `w_c`.
        bias_regularizer: Optional regularizer of `b`.
        **kwargs: Base layer arguments such as `name` and `dtype`.

    Call arguments:
        query: Query tensor `[batch, Tq, dim]`, or one decoder step
            `[batch, dim]`.
        value: Value tensor `[batch, Tv, dim_v]`, or the dict returned by
            `precompute_memory()`. Defaults to `query` (self-attention).
        key: Optional key tensor `[batch, Tv, dim_k]`; defaults to `value`.
        query_mask: Optional boolean `[batch, Tq]`; masked query steps give
            zero outputs. Defaults to the Keras mask of `query`.
        value_mask: Optional boolean `[batch, Tv]`; masked positions get
            exactly zero weight. Defaults to the Keras mask of `value`.
        use_causal_mask: Whether query step `i` may only attend to value steps
            `<= query_start_index + i`.
        return_attention_scores: Whether to also return the weights (before
            dropout).
        training: Whether dropout is active.
        query_start_index: Position of the first query step in the whole
            target sequence, for decoding step by step: the causal mask
            shifts by it and `cache` is written there.
        cache: Optional memory from `init_cache()` for self-attention one
            step at a time (see `BaseAttention`).
        coverage: Layers built with `coverage=True` only: the coverage of
            each source position, a float tensor `[batch, Tv]` for a one-step
            query `[batch, dim]` or `[batch, Tq, Tv]` for a query
            `[batch, Tq, dim]`. `None` (default) stands for zero coverage,
            as at the first decoder step. Cannot be combined with `cache`.

    Returns:
        The context `[batch, Tq, dim_v]` (`[batch, dim_v]` for one step) and,
        with `return_attention_scores=True`, the weights `[batch, Tq, Tv]`
        (`[batch, Tv]` for one step); with `cache`, the updated memory last.

    Example:

    >>> encoder_outputs = keras.random.normal((2, 7, 32))
    >>> decoder_outputs = keras.random.normal((2, 5, 16))
    >>> attention = keras_attention.layers.BahdanauAttention(units=24)
    >>> context, weights = attention(
    ...     decoder_outputs, encoder_outputs, return_attention_scores=True
    ... )
    >>> context.shape, weights.shape
    ((2, 5, 32), (2, 5, 7))

    References:
        - [Bahdanau et al., 2014](https://arxiv.org/abs/1409.0473),
          section 3.1 and appendix A.1.2 (the alignment model).
        - [Salimans and Kingma, 2016](https://arxiv.org/abs/1602.07868),
          equation 2 (weight normalization).
        - [See et al., 2017](https://arxiv.org/abs/1704.04368), section 2.3,
          equations 10-11 (coverage).
    """

    def __init__(
        self,
        units,
        normalize=False,
        use_bias=True,
        coverage=False,
        dropout=0.0,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        kernel_regularizer=None,
        bias_regularizer=None,
        **kwargs,
    ):
        super().__init__(dropout=dropout, **kwargs)
        if not isinstance(units, int) or isinstance(units, bool) or units < 1:
            raise ValueError(
                f"`units` must be a positive integer. Received: units={units}"
            )
        if not isinstance(coverage, bool):
            raise ValueError(
                "`coverage` must be True or False. "
                f"Received: coverage={coverage!r}"
            )
        self.units = units
        self.coverage = coverage
        self.normalize = normalize
        self.use_bias = use_bias
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.bias_regularizer = keras.regularizers.get(bias_regularizer)
        # Kernel initializer indices: 0 `W_q`, 1 `W_k`, 2 `v`, 3 `w_c`.
        self._query_dense = self._dense("query_projection", 0)
        self._key_dense = self._dense("key_projection", 1)

    def _dense(self, name, index):
        return keras.layers.Dense(
            self.units,
            use_bias=False,
            kernel_initializer=utils.clone_initializer(
                self.kernel_initializer, index
            ),
            kernel_regularizer=self.kernel_regularizer,
            dtype=self.dtype_policy,
            name=name,
        )

    def _build_memory_layers(self, key_shape, value_shape):
        self._key_dense.build(key_shape)

    def _build_query_layers(self, query_shape, key_shape):
        self._query_dense.build(query_shape)
        self.score_vector = self.add_weight(
            name="score_vector",
            shape=(self.units,),
            initializer=utils.clone_initializer(self.kernel_initializer, 2),
            regularizer=self.kernel_regularizer,
        )
        self.score_bias = None
        if self.use_bias:
            self.score_bias = self.add_weight(
                name="score_bias",
                shape=(self.units,),
                initializer=self.bias_initializer,
                regularizer=self.bias_regularizer,
            )
        self.coverage_vector = None
        if self.coverage:
            self.coverage_vector = self.add_weight(
                name="coverage_vector",
                shape=(self.units,),
                initializer=utils.clone_initializer(self.kernel_initializer, 3),
                regularizer=self.kernel_regularizer,
            )
        self.score_scale = None
        if self.normalize:
            self.score_scale = self.add_weight(
                name="score_scale",
                shape=(),
                initializer=keras.initializers.Constant(
                    math.sqrt(1.0 / self.units)
                ),
            )

    def _project_memory(self, key, value):
        return {"key": self._key_dense(key), "value": value}

    def _compute_scores(self, query, memory, query_start_index, coverage=None):
        projected_query = self._query_dense(query)
        hidden = ops.expand_dims(projected_query, 2) + ops.expand_dims(
            memory["key"], 1
        )
        if coverage is not None:
            # `[batch, Tq, Tv, 1] * [units]`: w_c c_ij for every pair.
            hidden = hidden + ops.expand_dims(coverage, -1) * (
                self.coverage_vector
            )
        if self.score_bias is not None:
            hidden = hidden + self.score_bias
        score_vector = self.score_vector
        if self.normalize:
            score_vector = (
                self.score_scale
                * score_vector
                / ops.sqrt(ops.sum(ops.square(score_vector)))
            )
        return ops.sum(score_vector * ops.tanh(hidden), axis=-1)

    def call(
        self,
        query,
        value=None,
        key=None,
        query_mask=None,
        value_mask=None,
        use_causal_mask=False,
        return_attention_scores=False,
        training=None,
        query_start_index=None,
        cache=None,
        coverage=None,
    ):
        score_inputs = None
        if coverage is not None:
            self._check_coverage_allowed(coverage, cache)
            score_inputs = {"coverage": coverage}
        return self._attend(
            query,
            value,
            key,
            query_mask,
            value_mask,
            use_causal_mask,
            return_attention_scores,
            training,
            query_start_index,
            cache,
            score_inputs=score_inputs,
        )

    def _score_inputs(self, query, memory, coverage=None):
        """The coverage `[batch, Tq, Tv]` of the scores, checked and cast."""
        if coverage is None:
            return {}
        _check_coverage_shape(
            coverage, query.shape, memory["value_mask"].shape[1]
        )
        coverage = ops.cast(coverage, self.compute_dtype)
        if len(query.shape) == 2:
            coverage = ops.expand_dims(coverage, 1)
        return {"coverage": coverage}

    def _check_coverage_allowed(self, coverage, cache):
        if not self.coverage:
            raise ValueError(
                "`coverage` can only be passed to a BahdanauAttention "
                "constructed with coverage=True (the score then has the "
                "weight `w_c`). Received: coverage.shape="
                f"{tuple(coverage.shape)} for a layer with coverage=False"
            )
        if cache is not None:
            raise ValueError(
                "`coverage` cannot be combined with `cache`: coverage is for "
                "attention over a fixed source, not causal self-attention. "
                f"Received: coverage.shape={tuple(coverage.shape)} and a "
                "`cache`"
            )

    def compute_output_spec(
        self,
        query,
        value=None,
        key=None,
        query_mask=None,
        value_mask=None,
        use_causal_mask=False,
        return_attention_scores=False,
        training=None,
        query_start_index=None,
        cache=None,
        coverage=None,
    ):
        if coverage is not None:
            self._check_coverage_allowed(coverage, cache)
            source = query if value is None else value
            length = (
                source["value_mask"].shape[1]
                if isinstance(source, dict)
                else source.shape[1]
            )
            _check_coverage_shape(coverage, query.shape, length)
        return super().compute_output_spec(
            query,
            value,
            key,
            query_mask=query_mask,
            value_mask=value_mask,
            use_causal_mask=use_causal_mask,
            return_attention_scores=return_attention_scores,
            training=training,
            query_start_index=query_start_index,
            cache=cache,
        )

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "units": self.units,
                "normalize": self.normalize,
                "coverage": self.coverage,
                "use_bias": self.use_bias,
                "kernel_initializer": keras.initializers.serialize(
                    self.kernel_initializer
                ),
                "bias_initializer": keras.initializers.serialize(
                    self.bias_initializer
                ),
                "kernel_regularizer": keras.regularizers.serialize(
                    self.kernel_regularizer
                ),
                "bias_regularizer": keras.regularizers.serialize(
                    self.bias_regularizer
                ),
            }
        )
        return config


def _check_coverage_shape(coverage, query_shape, value_length):
    """Checks `coverage` against `[batch, (Tq,) Tv]`; `None` dims fit all."""
    expected = tuple(query_shape[:-1]) + (value_length,)
    received = tuple(coverage.shape)
    fits = len(received) == len(expected) and all(
        r is None or e is None or r == e
        for r, e in zip(received, expected, strict=True)
    )
    if not fits:
        layout = "[batch, Tv]" if len(expected) == 2 else "[batch, Tq, Tv]"
        raise ValueError(
            f"`coverage` must have shape {expected} ({layout} of the query "
            f"and the memory). Received: coverage.shape={received}"
        )
