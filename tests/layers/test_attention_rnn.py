import warnings

import keras
import numpy as np
import pytest

from keras_attention.layers import AttentionRNN
from keras_attention.layers import BahdanauAttention
from keras_attention.layers import LuongAttention
from keras_attention.layers import MultiHeadAttention
from tests.conftest import gradient
from tests.conftest import to_numpy
from tests.layers import numpy_reference
from tests.layers.helpers import named_weights
from tests.layers.helpers import relative_error

DECODERS = {
    "luong_gru_parallel": lambda: AttentionRNN(
        keras.layers.GRUCell(6), LuongAttention("general")
    ),
    "luong_lstm_parallel_local_p": lambda: AttentionRNN(
        keras.layers.LSTMCell(6),
        LuongAttention("dot", alignment="local-p", window=2),
    ),
    "luong_lstm_input_feeding": lambda: AttentionRNN(
        keras.layers.LSTMCell(6),
        LuongAttention("general"),
        input_feeding=True,
        attentional_units=5,
    ),
    "luong_stacked_input_feeding": lambda: AttentionRNN(
        [keras.layers.GRUCell(6), keras.layers.LSTMCell(6)],
        LuongAttention("concat", units=4),
        input_feeding=True,
    ),
    "bahdanau_gru": lambda: AttentionRNN(
        keras.layers.GRUCell(6), BahdanauAttention(5), style="bahdanau"
    ),
    "luong_multi_head": lambda: AttentionRNN(
        keras.layers.GRUCell(8), MultiHeadAttention(2, 4)
    ),
    # The context (5) is neither the memory's size (6) nor the query's.
    "bahdanau_multi_head": lambda: AttentionRNN(
        keras.layers.GRUCell(6),
        MultiHeadAttention(2, 3, output_shape=5),
        style="bahdanau",
    ),
    "luong_gru_parallel_local_m": lambda: AttentionRNN(
        keras.layers.GRUCell(6),
        LuongAttention("general", alignment="local-m", window=1),
    ),
    "luong_gru_loop_local_m": lambda: AttentionRNN(
        keras.layers.GRUCell(6),
        LuongAttention("general", alignment="local-m", window=1),
        parallel=False,
    ),
    "luong_lstm_input_feeding_local_m": lambda: AttentionRNN(
        keras.layers.LSTMCell(6),
        LuongAttention("dot", alignment="local-m", window=1),
        input_feeding=True,
    ),
}


def make_inputs(seed=0):
    rng = np.random.default_rng(seed)
    inputs = rng.normal(size=(3, 5, 4)).astype("float32")
    memory = rng.normal(size=(3, 7, 6)).astype("float32")
    memory_mask = np.ones((3, 7), bool)
    memory_mask[1, 4:] = False
    return inputs, memory, memory_mask


@pytest.fixture(params=sorted(DECODERS))
def make_decoder(request):
    return DECODERS[request.param]


def test_steps_reproduce_teacher_forcing(make_decoder):
    inputs, memory, memory_mask = make_inputs()
    decoder = make_decoder()
    outputs, weights, final_state = decoder(
        inputs, memory, memory_mask=memory_mask
    )
    projected = decoder.precompute_memory(memory, memory_mask)
    state = decoder.get_initial_state(3)
    step_outputs, step_weights = [], []
    for t in range(inputs.shape[1]):
        output, state, step_weight = decoder.step(
            inputs[:, t], state, projected
        )
        step_outputs.append(to_numpy(output))
        step_weights.append(to_numpy(step_weight))
    assert relative_error(np.stack(step_outputs, 1), to_numpy(outputs)) < 1e-5
    # One step's weights are `[batch, (heads,) T_enc]`; the sequence's have
    # the steps just before `T_enc`, heads first.
    assert relative_error(np.stack(step_weights, -2), to_numpy(weights)) < 1e-5
    for expected, actual in zip(
        keras.tree.flatten(state["cell"]),
        keras.tree.flatten(final_state),
        strict=True,
    ):
        assert relative_error(to_numpy(actual), to_numpy(expected)) < 1e-5
    masked = to_numpy(weights)[1, ..., 4:]
    assert np.all(masked == 0.0)


