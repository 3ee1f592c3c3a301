"""Where the greedy decoding time of the zoo's RNN translators goes.

Builds the spa-eng-sized models of `bench.translation` (`MODEL_ARGUMENTS`,
the cached 4,000-token vocabularies) with untrained weights, and the peer
of `bench.translation_peer` (untrained too), and times on the test split,
batch 64, at most 40 tokens:

- the current path of `zoo.translation.training.translate_pairs`, part by
  part: tokenization (eager, per batch), the compiled decoding
  (`tf.function(jit_compile=True)` around `Seq2Seq.translate_ids`),
  conversion to NumPy, detokenization (eager);
- candidate speed-ups: tokenizer and detokenizer as `tf.function` graphs
  ("compiled text"), source ids cut to the batch's longest sentence
  rounded up to 8 tokens ("trim"), no attention history, the decoding
  loop as a TensorFlow graph without XLA ("no XLA"), or a graph around an
  XLA-compiled step whose output layer runs outside XLA ("hybrid");
- the peer's own `translate` (strings to strings).

All of them batch by batch in turn (rotating order), so that every path
sees the same machine load, after one untimed pass that compiles every
shape. Then the decoding alone on one batch with every row ending at step
L (1, 10, 20, 40), whose slope is the cost of a loop step, for each way
of compiling and for the peer; the encoder alone by source width; and the
step's pieces (cell, attention, output layer, embedding) alone in
compiled loops.

Untrained weights never emit `[END]` on their own, so every decoder here
(ours and the peer's) is made to emit it exactly at a chosen length: the
reference's length in its own tokens plus one (WordPiece tokens for ours,
the tutorial's words for the peer). A batch's loop runs until its longest
sentence has ended.

Usage:

    python -m bench.decoding_profile --arch bahdanau luong --rounds 2
"""

import argparse
import json
import pathlib
import statistics
import time

import keras
import numpy as np
import tensorflow as tf
from keras import ops

import keras_attention
from bench.translation import DEFAULT_DATA
from bench.translation import MODEL_ARGUMENTS
from bench.translation_peer import PeerGreedyTranslator
from bench.translation_peer import build_peer
from bench.translation_peer import tf_lower_and_split_punct
from zoo.data import load_translation_data
from zoo.translation import ARCHITECTURES
from zoo.translation.training import _learn_or_reuse_tokenizers

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
BATCH_SIZE = 64
MAX_LENGTH = 40
# A logit no real one reaches: forces (or forbids) the end token.
FORCE = 1e9


def build_model(arch, source_tokenizer, target_tokenizer, seed=0):
    """An untrained translator of `bench.translation`'s size, built."""
    keras.utils.set_random_seed(seed)
    model = ARCHITECTURES[arch](
        source_tokenizer.vocabulary_size,
        target_tokenizer.vocabulary_size,
        source_tokenizer=source_tokenizer,
        target_tokenizer=target_tokenizer,
        max_decode_length=MAX_LENGTH,
        **MODEL_ARGUMENTS[arch],
    )
    model((ops.ones((1, 4), "int32"), ops.ones((1, 3), "int32")))
    return model


def hybrid_decode_step(model):
    """`RecurrentTranslator.decode_step` with only its small ops under XLA.

    The embedding, the cell and the attention run as one XLA program, the
    output layer as TensorFlow's own (oneDNN) matrix product: in this
    TensorFlow build XLA's CPU dot is about half as fast as oneDNN's on
    the `[64, 256 or 768] x [., 4000]` output layer.
    """

    @tf.function(jit_compile=True)
    def core(token_ids, decoder_state, memory):
        embedded = model.target_embedding(token_ids)
        return model.decoder.step(embedded, decoder_state, memory)

    def decode_step(token_ids, state):
        output, decoder_state, weights = core(
            token_ids, state["decoder"], state["memory"]
        )
        logits = model.output_projection(output)
        return logits, {**state, "decoder": decoder_state}, weights

    return decode_step


