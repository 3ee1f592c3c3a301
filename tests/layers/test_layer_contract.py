"""What every public attention layer promises, checked on each of them."""

import keras
import numpy as np
import pytest

import keras_attention
from keras_attention.layers import AttentionRNN
from keras_attention.layers import BahdanauAttention
from keras_attention.layers import DeepOutput
from keras_attention.layers import HardAttentionLoss
from keras_attention.layers import LuongAttention
from keras_attention.layers import MultiHeadAttention
from keras_attention.layers import PointerGenerator
from tests.conftest import gradient
from tests.conftest import to_numpy

DIM = 8
LAYERS = {
    "bahdanau": lambda: BahdanauAttention(6),
    "bahdanau_normalized": lambda: BahdanauAttention(6, normalize=True),
    "luong_dot": lambda: LuongAttention("dot", use_scale=True),
    "luong_general_local_p": lambda: LuongAttention(
        "general", alignment="local-p", window=2
    ),
    "luong_concat_local_m": lambda: LuongAttention(
        "concat", units=5, alignment="local-m", window=3
    ),
    "luong_location": lambda: LuongAttention("location", units=12),
    "multi_head": lambda: MultiHeadAttention(
        num_heads=2, key_dim=4, num_key_value_heads=1
    ),
}


def weights_of(result):
    return to_numpy(result[1])


def padded_tokens(seed=0):
    """Token ids with zero padding: row 1 is short, row 2 is empty."""
    rng = np.random.default_rng(seed)
    source = rng.integers(1, 20, size=(3, 9))
    source[1, 5:] = 0
    source[2, :] = 0
    target = rng.integers(1, 20, size=(3, 6))
    target[0, 4:] = 0
    return source.astype("int32"), target.astype("int32")


def functional_model(make_layer):
    source = keras.Input((None,), dtype="int32", name="source")
    target = keras.Input((None,), dtype="int32", name="target")
    embedding = keras.layers.Embedding(20, DIM, mask_zero=True)
    context, weights = make_layer()(
        embedding(target), embedding(source), return_attention_scores=True
    )
    return keras.Model([source, target], [context, weights])


@pytest.fixture(params=sorted(LAYERS))
def make_layer(request):
    return LAYERS[request.param]


def test_keras_masks_equal_explicit_masks(make_layer):
    source, target = padded_tokens()
    model = functional_model(make_layer)
    context, weights = model([source, target])
    embedding, layer = model.layers[2], model.layers[3]
    explicit_context, explicit_weights = layer(
        embedding(target),
        embedding(source),
        query_mask=target != 0,
        value_mask=source != 0,
        return_attention_scores=True,
    )
    np.testing.assert_allclose(to_numpy(context), to_numpy(explicit_context))
    np.testing.assert_allclose(to_numpy(weights), to_numpy(explicit_weights))
    weights = to_numpy(weights)
    if weights.ndim == 4:
        weights = weights.transpose(0, 2, 1, 3)  # [batch, Tq, heads, Tv]
    # Masked sources get exactly zero weight, empty sources give zeros.
    assert np.all(weights[1, ..., 5:] == 0.0)
    assert np.all(weights[2] == 0.0)
    assert np.all(to_numpy(context)[2] == 0.0)
    # Masked query steps give zero weights and a zero context.
    assert np.all(weights[0, 4:] == 0.0)
    assert np.all(to_numpy(context)[0, 4:] == 0.0)
    assert np.isfinite(to_numpy(context)).all()


def test_fully_masked_rows_have_finite_gradients(make_layer):
    rng = np.random.default_rng(1)
    query = rng.normal(size=(2, 3, DIM)).astype("float32")
    value = rng.normal(size=(2, 9, DIM)).astype("float32")
    value_mask = np.ones((2, 9), bool)
    value_mask[1] = False
    layer = make_layer()
    layer(query, value)

    def total(value_tensor):
        return layer(query, value_tensor, value_mask=value_mask)

    grad = gradient(total, value)
    assert np.isfinite(grad).all()
    assert np.all(grad[1] == 0.0)
    assert np.abs(grad[0]).sum() > 0


def test_save_and_load_give_identical_outputs(make_layer, tmp_path):
    source, target = padded_tokens(seed=2)
    model = functional_model(make_layer)
    expected = [to_numpy(x) for x in model([source, target])]
    path = str(tmp_path / "model.keras")
    model.save(path)
    restored = keras.saving.load_model(path)
    actual = [to_numpy(x) for x in restored([source, target])]
    for a, e in zip(actual, expected, strict=True):
        np.testing.assert_array_equal(a, e)
    assert type(restored.layers[3]) is type(model.layers[3])
    config = model.layers[3].get_config()
    assert type(model.layers[3]).from_config(config).get_config() == config


