"""Scores the zoo's captioner against the TensorFlow tutorial's, same run.

On the 1,000 Flickr8k images of `../shared/data/flickr8k` (official
lists: 753 training images, 5 captions each; the 113 dev and 125 test
images, 238 with 5 references each, are the report images), from the
precomputed MobileNetV2 features
(`features_mobilenet_v2_7x7x1280.npz`, 7 x 7 regions of 1,280 channels):

- each of our attention variants (`--variants`, default `soft,hard`) is
  trained by `zoo.trainer.train("captioning", ...)` for `--minutes` of
  wall time and scored by it on the report images, greedy and beam 3;
- each peer (`--peers`, default `tutorial,tutorial-keep-state`) is the
  TensorFlow "Image captioning with visual attention" tutorial
  re-implemented (`bench.captioning_peer`): `tutorial` as published (its
  GRU restarts from zeros at every step), `tutorial-keep-state` with its
  GRU given the previous state. Each trains on the same 753 images for the
  same `--minutes` and decodes the report images greedily (at most the
  longest training caption's length in tokens).

Every caption is scored by `keras_attention.metrics.caption_scores`
against all 5 references of its image as written (BLEU-1 to 4 by
sacreBLEU, CIDEr-D). The table gives the share of captions that ran to
the length limit without ending, the training captions per second (time
in training steps, tracing included) and that speed over the `tutorial`
peer's in this run. Targets, for each variant: beam-3 BLEU-4 >= 13, no
caption at the length limit (greedy and beam 3), training at least 2x
the `tutorial` peer's captions per second.

Usage:

    python -m bench.captioning --minutes 10
"""

import argparse
import datetime
import json
import os
import pathlib
import platform
import tempfile
import time

import keras
import numpy as np

from bench.captioning_peer import greedy_captions
from bench.captioning_peer import train_peer
from bench.common import cpu_name
from keras_attention.metrics import caption_scores
from zoo.data import filter_by_features
from zoo.data import load_features
from zoo.data import load_flickr

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO_ROOT / ".." / "shared" / "data" / "flickr8k"
FEATURES_FILE = "features_mobilenet_v2_7x7x1280.npz"
# Peer name -> whether its GRU keeps its state (the tutorial's fix).
PEERS = {"tutorial": False, "tutorial-keep-state": True}
# The peer that training speeds are compared with: the tutorial as is.
SPEED_PEER = "tutorial"
DECODINGS = {"greedy": "greedy", "beam3": "beam 3"}
BLEU4_BEAM3_TARGET = 13.0
SPEEDUP_TARGET = 2.0
SCORE_KEYS = ("bleu1", "bleu2", "bleu3", "bleu4", "cider")


def _names(text):
    """A comma-separated list; an empty string is an empty list."""
    return [name.strip() for name in text.split(",") if name.strip()]


def _peer_names(text):
    names = _names(text)
    unknown = [name for name in names if name not in PEERS]
    if unknown:
        raise argparse.ArgumentTypeError(
            f"unknown peers {unknown}; expected some of {sorted(PEERS)}"
        )
    return names


def _parse_args(argv):
    parser = argparse.ArgumentParser(
        prog="python -m bench.captioning", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--data",
        default=str(DEFAULT_DATA),
        help=f"the Flickr8k folder, with its {FEATURES_FILE}",
    )
    parser.add_argument(
        "--minutes",
        type=float,
        default=10.0,
        help="training budget (wall time) of every variant and peer",
    )
    parser.add_argument(
        "--variants",
        type=_names,
        default=["soft", "hard"],
        help="comma-separated attention variants of the zoo's captioner "
        "('' for none)",
    )
    parser.add_argument(
        "--peers",
        type=_peer_names,
        default=list(PEERS),
        help=f"comma-separated peers, of {', '.join(PEERS)} ('' for none)",
    )
    parser.add_argument(
        "--logdir",
        default=None,
        help="where the variants' runs go (default: a temporary folder, "
        "deleted at the end)",
    )
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


