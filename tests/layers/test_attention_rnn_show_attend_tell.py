"""`AttentionRNN`'s Show, Attend and Tell options (Xu et al. 2015).

The gating scalar beta (section 4.2.1), stochastic hard attention (section
4.1) and the sampling statistics, checked against NumPy written from the
paper's equations.
"""

import keras
import numpy as np
import pytest

from keras_attention.layers import AttentionRNN
from keras_attention.layers import BahdanauAttention
from keras_attention.layers import LuongAttention
from keras_attention.layers import MultiHeadAttention
from tests.conftest import to_numpy
from tests.layers import numpy_reference
from tests.layers.helpers import named_weights
from tests.layers.helpers import randomize_weights
from tests.layers.helpers import relative_error

NEW_OPTIONS = (
    "context_gate",
    "attention_sampling",
    "expected_context_rate",
    "seed",
)


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def gru_step(x, h, kernel, recurrent_kernel, bias):
    """Keras's GRU cell (reset_after=True), gates in the order z, r, h."""
    x_z, x_r, x_h = np.split(x @ kernel + bias[0], 3, axis=-1)
    h_z, h_r, h_h = np.split(h @ recurrent_kernel + bias[1], 3, axis=-1)
    update = sigmoid(x_z + h_z)
    reset = sigmoid(x_r + h_r)
    candidate = np.tanh(x_h + reset * h_h)
    return update * h + (1.0 - update) * candidate


def entropy(weights):
    weights = np.asarray(weights, "float64")
    logs = np.log(np.where(weights > 0, weights, 1.0))
    return -(weights * logs).sum(-1)


def make_inputs(seed=0, batch=3, steps=5):
    rng = np.random.default_rng(seed)
    inputs = rng.normal(size=(batch, steps, 4)).astype("float32")
    memory = rng.normal(size=(batch, 7, 6)).astype("float32")
    memory_mask = np.ones((batch, 7), bool)
    memory_mask[:, 0] = False
    if batch > 1:
        memory_mask[1, 4:] = False
    return inputs, memory, memory_mask


def bahdanau_decoder(**kwargs):
    return AttentionRNN(
        keras.layers.GRUCell(6),
        BahdanauAttention(5),
        style="bahdanau",
        **kwargs,
    )


def luong_decoder(**kwargs):
    return AttentionRNN(
        keras.layers.GRUCell(6), LuongAttention("general"), **kwargs
    )


def built_with_random_weights(decoder, inputs, memory, memory_mask, seed=0):
    # Built without running: every run of the step loop traces it anew.
    decoder.build(inputs.shape, memory.shape)
    randomize_weights(decoder, seed)
    return decoder


# The gating scalar beta (section 4.2.1).


def test_context_gate_matches_numpy_bahdanau_steps():
    inputs, memory, memory_mask = make_inputs(seed=1)
    decoder = built_with_random_weights(
        bahdanau_decoder(context_gate=True), inputs, memory, memory_mask
    )
    outputs, weights, _ = decoder(inputs, memory, memory_mask)
    # Oracle: s_t = GRU([y_t; beta_t c_t], s_{t-1}), c_t from s_{t-1} and
    # beta_t = sigmoid(w_beta . s_{t-1} + b_beta); output [s_t; beta_t c_t].
    w = named_weights(decoder)
    kernel, recurrent_kernel, bias = (
        np.asarray(x, "float64") for x in decoder.cell.get_weights()
    )
    attention = named_weights(decoder.attention)
    hidden = np.zeros((3, 6))
    expected_outputs, expected_weights = [], []
    for t in range(inputs.shape[1]):
        context, alpha = numpy_reference.bahdanau(
            hidden[:, None],
            memory.astype("float64"),
            memory.astype("float64"),
            memory_mask,
            attention["query_projection/kernel"],
            attention["key_projection/kernel"],
            attention["score_vector"],
            attention["score_bias"],
        )
        beta = sigmoid(
            hidden @ w["context_gate/kernel"] + w["context_gate/bias"]
        )
        context = beta * context[:, 0]
        cell_input = np.concatenate([inputs[:, t], context], -1)
        hidden = gru_step(cell_input, hidden, kernel, recurrent_kernel, bias)
        expected_outputs.append(np.concatenate([hidden, context], -1))
        expected_weights.append(alpha[:, 0])
    expected_outputs = np.stack(expected_outputs, 1)
    assert relative_error(to_numpy(outputs), expected_outputs) < 1e-5
    assert (
        relative_error(to_numpy(weights), np.stack(expected_weights, 1)) < 1e-5
    )
    # The gate is no identity: without it the outputs differ.
    ungated = bahdanau_decoder()
    ungated.build(inputs.shape, memory.shape)
    ungated.set_weights(decoder.get_weights()[:-2])
    assert (
        relative_error(
            to_numpy(ungated(inputs, memory, memory_mask)[0]), expected_outputs
        )
        > 1e-2
    )


