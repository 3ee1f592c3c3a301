"""Times decoding with `keras_attention.decoding` and the attentive decoders.

Three measurements; the functions compared in each are timed alternately
(one, the other, one, ...) and their medians reported, so that background
load on a shared machine slows them alike. Every compared pair is also
checked to compute the same numbers.

1. Translation throughput: sentences per second of `greedy_search` and of
   `beam_search` on random-weight zoo translators (`LuongTranslator`: LSTMs
   with input feeding; `TransformerTranslator`), encoder and decoder in one
   compiled function, as a user of the library would run them. The output
   biases of the padding and end tokens are set to -1e4, so that no
   hypothesis ends early and every decode runs exactly `--max-length`
   steps (checked). The scores the decoders return are checked against the
   log-probabilities of the decoded sequences under the model's own
   teacher-forced `call`.

2. Cached incremental decoding against re-running the decoder on the whole
   prefix, for each length of `--cache-lengths`: a zoo translator's
   `decode_step` (the Transformer's self-attention key/value cache, the
   Luong translator's `AttentionRNN.step`) against, at every step `t`, the
   teacher-forced decoder on the prefix of `t + 1` tokens padded to the full
   length, keeping row `t` of its logits. Both loops run the same target
   tokens in `keras.ops.fori_loop` inside one compiled function and encode
   the source once.

3. Teacher-forced training steps (`model.train_on_batch`: forward, backward,
   SGD update) of a tiny model around `AttentionRNN` with Luong attention
   and no input feeding, whose `call` runs the cell over the whole sequence
   at once (`parallel=None`, the default) against the same model with
   `parallel=False`, which runs the step loop. Both start from the same
   weights.

The backend comes from `KERAS_BACKEND` (TensorFlow by default). Decoders are
compiled with `tf.function(jit_compile=True)` on TensorFlow and `jax.jit` on
JAX; on PyTorch they run eagerly under `torch.no_grad()`.

Usage:

    python -m bench.decoding --batch 64 --max-length 30 --cache-lengths 30 60
"""

import argparse
import dataclasses
import datetime
import importlib
import os
import platform
import sys

import keras
import numpy as np
from keras import ops

from bench.common import compile_function
from bench.common import cpu_name
from bench.common import jit_compile_argument
from bench.common import positive_int
from bench.common import time_interleaved
from keras_attention.decoding import beam_search
from keras_attention.decoding import greedy_search
from keras_attention.layers import AttentionRNN
from keras_attention.layers import LuongAttention
from zoo.translation import LuongTranslator
from zoo.translation import TransformerTranslator

CACHE_SPEEDUP_TARGET = 5.0
PARALLEL_SPEEDUP_TARGET = 2.0
MODELS = ("luong", "transformer")
CELLS = ("gru", "lstm")
SECTIONS = ("throughput", "cache", "training")
PAD_ID = 0
START_ID = 1
END_ID = 2
# Added to the output biases of the padding and end tokens: far below any
# logit of a random-weight model, so neither is ever decoded.
NEVER_DECODED_BIAS = -1e4


@dataclasses.dataclass
class ThroughputTiming:
    """Median time of one compiled translation of a batch.

    Args:
        model: Name of the translator.
        decoder: `"greedy"` or `"beam N"`.
        batch: Number of sentences translated together.
        steps: Number of decoded tokens per sentence.
        milliseconds: Median time of the whole translation (encoder and
            decoder).
        all_full_length: Whether every returned hypothesis is `steps` tokens
            long, i.e. no decode stopped early.
        rescoring_difference: Largest difference between the returned
            log-probabilities and those of the same sequences under the
            model's teacher-forced `call`.

    Example:

    >>> timing = ThroughputTiming("m", "greedy", 64, 30, 320.0, True, 1e-6)
    >>> timing.sentences_per_second
    200.0
    """

    model: str
    decoder: str
    batch: int
    steps: int
    milliseconds: float
    all_full_length: bool
    rescoring_difference: float

    @property
    def sentences_per_second(self):
        return self.batch / (self.milliseconds / 1000.0)


