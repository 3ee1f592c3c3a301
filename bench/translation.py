"""Trains each zoo translation model for the same time budget and scores it.

On the Tatoeba Spanish-English fixed splits (`../shared/data/spa-eng`,
Spanish -> English), every architecture is trained by
`zoo.translation.training.train_translation` for `--minutes` of wall time
(the epoch in progress at the deadline is cut short, then validated and
checkpointed), then scored on the test split:

- corpus BLEU with sacrebleu's default 13a tokenizer, hypotheses and
  references both lowercased and otherwise untouched, greedy and beam 4;
- training sentence pairs per second (time in training steps only);
- decoded sentences per second, batch 64, greedy and beam 4 (one compiled
  decoding loop per batch; the first batch, which compiles, is not timed).

The peer is the TensorFlow `nmt_with_attention` tutorial re-implemented
(`bench.translation_peer`: bidirectional GRU + one-head
`MultiHeadAttention`, 256 units, 5,000-word vocabularies, 5.3 M
parameters). After our models, it trains for `--peer-minutes` (default:
the same budget) on its own pipeline; then, so that both see the same
machine load:

- training speed: each of our models and the peer take turns for
  `--speed-rounds` rounds of `--speed-steps` training steps;
- greedy decoding speed: each of our models (`translate_pairs`, as
  `train_translation` times it) and the peer (the tutorial's exported
  `translate`, strings in and out) translate the whole test split in
  batches of 64, at most as many tokens as our models, in turns for
  `--decode-rounds` rounds, after one untimed pass each (tracing and
  compilation); tokenization and detokenization are counted for both.

The "x peer" columns and the speed goals use those same-run ratios. The
peer's BLEU is measured against references in its own text form
(lowercase, no accents or apostrophes); the BLEU goal stays the issue's
42.6.

The vocabularies (4,000 WordPiece tokens a side) are learned once, kept
in `LOGDIR/vocabulary` and shared by all architectures; learning is not
part of the budget.

Usage:

    python -m bench.translation --minutes 20
"""

import argparse
import datetime
import json
import os
import pathlib
import platform
import time

import keras
import numpy as np

from bench.translation_peer import build_peer
from bench.translation_peer import standardized_references
from bench.translation_peer import train_for
from bench.translation_peer import train_steps
from bench.translation_peer import translate_texts
from keras_attention.metrics import text_scores
from zoo.data import load_translation_data
from zoo.text import make_translation_dataset
from zoo.translation.training import MaskedSparseCrossentropy
from zoo.translation.training import length_buckets
from zoo.translation.training import masked_accuracy
from zoo.translation.training import train_translation
from zoo.translation.training import translate_pairs

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO_ROOT / ".." / "shared" / "data" / "spa-eng"

PEER = {
    "name": "TF nmt_with_attention (biGRU + 1-head MHA, 256 units)",
    "bleu_greedy": 42.6,
    "train_pairs_per_second": 595.0,
    "decode_sentences_per_second": 1870.0,
}
BLEU_TARGET = PEER["bleu_greedy"]
BEST_BEAM_BLEU_TARGET = 46.0
DEFAULT_MODEL_SPEEDUP_TARGET = 2.0
# Every RNN decodes greedily at least as fast as the peer, same run.
DECODING_SPEED_TARGET = 1.0
# The architecture whose training speed is held to 2x the peer's.
DEFAULT_ARCH = "luong"

# Sizes for a 20-minute CPU budget on ~115,000 short sentence pairs. The
# RNN decoders start from the encoder's final state, as in the papers (the
# dates defaults start from zeros so that their attention must explain
# the output); the recorded results were measured so.
MODEL_ARGUMENTS = {
    "bahdanau": {
        "embedding_dim": 256,
        "units": 256,
        "dropout": 0.1,
        "initial_state": "encoder",
    },
    "luong": {
        "embedding_dim": 256,
        "units": 256,
        "num_layers": 1,
        "score": "general",
        "input_feeding": False,
        "dropout": 0.1,
        "initial_state": "encoder",
    },
    "transformer": {
        "model_dim": 256,
        "num_heads": 4,
        "feed_forward_dim": 512,
        "num_layers": 3,
        "dropout": 0.1,
    },
}