def test_context_gate_on_the_parallel_path_matches_numpy_and_the_loop():
    inputs, memory, memory_mask = make_inputs(seed=2)
    mask = np.ones((3, 5), bool)
    mask[0, 3:] = False
    parallel = built_with_random_weights(
        luong_decoder(context_gate=True), inputs, memory, memory_mask
    )
    assert parallel.uses_parallel_path
    outputs, weights, _ = parallel(inputs, memory, memory_mask, mask=mask)
    # Oracle: h_t from the GRU alone; h~_t = tanh(W_c [beta_t c_t; h_t])
    # with beta_t = sigmoid(w_beta . h_t + b_beta).
    gru = keras.layers.GRU(6, return_sequences=True)
    gru.build(inputs.shape)
    gru.set_weights(parallel.cell.get_weights())
    hidden = to_numpy(gru(inputs)).astype("float64")
    context, expected_weights = numpy_reference.luong(
        "general",
        hidden,
        memory.astype("float64"),
        memory.astype("float64"),
        memory_mask,
        W=named_weights(parallel.attention)["query_projection/kernel"],
    )
    w = named_weights(parallel)
    beta = sigmoid(hidden @ w["context_gate/kernel"] + w["context_gate/bias"])
    expected = np.tanh(
        np.concatenate([beta * context, hidden], -1)
        @ w["attentional_projection/kernel"]
    )
    assert relative_error(to_numpy(outputs)[mask], expected[mask]) < 1e-5
    assert (
        relative_error(to_numpy(weights)[mask], expected_weights[mask]) < 1e-5
    )
    loop = luong_decoder(context_gate=True, parallel=False)
    loop.build(inputs.shape, memory.shape)
    loop.set_weights(parallel.get_weights())
    loop_outputs, loop_weights, _ = loop(inputs, memory, memory_mask, mask=mask)
    assert relative_error(to_numpy(loop_outputs)[mask], expected[mask]) < 1e-5
    assert (
        relative_error(to_numpy(loop_weights)[mask], expected_weights[mask])
        < 1e-5
    )


# Hard attention (section 4.1).


def locations_of(contexts, memory):
    """Index of the memory row each context equals; fails if there is none.

    `contexts` `[batch, steps, dim]`, `memory` `[batch, T_enc, dim]`.
    """
    distances = np.abs(contexts[:, :, None, :] - memory[:, None, :, :])
    distances = distances.max(-1)  # [batch, steps, T_enc]
    locations = distances.argmin(-1)
    assert np.take_along_axis(distances, locations[..., None], -1).max() < 1e-6
    return locations


def test_sampled_locations_follow_the_attention_weights():
    # Many copies of one sequence: every copy's first step has the same
    # alpha (the query is the zero initial state), sampled independently.
    copies = 6000
    _, memory, memory_mask = make_inputs(seed=3, batch=1)
    memory_mask[0, -1] = False  # masked first and last positions
    decoder = built_with_random_weights(
        bahdanau_decoder(
            attention_sampling="hard", expected_context_rate=0.0, seed=4
        ),
        np.zeros((1, 1, 4), "float32"),
        memory,
        memory_mask,
        seed=5,
    )
    inputs = np.zeros((copies, 1, 4), "float32")
    memory = np.repeat(memory, copies, 0)
    memory_mask = np.repeat(memory_mask, copies, 0)
    outputs, weights, _, sampling = decoder(
        inputs, memory, memory_mask, training=True, return_sampling=True
    )
    alpha = to_numpy(weights)[0, 0].astype("float64")
    assert np.allclose(to_numpy(weights), alpha, atol=1e-6)
    locations = locations_of(to_numpy(outputs)[..., 6:], memory)[:, 0]
    counts = np.bincount(locations, minlength=7)
    assert counts[0] == counts[-1] == 0  # masked positions are never drawn
    # Pearson's chi-square over the 5 unmasked positions (4 degrees of
    # freedom): 18.47 is its 0.999 quantile.
    expected = copies * alpha[1:-1]
    chi_square = ((counts[1:-1] - expected) ** 2 / expected).sum()
    assert chi_square < 18.47, (counts, expected)
    # log_prob is log alpha of the drawn position; entropy that of alpha.
    np.testing.assert_allclose(
        to_numpy(sampling["log_prob"])[:, 0],
        np.log(alpha[locations]),
        rtol=1e-5,
        atol=1e-6,
    )
    np.testing.assert_allclose(
        to_numpy(sampling["entropy"]), entropy(alpha), rtol=1e-5
    )


