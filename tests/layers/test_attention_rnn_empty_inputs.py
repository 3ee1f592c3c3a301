"""`AttentionRNN` given zero decoder steps, zero encoder steps or no sequences.

Keras RNN layers cannot run zero steps (`keras.layers.LSTM` on a
`[batch, 0, dim]` input fails inside its loop on every backend), so zero
decoder or encoder steps raise one error naming the argument of this layer
(not the attention layer's `query` or `value`, nor a slice inside the
loop). An empty batch runs, as it does for Keras RNN layers.
"""

import keras
import numpy as np
import pytest

from keras_attention.layers import AttentionRNN
from keras_attention.layers import BahdanauAttention
from keras_attention.layers import LuongAttention
from keras_attention.layers import MultiHeadAttention

DECODERS = {
    "luong_parallel": lambda: AttentionRNN(
        keras.layers.GRUCell(4), LuongAttention("general")
    ),
    "luong_input_feeding": lambda: AttentionRNN(
        keras.layers.GRUCell(4), LuongAttention("general"), input_feeding=True
    ),
    "bahdanau": lambda: AttentionRNN(
        keras.layers.GRUCell(4), BahdanauAttention(4), style="bahdanau"
    ),
    "bahdanau_coverage": lambda: AttentionRNN(
        keras.layers.GRUCell(4),
        BahdanauAttention(4, coverage=True),
        style="bahdanau",
        coverage=True,
    ),
    "bahdanau_multi_head": lambda: AttentionRNN(
        keras.layers.GRUCell(4), MultiHeadAttention(2, 3), style="bahdanau"
    ),
    "bahdanau_hard": lambda: AttentionRNN(
        keras.layers.GRUCell(4),
        BahdanauAttention(4),
        style="bahdanau",
        attention_sampling="hard",
        seed=1,
    ),
}


def zeros(*shape):
    return np.zeros(shape, "float32")


@pytest.mark.parametrize(
    "argument, inputs_shape, memory_shape",
    [("inputs", (2, 0, 3), (2, 5, 4)), ("memory", (2, 3, 3), (2, 0, 4))],
    ids=["decoder_steps", "encoder_steps"],
)
@pytest.mark.parametrize("built", [False, True], ids=["unbuilt", "built"])
@pytest.mark.parametrize("name", sorted(DECODERS))
def test_zero_steps_name_the_argument(
    name, built, argument, inputs_shape, memory_shape
):
    decoder = DECODERS[name]()
    if built:
        decoder(zeros(2, 3, 3), zeros(2, 5, 4))
    with pytest.raises(
        ValueError, match=rf"`{argument}` must hold at least one"
    ):
        decoder(zeros(*inputs_shape), zeros(*memory_shape))


def test_zero_encoder_steps_name_memory_when_decoding_step_by_step():
    decoder = DECODERS["bahdanau"]()
    decoder(zeros(2, 3, 3), zeros(2, 5, 4))
    with pytest.raises(ValueError, match=r"memory.shape=\(2, 0, 4\)"):
        decoder.precompute_memory(zeros(2, 0, 4))


def test_the_error_gives_the_received_shape():
    decoder = DECODERS["luong_parallel"]()
    with pytest.raises(ValueError, match=r"inputs.shape=\(2, 0, 3\)"):
        decoder(zeros(2, 0, 3), zeros(2, 5, 4))


@pytest.mark.parametrize("name", sorted(DECODERS))
def test_an_empty_batch_gives_empty_outputs(name):
    decoder = DECODERS[name]()
    outputs, weights, state, sampling = decoder(
        zeros(0, 3, 3), zeros(0, 5, 4), training=True, return_sampling=True
    )
    heads = (2,) if name.endswith("multi_head") else ()
    assert tuple(outputs.shape) == (0, 3, decoder.output_size)
    assert tuple(weights.shape) == (0,) + heads + (3, 5)
    assert [tuple(s.shape) for s in state] == [(0, 4)]
    assert tuple(sampling["log_prob"].shape) == (0, 3)
    assert tuple(sampling["entropy"].shape) == (0, 3)
