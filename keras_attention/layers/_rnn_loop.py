"""Keras's own RNN loop for any step function, through public Keras API.

`AttentionRNN` runs its step loop with `keras.layers.RNN`: the loop Keras's
recurrent layers run on every backend (`tf.while_loop`, `lax.scan` inside a
stateless scope, a Python loop on torch). It is differentiable, runs under
XLA and `jit`, and keeps the state (and repeats the previous output) on
masked steps, as Keras RNN layers do.
"""

import keras
from keras import ops


class _StepCell(keras.layers.Layer):
    """An RNN cell that runs a given step function.

    It owns no weights: the layers the step function calls belong to the
    caller, which tracks and saves them.
    """

    def __init__(self, step_function, state_size, **kwargs):
        super().__init__(**kwargs)
        self._step_function = step_function
        self.state_size = state_size

    def call(self, inputs, states):
        return self._step_function(inputs, states)


def rnn_loop(step_function, inputs, initial_states, mask=None):
    """Runs `step_function` over the steps (axis 1) of `inputs`.

    Args:
        step_function: `(step_inputs, states) -> (output, new_states)`, the
            states a list of tensors of rank 2 with the dtypes of
            `initial_states`. The first state must be the previous output:
            Keras's loop repeats it on masked steps.
        inputs: float32 `[batch, T, features]`.
        initial_states: A list of tensors `[batch, size]`.
        mask: Optional boolean `[batch, T]`; masked steps keep the states and
            repeat the previous output.

    Returns:
        `(outputs, final_states)`: outputs `[batch, T, output_size]` in the
        dtype of the first state and the list of final states, each in its
        initial dtype.
    """
    dtypes = [keras.backend.standardize_dtype(s.dtype) for s in initial_states]

    # Keras's RNN layer carries every state in its cell's dtype; float32
    # holds float16 and bfloat16 states exactly (coverage is float32).
    def float32_step(step_inputs, states):
        states = [
            ops.cast(s, dtype) for s, dtype in zip(states, dtypes, strict=True)
        ]
        output, new_states = step_function(step_inputs, states)
        return ops.cast(output, "float32"), [
            ops.cast(s, "float32") for s in new_states
        ]

    cell = _StepCell(
        float32_step,
        [state.shape[-1] for state in initial_states],
        dtype="float32",
    )
    loop = keras.layers.RNN(
        cell, return_sequences=True, return_state=True, dtype="float32"
    )
    outputs, *final_states = loop(
        inputs, initial_state=list(initial_states), mask=mask
    )
    final_states = [
        ops.cast(s, dtype)
        for s, dtype in zip(final_states, dtypes, strict=True)
    ]
    return ops.cast(outputs, dtypes[0]), final_states