def test_sequential_self_attention(make_layer, tmp_path):
    model = keras.Sequential(
        [
            keras.Input((9,), dtype="int32"),
            keras.layers.Embedding(20, DIM, mask_zero=True),
            make_layer(),
            keras.layers.GlobalAveragePooling1D(),
            keras.layers.Dense(2),
        ]
    )
    source, _ = padded_tokens(seed=3)
    expected = to_numpy(model(source))
    assert expected.shape == (3, 2)
    model.save(tmp_path / "sequential.keras")
    restored = keras.saving.load_model(tmp_path / "sequential.keras")
    np.testing.assert_array_equal(to_numpy(restored(source)), expected)


class Reader(keras.Model):
    def __init__(self, make_layer, **kwargs):
        super().__init__(**kwargs)
        self.embedding = keras.layers.Embedding(20, DIM, mask_zero=True)
        self.attention = make_layer()
        self.head = keras.layers.Dense(3)

    def call(self, inputs):
        source, target = inputs
        context = self.attention(self.embedding(target), self.embedding(source))
        return self.head(context)


def test_subclassed_model_trains_and_jit_equals_eager(make_layer):
    if keras.backend.backend() == "torch":
        pytest.skip("jit_compile on torch means torch.compile (dynamo)")
    source, target = padded_tokens(seed=4)
    model = Reader(make_layer)
    labels = np.random.default_rng(5).integers(0, 3, size=target.shape)
    model.compile(
        optimizer="adam",
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        jit_compile=True,
    )
    history = model.fit(
        (source, target), labels, epochs=3, batch_size=3, verbose=0
    )
    assert np.isfinite(history.history["loss"]).all()
    eager = to_numpy(model((source, target)))
    compiled = model.predict((source, target), verbose=0)
    np.testing.assert_allclose(compiled, eager, rtol=1e-5, atol=1e-5)


def large_logit_layer(name):
    """A layer and inputs whose attention logits reach +-1e4."""
    query = np.array([[[1.0], [-1.0]]], "float32")
    value = np.array([[[1.0], [-1.0], [0.5]]], "float32")
    if name == "bahdanau":
        layer = BahdanauAttention(1, use_bias=False)
        layer(query, value)
        for weight in layer.weights:
            scale = 1e4 if weight.path.endswith("score_vector") else 1.0
            weight.assign(np.full(weight.shape, scale))
        return layer, query * 5, value * 5
    if name == "luong":
        return LuongAttention("dot"), query * 100, value * 100
    layer = MultiHeadAttention(1, 1, use_bias=False)
    layer(query, value)
    for weight in layer.weights:
        weight.assign(np.ones(weight.shape))
    return layer, query * 100, value * 100


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
@pytest.mark.parametrize("name", ["bahdanau", "luong", "multi_head"])
def test_mixed_precision_weights_sum_to_one(policy, name):
    keras.config.set_dtype_policy(policy)
    layer, query, value = large_logit_layer(name)
    output, weights = layer(query, value, return_attention_scores=True)
    weights = to_numpy(weights).astype("float32")
    assert layer.compute_dtype == policy.split("_")[1]
    assert np.isfinite(weights).all()
    assert np.isfinite(to_numpy(output).astype("float32")).all()
    np.testing.assert_allclose(weights.sum(-1), 1.0, atol=1e-3)
    assert weights.max() > 0.99  # logits this far apart pick one position


def test_mixed_precision_models_train(make_layer):
    keras.config.set_dtype_policy("mixed_float16")
    source, target = padded_tokens(seed=6)
    model = functional_model(make_layer)
    assert model.layers[3].compute_dtype == "float16"
    context, weights = model([source, target])
    assert np.isfinite(to_numpy(context).astype("float32")).all()


@pytest.mark.parametrize(
    "query_shape, value_shape, key_shape, mask_shape, message",
    [
        ((2, 3, 4, 5), (2, 6, 4), None, None, "`query` must have rank 2"),
        ((2, 3, 4), (2, 6), None, None, "`value` must have rank 3"),
        ((2, 3, 4), (2, 6, 4), (2, 5, 4), None, "same length"),
        ((2, 3, 4), (2, 6, 4), None, (2, 5), "`value_mask` must have shape"),
        ((2, 0, 4), (2, 6, 4), None, None, "at least one time step"),
        ((2, 3, 4), (2, 0, 4), None, None, "at least one time step"),
    ],
)
def test_bad_shapes_are_named(
    make_layer, query_shape, value_shape, key_shape, mask_shape, message
):
    key = None if key_shape is None else np.zeros(key_shape, "float32")
    mask = None if mask_shape is None else np.ones(mask_shape, bool)
    with pytest.raises(ValueError, match=message):
        make_layer()(
            np.zeros(query_shape, "float32"),
            np.zeros(value_shape, "float32"),
            key=key,
            value_mask=mask,
        )


