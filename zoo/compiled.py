"""Decoders compiled once per model, for the backend that runs them.

A decoding loop runs many small ops per step; compiled as one program
(XLA or a graph on TensorFlow, `jax.jit` on JAX) it is several times
faster than op by op. The compiled functions are cached per model
(weakly, so models can be freed) and per key (the decoding settings).
"""

import weakref

import keras
import numpy as np

_COMPILED = weakref.WeakKeyDictionary()
# On TensorFlow, XLA takes 1-2 s longer to compile a decoding loop than
# TensorFlow takes to trace it as a graph, then decodes about 1.5x faster
# (an untrained dates translator, 2,048 sentences: Bahdanau greedy 0.17
# against 0.26 ms a sentence, beam 4 0.37 against 0.59). Test splits
# (300 rows and more in every main job) are decoded with XLA; fewer rows
# (a command's few texts, an epoch's attention samples, a tiny run) run
# the graph, which is ready sooner.
XLA_MIN_ROWS = 256


def compiled(model, key, function, num_rows=None):
    """`function(*arrays)` compiled for the backend, cached per model and key.

    Args:
        model: The Keras model whose weights `function` reads.
        key: A hashable value naming what `function` computes (the
            decoding settings): one compiled function per key and model.
        function: A function of tensors (the arrays to decode) that calls
            `model`.
        num_rows: How many rows the caller decodes with it, if known. On
            TensorFlow, fewer than `XLA_MIN_ROWS` run a graph (ready
            sooner), more an XLA program (faster per row).

    Returns:
        A function of the same arguments. On JAX the model's current
        weights are passed into the compiled program at every call, so it
        stays right while training goes on; on PyTorch it is `function`.
    """
    functions = _COMPILED.setdefault(model, {})
    backend = keras.backend.backend()
    if backend == "tensorflow":
        xla = num_rows is None or num_rows >= XLA_MIN_ROWS
        key = (key, xla)
    if key not in functions:
        if backend == "tensorflow":
            import tensorflow as tf

            functions[key] = tf.function(
                function, jit_compile=xla, autograph=False
            )
        elif backend == "jax":
            functions[key] = _jax_compiled(model, function)
        else:
            functions[key] = function
    return functions[key]


def _jax_compiled(model, function):
    """A `jax.jit` function that reads the model's current weights."""
    import jax

    @jax.jit
    def run_with(values, *arrays):
        mapping = list(zip(model.variables, values, strict=True))
        with keras.StatelessScope(state_mapping=mapping):
            return function(*arrays)

    def run(*arrays):
        # Passed in, not captured: a captured weight would be a constant
        # of the compiled program, stale once training goes on.
        return run_with([v.value for v in model.variables], *arrays)

    return run


def padded_batch_size(count, batch_size):
    """The rows a batch of `count` is padded to for a compiled decoder.

    A full batch keeps its size; a smaller (last) one is padded to the next
    power of two, so that a few compiled programs serve every size.
    """
    return min(batch_size, 1 << (count - 1).bit_length())


def padded_batch_sizes(num_rows, batch_size):
    """The padded sizes of the batches of `num_rows` rows, each once."""
    return sorted(
        {
            padded_batch_size(min(batch_size, num_rows - start), batch_size)
            for start in range(0, num_rows, batch_size)
        }
    )


def compile_padded_batches(decode, first_rows, num_rows, batch_size):
    """Compiles `decode` for every padded shape of a loop's batches.

    Call it before timing a decoding loop that cuts `num_rows` rows into
    batches of `batch_size` padded with `padded_batch_size`: each shape
    seen for the first time compiles (seconds). One row per shape is
    decoded, repeated to the padded size.

    Args:
        decode: A function of `compiled`, called with one batch per array.
        first_rows: The first row of each array `decode` takes, `[1, ...]`,
            of the dtype the loop gives it.
        num_rows: The rows the loop decodes.
        batch_size: The loop's batch size.
    """
    for size in padded_batch_sizes(num_rows, batch_size):
        decode(*(np.repeat(row, size, axis=0) for row in first_rows))
