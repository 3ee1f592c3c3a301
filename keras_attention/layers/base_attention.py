"""Base class of the score-based (Bahdanau and Luong) attention layers."""

import keras
from keras import ops

from keras_attention.layers import _attention_utils as utils
from keras_attention.layers.masked_softmax import masked_softmax


class BaseAttention(keras.layers.Layer):
    """Base class for attention layers defined by a score function.

    Subclasses define how the memory (keys) is projected once and how a query
    is scored against it; this class provides the shared call convention,
    masking, the float32 masked softmax, dropout and the precomputed memory.

    A subclass implements:

    - `_build_memory_layers(key_shape)`: builds the weights applied to keys.
    - `_build_query_layers(query_shape, key_shape)`: builds the weights
      applied to queries and the score weights.
    - `_project_memory(key)`: returns a dict of tensors computed once per
      source sequence (e.g. `{"key": W_k k}`).
    - `_compute_scores(query, memory, query_start_index)`: returns the
      unnormalized scores `[batch, Tq, Tv]`.
    - optionally `_alignment(query, memory, query_start_index)`: returns a
      boolean mask and multiplicative weights restricting the alignment (used
      by local attention), either may be `None`.

    Args:
        dropout: Float in `[0, 1)`, fraction of the attention weights to drop
            during training.
        **kwargs: Base layer arguments such as `name` and `dtype`.

    Call arguments:
        query: Query tensor `[batch, Tq, dim]`, or one decoder step
            `[batch, dim]`.
        value: Value tensor `[batch, Tv, dim_v]`, or the dict returned by
            `precompute_memory()`. Defaults to `query` (self-attention, which
            also makes the layer usable in a `Sequential` model).
        key: Optional key tensor `[batch, Tv, dim_k]`; defaults to `value`.
            Must be `None` when `value` is a precomputed memory.
        query_mask: Optional boolean `[batch, Tq]` (`[batch]` for one step);
            `False` rows give zero outputs and zero weights. Taken from the
            Keras mask of `query` when not given.
        value_mask: Optional boolean `[batch, Tv]`; `False` positions get
            exactly zero weight. Taken from the Keras mask of `value` when not
            given.
        use_causal_mask: Whether query step `i` may only attend to value steps
            `<= query_start_index + i`.
        return_attention_scores: Whether to also return the attention weights.
        training: Whether dropout is active.
        query_start_index: Position of the first query step in the whole target
            sequence, for causal masking and monotonic (local-m) alignment
            when decoding one step at a time. Defaults to `0`.

    Returns:
        The context `[batch, Tq, dim_v]` (`[batch, dim_v]` for one step) and,
        when `return_attention_scores=True`, the weights `[batch, Tq, Tv]`
        (`[batch, Tv]` for one step).
    """

    def __init__(self, dropout=0.0, **kwargs):
        super().__init__(**kwargs)
        if not 0.0 <= dropout < 1.0:
            raise ValueError(
                f"`dropout` must be in [0, 1). Received: dropout={dropout}"
            )
        self.dropout = dropout
        self.supports_masking = True
        self._dropout_layer = keras.layers.Dropout(
            dropout, dtype=self.dtype_policy, name="attention_dropout"
        )
        self._memory_built = False
        self._input_shapes = None

    # Subclass hooks.

    def _build_memory_layers(self, key_shape):
        pass

    def _build_query_layers(self, query_shape, key_shape):
        pass

    def _project_memory(self, key):
        return {}

    def _compute_scores(self, query, memory, query_start_index):
        raise NotImplementedError(
            f"{self.__class__.__name__} must implement `_compute_scores`."
        )

    def _alignment(self, query, memory, query_start_index):
        return None, None

    # Building.

    def _ensure_memory_built(self, value_shape, key_shape):
        if self._memory_built:
            return
        key_shape = tuple(key_shape) if key_shape is not None else None
        self._input_shapes = {
            "value_shape": tuple(value_shape),
            "key_shape": key_shape,
        }
        self._build_memory_layers(key_shape or tuple(value_shape))
        self._memory_built = True

    def build(self, query_shape, value_shape=None, key_shape=None):
        if value_shape is None:
            value_shape = query_shape
        if isinstance(value_shape, dict):
            # Called with a precomputed memory: its raw shapes were recorded
            # by `precompute_memory`.
            value_shape = self._input_shapes["value_shape"]
            key_shape = self._input_shapes["key_shape"]
        else:
            utils.check_query_and_value(query_shape, value_shape, key_shape)
        self._ensure_memory_built(value_shape, key_shape)
        self._input_shapes["query_shape"] = tuple(query_shape)
        self._build_query_layers(
            tuple(query_shape), tuple(key_shape or value_shape)
        )
        self.built = True

    def get_build_config(self):
        if not self.built or self._input_shapes is None:
            return None
        return {"shapes_dict": dict(self._input_shapes)}

    # Memory.

    def precompute_memory(self, value, key=None, value_mask=None):
        """Projects the memory once for step-by-step decoding.

        The returned dict can be passed as `value` to later calls (with
        `key=None` and no `value_mask`), so a decoder step only projects its
        query instead of re-projecting the whole source.

        Args:
            value: Value tensor `[batch, Tv, dim_v]`.
            key: Optional key tensor `[batch, Tv, dim_k]`; defaults to `value`.
            value_mask: Optional boolean `[batch, Tv]`; defaults to all
                `True`.

        Returns:
            A dict of tensors (all with the batch as leading axis, so it can
            be tiled or reordered for beam search).
        """
        if len(value.shape) != 3:
            raise ValueError(
                "`value` must have rank 3 ([batch, Tv, dim]). "
                f"Received: value.shape={tuple(value.shape)}"
            )
        utils.check_query_and_value(value[:, :1], value, key)
        utils.check_mask(value_mask, "value_mask", value.shape[:2])
        key_shape = None if key is None else key.shape
        self._ensure_memory_built(value.shape, key_shape)
        key = value if key is None else key
        value = ops.cast(value, self.compute_dtype)
        key = ops.cast(key, self.compute_dtype)
        memory = {
            "value": value,
            "value_mask": utils.value_mask_or_ones(value, value_mask),
        }
        memory.update(self._project_memory(key))
        return memory

    def _memory_from_call(self, value, key, value_mask):
        if isinstance(value, dict):
            if key is not None:
                raise ValueError(
                    "`key` must be None when `value` is a precomputed memory "
                    "(pass the key to `precompute_memory`). Received: "
                    f"key.shape={tuple(key.shape)}"
                )
            # Keras fills `value_mask` with a dict of the (absent) masks of
            # the memory's tensors; only a real tensor is an error.
            if value_mask is not None and not isinstance(value_mask, dict):
                raise ValueError(
                    "`value_mask` must be None when `value` is a precomputed "
                    "memory (pass the mask to `precompute_memory`). Received: "
                    f"value_mask.shape={tuple(value_mask.shape)}"
                )
            return value
        return self.precompute_memory(value, key, value_mask)

    # Calling.

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
        query_start_index=0,
    ):
        if value is None:
            value, value_mask = query, query_mask
        if not isinstance(value, dict):
            utils.check_query_and_value(query, value, key)
        memory = self._memory_from_call(value, key, value_mask)
        if len(query.shape) not in (2, 3):
            raise ValueError(
                "`query` must have rank 2 ([batch, dim], one decoder step) or "
                f"3 ([batch, Tq, dim]). Received: query.shape={query.shape}"
            )
        query, query_mask, single_step = utils.expand_single_step(
            query, query_mask
        )
        utils.check_mask(query_mask, "query_mask", query.shape[:2])

        scores = self._compute_scores(query, memory, query_start_index)
        causal = None
        if use_causal_mask:
            causal = utils.causal_mask(
                ops.shape(scores)[1], ops.shape(scores)[2], query_start_index
            )
        mask = utils.combine_masks(memory["value_mask"], query_mask, causal)
        window_mask, window_weights = self._alignment(
            query, memory, query_start_index
        )
        if window_mask is not None:
            mask = ops.logical_and(mask, window_mask)
        weights = masked_softmax(scores, mask)
        if window_weights is not None:
            weights = weights * window_weights
        weights = ops.cast(weights, self.compute_dtype)
        weights = self._dropout_layer(weights, training=training)
        context = ops.matmul(weights, memory["value"])
        if single_step:
            context = ops.squeeze(context, 1)
            weights = ops.squeeze(weights, 1)
        if return_attention_scores:
            return context, weights
        return context

    def compute_mask(self, inputs, previous_mask=None):
        # The output steps are the query steps, so they keep the query's mask.
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
        query_start_index=0,
    ):
        if value is None:
            value = query
        memory_value = value["value"] if isinstance(value, dict) else value
        batch = query.shape[0]
        value_length, value_dim = memory_value.shape[1], memory_value.shape[2]
        if len(query.shape) == 2:
            context_shape = (batch, value_dim)
            weights_shape = (batch, value_length)
        else:
            context_shape = (batch, query.shape[1], value_dim)
            weights_shape = (batch, query.shape[1], value_length)
        context = keras.KerasTensor(context_shape, dtype=self.compute_dtype)
        if return_attention_scores:
            weights = keras.KerasTensor(weights_shape, dtype=self.compute_dtype)
            return context, weights
        return context

    def get_config(self):
        config = super().get_config()
        config.update({"dropout": self.dropout})
        return config
