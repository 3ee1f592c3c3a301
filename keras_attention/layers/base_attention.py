"""Base class of the attention layers: one memory model, one call path."""

import keras
from keras import ops

from keras_attention.layers import _attention_utils as utils
from keras_attention.layers.masked_softmax import masked_softmax


class BaseAttention(keras.layers.Layer):
    """Base class of every attention layer of the library.

    A layer attends from a query to a memory. The memory is a dict computed
    once per source sequence by `precompute_memory(value, key, value_mask)`
    (or inside a call that receives raw tensors), the same for every layer:

    - `"key"`: the (projected) keys `[batch, ..., Tv, dim_k]`;
    - `"value"`: the (projected) values `[batch, ..., Tv, dim_v]`;
    - `"value_mask"`: boolean `[batch, Tv]`, the positions that may be
      attended to.

    The source axis is the second to last one of `"key"` and `"value"`;
    multi-head layers put their key/value heads before it
    (`[batch, kv_heads, Tv, head_dim]`). Every tensor leads with the batch,
    so a memory can be tiled or reordered for beam search.

    For causal self-attention one step at a time, `init_cache(batch_size,
    max_length)` returns an empty memory of `max_length` positions (all
    masked); a call with `cache=memory` projects the new steps of `value`
    (and `key`), writes them at `query_start_index`, unmasks them and
    attends over the memory, which it returns last.

    A subclass implements:

    - `_build_memory_layers(key_shape, value_shape)`: builds the weights
      applied to keys and values.
    - `_build_query_layers(query_shape, key_shape)`: builds the weights
      applied to queries, scores and outputs.
    - `_project_memory(key, value)`: returns `{"key": ..., "value": ...}`.
    - `_compute_scores(query, memory, query_start_index)`: returns the
      unnormalized scores `[batch, Tq, Tv]`, or `[batch, heads, Tq, Tv]`.
    - optionally `_alignment(query, memory, query_start_index)`: returns a
      boolean mask and multiplicative weights restricting the alignment (used
      by local attention), either may be `None`.
    - optionally `_combine_values(weights, memory)` (default: the weighted
      sum of `memory["value"]`), `_fused_attention(query, memory, mask)` (a
      fused kernel for calls that do not return the weights; `None` falls
      back to the scores), `_project_output(context, mask)` (default: the
      context itself), `_head_axes()` and `_output_dim(query_dim,
      value_dim)` (the shapes of the weights and outputs) and
      `_cache_shapes(batch_size, max_length)`.
    - optionally `_score_inputs(query, memory, **inputs)`: checks and
      prepares extra inputs of `_compute_scores` (e.g. the coverage of
      `BahdanauAttention`), which it then receives as keywords. A subclass
      that takes such inputs adds them to `call` and passes them on to
      `_attend(..., score_inputs=...)`.

    Args:
        dropout: Float in `[0, 1)`, fraction of the attention weights to drop
            during training.
        **kwargs: Base layer arguments such as `name` and `dtype`.

    Call arguments:
        query: Query tensor `[batch, Tq, dim]`, or one decoder step
            `[batch, dim]`.
        value: Value tensor `[batch, Tv, dim_v]`, or the dict returned by
            `precompute_memory()`. Defaults to `query` (self-attention, which
            also makes the layer usable in a `Sequential` model). With
            `cache`, the new steps `[batch, Tn, dim_v]` (or `[batch, dim_v]`).
        key: Optional key tensor `[batch, Tv, dim_k]`; defaults to `value`.
            Must be `None` when `value` is a precomputed memory.
        query_mask: Optional boolean `[batch, Tq]` (`[batch]` for one step);
            `False` rows give zero outputs and zero weights. Taken from the
            Keras mask of `query` when not given.
        value_mask: Optional boolean `[batch, Tv]`; `False` positions get
            exactly zero weight. Taken from the Keras mask of `value` when not
            given. With `cache`, the mask of the new steps.
        use_causal_mask: Whether query step `i` may only attend to value steps
            `<= query_start_index + i`.
        return_attention_scores: Whether to also return the attention weights
            (before dropout).
        training: Whether dropout is active.
        query_start_index: Position of the first query step in the whole
            target sequence, for decoding one step at a time: it shifts the
            causal mask, centers monotonic (local-m) alignment and is where
            `cache` is written. Defaults to `0`; required with `cache`.
        cache: Optional memory from `init_cache()` (or a previous cached
            call) for self-attention one step at a time.

    Returns:
        The context `[batch, Tq, dim_out]` (`[batch, dim_out]` for one step);
        with `return_attention_scores=True` also the weights
        `[batch, Tq, Tv]`, or `[batch, heads, Tq, Tv]` for multi-head layers
        (without the `Tq` axis for one step); with `cache`, the updated
        memory comes last.
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

    def _build_memory_layers(self, key_shape, value_shape):
        pass

    def _build_query_layers(self, query_shape, key_shape):
        pass

    def _project_memory(self, key, value):
        return {"key": key, "value": value}

    def _compute_scores(self, query, memory, query_start_index):
        raise NotImplementedError(
            f"{self.__class__.__name__} must implement `_compute_scores`."
        )

    def _score_inputs(self, query, memory):
        """The checked extra keywords of `_compute_scores`; none here.

        Called with the query as given (before a single step is expanded to
        a sequence of one), the memory dict and the keywords a subclass's
        `call` passes to `_attend` as `score_inputs`.
        """
        return {}

    def _alignment(self, query, memory, query_start_index):
        return None, None

    def _combine_values(self, weights, memory):
        return ops.matmul(weights, memory["value"])

    def _fused_attention(self, query, memory, mask):
        return None

    def _project_output(self, context, mask):
        return context

    def _head_axes(self):
        return ()

    def _output_dim(self, query_dim, value_dim):
        return value_dim

    def _cache_shapes(self, batch_size, max_length):
        if not self._memory_built:
            raise ValueError(
                f"{self.__class__.__name__} must be called (or "
                "`precompute_memory` run) once before `init_cache`, so that "
                "the sizes of its memory are known."
            )
        value_shape = self._input_shapes["value_shape"]
        key_shape = self._input_shapes["key_shape"] or value_shape
        # The projections of one zero step give the memory's feature axes.
        probe = self._project_memory(
            ops.zeros((1, 1, key_shape[-1]), self.compute_dtype),
            ops.zeros((1, 1, value_shape[-1]), self.compute_dtype),
        )
        return {
            name: (batch_size,)
            + tuple(tensor.shape[1:-2])
            + (max_length, tensor.shape[-1])
            for name, tensor in probe.items()
        }

    # Building.

    def _ensure_memory_built(self, value_shape, key_shape):
        if self._memory_built:
            return
        value_shape = utils.sequence_shape(value_shape)
        key_shape = (
            None if key_shape is None else utils.sequence_shape(key_shape)
        )
        self._input_shapes = {
            "value_shape": value_shape,
            "key_shape": key_shape,
        }
        self._build_memory_layers(key_shape or value_shape, value_shape)
        self._memory_built = True

    def build(self, query_shape, value_shape=None, key_shape=None):
        if value_shape is None:
            value_shape = query_shape
        if isinstance(value_shape, dict):
            # Called with a precomputed memory: its raw shapes were recorded
            # by `precompute_memory`.
            value_shape = self._input_shapes["value_shape"]
            key_shape = self._input_shapes["key_shape"]
        elif not (len(query_shape) == 2 and len(value_shape) == 2):
            # Only a cached call passes one step `[batch, dim]` as its value
            # (with one step as its query); `call` checks the rest.
            utils.check_query_and_value(query_shape, value_shape, key_shape)
        self._ensure_memory_built(value_shape, key_shape)
        query_shape = utils.sequence_shape(query_shape)
        self._input_shapes["query_shape"] = query_shape
        self._build_query_layers(
            query_shape,
            self._input_shapes["key_shape"]
            or self._input_shapes["value_shape"],
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
            The memory dict `{"key", "value", "value_mask"}` described in the
            class docstring.
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
        key = ops.cast(key, self.compute_dtype)
        value = ops.cast(value, self.compute_dtype)
        if value_mask is not None:
            # Masked positions get zero weight, but 0 * NaN is NaN: padding
            # holding NaN or Inf would still poison the context and the
            # gradients. Masked means absent, so they are zeroed first.
            present = ops.expand_dims(ops.cast(value_mask, "bool"), -1)
            key = ops.where(present, key, ops.zeros_like(key))
            value = ops.where(present, value, ops.zeros_like(value))
        memory = self._project_memory(key, value)
        memory["value_mask"] = utils.value_mask_or_ones(value, value_mask)
        return memory

    def init_cache(self, batch_size, max_length):
        """Returns an empty memory for causal self-attention step by step.

        Args:
            batch_size: Number of sequences decoded together.
            max_length: Maximum number of steps that will be decoded.

        Returns:
            A memory dict (see the class docstring) of `max_length` zero
            positions, all masked; pass it as `cache` with
            `query_start_index`, and the result of that call as the next
            `cache`.
        """
        cache = {
            name: ops.zeros(shape, self.compute_dtype)
            for name, shape in self._cache_shapes(
                batch_size, max_length
            ).items()
        }
        cache["value_mask"] = ops.zeros((batch_size, max_length), "bool")
        return cache

    def _write_cache(self, cache, value, key, value_mask, index):
        if isinstance(value, dict):
            raise ValueError(
                "With `cache`, `value` must hold the new steps (a tensor), not "
                "a precomputed memory."
            )
        if value_mask is not None and len(value.shape) == 2:
            value_mask = ops.reshape(value_mask, (-1, 1))
        # One step `[batch, dim]` is a sequence of one step.
        value = ops.expand_dims(value, 1) if len(value.shape) == 2 else value
        if key is not None and len(key.shape) == 2:
            key = ops.expand_dims(key, 1)
        new = self.precompute_memory(value, key, value_mask)
        if set(cache) != set(new):
            raise ValueError(
                "`cache` must be the memory returned by `init_cache()` or by "
                f"a cached call. Received: a dict with keys {sorted(cache)}"
            )
        written = {}
        for name, steps in new.items():
            tensor = cache[name]
            # The source axis: the mask's last, the others' second to last.
            axis = len(tensor.shape) - (1 if name == "value_mask" else 2)
            start = [0] * len(tensor.shape)
            start[axis] = index
            written[name] = ops.slice_update(
                tensor, start, ops.cast(steps, tensor.dtype)
            )
        return written

    def _call_memory(self, query, value, key, value_mask, cache, index):
        if cache is not None:
            if index is None:
                raise ValueError(
                    "`query_start_index` is required with `cache` (the "
                    "position the new steps are written at). Received: "
                    "query_start_index=None"
                )
            return self._write_cache(cache, value, key, value_mask, index)
        if not isinstance(value, dict):
            utils.check_query_and_value(query, value, key)
            return self.precompute_memory(value, key, value_mask)
        if key is not None:
            raise ValueError(
                "`key` must be None when `value` is a precomputed memory "
                "(pass the key to `precompute_memory`). Received: "
                f"key.shape={tuple(key.shape)}"
            )
        # Keras fills `value_mask` with a dict of the (absent) masks of the
        # memory's tensors; only a real tensor is an error.
        if value_mask is not None and not isinstance(value_mask, dict):
            raise ValueError(
                "`value_mask` must be None when `value` is a precomputed "
                "memory (pass the mask to `precompute_memory`). Received: "
                f"value_mask.shape={tuple(value_mask.shape)}"
            )
        return value

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
        query_start_index=None,
        cache=None,
    ):
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
        )

    def _attend(
        self,
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
        score_inputs=None,
    ):
        """`call`, plus the extra inputs of the scores (`_score_inputs`)."""
        if value is None:
            value, value_mask = query, query_mask
        memory = self._call_memory(
            query, value, key, value_mask, cache, query_start_index
        )
        utils.check_query_rank(query)
        score_inputs = self._score_inputs(query, memory, **(score_inputs or {}))
        query, query_mask, single_step = utils.expand_single_step(
            query, query_mask
        )
        utils.check_mask(query_mask, "query_mask", query.shape[:2])
        start = 0 if query_start_index is None else query_start_index
        mask, window_weights = self._attention_mask(
            query, memory, query_mask, use_causal_mask, start
        )
        context = weights = None
        if (
            not return_attention_scores
            and window_weights is None
            and not (training and self.dropout > 0)
            and not score_inputs
        ):
            context = self._fused_attention(query, memory, mask)
        if context is None:
            weights = self._attention_weights(
                query, memory, mask, window_weights, start, score_inputs
            )
            dropped = self._dropout_layer(weights, training=training)
            context = self._combine_values(dropped, memory)
        outputs = self._project_output(context, mask)
        if single_step:
            outputs = ops.squeeze(outputs, 1)
            if weights is not None:
                weights = ops.squeeze(weights, -2)
        results = (outputs,)
        if return_attention_scores:
            results += (weights,)
        if cache is not None:
            results += (memory,)
        return results[0] if len(results) == 1 else results

    def _attention_mask(self, query, memory, query_mask, causal, start):
        """The boolean `[batch, Tq or 1, Tv]` mask and local-p's weights."""
        causal_mask = None
        if causal:
            causal_mask = utils.causal_mask(
                ops.shape(query)[1], ops.shape(memory["value_mask"])[1], start
            )
        mask = utils.combine_masks(
            memory["value_mask"], query_mask, causal_mask
        )
        window_mask, window_weights = self._alignment(query, memory, start)
        if window_mask is not None:
            mask = ops.logical_and(mask, window_mask)
        return mask, window_weights

    def _attention_weights(
        self, query, memory, mask, window_weights, start, score_inputs
    ):
        scores = self._compute_scores(query, memory, start, **score_inputs)
        # Multi-head scores `[batch, heads, Tq, Tv]` share the mask.
        for _ in range(len(scores.shape) - 3):
            mask = ops.expand_dims(mask, 1)
        weights = masked_softmax(scores, mask)
        if window_weights is not None:
            weights = weights * window_weights
        return ops.cast(weights, self.compute_dtype)

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
        query_start_index=None,
        cache=None,
    ):
        if value is None:
            value = query
        memory = cache if cache is not None else value
        if isinstance(memory, dict):
            value_dim = memory["value"].shape[-1]
            value_length = memory["value_mask"].shape[1]
        else:
            value_dim, value_length = value.shape[-1], value.shape[1]
        batch = query.shape[0]
        steps = () if len(query.shape) == 2 else (query.shape[1],)
        output_dim = self._output_dim(query.shape[-1], value_dim)
        results = (
            keras.KerasTensor(
                (batch,) + steps + (output_dim,), dtype=self.compute_dtype
            ),
        )
        if return_attention_scores:
            weights_shape = (batch,) + self._head_axes() + steps
            results += (
                keras.KerasTensor(
                    weights_shape + (value_length,), dtype=self.compute_dtype
                ),
            )
        if cache is not None:
            results += (
                {
                    name: keras.KerasTensor(tensor.shape, dtype=tensor.dtype)
                    for name, tensor in cache.items()
                },
            )
        return results[0] if len(results) == 1 else results

    def get_config(self):
        config = super().get_config()
        config.update({"dropout": self.dropout})
        return config
