"""`AttentionRNN` files keep the weight layout they had before the parts.

The step styles, the context pipeline and the coverage are plain objects;
the weights stay on the layer's own sublayers. The `.keras` weight layouts
below were read from files saved before that split (commit 426da33), so
files saved then still load.
"""

import io
import zipfile

import h5py
import keras
import numpy as np
import pytest

from keras_attention.layers import AttentionRNN
from keras_attention.layers import BahdanauAttention
from keras_attention.layers import LuongAttention
from tests.conftest import to_numpy

PREFIX = "layers/attention_rnn/"
GRU_CELL = [("vars/0", (12, 24)), ("vars/1", (8, 24)), ("vars/2", (2, 24))]
BAHDANAU = [
    ("attention/_key_dense/vars/0", (8, 6)),
    ("attention/_query_dense/vars/0", (8, 6)),
    ("attention/vars/0", (6,)),
    ("attention/vars/1", (6,)),
]
GATE = [("_context_gate/vars/0", (8, 1)), ("_context_gate/vars/1", (1,))]

DECODERS = {
    "bahdanau_gate_hard": (
        lambda: AttentionRNN(
            keras.layers.GRUCell(8),
            BahdanauAttention(6),
            style="bahdanau",
            context_gate=True,
            attention_sampling="hard",
            seed=3,
        ),
        GATE + BAHDANAU + [("cell/" + key, shape) for key, shape in GRU_CELL],
    ),
    "luong_input_feeding": (
        lambda: AttentionRNN(
            keras.layers.LSTMCell(8),
            LuongAttention("general"),
            input_feeding=True,
            attentional_units=5,
        ),
        [
            ("_attentional_dense/vars/0", (16, 5)),
            ("attention/_query_dense/vars/0", (8, 8)),
            ("cell/vars/0", (9, 32)),
            ("cell/vars/1", (8, 32)),
            ("cell/vars/2", (32,)),
        ],
    ),
    "see_coverage": (
        lambda: AttentionRNN(
            keras.layers.LSTMCell(8),
            BahdanauAttention(6, coverage=True),
            output_projection=False,
            input_feeding=True,
            coverage=True,
        ),
        BAHDANAU
        + [
            ("attention/vars/2", (6,)),
            ("cell/vars/0", (12, 32)),
            ("cell/vars/1", (8, 32)),
            ("cell/vars/2", (32,)),
        ],
    ),
    "stacked_luong_gate": (
        lambda: AttentionRNN(
            [keras.layers.GRUCell(8), keras.layers.GRUCell(8)],
            LuongAttention("general"),
            input_feeding=True,
            context_gate=True,
        ),
        [("_attentional_dense/vars/0", (16, 8))]
        + GATE
        + [("attention/_query_dense/vars/0", (8, 8))]
        + [("cell/cells/gru_cell/" + key, shape) for key, shape in GRU_CELL]
        + [
            ("cell/cells/gru_cell_1/vars/0", (8, 24)),
            ("cell/cells/gru_cell_1/vars/1", (8, 24)),
            ("cell/cells/gru_cell_1/vars/2", (2, 24)),
        ],
    ),
}


def _saved_layout(path):
    with zipfile.ZipFile(path) as archive:
        data = archive.read("model.weights.h5")
    layout = []
    with h5py.File(io.BytesIO(data), "r") as weights:
        weights.visititems(
            lambda name, item: (
                layout.append((name, tuple(item.shape)))
                if isinstance(item, h5py.Dataset)
                else None
            )
        )
    return sorted(layout)


@pytest.mark.parametrize("name", sorted(DECODERS))
def test_saved_weight_layout_is_unchanged(name, tmp_path):
    make_decoder, expected = DECODERS[name]
    keras.utils.set_random_seed(1)
    inputs = keras.Input((5, 4))
    memory = keras.Input((7, 8))
    outputs, weights, _ = make_decoder()(inputs, memory)
    model = keras.Model([inputs, memory], [outputs, weights])
    path = tmp_path / f"{name}.keras"
    model.save(path)
    assert _saved_layout(path) == sorted(
        (PREFIX + key, shape) for key, shape in expected
    )
    rng = np.random.default_rng(0)
    data = [
        rng.normal(size=(3, 5, 4)).astype("float32"),
        rng.normal(size=(3, 7, 8)).astype("float32"),
    ]
    loaded = keras.saving.load_model(path)
    for before, after in zip(model(data), loaded(data), strict=True):
        np.testing.assert_array_equal(to_numpy(before), to_numpy(after))
