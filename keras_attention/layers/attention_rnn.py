"""A recurrent decoder that attends over an encoder memory at every step.

`AttentionRNN` composes its variants from plain parts, picked once from its
configuration: a step style (`_decoder_steps`), a context pipeline of hard
sampling and the context gate (`_context_pipeline`) and state extensions
such as the coverage (`_coverage_state`). The parts own no weights: every
sublayer stays on the layer, so saved files keep their layout.
"""

import keras
from keras import ops
from keras import tree

from keras_attention.layers._context_pipeline import ContextGate
from keras_attention.layers._context_pipeline import HardSampling
from keras_attention.layers._coverage_state import CoverageState
from keras_attention.layers._decoder_steps import AttentionalVector
from keras_attention.layers._decoder_steps import BahdanauStep
from keras_attention.layers._decoder_steps import LuongStep
from keras_attention.layers._decoder_steps import StateAndContext
from keras_attention.layers._rnn_loop import rnn_loop

STYLES = ("luong", "bahdanau")
SAMPLINGS = ("soft", "hard")


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
    - `"luong"` with `output_projection=False`, the decoder of See et al.
      (2017, section 2.1): `s_t = cell([y_t; h*_{t-1}], s_{t-1})` (the
      previous context `h*_{t-1}` fed only with `input_feeding=True`), the
      new state `s_t` attends over the memory (equation 1) and the output is
      `[s_t; h*_t]` itself, without `W_c`; equation 4 applies its two linear
      layers to it, which the model adds after this layer.

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

    With `coverage=True` (See et al. 2017, section 2.3), the decoder keeps
    the coverage `c^t = sum_{t' < t} a^{t'}` of every source position, the
    sum of the attention weights of the earlier steps (float32, in the state
    as `"coverage"`), and passes it to the attention layer, whose score
    takes it as an input (equation 11; `BahdanauAttention(coverage=True)`).
    Masked decoder steps leave the coverage unchanged. `call` then always
    runs the step loop. The coverage loss (equation 12) is computed from the
    returned weights by `keras_attention.losses.coverage_loss`.

    Two options of Show, Attend and Tell (Xu et al. 2015) apply to either
    style:

    - `context_gate=True` (section 4.2.1): the context is scaled by
      `beta_t = sigmoid(f_beta(q_t))`, where `q_t` is the query of the step
      (`s_{t-1}` for Bahdanau style, `h_t` for Luong style) and `f_beta` a
      learned `Dense(1)` named `"context_gate"`, before it is used anywhere
      (fed to the cell, concatenated to the output or projected).
    - `attention_sampling="hard"` (section 4.1, stochastic hard attention):
      in training, each sequence at each step takes, with probability
      `expected_context_rate`, the usual expected context
      `sum_i alpha_ti a_i`, and otherwise samples one location
      `s_t ~ Categorical(alpha_t)` and uses the value at `s_t` alone (the
      attention layer's context for one-hot weights). Weights that do not
      sum to one (local-p attention) are normalized for sampling. Outside
      training the context is the expected one, as the authors' code does
      at test time. The random numbers are drawn before the step loop, so
      the loop stays deterministic under XLA. The returned weights are
      always `alpha_t`. Train the sampling with `HardAttentionLoss` and the
      statistics of `call(..., return_sampling=True)`.

    Args:
        cell: A Keras RNN cell instance (or a list of cells, which become a
            `StackedRNNCells`).
        attention: An attention layer from `keras_attention.layers`
            (`BahdanauAttention`, `LuongAttention` or `MultiHeadAttention`).
        style: `"luong"` or `"bahdanau"`.
        input_feeding: Luong style only: whether to feed `h~_{t-1}` (or the
            previous context `h*_{t-1}` with `output_projection=False`) into
            the cell at step `t`.
        attentional_units: Luong style only: size of `h~_t`; defaults to the
            size of the cell's output.
        output_projection: Luong style only: whether the output is the
            attentional vector `tanh(W_c [c_t; h_t])` (`True`, Luong et al.)
            or the concatenation `[s_t; h*_t]` of the hidden state and the
            context (`False`, See et al.).
        coverage: Whether to keep the coverage vector of See et al. and pass
            it to the attention, which must be built with coverage (e.g.
            `BahdanauAttention(units, coverage=True)`; one head only).
        parallel: How `call` runs: `None` (default) runs the cell over the
            whole sequence at once whenever that is possible (Luong style
            without input feeding, hard attention or coverage) and step by
            step otherwise; `False` always runs step by step (the same
            numbers, more slowly); `True` requires the parallel path and
            raises a `ValueError` for the configurations that have none (and
            for hard attention and coverage, which always run step by step).
        context_gate: Whether to scale the context by the learned gating
            scalar `beta_t` of Xu et al. (section 4.2.1).
        attention_sampling: `"soft"` (default, deterministic attention) or
            `"hard"` (stochastic hard attention of Xu et al., section 4.1).
            Hard sampling needs an attention layer with one head.
        expected_context_rate: Float in `[0, 1]`, hard sampling only: the
            probability that a step in training takes the expected (soft)
            context instead of a sampled location (Xu et al. use 0.5).
        seed: Optional integer seed of the random numbers of hard sampling.
        **kwargs: Base layer arguments such as `name` and `dtype`.

    Call arguments:
        inputs: Decoder inputs `[batch, T_dec, dim]` (e.g. embedded target
            tokens, shifted right), `T_dec >= 1` (as for Keras RNN layers;
            an empty batch is fine).
        memory: Encoder outputs `[batch, T_enc, dim_m]`, `T_enc >= 1`.
        memory_mask: Optional boolean `[batch, T_enc]`; defaults to the Keras
            mask of `memory`.
        initial_state: Optional initial cell state, in the cell's own state
            structure (e.g. the encoder's final state).
        mask: Optional boolean `[batch, T_dec]`; masked steps keep the
            previous state. Defaults to the Keras mask of `inputs`.
        training: Whether dropout is active and hard attention samples.
        return_sampling: Whether to also return the sampling statistics.

    Returns:
        A tuple `(outputs, attention, final_state)`: outputs
        `[batch, T_dec, output_size]`, attention weights
        `[batch, T_dec, T_enc]` (heads first, `[batch, heads, T_dec, T_enc]`,
        for multi-head attention, as the layer itself returns them) and the
        final cell state. With `return_sampling=True` a fourth element, a
        dict of float32 `[batch, T_dec]` tensors: `"log_prob"`, the log
        probability `log alpha_{t, s_t}` of the sampled location at steps
        that sampled one (zero at every other step: expected-context steps,
        masked steps, soft sampling and outside training), and
        `"entropy"`, the entropy in nats of `alpha_t` at every unmasked step
        (zero at masked steps; summed over the heads of multi-head
        attention).

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
        - [Xu et al., 2015](https://arxiv.org/abs/1502.03044), section 4.1
          (stochastic hard attention, equations 8-12) and section 4.2.1
          (the gating scalar beta).
        - [See et al., 2017](https://arxiv.org/abs/1704.04368), section 2.1
          (equations 1-4, the attentive decoder) and section 2.3
          (equations 10-11, coverage).
    """

    def __init__(
        self,
        cell,
        attention,
        style="luong",
        input_feeding=False,
        attentional_units=None,
        parallel=None,
        context_gate=False,
        attention_sampling="soft",
        expected_context_rate=0.5,
        seed=None,
        output_projection=True,
        coverage=False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        _check_style_arguments(style, input_feeding, parallel)
        _check_sampling_arguments(
            context_gate,
            attention_sampling,
            expected_context_rate,
            seed,
            parallel,
        )
        _check_see_arguments(
            style, output_projection, attentional_units, coverage, parallel
        )
        cell = _checked_cell(cell)
        _check_attention_layer(attention, attention_sampling, coverage)
        self.style = style
        self.input_feeding = input_feeding
        self.attentional_units = attentional_units
        self.parallel = parallel
        self.context_gate = context_gate
        self.attention_sampling = attention_sampling
        self.expected_context_rate = float(expected_context_rate)
        self.seed = seed
        self.output_projection = output_projection
        self.coverage = coverage
        # Only hard sampling draws random numbers; a soft decoder keeps the
        # variables (and saved files) it had before these options existed.
        self._seed_generator = (
            keras.random.SeedGenerator(seed)
            if attention_sampling == "hard"
            else None
        )
        self._sequence_rnn = self._make_sequence_rnn(cell)
        self.cell = cell
        self.attention = attention
        self._attentional_dense = None
        self._context_gate = None
        self.supports_masking = True
        self._compose_parts()

    def _compose_parts(self):
        """Picks the plain-object parts of a step from the configuration.

        The step style (`BahdanauStep` or `LuongStep` with its output), the
        context pipeline (hard sampling, then the context gate) and the
        state extensions (coverage). They own no weights: the sublayers
        they call stay on this layer, so saved files keep their layout.
        """
        if self.style == "bahdanau":
            self._decoder_step = BahdanauStep(self)
        else:
            output = (
                AttentionalVector(self)
                if self.output_projection
                else StateAndContext(self)
            )
            self._decoder_step = LuongStep(self, output, self.input_feeding)
        context_parts = []
        if self.attention_sampling == "hard":
            context_parts.append(HardSampling(self, self.expected_context_rate))
        if self.context_gate:
            context_parts.append(ContextGate(self))
        self._context_parts = tuple(context_parts)
        self._state_extensions = (CoverageState(),) if self.coverage else ()

    def _make_sequence_rnn(self, cell):
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
            sequence_rnn = sequence_layer(
                return_sequences=True, return_state=True, **config
            )
            sequence_rnn.cell = cell
            return sequence_rnn
        return keras.layers.RNN(
            cell,
            return_sequences=True,
            return_state=True,
            dtype=self.dtype_policy,
        )

    @property
    def uses_parallel_path(self):
        """Whether `call` runs the cell over the whole sequence at once."""
        if self.parallel is not None:
            return self.parallel
        parts = (
            (self._decoder_step,) + self._context_parts + self._state_extensions
        )
        return all(part.supports_parallel for part in parts)

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
        return self._decoder_step.output_size(memory_shape)

    def _context_size(self, memory_shape):
        """Size of the context of one step, for a raw memory shape."""
        return self._step_attention_spec(memory_shape)[0]

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
        # Keras builds before `call`: the attention's own checks would
        # name its arguments (`query`, `value`) instead of this layer's.
        _check_call_shapes(inputs_shape, memory_shape)
        self._memory_shape = memory_shape
        context_dim, head_axes = self._step_attention_spec(memory_shape)
        if self.attention_sampling == "hard":
            _check_single_head(self.attention, head_axes)
        if self.coverage and head_axes:
            raise ValueError(
                "`coverage=True` sums the attention of one head per source "
                "position, so it needs attention weights `[batch, T_enc]` "
                f"per step. Received: {self.attention.__class__.__name__} "
                f"with head axes {tuple(head_axes)}"
            )
        feature_dim = self._decoder_step.cell_input_size(
            inputs_shape[-1], context_dim
        )
        if not self.cell.built:
            self.cell.build((inputs_shape[0], feature_dim))
        self._sequence_rnn.built = True
        query_shape = (inputs_shape[0], inputs_shape[1], self._cell_units)
        if not self.attention.built:
            self.attention.build(query_shape, memory_shape)
        if self.style == "luong" and self.output_projection:
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
        if self.context_gate:
            self._context_gate = keras.layers.Dense(
                1,
                bias_initializer="zeros",
                dtype=self.dtype_policy,
                name="context_gate",
            )
            self._context_gate.build((None, self._cell_units))
        self.built = True

    # Decoding API.

    def precompute_memory(self, memory, memory_mask=None):
        """Projects the memory once; pass the result to `step()`."""
        _check_memory_shape(tuple(memory.shape))
        return self.attention.precompute_memory(memory, value_mask=memory_mask)

    def get_initial_state(self, batch_size, initial_state=None, memory=None):
        """The decoder state before the first step.

        Args:
            batch_size: Number of sequences.
            initial_state: Optional initial cell state (e.g. the encoder's
                final state); zeros when not given.
            memory: The dict from `precompute_memory()`. Required with
                `coverage=True`, whose coverage needs the source length
                `T_enc`; ignored otherwise.

        Returns:
            A dict: `"cell"` (the cell state), `"feed"` (the previous
            attentional vector for input feeding, the previous context with
            `output_projection=False`, or the previous hidden state that
            Bahdanau attention queries), `"step"` (int32 `[batch]`, the
            number of steps taken, which is the 0-based index of the next
            step) and, with `coverage=True`, `"coverage"` (float32
            `[batch, T_enc]` zeros: the attention received so far).
        """
        extensions = {}
        for extension in self._state_extensions:
            extensions.update(extension.initial_state(batch_size, memory))
        if initial_state is None:
            initial_state = self.cell.get_initial_state(batch_size=batch_size)
        initial_state = tree.map_structure(
            lambda tensor: ops.cast(tensor, self.compute_dtype), initial_state
        )
        feed = self._decoder_step.initial_feed(
            initial_state, batch_size, self.compute_dtype
        )
        state = {
            "cell": initial_state,
            "feed": ops.cast(feed, self.compute_dtype),
            "step": ops.zeros((batch_size,), dtype="int32"),
        }
        state.update(extensions)
        return state

    def _known_memory_shape(self):
        """The raw memory shape this layer was built (or projected) for."""
        memory_shape = getattr(self, "_memory_shape", None)
        if memory_shape is None:
            shapes = getattr(self.attention, "_input_shapes", None) or {}
            memory_shape = shapes.get("value_shape")
        if memory_shape is None:
            raise ValueError(
                "The size of the context is not known yet: call the layer "
                "or `precompute_memory()` once before `get_initial_state()`."
            )
        return memory_shape

    def step(self, inputs, state, memory, training=None):
        """Runs one decoder step.

        Every sequence of the batch takes the step: a Keras mask attached to
        `inputs` (e.g. by `Embedding(mask_zero=True)`) is ignored.

        Args:
            inputs: `[batch, dim]`, the input of this step.
            state: The dict from `get_initial_state()` or a previous `step()`;
                all its sequences must have taken the same number of steps.
                With `coverage=True` it holds the coverage, which the step
                passes to the attention and then adds this step's weights
                to.
            memory: The dict from `precompute_memory()`.
            training: Whether dropout is active and hard attention samples
                (with random numbers from the layer's seed generator).

        Returns:
            `(output, new_state, attention)`: output `[batch, output_size]`,
            the new state dict and the weights `[batch, T_enc]` (or
            `[batch, heads, T_enc]`).
        """
        if self._decoder_step.passes_inputs_to_cell:
            # The cell gets the input itself; a copy carries no Keras mask,
            # which RNN cells do not support and would warn about at every
            # step. The other steps concatenate the input first.
            inputs = ops.copy(inputs)
        uniforms = None
        if self._samples(training):
            uniforms = keras.random.uniform(
                (ops.shape(inputs)[0], 2), seed=self._seed_generator
            )
        output, new_state, weights, _ = self._step(
            inputs, state, memory, training, uniforms, statistics=False
        )
        return output, new_state, weights

    def _samples(self, training):
        """Whether a call with this `training` samples hard attention."""
        draws = any(part.draws_uniforms for part in self._context_parts)
        return draws and bool(training)

    def _step(self, inputs, state, memory, training, uniforms, statistics):
        """`step()` that may also return the step's sampling statistics.

        `uniforms` is `None` (the expected context) or float32 `[batch, 2]`:
        the first number chooses between the expected context and a sampled
        location, the second one samples the location. Returns
        `(output, new_state, weights, statistics)`, the statistics being
        float32 `(log_prob, entropy)`, each `[batch]`, or `None` when
        `statistics` is false.
        """
        inputs = ops.cast(inputs, self.compute_dtype)
        attention_arguments = {
            "return_attention_scores": True,
            # Local-m alignment centers its window on the step index; every
            # sequence is at the same step, so the first one's count holds
            # (a sum over at most one, so that an empty batch gives 0).
            "query_start_index": ops.sum(state["step"][:1]),
        }
        for extension in self._state_extensions:
            attention_arguments.update(extension.attention_arguments(state))

        def attend(query):
            context, weights = self.attention(
                query, memory, training=training, **attention_arguments
            )
            context, log_prob = self._step_context(
                query, context, weights, memory, uniforms
            )
            return context, weights, log_prob

        output, new_state, weights, log_prob = self._decoder_step(
            inputs, state, attend, training
        )
        new_state["step"] = state["step"] + 1
        for extension in self._state_extensions:
            new_state.update(extension.next_state(state, weights))
        if not statistics:
            return output, new_state, weights, None
        entropy = _flatten_after_batch(_entropy(weights))
        return output, new_state, weights, (log_prob, ops.sum(entropy, -1))

    def _step_context(self, query, context, weights, memory, uniforms):
        """The context a step uses, and the log probability of its sample.

        Runs the context pipeline (hard sampling, then the context gate).
        Returns the context and float32 `[batch]` log probabilities, zero
        where no location was sampled.
        """
        log_prob = ops.zeros((ops.shape(weights)[0],), "float32")
        for part in self._context_parts:
            context, sampled_log_prob = part(
                query, context, weights, memory, uniforms
            )
            if sampled_log_prob is not None:
                log_prob = sampled_log_prob
        return context, log_prob

    # Teacher forcing.

    def call(
        self,
        inputs,
        memory,
        memory_mask=None,
        initial_state=None,
        mask=None,
        training=None,
        return_sampling=False,
    ):
        _check_call_shapes(inputs.shape, memory.shape)
        if self.uses_parallel_path:
            results = self._call_parallel(
                inputs,
                memory,
                memory_mask,
                initial_state,
                mask,
                training,
                return_sampling,
            )
        else:
            results = self._call_loop(
                inputs,
                memory,
                memory_mask,
                initial_state,
                mask,
                training,
                return_sampling,
            )
        if not return_sampling:
            return results[:3]
        outputs, weights, final_state, statistics = results
        log_prob, entropy = statistics
        if mask is not None:
            # The loop repeats its last statistics on padded steps.
            present = ops.cast(mask, "bool")
            log_prob = ops.where(present, log_prob, ops.zeros_like(log_prob))
            entropy = ops.where(present, entropy, ops.zeros_like(entropy))
        sampling = {"log_prob": log_prob, "entropy": entropy}
        return outputs, weights, final_state, sampling

    def _call_parallel(
        self,
        inputs,
        memory,
        memory_mask,
        initial_state,
        mask,
        training,
        return_sampling,
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
        for part in self._context_parts:
            # Soft attention only: no part samples here.
            context, _ = part(hidden, context, weights, memory, None)
        outputs = self._decoder_step.output(hidden, context)
        if isinstance(self.cell, keras.layers.StackedRNNCells):
            final_state = _regroup_stacked_state(self.cell, final_state)
        if not return_sampling:
            return outputs, weights, final_state, None
        # Soft attention samples nothing; heads (if any) lead the steps.
        entropy = _entropy(weights)
        if len(entropy.shape) == 3:
            entropy = ops.sum(entropy, axis=1)
        statistics = (ops.zeros_like(entropy), entropy)
        return outputs, weights, final_state, statistics

    def _call_loop(
        self,
        inputs,
        memory,
        memory_mask,
        initial_state,
        mask,
        training,
        return_sampling,
    ):
        batch_size = ops.shape(inputs)[0]
        projected_memory = self.precompute_memory(memory, memory_mask)
        state = self.get_initial_state(
            batch_size, initial_state, memory=projected_memory
        )
        output_size = self.output_size
        weights_shape = self._weights_shape((batch_size,), memory)
        weights_size = 1
        for size in weights_shape[1:]:
            weights_size = weights_size * size
        samples = self._samples(training)
        # The statistics are float32; float16 and bfloat16 outputs and
        # weights travel through float32 exactly.
        statistics_size = 2 if return_sampling else 0
        packed_dtype = "float32" if return_sampling else self.compute_dtype
        # The loop carries one output tensor per step, so the weights (and
        # statistics) travel flattened beside the output. Keras's loop reads
        # the first state as the previous output (repeated on padded steps),
        # so it leads.
        previous = ops.zeros(
            (batch_size, output_size + weights_size + statistics_size),
            packed_dtype,
        )
        # The step index comes with the inputs instead: Keras's loop would
        # stop it on padded steps (the parallel path counts them) and masks
        # only states of rank 2 or more.
        loop_state = {"cell": state["cell"], "feed": state["feed"]}
        for extension in self._state_extensions:
            # Rank 2, so Keras's loop keeps it on padded steps.
            loop_state[extension.key] = state[extension.key]
        one_step = self._loop_step(
            loop_state,
            projected_memory,
            training,
            samples,
            return_sampling,
            packed_dtype,
        )
        # Keras's own RNN loop: differentiable on every backend and keeps the
        # state of padded steps, as Keras RNN layers do.
        packed, final_states = rnn_loop(
            one_step,
            self._loop_inputs(inputs, samples),
            [previous] + tree.flatten(loop_state),
            mask=mask,
        )
        # The loop's packed tensor has no static feature size in a
        # TensorFlow graph; the outputs get theirs back, so that layers
        # after this one can build on them.
        outputs = ops.reshape(
            ops.cast(packed[..., :output_size], self.compute_dtype),
            tuple(ops.shape(packed)[:2]) + (output_size,),
        )
        weights = ops.reshape(
            ops.cast(
                packed[..., output_size : output_size + weights_size],
                self.compute_dtype,
            ),
            self._weights_shape(ops.shape(packed)[:2], memory),
        )
        # The loop stacks the steps second; heads, if any, come first.
        weights = ops.moveaxis(weights, 1, -2)
        final_state = tree.pack_sequence_as(loop_state, list(final_states[1:]))
        statistics = None
        if return_sampling:
            statistics = (
                packed[..., output_size + weights_size],
                packed[..., output_size + weights_size + 1],
            )
        return outputs, weights, final_state["cell"], statistics

    def _loop_step(
        self,
        loop_state,
        memory,
        training,
        samples,
        return_sampling,
        packed_dtype,
    ):
        """The step function of `_call_loop`'s loop.

        It reads the step input, the uniforms of hard sampling (if
        `samples`) and the step index from the features of `_loop_inputs`,
        and returns the output, the flattened weights and (with
        `return_sampling`) the statistics packed in one `packed_dtype`
        tensor, which is also the first state.
        """

        def one_step(step_inputs, states):
            step_input = step_inputs[:, :-1]
            uniforms = None
            if samples:
                step_input, uniforms = step_input[:, :-2], step_input[:, -2:]
            step_input = ops.cast(step_input, self.compute_dtype)
            step_state = tree.pack_sequence_as(loop_state, list(states[1:]))
            step_state["step"] = ops.cast(step_inputs[:, -1], "int32")
            output, new_state, weights, statistics = self._step(
                step_input,
                step_state,
                memory,
                training,
                uniforms,
                statistics=return_sampling,
            )
            new_state.pop("step")
            flat_weights = _flatten_after_batch(weights)
            pieces = [output, flat_weights]
            if return_sampling:
                pieces += [ops.stack(statistics, axis=-1)]
            packed = ops.concatenate(
                [ops.cast(piece, packed_dtype) for piece in pieces], axis=-1
            )
            return packed, [packed] + tree.flatten(new_state)

        return one_step

    def _loop_inputs(self, inputs, samples):
        """float32 `[batch, T_dec, features]`: the inputs of `_call_loop`.

        The decoder inputs, then (if `samples`) the two uniforms of each
        step, then the step index.
        """
        batch_size, num_steps = ops.shape(inputs)[0], ops.shape(inputs)[1]
        step_indices = ops.broadcast_to(
            ops.reshape(ops.arange(num_steps, dtype="float32"), (1, -1, 1)),
            (batch_size, num_steps, 1),
        )
        features = [ops.cast(inputs, "float32")]
        if samples:
            # Drawn before the loop and carried with the inputs, so the loop
            # itself is deterministic (XLA, `lax.scan`, torch).
            features.append(
                keras.random.uniform(
                    (batch_size, num_steps, 2), seed=self._seed_generator
                )
            )
        # The index rides as a last float32 feature (exact below 2**24): a
        # nested input breaks TensorFlow's loop when the length is unknown,
        # and float16 or bfloat16 could not hold it.
        return ops.concatenate(features + [step_indices], -1)

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
        return_sampling=False,
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
        if not return_sampling:
            return outputs, weights, state
        sampling = {
            name: keras.KerasTensor((batch, steps), dtype="float32")
            for name in ("log_prob", "entropy")
        }
        return outputs, weights, state, sampling

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
                "context_gate": self.context_gate,
                "attention_sampling": self.attention_sampling,
                "expected_context_rate": self.expected_context_rate,
                "seed": self.seed,
                "output_projection": self.output_projection,
                "coverage": self.coverage,
            }
        )
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["cell"] = keras.layers.deserialize(config["cell"])
        config["attention"] = keras.layers.deserialize(config["attention"])
        return cls(**config)


def _flatten_after_batch(tensor):
    """`tensor` as `[batch, features]`, also for an empty batch.

    A `-1` in the new shape cannot be resolved for zero elements (JAX and
    torch raise), so the static feature size is used where it is known.
    """
    if len(tensor.shape) == 2:
        return tensor
    size = 1
    for dim in tensor.shape[1:]:
        if dim is None:
            size = -1
            break
        size *= dim
    return ops.reshape(tensor, (ops.shape(tensor)[0], size))


def _entropy(weights):
    """Entropy in nats of each distribution along the last axis, float32.

    Rows are normalized first (local-p weights need not sum to one); rows
    without weight (masked steps or sources) have zero entropy.
    """
    probabilities = ops.cast(weights, "float32")
    total = ops.sum(probabilities, axis=-1, keepdims=True)
    probabilities = probabilities / ops.where(
        total > 0, total, ops.ones_like(total)
    )
    present = probabilities > 0
    # log(1) = 0 at zero weights keeps 0 * log 0 (and its gradient) at 0.
    log_probabilities = ops.log(
        ops.where(present, probabilities, ops.ones_like(probabilities))
    )
    return -ops.sum(probabilities * log_probabilities, axis=-1)


def _check_call_shapes(inputs_shape, memory_shape):
    """Checks the ranks and static step counts of `inputs` and `memory`.

    Keras RNN layers cannot run zero steps (their loop reads the first
    step), and attention needs a source position to attend to, so zero
    decoder or encoder steps raise here, naming the argument; dynamic
    (`None`) lengths are trusted. An empty batch is fine.
    """
    _check_steps(
        "inputs",
        tuple(inputs_shape),
        "[batch, T_dec, dim]",
        "one decoder step (T_dec >= 1): an RNN runs its cell at least once, "
        "as keras.layers.RNN does.",
    )
    _check_memory_shape(tuple(memory_shape))


def _check_memory_shape(memory_shape):
    _check_steps(
        "memory",
        memory_shape,
        "[batch, T_enc, dim]",
        "one encoder step (T_enc >= 1): there is nothing to attend to.",
    )


def _check_steps(name, shape, layout, at_least):
    """Raises unless `shape` has rank 3 and its static steps are not 0."""
    if len(shape) != 3:
        raise ValueError(
            f"`{name}` must have rank 3 ({layout}). "
            f"Received: {name}.shape={shape}"
        )
    if shape[1] == 0:
        raise ValueError(
            f"`{name}` must hold at least {at_least} "
            f"Received: {name}.shape={shape}"
        )


def _check_style_arguments(style, input_feeding, parallel):
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


def _checked_cell(cell):
    """The cell, a `StackedRNNCells` for a list of cells; checked."""
    if isinstance(cell, (list, tuple)):
        cell = keras.layers.StackedRNNCells(cell)
    if not hasattr(cell, "state_size") or not callable(cell):
        raise ValueError(
            "`cell` must be a Keras RNN cell (with `state_size`), such as "
            f"keras.layers.GRUCell(64). Received: cell={cell}"
        )
    return cell


def _check_attention_layer(attention, attention_sampling, coverage):
    if not hasattr(attention, "precompute_memory"):
        raise ValueError(
            "`attention` must be an attention layer of keras_attention "
            "(with `precompute_memory`). Received: "
            f"attention={attention}"
        )
    if attention_sampling == "hard":
        _check_hard_attention_layer(attention)
    if coverage and getattr(attention, "coverage", False) is not True:
        raise ValueError(
            "`coverage=True` needs an attention layer that takes the "
            "coverage in its score, such as BahdanauAttention(units, "
            "coverage=True). Received: coverage=True with "
            f"attention={attention.__class__.__name__} (coverage="
            f"{getattr(attention, 'coverage', None)})"
        )


def _check_sampling_arguments(
    context_gate, attention_sampling, expected_context_rate, seed, parallel
):
    if not isinstance(context_gate, bool):
        raise ValueError(
            "`context_gate` must be True or False. "
            f"Received: context_gate={context_gate!r}"
        )
    if attention_sampling not in SAMPLINGS:
        raise ValueError(
            f"`attention_sampling` must be one of {SAMPLINGS}. "
            f"Received: attention_sampling={attention_sampling!r}"
        )
    if (
        isinstance(expected_context_rate, bool)
        or not isinstance(expected_context_rate, (int, float))
        or not 0.0 <= expected_context_rate <= 1.0
    ):
        raise ValueError(
            "`expected_context_rate` must be a float in [0, 1]. "
            f"Received: expected_context_rate={expected_context_rate!r}"
        )
    if seed is not None and (
        not isinstance(seed, int) or isinstance(seed, bool)
    ):
        raise ValueError(
            f"`seed` must be an integer or None. Received: seed={seed!r}"
        )
    if parallel and attention_sampling == "hard":
        raise ValueError(
            "`parallel=True` cannot run attention_sampling='hard': a sampled "
            "context changes every step, so hard attention runs step by "
            f"step. Received: parallel={parallel}, "
            f"attention_sampling={attention_sampling!r}"
        )


def _check_see_arguments(
    style, output_projection, attentional_units, coverage, parallel
):
    if not isinstance(output_projection, bool):
        raise ValueError(
            "`output_projection` must be True or False. "
            f"Received: output_projection={output_projection!r}"
        )
    if not output_projection and style != "luong":
        raise ValueError(
            "`output_projection=False` applies to style='luong' only (the "
            "Bahdanau-style output is already `[s_t; c_t]`). Received: "
            f"style={style}, output_projection={output_projection}"
        )
    if not output_projection and attentional_units is not None:
        raise ValueError(
            "`attentional_units` is the size of the output projection, so "
            "it needs output_projection=True. Received: "
            f"attentional_units={attentional_units}, "
            f"output_projection={output_projection}"
        )
    if not isinstance(coverage, bool):
        raise ValueError(
            f"`coverage` must be True or False. Received: coverage={coverage!r}"
        )
    if coverage and parallel:
        raise ValueError(
            "`parallel=True` cannot run coverage=True: the coverage of each "
            "step sums the attention of the steps before it, so coverage "
            f"runs step by step. Received: parallel={parallel}, "
            f"coverage={coverage}"
        )


def _check_hard_attention_layer(attention):
    for hook in ("_combine_values", "_project_output", "_head_axes"):
        if not hasattr(attention, hook):
            raise ValueError(
                "attention_sampling='hard' needs an attention layer of "
                f"keras_attention (with `{hook}`). Received: "
                f"attention={attention}"
            )
    _check_single_head(attention, attention._head_axes())


def _check_single_head(attention, head_axes):
    if tuple(head_axes):
        raise ValueError(
            "attention_sampling='hard' samples one location per step, so it "
            "needs attention weights with one head, `[batch, T_enc]` per "
            f"step. Received: {attention.__class__.__name__} with head axes "
            f"{tuple(head_axes)}"
        )


def _regroup_stacked_state(stacked_cell, flat_state):
    """Nests the flat state of a `StackedRNNCells` RNN back per cell."""
    grouped, position = [], 0
    for cell in stacked_cell.cells:
        size = len(tree.flatten(cell.state_size))
        grouped.append(flat_state[position : position + size])
        position += size
    return grouped
