"""Times the attention layers against their nearest Keras built-ins.

Two measurements, each with its peer in the same run:

1. One training step (forward, backward and an SGD update through
   `model.train_on_batch`) of a tiny model around each of our layers against
   the same model around the nearest Keras layer, on the same inputs:

   - `MultiHeadAttention` vs `keras.layers.MultiHeadAttention`
     (self-attention with a padding mask);
   - `LuongAttention("dot")` vs `keras.layers.Attention()`;
   - `BahdanauAttention(units=dim, use_bias=False)` vs two
     `keras.layers.Dense(dim, use_bias=False)` followed by
     `keras.layers.AdditiveAttention(use_scale=True)`, which is the same
     math.

   Both layers of a pair are timed alternately (ours, peer, ours, peer, ...)
   and the median is reported, so that background load on a shared machine
   slows both alike.

2. Decoding `--decode-steps` steps of a causal self-attention
   `MultiHeadAttention` one step at a time with its key/value cache, against
   recomputing the attention over the whole prefix (padded to the full
   length) at every step and keeping the last row. Both loops run in
   `keras.ops.fori_loop` inside one compiled function.

The backend comes from `KERAS_BACKEND` (TensorFlow by default).

Usage:

    python -m bench.layers --batch 64 --dim 256 --lengths 64 256 --repeats 20
"""

import argparse
import dataclasses
import datetime
import os
import platform
import sys

import keras
import numpy as np

from bench.common import compile_function
from bench.common import cpu_name
from bench.common import jit_compile_argument
from bench.common import positive_int
from bench.common import time_interleaved
from keras_attention.layers import BahdanauAttention
from keras_attention.layers import LuongAttention
from keras_attention.layers import MultiHeadAttention

LAYER_RATIO_TARGET = 1.05
DECODE_SPEEDUP_TARGET = 5.0
PAIRS = ("multi_head", "luong_dot", "bahdanau")


@dataclasses.dataclass
class LayerTiming:
    """Median training-step times of one of our layers and its Keras peer.

    Args:
        layer: Name of our layer and its configuration.
        peer: Name of the Keras layer(s) it is compared with.
        batch: Batch size.
        length: Sequence length `T` of queries and values.
        ours_ms: Median step time of the model around our layer.
        peer_ms: Median step time of the model around the peer.

    Example:

    >>> timing = LayerTiming("ours", "peer", 64, 256, 10.2, 10.0)
    >>> round(timing.ratio, 2), timing.passed
    (1.02, True)
    """

    layer: str
    peer: str
    batch: int
    length: int
    ours_ms: float
    peer_ms: float

    @property
    def ratio(self):
        return self.ours_ms / self.peer_ms

    @property
    def passed(self):
        return self.ratio <= LAYER_RATIO_TARGET


@dataclasses.dataclass
class DecodeTiming:
    """Median times of a cached and a recomputing step-by-step decode.

    Args:
        steps: Number of decoded steps.
        cached_ms: Median time of the decode that uses the key/value cache.
        recomputed_ms: Median time of the decode that recomputes the
            attention over the whole (padded) prefix at every step.
        max_abs_difference: Largest difference between the outputs of the
            two decodes, which compute the same thing.

    Example:

    >>> timing = DecodeTiming(256, 100.0, 900.0, 1e-6)
    >>> timing.speedup, timing.passed
    (9.0, True)
    """

    steps: int
    cached_ms: float
    recomputed_ms: float
    max_abs_difference: float

    @property
    def speedup(self):
        return self.recomputed_ms / self.cached_ms

    @property
    def passed(self):
        return self.speedup >= DECODE_SPEEDUP_TARGET


class _InputScale(keras.layers.Layer):
    """Multiplies the features by a trainable vector (initialized to ones).

    Placed in front of the attention in both models of a pair so that the
    training step backpropagates through the attention down to its inputs,
    also for a peer without weights such as `keras.layers.Attention()`.
    """

    def build(self, input_shape):
        self.scale = self.add_weight(
            name="scale", shape=(input_shape[-1],), initializer="ones"
        )

    def call(self, inputs):
        return inputs * self.scale


def _compiled(model, jit_compile):
    model.compile(optimizer="sgd", loss="mse", jit_compile=jit_compile)
    return model