def test_hard_steps_use_the_value_at_the_sampled_position():
    inputs, memory, memory_mask = make_inputs(seed=6, batch=64, steps=4)
    decoder = built_with_random_weights(
        bahdanau_decoder(attention_sampling="hard", seed=7),
        inputs,
        memory,
        memory_mask,
    )
    outputs, weights, _, sampling = decoder(
        inputs, memory, memory_mask, training=True, return_sampling=True
    )
    contexts = to_numpy(outputs)[..., 6:]
    weights = to_numpy(weights).astype("float64")
    log_prob = to_numpy(sampling["log_prob"])
    sampled = log_prob != 0.0
    # About half the steps sample (rate 0.5 over 256 steps: 5 standard
    # deviations of the binomial are 40 steps).
    assert abs(sampled.sum() - 128) < 40
    # A sampled step's context is one unmasked value vector, and log_prob
    # is log alpha there.
    locations = locations_of(
        np.where(sampled[..., None], contexts, memory[:, :1]), memory
    )
    assert memory_mask[np.arange(64)[:, None], locations][sampled].all()
    chosen = np.take_along_axis(weights, locations[..., None], -1)[..., 0]
    np.testing.assert_allclose(
        log_prob[sampled], np.log(chosen[sampled]), rtol=1e-5, atol=1e-6
    )
    # The other steps take the expected context sum_i alpha_i a_i.
    expected_context = np.einsum("btj,bjd->btd", weights, memory)
    np.testing.assert_allclose(
        contexts[~sampled], expected_context[~sampled], rtol=1e-5, atol=1e-5
    )
    np.testing.assert_allclose(
        to_numpy(sampling["entropy"]), entropy(weights), rtol=1e-5, atol=1e-6
    )


def test_hard_luong_gated_outputs_come_from_one_value_vector():
    # Without input feeding the hidden states do not depend on the
    # contexts: every output must be tanh(W_c [beta v_j; h_t]) for one
    # unmasked position j.
    inputs, memory, memory_mask = make_inputs(seed=8, batch=4, steps=3)
    decoder = built_with_random_weights(
        luong_decoder(
            context_gate=True,
            attention_sampling="hard",
            expected_context_rate=0.0,
            seed=9,
        ),
        inputs,
        memory,
        memory_mask,
    )
    assert not decoder.uses_parallel_path
    outputs, weights, _, sampling = decoder(
        inputs, memory, memory_mask, training=True, return_sampling=True
    )
    gru = keras.layers.GRU(6, return_sequences=True)
    gru.build(inputs.shape)
    gru.set_weights(decoder.cell.get_weights())
    hidden = to_numpy(gru(inputs)).astype("float64")
    w = named_weights(decoder)
    beta = sigmoid(hidden @ w["context_gate/kernel"] + w["context_gate/bias"])
    # Candidates [batch, steps, T_enc, units].
    contexts = beta[:, :, None, :] * memory[:, None].astype("float64")
    hidden_copies = np.broadcast_to(hidden[:, :, None], contexts.shape)
    candidates = np.tanh(
        np.concatenate([contexts, hidden_copies], -1)
        @ w["attentional_projection/kernel"]
    )
    distances = np.abs(candidates - to_numpy(outputs)[:, :, None]).max(-1)
    locations = distances.argmin(-1)
    assert np.take_along_axis(distances, locations[..., None], -1).max() < 1e-5
    chosen = np.take_along_axis(to_numpy(weights), locations[..., None], -1)
    assert (chosen > 0).all()
    np.testing.assert_allclose(
        to_numpy(sampling["log_prob"]), np.log(chosen[..., 0]), rtol=1e-5
    )