def _parse_args(argv):
    parser = argparse.ArgumentParser(
        prog="python -m bench.translation", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--data",
        default=str(DEFAULT_DATA),
        help="spa-eng fixed splits (directory) or pairs file",
    )
    parser.add_argument(
        "--source-column",
        type=int,
        default=1,
        help="the files are english<TAB>spanish; 1 translates Spanish",
    )
    parser.add_argument("--target-column", type=int, default=0)
    parser.add_argument(
        "--archs", nargs="+", default=list(MODEL_ARGUMENTS), metavar="ARCH"
    )
    parser.add_argument("--minutes", type=float, default=20.0)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--vocabulary-size", type=int, default=4000)
    parser.add_argument("--max-examples", type=int, default=None)
    parser.add_argument(
        "--max-eval-pairs",
        type=int,
        default=None,
        help="score and time decoding on the first N test pairs only "
        "(quick runs); default: all",
    )
    parser.add_argument(
        "--model-args",
        type=json.loads,
        default=None,
        help="JSON {arch: {argument: value}} overriding MODEL_ARGUMENTS",
    )
    parser.add_argument(
        "--speed-steps",
        type=int,
        default=50,
        help="training steps per turn of the same-run speed comparison",
    )
    parser.add_argument(
        "--speed-rounds",
        type=int,
        default=4,
        help="turns of each model in the speed comparison (0 skips it)",
    )
    parser.add_argument(
        "--peer-minutes",
        type=float,
        default=None,
        help="the peer's training budget (default: --minutes)",
    )
    parser.add_argument(
        "--decode-rounds",
        type=int,
        default=3,
        help="turns of each model in the decoding speed comparison (0 "
        "skips it)",
    )
    parser.add_argument("--logdir", default="runs/bench-translation")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--verbose", type=int, default=2)
    return parser.parse_args(argv)


def run(args):
    """Trains and scores every requested architecture; returns the rows."""
    logdir = pathlib.Path(args.logdir)
    overrides = args.model_args or {}
    rows = []
    for arch in args.archs:
        model_arguments = {
            **MODEL_ARGUMENTS[arch],
            **overrides.get(arch, {}),
        }
        results = train_translation(
            arch,
            None if args.data == "dates" else args.data,
            source_column=args.source_column,
            target_column=args.target_column,
            logdir=logdir / arch,
            # A benchmark run is a fresh measurement, never a resumed one.
            overwrite=True,
            # The time budget, not the epoch count, ends training.
            epochs=1000,
            max_minutes=args.minutes,
            patience=1000,
            batch_size=args.batch_size,
            vocabulary_size=args.vocabulary_size,
            max_examples=args.max_examples,
            max_eval_pairs=args.max_eval_pairs,
            model_arguments=model_arguments,
            vocabulary_dir=logdir / "vocabulary",
            seed=args.seed,
            verbose=args.verbose,
        )
        model = keras.saving.load_model(results["model_path"], compile=False)
        results["parameters"] = model.count_params()
        results["max_decode_length"] = model.max_decode_length
        results["model_arguments"] = model_arguments
        rows.append(results)
        print(json.dumps(_summary(results)), flush=True)
    return rows


def train_peer(rows, args):
    """Builds the peer and trains it for its budget.

    Returns:
        A dict: `"splits"` (the data splits), `"model"`, `"batches"` (an
        iterator over its training pipeline), `"translator"` (its
        `PeerGreedyTranslator`, generating at most as many tokens as our
        models), `"minutes"` and `"train_pairs"`.
    """
    splits = load_translation_data(
        None if args.data == "dates" else args.data,
        source_column=args.source_column,
        target_column=args.target_column,
        max_examples=args.max_examples,
        seed=args.seed,
    )
    max_length = max((row["max_decode_length"] for row in rows), default=40)
    model, data, translator = build_peer(
        splits["train"], seed=args.seed, max_length=max_length
    )
    batches = iter(data)
    minutes = args.minutes if args.peer_minutes is None else args.peer_minutes
    _, pairs = train_for(model, batches, minutes)
    return {
        "splits": splits,
        "model": model,
        "batches": batches,
        "translator": translator,
        "minutes": minutes,
        "train_pairs": pairs,
    }


