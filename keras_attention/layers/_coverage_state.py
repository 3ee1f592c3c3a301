"""The coverage of See et al. (2017, section 2.3) as a decoder state part.

`AttentionRNN(coverage=True)` adds `CoverageState` to its state: the
coverage `c^t = sum_{t' < t} a^{t'}` of every source position, float32
`[batch, T_enc]` under the key `"coverage"`. Each step passes it to the
attention layer, whose score takes it (equation 11), and adds the step's
weights to it.
"""

from keras import ops


class CoverageState:
    """The `"coverage"` entry of an `AttentionRNN` state.

    A plain object, without weights; the attention layer that reads the
    coverage belongs to the decoder.
    """

    key = "coverage"
    # Each step's coverage sums the attention of the steps before it.
    supports_parallel = False

    def initial_state(self, batch_size, memory):
        """`{"coverage": zeros [batch, T_enc]}` for a precomputed memory.

        Args:
            batch_size: Number of sequences.
            memory: The dict from `AttentionRNN.precompute_memory()`, for
                the source length `T_enc`.
        """
        if not isinstance(memory, dict):
            raise ValueError(
                "With coverage=True, `get_initial_state` needs `memory`, the "
                "dict returned by `precompute_memory()`, for the source "
                f"length of the coverage. Received: memory={memory!r}"
            )
        source_length = ops.shape(memory["value_mask"])[1]
        return {self.key: ops.zeros((batch_size, source_length), "float32")}

    def attention_arguments(self, state):
        """The keyword arguments the attention layer takes from `state`."""
        if self.key not in state:
            raise ValueError(
                "With coverage=True, `state` must hold `coverage`: get "
                "the first state from `get_initial_state(batch_size, "
                "memory=...)`. Received: a state with keys "
                f"{sorted(state)}"
            )
        return {"coverage": state[self.key]}

    def next_state(self, state, weights):
        """`{"coverage": c^t + a^t}`: the coverage after a step."""
        return {self.key: state[self.key] + ops.cast(weights, "float32")}