def test_bahdanau_style_matches_hand_written_loop():
    inputs, memory, memory_mask = make_inputs(seed=1)
    decoder = DECODERS["bahdanau_gru"]()
    outputs, weights, _ = decoder(inputs, memory, memory_mask=memory_mask)
    # Oracle: the paper's recurrence, s_t = GRU([y_t; c_t], s_{t-1}) with
    # c_t from s_{t-1}, using a separate Keras GRUCell with copied weights
    # and the NumPy Bahdanau score.
    cell = keras.layers.GRUCell(6)
    cell.build((None, 4 + 6))
    cell.set_weights(decoder.cell.get_weights())
    w = named_weights(decoder.attention)
    hidden = np.zeros((3, 6), "float32")
    expected_outputs, expected_weights = [], []
    for t in range(inputs.shape[1]):
        context, attention = numpy_reference.bahdanau(
            hidden[:, None].astype("float64"),
            memory.astype("float64"),
            memory.astype("float64"),
            memory_mask,
            w["query_projection/kernel"],
            w["key_projection/kernel"],
            w["score_vector"],
            w["score_bias"],
        )
        context = context[:, 0].astype("float32")
        cell_input = np.concatenate([inputs[:, t], context], -1)
        hidden = to_numpy(cell(cell_input, [hidden])[0])
        expected_outputs.append(np.concatenate([hidden, context], -1))
        expected_weights.append(attention[:, 0])
    assert (
        relative_error(to_numpy(outputs), np.stack(expected_outputs, 1)) < 1e-5
    )
    assert (
        relative_error(to_numpy(weights), np.stack(expected_weights, 1)) < 1e-5
    )


@pytest.mark.parametrize(
    "decoder_name, seed, alignment_arguments",
    [
        ("luong_gru_parallel", 2, {}),
        (
            "luong_gru_parallel_local_m",
            8,
            {"alignment": "local-m", "window": 1},
        ),
    ],
)
def test_luong_parallel_path_matches_numpy_oracle(
    decoder_name, seed, alignment_arguments
):
    inputs, memory, memory_mask = make_inputs(seed=seed)
    decoder = DECODERS[decoder_name]()
    assert decoder.uses_parallel_path
    outputs, weights, _ = decoder(inputs, memory, memory_mask=memory_mask)
    gru = keras.layers.GRU(6, return_sequences=True)
    gru.build(inputs.shape)
    gru.set_weights(decoder.cell.get_weights())
    hidden = to_numpy(gru(inputs)).astype("float64")
    context, expected_weights = numpy_reference.luong(
        "general",
        hidden,
        memory.astype("float64"),
        memory.astype("float64"),
        memory_mask,
        W=named_weights(decoder.attention)["query_projection/kernel"],
        **alignment_arguments,
    )
    W_c = named_weights(decoder)["attentional_projection/kernel"]
    expected = np.tanh(np.concatenate([context, hidden], -1) @ W_c)
    assert relative_error(to_numpy(weights), expected_weights) < 1e-5
    assert relative_error(to_numpy(outputs), expected) < 1e-5