def load_benchmark_data(data):
    """The training and report images with their features.

    Args:
        data: The Flickr8k folder (official split lists, token file,
            `FEATURES_FILE`).

    Returns:
        A dict: `"train"` (the `CaptionedImage`s of the training list that
        have features), `"report"` (those of the dev then test lists) and
        `"features"` (the `ImageFeatures`).
    """
    data = pathlib.Path(data)
    features = load_features(data / FEATURES_FILE)
    splits = filter_by_features(load_flickr(data), features)
    return {
        "train": splits["train"],
        "report": splits["valid"] + splits["test"],
        "features": features,
    }


def _image_features(features, images):
    return features.features[features.rows([image.image for image in images])]


def run_peer(name, data, minutes, seed):
    """Trains one peer and scores its greedy captions of the report images.

    Returns:
        A dict shaped as the zoo trainer's results: `"greedy"` (the scores
        of `caption_scores` with `"length_limit_share"`,
        `"captions_per_second"` and `"num_images"`),
        `"train_pairs_per_second"` (training captions per second),
        `"train_pairs"`, `"vocabulary_size"` and `"samples"`.
    """
    model, speed = train_peer(
        _image_features(data["features"], data["train"]),
        [image.captions for image in data["train"]],
        minutes,
        keep_state=PEERS[name],
        seed=seed,
    )
    report = data["report"]
    start = time.perf_counter()
    hypotheses, at_limit = greedy_captions(
        model, _image_features(data["features"], report), model.max_length
    )
    seconds = time.perf_counter() - start
    references = [list(image.captions) for image in report]
    greedy = dict(caption_scores(hypotheses, references))
    greedy["length_limit_share"] = float(np.mean(at_limit))
    greedy["captions_per_second"] = len(report) / seconds
    greedy["num_images"] = len(report)
    return {
        "greedy": greedy,
        "train_pairs_per_second": speed,
        "train_pairs": model.train_captions,
        "vocabulary_size": len(model.vocabulary),
        "samples": [
            {"image": image.image, "caption": text, "references": refs[:2]}
            for image, text, refs in zip(
                report[:3], hypotheses, references, strict=False
            )
        ],
    }


def run_variant(variant, data_dir, minutes, logdir, seed):
    """Trains and scores one attention variant of the zoo's captioner."""
    from zoo.trainer import train

    return train(
        "captioning",
        data=str(data_dir),
        features=str(pathlib.Path(data_dir) / FEATURES_FILE),
        attention=variant,
        max_minutes=minutes,
        epochs=1000,
        eval_splits="valid+test",
        logdir=str(pathlib.Path(logdir) / variant),
        overwrite=True,
        seed=seed,
        verbose=0,
    )


def _speed_ratio(result, results):
    """Training captions/s over the `SPEED_PEER`'s, or None if not run."""
    peer = results["peers"].get(SPEED_PEER)
    if peer is None:
        return None
    return result["train_pairs_per_second"] / peer["train_pairs_per_second"]


def _rows(results):
    """(label, decoding name, scores, result) for every table row."""
    labelled = [(name, result) for name, result in results["variants"].items()]
    labelled += [
        (f"peer: {name}", result) for name, result in results["peers"].items()
    ]
    return [
        (label, DECODINGS[decoding], result[decoding], result)
        for label, result in labelled
        for decoding in DECODINGS
        if decoding in result
    ]