@pytest.mark.parametrize("make_decoder", [bahdanau_decoder, luong_decoder])
def test_hard_equals_soft_at_rate_one_and_outside_training(make_decoder):
    inputs, memory, memory_mask = make_inputs(seed=10)
    soft = built_with_random_weights(
        make_decoder(context_gate=True), inputs, memory, memory_mask
    )
    expected = soft(inputs, memory, memory_mask)
    for rate, training in ((1.0, True), (0.0, False), (0.5, None)):
        hard = make_decoder(
            context_gate=True,
            attention_sampling="hard",
            expected_context_rate=rate,
        )
        hard.build(inputs.shape, memory.shape)
        hard.set_weights(soft.get_weights())
        *actual, sampling = hard(
            inputs,
            memory,
            memory_mask,
            training=training,
            return_sampling=True,
        )
        for a, e in zip(actual[:2], expected[:2], strict=True):
            # The step loop runs the same operations on the same numbers
            # (the parallel path of the soft Luong decoder may round else).
            np.testing.assert_allclose(
                to_numpy(a), to_numpy(e), rtol=1e-5, atol=1e-5
            )
        assert np.all(to_numpy(sampling["log_prob"]) == 0.0)


def test_hard_equals_the_soft_loop_exactly():
    inputs, memory, memory_mask = make_inputs(seed=11)
    soft = built_with_random_weights(
        bahdanau_decoder(), inputs, memory, memory_mask
    )
    expected = soft(inputs, memory, memory_mask)
    for rate, training in ((1.0, True), (0.0, False)):
        hard = bahdanau_decoder(
            attention_sampling="hard", expected_context_rate=rate
        )
        hard.build(inputs.shape, memory.shape)
        hard.set_weights(soft.get_weights())
        actual = hard(inputs, memory, memory_mask, training=training)
        for a, e in zip(actual[:2], expected[:2], strict=True):
            np.testing.assert_array_equal(to_numpy(a), to_numpy(e))


def test_step_samples_in_training_only():
    _, memory, memory_mask = make_inputs(seed=12, batch=32)
    decoder = built_with_random_weights(
        bahdanau_decoder(attention_sampling="hard", expected_context_rate=0.0),
        np.zeros((32, 1, 4), "float32"),
        memory,
        memory_mask,
    )
    projected = decoder.precompute_memory(memory, memory_mask)
    state = decoder.get_initial_state(32)
    inputs = np.zeros((32, 4), "float32")
    output, _, weights = decoder.step(inputs, state, projected, training=True)
    locations = locations_of(to_numpy(output)[:, None, 6:], memory)[:, 0]
    assert memory_mask[np.arange(32), locations].all()
    output, _, weights = decoder.step(inputs, state, projected)
    np.testing.assert_allclose(
        to_numpy(output)[:, 6:],
        np.einsum("bj,bjd->bd", to_numpy(weights), memory),
        rtol=1e-5,
        atol=1e-6,
    )


def test_seeded_samples_repeat_and_calls_draw_anew():
    inputs, memory, memory_mask = make_inputs(seed=13, batch=16)
    results = []
    for _ in range(2):
        decoder = built_with_random_weights(
            bahdanau_decoder(attention_sampling="hard", seed=14),
            inputs,
            memory,
            memory_mask,
        )
        results.append(
            [
                to_numpy(
                    decoder(
                        inputs,
                        memory,
                        memory_mask,
                        training=True,
                        return_sampling=True,
                    )[3]["log_prob"]
                )
                for _ in range(2)
            ]
        )
    np.testing.assert_array_equal(results[0][0], results[1][0])
    np.testing.assert_array_equal(results[0][1], results[1][1])
    assert not np.array_equal(results[0][0], results[0][1])


@pytest.mark.skipif(
    keras.backend.backend() != "tensorflow",
    reason="unknown static lengths arise in TensorFlow graphs only",
)
def test_hard_sampling_in_a_graph_of_unknown_lengths():
    # The uniforms' shape comes from the dynamic batch and length.
    import tensorflow as tf

    inputs, memory, memory_mask = make_inputs(seed=22)
    decoder = built_with_random_weights(
        bahdanau_decoder(attention_sampling="hard", expected_context_rate=0.0),
        inputs,
        memory,
        memory_mask,
    )

    @tf.function(
        input_signature=[
            tf.TensorSpec([None, None, 4]),
            tf.TensorSpec([None, None, 6]),
            tf.TensorSpec([None, None], tf.bool),
        ]
    )
    def run(inputs, memory, memory_mask):
        outputs, _, _, sampling = decoder(
            inputs, memory, memory_mask, training=True, return_sampling=True
        )
        return outputs, sampling["log_prob"]

    outputs, log_prob = run(inputs, memory, memory_mask)
    locations = locations_of(to_numpy(outputs)[..., 6:], memory)
    assert memory_mask[np.arange(3)[:, None], locations].all()
    assert np.all(to_numpy(log_prob) < 0.0)


