"""Pointer-generator copy mixture (See et al. 2017, eq. 8-9) against NumPy."""

import keras
import numpy as np
import pytest

from keras_attention.layers import PointerGenerator
from keras_attention.layers import extended_vocabulary_distribution
from keras_attention.layers import extended_vocabulary_probability
from tests.conftest import gradient
from tests.conftest import to_numpy
from tests.layers.helpers import named_weights
from tests.layers.helpers import randomize_weights
from tests.layers.helpers import relative_error

VOCABULARY = 5
EXTENDED = VOCABULARY + 2
# Document 0 repeats word 1 and holds the OOV words 5 and 6; document 1
# holds OOV 5 and ends with a padding position (id -1, attention 0).
SOURCE_IDS = np.array([[1, 5, 1, 6], [3, 5, 2, -1]], "int32")
SOURCE_MASK = SOURCE_IDS >= 0


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def softmax(x, mask=None):
    x = np.where(mask, x, -np.inf) if mask is not None else x
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def mixture_inputs(steps=3, seed=0):
    """Vocabulary probabilities, attention and p_gen, `[2, steps, ...]`."""
    rng = np.random.default_rng(seed)
    probabilities = softmax(rng.normal(size=(2, steps, VOCABULARY)))
    attention = softmax(rng.normal(size=(2, steps, 4)), SOURCE_MASK[:, None, :])
    p_gen = rng.uniform(0.05, 0.95, size=(2, steps, 1))
    # The extremes: copy only, generate only.
    p_gen[0, 0] = 0.0
    p_gen[0, 1] = 1.0
    return (
        probabilities.astype("float32"),
        attention.astype("float32"),
        p_gen.astype("float32"),
    )


def equation_9(probabilities, attention, source_ids, p_gen, extended_size):
    """P(w) = p_gen P_vocab(w) + (1 - p_gen) sum_{i: w_i = w} a_i, by loops."""
    batch, steps, vocabulary = probabilities.shape
    result = np.zeros((batch, steps, extended_size))
    for b in range(batch):
        for t in range(steps):
            result[b, t, :vocabulary] = p_gen[b, t, 0] * probabilities[b, t]
            for i, word in enumerate(source_ids[b]):
                if 0 <= word < extended_size:
                    result[b, t, word] += (1 - p_gen[b, t, 0]) * attention[
                        b, t, i
                    ]
    return result


def equation_8(weights, context, state, previous):
    logits = (
        context @ weights["context_kernel"]
        + state @ weights["state_kernel"]
        + previous @ weights["input_kernel"]
        + weights["bias"]
    )
    return sigmoid(logits)


def gate_inputs(leading=(2, 3), seed=1):
    rng = np.random.default_rng(seed)
    return (
        rng.normal(size=leading + (6,)).astype("float32"),
        rng.normal(size=leading + (5,)).astype("float32"),
        rng.normal(size=leading + (4,)).astype("float32"),
    )


@pytest.mark.parametrize("leading", [(2,), (2, 3)], ids=["step", "sequence"])
def test_p_gen_matches_equation_8(leading):
    context, state, previous = gate_inputs(leading)
    layer = PointerGenerator()
    layer(context, state, previous)
    randomize_weights(layer)
    weights = named_weights(layer)
    assert weights["context_kernel"].shape == (6, 1)
    assert weights["state_kernel"].shape == (5, 1)
    assert weights["input_kernel"].shape == (4, 1)
    assert weights["bias"].shape == (1,)
    p_gen = layer(context, state, previous)
    assert tuple(p_gen.shape) == leading + (1,)
    assert keras.backend.standardize_dtype(p_gen.dtype) == "float32"
    expected = equation_8(weights, context, state, previous)
    assert relative_error(to_numpy(p_gen), expected) < 1e-5


def test_p_gen_hand_worked():
    layer = PointerGenerator(
        kernel_initializer="ones", bias_initializer="zeros"
    )
    # 1 + (2 - 1) + 0 - 2 = 0 -> sigmoid(0) = 0.5; then the bias adds 1.
    context = np.array([[1.0]], "float32")
    state = np.array([[2.0, -1.0]], "float32")
    previous = np.array([[0.0, -2.0]], "float32")
    np.testing.assert_allclose(
        to_numpy(layer(context, state, previous)), [[0.5]], atol=1e-7
    )
    layer.bias.assign(np.ones((1,), "float32"))
    np.testing.assert_allclose(
        to_numpy(layer(context, state, previous)),
        [[1 / (1 + np.exp(-1.0))]],
        rtol=1e-6,
    )


