"""Multi-head scaled dot-product attention with grouped-query heads."""

import math

import keras
from keras import ops

# Keras's own MultiHeadAttention clears the masks it has consumed this way, so
# its projections do not warn that they drop them.
from keras.src.backend import set_keras_mask

from keras_attention.layers import _attention_utils as utils
from keras_attention.layers.masked_softmax import masked_softmax


def _sequence_shape(shape):
    """`[batch, dim]` (one decoder step) -> `[batch, 1, dim]`."""
    shape = tuple(shape)
    return (shape[0], 1, shape[1]) if len(shape) == 2 else shape


@keras.saving.register_keras_serializable(package="keras_attention")
class MultiHeadAttention(keras.layers.Layer):
    """Multi-head attention (Vaswani et al., 2017) with grouped-query heads.

    Each of `num_heads` heads computes
    `softmax(Q_h K_h^T / sqrt(key_dim)) V_h` on its own projections of the
    query, key and value, and the heads are concatenated and projected to
    `output_shape`. With `num_key_value_heads < num_heads`, groups of query
    heads share one key/value head (grouped-query attention; `1` gives
    multi-query attention), which shrinks the decoding cache.

    When the attention weights are not requested and dropout is inactive, the
    layer calls `keras.ops.dot_product_attention`, which uses the backend's
    fused (flash) kernels where available. The weights are laid out exactly as
    in `keras.layers.MultiHeadAttention`, so weights can be copied between
    the two.

    For step-by-step decoding:

    - Self-attention keeps the keys and values of earlier steps in a cache
      from `init_cache(batch_size, max_length)`; a call with
      `cache=...` and `cache_update_index=i` writes the new steps at position
      `i` and attends over the filled part, so one step costs O(T).
    - Cross-attention projects the encoder outputs once with
      `precompute_memory(value, key, value_mask)` and passes the result as
      `value`.

    Args:
        num_heads: Number of query heads.
        key_dim: Size of each head for query and key.
        value_dim: Size of each head for value; defaults to `key_dim`.
        num_key_value_heads: Number of key/value heads; must divide
            `num_heads`. Defaults to `num_heads`.
        dropout: Float in `[0, 1)`, dropout on the attention weights.
        use_bias: Whether the projections have biases.
        output_shape: Last dimension of the output; defaults to the last
            dimension of `query`.
        kernel_initializer: Initializer of the projection kernels. Each
            kernel is created from its own clone, so the kernels start
            different; a seeded initializer gets a seed derived per kernel
            (see `clone_initializer` in `_attention_utils`), which keeps
            seeded models reproducible.
        bias_initializer: Initializer of the projection biases, cloned per
            bias in the same way.
        kernel_regularizer: Optional regularizer of the kernels.
        bias_regularizer: Optional regularizer of the biases.
        **kwargs: Base layer arguments such as `name` and `dtype`.

    Call arguments:
        query: Query tensor `[batch, Tq, dim]`, or one decoder step
            `[batch, dim]`.
        value: Value tensor `[batch, Tv, dim_v]`, or the dict returned by
            `precompute_memory()`. Defaults to `query` (self-attention, which
            also makes the layer usable in a `Sequential` model).
        key: Optional key tensor `[batch, Tv, dim_k]`; defaults to `value`.
        query_mask: Optional boolean `[batch, Tq]`; masked query steps give
            zero outputs. Defaults to the Keras mask of `query`.
        value_mask: Optional boolean `[batch, Tv]`; masked positions get
            exactly zero weight. Defaults to the Keras mask of `value`.
        use_causal_mask: Whether query step `i` may only attend to value steps
            `<= i` (`<= cache_update_index + i` with a cache).
        return_attention_scores: Whether to also return the weights.
        training: Whether dropout is active.
        cache: Optional dict `{"key", "value"}` from `init_cache()` holding the
            projected keys and values of earlier steps (self-attention only).
        cache_update_index: Integer (or scalar tensor) position at which the
            projections of this call's `value`/`key` are written into `cache`.

    Returns:
        The output `[batch, Tq, output_shape]` (`[batch, output_shape]` for
        one step); with `return_attention_scores=True` also the weights
        `[batch, num_heads, Tq, Tv]` (`[batch, num_heads, Tv]` for one step);
        with a `cache`, the updated cache comes last.

    Example:

    >>> tokens = keras.random.normal((2, 6, 32))
    >>> attention = keras_attention.layers.MultiHeadAttention(
    ...     num_heads=4, key_dim=8, num_key_value_heads=2
    ... )
    >>> attention(tokens, tokens, use_causal_mask=True).shape
    (2, 6, 32)

    References:
        - [Vaswani et al., 2017](https://arxiv.org/abs/1706.03762),
          section 3.2, equation 1 and the multi-head equation.
        - [Ainslie et al., 2023](https://arxiv.org/abs/2305.13245)
          (grouped-query attention).
    """

    def __init__(
        self,
        num_heads,
        key_dim,
        value_dim=None,
        num_key_value_heads=None,
        dropout=0.0,
        use_bias=True,
        output_shape=None,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        kernel_regularizer=None,
        bias_regularizer=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        for name, number in (
            ("num_heads", num_heads),
            ("key_dim", key_dim),
            ("value_dim", value_dim or key_dim),
            ("num_key_value_heads", num_key_value_heads or num_heads),
        ):
            if not isinstance(number, int) or number < 1:
                raise ValueError(
                    f"`{name}` must be a positive integer. "
                    f"Received: {name}={number}"
                )
        num_key_value_heads = num_key_value_heads or num_heads
        if num_heads % num_key_value_heads:
            raise ValueError(
                "`num_key_value_heads` must divide `num_heads`. Received: "
                f"num_heads={num_heads}, "
                f"num_key_value_heads={num_key_value_heads}"
            )
        if not 0.0 <= dropout < 1.0:
            raise ValueError(
                f"`dropout` must be in [0, 1). Received: dropout={dropout}"
            )
        self.num_heads = num_heads
        self.key_dim = key_dim
        self.value_dim = value_dim or key_dim
        self.num_key_value_heads = num_key_value_heads
        self.dropout = dropout
        self.use_bias = use_bias
        self._output_shape = output_shape
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.bias_regularizer = keras.regularizers.get(bias_regularizer)
        self.supports_masking = True
        self._scale = 1.0 / math.sqrt(key_dim)
        self._dropout_layer = keras.layers.Dropout(
            dropout, dtype=self.dtype_policy, name="attention_dropout"
        )
        self._query_dense = self._projection(
            "query", 0, num_heads, key_dim, "abc,cde->abde"
        )
        self._key_dense = self._projection(
            "key", 1, num_key_value_heads, key_dim, "abc,cde->abde"
        )
        self._value_dense = self._projection(
            "value", 2, num_key_value_heads, self.value_dim, "abc,cde->abde"
        )
        self._output_dense = None
        self._memory_built = False
        self._input_shapes = None

    def _projection(self, name, index, heads, size, equation, output_dim=None):
        if output_dim is None:
            output_shape = (None, heads, size)
            bias_axes = "de" if self.use_bias else None
        else:
            output_shape = (None, output_dim)
            bias_axes = "e" if self.use_bias else None
        return keras.layers.EinsumDense(
            equation,
            output_shape=output_shape,
            bias_axes=bias_axes,
            # `index` tells the projections apart (0 query, 1 key, 2 value,
            # 3 output) when the initializers are seeded.
            kernel_initializer=utils.clone_initializer(
                self.kernel_initializer, index
            ),
            bias_initializer=utils.clone_initializer(
                self.bias_initializer, index
            ),
            kernel_regularizer=self.kernel_regularizer,
            bias_regularizer=self.bias_regularizer,
            dtype=self.dtype_policy,
            name=name,
        )

    def _ensure_memory_built(self, value_shape, key_shape):
        if self._memory_built:
            return
        value_shape = _sequence_shape(value_shape)
        key_shape = _sequence_shape(key_shape) if key_shape else None
        self._input_shapes = {
            "value_shape": value_shape,
            "key_shape": key_shape,
        }
        self._key_dense.build(key_shape or value_shape)
        self._value_dense.build(value_shape)
        self._memory_built = True

    def build(self, query_shape, value_shape=None, key_shape=None):
        if value_shape is None:
            value_shape = query_shape
        if isinstance(value_shape, dict):
            value_shape = self._input_shapes["value_shape"]
            key_shape = self._input_shapes["key_shape"]
        elif len(value_shape) == 3:
            utils.check_query_and_value(query_shape, value_shape, key_shape)
        query_shape = _sequence_shape(query_shape)
        self._ensure_memory_built(value_shape, key_shape)
        self._input_shapes["query_shape"] = query_shape
        self._query_dense.build(query_shape)
        output_dim = self._output_shape or query_shape[-1]
        self._output_dense = self._projection(
            "attention_output", 3, None, None, "abcd,cde->abe", output_dim
        )
        self._output_dense.build((None, None, self.num_heads, self.value_dim))
        self.built = True

    def get_build_config(self):
        if not self.built or self._input_shapes is None:
            return None
        return {"shapes_dict": dict(self._input_shapes)}

    def precompute_memory(self, value, key=None, value_mask=None):
        """Projects keys and values once, for cross-attention while decoding.

        Args:
            value: Value tensor `[batch, Tv, dim_v]`.
            key: Optional key tensor `[batch, Tv, dim_k]`; defaults to `value`.
            value_mask: Optional boolean `[batch, Tv]`; defaults to all `True`.

        Returns:
            A dict with the projected `"key"` `[batch, Tv, kv_heads, key_dim]`,
            `"value"` `[batch, Tv, kv_heads, value_dim]` and `"value_mask"`,
            to pass as `value` to later calls.
        """
        if len(value.shape) != 3:
            raise ValueError(
                "`value` must have rank 3 ([batch, Tv, dim]). "
                f"Received: value.shape={tuple(value.shape)}"
            )
        utils.check_query_and_value(value[:, :1], value, key)
        utils.check_mask(value_mask, "value_mask", value.shape[:2])
        self._ensure_memory_built(
            value.shape, None if key is None else key.shape
        )
        key = value if key is None else key
        return {
            "key": self._key_dense(key),
            "value": self._value_dense(value),
            "value_mask": utils.value_mask_or_ones(value, value_mask),
        }

    def init_cache(self, batch_size, max_length):
        """Returns an empty self-attention cache for `max_length` steps.

        Args:
            batch_size: Number of sequences decoded together.
            max_length: Maximum number of steps that will be decoded.

        Returns:
            A dict of zero tensors `"key"`
            `[batch_size, max_length, kv_heads, key_dim]` and `"value"`
            `[batch_size, max_length, kv_heads, value_dim]`.
        """
        shape = (batch_size, max_length, self.num_key_value_heads)
        return {
            "key": ops.zeros(shape + (self.key_dim,), self.compute_dtype),
            "value": ops.zeros(shape + (self.value_dim,), self.compute_dtype),
        }

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
        cache=None,
        cache_update_index=None,
    ):
        if value is None:
            value, value_mask = query, query_mask
        for tensor in (query, value, key):
            if tensor is not None and not isinstance(tensor, dict):
                set_keras_mask(tensor, None)
        if isinstance(value, dict):
            if key is not None or cache is not None:
                raise ValueError(
                    "`key` and `cache` must be None when `value` is a "
                    "precomputed memory."
                )
            if value_mask is not None and not isinstance(value_mask, dict):
                raise ValueError(
                    "`value_mask` must be None when `value` is a precomputed "
                    "memory (pass the mask to `precompute_memory`). Received: "
                    f"value_mask.shape={tuple(value_mask.shape)}"
                )
            memory = value
        elif cache is not None:
            if cache_update_index is None:
                raise ValueError(
                    "`cache_update_index` is required with `cache`. "
                    "Received: cache_update_index=None"
                )
            memory = self._update_cache(
                cache, cache_update_index, value, key, value_mask
            )
        else:
            utils.check_query_and_value(query, value, key)
            memory = self.precompute_memory(value, key, value_mask)
        if len(query.shape) not in (2, 3):
            raise ValueError(
                "`query` must have rank 2 ([batch, dim], one decoder step) or "
                f"3 ([batch, Tq, dim]). Received: query.shape={query.shape}"
            )
        query, query_mask, single_step = utils.expand_single_step(
            query, query_mask
        )
        utils.check_mask(query_mask, "query_mask", query.shape[:2])
        query_heads = self._query_dense(query)
        key_heads, value_heads = memory["key"], memory["value"]

        query_length = ops.shape(query_heads)[1]
        value_length = ops.shape(key_heads)[1]
        causal = None
        if use_causal_mask:
            causal = utils.causal_mask(
                query_length,
                value_length,
                0 if cache is None else cache_update_index,
            )
        mask = utils.combine_masks(memory["value_mask"], query_mask, causal)

        groups = self.num_heads // self.num_key_value_heads
        if groups > 1:
            key_heads = ops.repeat(key_heads, groups, axis=2)
            value_heads = ops.repeat(value_heads, groups, axis=2)

        # jax.nn.dot_product_attention needs equal key and value head sizes.
        use_fused = (
            not return_attention_scores
            and not (training and self.dropout > 0)
            and self.key_dim == self.value_dim
        )
        if use_fused:
            heads = ops.dot_product_attention(
                query_heads,
                key_heads,
                value_heads,
                mask=ops.expand_dims(mask, 1),
                scale=self._scale,
            )
            weights = None
        else:
            scores = ops.einsum("btnh,bsnh->bnts", query_heads, key_heads)
            weights = masked_softmax(
                scores * self._scale, ops.expand_dims(mask, 1)
            )
            weights = ops.cast(weights, self.compute_dtype)
            dropped = self._dropout_layer(weights, training=training)
            heads = ops.einsum("bnts,bsnh->btnh", dropped, value_heads)
        # The fused kernels give a uniform average for rows with nothing to
        # attend to, and the output bias would leak in too; the library
        # promises zeros.
        outputs = utils.zero_masked_rows(self._output_dense(heads), mask)
        if single_step:
            outputs = ops.squeeze(outputs, 1)
            if weights is not None:
                weights = ops.squeeze(weights, 2)

        results = (outputs,)
        if return_attention_scores:
            results += (weights,)
        if cache is not None:
            results += ({"key": memory["key"], "value": memory["value"]},)
        return results[0] if len(results) == 1 else results

    def _update_cache(self, cache, index, value, key, value_mask):
        # Keras fills `value_mask` from `value`'s (usually absent) Keras mask.
        if value_mask is not None:
            raise ValueError(
                "`value_mask` is not supported together with `cache`; mask "
                "padded query steps with `query_mask` instead. Received: "
                f"value_mask.shape={tuple(value_mask.shape)}"
            )
        if len(value.shape) == 2:
            value = ops.expand_dims(value, 1)
            key = None if key is None else ops.expand_dims(key, 1)
        new = self.precompute_memory(value, key)
        start = [0, index, 0, 0]
        cached_key = ops.slice_update(cache["key"], start, new["key"])
        cached_value = ops.slice_update(cache["value"], start, new["value"])
        # Only the steps written so far may be attended to.
        filled = ops.arange(ops.shape(cached_key)[1]) < (
            index + ops.shape(value)[1]
        )
        batch = ops.shape(cached_key)[0]
        filled = ops.broadcast_to(
            ops.expand_dims(filled, 0), (batch, ops.shape(cached_key)[1])
        )
        return {"key": cached_key, "value": cached_value, "value_mask": filled}

    def compute_mask(self, inputs, previous_mask=None):
        return previous_mask

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
        cache=None,
        cache_update_index=None,
    ):
        batch = query.shape[0]
        output_dim = self._output_shape or query.shape[-1]
        if value is None:
            value = query
        if isinstance(value, dict):
            value_length = value["key"].shape[1]
        elif cache is not None:
            value_length = cache["key"].shape[1]
        else:
            value_length = value.shape[1]
        if len(query.shape) == 2:
            output_shape = (batch, output_dim)
            weights_shape = (batch, self.num_heads, value_length)
        else:
            output_shape = (batch, query.shape[1], output_dim)
            weights_shape = (
                batch,
                self.num_heads,
                query.shape[1],
                value_length,
            )
        results = (keras.KerasTensor(output_shape, dtype=self.compute_dtype),)
        if return_attention_scores:
            results += (
                keras.KerasTensor(weights_shape, dtype=self.compute_dtype),
            )
        if cache is not None:
            results += (
                {
                    name: keras.KerasTensor(
                        tensor.shape, dtype=self.compute_dtype
                    )
                    for name, tensor in cache.items()
                },
            )
        return results[0] if len(results) == 1 else results

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_heads": self.num_heads,
                "key_dim": self.key_dim,
                "value_dim": self.value_dim,
                "num_key_value_heads": self.num_key_value_heads,
                "dropout": self.dropout,
                "use_bias": self.use_bias,
                "output_shape": self._output_shape,
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