def build_pair(pair, length, dim, num_heads, jit_compile):
    """Builds the model around our layer and the one around its Keras peer.

    Args:
        pair: One of `PAIRS`.
        length: Sequence length of the inputs.
        dim: Feature size of the inputs (and `units` of the additive score).
        num_heads: Number of heads of the multi-head layers; each head has
            `dim // num_heads` features.
        jit_compile: Passed to `model.compile()`.

    Returns:
        `(layer_name, peer_name, ours_model, peer_model)`; both models take
        `[query, value, value_mask]` (`[tokens, padding_mask]` for
        `"multi_head"`) and return `[batch, length, dim]`.

    Example:

    >>> _, _, ours, peer = build_pair("luong_dot", 8, 16, 4, "auto")
    >>> ours.output.shape, peer.output.shape
    ((None, 8, 16), (None, 8, 16))
    """
    if pair == "multi_head":
        key_dim = dim // num_heads
        tokens = keras.Input((length, dim), name="tokens")
        padding_mask = keras.Input((length,), dtype="bool", name="mask")
        outputs = []
        for attention in (
            MultiHeadAttention(num_heads, key_dim),
            keras.layers.MultiHeadAttention(num_heads, key_dim),
        ):
            scaled = _InputScale()(tokens)
            outputs.append(
                attention(
                    scaled,
                    scaled,
                    query_mask=padding_mask,
                    value_mask=padding_mask,
                )
            )
        inputs = [tokens, padding_mask]
        names = (
            f"MultiHeadAttention({num_heads}, {key_dim})",
            f"keras MultiHeadAttention({num_heads}, {key_dim})",
        )
    else:
        query = keras.Input((length, dim), name="query")
        value = keras.Input((length, dim), name="value")
        value_mask = keras.Input((length,), dtype="bool", name="value_mask")
        inputs = [query, value, value_mask]
        scaled = [_InputScale()(query), _InputScale()(value)]
        peer_query, peer_value = _InputScale()(query), _InputScale()(value)
        if pair == "luong_dot":
            ours = LuongAttention("dot")(*scaled, value_mask=value_mask)
            peer = keras.layers.Attention()(
                [peer_query, peer_value], mask=[None, value_mask]
            )
            names = ('LuongAttention("dot")', "keras Attention()")
        elif pair == "bahdanau":
            ours = BahdanauAttention(dim, use_bias=False)(
                *scaled, value_mask=value_mask
            )
            projected_query = keras.layers.Dense(dim, use_bias=False)(
                peer_query
            )
            projected_key = keras.layers.Dense(dim, use_bias=False)(peer_value)
            peer = keras.layers.AdditiveAttention(use_scale=True)(
                [projected_query, peer_value, projected_key],
                mask=[None, value_mask],
            )
            names = (
                f"BahdanauAttention({dim}, use_bias=False)",
                f"2x keras Dense({dim}) + AdditiveAttention",
            )
        else:
            raise ValueError(
                f"`pair` must be one of {PAIRS}. Received: pair={pair!r}"
            )
        outputs = [ours, peer]
    ours_model = _compiled(keras.Model(inputs, outputs[0]), jit_compile)
    peer_model = _compiled(keras.Model(inputs, outputs[1]), jit_compile)
    return names[0], names[1], ours_model, peer_model


