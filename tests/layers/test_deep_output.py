"""`DeepOutput`: equation 7 of Show, Attend and Tell, against NumPy."""

import keras
import numpy as np
import pytest

from keras_attention.layers import DeepOutput
from tests.conftest import to_numpy
from tests.layers.helpers import named_weights
from tests.layers.helpers import randomize_weights
from tests.layers.helpers import relative_error

VOCABULARY = 11


def make_inputs(leading=(2, 3), seed=0):
    rng = np.random.default_rng(seed)
    hidden = rng.normal(size=leading + (5,)).astype("float32")
    context = rng.normal(size=leading + (7,)).astype("float32")
    previous = rng.normal(size=leading + (4,)).astype("float32")
    return hidden, context, previous


def equation_7(w, hidden, context=None, previous=None, activation=np.tanh):
    """L_o(E y_{t-1} + L_h h_t + L_z z_t), written out with matrices."""
    total = hidden @ w["hidden_projection/kernel"]
    total = total + w["hidden_projection/bias"]
    if context is not None:
        total = total + context @ w["context_projection/kernel"]
    if previous is not None:
        total = total + previous
    total = activation(total)
    return total @ w["output_projection/kernel"] + w["output_projection/bias"]


@pytest.mark.parametrize("leading", [(2,), (2, 3)], ids=["step", "sequence"])
@pytest.mark.parametrize(
    "activation, numpy_activation",
    [("tanh", np.tanh), (None, lambda x: x)],
    ids=["tanh", "linear"],
)
def test_matches_equation_7(leading, activation, numpy_activation):
    hidden, context, previous = make_inputs(leading)
    layer = DeepOutput(VOCABULARY, activation=activation)
    layer(hidden, context, previous)
    randomize_weights(layer)
    logits = layer(hidden, context, previous)
    assert tuple(logits.shape) == leading + (VOCABULARY,)
    expected = equation_7(
        named_weights(layer), hidden, context, previous, numpy_activation
    )
    assert relative_error(to_numpy(logits), expected) < 1e-5


@pytest.mark.parametrize(
    "options, uses_context, uses_previous",
    [
        ({"use_context": False}, False, True),
        ({"use_previous_token": False}, True, False),
        ({"use_context": False, "use_previous_token": False}, False, False),
    ],
)
def test_optional_terms(options, uses_context, uses_previous):
    hidden, context, previous = make_inputs(seed=1)
    context = context if uses_context else None
    previous = previous if uses_previous else None
    layer = DeepOutput(VOCABULARY, **options)
    layer(hidden, context, previous)
    randomize_weights(layer, seed=2)
    weights = named_weights(layer)
    assert ("context_projection/kernel" in weights) == uses_context
    # `units` defaults to the previous embedding's size, else the hidden's.
    units = 4 if uses_previous else 5
    assert weights["hidden_projection/kernel"].shape == (5, units)
    expected = equation_7(weights, hidden, context, previous)
    actual = layer(hidden, context, previous)
    assert relative_error(to_numpy(actual), expected) < 1e-5


def test_explicit_units_without_previous_token():
    hidden, context, _ = make_inputs(seed=3)
    layer = DeepOutput(VOCABULARY, units=9, use_previous_token=False)
    layer(hidden, context)
    weights = named_weights(layer)
    assert weights["hidden_projection/kernel"].shape == (5, 9)
    assert weights["context_projection/kernel"].shape == (7, 9)
    assert weights["output_projection/kernel"].shape == (9, VOCABULARY)


def test_dropout_applies_in_training_only():
    hidden, context, previous = make_inputs((4, 6), seed=4)
    layer = DeepOutput(VOCABULARY, dropout=0.5)
    inference = layer(hidden, context, previous)
    expected = equation_7(named_weights(layer), hidden, context, previous)
    assert relative_error(to_numpy(inference), expected) < 1e-5
    training = layer(hidden, context, previous, training=True)
    assert relative_error(to_numpy(training), expected) > 1e-2


def test_initial_kernels_are_distinct():
    # Context and hidden of one size: equal kernels would show.
    rng = np.random.default_rng(5)
    hidden = rng.normal(size=(2, 6)).astype("float32")
    previous = rng.normal(size=(2, 6)).astype("float32")
    for initializer in ("glorot_uniform", keras.initializers.HeNormal(7)):
        layer = DeepOutput(6, kernel_initializer=initializer)
        layer(hidden, hidden, previous)
        weights = named_weights(layer)
        kernels = [
            weights[f"{name}/kernel"]
            for name in ("hidden_projection", "context_projection")
        ] + [weights["output_projection/kernel"]]
        for i in range(3):
            for j in range(i + 1, 3):
                assert not np.allclose(kernels[i], kernels[j])
    # A seeded initializer stays reproducible.
    twins = [DeepOutput(6, kernel_initializer=keras.initializers.HeNormal(7))]
    twins.append(
        DeepOutput(6, kernel_initializer=keras.initializers.HeNormal(7))
    )
    for twin in twins:
        twin(hidden, hidden, previous)
    for a, b in zip(twins[0].weights, twins[1].weights, strict=True):
        np.testing.assert_array_equal(to_numpy(a), to_numpy(b))