def test_local_m_steps_match_numpy_oracle():
    # Input feeding makes every step depend on the previous one, so `call`
    # runs the step loop: both it and `step()` must center the local-m window
    # of target step t (1-based) on source position t.
    inputs, memory, memory_mask = make_inputs(seed=7)
    decoder = AttentionRNN(
        keras.layers.GRUCell(6),
        LuongAttention("general", alignment="local-m", window=1),
        input_feeding=True,
    )
    outputs, weights, _ = decoder(inputs, memory, memory_mask=memory_mask)
    projected = decoder.precompute_memory(memory, memory_mask)
    state = decoder.get_initial_state(3)
    step_outputs, step_weights = [], []
    for t in range(inputs.shape[1]):
        output, state, step_weight = decoder.step(
            inputs[:, t], state, projected
        )
        step_outputs.append(to_numpy(output))
        step_weights.append(to_numpy(step_weight))
    # Oracle: Luong et al. section 3.2 (local-m) and 3.3 (input feeding),
    # with a separate GRUCell holding copied weights and NumPy attention.
    cell = keras.layers.GRUCell(6)
    cell.build((None, 4 + 6))
    cell.set_weights(decoder.cell.get_weights())
    w = named_weights(decoder.attention)
    W_c = named_weights(decoder)["attentional_projection/kernel"]
    hidden = np.zeros((3, 6), "float32")
    attentional = np.zeros((3, 6), "float32")
    expected_outputs, expected_weights = [], []
    for t in range(inputs.shape[1]):
        cell_input = np.concatenate([inputs[:, t], attentional], -1)
        hidden = to_numpy(cell(cell_input, [hidden])[0])
        context, attention = numpy_reference.luong(
            "general",
            hidden[:, None].astype("float64"),
            memory.astype("float64"),
            memory.astype("float64"),
            memory_mask,
            alignment="local-m",
            window=1,
            query_start_index=t,
            W=w["query_projection/kernel"],
        )
        attentional = np.tanh(
            np.concatenate([context[:, 0], hidden], -1) @ W_c
        ).astype("float32")
        expected_outputs.append(attentional)
        expected_weights.append(attention[:, 0])
    expected_outputs = np.stack(expected_outputs, 1)
    expected_weights = np.stack(expected_weights, 1)
    for actual_outputs, actual_weights in (
        (to_numpy(outputs), to_numpy(weights)),
        (np.stack(step_outputs, 1), np.stack(step_weights, 1)),
    ):
        assert relative_error(actual_outputs, expected_outputs) < 1e-5
        assert relative_error(actual_weights, expected_weights) < 1e-5
    # Window of one around p_t = t + 1: step 4 (0-based) sees 4, 5, 6 only.
    assert np.all(np.stack(step_weights, 1)[:, 4, :3] == 0.0)


@pytest.mark.parametrize(
    "attention",
    [
        lambda: LuongAttention("general"),
        lambda: LuongAttention("dot", alignment="local-m", window=1),
        lambda: LuongAttention("dot", alignment="local-p", window=2),
        lambda: MultiHeadAttention(2, 3),
    ],
)
def test_loop_and_parallel_paths_agree(attention):
    inputs, memory, memory_mask = make_inputs(seed=9)
    # Right padding, and left padding, where local-m still counts the
    # padded steps (target step t is the t-th input step).
    mask = np.ones((3, 5), bool)
    mask[0, 3:] = False
    mask[2, :2] = False
    parallel = AttentionRNN(keras.layers.LSTMCell(6), attention())
    loop = AttentionRNN(keras.layers.LSTMCell(6), attention(), parallel=False)
    assert parallel.uses_parallel_path and not loop.uses_parallel_path
    parallel_results = parallel(inputs, memory, memory_mask, mask=mask)
    loop(inputs, memory, memory_mask, mask=mask)
    loop.set_weights(parallel.get_weights())
    loop_results = loop(inputs, memory, memory_mask, mask=mask)
    for name, actual, expected in zip(
        ("outputs", "weights"),
        loop_results[:2],
        parallel_results[:2],
        strict=True,
    ):
        # Padded steps differ by design (the loop repeats the last output,
        # the parallel path attends from a zeroed query); real steps agree.
        # Multi-head weights are `[batch, heads, T_dec, T_enc]`: steps second.
        if name == "weights":
            actual = np.moveaxis(to_numpy(actual), -2, 1)
            expected = np.moveaxis(to_numpy(expected), -2, 1)
        actual, expected = to_numpy(actual)[mask], to_numpy(expected)[mask]
        assert relative_error(actual, expected) < 1e-5, name
    for actual, expected in zip(
        keras.tree.flatten(loop_results[2]),
        keras.tree.flatten(parallel_results[2]),
        strict=True,
    ):
        assert relative_error(to_numpy(actual), to_numpy(expected)) < 1e-5


