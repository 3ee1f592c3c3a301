"""The decoders' compiled programs: one per model, key and kind of program."""

import keras
import numpy as np
import pytest

from zoo.compiled import XLA_MIN_ROWS
from zoo.compiled import compiled
from zoo.compiled import padded_batch_size
from zoo.compiled import padded_batch_sizes


def doubled_sum(model):
    def function(values):
        return keras.ops.sum(model(values) * 2.0, axis=-1)

    return function


def dense_model():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.layers[0].kernel.assign(np.arange(6, dtype="float32").reshape(3, 2))
    return model


def test_padded_batch_sizes_are_powers_of_two_up_to_the_batch():
    assert [padded_batch_size(n, 64) for n in (1, 3, 4, 33, 64)] == [
        1,
        4,
        4,
        64,
        64,
    ]
    # 100 rows in batches of 64: one full batch, then 36 padded to 64.
    assert padded_batch_sizes(100, 64) == [64]
    assert padded_batch_sizes(70, 64) == [8, 64]


def test_one_function_per_model_and_key_computes_the_model():
    model = dense_model()
    values = np.ones((4, 3), "float32")
    function = compiled(model, "sum", doubled_sum(model), num_rows=4)
    assert compiled(model, "sum", doubled_sum(model), num_rows=4) is function
    assert compiled(model, "other", doubled_sum(model), 4) is not function
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(function(values)), [30.0] * 4
    )
    # Weights changed after compiling are read at the next call.
    model.layers[0].kernel.assign(np.zeros((3, 2), "float32"))
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(function(values)), [0.0] * 4
    )


@pytest.mark.skipif(
    keras.backend.backend() != "tensorflow",
    reason="XLA or a graph is TensorFlow's choice",
)
@pytest.mark.parametrize(
    "num_rows, xla", [(1, False), (XLA_MIN_ROWS - 1, False), (None, True)]
)
def test_few_rows_run_a_graph_and_many_an_xla_program(num_rows, xla):
    model = dense_model()
    few = compiled(model, "sum", doubled_sum(model), num_rows)
    many = compiled(model, "sum", doubled_sum(model), XLA_MIN_ROWS)
    assert (few is many) == xla
    values = np.ones((2, 3), "float32")
    concrete = few.get_concrete_function(values)
    must_compile = concrete.function_def.attr["_XlaMustCompile"].b
    assert must_compile == xla
    np.testing.assert_allclose(
        few(values).numpy(), many(values).numpy(), rtol=1e-6
    )
