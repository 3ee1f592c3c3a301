"""The two step styles of `AttentionRNN`: where the attention meets the cell.

A step object runs one decoder step of one style: it calls the cell and
`attend(query)`, which returns the context (after `AttentionRNN`'s context
pipeline), the weights and the log probability of a sampled location, and
returns the output and the new `"cell"` and `"feed"` states. The steps are
plain objects: the cell and projections they call belong to the
`AttentionRNN` that made them, which tracks and saves them.
"""

from keras import ops
from keras import tree


class BahdanauStep:
    """Bahdanau et al. (2014, section 3.1): attend, then run the cell.

    The previous hidden state `s_{t-1}` (the state's `"feed"`) queries the
    memory, the context `c_t` is concatenated to the input `y_t` and fed
    into the cell, and the output is `[s_t; c_t]`.

    Args:
        decoder: The `AttentionRNN` whose cell this step runs.
    """

    # Every step depends on the previous step's hidden state and context.
    supports_parallel = False
    # The cell gets `[y_t; c_t]`, a new tensor.
    passes_inputs_to_cell = False

    def __init__(self, decoder):
        self._decoder = decoder

    def cell_input_size(self, input_size, context_size):
        """Size of the last axis of the cell's input."""
        return input_size + context_size

    def output_size(self, memory_shape):
        """Size of the last axis of the output, for a memory shape."""
        return self._decoder._cell_units + self._decoder._context_size(
            memory_shape
        )

    def initial_feed(self, cell_state, batch_size, dtype):
        """The hidden state of the top cell, the first query."""
        return _top_hidden(cell_state)

    def __call__(self, inputs, state, attend, training):
        """`(output, new_state, weights, log_prob)` of one step."""
        context, weights, log_prob = attend(state["feed"])
        cell_input = ops.concatenate([inputs, context], axis=-1)
        hidden, cell_state = self._decoder.cell(
            cell_input, state["cell"], training=training
        )
        output = ops.concatenate([hidden, context], axis=-1)
        return output, {"cell": cell_state, "feed": hidden}, weights, log_prob


class LuongStep:
    """Luong et al. (2015, section 3.1): run the cell, then attend.

    The new hidden state `h_t` queries the memory; `output` turns `h_t`
    and the context into the step's output and into what input feeding
    (section 3.3) concatenates to the input of the next step.

    Args:
        decoder: The `AttentionRNN` whose cell this step runs.
        output: `AttentionalVector` (Luong et al.) or `StateAndContext`
            (See et al.).
        input_feeding: Whether the cell also gets the output's feedback of
            the previous step.
    """

    def __init__(self, decoder, output, input_feeding):
        self._decoder = decoder
        self.output = output
        self.input_feeding = input_feeding
        # Without input feeding no step depends on an earlier context, so
        # the cell can run over the whole sequence first; the cell then
        # gets the step input itself.
        self.supports_parallel = not input_feeding
        self.passes_inputs_to_cell = not input_feeding

    def cell_input_size(self, input_size, context_size):
        """Size of the last axis of the cell's input."""
        if not self.input_feeding:
            return input_size
        return input_size + self.output.feed_size()

    def output_size(self, memory_shape):
        """Size of the last axis of the output, for a memory shape."""
        return self.output.size(memory_shape)

    def initial_feed(self, cell_state, batch_size, dtype):
        """Zeros: no feedback before the first step (`[batch, 0]` without
        input feeding)."""
        size = self.output.feed_size() if self.input_feeding else 0
        return ops.zeros((batch_size, size), dtype=dtype)

    def __call__(self, inputs, state, attend, training):
        """`(output, new_state, weights, log_prob)` of one step."""
        cell_input = inputs
        if self.input_feeding:
            cell_input = ops.concatenate([inputs, state["feed"]], axis=-1)
        hidden, cell_state = self._decoder.cell(
            cell_input, state["cell"], training=training
        )
        context, weights, log_prob = attend(hidden)
        output = self.output(hidden, context)
        feed = state["feed"]
        if self.input_feeding:
            feed = self.output.feedback(output, context)
        return output, {"cell": cell_state, "feed": feed}, weights, log_prob


class AttentionalVector:
    """Luong et al.'s output `h~_t = tanh(W_c [c_t; h_t])` (equation 5).

    `W_c` is the decoder's `"attentional_projection"` layer; input feeding
    feeds `h~_t` back.

    Args:
        decoder: The `AttentionRNN` that owns the projection.
    """

    def __init__(self, decoder):
        self._decoder = decoder

    def size(self, memory_shape=None):
        """Size of `h~_t`: `attentional_units`, or the cell's size."""
        return self._decoder.attentional_units or self._decoder._cell_units

    def feed_size(self):
        """Size of the feedback, `h~_t` itself."""
        return self.size()

    def __call__(self, hidden, context):
        """`h~`, for one step or (on the parallel path) for all of them."""
        return self._decoder._attentional_dense(
            ops.concatenate([context, hidden], axis=-1)
        )

    def feedback(self, output, context):
        return output


class StateAndContext:
    """See et al.'s output `[s_t; h*_t]` (2017, section 2.1), unprojected.

    Input feeding feeds the context `h*_t` back; equation 4's two linear
    layers come after the decoder, in the model.

    Args:
        decoder: The `AttentionRNN` whose cell and attention set the sizes.
    """

    def __init__(self, decoder):
        self._decoder = decoder

    def size(self, memory_shape):
        """Size of `[s_t; h*_t]`."""
        return self._decoder._cell_units + self._decoder._context_size(
            memory_shape
        )

    def feed_size(self):
        """Size of the feedback, the context."""
        return self._decoder._context_size(self._decoder._known_memory_shape())

    def __call__(self, hidden, context):
        """`[s; h*]`, for one step or for all of them."""
        return ops.concatenate([hidden, context], axis=-1)

    def feedback(self, output, context):
        return context


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