def test_masked_loop_runs_compiled():
    # Compiled loops (tf.function, jax.jit) check the shapes of the carried
    # state, which eager loops let change.
    inputs, memory, memory_mask = make_inputs(seed=12)
    mask = np.ones((3, 5), bool)
    mask[0, 3:] = False
    decoder = AttentionRNN(
        keras.layers.LSTMCell(6),
        LuongAttention("dot", alignment="local-m", window=1),
        input_feeding=True,
    )
    symbolic_inputs = [
        keras.Input((5, 4)),
        keras.Input((7, 6)),
        keras.Input((7,), dtype="bool"),
        keras.Input((5,), dtype="bool"),
    ]
    outputs, weights, _ = decoder(
        symbolic_inputs[0],
        symbolic_inputs[1],
        memory_mask=symbolic_inputs[2],
        mask=symbolic_inputs[3],
    )
    model = keras.Model(symbolic_inputs, [outputs, weights])
    compiled = model.predict([inputs, memory, memory_mask, mask], verbose=0)
    eager = decoder(inputs, memory, memory_mask, mask=mask)
    for actual, expected in zip(compiled, eager[:2], strict=True):
        np.testing.assert_allclose(
            actual, to_numpy(expected), rtol=1e-5, atol=1e-6
        )


@pytest.mark.skipif(
    keras.backend.backend() != "tensorflow",
    reason="unknown static lengths arise in TensorFlow graphs only",
)
@pytest.mark.parametrize(
    "name", ["bahdanau_gru", "luong_lstm_input_feeding_local_m"]
)
def test_loop_runs_in_a_graph_of_unknown_lengths(name):
    # `fit` on bucketed batches retraces with unknown time dimensions.
    import tensorflow as tf

    inputs, memory, memory_mask = make_inputs(seed=13)
    mask = np.ones((3, 5), bool)
    mask[2, 2:] = False
    decoder = DECODERS[name]()
    eager = decoder(inputs, memory, memory_mask, mask=mask)

    @tf.function(
        input_signature=[
            tf.TensorSpec([None, None, 4]),
            tf.TensorSpec([None, None, 6]),
            tf.TensorSpec([None, None], tf.bool),
            tf.TensorSpec([None, None], tf.bool),
        ]
    )
    def run(inputs, memory, memory_mask, mask):
        return decoder(inputs, memory, memory_mask, mask=mask)[:2]

    graph = run(inputs, memory, memory_mask, mask)
    for actual, expected in zip(graph, eager[:2], strict=True):
        np.testing.assert_allclose(
            to_numpy(actual), to_numpy(expected), rtol=1e-5, atol=1e-6
        )


def test_parallel_argument_round_trips_through_the_config():
    decoder = AttentionRNN(
        keras.layers.GRUCell(4), LuongAttention("dot"), parallel=False
    )
    restored = AttentionRNN.from_config(decoder.get_config())
    assert restored.parallel is False
    assert not restored.uses_parallel_path
    assert AttentionRNN.from_config(
        DECODERS["luong_gru_parallel"]().get_config()
    ).uses_parallel_path


def test_step_ignores_the_keras_mask_of_its_inputs():
    _, memory, memory_mask = make_inputs(seed=10)
    embedding = keras.layers.Embedding(10, 4, mask_zero=True)
    token_ids = np.array([3, 0, 5], "int32")
    embedded = embedding(token_ids)
    decoder = DECODERS["luong_gru_parallel"]()
    decoder(np.zeros((3, 1, 4), "float32"), memory, memory_mask)
    projected = decoder.precompute_memory(memory, memory_mask)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        output, _, _ = decoder.step(
            embedded, decoder.get_initial_state(3), projected
        )
    unmasked_input = to_numpy(embedding.embeddings)[token_ids]
    expected, _, _ = decoder.step(
        unmasked_input, decoder.get_initial_state(3), projected
    )
    np.testing.assert_array_equal(to_numpy(output), to_numpy(expected))


def test_symbolic_shapes_match_eager(make_decoder):
    inputs, memory, memory_mask = make_inputs(seed=11)
    decoder = make_decoder()
    eager = decoder(inputs, memory, memory_mask=memory_mask)
    symbolic = decoder.compute_output_spec(
        keras.KerasTensor(inputs.shape), keras.KerasTensor(memory.shape)
    )
    for actual, expected in zip(
        keras.tree.flatten(symbolic), keras.tree.flatten(eager), strict=True
    ):
        assert tuple(actual.shape) == tuple(expected.shape)


