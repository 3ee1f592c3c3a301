"""Every kernel of a layer starts from its own random values (issue 9).

An unseeded Keras 3 initializer repeats its values on every call, so a layer
that hands one initializer to several weights starts with equal kernels (or,
for different shapes, proportional leading blocks). The layers clone the
initializer per weight; these tests check that the kernels differ, that
seeded and `set_random_seed` builds stay reproducible and that the config
still holds the user's initializer.
"""

import keras
import numpy as np
import pytest

from keras_attention.layers import AttentionRNN
from keras_attention.layers import BahdanauAttention
from keras_attention.layers import LuongAttention
from keras_attention.layers import MultiHeadAttention
from keras_attention.layers._attention_utils import clone_initializer
from tests.conftest import to_numpy
from tests.layers.helpers import named_weights

DIM = 64


def attention_layers(seed=None):
    """Factories of the layers with several projections.

    The factories of one call share their initializer objects, as layers
    given the same initializer do.
    """
    init = dict(kernel_initializer=keras.initializers.GlorotUniform(seed))
    bias = keras.initializers.RandomNormal(seed=None if seed is None else 2)
    return {
        "multi_head": lambda: MultiHeadAttention(
            4, 16, bias_initializer=bias, **init
        ),
        "multi_head_gqa": lambda: MultiHeadAttention(
            4, 16, num_key_value_heads=2, **init
        ),
        "bahdanau": lambda: BahdanauAttention(16, **init),
        "bahdanau_normalized": lambda: BahdanauAttention(
            16, normalize=True, **init
        ),
        "luong_general_local_p": lambda: LuongAttention(
            "general", units=16, alignment="local-p", window=2, **init
        ),
        "luong_concat": lambda: LuongAttention("concat", units=16, **init),
        "luong_location_local_p": lambda: LuongAttention(
            "location", units=16, alignment="local-p", window=2, **init
        ),
    }


NAMES = sorted(attention_layers())


def built(make_layer):
    layer = make_layer()
    inputs = np.zeros((2, 5, DIM), "float32")
    if isinstance(layer, AttentionRNN):
        layer(inputs[..., :8], inputs)
    else:
        layer(inputs, inputs)
    return layer


DECODERS = {
    "rnn_bahdanau": lambda: AttentionRNN(
        keras.layers.GRUCell(16), BahdanauAttention(16), style="bahdanau"
    ),
    # The Luong style owns one more kernel, the attentional projection.
    "rnn_luong": lambda: AttentionRNN(
        keras.layers.LSTMCell(16), LuongAttention("concat", 16)
    ),
}


def random_weights(layer):
    """The weights drawn from random initializers (kernels, random biases)."""
    return {
        name: value
        for name, value in named_weights(layer).items()
        if np.unique(value).size > 2  # not zeros, ones or a constant
    }


def assert_unrelated(name_a, a, name_b, b):
    """Neither equal nor proportional over the leading block both share.

    One initializer called for two shapes draws the same stream, scaled by
    each shape's fans, so equal leading blocks up to a scale are the symptom.
    """
    a, b = a.ravel(), b.ravel()
    size = min(a.size, b.size)
    correlation = np.corrcoef(a[:size], b[:size])[0, 1]
    assert abs(correlation) < 0.9, (name_a, name_b, correlation)


def assert_all_unrelated(layer):
    weights = random_weights(layer)
    assert len(weights) >= 2, sorted(named_weights(layer))
    names = sorted(weights)
    for i, name_a in enumerate(names):
        for name_b in names[i + 1 :]:
            assert_unrelated(name_a, weights[name_a], name_b, weights[name_b])


def assert_same_weights(layer_a, layer_b):
    # In creation order: nested layers' automatic names differ between builds.
    assert len(layer_a.weights) == len(layer_b.weights)
    for a, b in zip(layer_a.weights, layer_b.weights, strict=True):
        np.testing.assert_array_equal(to_numpy(a), to_numpy(b), err_msg=a.path)