def test_memories_share_one_layout(make_layer):
    # Every layer's memory: "key"/"value" with the source second to last
    # (heads, if any, before it) and a `[batch, Tv]` mask; `init_cache` gives
    # the same dict for `max_length` positions, all masked.
    rng = np.random.default_rng(7)
    value = rng.normal(size=(2, 5, DIM)).astype("float32")
    layer = make_layer()
    layer(value[:, :3], value)
    memory = layer.precompute_memory(value, value_mask=np.ones((2, 5), bool))
    cache = layer.init_cache(batch_size=2, max_length=7)
    assert set(memory) == set(cache) == {"key", "value", "value_mask"}
    assert tuple(memory["value_mask"].shape) == (2, 5)
    assert tuple(cache["value_mask"].shape) == (2, 7)
    assert not to_numpy(cache["value_mask"]).any()
    for name in ("key", "value"):
        shape = tuple(memory[name].shape)
        assert shape[0] == 2 and shape[-2] == 5
        assert tuple(cache[name].shape) == shape[:-2] + (7, shape[-1])


# Local-p's window depends on the source length, which grows with a cache.
CACHEABLE = sorted(set(LAYERS) - {"luong_general_local_p"})


@pytest.mark.parametrize("name", CACHEABLE)
def test_cached_steps_equal_causal_self_attention(name):
    sequence = np.random.default_rng(8).normal(size=(2, 5, DIM))
    sequence = sequence.astype("float32")
    layer = LAYERS[name]()
    full, full_weights = layer(
        sequence, use_causal_mask=True, return_attention_scores=True
    )
    cache = layer.init_cache(batch_size=2, max_length=5)
    outputs, weights = [], []
    for step in range(5):
        output, step_weights, cache = layer(
            sequence[:, step],
            use_causal_mask=True,
            return_attention_scores=True,
            cache=cache,
            query_start_index=step,
        )
        outputs.append(to_numpy(output))
        weights.append(to_numpy(step_weights))
    np.testing.assert_allclose(
        np.stack(outputs, 1), to_numpy(full), rtol=1e-5, atol=1e-5
    )
    # One step's weights are `[batch, (heads,) Tv]`: steps go second to last.
    np.testing.assert_allclose(
        np.stack(weights, -2), to_numpy(full_weights), rtol=1e-5, atol=1e-6
    )
    assert to_numpy(cache["value_mask"]).all()


# Every public layer, attention or not, is registered for saving and is
# rebuilt from its config (their own test files check saved models).
PUBLIC_LAYERS = {
    "AttentionRNN": lambda: AttentionRNN(
        keras.layers.GRUCell(4),
        BahdanauAttention(3),
        style="bahdanau",
        context_gate=True,
        attention_sampling="hard",
        expected_context_rate=0.25,
        seed=5,
    ),
    "BahdanauAttention": LAYERS["bahdanau"],
    "DeepOutput": lambda: DeepOutput(7, units=3, activation=None),
    "HardAttentionLoss": lambda: HardAttentionLoss(0.8, entropy_weight=0.0),
    "LuongAttention": LAYERS["luong_concat_local_m"],
    "MultiHeadAttention": LAYERS["multi_head"],
    "PointerGenerator": lambda: PointerGenerator(
        kernel_initializer="he_normal", bias_initializer="ones"
    ),
}


def test_every_public_layer_is_listed():
    exported = {
        name
        for name in keras_attention.layers.__all__
        if isinstance(getattr(keras_attention.layers, name), type)
        and issubclass(getattr(keras_attention.layers, name), keras.Layer)
        and name != "BaseAttention"
    }
    assert exported == set(PUBLIC_LAYERS)


@pytest.mark.parametrize("name", sorted(PUBLIC_LAYERS))
def test_public_layers_are_registered_and_rebuilt_from_config(name):
    layer = PUBLIC_LAYERS[name]()
    registered = keras.saving.get_registered_name(type(layer))
    assert registered == f"keras_attention>{name}"
    restored = keras.layers.deserialize(keras.layers.serialize(layer))
    assert type(restored) is type(layer)
    assert restored.get_config() == layer.get_config()