def test_initial_kernels_are_distinct_and_seeded_builds_repeat():
    context, _, _ = gate_inputs((2, 3))
    for initializer in ("glorot_uniform", keras.initializers.HeNormal(7)):
        layer = PointerGenerator(kernel_initializer=initializer)
        layer(context, context, context)  # one size: equal kernels would show
        weights = named_weights(layer)
        kernels = [
            weights[name]
            for name in ("context_kernel", "state_kernel", "input_kernel")
        ]
        for i in range(3):
            for j in range(i + 1, 3):
                assert not np.allclose(kernels[i], kernels[j])
    twins = [
        PointerGenerator(kernel_initializer=keras.initializers.HeNormal(7))
        for _ in range(2)
    ]
    for twin in twins:
        twin(context, context, context)
    for a, b in zip(twins[0].weights, twins[1].weights, strict=True):
        np.testing.assert_array_equal(to_numpy(a), to_numpy(b))


def test_hand_worked_distribution():
    # V = 4; the source "2 <oov> 2" sends 0.5 + 0.25 of its attention to
    # word 2 and 0.25 to the OOV word (id 4).
    probabilities = np.array([[0.1, 0.2, 0.3, 0.4]], "float32")
    attention = np.array([[0.5, 0.25, 0.25]], "float32")
    source_ids = np.array([[2, 4, 2]], "int32")
    p_gen = np.array([[0.8]], "float32")
    expected = [[0.08, 0.16, 0.8 * 0.3 + 0.2 * 0.75, 0.32, 0.2 * 0.25]]
    actual = extended_vocabulary_distribution(
        probabilities, attention, source_ids, p_gen, extended_size=5
    )
    np.testing.assert_allclose(to_numpy(actual), expected, rtol=1e-6)
    target = extended_vocabulary_probability(
        probabilities, attention, source_ids, p_gen, np.array([4], "int32")
    )
    np.testing.assert_allclose(to_numpy(target), [0.05], rtol=1e-6)