def compare_training_speed(rows, args, peer):
    """Training pairs/s of each trained model and the peer, in turns.

    Each model is loaded from its `.keras` file, recompiled as
    `train_translation` compiles it (a fresh optimizer: the step's cost
    does not depend on its state) and fed batches from the same bucketed
    pipeline as in training; the peer (the dict of `train_peer`) keeps its
    own pipeline and optimizer. After `--speed-steps` untimed warm-up steps
    each (tracing, one compilation per batch shape), every model runs
    `--speed-steps` timed steps in turn, `--speed-rounds` times.

    Sets `row["same_run_pairs_per_second"]` and
    `row["same_run_peer_ratio"]` on every row and returns the peer's
    pairs/s.
    """
    train_pairs = peer["splits"]["train"]
    runners = [("peer", peer["model"], peer["batches"])]
    for row in rows:
        model = keras.saving.load_model(row["model_path"])
        model.compile(
            optimizer=keras.optimizers.Adam(clipnorm=5.0),
            loss=MaskedSparseCrossentropy(),
            metrics=[masked_accuracy],
            jit_compile="auto",
        )
        data = make_translation_dataset(
            train_pairs,
            model.source_tokenizer,
            model.target_tokenizer,
            args.batch_size,
            model.source_tokenizer.sequence_length,
            model.max_decode_length,
            seed=args.seed,
            bucket_boundaries=length_buckets(
                model.source_tokenizer.sequence_length,
                model.max_decode_length,
            ),
        ).repeat()
        runners.append((row["arch"], model, iter(data)))
    for _, model, batches in runners:
        train_steps(model, batches, args.speed_steps)
    totals = {name: [0.0, 0] for name, _, _ in runners}
    for _ in range(args.speed_rounds):
        for name, model, batches in runners:
            seconds, pairs = train_steps(model, batches, args.speed_steps)
            totals[name][0] += seconds
            totals[name][1] += pairs
    speed = {name: pairs / seconds for name, (seconds, pairs) in totals.items()}
    for row in rows:
        row["same_run_pairs_per_second"] = speed[row["arch"]]
        row["same_run_peer_ratio"] = speed[row["arch"]] / speed["peer"]
    return speed["peer"]


def _batch_maxima(values, batch_size):
    return [
        max(values[start : start + batch_size])
        for start in range(0, len(values), batch_size)
    ]


def compare_decoding_speed(rows, args, peer):
    """Greedy sentences/s of each trained model and the peer, in turns.

    Our models translate the test split (its first `--max-eval-pairs`)
    with `translate_pairs` (as `train_translation` times them: eager
    tokenization, one compiled decoding loop per batch of `--batch-size`,
    detokenization), the peer with the tutorial's `translate` (one
    `tf.function` from strings to strings per batch). One untimed pass
    each traces and compiles; then each takes `--decode-rounds` timed
    passes in turn.

    Sets `row["same_run_greedy_sentences_per_second"]`,
    `row["same_run_greedy_peer_ratio"]` and `row["greedy_loop_steps"]`
    (mean decoding loop iterations per batch: the batch's longest output,
    `[END]` included) on every row.

    Returns:
        A dict for the peer: `"greedy_sentences_per_second"`,
        `"greedy_loop_steps"` and `"bleu_greedy"` (against references in
        its own text form).
    """
    test_pairs = peer["splits"]["test"][: args.max_eval_pairs]
    sources = [source for source, _ in test_pairs]
    batch_size = args.batch_size

    def peer_pass():
        return translate_texts(peer["translator"], sources, batch_size)

    runners = [("peer", peer_pass)]
    for row in rows:
        model = keras.saving.load_model(row["model_path"], compile=False)

        def our_pass(model=model):
            hypotheses, _, token_ids = translate_pairs(
                model, test_pairs, batch_size=batch_size
            )
            lengths = [int(np.count_nonzero(output)) for _, output in token_ids]
            return hypotheses, _batch_maxima(lengths, batch_size)

        runners.append((row["arch"], our_pass))
    outputs = {name: run() for name, run in runners}
    seconds = dict.fromkeys(outputs, 0.0)
    for _ in range(args.decode_rounds):
        for name, run in runners:
            start = time.perf_counter()
            run()
            seconds[name] += time.perf_counter() - start
    speed = {
        name: args.decode_rounds * len(sources) / value
        for name, value in seconds.items()
    }
    for row in rows:
        _, steps = outputs[row["arch"]]
        row["same_run_greedy_sentences_per_second"] = speed[row["arch"]]
        row["same_run_greedy_peer_ratio"] = speed[row["arch"]] / speed["peer"]
        row["greedy_loop_steps"] = float(np.mean(steps))
    translations, steps = outputs["peer"]
    references = standardized_references([target for _, target in test_pairs])
    return {
        "greedy_sentences_per_second": speed["peer"],
        "greedy_loop_steps": float(np.mean(steps)),
        "bleu_greedy": text_scores(translations, references)["bleu"],
    }