@pytest.fixture(autouse=True)
def fixed_seed():
    # Unseeded initializers draw their seeds from Python's `random`; seeding
    # it keeps the correlations checked here the same on every run.
    keras.utils.set_random_seed(0)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("seed", [None, 1])
def test_kernels_differ_at_init(name, seed):
    assert_all_unrelated(built(attention_layers(seed)[name]))


@pytest.mark.parametrize("name", sorted(DECODERS))
def test_decoder_kernels_differ_at_init(name):
    # The cell's, the attention's and the decoder's own kernels.
    assert_all_unrelated(built(DECODERS[name]))


def test_multi_head_query_key_value_kernels_differ():
    """The case of the issue, on Keras's own shapes."""
    weights = named_weights(built(lambda: MultiHeadAttention(4, 16)))
    kernels = [weights[f"{part}/kernel"] for part in ("query", "key", "value")]
    assert not np.array_equal(kernels[0], kernels[1])
    assert not np.array_equal(kernels[0], kernels[2])
    assert not np.array_equal(kernels[1], kernels[2])


@pytest.mark.parametrize("name", NAMES)
def test_seeded_initializer_is_reproducible(name):
    # Two layers, each given its own seeded initializer, and two layers
    # sharing one: all four start from the same weights.
    make_layer = attention_layers(seed=1)[name]
    first = built(make_layer)
    keras.utils.set_random_seed(123)  # a seeded build ignores the global seed
    assert_same_weights(first, built(attention_layers(seed=1)[name]))
    assert_same_weights(first, built(make_layer))


@pytest.mark.parametrize("name", NAMES + sorted(DECODERS))
def test_global_seed_makes_unseeded_builds_reproducible(name):
    make_layer = {**attention_layers(), **DECODERS}[name]
    keras.utils.set_random_seed(7)
    first = built(make_layer)
    keras.utils.set_random_seed(7)
    assert_same_weights(first, built(make_layer))


@pytest.mark.parametrize("name", ["multi_head_gqa", "bahdanau", "luong_concat"])
def test_keras_round_trip_keeps_the_users_initializer(name, tmp_path):
    layer = attention_layers(seed=1)[name]()
    inputs = keras.Input((5, DIM))
    model = keras.Model(inputs, layer(inputs, inputs))
    config = layer.get_config()
    assert config["kernel_initializer"] == keras.initializers.serialize(
        keras.initializers.GlorotUniform(seed=1)
    )
    path = tmp_path / "model.keras"
    model.save(path)
    restored = keras.saving.load_model(path).layers[-1]
    assert restored.get_config() == config
    assert_same_weights(layer, restored)


def test_clone_initializer():
    unseeded = keras.initializers.GlorotUniform()
    clone = clone_initializer(unseeded, 3)
    assert type(clone) is keras.initializers.GlorotUniform
    assert clone.get_config() == unseeded.get_config()  # still unseeded
    assert not np.array_equal(clone((4, 4)), unseeded((4, 4)))

    initializer = keras.initializers.GlorotUniform(seed=1)
    assert clone_initializer(initializer, 0).get_config()["seed"] == 1
    derived = clone_initializer(initializer, 2).get_config()["seed"]
    assert derived != 1 and 0 <= derived < 2**31
    assert clone_initializer(initializer, 2).get_config()["seed"] == derived
    assert initializer.get_config()["seed"] == 1  # the original is untouched

    # A SeedGenerator already draws new values per call; a clone would
    # restart it and repeat them, so it is kept.
    generated = keras.initializers.GlorotUniform(
        seed=keras.random.SeedGenerator(1)
    )
    assert clone_initializer(generated, 1) is generated

    def plain_function(shape, dtype=None):
        return keras.ops.zeros(shape, dtype)

    assert clone_initializer(plain_function, 1) is plain_function
    constant = keras.initializers.Constant(2.0)
    assert clone_initializer(constant, 1).get_config() == constant.get_config()
