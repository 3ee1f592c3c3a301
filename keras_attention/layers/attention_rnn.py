"""A recurrent decoder that attends over an encoder memory at every step."""

import keras
from keras import ops
from keras import tree

# `backend.rnn` is the loop Keras's own RNN layers run on, for every backend.
from keras.src import backend as keras_backend

STYLES = ("luong", "bahdanau")


def _top_hidden(cell_states):
    """The hidden state `h` of the top cell, whatever the cell nesting."""
    while tree.is_nested(cell_states):
        cell_states = (
            cell_states[-1] if _is_stack(cell_states) else (cell_states[0])
        )
    return cell_states


def _is_stack(states):
    # A StackedRNNCells state is a list of per-cell states, each itself a
    # list; a single cell's state is a flat list of tensors.
    return bool(states) and tree.is_nested(states[0])


@keras.saving.register_keras_serializable(package="keras_attention")
class AttentionRNN(keras.layers.Layer):
    """Runs an RNN cell with attention over a memory: an attentive decoder.

    Keras 3 RNN layers no longer pass `constants` to their cells, so a cell
    cannot attend to an encoder by itself. This layer wraps any Keras RNN cell
    (`GRUCell`, `LSTMCell`, `StackedRNNCells`, or your own) and any of this
    library's attention layers, in one of two styles:

    - `"bahdanau"` (Bahdanau et al. 2014, section 3.1): at step `t` the
      previous hidden state `s_{t-1}` attends over the memory, the context
      `c_t` is concatenated to the input `y_t` and fed into the cell, and the
      step output is `[s_t; c_t]`.
    - `"luong"` (Luong et al. 2015, section 3.1): the cell runs first, its
      new hidden state `h_t` attends over the memory and the output is the
      attentional vector `h~_t = tanh(W_c [c_t; h_t])` (equation 5). With
      `input_feeding=True`, `h~_{t-1}` is concatenated to the input of step
      `t` (section 3.3).

    Luong attention without input feeding has no step that depends on an
    earlier context, so `call` runs the cell over the whole sequence as one
    Keras RNN layer (a `GRU` or `LSTM` layer for those cells, which uses cuDNN
    on GPU) and then attends from all steps at once. It gives the same numbers
    as the step loop, which `parallel=False` forces.

    For step-by-step decoding, project the memory once with
    `precompute_memory()`, get the first state with `get_initial_state()`,
    then call `step()` once per token. The state counts the steps taken, so
    monotonic local attention (`LuongAttention(alignment="local-m")`, which
    centers its window on source position `t` at target step `t`) decodes
    step by step exactly as in teacher forcing.

    Args:
        cell: A Keras RNN cell instance (or a list of cells, which become a
            `StackedRNNCells`).
        attention: An attention layer from `keras_attention.layers`
            (`BahdanauAttention`, `LuongAttention` or `MultiHeadAttention`).
        style: `"luong"` or `"bahdanau"`.
        input_feeding: Luong style only: whether to feed `h~_{t-1}` into the
            cell at step `t`.
        attentional_units: Luong style only: size of `h~_t`; defaults to the
            size of the cell's output.
        parallel: How `call` runs: `None` (default) runs the cell over the
            whole sequence at once whenever that is possible (Luong style
            without input feeding) and step by step otherwise; `False` always
            runs step by step (the same numbers, more slowly); `True`
            requires the parallel path and raises a `ValueError` for the
            configurations that have none.
        **kwargs: Base layer arguments such as `name` and `dtype`.

    Call arguments:
        inputs: Decoder inputs `[batch, T_dec, dim]` (e.g. embedded target
            tokens, shifted right).
        memory: Encoder outputs `[batch, T_enc, dim_m]`.
        memory_mask: Optional boolean `[batch, T_enc]`; defaults to the Keras
            mask of `memory`.
        initial_state: Optional initial cell state, in the cell's own state
            structure (e.g. the encoder's final state).
        mask: Optional boolean `[batch, T_dec]`; masked steps keep the
            previous state. Defaults to the Keras mask of `inputs`.
        training: Whether dropout is active.

    Returns:
        A tuple `(outputs, attention, final_state)`: outputs
        `[batch, T_dec, output_size]`, attention weights
        `[batch, T_dec, T_enc]` (heads first, `[batch, heads, T_dec, T_enc]`,
        for multi-head attention, as the layer itself returns them) and the
        final cell state.

    Example:

    >>> memory = keras.random.normal((2, 7, 16))
    >>> targets = keras.random.normal((2, 5, 8))
    >>> decoder = keras_attention.layers.AttentionRNN(
    ...     keras.layers.GRUCell(16),
    ...     keras_attention.layers.LuongAttention("general"),
    ...     input_feeding=True,
    ... )
    >>> outputs, weights, state = decoder(targets, memory)
    >>> outputs.shape, weights.shape
    ((2, 5, 16), (2, 5, 7))

    References:
        - [Bahdanau et al., 2014](https://arxiv.org/abs/1409.0473),
          section 3.1 and appendix A.2.2.
        - [Luong et al., 2015](https://arxiv.org/abs/1508.04025),
          section 3.1 (equation 5) and section 3.3 (input feeding).
    """

    def __init__(
        self,
        cell,
        attention,
        style="luong",
        input_feeding=False,
        attentional_units=None,
        parallel=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if style not in STYLES:
            raise ValueError(
                f"`style` must be one of {STYLES}. Received: style={style}"
            )
        if input_feeding and style != "luong":
            raise ValueError(
                "`input_feeding` applies to style='luong' only (Bahdanau "
                "attention already feeds the context into the cell). "
                f"Received: style={style}, input_feeding={input_feeding}"
            )
        if parallel is not None and not isinstance(parallel, bool):
            raise ValueError(
                "`parallel` must be None (automatic), True or False. "
                f"Received: parallel={parallel!r}"
            )
        if parallel and (style != "luong" or input_feeding):
            raise ValueError(
                "`parallel=True` needs style='luong' without input feeding: "
                "otherwise every step depends on the previous step's "
                f"context. Received: style={style}, "
                f"input_feeding={input_feeding}"
            )
        if isinstance(cell, (list, tuple)):
            cell = keras.layers.StackedRNNCells(cell)
        if not hasattr(cell, "state_size") or not callable(cell):
            raise ValueError(
                "`cell` must be a Keras RNN cell (with `state_size`), such as "
                f"keras.layers.GRUCell(64). Received: cell={cell}"
            )
        if not hasattr(attention, "precompute_memory"):
            raise ValueError(
                "`attention` must be an attention layer of keras_attention "
                "(with `precompute_memory`). Received: "
                f"attention={attention}"
            )
        self.style = style
        self.input_feeding = input_feeding
        self.attentional_units = attentional_units
        self.parallel = parallel
        # GRU and LSTM cells run inside the matching Keras layer, whose cell
        # is the one the step loop uses: both paths share the same weights
        # and the parallel path gets cuDNN on GPU.
        sequence_layer = {
            keras.layers.GRUCell: keras.layers.GRU,
            keras.layers.LSTMCell: keras.layers.LSTM,
        }.get(type(cell))
        if sequence_layer is not None:
            config = cell.get_config()
            config.pop("seed", None)
            config["dtype"] = self.dtype_policy
            self._sequence_rnn = sequence_layer(
                return_sequences=True, return_state=True, **config
            )
            self._sequence_rnn.cell = cell
        else:
            self._sequence_rnn = keras.layers.RNN(
                cell,
                return_sequences=True,
                return_state=True,
                dtype=self.dtype_policy,
            )
        self.cell = cell
        self.attention = attention
        self._attentional_dense = None
        self.supports_masking = True

    @property
    def uses_parallel_path(self):
        """Whether `call` runs the cell over the whole sequence at once."""
        if self.parallel is not None:
            return self.parallel
        return self.style == "luong" and not self.input_feeding

    @property
    def _cell_units(self):
        size = (
            self.cell.output_size
            if hasattr(self.cell, "output_size")
            else (None)
        )
        if size is None:
            size = tree.flatten(self.cell.state_size)[0]
        return size

    @property
    def output_size(self):
        """Size of the last axis of the outputs."""
        return self._output_size(self._memory_shape)

    def _output_size(self, memory_shape):
        if self.style == "luong":
            return self.attentional_units or self._cell_units
        return self._cell_units + self._step_attention_spec(memory_shape)[0]

    def _step_attention_spec(self, memory_shape):
        """`(context_dim, head_axes)` of the attention of one step.

        Taken from the attention layer's own output spec, so any layer of
        the library (one head or several) fits without knowing its type.
        """
        context, weights = self.attention.compute_output_spec(
            keras.KerasTensor((None, self._cell_units)),
            keras.KerasTensor(tuple(memory_shape)),
            return_attention_scores=True,
        )
        return context.shape[-1], tuple(weights.shape[1:-1])

    def build(self, inputs_shape, memory_shape, memory_mask_shape=None):
        inputs_shape = tuple(inputs_shape)
        memory_shape = tuple(memory_shape)
        self._memory_shape = memory_shape
        context_dim = self._step_attention_spec(memory_shape)[0]
        feature_dim = inputs_shape[-1]
        if self.style == "bahdanau":
            feature_dim += context_dim
        elif self.input_feeding:
            feature_dim += self.attentional_units or self._cell_units
        if not self.cell.built:
            self.cell.build((inputs_shape[0], feature_dim))
        self._sequence_rnn.built = True
        query_shape = (inputs_shape[0], inputs_shape[1], self._cell_units)
        if not self.attention.built:
            self.attention.build(query_shape, memory_shape)
        if self.style == "luong":
            self._attentional_dense = keras.layers.Dense(
                self.attentional_units or self._cell_units,
                activation="tanh",
                use_bias=False,
                dtype=self.dtype_policy,
                name="attentional_projection",
            )
            self._attentional_dense.build(
                (None, None, context_dim + self._cell_units)
            )
        self.built = True

    # Decoding API.

    def precompute_memory(self, memory, memory_mask=None):
        """Projects the memory once; pass the result to `step()`."""
        return self.attention.precompute_memory(memory, value_mask=memory_mask)

    def get_initial_state(self, batch_size, initial_state=None):
        """The decoder state before the first step.

        Args:
            batch_size: Number of sequences.
            initial_state: Optional initial cell state (e.g. the encoder's
                final state); zeros when not given.

        Returns:
            A dict: `"cell"` (the cell state), `"feed"` (the previous
            attentional vector for input feeding, or the previous hidden state
            that Bahdanau attention queries) and `"step"` (int32 `[batch]`,
            the number of steps taken, which is the 0-based index of the next
            step).
        """
        if initial_state is None:
            initial_state = self.cell.get_initial_state(batch_size=batch_size)
        initial_state = tree.map_structure(
            lambda tensor: ops.cast(tensor, self.compute_dtype), initial_state
        )
        if self.style == "bahdanau":
            feed = _top_hidden(initial_state)
        elif self.input_feeding:
            feed = ops.zeros(
                (batch_size, self.attentional_units or self._cell_units),
                dtype=self.compute_dtype,
            )
        else:
            feed = ops.zeros((batch_size, 0), dtype=self.compute_dtype)
        return {
            "cell": initial_state,
            "feed": ops.cast(feed, self.compute_dtype),
            "step": ops.zeros((batch_size,), dtype="int32"),
        }

    def step(self, inputs, state, memory, training=None):
        """Runs one decoder step.

        Every sequence of the batch takes the step: a Keras mask attached to
        `inputs` (e.g. by `Embedding(mask_zero=True)`) is ignored.

        Args:
            inputs: `[batch, dim]`, the input of this step.
            state: The dict from `get_initial_state()` or a previous `step()`;
                all its sequences must have taken the same number of steps.
            memory: The dict from `precompute_memory()`.
            training: Whether dropout is active.

        Returns:
            `(output, new_state, attention)`: output `[batch, output_size]`,
            the new state dict and the weights `[batch, T_enc]` (or
            `[batch, heads, T_enc]`).
        """
        inputs = ops.cast(inputs, self.compute_dtype)
        if keras_backend.get_keras_mask(inputs) is not None:
            # A copy carries no mask: RNN cells do not support masking and
            # would warn about it at every step.
            inputs = ops.copy(inputs)
        cell_state = state["cell"]
        attention_arguments = {
            "return_attention_scores": True,
            # Local-m alignment centers its window on the step index; every
            # sequence is at the same step, so the first one's count holds.
            "query_start_index": state["step"][0],
        }
        if self.style == "bahdanau":
            context, weights = self.attention(
                state["feed"], memory, training=training, **attention_arguments
            )
            cell_input = ops.concatenate([inputs, context], axis=-1)
            hidden, cell_state = self.cell(
                cell_input, cell_state, training=training
            )
            output = ops.concatenate([hidden, context], axis=-1)
            feed = hidden
        else:
            cell_input = inputs
            if self.input_feeding:
                cell_input = ops.concatenate([inputs, state["feed"]], axis=-1)
            hidden, cell_state = self.cell(
                cell_input, cell_state, training=training
            )
            context, weights = self.attention(
                hidden, memory, training=training, **attention_arguments
            )
            output = self._attentional_dense(
                ops.concatenate([context, hidden], axis=-1)
            )
            feed = output if self.input_feeding else state["feed"]
        new_state = {
            "cell": cell_state,
            "feed": feed,
            "step": state["step"] + 1,
        }
        return output, new_state, weights

    # Teacher forcing.

    def call(
        self,
        inputs,
        memory,
        memory_mask=None,
        initial_state=None,
        mask=None,
        training=None,
    ):
        if len(inputs.shape) != 3:
            raise ValueError(
                "`inputs` must have rank 3 ([batch, T_dec, dim]). "
                f"Received: inputs.shape={tuple(inputs.shape)}"
            )
        if len(memory.shape) != 3:
            raise ValueError(
                "`memory` must have rank 3 ([batch, T_enc, dim]). "
                f"Received: memory.shape={tuple(memory.shape)}"
            )
        if self.uses_parallel_path:
            return self._call_parallel(
                inputs, memory, memory_mask, initial_state, mask, training
            )
        return self._call_loop(
            inputs, memory, memory_mask, initial_state, mask, training
        )

    def _call_parallel(
        self, inputs, memory, memory_mask, initial_state, mask, training
    ):
        results = self._sequence_rnn(
            inputs, initial_state=initial_state, mask=mask, training=training
        )
        hidden, final_state = results[0], list(results[1:])
        context, weights = self.attention(
            hidden,
            memory,
            query_mask=mask,
            value_mask=memory_mask,
            return_attention_scores=True,
            training=training,
        )
        outputs = self._attentional_dense(
            ops.concatenate([context, hidden], axis=-1)
        )
        if isinstance(self.cell, keras.layers.StackedRNNCells):
            final_state = _regroup_stacked_state(self.cell, final_state)
        return outputs, weights, final_state

    def _call_loop(
        self, inputs, memory, memory_mask, initial_state, mask, training
    ):
        batch_size = ops.shape(inputs)[0]
        state = self.get_initial_state(batch_size, initial_state)
        projected_memory = self.precompute_memory(memory, memory_mask)
        output_size = self.output_size
        weights_shape = self._weights_shape((batch_size,), memory)
        weights_size = 1
        for size in weights_shape[1:]:
            weights_size = weights_size * size
        # The loop carries one output tensor per step, so the weights travel
        # flattened beside the output. Keras's loop reads the first state as
        # the previous output (repeated on padded steps), so it leads.
        previous = ops.zeros(
            (batch_size, output_size + weights_size), self.compute_dtype
        )
        # The step index comes with the inputs instead: Keras's loop would
        # stop it on padded steps (the parallel path counts them) and masks
        # only states of rank 2 or more.
        loop_state = {"cell": state["cell"], "feed": state["feed"]}

        def one_step(step_inputs, states):
            step_input = ops.cast(step_inputs[:, :-1], self.compute_dtype)
            step_state = tree.pack_sequence_as(loop_state, list(states[1:]))
            step_state["step"] = ops.cast(step_inputs[:, -1], "int32")
            output, new_state, weights = self.step(
                step_input, step_state, projected_memory, training=training
            )
            new_state.pop("step")
            flat_weights = ops.reshape(weights, (ops.shape(weights)[0], -1))
            packed = ops.concatenate(
                [output, ops.cast(flat_weights, output.dtype)], axis=-1
            )
            return packed, [packed] + tree.flatten(new_state)

        num_steps = ops.shape(inputs)[1]
        step_indices = ops.broadcast_to(
            ops.reshape(ops.arange(num_steps, dtype="float32"), (1, -1, 1)),
            (batch_size, num_steps, 1),
        )
        # The index rides as a last float32 feature (exact below 2**24): a
        # nested input breaks TensorFlow's loop when the length is unknown,
        # and float16 or bfloat16 could not hold it.
        inputs_and_indices = ops.concatenate(
            [ops.cast(inputs, "float32"), step_indices], axis=-1
        )
        # Keras's own RNN loop: differentiable on every backend and keeps the
        # state of padded steps, as Keras RNN layers do.
        _, packed, final_states = keras_backend.rnn(
            one_step,
            inputs_and_indices,
            [previous] + tree.flatten(loop_state),
            mask=mask,
        )
        outputs = packed[..., :output_size]
        weights = ops.reshape(
            packed[..., output_size:],
            self._weights_shape(ops.shape(packed)[:2], memory),
        )
        # The loop stacks the steps second; heads, if any, come first.
        weights = ops.moveaxis(weights, 1, -2)
        final_state = tree.pack_sequence_as(loop_state, list(final_states[1:]))
        return outputs, weights, final_state["cell"]

    def _weights_shape(self, leading, memory):
        """`leading + heads + (T_enc,)`: the weights of the steps `leading`."""
        head_axes = self._step_attention_spec(memory.shape)[1]
        return tuple(leading) + head_axes + (ops.shape(memory)[1],)

    def compute_mask(self, inputs, mask=None):
        return mask

    def compute_output_spec(
        self,
        inputs,
        memory,
        memory_mask=None,
        initial_state=None,
        mask=None,
        training=None,
    ):
        batch, steps = inputs.shape[0], inputs.shape[1]
        outputs = keras.KerasTensor(
            (batch, steps, self._output_size(memory.shape)),
            dtype=self.compute_dtype,
        )
        head_axes = self._step_attention_spec(memory.shape)[1]
        weights = keras.KerasTensor(
            (batch,) + head_axes + (steps, memory.shape[1]),
            dtype=self.compute_dtype,
        )
        state = tree.map_structure(
            lambda size: keras.KerasTensor(
                (batch, size), dtype=self.compute_dtype
            ),
            self.cell.state_size,
        )
        if not tree.is_nested(state):
            state = [state]
        return outputs, weights, state

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "cell": keras.layers.serialize(self.cell),
                "attention": keras.layers.serialize(self.attention),
                "style": self.style,
                "input_feeding": self.input_feeding,
                "attentional_units": self.attentional_units,
                "parallel": self.parallel,
            }
        )
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["cell"] = keras.layers.deserialize(config["cell"])
        config["attention"] = keras.layers.deserialize(config["attention"])
        return cls(**config)


def _regroup_stacked_state(stacked_cell, flat_state):
    """Nests the flat state of a `StackedRNNCells` RNN back per cell."""
    grouped, position = [], 0
    for cell in stacked_cell.cells:
        size = len(tree.flatten(cell.state_size))
        grouped.append(flat_state[position : position + size])
        position += size
    return grouped