# Sampling statistics.


@pytest.mark.parametrize(
    "make_decoder",
    [
        lambda **kw: luong_decoder(**kw),
        lambda **kw: luong_decoder(parallel=False, **kw),
        lambda **kw: bahdanau_decoder(attention_sampling="hard", **kw),
    ],
)
def test_statistics_are_zero_on_masked_steps(make_decoder):
    inputs, memory, memory_mask = make_inputs(seed=15)
    mask = np.ones((3, 5), bool)
    mask[0, 2:] = False
    decoder = make_decoder()
    outputs, weights, _, sampling = decoder(
        inputs,
        memory,
        memory_mask,
        mask=mask,
        training=True,
        return_sampling=True,
    )
    log_prob = to_numpy(sampling["log_prob"])
    entropy_values = to_numpy(sampling["entropy"])
    assert log_prob.dtype == entropy_values.dtype == np.float32
    assert log_prob.shape == entropy_values.shape == (3, 5)
    assert np.all(log_prob[~mask] == 0.0)
    assert np.all(entropy_values[~mask] == 0.0)
    np.testing.assert_allclose(
        entropy_values[mask],
        entropy(to_numpy(weights))[mask],
        rtol=1e-5,
        atol=1e-6,
    )
    if decoder.attention_sampling == "soft":
        assert np.all(log_prob == 0.0)
    else:
        assert np.all(log_prob <= 0.0) and np.any(log_prob[mask] < 0.0)


def test_multi_head_entropy_sums_the_heads():
    inputs, memory, memory_mask = make_inputs(seed=16)
    decoder = AttentionRNN(keras.layers.GRUCell(8), MultiHeadAttention(2, 4))
    _, weights, _, sampling = decoder(
        inputs, memory, memory_mask, return_sampling=True
    )
    np.testing.assert_allclose(
        to_numpy(sampling["entropy"]),
        entropy(to_numpy(weights)).sum(1),
        rtol=1e-5,
        atol=1e-6,
    )


# Models, saving, compilation and mixed precision.


def sat_model(**options):
    source = keras.Input((7, 6), name="memory")
    source_mask = keras.Input((7,), dtype="bool", name="memory_mask")
    target = keras.Input((None,), dtype="int32", name="target")
    embedded = keras.layers.Embedding(11, 4, mask_zero=True)(target)
    decoder = AttentionRNN(
        keras.layers.GRUCell(6),
        BahdanauAttention(5),
        style="bahdanau",
        **options,
    )
    # A call with several tensors gets no Keras mask for `inputs`.
    outputs, weights, _, sampling = decoder(
        embedded,
        source,
        memory_mask=source_mask,
        mask=keras.ops.not_equal(target, 0),
        return_sampling=True,
    )
    logits = keras.layers.Dense(11)(outputs)
    return keras.Model(
        [source, source_mask, target],
        [logits, weights, sampling["log_prob"], sampling["entropy"]],
    )


def model_inputs(seed=17):
    _, memory, memory_mask = make_inputs(seed=seed, batch=4)
    target = np.random.default_rng(seed).integers(1, 11, size=(4, 5))
    target[1, 3:] = 0
    return [memory, memory_mask, target.astype("int32")]


SAT_OPTIONS = {
    "context_gate": True,
    "attention_sampling": "hard",
    "expected_context_rate": 0.25,
    "seed": 3,
}


def test_save_load_and_jit_with_the_new_options(tmp_path):
    inputs = model_inputs()
    model = sat_model(**SAT_OPTIONS)
    expected = [to_numpy(x) for x in model(inputs)]
    assert expected[2].shape == expected[3].shape == (4, 5)
    assert np.all(expected[3][1, 3:] == 0.0) and np.all(expected[3][0] > 0)
    model.save(tmp_path / "sat.keras")
    restored = keras.saving.load_model(tmp_path / "sat.keras")
    for actual, wanted in zip(restored(inputs), expected, strict=True):
        np.testing.assert_array_equal(to_numpy(actual), wanted)
    (decoder,) = [
        layer for layer in model.layers if isinstance(layer, AttentionRNN)
    ]
    config = decoder.get_config()
    assert {key: config[key] for key in NEW_OPTIONS} == SAT_OPTIONS
    if keras.backend.backend() == "torch":
        return  # jit_compile on torch means torch.compile (dynamo)
    model.compile(jit_compile=True)
    compiled = model.predict(inputs, verbose=0)
    for actual, wanted in zip(compiled, expected, strict=True):
        np.testing.assert_allclose(actual, wanted, rtol=1e-5, atol=1e-5)