@dataclasses.dataclass
class CacheTiming:
    """Median times of a cached and a recomputing step-by-step decode.

    Args:
        model: Name of the translator.
        cache: What the cached decode keeps between steps.
        batch: Number of sequences decoded together.
        steps: Number of decoded steps.
        cached_ms: Median time of the decode with `decode_step`.
        recomputed_ms: Median time of the decode that re-runs the
            teacher-forced decoder on the padded prefix at every step.
        max_abs_difference: Largest difference between the logits of the
            two decodes (over the tokens that can be decoded).

    Example:

    >>> timing = CacheTiming("m", "c", 64, 30, 100.0, 900.0, 1e-6)
    >>> timing.speedup, timing.passed
    (9.0, True)
    """

    model: str
    cache: str
    batch: int
    steps: int
    cached_ms: float
    recomputed_ms: float
    max_abs_difference: float

    @property
    def speedup(self):
        return self.recomputed_ms / self.cached_ms

    @property
    def passed(self):
        return self.speedup >= CACHE_SPEEDUP_TARGET


@dataclasses.dataclass
class TrainingTiming:
    """Median training-step times of the parallel and the loop path.

    Args:
        cell: Name of the RNN cell.
        batch: Batch size.
        length: Decoder and encoder length.
        units: Size of the cell and of the inputs.
        parallel_ms: Median step time with `parallel=None` (parallel path).
        loop_ms: Median step time with `parallel=False` (step loop).
        max_abs_difference: Largest difference between the outputs of the
            two models before training.

    Example:

    >>> timing = TrainingTiming("GRUCell", 64, 30, 256, 50.0, 150.0, 1e-6)
    >>> timing.speedup, timing.passed
    (3.0, True)
    """

    cell: str
    batch: int
    length: int
    units: int
    parallel_ms: float
    loop_ms: float
    max_abs_difference: float

    @property
    def speedup(self):
        return self.loop_ms / self.parallel_ms

    @property
    def passed(self):
        return self.speedup >= PARALLEL_SPEEDUP_TARGET


def build_translator(name, vocabulary_size, source_ids, sizes):
    """Builds a random-weight zoo translator that never ends a sentence.

    Args:
        name: One of `MODELS`.
        vocabulary_size: Size of the source and target vocabularies.
        source_ids: A batch of source ids, used to build the weights.
        sizes: Dict with `"embedding_dim"`, `"rnn_units"`, `"model_dim"`,
            `"num_heads"`, `"feed_forward_dim"`, `"num_layers"` and
            `"max_length"` (longest target the Transformer's positions cover).

    Returns:
        `(description, model)`.

    Example:

    >>> sizes = {"embedding_dim": 4, "rnn_units": 8, "model_dim": 8,
    ...          "num_heads": 2, "feed_forward_dim": 8, "num_layers": 1,
    ...          "max_length": 4}
    >>> description, _ = build_translator(
    ...     "luong", 10, np.ones((2, 3), "int32"), sizes
    ... )
    >>> description
    'LuongTranslator(1x LSTM 8, input feeding)'
    """
    keras.utils.set_random_seed(0)
    if name == "luong":
        model = LuongTranslator(
            vocabulary_size,
            vocabulary_size,
            embedding_dim=sizes["embedding_dim"],
            units=sizes["rnn_units"],
            num_layers=sizes["num_layers"],
            input_feeding=True,
        )
        description = (
            f"LuongTranslator({sizes['num_layers']}x LSTM "
            f"{sizes['rnn_units']}, input feeding)"
        )
    elif name == "transformer":
        model = TransformerTranslator(
            vocabulary_size,
            vocabulary_size,
            model_dim=sizes["model_dim"],
            num_heads=sizes["num_heads"],
            feed_forward_dim=sizes["feed_forward_dim"],
            num_layers=sizes["num_layers"],
            max_length=max(sizes["max_length"], source_ids.shape[1]),
            dropout=0.0,
        )
        description = (
            f"TransformerTranslator({sizes['num_layers']} layers, "
            f"d={sizes['model_dim']}, {sizes['num_heads']} heads)"
        )
    else:
        raise ValueError(
            f"`name` must be one of {MODELS}. Received: name={name!r}"
        )
    model((source_ids, source_ids[:, :1]))
    bias = ops.convert_to_numpy(model.output_projection.bias).copy()
    bias[[PAD_ID, END_ID]] = NEVER_DECODED_BIAS
    model.output_projection.bias.assign(bias)
    return description, model