@pytest.mark.parametrize("single_step", [True, False], ids=["step", "seq"])
def test_distribution_matches_equation_9(single_step):
    probabilities, attention, p_gen = mixture_inputs()
    expected = equation_9(probabilities, attention, SOURCE_IDS, p_gen, 8)
    if single_step:
        probabilities, attention, p_gen = (
            probabilities[:, 1],
            attention[:, 1],
            p_gen[:, 1],
        )
        expected = expected[:, 1]
    actual = to_numpy(
        extended_vocabulary_distribution(
            probabilities, attention, SOURCE_IDS, p_gen, extended_size=8
        )
    )
    assert actual.dtype == np.float32
    assert actual.shape == expected.shape
    np.testing.assert_allclose(actual, expected, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(actual.sum(-1), 1.0, rtol=1e-5)
    assert np.all(actual[..., -1] == 0.0)  # id 7: no word of any document


def test_extremes_and_repeated_words():
    probabilities, attention, p_gen = mixture_inputs()
    actual = to_numpy(
        extended_vocabulary_distribution(
            probabilities, attention, SOURCE_IDS, p_gen, EXTENDED
        )
    )
    # p_gen = 0: the attention alone, word 1 (twice) gets both weights.
    copy_only = actual[0, 0]
    np.testing.assert_allclose(
        copy_only[1], attention[0, 0, 0] + attention[0, 0, 2], rtol=1e-6
    )
    np.testing.assert_allclose(copy_only[5], attention[0, 0, 1], rtol=1e-6)
    np.testing.assert_allclose(copy_only[6], attention[0, 0, 3], rtol=1e-6)
    assert np.all(copy_only[[0, 2, 3, 4]] == 0.0)
    # p_gen = 1: the vocabulary distribution, zero beyond it.
    generate_only = actual[0, 1]
    np.testing.assert_allclose(
        generate_only[:VOCABULARY], probabilities[0, 1], rtol=1e-6
    )
    assert np.all(generate_only[VOCABULARY:] == 0.0)


def test_probability_equals_gathered_distribution():
    probabilities, attention, p_gen = mixture_inputs(steps=4, seed=2)
    # In the vocabulary and the source (1), only in the vocabulary (4),
    # OOV in the source (5, 6), OOV of the other document (6 for doc 1).
    targets = np.array([[1, 4, 5, 6], [3, 6, 5, 0]], "int32")
    distribution = to_numpy(
        extended_vocabulary_distribution(
            probabilities, attention, SOURCE_IDS, p_gen, EXTENDED
        )
    )
    gathered = np.take_along_axis(distribution, targets[..., None], -1)
    actual = to_numpy(
        extended_vocabulary_probability(
            probabilities, attention, SOURCE_IDS, p_gen, targets
        )
    )
    assert actual.shape == (2, 4) and actual.dtype == np.float32
    np.testing.assert_allclose(actual, gathered[..., 0], rtol=1e-5)
    oracle = equation_9(probabilities, attention, SOURCE_IDS, p_gen, EXTENDED)
    np.testing.assert_allclose(
        actual,
        np.take_along_axis(oracle, targets[..., None], -1)[..., 0],
        rtol=1e-5,
    )
    np.testing.assert_allclose(actual[1, 1], 0.0, atol=1e-7)  # 6 not in doc 1
    # One decoder step: `[batch]` targets.
    step = to_numpy(
        extended_vocabulary_probability(
            probabilities[:, 2],
            attention[:, 2],
            SOURCE_IDS,
            p_gen[:, 2],
            targets[:, 2],
        )
    )
    assert step.shape == (2,)
    np.testing.assert_allclose(step, actual[:, 2], rtol=1e-6)


def test_gradients_match_equation_9():
    probabilities, attention, p_gen = mixture_inputs(steps=2, seed=3)
    targets = np.array([[1, 5], [2, 4]], "int32")
    matches = SOURCE_IDS[:, None, :] == targets[..., None]  # [2, 2, 4]
    in_vocabulary = targets < VOCABULARY
    vocabulary_probability = np.where(
        in_vocabulary,
        np.take_along_axis(
            probabilities, np.minimum(targets, 4)[..., None], -1
        )[..., 0],
        0.0,
    )
    copy_probability = (attention * matches).sum(-1)

    def probability(**overrides):
        inputs = dict(
            vocabulary_probabilities=probabilities,
            attention=attention,
            source_ids=SOURCE_IDS,
            p_gen=p_gen,
            target_ids=targets,
        )
        inputs.update(overrides)
        return extended_vocabulary_probability(**inputs)

    # dP/dp_gen = P_vocab(w) - sum_{i: w_i = w} a_i.
    grad = gradient(lambda x: probability(p_gen=x), p_gen)
    np.testing.assert_allclose(
        grad[..., 0], vocabulary_probability - copy_probability, rtol=1e-5
    )
    # dP/da_i = (1 - p_gen) [w_i = w].
    grad = gradient(lambda x: probability(attention=x), attention)
    np.testing.assert_allclose(grad, (1 - p_gen) * matches, rtol=1e-6)
    # dP/dP_vocab(v) = p_gen [v = w] for w < V.
    grad = gradient(
        lambda x: probability(vocabulary_probabilities=x), probabilities
    )
    expected = p_gen * (
        np.arange(VOCABULARY) == np.where(in_vocabulary, targets, -1)[..., None]
    )
    np.testing.assert_allclose(grad, expected, rtol=1e-6)

    # The loss -log(P + eps) and the distribution: finite gradients.
    def loss(x):
        return -keras.ops.log(probability(attention=x) + 1e-12)

    assert np.isfinite(gradient(loss, attention)).all()
    grad = gradient(
        lambda x: (
            extended_vocabulary_distribution(
                probabilities, x, SOURCE_IDS, p_gen, EXTENDED
            )
            * keras.ops.arange(EXTENDED, dtype="float32")
        ),
        attention,
    )
    # d sum_w w P(w) / d a_i = (1 - p_gen) w_i, 0 at the padding position.
    expected = (1 - p_gen) * np.where(SOURCE_MASK, SOURCE_IDS, 0)[:, None, :]
    np.testing.assert_allclose(grad, expected, rtol=1e-6)


def test_p_gen_gradients_are_finite():
    context, state, previous = gate_inputs(seed=4)
    layer = PointerGenerator()
    layer(context, state, previous)
    grad = gradient(lambda x: layer(x, state, previous), context)
    assert np.isfinite(grad).all() and np.abs(grad).sum() > 0


def test_mixed_bfloat16_gives_float32():
    keras.config.set_dtype_policy("mixed_bfloat16")
    context, state, previous = gate_inputs(seed=5)
    layer = PointerGenerator()
    p_gen = layer(context, state, previous)
    assert layer.compute_dtype == "bfloat16"
    assert keras.backend.standardize_dtype(p_gen.dtype) == "float32"
    # Keras rounds the inputs to bfloat16; the weights and the arithmetic
    # stay float32, so the result is the float32 equation of those inputs.
    weights = named_weights(layer)
    assert all(
        keras.backend.standardize_dtype(w.dtype) == "float32"
        for w in layer.weights
    )
    rounded = [
        to_numpy(keras.ops.cast(x, "bfloat16")).astype("float32")
        for x in (context, state, previous)
    ]
    expected = equation_8(weights, *rounded)
    assert relative_error(to_numpy(p_gen), expected) < 1e-5

    probabilities, attention, p_gen = mixture_inputs()
    to_bf16 = lambda x: keras.ops.cast(x, "bfloat16")  # noqa: E731
    distribution = extended_vocabulary_distribution(
        to_bf16(probabilities),
        to_bf16(attention),
        SOURCE_IDS,
        to_bf16(p_gen),
        EXTENDED,
    )
    assert keras.backend.standardize_dtype(distribution.dtype) == "float32"
    np.testing.assert_allclose(
        to_numpy(distribution),
        equation_9(probabilities, attention, SOURCE_IDS, p_gen, EXTENDED),
        atol=2e-2,
    )
    probability = extended_vocabulary_probability(
        to_bf16(probabilities),
        to_bf16(attention),
        SOURCE_IDS,
        to_bf16(p_gen),
        np.zeros((2, 3), "int32"),
    )
    assert keras.backend.standardize_dtype(probability.dtype) == "float32"


class CopyMixture(keras.layers.Layer):
    """Equation 9 inside a layer, as a summarizer's output layer uses it."""

    def call(self, probabilities, attention, source_ids, p_gen):
        return extended_vocabulary_distribution(
            probabilities, attention, source_ids, p_gen, EXTENDED
        )

    def compute_output_spec(self, probabilities, *args):
        return keras.KerasTensor(
            tuple(probabilities.shape[:-1]) + (EXTENDED,), dtype="float32"
        )


def test_save_and_load_a_functional_model(tmp_path):
    context = keras.Input((None, 6), name="context")
    state = keras.Input((None, 5), name="state")
    previous = keras.Input((None, 4), name="previous")
    probabilities = keras.Input((None, VOCABULARY), name="probabilities")
    attention = keras.Input((None, 4), name="attention")
    source_ids = keras.Input((4,), dtype="int32", name="source_ids")
    p_gen = PointerGenerator(name="pointer")(context, state, previous)
    assert p_gen.shape == (None, None, 1) and p_gen.dtype == "float32"
    distribution = CopyMixture()(probabilities, attention, source_ids, p_gen)
    model = keras.Model(
        [context, state, previous, probabilities, attention, source_ids],
        [p_gen, distribution],
    )
    randomize_weights(model.get_layer("pointer"), seed=6)
    gate = gate_inputs(seed=7)
    mixture, mixture_attention, _ = mixture_inputs()
    inputs = [*gate, mixture, mixture_attention, SOURCE_IDS]
    # `predict` traces with an unknown batch size and number of steps.
    p_gen_value, distribution_value = model.predict(inputs, verbose=0)
    expected_p_gen = equation_8(
        named_weights(model.get_layer("pointer")), *gate
    )
    np.testing.assert_allclose(p_gen_value, expected_p_gen, rtol=1e-5)
    np.testing.assert_allclose(
        distribution_value,
        equation_9(
            mixture, mixture_attention, SOURCE_IDS, expected_p_gen, EXTENDED
        ),
        rtol=1e-5,
        atol=1e-7,
    )

    path = tmp_path / "pointer.keras"
    model.save(path)
    restored = keras.saving.load_model(
        path, custom_objects={"CopyMixture": CopyMixture}
    )
    assert type(restored.get_layer("pointer")) is PointerGenerator
    for actual, expected in zip(restored(inputs), model(inputs), strict=True):
        np.testing.assert_array_equal(to_numpy(actual), to_numpy(expected))
    layer = model.get_layer("pointer")
    config = layer.get_config()
    assert PointerGenerator.from_config(config).get_config() == config


@pytest.mark.parametrize(
    "shapes, message",
    [
        (
            ((2, 3, 4, 6), (2, 3, 4, 5), (2, 3, 4, 4)),
            "`context` must have rank",
        ),
        (((2, 6), (2, 3, 5), (2, 4)), "`decoder_state` must have the rank"),
        (((2, 3, 6), (2, 3, 5), (2, 2, 4)), r"decoder_input.shape=\(2, 2, 4\)"),
        (((2, 6), (3, 5), (2, 4)), r"decoder_state.shape=\(3, 5\)"),
    ],
)
def test_layer_bad_shapes_are_named(shapes, message):
    inputs = [np.zeros(shape, "float32") for shape in shapes]
    with pytest.raises(ValueError, match=message):
        PointerGenerator()(*inputs)


def _mixture_arguments(**overrides):
    probabilities, attention, p_gen = mixture_inputs()
    arguments = dict(
        vocabulary_probabilities=probabilities,
        attention=attention,
        source_ids=SOURCE_IDS,
        p_gen=p_gen,
    )
    arguments.update(overrides)
    return arguments


@pytest.mark.parametrize(
    "overrides, message",
    [
        (
            {"vocabulary_probabilities": np.zeros((2, 3, 4, 5), "float32")},
            "`vocabulary_probabilities` must have rank 2",
        ),
        (
            {"attention": np.zeros((2, 4), "float32")},
            r"`attention` must have the rank.*attention.shape=\(2, 4\)",
        ),
        (
            {"attention": np.zeros((2, 2, 4), "float32")},
            r"attention.shape=\(2, 2, 4\)",
        ),
        (
            {"source_ids": np.zeros((2, 5), "int32")},
            r"`source_ids` must have shape.*\(2, 5\)",
        ),
        (
            {"source_ids": np.zeros((2, 4), "float32")},
            "`source_ids` must be an integer tensor.*float32",
        ),
        (
            {"p_gen": np.zeros((2, 3), "float32")},
            r"`p_gen` must have shape \(2, 3, 1\).*p_gen.shape=\(2, 3\)",
        ),
    ],
)
def test_mixture_bad_inputs_are_named(overrides, message):
    with pytest.raises(ValueError, match=message):
        extended_vocabulary_distribution(
            **_mixture_arguments(**overrides), extended_size=EXTENDED
        )
    with pytest.raises(ValueError, match=message):
        extended_vocabulary_probability(
            **_mixture_arguments(**overrides),
            target_ids=np.zeros((2, 3), "int32"),
        )


@pytest.mark.parametrize(
    "extended_size, message",
    [
        (4, r"at least the vocabulary size \(5\).*extended_size=4"),
        (7.0, "must be a Python integer.*extended_size=7.0"),
        (True, "must be a Python integer.*extended_size=True"),
    ],
)
def test_extended_size_is_checked(extended_size, message):
    with pytest.raises(ValueError, match=message):
        extended_vocabulary_distribution(
            **_mixture_arguments(), extended_size=extended_size
        )


@pytest.mark.parametrize(
    "target_ids, message",
    [
        (np.zeros((2,), "int32"), r"target_ids.shape=\(2,\)"),
        (np.zeros((2, 4), "int32"), r"\(2, 3\).*target_ids.shape=\(2, 4\)"),
        (np.zeros((2, 3), "float32"), "`target_ids` must be an integer"),
    ],
)
def test_target_ids_are_checked(target_ids, message):
    with pytest.raises(ValueError, match=message):
        extended_vocabulary_probability(
            **_mixture_arguments(), target_ids=target_ids
        )