def test_hard_sampling_trains_compiled():
    inputs = model_inputs(seed=18)
    # The attention learns from the expected-context steps only (hard
    # steps need HardAttentionLoss): at rate 0.5, 18 steps all sample with
    # probability 4e-6.
    model = sat_model(**dict(SAT_OPTIONS, expected_context_rate=0.5))
    training_model = keras.Model(model.inputs, model.outputs[0])
    training_model.compile(
        optimizer="adam",
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        jit_compile=keras.backend.backend() != "torch",
    )
    before = [to_numpy(w).copy() for w in training_model.trainable_weights]
    history = training_model.fit(
        inputs, inputs[2], epochs=1, batch_size=4, verbose=0
    )
    assert np.isfinite(history.history["loss"]).all()
    after = [to_numpy(w) for w in training_model.trainable_weights]
    assert all(
        not np.array_equal(b, a) for b, a in zip(before, after, strict=True)
    )


def test_configs_without_the_new_options_load_unchanged():
    inputs, memory, memory_mask = make_inputs(seed=19)
    for make_decoder in (bahdanau_decoder, luong_decoder):
        decoder = make_decoder()
        expected = decoder(inputs, memory, memory_mask)
        config = decoder.get_config()
        assert {key: config[key] for key in NEW_OPTIONS} == {
            "context_gate": False,
            "attention_sampling": "soft",
            "expected_context_rate": 0.5,
            "seed": None,
        }
        old_config = {
            key: value
            for key, value in config.items()
            if key not in NEW_OPTIONS
        }
        restored = AttentionRNN.from_config(old_config)
        restored.build(inputs.shape, memory.shape)
        assert len(restored.weights) == len(decoder.weights)
        restored.set_weights(decoder.get_weights())
        actual = restored(inputs, memory, memory_mask)
        for a, e in zip(actual[:2], expected[:2], strict=True):
            np.testing.assert_array_equal(to_numpy(a), to_numpy(e))


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_mixed_precision_hard_gated_decoder(policy):
    keras.config.set_dtype_policy(policy)
    inputs, memory, memory_mask = make_inputs(seed=20)
    decoder = bahdanau_decoder(
        context_gate=True, attention_sampling="hard", seed=21
    )
    outputs, weights, _, sampling = decoder(
        inputs, memory, memory_mask, training=True, return_sampling=True
    )
    assert decoder.compute_dtype == policy.split("_")[1]
    dtype = keras.backend.standardize_dtype
    assert dtype(outputs.dtype) == decoder.compute_dtype
    assert dtype(sampling["log_prob"].dtype) == "float32"
    weights = to_numpy(weights).astype("float32")
    np.testing.assert_allclose(weights.sum(-1), 1.0, atol=1e-2)
    for tensor in (outputs, sampling["log_prob"], sampling["entropy"]):
        assert np.isfinite(to_numpy(tensor).astype("float32")).all()
    assert np.all(to_numpy(sampling["log_prob"]) <= 0.0)


# Refusals.


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"attention_sampling": "stochastic"}, "`attention_sampling` must"),
        ({"attention_sampling": None}, "`attention_sampling` must"),
        ({"expected_context_rate": 1.5}, "`expected_context_rate` must"),
        ({"expected_context_rate": -0.1}, "`expected_context_rate` must"),
        ({"expected_context_rate": True}, "`expected_context_rate` must"),
        ({"expected_context_rate": "half"}, "`expected_context_rate` must"),
        ({"context_gate": "yes"}, "`context_gate` must be True or False"),
        ({"seed": 1.5}, "`seed` must be an integer"),
        (
            {"attention_sampling": "hard", "parallel": True},
            "`parallel=True` cannot run attention_sampling='hard'",
        ),
        (
            {
                "attention_sampling": "hard",
                "attention": MultiHeadAttention(2, 3),
            },
            "needs attention weights with one head",
        ),
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


def test_hard_sampling_runs_the_loop():
    decoder = luong_decoder(attention_sampling="hard")
    assert not decoder.uses_parallel_path
    assert luong_decoder().uses_parallel_path