def random_token_ids(rng, batch, length, vocabulary_size):
    """Random ids that are none of the padding, start and end tokens."""
    low = max(PAD_ID, START_ID, END_ID) + 1
    return rng.integers(low, vocabulary_size, size=(batch, length)).astype(
        "int32"
    )


def teacher_forced_log_probs(model, source_ids, sequences):
    """Summed log-probabilities of `sequences` under the model's `call`.

    Args:
        model: A zoo translator.
        source_ids: int32 `[batch, T_enc]`.
        sequences: int32 `[batch, T]`, decoded tokens without the start.

    Returns:
        float64 NumPy `[batch]`.
    """
    target_inputs = np.concatenate(
        [np.full((sequences.shape[0], 1), START_ID, "int32"), sequences],
        axis=1,
    )[:, :-1]
    logits = ops.convert_to_numpy(model((source_ids, target_inputs)))
    logits = logits.astype("float64")
    shifted = logits - logits.max(axis=-1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
    chosen = np.take_along_axis(log_probs, sequences[..., None], axis=-1)
    return chosen[..., 0].sum(axis=-1)


def benchmark_throughput(
    model_name, model, source_ids, steps, beam_width, repeats, warmup
):
    """Times compiled greedy and beam-search translation of one batch.

    Args:
        model_name: Description of the model for the table.
        model: A translator from `build_translator`.
        source_ids: int32 NumPy `[batch, T_enc]`.
        steps: Number of tokens to decode.
        beam_width: Beam width of the beam search.
        repeats: Number of timed translations of each kind.
        warmup: Number of untimed translations of each kind first (the
            first one compiles).

    Returns:
        `(timings, compiler_description)`, timings being a list of two
        `ThroughputTiming` (greedy, beam).
    """
    batch = source_ids.shape[0]

    def greedy(source_ids):
        state = model.encode(source_ids, max_length=steps)
        start_ids = ops.full((batch,), START_ID, "int32")
        results = greedy_search(
            model.decode_step, state, start_ids, END_ID, steps, PAD_ID
        )
        return results["sequences"], results["lengths"], results["scores"]

    def beam(source_ids):
        state = model.encode(source_ids, max_length=steps)
        start_ids = ops.full((batch,), START_ID, "int32")
        results = beam_search(
            model.decode_step,
            state,
            start_ids,
            END_ID,
            steps,
            beam_width=beam_width,
            pad_id=PAD_ID,
        )
        return (
            results["sequences"][:, 0],
            results["lengths"][:, 0],
            results["log_probs"][:, 0],
        )

    compiled_greedy, compiler = compile_function(greedy)
    compiled_beam, _ = compile_function(beam)
    source_tensor = ops.convert_to_tensor(source_ids)

    def run(decode):
        return lambda: [ops.convert_to_numpy(x) for x in decode(source_tensor)]

    timings = []
    milliseconds = time_interleaved(
        [run(compiled_greedy), run(compiled_beam)], repeats, warmup
    )
    for decoder, decode, median in zip(
        ("greedy", f"beam {beam_width}"),
        (compiled_greedy, compiled_beam),
        milliseconds,
        strict=True,
    ):
        sequences, lengths, scores = run(decode)()
        rescored = teacher_forced_log_probs(model, source_ids, sequences)
        timings.append(
            ThroughputTiming(
                model_name,
                decoder,
                batch,
                steps,
                median,
                bool(np.all(lengths == steps)),
                float(np.max(np.abs(scores - rescored))),
            )
        )
        print(
            f"timed {decoder} on {model_name}: {median:.1f} ms",
            file=sys.stderr,
            flush=True,
        )
    return timings, compiler


def _transformer_decoder_logits(model, memories, target_ids):
    """The Transformer's teacher-forced decoder on precomputed memories.

    `TransformerTranslator.call` without its encoder, so that re-running it
    on every prefix costs only the decoder.
    """
    target_mask = ops.not_equal(target_ids, PAD_ID)
    hidden = model._embed(
        target_ids, model.target_embedding, model.target_positions
    )
    for index in range(model.num_layers):
        self_attended = model.decoder_self_attention[index](
            hidden,
            hidden,
            query_mask=target_mask,
            value_mask=target_mask,
            use_causal_mask=True,
        )
        hidden, _ = model._decoder_layer(
            index, hidden, self_attended, memories[index], False
        )
    return model.output_projection(hidden)


def _recurrent_decoder_logits(model, encoded, target_ids):
    """The Luong translator's teacher-forced `AttentionRNN` on its memory."""
    memory, source_mask, initial_state = encoded
    outputs, _, _ = model.decoder(
        model.target_embedding(target_ids),
        memory,
        memory_mask=source_mask,
        initial_state=initial_state,
        mask=ops.not_equal(target_ids, PAD_ID),
    )
    return model.output_projection(outputs)


def benchmark_cache(model_name, model, source_ids, target_ids, repeats):
    """Times cached step decoding against re-running the decoder per step.

    Both decodes feed the same target tokens (teacher forcing), so their
    logits must agree at every step.

    Args:
        model_name: Description of the model for the table.
        model: A translator from `build_translator`.
        source_ids: int32 NumPy `[batch, T_enc]`.
        target_ids: int32 NumPy `[batch, steps]`, the decoder inputs (start
            token first), none of them the padding id.
        repeats: Number of timed decodes of each kind, after one untimed
            decode that compiles.

    Returns:
        `(CacheTiming, compiler_description)`.
    """
    batch, steps = target_ids.shape
    vocabulary_size = model.target_vocabulary_size
    positions = ops.reshape(ops.arange(steps, dtype="int32"), (1, steps))
    is_transformer = isinstance(model, TransformerTranslator)

    def write_step(logits, index, step_logits):
        return ops.slice_update(
            logits, [0, index, 0], ops.expand_dims(step_logits, 1)
        )

    def empty_logits():
        return ops.zeros((batch, steps, vocabulary_size))

    def decode_cached(source_ids, target_ids):
        state = model.encode(source_ids, max_length=steps)

        def body(index, carried):
            state, logits = carried
            step_ids = ops.take(target_ids, index, axis=1)
            step_logits, state, _ = model.decode_step(step_ids, state)
            return state, write_step(logits, index, step_logits)

        return ops.fori_loop(0, steps, body, (state, empty_logits()))[1]

    def decode_recomputed(source_ids, target_ids):
        if is_transformer:
            memory, source_mask = model._encode(source_ids)
            encoded = [
                layer.precompute_memory(memory, value_mask=source_mask)
                for layer in model.decoder_cross_attention
            ]
            decoder_logits = _transformer_decoder_logits
        else:
            encoded = model._encode(source_ids)
            decoder_logits = _recurrent_decoder_logits

        def body(index, logits):
            # Tokens after `index` are not known yet while decoding: pad them.
            prefix = ops.where(positions <= index, target_ids, PAD_ID)
            prefix_logits = decoder_logits(model, encoded, prefix)
            step_logits = ops.take(prefix_logits, index, axis=1)
            return write_step(logits, index, step_logits)

        return ops.fori_loop(0, steps, body, empty_logits())

    decode_cached, compiler = compile_function(decode_cached)
    decode_recomputed, _ = compile_function(decode_recomputed)
    inputs = [
        ops.convert_to_tensor(source_ids),
        ops.convert_to_tensor(target_ids),
    ]

    def run(decode):
        return lambda: ops.convert_to_numpy(decode(*inputs))

    # The logits of the never-decoded tokens sit near -1e4, where float32
    # steps are 1e-3 apart: they would hide the differences of the others.
    compared = np.setdiff1d(np.arange(vocabulary_size), [PAD_ID, END_ID])
    difference = float(
        np.max(
            np.abs(
                run(decode_cached)()[..., compared]
                - run(decode_recomputed)()[..., compared]
            )
        )
    )
    cached_ms, recomputed_ms = time_interleaved(
        [run(decode_cached), run(decode_recomputed)], repeats, warmup=0
    )
    cache = (
        "self-attention keys/values"
        if is_transformer
        else "AttentionRNN.step state"
    )
    print(
        f"timed cached decoding of {model_name}, {steps} steps: cached "
        f"{cached_ms:.1f} ms, recomputed {recomputed_ms:.1f} ms",
        file=sys.stderr,
        flush=True,
    )
    timing = CacheTiming(
        model_name, cache, batch, steps, cached_ms, recomputed_ms, difference
    )
    return timing, compiler


def _training_model(cell_name, length, units, parallel):
    cell = {"gru": keras.layers.GRUCell, "lstm": keras.layers.LSTMCell}[
        cell_name
    ](units)
    decoder_inputs = keras.Input((length, units), name="decoder_inputs")
    memory = keras.Input((length, units), name="memory")
    memory_mask = keras.Input((length,), dtype="bool", name="memory_mask")
    decoder = AttentionRNN(cell, LuongAttention("general"), parallel=parallel)
    outputs, _, _ = decoder(decoder_inputs, memory, memory_mask=memory_mask)
    model = keras.Model([decoder_inputs, memory, memory_mask], outputs)
    return model, decoder


def benchmark_training(
    cell_name, batch, length, units, repeats, warmup, jit_compile
):
    """Times training steps of the parallel and the loop path.

    Args:
        cell_name: One of `CELLS`.
        batch: Batch size.
        length: Length of the decoder inputs and of the memory.
        units: Size of the cell, the decoder inputs and the memory.
        repeats: Number of timed steps of each model.
        warmup: Number of untimed steps of each model first.
        jit_compile: Passed to `model.compile()`.

    Returns:
        A `TrainingTiming`.
    """
    keras.utils.set_random_seed(0)
    parallel_model, decoder = _training_model(cell_name, length, units, None)
    loop_model, _ = _training_model(cell_name, length, units, False)
    loop_model.set_weights(parallel_model.get_weights())
    rng = np.random.default_rng(2)
    memory_lengths = rng.integers(max(length // 2, 1), length + 1, (batch, 1))
    inputs = [
        rng.normal(size=(batch, length, units)).astype("float32"),
        rng.normal(size=(batch, length, units)).astype("float32"),
        np.arange(length)[None, :] < memory_lengths,
    ]
    targets = rng.normal(size=(batch, length, units)).astype("float32")
    inputs = [ops.convert_to_tensor(array) for array in inputs]
    targets = ops.convert_to_tensor(targets)
    difference = float(
        np.max(
            np.abs(
                ops.convert_to_numpy(parallel_model(inputs))
                - ops.convert_to_numpy(loop_model(inputs))
            )
        )
    )
    for model in (parallel_model, loop_model):
        model.compile(optimizer="sgd", loss="mse", jit_compile=jit_compile)

    def step(model):
        return lambda: model.train_on_batch(inputs, targets)

    parallel_ms, loop_ms = time_interleaved(
        [step(parallel_model), step(loop_model)], repeats, warmup
    )
    cell = type(decoder.cell).__name__
    print(
        f"timed training with {cell}: parallel {parallel_ms:.1f} ms, loop "
        f"{loop_ms:.1f} ms",
        file=sys.stderr,
        flush=True,
    )
    keras.backend.clear_session()
    return TrainingTiming(
        cell, batch, length, units, parallel_ms, loop_ms, difference
    )


def _format_throughput_table(timings):
    """Formats `ThroughputTiming`s as a Markdown table."""
    lines = [
        "| model | decoder | batch | tokens | ms per batch | sentences/s "
        "| all full length | max abs diff vs teacher forcing |",
        "|---|---|--:|--:|--:|--:|---|--:|",
    ]
    for timing in timings:
        lines.append(
            f"| {timing.model} | {timing.decoder} | {timing.batch} "
            f"| {timing.steps} | {timing.milliseconds:.1f} "
            f"| {timing.sentences_per_second:.1f} "
            f"| {'yes' if timing.all_full_length else 'NO'} "
            f"| {timing.rescoring_difference:.1e} |"
        )
    return "\n".join(lines)


def _format_cache_table(timings):
    """Formats `CacheTiming`s as a Markdown table."""
    lines = [
        "| model | cache | batch | steps | cached ms | recomputed ms "
        "| speed-up | target | | max abs diff |",
        "|---|---|--:|--:|--:|--:|--:|--:|---|--:|",
    ]
    for timing in timings:
        lines.append(
            f"| {timing.model} | {timing.cache} | {timing.batch} "
            f"| {timing.steps} | {timing.cached_ms:.1f} "
            f"| {timing.recomputed_ms:.1f} | {timing.speedup:.1f}x "
            f"| >= {CACHE_SPEEDUP_TARGET:.0f}x "
            f"| {'pass' if timing.passed else 'FAIL'} "
            f"| {timing.max_abs_difference:.1e} |"
        )
    return "\n".join(lines)


def _format_training_table(timings):
    """Formats `TrainingTiming`s as a Markdown table."""
    lines = [
        "| cell | batch | T_dec = T_enc | units | parallel ms | loop ms "
        "| speed-up | target | | max abs diff |",
        "|---|--:|--:|--:|--:|--:|--:|--:|---|--:|",
    ]
    for timing in timings:
        lines.append(
            f"| {timing.cell} | {timing.batch} | {timing.length} "
            f"| {timing.units} | {timing.parallel_ms:.1f} "
            f"| {timing.loop_ms:.1f} | {timing.speedup:.2f}x "
            f"| >= {PARALLEL_SPEEDUP_TARGET:.0f}x "
            f"| {'pass' if timing.passed else 'FAIL'} "
            f"| {timing.max_abs_difference:.1e} |"
        )
    return "\n".join(lines)


def _environment_description(jit_compile):
    """One line naming the backend, versions and CPU."""
    backend = keras.backend.backend()
    try:
        # The backends' names are those of their Python packages.
        version = importlib.import_module(backend).__version__
    except (ImportError, AttributeError):
        version = "?"
    return (
        f"{datetime.date.today().isoformat()}, backend {backend} {version}, "
        f"keras {keras.__version__}, python {platform.python_version()}, "
        f"{os.cpu_count()} CPU cores ({cpu_name()}), "
        f"train_on_batch jit_compile={jit_compile!r}"
    )


QUICK_SETTINGS = {
    "batch": 2,
    "source_length": 5,
    "max_length": 4,
    "beam_width": 2,
    "cache_lengths": [4],
    "vocabulary_size": 16,
    "embedding_dim": 4,
    "rnn_units": 8,
    "model_dim": 8,
    "num_heads": 2,
    "feed_forward_dim": 8,
    "num_layers": 1,
    "repeats": 1,
    "cache_repeats": 1,
    "warmup": 1,
    "train_batch": 2,
    "train_length": 4,
    "units": 8,
    "train_repeats": 1,
    "jit_compile": False,
}


def _parse_args(argv=None):
    """Parses the command line of `python -m bench.decoding`."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.decoding", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="tiny sizes and one repeat (a smoke test, seconds); overrides "
        "every size, repeat and --jit-compile flag",
    )
    parser.add_argument(
        "--sections", nargs="+", choices=SECTIONS, default=list(SECTIONS)
    )
    parser.add_argument(
        "--models", nargs="+", choices=MODELS, default=list(MODELS)
    )
    parser.add_argument("--batch", type=positive_int, default=64)
    parser.add_argument("--source-length", type=positive_int, default=30)
    parser.add_argument(
        "--max-length",
        type=positive_int,
        default=30,
        help="tokens decoded per sentence in the throughput section",
    )
    parser.add_argument("--beam-width", type=positive_int, default=4)
    parser.add_argument(
        "--cache-lengths", type=positive_int, nargs="+", default=[30, 60]
    )
    parser.add_argument("--vocabulary-size", type=positive_int, default=1000)
    parser.add_argument("--embedding-dim", type=positive_int, default=64)
    parser.add_argument("--rnn-units", type=positive_int, default=128)
    parser.add_argument("--model-dim", type=positive_int, default=128)
    parser.add_argument("--num-heads", type=positive_int, default=4)
    parser.add_argument("--feed-forward-dim", type=positive_int, default=256)
    parser.add_argument("--num-layers", type=positive_int, default=2)
    parser.add_argument(
        "--repeats",
        type=positive_int,
        default=10,
        help="timed translations of each kind",
    )
    parser.add_argument(
        "--cache-repeats",
        type=positive_int,
        default=3,
        help="timed full decodes of each kind",
    )
    parser.add_argument("--warmup", type=positive_int, default=2)
    parser.add_argument(
        "--cells", nargs="+", choices=CELLS, default=list(CELLS)
    )
    parser.add_argument("--train-batch", type=positive_int, default=64)
    parser.add_argument(
        "--train-length",
        type=positive_int,
        default=30,
        help="decoder and encoder length of the training section",
    )
    parser.add_argument("--units", type=positive_int, default=256)
    parser.add_argument("--train-repeats", type=positive_int, default=20)
    parser.add_argument(
        "--jit-compile",
        type=jit_compile_argument,
        default="auto",
        help="`jit_compile` of the training models' `compile()`: auto "
        "(Keras's default), true or false",
    )
    args = parser.parse_args(argv)
    if args.quick:
        for name, value in QUICK_SETTINGS.items():
            setattr(args, name, value)
    if args.model_dim % args.num_heads:
        parser.error(
            "`--model-dim` must be divisible by `--num-heads`. Received: "
            f"model_dim={args.model_dim}, num_heads={args.num_heads}"
        )
    if args.vocabulary_size <= END_ID + 1:
        parser.error(
            f"`--vocabulary-size` must be > {END_ID + 1} (ids {PAD_ID}, "
            f"{START_ID} and {END_ID} are padding, start and end). "
            f"Received: vocabulary_size={args.vocabulary_size}"
        )
    return args


def main(argv=None):
    """Runs the benchmark and prints Markdown tables of the results.

    Args:
        argv: Command line arguments (without the program name); defaults to
            `sys.argv[1:]`.

    Returns:
        A dict with `"throughput"` (a list of `ThroughputTiming`), `"cache"`
        (a list of `CacheTiming`) and `"training"` (a list of
        `TrainingTiming`); a section left out has an empty list.

    Example:

    >>> import contextlib
    >>> import io
    >>> with contextlib.redirect_stdout(io.StringIO()) as printed:
    ...     results = main(["--quick", "--sections", "training"])
    >>> "| speed-up |" in printed.getvalue()
    True
    """
    args = _parse_args(argv)
    print(_environment_description(args.jit_compile))
    results = {section: [] for section in SECTIONS}
    rng = np.random.default_rng(0)
    source_ids = random_token_ids(
        rng, args.batch, args.source_length, args.vocabulary_size
    )
    sizes = {
        "embedding_dim": args.embedding_dim,
        "rnn_units": args.rnn_units,
        "model_dim": args.model_dim,
        "num_heads": args.num_heads,
        "feed_forward_dim": args.feed_forward_dim,
        "num_layers": args.num_layers,
        "max_length": max([args.max_length] + args.cache_lengths),
    }
    compiler = None
    if "throughput" in args.sections or "cache" in args.sections:
        for model_name in args.models:
            description, model = build_translator(
                model_name, args.vocabulary_size, source_ids, sizes
            )
            if "throughput" in args.sections:
                timings, compiler = benchmark_throughput(
                    description,
                    model,
                    source_ids,
                    args.max_length,
                    args.beam_width,
                    args.repeats,
                    args.warmup,
                )
                results["throughput"].extend(timings)
            if "cache" in args.sections:
                for steps in args.cache_lengths:
                    target_ids = random_token_ids(
                        rng, args.batch, steps, args.vocabulary_size
                    )
                    target_ids[:, 0] = START_ID
                    timing, compiler = benchmark_cache(
                        description,
                        model,
                        source_ids,
                        target_ids,
                        args.cache_repeats,
                    )
                    results["cache"].append(timing)
            del model
            keras.backend.clear_session()
    if "training" in args.sections:
        for cell_name in args.cells:
            results["training"].append(
                benchmark_training(
                    cell_name,
                    args.train_batch,
                    args.train_length,
                    args.units,
                    args.train_repeats,
                    args.warmup,
                    args.jit_compile,
                )
            )
    if results["throughput"]:
        print()
        print(
            f"Translation throughput: encoder and decoder under {compiler}; "
            f"source length {args.source_length}; medians of {args.repeats} "
            f"interleaved translations after {args.warmup} warm-up ones"
        )
        print()
        print(_format_throughput_table(results["throughput"]))
    if results["cache"]:
        print()
        print(
            "Cached step decoding vs re-running the teacher-forced decoder "
            f"on the padded prefix at every step: keras.ops.fori_loop under "
            f"{compiler}; medians of {args.cache_repeats} interleaved decodes"
        )
        print()
        print(_format_cache_table(results["cache"]))
    if results["training"]:
        print()
        print(
            "Training step (train_on_batch: forward, backward, SGD update) of "
            "AttentionRNN(cell, LuongAttention('general')), no input "
            "feeding: parallel path (parallel=None) vs step loop "
            f"(parallel=False); medians of {args.train_repeats} interleaved "
            f"steps after {args.warmup} warm-up ones"
        )
        print()
        print(_format_training_table(results["training"]))
    return results


if __name__ == "__main__":
    main()