def test_padded_decoder_steps_keep_the_state():
    inputs, memory, memory_mask = make_inputs(seed=3)
    mask = np.ones((3, 5), bool)
    mask[0, 2:] = False
    decoder = DECODERS["luong_lstm_input_feeding"]()
    _, _, padded_state = decoder(inputs, memory, memory_mask, mask=mask)
    _, _, short_state = decoder(inputs[:1, :2], memory[:1], memory_mask[:1])
    for padded, short in zip(
        keras.tree.flatten(padded_state),
        keras.tree.flatten(short_state),
        strict=True,
    ):
        np.testing.assert_allclose(
            to_numpy(padded)[:1], to_numpy(short), rtol=1e-5, atol=1e-6
        )


def test_gradients_reach_the_memory(make_decoder):
    inputs, memory, memory_mask = make_inputs(seed=4)
    decoder = make_decoder()
    decoder(inputs, memory, memory_mask=memory_mask)

    def total(memory_tensor):
        return decoder(inputs, memory_tensor, memory_mask=memory_mask)[0]

    grad = gradient(total, memory)
    assert np.isfinite(grad).all()
    assert np.abs(grad[0]).sum() > 0
    assert np.all(grad[1, 4:] == 0.0)


def seq2seq_model(make_decoder):
    source = keras.Input((None,), dtype="int32")
    target = keras.Input((None,), dtype="int32")
    memory = keras.layers.Embedding(20, 6, mask_zero=True)(source)
    embedded = keras.layers.Embedding(20, 4)(target)
    outputs, weights, _ = make_decoder()(
        embedded, memory, memory_mask=keras.ops.not_equal(source, 0)
    )
    logits = keras.layers.Dense(20)(outputs)
    return keras.Model([source, target], [logits, weights])


def test_save_load_and_jit(make_decoder, tmp_path):
    rng = np.random.default_rng(5)
    source = rng.integers(1, 20, size=(3, 7)).astype("int32")
    source[1, 4:] = 0
    target = rng.integers(1, 20, size=(3, 5)).astype("int32")
    model = seq2seq_model(make_decoder)
    expected = [to_numpy(x) for x in model([source, target])]
    model.save(tmp_path / "decoder.keras")
    restored = keras.saving.load_model(tmp_path / "decoder.keras")
    for actual, wanted in zip(
        restored([source, target]), expected, strict=True
    ):
        np.testing.assert_array_equal(to_numpy(actual), wanted)
    if keras.backend.backend() == "torch":
        return  # jit_compile on torch means torch.compile (dynamo)
    model.compile(jit_compile=True)
    compiled = model.predict([source, target], verbose=0)
    for actual, wanted in zip(compiled, expected, strict=True):
        np.testing.assert_allclose(actual, wanted, rtol=1e-5, atol=1e-5)


def test_mixed_precision_decoder():
    keras.config.set_dtype_policy("mixed_bfloat16")
    inputs, memory, memory_mask = make_inputs(seed=6)
    decoder = DECODERS["luong_lstm_input_feeding"]()
    outputs, weights, _ = decoder(inputs, memory, memory_mask=memory_mask)
    assert outputs.dtype == "bfloat16" or str(outputs.dtype).endswith(
        "bfloat16"
    )
    weights = to_numpy(weights).astype("float32")
    np.testing.assert_allclose(weights.sum(-1), 1.0, atol=1e-2)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"style": "monotonic"}, "`style` must be one of"),
        ({"style": "bahdanau", "input_feeding": True}, "`input_feeding`"),
        ({"cell": "gru"}, "`cell` must be a Keras RNN cell"),
        ({"attention": keras.layers.Dense(3)}, "`attention` must be"),
        ({"parallel": "yes"}, "`parallel` must be None"),
        ({"parallel": True, "input_feeding": True}, "`parallel=True` needs"),
        ({"parallel": True, "style": "bahdanau"}, "`parallel=True` needs"),
    ],
)
def test_bad_arguments(kwargs, message):
    arguments = {
        "cell": keras.layers.GRUCell(4),
        "attention": LuongAttention("dot"),
    }
    arguments.update(kwargs)
    with pytest.raises(ValueError, match=message):
        AttentionRNN(**arguments)