@pytest.mark.parametrize(
    "options, arguments, message",
    [
        ({}, {"context": None}, "`context` is required when use_context"),
        (
            {"use_context": False},
            {},
            "`context` must be None when use_context=False",
        ),
        (
            {},
            {"previous_embedding": None},
            "`previous_embedding` is required when use_previous_token",
        ),
        (
            {"use_previous_token": False},
            {},
            "`previous_embedding` must be None when use_previous_token",
        ),
        (
            {"units": 6},
            {},
            r"previous_embedding.shape=\(2, 3, 4\), units=6",
        ),
        (
            {},
            {"hidden": np.zeros((2, 3, 1, 5), "float32")},
            "`hidden` must have rank 2",
        ),
        (
            {},
            {"context": np.zeros((2, 7), "float32")},
            "`context` must have the rank of `hidden`",
        ),
    ],
)
def test_bad_inputs_are_named(options, arguments, message):
    hidden, context, previous = make_inputs()
    inputs = {
        "hidden": hidden,
        "context": context,
        "previous_embedding": previous,
    }
    inputs.update(arguments)
    with pytest.raises(ValueError, match=message):
        DeepOutput(VOCABULARY, **options)(**inputs)


@pytest.mark.parametrize(
    "options, message",
    [
        ({"vocabulary_size": 0}, "`vocabulary_size` must be a positive"),
        ({"vocabulary_size": 2.5}, "`vocabulary_size` must be a positive"),
        ({"units": -1}, "`units` must be a positive integer or None"),
        ({"dropout": 1.0}, r"`dropout` must be in \[0, 1\)"),
    ],
)
def test_bad_arguments(options, message):
    arguments = {"vocabulary_size": VOCABULARY}
    arguments.update(options)
    with pytest.raises(ValueError, match=message):
        DeepOutput(**arguments)


def captioner_head():
    hidden = keras.Input((None, 5))
    context = keras.Input((None, 7))
    previous_ids = keras.Input((None,), dtype="int32")
    previous = keras.layers.Embedding(VOCABULARY, 4)(previous_ids)
    logits = DeepOutput(VOCABULARY, dropout=0.2)(hidden, context, previous)
    return keras.Model([hidden, context, previous_ids], logits)


def head_inputs(seed=6):
    hidden, context, _ = make_inputs(seed=seed)
    ids = np.random.default_rng(seed).integers(0, VOCABULARY, size=(2, 3))
    return [hidden, context, ids.astype("int32")]


def test_save_load_and_jit(tmp_path):
    inputs = head_inputs()
    model = captioner_head()
    expected = to_numpy(model(inputs))
    model.save(tmp_path / "head.keras")
    restored = keras.saving.load_model(tmp_path / "head.keras")
    np.testing.assert_array_equal(to_numpy(restored(inputs)), expected)
    layer = model.layers[-1]
    assert isinstance(restored.layers[-1], DeepOutput)
    config = layer.get_config()
    assert DeepOutput.from_config(config).get_config() == config
    if keras.backend.backend() == "torch":
        return  # jit_compile on torch means torch.compile (dynamo)
    model.compile(jit_compile=True)
    compiled = model.predict(inputs, verbose=0)
    np.testing.assert_allclose(compiled, expected, rtol=1e-5, atol=1e-5)


def test_trains_in_a_model():
    inputs = head_inputs(seed=7)
    model = captioner_head()
    model.compile(
        optimizer="adam",
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        jit_compile=False,
    )
    before = [to_numpy(w).copy() for w in model.trainable_weights]
    history = model.fit(inputs, inputs[2], epochs=2, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    for old, new in zip(before, model.trainable_weights, strict=True):
        assert not np.array_equal(old, to_numpy(new))


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_mixed_precision(policy):
    keras.config.set_dtype_policy(policy)
    hidden, context, previous = make_inputs(seed=8)
    layer = DeepOutput(VOCABULARY)
    logits = layer(hidden, context, previous)
    compute_dtype = policy.split("_")[1]
    assert keras.backend.standardize_dtype(logits.dtype) == compute_dtype
    assert keras.backend.standardize_dtype(layer.weights[0].dtype) == (
        "float32"
    )
    expected = equation_7(named_weights(layer), hidden, context, previous)
    assert relative_error(to_numpy(logits).astype("float32"), expected) < 3e-2