def forced_end_step(model, end_id, return_attention=True, decode_step=None):
    """`model.decode_step` that ends each row at `state["length"]`.

    The state gains `"length"` (int32 `[batch]`, tokens to emit including
    `[END]`) and `"t"` (steps taken). `[END]` is forbidden before that
    step and forced at it, so that untrained weights decode sentences of
    realistic lengths.
    """
    vocabulary_size = model.target_tokenizer.vocabulary_size
    end_column = ops.one_hot(ops.convert_to_tensor([end_id]), vocabulary_size)[
        0
    ]

    decode_step = decode_step or model.decode_step

    def step(token_ids, state):
        logits, model_state, attention = decode_step(token_ids, state["model"])
        ends_now = ops.greater_equal(state["t"] + 1, state["length"])
        sign = ops.where(ends_now, 1.0, -1.0)
        logits = logits + FORCE * sign[:, None] * end_column[None, :]
        new_state = {
            "model": model_state,
            "t": state["t"] + 1,
            "length": state["length"],
        }
        if return_attention:
            return logits, new_state, attention
        return logits, new_state

    return step


def make_decoder(model, return_attention=True, jit_compile=True, hybrid=False):
    """A compiled `(source_ids, lengths) -> results` greedy decoder.

    Exactly `Seq2Seq.translate_ids` with `beam_width=1` (as `translate_pairs`
    compiles it), with the step function of `forced_end_step`. With
    `hybrid`, the loop runs as a TensorFlow graph around an XLA-compiled
    encoder and the step of `hybrid_decode_step`.
    """
    start_id = model.target_tokenizer.start_id
    end_id = model.target_tokenizer.end_id
    step = forced_end_step(
        model,
        end_id,
        return_attention,
        hybrid_decode_step(model) if hybrid else None,
    )
    encode = model.encode
    if hybrid:
        jit_compile = False
        encode = tf.function(model.encode, jit_compile=True)

    def decode(source_ids, lengths):
        source_ids = ops.convert_to_tensor(source_ids, "int32")
        state = {
            "model": encode(source_ids, max_length=MAX_LENGTH),
            "t": ops.zeros_like(lengths),
            "length": lengths,
        }
        start_ids = ops.full((ops.shape(source_ids)[0],), start_id, "int32")
        return keras_attention.decoding.greedy_search(
            step, state, start_ids, end_id, MAX_LENGTH
        )

    return tf.function(decode, jit_compile=jit_compile)


