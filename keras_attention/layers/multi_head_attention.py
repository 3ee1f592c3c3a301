"""Multi-head scaled dot-product attention with grouped-query heads."""

import math

import keras
from keras import ops

from keras_attention.layers import _attention_utils as utils
from keras_attention.layers.base_attention import BaseAttention


def _swap_heads_and_steps(tensor):
    """`[batch, T, heads, dim]` <-> `[batch, heads, T, dim]`."""
    return ops.transpose(tensor, (0, 2, 1, 3))


@keras.saving.register_keras_serializable(package="keras_attention")
class MultiHeadAttention(BaseAttention):
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

    A query of one step (`[batch, dim]` or `[batch, 1, dim]`) never takes
    the fused kernel: it has no score matrix to spare, and the kernel's
    sequence-first layout would transpose the whole memory at every step.

    The memory is that of every `BaseAttention` layer, with heads first:
    `"key"` `[batch, kv_heads, Tv, key_dim]`, `"value"`
    `[batch, kv_heads, Tv, value_dim]` and `"value_mask"` `[batch, Tv]`.
    For step-by-step decoding:

    - Self-attention keeps the keys and values of earlier steps in a memory
      from `init_cache(batch_size, max_length)`; a call with `cache=memory`
      and `query_start_index=i` writes the new steps at position `i` and
      attends over the written part, so one step costs O(T) and reads the
      cache as it lies in memory.
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
            `<= query_start_index + i`.
        return_attention_scores: Whether to also return the weights (before
            dropout).
        training: Whether dropout is active.
        query_start_index: Integer (or scalar tensor) position of the first
            query step in the whole sequence: the causal mask shifts by it,
            and with `cache` the new steps of `value`/`key` are written
            there. Defaults to `0`; required with `cache`.
        cache: Optional memory from `init_cache()` (or a previous cached
            call) holding the projected keys and values of earlier steps
            (self-attention).

    Returns:
        The output `[batch, Tq, output_shape]` (`[batch, output_shape]` for
        one step); with `return_attention_scores=True` also the weights
        `[batch, num_heads, Tq, Tv]` (`[batch, num_heads, Tv]` for one step);
        with a `cache`, the updated memory comes last.

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
        super().__init__(dropout=dropout, **kwargs)
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
        self.num_heads = num_heads
        self.key_dim = key_dim
        self.value_dim = value_dim or key_dim
        self.num_key_value_heads = num_key_value_heads
        self.use_bias = use_bias
        self._output_shape = output_shape
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.bias_regularizer = keras.regularizers.get(bias_regularizer)
        self._scale = 1.0 / math.sqrt(key_dim)
        self._groups = num_heads // num_key_value_heads
        self._query_dense = self._projection("query", 0, num_heads, key_dim)
        self._key_dense = self._projection(
            "key", 1, num_key_value_heads, key_dim
        )
        self._value_dense = self._projection(
            "value", 2, num_key_value_heads, self.value_dim
        )
        self._output_dense = None

    def _projection(self, name, index, heads, size, output_dim=None):
        # The equations and shapes of `keras.layers.MultiHeadAttention`, so
        # that weights copy between the two.
        if output_dim is None:
            equation, output_shape = "abc,cde->abde", (None, heads, size)
            bias_axes = "de" if self.use_bias else None
        else:
            equation, output_shape = "abcd,cde->abe", (None, output_dim)
            bias_axes = "e" if self.use_bias else None
        projection = keras.layers.EinsumDense(
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
        # The masks reach this layer as `query_mask`/`value_mask`. A
        # projection that passes on the Keras mask of its input does not
        # warn that it drops it (the projected tensors feed ops, which drop
        # it); Keras's own attention clears the caller's masks instead.
        projection.supports_masking = True
        return projection

    # BaseAttention hooks.

    def _build_memory_layers(self, key_shape, value_shape):
        self._key_dense.build(key_shape)
        self._value_dense.build(value_shape)

    def _build_query_layers(self, query_shape, key_shape):
        self._query_dense.build(query_shape)
        output_dim = self._output_shape or query_shape[-1]
        self._output_dense = self._projection(
            "attention_output", 3, None, None, output_dim
        )
        self._output_dense.build((None, None, self.num_heads, self.value_dim))

    def _project_memory(self, key, value):
        # Heads first: a decoder step multiplies its query with the cache as
        # it lies in memory. XLA on CPU transposed a sequence-first cache
        # whole at every step (bench/RESULTS.md).
        return {
            "key": _swap_heads_and_steps(self._key_dense(key)),
            "value": _swap_heads_and_steps(self._value_dense(value)),
        }

    def _cache_shapes(self, batch_size, max_length):
        shape = (batch_size, self.num_key_value_heads, max_length)
        return {
            "key": shape + (self.key_dim,),
            "value": shape + (self.value_dim,),
        }

    def _grouped_query(self, query):
        """`[batch, Tq, dim]` -> scaled `[batch, Tq, kv_heads, groups, dim]`."""
        query = self._query_dense(query) * ops.cast(
            self._scale, self.compute_dtype
        )
        shape = ops.shape(query)
        # Query head `h` reads key/value head `h // groups`, as in
        # `keras.layers.GroupedQueryAttention`.
        return ops.reshape(
            query,
            (shape[0], shape[1], self.num_key_value_heads, self._groups)
            + (self.key_dim,),
        )

    def _compute_scores(self, query, memory, query_start_index):
        scores = ops.einsum(
            "bqngd,bnkd->bngqk", self._grouped_query(query), memory["key"]
        )
        shape = ops.shape(scores)
        return ops.reshape(
            scores, (shape[0], self.num_heads, shape[3], shape[4])
        )

    def _combine_values(self, weights, memory):
        shape = ops.shape(weights)
        grouped = ops.reshape(
            weights,
            (shape[0], self.num_key_value_heads, self._groups)
            + (shape[2], shape[3]),
        )
        context = ops.einsum("bngqk,bnkd->bqngd", grouped, memory["value"])
        return ops.reshape(
            context, (shape[0], shape[2], self.num_heads, self.value_dim)
        )

    def _fused_attention(self, query, memory, mask):
        # jax.nn.dot_product_attention needs equal key and value head sizes.
        if query.shape[1] == 1 or self.key_dim != self.value_dim:
            return None
        key = _swap_heads_and_steps(memory["key"])
        value = _swap_heads_and_steps(memory["value"])
        if self._groups > 1:
            key = ops.repeat(key, self._groups, axis=2)
            value = ops.repeat(value, self._groups, axis=2)
        return ops.dot_product_attention(
            self._query_dense(query),
            key,
            value,
            mask=ops.expand_dims(mask, 1),
            scale=self._scale,
        )

    def _project_output(self, context, mask):
        # The fused kernels give a uniform average for rows with nothing to
        # attend to, and the output bias would leak in too; the library
        # promises zeros.
        return utils.zero_masked_rows(self._output_dense(context), mask)

    def _head_axes(self):
        return (self.num_heads,)

    def _output_dim(self, query_dim, value_dim):
        return self._output_shape or query_dim

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_heads": self.num_heads,
                "key_dim": self.key_dim,
                "value_dim": self.value_dim,
                "num_key_value_heads": self.num_key_value_heads,
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