def _make_pair_inputs(pair, batch, length, dim, seed=0):
    """Random inputs, padding masks and regression targets for a pair.

    Each sequence keeps a random length between `length // 2` and `length`.

    Returns:
        `(inputs, targets)` as backend tensors, in the order the models of
        `build_pair(pair, ...)` take them.
    """
    rng = np.random.default_rng(seed)
    lengths = rng.integers(max(length // 2, 1), length + 1, size=(batch, 1))
    mask = np.arange(length)[None, :] < lengths
    query = rng.normal(size=(batch, length, dim)).astype("float32")
    if pair == "multi_head":
        inputs = [query, mask]
    else:
        value = rng.normal(size=(batch, length, dim)).astype("float32")
        inputs = [query, value, mask]
    targets = rng.normal(size=(batch, length, dim)).astype("float32")
    inputs = [keras.ops.convert_to_tensor(array) for array in inputs]
    return inputs, keras.ops.convert_to_tensor(targets)


def benchmark_layers(
    batch,
    dim,
    lengths,
    num_heads,
    repeats,
    warmup,
    jit_compile,
    pairs=PAIRS,
    bahdanau_batch=None,
):
    """Times a training step of each layer and of its Keras peer.

    Args:
        batch: Batch size.
        dim: Feature size of queries and values.
        lengths: Sequence lengths to time.
        num_heads: Number of heads of the multi-head layers.
        repeats: Number of timed steps of each model.
        warmup: Number of untimed steps of each model first.
        jit_compile: Passed to `model.compile()`.
        pairs: Which of `PAIRS` to time.
        bahdanau_batch: Batch size of the additive-attention pair, whose
            training step holds several `[batch, T, T, dim]` tensors;
            defaults to `batch`.

    Returns:
        A list of `LayerTiming`, one per pair and length.

    Example:

    >>> rows = benchmark_layers(2, 16, [8], 4, 1, 1, "auto", ["luong_dot"])
    >>> rows[0].layer, rows[0].length
    ('LuongAttention("dot")', 8)
    """
    results = []
    for length in lengths:
        for pair in pairs:
            pair_batch = batch
            if pair == "bahdanau" and bahdanau_batch is not None:
                pair_batch = bahdanau_batch
            layer, peer, ours_model, peer_model = build_pair(
                pair, length, dim, num_heads, jit_compile
            )
            inputs, targets = _make_pair_inputs(pair, pair_batch, length, dim)

            def step(model, inputs=inputs, targets=targets):
                return lambda: model.train_on_batch(inputs, targets)

            ours_ms, peer_ms = time_interleaved(
                [step(ours_model), step(peer_model)], repeats, warmup
            )
            results.append(
                LayerTiming(layer, peer, pair_batch, length, ours_ms, peer_ms)
            )
            print(
                f"timed {layer} at T={length}: ours {ours_ms:.2f} ms, "
                f"peer {peer_ms:.2f} ms",
                file=sys.stderr,
                flush=True,
            )
            del ours_model, peer_model
            keras.backend.clear_session()
    return results


def benchmark_decoding(batch, dim, steps, num_heads, repeats):
    """Times a cached step-by-step decode against recomputing each step.

    Each decode runs all its steps in `keras.ops.fori_loop` inside one
    compiled function, as the library's decoders do. Both decodes first run
    once untimed, which compiles them and gives the outputs whose difference
    is reported.

    Args:
        batch: Number of sequences decoded together.
        dim: Feature size of the decoded sequence.
        steps: Number of steps to decode.
        num_heads: Number of heads; each has `dim // num_heads` features.
        repeats: Number of timed decodes of each kind.

    Returns:
        `(DecodeTiming, compiler_description)`.

    Example:

    >>> timing, _ = benchmark_decoding(2, 16, 5, 4, 1)
    >>> timing.max_abs_difference < 1e-4
    True
    """
    rng = np.random.default_rng(1)
    sequence = keras.ops.convert_to_tensor(
        rng.normal(size=(batch, steps, dim)).astype("float32")
    )
    attention = MultiHeadAttention(num_heads, dim // num_heads)
    attention(sequence[:, :1], sequence[:, :1])
    positions = keras.ops.reshape(keras.ops.arange(steps), (1, steps, 1))

    def write_step(outputs, index, step_output):
        return keras.ops.slice_update(
            outputs, [0, index, 0], keras.ops.expand_dims(step_output, 1)
        )

    def decode_cached(sequence):
        def body(index, state):
            cache, outputs = state
            step_input = keras.ops.take(sequence, index, axis=1)
            step_output, cache = attention(
                step_input,
                step_input,
                cache=cache,
                query_start_index=index,
                use_causal_mask=True,
            )
            return cache, write_step(outputs, index, step_output)

        state = (
            attention.init_cache(batch, steps),
            keras.ops.zeros((batch, steps, dim)),
        )
        return keras.ops.fori_loop(0, steps, body, state)[1]

    def decode_recomputed(sequence):
        def body(index, outputs):
            # Steps after `index` are not known yet while decoding: zero them.
            prefix = keras.ops.where(positions <= index, sequence, 0.0)
            prefix_outputs = attention(prefix, prefix, use_causal_mask=True)
            step_output = keras.ops.take(prefix_outputs, index, axis=1)
            return write_step(outputs, index, step_output)

        outputs = keras.ops.zeros((batch, steps, dim))
        return keras.ops.fori_loop(0, steps, body, outputs)

    decode_cached, compiler = compile_function(decode_cached)
    decode_recomputed, _ = compile_function(decode_recomputed)

    def run(decode):
        return lambda: keras.ops.convert_to_numpy(decode(sequence))

    difference = float(
        np.max(np.abs(run(decode_cached)() - run(decode_recomputed)()))
    )
    cached_ms, recomputed_ms = time_interleaved(
        [run(decode_cached), run(decode_recomputed)], repeats, warmup=0
    )
    timing = DecodeTiming(steps, cached_ms, recomputed_ms, difference)
    return timing, compiler


def _format_layer_table(results):
    """Formats `LayerTiming`s as a Markdown table."""
    lines = [
        "| layer | peer | batch | T | ours ms | peer ms | ours/peer "
        "| target | |",
        "|---|---|--:|--:|--:|--:|--:|--:|---|",
    ]
    for result in results:
        lines.append(
            f"| {result.layer} | {result.peer} | {result.batch} "
            f"| {result.length} "
            f"| {result.ours_ms:.2f} | {result.peer_ms:.2f} "
            f"| {result.ratio:.3f} | <= {LAYER_RATIO_TARGET:.2f} "
            f"| {'pass' if result.passed else 'FAIL'} |"
        )
    return "\n".join(lines)


def _format_decode_table(timing):
    """Formats a `DecodeTiming` as a Markdown table."""
    return "\n".join(
        [
            "| steps | cached ms | recomputed ms | speed-up | target "
            "| | max abs diff |",
            "|--:|--:|--:|--:|--:|---|--:|",
            f"| {timing.steps} | {timing.cached_ms:.1f} "
            f"| {timing.recomputed_ms:.1f} | {timing.speedup:.1f}x "
            f"| >= {DECODE_SPEEDUP_TARGET:.0f}x "
            f"| {'pass' if timing.passed else 'FAIL'} "
            f"| {timing.max_abs_difference:.1e} |",
        ]
    )


def _environment_description(jit_compile):
    """One line naming the backend, versions, CPU count and compilation."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as backend_module
    elif backend == "jax":
        import jax as backend_module
    elif backend == "torch":
        import torch as backend_module
    else:
        backend_module = None
    version = getattr(backend_module, "__version__", "?")
    return (
        f"{datetime.date.today().isoformat()}, backend {backend} {version}, "
        f"keras {keras.__version__}, python {platform.python_version()}, "
        f"{os.cpu_count()} CPU cores ({cpu_name()}), "
        f"train_on_batch jit_compile={jit_compile!r}"
    )


def _parse_args(argv=None):
    """Parses the command line of `python -m bench.layers`."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.layers", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--batch", type=positive_int, default=64)
    parser.add_argument(
        "--bahdanau-batch",
        type=positive_int,
        default=None,
        help="batch size of the additive-attention pair (default: --batch); "
        "its step holds several [batch, T, T, dim] float32 tensors",
    )
    parser.add_argument("--dim", type=positive_int, default=256)
    parser.add_argument(
        "--lengths", type=positive_int, nargs="+", default=[64, 256]
    )
    parser.add_argument("--num-heads", type=positive_int, default=8)
    parser.add_argument(
        "--repeats",
        type=positive_int,
        default=20,
        help="timed training steps per layer and length",
    )
    parser.add_argument("--warmup", type=positive_int, default=3)
    parser.add_argument(
        "--pairs",
        nargs="+",
        choices=PAIRS,
        default=list(PAIRS),
        help="which layer/peer pairs to time",
    )
    parser.add_argument(
        "--jit-compile",
        type=jit_compile_argument,
        default="auto",
        help="`jit_compile` of `model.compile()`: auto (Keras's default), "
        "true or false",
    )
    parser.add_argument("--decode-steps", type=positive_int, default=256)
    parser.add_argument(
        "--decode-repeats",
        type=positive_int,
        default=3,
        help="timed full decodes of each kind",
    )
    parser.add_argument(
        "--skip-decoding", action="store_true", help="only time the layers"
    )
    args = parser.parse_args(argv)
    if args.dim % args.num_heads:
        parser.error(
            "`--dim` must be divisible by `--num-heads`. Received: "
            f"dim={args.dim}, num_heads={args.num_heads}"
        )
    return args


def main(argv=None):
    """Runs the benchmark and prints Markdown tables of the results.

    Args:
        argv: Command line arguments (without the program name); defaults to
            `sys.argv[1:]`.

    Returns:
        A dict with `"layers"` (a list of `LayerTiming`) and `"decoding"` (a
        `DecodeTiming`, or `None` with `--skip-decoding`).

    Example:

    >>> import contextlib
    >>> import io
    >>> with contextlib.redirect_stdout(io.StringIO()) as printed:
    ...     results = main(["--batch", "2", "--dim", "16", "--lengths", "8",
    ...                     "--repeats", "1", "--decode-steps", "8"])
    >>> "| ours/peer |" in printed.getvalue()
    True
    >>> [row.length for row in results["layers"]]
    [8, 8, 8]
    """
    args = _parse_args(argv)
    print(_environment_description(args.jit_compile))
    print(
        f"batch {args.batch}, dim {args.dim}, {args.num_heads} heads; "
        f"medians of {args.repeats} interleaved repeats "
        f"after {args.warmup} warm-up steps"
    )
    layer_results = benchmark_layers(
        args.batch,
        args.dim,
        args.lengths,
        args.num_heads,
        args.repeats,
        args.warmup,
        args.jit_compile,
        args.pairs,
        args.bahdanau_batch,
    )
    print()
    print("Training step (train_on_batch: forward, backward, SGD update)")
    print()
    print(_format_layer_table(layer_results))
    decode_result = None
    if not args.skip_decoding:
        decode_result, compiler = benchmark_decoding(
            args.batch,
            args.dim,
            args.decode_steps,
            args.num_heads,
            args.decode_repeats,
        )
        print()
        print(
            f"Causal self-attention decoding: all steps in "
            f"keras.ops.fori_loop under {compiler}; medians of "
            f"{args.decode_repeats} interleaved decodes"
        )
        print()
        print(_format_decode_table(decode_result))
    return {"layers": layer_results, "decoding": decode_result}


if __name__ == "__main__":
    main()
