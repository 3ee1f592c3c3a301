"""Luong (multiplicative, concat and location) attention, global or local."""

import keras
from keras import ops

from keras_attention.layers import _attention_utils as utils
from keras_attention.layers.base_attention import BaseAttention

SCORES = ("dot", "general", "concat", "location")
ALIGNMENTS = ("global", "local-m", "local-p")
# Fixed per kernel, whatever the configuration, so a seeded initializer gives
# each kernel its own seed (see `_attention_utils.clone_initializer`).
_KERNEL_INDEX = {
    "query_projection": 0,
    "key_projection": 1,
    "score_vector": 2,
    "location_projection": 3,
    "position_hidden": 4,
    "position_output": 5,
}


@keras.saving.register_keras_serializable(package="keras_attention")
class LuongAttention(BaseAttention):
    """Attention of Luong et al. (2015): four scores, global or local.

    The scores of decoder state `h_t` against encoder state `h_s` are those of
    equation 8 of the paper:

    - `"dot"`: `h_t^T h_s`
    - `"general"`: `h_t^T W_a h_s`
    - `"concat"`: `v_a^T tanh(W_a [h_t; h_s])`, written as
      `v_a^T tanh(W_1 h_t + W_2 h_s)`
    - `"location"`: `W_a h_t`, one score per source position, independent of
      the source states.

    `alignment` chooses which source positions compete (section 3.2):

    - `"global"`: all of them.
    - `"local-m"`: only `s` with `|s - p_t| <= window` where `p_t = t`
      (monotonic alignment).
    - `"local-p"`: only `s` with `|s - p_t| <= window` where
      `p_t = S sigmoid(v_p^T tanh(W_p h_t))` (equation 9) and `S` is the
      source length (the number of unmasked positions); the softmax weights
      are then multiplied by `exp(-(s - p_t)^2 / (2 sigma^2))` with
      `sigma = window / 2` (equation 10), so they favour positions near
      `p_t` and need not sum to one.

    Positions `s` and `t` are counted from 1 as in the paper. A window wider
    than the source simply covers all of it.

    Args:
        score: One of `"dot"`, `"general"`, `"concat"`, `"location"`.
        units: Hidden size of the `"concat"` score network (required there).
            For `"location"`, the maximum source length; it may be left out
            when the source length is static. For `"local-p"`, the hidden size
            of the position network (defaults to the query dimension).
        use_scale: Whether to multiply the scores by a learned scalar
            (initialized to 1), as `keras.layers.Attention(use_scale=True)`.
        alignment: One of `"global"`, `"local-m"`, `"local-p"`.
        window: Positive integer `D`, the half width of the local window.
        dropout: Float in `[0, 1)`, fraction of the attention weights to drop
            during training.
        kernel_initializer: Initializer of the kernels, each created from
            its own clone so that they start different; a seeded initializer
            gets a seed derived per kernel (see `clone_initializer` in
            `_attention_utils`), which keeps seeded models reproducible.
        kernel_regularizer: Optional regularizer of the kernels.
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
            target sequence; `local-m` aligns step `i` of the query with
            source position `query_start_index + i + 1`, the causal mask
            shifts by it and `cache` is written there.
        cache: Optional memory from `init_cache()` for self-attention one
            step at a time (see `BaseAttention`).

    Returns:
        The context `[batch, Tq, dim_v]` (`[batch, dim_v]` for one step) and,
        with `return_attention_scores=True`, the weights `[batch, Tq, Tv]`
        (`[batch, Tv]` for one step); with `cache`, the updated memory last.

    Example:

    >>> encoder_outputs = keras.random.normal((2, 7, 32))
    >>> decoder_outputs = keras.random.normal((2, 5, 32))
    >>> attention = keras_attention.layers.LuongAttention(
    ...     score="general", alignment="local-p", window=2
    ... )
    >>> context = attention(decoder_outputs, encoder_outputs)
    >>> context.shape
    (2, 5, 32)

    References:
        - [Luong et al., 2015](https://arxiv.org/abs/1508.04025), section 3.1
          (equation 8, the scores) and section 3.2 (equations 9 and 10,
          local attention).
    """

    def __init__(
        self,
        score="dot",
        units=None,
        use_scale=False,
        alignment="global",
        window=10,
        dropout=0.0,
        kernel_initializer="glorot_uniform",
        kernel_regularizer=None,
        **kwargs,
    ):
        super().__init__(dropout=dropout, **kwargs)
        if score not in SCORES:
            raise ValueError(
                f"`score` must be one of {SCORES}. Received: score={score}"
            )
        if alignment not in ALIGNMENTS:
            raise ValueError(
                f"`alignment` must be one of {ALIGNMENTS}. "
                f"Received: alignment={alignment}"
            )
        if units is not None and (
            not isinstance(units, int) or isinstance(units, bool) or units < 1
        ):
            raise ValueError(
                "`units` must be a positive integer or None. "
                f"Received: units={units}"
            )
        if score == "concat" and units is None:
            raise ValueError(
                "`units` is required for score='concat' (the hidden size of "
                "v_a^T tanh(W_a [h_t; h_s])). Received: units=None"
            )
        if (
            not isinstance(window, int)
            or isinstance(window, bool)
            or window < 1
        ):
            raise ValueError(
                "`window` must be a positive integer. "
                f"Received: window={window}"
            )
        self.score = score
        self.units = units
        self.use_scale = use_scale
        self.alignment = alignment
        self.window = window
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        if score == "concat":
            self._query_dense = self._dense(units, "query_projection")
            self._key_dense = self._dense(units, "key_projection")

    def _dense(self, units, name, activation=None):
        return keras.layers.Dense(
            units,
            use_bias=False,
            activation=activation,
            kernel_initializer=self._kernel_initializer_for(name),
            kernel_regularizer=self.kernel_regularizer,
            dtype=self.dtype_policy,
            name=name,
        )

    def _kernel_initializer_for(self, name):
        return utils.clone_initializer(
            self.kernel_initializer, _KERNEL_INDEX[name]
        )

    def _build_memory_layers(self, key_shape, value_shape):
        if self.score == "concat":
            self._key_dense.build(key_shape)

    def _build_query_layers(self, query_shape, key_shape):
        query_dim, key_dim = query_shape[-1], key_shape[-1]
        if self.score == "dot" and query_dim != key_dim:
            raise ValueError(
                "score='dot' needs queries and keys of the same dimension; "
                "use score='general' to learn a projection between them. "
                f"Received: query.shape={query_shape}, key.shape={key_shape}"
            )
        if self.score == "general":
            # q^T W_a k == (W_a^T q)^T k: projecting the query instead of the
            # keys leaves nothing to precompute and costs less per step.
            self._query_dense = self._dense(key_dim, "query_projection")
            self._query_dense.build(query_shape)
        elif self.score == "concat":
            self._query_dense.build(query_shape)
            self.score_vector = self.add_weight(
                name="score_vector",
                shape=(self.units,),
                initializer=self._kernel_initializer_for("score_vector"),
                regularizer=self.kernel_regularizer,
            )
        elif self.score == "location":
            max_source_length = self.units or key_shape[1]
            if max_source_length is None:
                raise ValueError(
                    "score='location' needs the maximum source length: pass "
                    "`units` or give `value` a static length. Received: "
                    f"units=None, value.shape={key_shape}"
                )
            self._location_dense = self._dense(
                max_source_length, "location_projection"
            )
            self._location_dense.build(query_shape)
        if self.use_scale:
            self.scale = self.add_weight(
                name="scale", shape=(), initializer="ones"
            )
        if self.alignment == "local-p":
            self._position_hidden = self._dense(
                self.units or query_dim, "position_hidden", activation="tanh"
            )
            self._position_hidden.build(query_shape)
            self._position_output = self._dense(1, "position_output")
            self._position_output.build(
                tuple(query_shape[:-1]) + (self.units or query_dim,)
            )

    def _project_memory(self, key, value):
        if self.score == "concat":
            return {"key": self._key_dense(key), "value": value}
        return {"key": key, "value": value}

    def _compute_scores(self, query, memory, query_start_index):
        key = memory["key"]
        if self.score == "dot":
            scores = ops.matmul(query, ops.swapaxes(key, 1, 2))
        elif self.score == "general":
            scores = ops.matmul(
                self._query_dense(query), ops.swapaxes(key, 1, 2)
            )
        elif self.score == "concat":
            hidden = ops.expand_dims(self._query_dense(query), 2)
            hidden = hidden + ops.expand_dims(key, 1)
            scores = ops.sum(self.score_vector * ops.tanh(hidden), axis=-1)
        else:
            source_length = ops.shape(key)[1]
            max_source_length = self._location_dense.units
            if isinstance(source_length, int) and (
                source_length > max_source_length
            ):
                raise ValueError(
                    "score='location' was built for sources of at most "
                    f"{max_source_length} steps. Received: value length "
                    f"{source_length}"
                )
            scores = self._location_dense(query)[:, :, :source_length]
        if self.use_scale:
            scores = scores * self.scale
        return scores

    def _alignment(self, query, memory, query_start_index):
        if self.alignment == "global":
            return None, None
        value_mask = memory["value_mask"]
        source_length = ops.shape(value_mask)[1]
        # 1-based positions, as in the paper.
        source_positions = ops.arange(1, source_length + 1, dtype="float32")
        source_positions = ops.reshape(source_positions, (1, 1, -1))
        if self.alignment == "local-m":
            query_length = ops.shape(query)[1]
            aligned = ops.arange(query_length, dtype="float32") + 1.0
            aligned = aligned + ops.cast(query_start_index, "float32")
            aligned = ops.reshape(aligned, (1, -1, 1))
        else:
            lengths = ops.sum(ops.cast(value_mask, "float32"), axis=-1)
            fraction = ops.sigmoid(
                ops.cast(
                    self._position_output(self._position_hidden(query)),
                    "float32",
                )
            )
            aligned = ops.reshape(lengths, (-1, 1, 1)) * fraction
        distance = source_positions - aligned
        window_mask = ops.abs(distance) <= float(self.window)
        if self.alignment == "local-m":
            return window_mask, None
        sigma = self.window / 2.0
        gaussian = ops.exp(-ops.square(distance) / (2.0 * sigma**2))
        return window_mask, gaussian

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "score": self.score,
                "units": self.units,
                "use_scale": self.use_scale,
                "alignment": self.alignment,
                "window": self.window,
                "kernel_initializer": keras.initializers.serialize(
                    self.kernel_initializer
                ),
                "kernel_regularizer": keras.regularizers.serialize(
                    self.kernel_regularizer
                ),
            }
        )
        return config
