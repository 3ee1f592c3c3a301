"""A hard-attention captioner saves and loads its REINFORCE baseline.

The baseline is a weight of the loss layer; the model builds it with its
first call, so a saved model holds it and a loaded one is fully built
(no Keras warning of unbuilt state).
"""

import warnings

import keras
import pytest

pytest.importorskip("tensorflow")

from tests.zoo.tiny_models import tiny_captioner  # noqa: E402


def test_hard_attention_baseline_is_built_saved_and_loaded(tmp_path):
    model = tiny_captioner(attention="hard")
    assert model.hard_attention_loss.built
    model.hard_attention_loss.baseline.assign(-1.25)
    path = tmp_path / "hard.keras"
    model.save(path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        loaded = keras.saving.load_model(path, compile=False)
    assert not [w for w in caught if "build()" in str(w.message)]
    baseline = loaded.hard_attention_loss.baseline
    assert float(keras.ops.convert_to_numpy(baseline)) == -1.25