def _summary(results):
    return {
        "arch": results["arch"],
        "parameters": results["parameters"],
        "epochs": results["epochs"],
        "train_pairs": results["train_pairs"],
        "train_pairs_per_second": round(results["train_pairs_per_second"]),
        "bleu_greedy": round(results["greedy"]["bleu"], 2),
        "bleu_beam4": round(results["beam4"]["bleu"], 2),
        "greedy_sentences_per_second": round(
            results["greedy"]["sentences_per_second"]
        ),
        "beam4_sentences_per_second": round(
            results["beam4"]["sentences_per_second"]
        ),
        "bleu_by_source_length": results["greedy"]["bleu_by_source_length"],
    }


def _peer_ratio(row):
    """Training speed over the peer's: same-run if measured, else issue's."""
    if "same_run_peer_ratio" in row:
        return row["same_run_peer_ratio"]
    return row["train_pairs_per_second"] / PEER["train_pairs_per_second"]


def _greedy_speed(row):
    """Greedy sentences/s: the same-run measurement if made."""
    return row.get(
        "same_run_greedy_sentences_per_second",
        row["greedy"]["sentences_per_second"],
    )


def _greedy_peer_ratio(row):
    """Greedy decoding speed over the peer's: same-run, else issue's."""
    if "same_run_greedy_peer_ratio" in row:
        return row["same_run_greedy_peer_ratio"]
    return _greedy_speed(row) / PEER["decode_sentences_per_second"]