def make_graph_translator(model, decode, trim):
    """`translate_pairs`' batch with tokenization compiled, optionally trimmed.

    The tokenizer and the detokenizer run as `tf.function` graphs instead
    of op by op. With `trim`, the source ids are cut to the batch's
    longest sentence rounded up to a multiple of 8, so the encoder and the
    attention skip most of the padding while XLA compiles at most one
    program per width (5 for 40 tokens).

    Returns:
        `(texts, source_ids, results)` for a batch `(strings, lengths)`.
    """
    source_tokenizer = model.source_tokenizer
    target_tokenizer = model.target_tokenizer
    max_width = source_tokenizer.sequence_length

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
    def tokenize(texts):
        return source_tokenizer(
            texts, add_start=False, add_end=False, warn_on_truncation=False
        )

    @tf.function(input_signature=[tf.TensorSpec([None, None], tf.int32)])
    def detokenize(sequences):
        return target_tokenizer.detokenize(sequences)

    def translate(texts, lengths):
        source_ids = tokenize(tf.constant(texts, tf.string)).numpy()
        if trim:
            longest = int(np.max(np.sum(source_ids != 0, axis=1)))
            width = min(max(8, -(-longest // 8) * 8), max_width)
            source_ids = source_ids[:, :width]
        results = decode(source_ids, lengths)
        texts = detokenize(results["sequences"]).numpy()
        return texts, source_ids, results

    return translate


def reference_lengths(target_tokenizer, references):
    """Tokens a decoder emits for each reference: its tokens plus `[END]`."""
    tokens = target_tokenizer.tokenize(references)
    lengths = tokens.row_lengths().numpy() + 1
    return np.minimum(lengths, MAX_LENGTH).astype("int32")


def batches(items, batch_size=BATCH_SIZE):
    return [
        items[start : start + batch_size]
        for start in range(0, len(items), batch_size)
    ]


class Timer:
    """Accumulates named wall times over rounds; reports medians."""

    def __init__(self):
        self.times = {}

    def add(self, name, seconds):
        self.times.setdefault(name, []).append(seconds)

    def median(self, name):
        return statistics.median(self.times[name])


def pad_batch(batch, lengths):
    """Pads a last short batch with empty sentences, as `translate_pairs`."""
    count = len(batch)
    padded = list(batch) + [""] * (BATCH_SIZE - count)
    padded_lengths = np.concatenate(
        [lengths, np.ones(BATCH_SIZE - count, "int32")]
    ).astype("int32")
    return padded, padded_lengths


def current_path(model, decode, keep_attention):
    """One batch of `translate_pairs` as it is, each part timed.

    Returns `run(batch, lengths, parts)`, which adds the seconds of
    `tokenize`, `decode`, `to_numpy` and `detokenize` to the dict `parts`.
    """
    source_tokenizer = model.source_tokenizer
    target_tokenizer = model.target_tokenizer

    def run(batch, lengths, parts):
        count = len(batch)
        padded, padded_lengths = pad_batch(batch, lengths)
        start = time.perf_counter()
        source_ids = ops.convert_to_numpy(
            source_tokenizer(padded, add_start=False, add_end=False)
        )
        middle = time.perf_counter()
        parts["tokenize"] = parts.get("tokenize", 0.0) + middle - start
        results = decode(source_ids, padded_lengths)
        sequences = ops.convert_to_numpy(results["sequences"])
        start = time.perf_counter()
        parts["decode"] = parts.get("decode", 0.0) + start - middle
        sequences = sequences[:count]
        if keep_attention:
            list(ops.convert_to_numpy(results["attention"])[:count])
        list(zip(source_ids[:count], sequences, strict=True))
        middle = time.perf_counter()
        parts["to_numpy"] = parts.get("to_numpy", 0.0) + middle - start
        texts = target_tokenizer.detokenize(sequences).numpy()
        [text.decode("utf-8") for text in texts]
        parts["detokenize"] = (
            parts.get("detokenize", 0.0) + time.perf_counter() - middle
        )

    return run


def proposed_path(model, decode, trim, keep_attention):
    """One batch with tokenization compiled, and optionally trimmed.

    The tokenizer and the detokenizer run as `tf.function` graphs instead
    of op by op. With `trim`, the source ids are cut to the batch's
    longest sentence rounded up to a multiple of 8, so the encoder and the
    attention skip most of the padding while XLA compiles at most one
    program per width (5 for 40 tokens).
    """
    source_tokenizer = model.source_tokenizer
    target_tokenizer = model.target_tokenizer
    max_width = source_tokenizer.sequence_length

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
    def tokenize(texts):
        return source_tokenizer(
            texts, add_start=False, add_end=False, warn_on_truncation=False
        )

    @tf.function(input_signature=[tf.TensorSpec([None, None], tf.int32)])
    def detokenize(sequences):
        return target_tokenizer.detokenize(sequences)

    def run(batch, lengths, parts):
        count = len(batch)
        padded, padded_lengths = pad_batch(batch, lengths)
        start = time.perf_counter()
        source_ids = tokenize(tf.constant(padded, tf.string)).numpy()
        if trim:
            longest = int(np.max(np.sum(source_ids != 0, axis=1)))
            width = min(max(8, -(-longest // 8) * 8), max_width)
            source_ids = source_ids[:, :width]
        middle = time.perf_counter()
        parts["tokenize"] = parts.get("tokenize", 0.0) + middle - start
        results = decode(source_ids, padded_lengths)
        sequences = results["sequences"].numpy()
        start = time.perf_counter()
        parts["decode"] = parts.get("decode", 0.0) + start - middle
        texts = detokenize(sequences).numpy()[:count]
        [text.decode("utf-8") for text in texts]
        middle = time.perf_counter()
        parts["detokenize"] = parts.get("detokenize", 0.0) + middle - start
        sequences = sequences[:count]
        if keep_attention:
            list(ops.convert_to_numpy(results["attention"])[:count])
        list(zip(source_ids[:count], sequences, strict=True))
        parts["to_numpy"] = (
            parts.get("to_numpy", 0.0) + time.perf_counter() - middle
        )

    return run


def peer_path(peer):
    """One batch of the tutorial's translation (no padding to 64)."""

    def run(batch, lengths, parts):
        texts, _ = peer.translate(batch, lengths)
        [text.decode("utf-8") for text in texts.numpy()]

    return run


def component_loops(model, arch, iterations=MAX_LENGTH):
    """Compiled loops of `iterations` steps of one piece each, batch 64.

    Each loop feeds a trace of its output back into its input so that XLA
    cannot hoist the piece out of the loop.
    """
    decoder = model.decoder
    units = MODEL_ARGUMENTS[arch]["units"]
    embedding_dim = MODEL_ARGUMENTS[arch]["embedding_dim"]
    source_ids = np.random.default_rng(0).integers(
        4, model.source_tokenizer.vocabulary_size, (BATCH_SIZE, MAX_LENGTH)
    )
    source_ids = ops.convert_to_tensor(source_ids, "int32")
    state = model.encode(source_ids)
    memory = state["memory"]
    cell_state = state["decoder"]["cell"]
    output_size = decoder.output_size
    attention_query = ops.zeros((BATCH_SIZE, units))

    def loop(piece, value):
        def run(value):
            def body(index, value):
                out = piece(value)
                return index + 1, value + 1e-6 * ops.mean(out)

            _, value = ops.while_loop(
                lambda index, value: index < iterations,
                body,
                (ops.convert_to_tensor(0), value),
            )
            return value

        return tf.function(run, jit_compile=True), value

    cell_input_dim = embedding_dim + (
        memory["value"].shape[-1] if arch == "bahdanau" else 0
    )

    def cell(value):
        hidden, _ = decoder.cell(value, cell_state)
        return hidden

    def attention(value):
        context, weights = decoder.attention(
            value, memory, return_attention_scores=True
        )
        return context

    def output_layer(value):
        logits = model.output_projection(value)
        log_probs = ops.log_softmax(logits, axis=-1)
        return ops.argmax(log_probs, axis=-1)

    def embedding(value):
        return model.target_embedding(ops.cast(value[:, 0], "int32") + 4)

    return {
        "cell": loop(cell, ops.zeros((BATCH_SIZE, cell_input_dim))),
        "attention": loop(attention, attention_query),
        "output layer": loop(
            output_layer, ops.zeros((BATCH_SIZE, output_size))
        ),
        "embedding": loop(embedding, ops.zeros((BATCH_SIZE, 1))),
        "empty loop": loop(lambda value: value, ops.zeros((BATCH_SIZE, 1))),
    }


class ForcedPeer(PeerGreedyTranslator):
    """The peer's translator, ending each row at a given length."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._translate = tf.function(
            self._forced_batch,
            input_signature=[
                tf.TensorSpec([None], tf.string),
                tf.TensorSpec([None], tf.int32),
            ],
        )

    def _forced_batch(self, texts, lengths):
        self._lengths = lengths
        return self._translate_batch(texts)

    def next_logits(self, context, next_token, state, step):
        # Named, not `super()`: AutoGraph converts this method and loses
        # the `__class__` cell that a bare `super()` needs.
        logits, state = PeerGreedyTranslator.next_logits(
            self, context, next_token, state, step
        )
        ends_now = step + 1 >= self._lengths
        sign = tf.where(ends_now, 1.0, -1.0)[:, None, None]
        end_column = tf.one_hot(self.end_id, tf.shape(logits)[-1])
        return logits + FORCE * sign * end_column, state

    def translate(self, texts, lengths):
        return self._translate(
            tf.constant(texts, tf.string), tf.constant(lengths, tf.int32)
        )


def peer_lengths(references):
    """Words the peer emits per reference: its words plus `[END]`."""
    words = tf.strings.split(tf_lower_and_split_punct(references))
    # Less the [START] the standardization adds.
    lengths = words.row_lengths().numpy() - 1
    return np.minimum(lengths, MAX_LENGTH).astype("int32")


def encoder_seconds(model, source_ids, widths, repeats=5):
    """Median seconds of `encode` by source width, with and without XLA."""
    encoders = {
        engine: tf.function(
            lambda ids: model.encode(ids, max_length=MAX_LENGTH),
            jit_compile=jit_compile,
        )
        for engine, jit_compile in (("XLA", True), ("no XLA", False))
    }
    times = {}
    for encode in encoders.values():
        for width in widths:
            encode(source_ids[:, :width])
    for _ in range(repeats):
        for width in widths:
            for engine, encode in encoders.items():
                start = time.perf_counter()
                tree_numpy(encode(source_ids[:, :width]))
                times.setdefault((engine, width), []).append(
                    time.perf_counter() - start
                )
    return {key: statistics.median(values) for key, values in times.items()}


def tree_numpy(structure):
    return [ops.convert_to_numpy(x) for x in keras.tree.flatten(structure)]


def profile(
    arch, sources, references, tokenizers, rounds, timer, peer, variants=None
):
    source_tokenizer, target_tokenizer = tokenizers
    model = build_model(arch, source_tokenizer, target_tokenizer)
    lengths = reference_lengths(target_tokenizer, references)
    peer_words = peer_lengths(references)
    with_attention = make_decoder(model, True)
    no_attention = make_decoder(model, False)
    no_xla = make_decoder(model, True, jit_compile=False)
    no_xla_no_attention = make_decoder(model, False, jit_compile=False)
    hybrid = make_decoder(model, True, hybrid=True)
    hybrid_no_attention = make_decoder(model, False, hybrid=True)
    runners = {
        "current": (current_path(model, with_attention, True), lengths),
        "current, no attention": (
            current_path(model, no_attention, False),
            lengths,
        ),
        "compiled text": (
            proposed_path(model, with_attention, False, True),
            lengths,
        ),
        "compiled text + trim": (
            proposed_path(model, with_attention, True, True),
            lengths,
        ),
        "compiled text + trim, no attention": (
            proposed_path(model, no_attention, True, False),
            lengths,
        ),
        "current, no XLA": (current_path(model, no_xla, True), lengths),
        "compiled text + trim, no XLA": (
            proposed_path(model, no_xla, True, True),
            lengths,
        ),
        "compiled text + trim, no XLA, no attention": (
            proposed_path(model, no_xla_no_attention, True, False),
            lengths,
        ),
        "compiled text + trim, hybrid": (
            proposed_path(model, hybrid, True, True),
            lengths,
        ),
        "compiled text + trim, hybrid, no attention": (
            proposed_path(model, hybrid_no_attention, True, False),
            lengths,
        ),
        "peer": (peer_path(peer), peer_words),
    }
    if variants:
        # The current path and the peer are the references of every ratio.
        keep = {"current", "peer", *variants}
        runners = {
            name: runner for name, runner in runners.items() if name in keep
        }
    source_batches = batches(sources)
    # Compile everything once, untimed: every source width of the trimmed
    # variants and the peer's one trace.
    for run, run_lengths in runners.values():
        for batch, batch_lengths in zip(
            source_batches, batches(run_lengths), strict=True
        ):
            run(batch, batch_lengths, {})
    tracing_before = with_attention.experimental_get_tracing_count()
    # The ways of compiling must decode the same tokens (up to float
    # rounding on near ties of the untrained logits).
    agreement = {}
    for batch, batch_lengths in zip(
        source_batches[::8], batches(lengths)[::8], strict=True
    ):
        padded, padded_lengths = pad_batch(batch, batch_lengths)
        ids = ops.convert_to_numpy(
            source_tokenizer(padded, add_start=False, add_end=False)
        )
        reference = with_attention(ids, padded_lengths)["sequences"].numpy()
        for name, decode in (("no XLA", no_xla), ("hybrid", hybrid)):
            sequences = decode(ids, padded_lengths)["sequences"].numpy()
            same = agreement.setdefault(name, [0, 0])
            same[0] += int(np.sum(sequences == reference))
            same[1] += sequences.size
    parts = {name: {} for name in runners}
    names = list(runners)
    for round_index in range(rounds):
        # Interleaved batch by batch, in a rotating order, so that every
        # path sees the same machine load.
        totals = dict.fromkeys(names, 0.0)
        for index, batch in enumerate(source_batches):
            shift = (index + round_index) % len(names)
            for name in names[shift:] + names[:shift]:
                run, run_lengths = runners[name]
                batch_lengths = batches(run_lengths)[index]
                start = time.perf_counter()
                run(batch, batch_lengths, parts[name])
                totals[name] += time.perf_counter() - start
        for name, seconds in totals.items():
            timer.add(f"{arch} {name}", seconds)
    retraced = with_attention.experimental_get_tracing_count() - tracing_before

    # The decode alone on a batch from the middle of the test split (its
    # sentences are of typical length), for each way of compiling it and
    # for the peer (whose time includes its text processing).
    middle = len(sources) // 2
    peer_batch = list(sources[middle : middle + BATCH_SIZE])
    full_ids = ops.convert_to_numpy(
        source_tokenizer(peer_batch, add_start=False, add_end=False)
    )
    width = int(np.max(np.sum(full_ids != 0, axis=1)))
    width = min(-(-width // 8) * 8, MAX_LENGTH)
    source_ids = full_ids[:, :width]
    peer_width = int(
        peer.source_vectorizer(peer_batch).row_lengths().numpy().max()
    )
    engines = {
        "XLA": no_attention,
        "no XLA": no_xla_no_attention,
        "hybrid": hybrid_no_attention,
    }
    fixed = [1, 10, 20, 40]
    components = component_loops(model, arch)
    for decode in engines.values():
        for length in fixed:
            decode(source_ids, np.full(BATCH_SIZE, length, "int32"))
    for function, value in components.values():
        function(value)
    for length in fixed:
        peer.translate(peer_batch, np.full(BATCH_SIZE, length, "int32"))
    for _ in range(3 * rounds):
        for length in fixed:
            start = time.perf_counter()
            peer.translate(peer_batch, np.full(BATCH_SIZE, length, "int32"))[
                0
            ].numpy()
            timer.add(
                f"{arch} fixed peer {length}", time.perf_counter() - start
            )
            for engine, decode in engines.items():
                start = time.perf_counter()
                decode(source_ids, np.full(BATCH_SIZE, length, "int32"))[
                    "sequences"
                ].numpy()
                timer.add(
                    f"{arch} fixed {engine} {length}",
                    time.perf_counter() - start,
                )
        for name, (function, value) in components.items():
            start = time.perf_counter()
            ops.convert_to_numpy(function(value))
            timer.add(f"{arch} piece {name}", time.perf_counter() - start)
    return {
        "steps": sum(int(batch.max()) for batch in batches(lengths)),
        "peer_steps": sum(int(batch.max()) for batch in batches(peer_words)),
        "batches": len(source_batches),
        "mean_length": float(np.mean(lengths)),
        "peer_mean_length": float(np.mean(peer_words)),
        "retraced": retraced,
        "agreement": {
            name: same / total for name, (same, total) in agreement.items()
        },
        "fixed": fixed,
        "engines": list(engines),
        "encoder": encoder_seconds(model, full_ids, [8, 16, 24, 40]),
        "width": width,
        "peer_width": peer_width,
        "runners": names,
        "parts": {
            name: {part: seconds / rounds for part, seconds in value.items()}
            for name, value in parts.items()
        },
    }


def report(arch, info, timer, sentences):
    lines = [f"## {arch}"]
    batches_count = info["batches"]
    lines.append(
        f"{sentences} sentences, {batches_count} batches; loop steps in all: "
        f"{info['steps']} ours (mean reference length "
        f"{info['mean_length']:.1f} tokens with [END]), {info['peer_steps']} "
        f"the peer's (mean {info['peer_mean_length']:.1f} words with "
        f"[END]); retraces after warm-up: {info['retraced']}; tokens "
        "equal to the XLA decoder's: "
        + ", ".join(
            f"{name} {share:.4f}" for name, share in info["agreement"].items()
        )
    )
    peer = timer.median(f"{arch} peer")
    for name in info["runners"]:
        total = timer.median(f"{arch} {name}")
        line = (
            f"- {name}: {sentences / total:.0f} sentences/s "
            f"({peer / total:.2f}x peer), "
            f"{1e3 * total / batches_count:.1f} ms per batch"
        )
        if info["parts"][name]:
            line += (
                " ("
                + ", ".join(
                    f"{part} {1e3 * seconds / batches_count:.1f}"
                    for part, seconds in info["parts"][name].items()
                )
                + ")"
            )
        lines.append(line)
    fixed = info["fixed"]
    for engine in [*info["engines"], "peer"]:
        times = [
            timer.median(f"{arch} fixed {engine} {length}") for length in fixed
        ]
        slope, intercept = np.polyfit(fixed, times, 1)
        lines.append(
            f"- decode alone, {engine}, the middle batch (source width "
            f"{info['peer_width'] if engine == 'peer' else info['width']}, "
            "no attention history), all rows ending at step L: "
            + ", ".join(
                f"L={length} {1e3 * seconds:.1f} ms"
                for length, seconds in zip(fixed, times, strict=True)
            )
            + f" -> {1e3 * intercept:.1f} ms fixed + "
            f"{1e3 * slope:.2f} ms/step"
        )
    lines.append(
        "- encode alone by source width: "
        + ", ".join(
            f"{width} {engine} {1e3 * seconds:.1f} ms"
            for (engine, width), seconds in info["encoder"].items()
        )
    )
    pieces = ", ".join(
        f"{name} {1e3 * timer.median(f'{arch} piece {name}') / MAX_LENGTH:.2f}"
        for name in ("cell", "attention", "output layer", "embedding")
    )
    empty = timer.median(f"{arch} piece empty loop") / MAX_LENGTH
    lines.append(
        f"- per step, pieces alone (ms, batch 64, source width 40): "
        f"{pieces}; empty loop {1e3 * empty:.3f}"
    )
    return "\n".join(lines)


def _parse_args(argv):
    parser = argparse.ArgumentParser(
        prog="python -m bench.decoding_profile",
        description=__doc__.split("\n")[0],
    )
    parser.add_argument("--data", default=str(DEFAULT_DATA))
    parser.add_argument(
        "--vocabulary-dir",
        default=str(REPO_ROOT / "runs" / "bench-translation2" / "vocabulary"),
    )
    parser.add_argument(
        "--arch", nargs="+", default=["bahdanau", "luong"], metavar="ARCH"
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--max-sentences", type=int, default=None)
    parser.add_argument(
        "--variants",
        nargs="+",
        default=None,
        help="the variants to time beside the current path and the peer "
        "(default: all)",
    )
    return parser.parse_args(argv)


def main(argv=None):
    args = _parse_args(argv)
    splits = load_translation_data(args.data, source_column=1, target_column=0)
    tokenizers = _learn_or_reuse_tokenizers(
        splits["train"], pathlib.Path(args.vocabulary_dir), 4000, 40, 1
    )
    model, _, translator = build_peer(splits["train"])
    peer = ForcedPeer(
        model,
        translator.source_vectorizer,
        translator.target_vectorizer,
        max_length=MAX_LENGTH,
    )
    test = splits["test"][: args.max_sentences]
    sources = [source for source, _ in test]
    references = [reference for _, reference in test]
    timer = Timer()
    infos = {}
    for arch in args.arch:
        infos[arch] = profile(
            arch,
            sources,
            references,
            tokenizers,
            args.rounds,
            timer,
            peer,
            args.variants,
        )
    for arch in args.arch:
        print(report(arch, infos[arch], timer, len(sources)))
    print(json.dumps(timer.times))


if __name__ == "__main__":
    main()