def format_table(results):
    """Markdown table of every variant and peer, one row per decoding.

    Args:
        results: `{"variants": {name: result}, "peers": {name: result}}`,
            each result shaped as `zoo.trainer.train("captioning")`'s
            (`"greedy"`, optionally `"beam3"`, `"train_pairs_per_second"`).

    Returns:
        The table as a string; BLEU on sacreBLEU's 0-100 scale, CIDEr-D as
        `caption_scores` gives it, "x peer" the training speed over the
        `tutorial` peer's (empty when that peer was not run).
    """
    lines = [
        "| model | decoding | BLEU-1 | BLEU-2 | BLEU-3 | BLEU-4 | CIDEr-D "
        "| at length limit | train captions/s | x peer |",
        "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for label, decoding, scores, result in _rows(results):
        ratio = _speed_ratio(result, results)
        bleu = " | ".join(f"{scores[key]:.1f}" for key in SCORE_KEYS[:4])
        lines.append(
            f"| {label} | {decoding} | {bleu} | {scores['cider']:.3f} "
            f"| {scores['length_limit_share']:.1%} "
            f"| {result['train_pairs_per_second']:.1f} "
            f"| {'' if ratio is None else f'{ratio:.2f}'} |"
        )
    return "\n".join(lines)


def _verdict(passed):
    return "PASS" if passed else "FAIL"


def format_targets(results):
    """One line per target and variant, each PASS or FAIL.

    The speed target reads "n/a" when the `tutorial` peer was not run.
    """
    lines = []
    for name, result in results["variants"].items():
        bleu4 = result["beam3"]["bleu4"]
        lines.append(
            f"- {name}: beam-3 BLEU-4 {bleu4:.1f} >= "
            f"{BLEU4_BEAM3_TARGET:g}: {_verdict(bleu4 >= BLEU4_BEAM3_TARGET)}"
        )
        shares = {
            label: result[decoding]["length_limit_share"]
            for decoding, label in DECODINGS.items()
            if decoding in result
        }
        described = ", ".join(
            f"{label} {share:.1%}" for label, share in shares.items()
        )
        lines.append(
            f"- {name}: no caption at the length limit ({described}): "
            f"{_verdict(max(shares.values()) == 0)}"
        )
        ratio = _speed_ratio(result, results)
        verdict = (
            f"n/a (the {SPEED_PEER} peer was not run)"
            if ratio is None
            else _verdict(ratio >= SPEEDUP_TARGET)
        )
        shown = "" if ratio is None else f" {ratio:.2f}x"
        lines.append(
            f"- {name}: training captions/s{shown} the {SPEED_PEER} peer's "
            f">= {SPEEDUP_TARGET:g}x: {verdict}"
        )
    return "\n".join(lines)


def _summary(name, result):
    """One JSON-ready line of a variant's or peer's results."""
    summary = {
        "name": name,
        "train_pairs": result.get("train_pairs"),
        "vocabulary_size": result.get("vocabulary_size"),
    }
    summary["train_captions_per_second"] = round(
        result["train_pairs_per_second"], 1
    )
    for decoding in DECODINGS:
        if decoding in result:
            scores = result[decoding]
            summary[decoding] = {
                key: round(float(scores[key]), 4)
                for key in (*SCORE_KEYS, "length_limit_share")
            }
    summary["samples"] = result.get("samples", [])[:3]
    return summary


def run(args):
    """Trains and scores the variants, then the peers; returns the results.

    Returns:
        `{"variants": {name: result}, "peers": {name: result}}`.
    """
    data = load_benchmark_data(args.data)
    print(
        f"{len(data['train'])} training images, "
        f"{sum(len(image.captions) for image in data['train'])} captions; "
        f"{len(data['report'])} report images",
        flush=True,
    )
    results = {"variants": {}, "peers": {}}
    with tempfile.TemporaryDirectory(prefix="bench-captioning-") as scratch:
        logdir = args.logdir or scratch
        for variant in args.variants:
            result = run_variant(
                variant, args.data, args.minutes, logdir, args.seed
            )
            results["variants"][variant] = result
            print(json.dumps(_summary(variant, result)), flush=True)
    for name in args.peers:
        result = run_peer(name, data, args.minutes, args.seed)
        results["peers"][name] = result
        print(json.dumps(_summary(f"peer: {name}", result)), flush=True)
    return results


def main(argv=None):
    """Runs the benchmark and prints the Markdown table and the targets.

    Args:
        argv: Command-line arguments; `None` for `sys.argv[1:]`.

    Returns:
        The results of `run`.
    """
    args = _parse_args(argv)
    print(
        f"{datetime.date.today().isoformat()}, backend "
        f"{keras.backend.backend()}, keras {keras.__version__}, python "
        f"{platform.python_version()}, {os.cpu_count()} CPU cores "
        f"({cpu_name()}); {args.minutes:g} minutes per model on {args.data}",
        flush=True,
    )
    results = run(args)
    print()
    print(format_table(results))
    print()
    print(format_targets(results))
    return results


if __name__ == "__main__":
    main()