def format_table(rows, peer_pairs_per_second=None, peer_decoding=None):
    """Markdown table of the rows with the peer's line.

    The peer's training speed, decoding speed and BLEU are the same-run
    measurements when given (`peer_decoding` is the dict of
    `compare_decoding_speed`), else the issue's constants; the "x peer"
    columns follow them.
    """
    lines = [
        "| model | parameters | epochs | train pairs/s | x peer "
        "| BLEU greedy | BLEU beam 4 | greedy sent/s | x peer "
        "| beam 4 sent/s |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for row in rows:
        speed = row["train_pairs_per_second"]
        lines.append(
            f"| {row['arch']} | {row['parameters'] / 1e6:.1f} M "
            f"| {row['epochs']} | {speed:.0f} "
            f"| {_peer_ratio(row):.2f} "
            f"| {row['greedy']['bleu']:.1f} | {row['beam4']['bleu']:.1f} "
            f"| {_greedy_speed(row):.0f} | {_greedy_peer_ratio(row):.2f} "
            f"| {row['beam4']['sentences_per_second']:.0f} |"
        )
    peer_speed = peer_pairs_per_second or PEER["train_pairs_per_second"]
    peer_bleu = PEER["bleu_greedy"]
    peer_greedy = PEER["decode_sentences_per_second"]
    if peer_decoding is not None:
        peer_bleu = peer_decoding["bleu_greedy"]
        peer_greedy = peer_decoding["greedy_sentences_per_second"]
    lines.append(
        f"| peer: {PEER['name']} | 5.3 M | | "
        f"{peer_speed:.0f} | 1.00 "
        f"| {peer_bleu:.1f} | | "
        f"{peer_greedy:.0f} | 1.00 | |"
    )
    return "\n".join(lines)


def format_targets(rows):
    """One line per goal of the benchmark, with pass or fail."""
    lines = []
    recurrent = [row for row in rows if row["arch"] != "transformer"]
    for row in recurrent:
        bleu = row["greedy"]["bleu"]
        verdict = "pass" if bleu > BLEU_TARGET else "FAIL"
        lines.append(
            f"- {row['arch']} greedy BLEU {bleu:.1f} > {BLEU_TARGET}: {verdict}"
        )
    if rows:
        best = max(rows, key=lambda row: row["beam4"]["bleu"])
        bleu = best["beam4"]["bleu"]
        verdict = "pass" if bleu > BEST_BEAM_BLEU_TARGET else "FAIL"
        lines.append(
            f"- best beam-4 BLEU ({best['arch']}) {bleu:.1f} > "
            f"{BEST_BEAM_BLEU_TARGET}: {verdict}"
        )
    for row in rows:
        if row["arch"] == DEFAULT_ARCH:
            ratio = _peer_ratio(row)
            verdict = (
                "pass" if ratio >= DEFAULT_MODEL_SPEEDUP_TARGET else ("FAIL")
            )
            lines.append(
                f"- default model ({DEFAULT_ARCH}) training speed "
                f"{ratio:.2f}x the peer's >= "
                f"{DEFAULT_MODEL_SPEEDUP_TARGET}x: {verdict}"
            )
    for row in recurrent:
        ratio = _greedy_peer_ratio(row)
        verdict = "pass" if ratio >= DECODING_SPEED_TARGET else "FAIL"
        same_run = (
            "same run"
            if "same_run_greedy_peer_ratio" in row
            else ("issue's peer")
        )
        lines.append(
            f"- {row['arch']} greedy decoding {ratio:.2f}x the peer's "
            f"({same_run}) >= {DECODING_SPEED_TARGET:g}x: {verdict}"
        )
    return "\n".join(lines)


def main(argv=None):
    """Runs the benchmark and prints the Markdown results.

    Args:
        argv: Command line arguments (without the program name); defaults
            to `sys.argv[1:]`.

    Returns:
        The list of `train_translation` results, one per architecture, with
        `"parameters"` and `"model_arguments"` added.
    """
    args = _parse_args(argv)
    print(
        f"{datetime.date.today().isoformat()}, backend "
        f"{keras.backend.backend()}, keras {keras.__version__}, python "
        f"{platform.python_version()}, {os.cpu_count()} CPU cores; "
        f"{args.minutes:g} minutes per architecture on {args.data}",
        flush=True,
    )
    rows = run(args)
    peer_speed = None
    peer_decoding = None
    if args.speed_rounds > 0 or args.decode_rounds > 0:
        peer = train_peer(rows, args)
        print(
            json.dumps(
                {
                    "peer_minutes": peer["minutes"],
                    "peer_train_pairs": peer["train_pairs"],
                }
            ),
            flush=True,
        )
    if args.speed_rounds > 0:
        peer_speed = compare_training_speed(rows, args, peer)
        print(
            json.dumps(
                {
                    "peer_pairs_per_second": round(peer_speed),
                    **{
                        row["arch"]: round(row["same_run_pairs_per_second"])
                        for row in rows
                    },
                }
            ),
            flush=True,
        )
    if args.decode_rounds > 0:
        peer_decoding = compare_decoding_speed(rows, args, peer)
        print(
            json.dumps(
                {
                    "peer_greedy": {
                        "sentences_per_second": round(
                            peer_decoding["greedy_sentences_per_second"]
                        ),
                        "loop_steps": round(
                            peer_decoding["greedy_loop_steps"], 1
                        ),
                        "bleu": round(peer_decoding["bleu_greedy"], 2),
                    },
                    **{
                        row["arch"]: {
                            "sentences_per_second": round(
                                row["same_run_greedy_sentences_per_second"]
                            ),
                            "loop_steps": round(row["greedy_loop_steps"], 1),
                        }
                        for row in rows
                    },
                }
            ),
            flush=True,
        )
    print()
    print(format_table(rows, peer_speed, peer_decoding))
    print()
    print(format_targets(rows))
    return rows


if __name__ == "__main__":
    main()
