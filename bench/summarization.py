"""Scores the zoo's summarizers on DialogSum beside the lead baseline.

On `../shared/data/dialogsum` (12,460 training dialogues; the 500 test
dialogues, 3 reference summaries each), each configuration
(`--configs`, default all three) is trained by
`zoo.trainer.train("summarization", ...)` for `--minutes` of wall time
(the learning rate annealed over the last 40%) and scored on the test
dialogues, greedy and with beam search (`--beam-width`, GNMT length
penalty 1.0):

- `seq2seq`: the attention baseline of See et al. (section 2.1), which
  cannot produce a word outside its vocabulary;
- `pointer-generator`: copying through `p_gen` (section 2.2);
- `pointer-generator+coverage`: with coverage and its loss (section 2.3).

Scores: ROUGE-1/2/L F1 (rouge-score, stemming) against the best of the
three references, averaged over the dialogues; the repetition rate (share
of duplicated trigrams in the summaries, See et al. figure 4); the share
of summaries that ran to the length limit; training dialogues per second
and the process CPU minutes each configuration used. The lead baseline
(the first `--lead-words` words of each dialogue) is scored the same way.

Targets: pointer-generator + coverage above the lead baseline on all three
ROUGE scores and above the plain attention baseline; coverage lowers the
repetition rate. (The issue's reference lead-30 scores on this test set:
27.5/10.6/21.9.)

Usage:

    python -m bench.summarization --minutes 20
"""

import argparse
import datetime
import json
import os
import pathlib
import platform
import tempfile
import time

from bench.common import cpu_name

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO_ROOT / ".." / "shared" / "data" / "dialogsum"
CONFIGS = {
    "seq2seq": {"arch": "seq2seq", "coverage": False},
    "pointer-generator": {"arch": "pointer-generator", "coverage": False},
    "pointer-generator+coverage": {
        "arch": "pointer-generator",
        "coverage": True,
    },
}
SCORE_KEYS = ("rouge1", "rouge2", "rougeL")


def _configs(text):
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in CONFIGS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"expected some of {sorted(CONFIGS)}, received {names}"
        )
    return names


def _arguments(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--data", default=str(DEFAULT_DATA))
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument(
        "--configs", type=_configs, default=list(CONFIGS), metavar="NAMES"
    )
    parser.add_argument("--beam-width", type=int, default=4)
    parser.add_argument("--no-repeat-ngram-size", type=int, default=0)
    parser.add_argument("--lead-words", type=int, default=30)
    parser.add_argument(
        "--max-eval-documents",
        type=int,
        default=None,
        help="score the first N test dialogues only (quick runs)",
    )
    parser.add_argument("--units", type=int, default=None)
    parser.add_argument("--embedding-dim", type=int, default=None)
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--learning-rate", type=float, default=None)
    parser.add_argument(
        "--logdir",
        default=None,
        help="keep each configuration's run in LOGDIR/NAME (default: a "
        "temporary folder)",
    )
    parser.add_argument(
        "--json", default=None, help="also write the results to this file"
    )
    return parser.parse_args(argv)


def run_config(name, args, logdir):
    """Trains and scores one configuration; the trainer's results."""
    from zoo.trainer import train

    settings = {
        key: value
        for key, value in {
            "units": args.units,
            "embedding_dim": args.embedding_dim,
            "batch_size": args.batch_size,
            "learning_rate": args.learning_rate,
        }.items()
        if value is not None
    }
    cpu_start = time.process_time()
    results = train(
        "summarization",
        data=args.data,
        logdir=str(logdir),
        max_minutes=args.minutes,
        epochs=1000,
        patience=1000,
        beam_width=args.beam_width,
        no_repeat_ngram_size=args.no_repeat_ngram_size,
        lead_words=args.lead_words,
        max_eval_documents=args.max_eval_documents,
        num_summary_samples=0,
        verbose=2,
        overwrite=True,
        **CONFIGS[name],
        **settings,
    )
    results["cpu_minutes"] = (time.process_time() - cpu_start) / 60
    return results


def table(all_results, beam_name):
    """The Markdown table of the configurations and the lead baseline."""
    lines = [
        "| model | decoding | ROUGE-1 | ROUGE-2 | ROUGE-L | repetition % "
        "| at length limit | train dialogues/s | CPU min (train+eval) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    first = next(iter(all_results.values()))
    lead = first["lead"]
    lines.append(
        f"| lead-{first['lead_words']} | first words | {lead['rouge1']:.1f} "
        f"| {lead['rouge2']:.1f} | {lead['rougeL']:.1f} "
        f"| {lead['repetition']:.1f} | - | - | - |"
    )
    for name, results in all_results.items():
        for decoding in ("greedy", beam_name):
            scores = results[decoding]
            lines.append(
                f"| {name} | {decoding} | {scores['rouge1']:.1f} "
                f"| {scores['rouge2']:.1f} | {scores['rougeL']:.1f} "
                f"| {scores['repetition']:.1f} "
                f"| {scores['length_limit_share']:.1%} "
                f"| {results['train_pairs_per_second']:.1f} "
                f"| {results['cpu_minutes']:.0f} |"
            )
    lines.append(
        "\nreferences' own repetition rate: "
        f"{first['reference_repetition']:.1f}%"
    )
    return "\n".join(lines)


def verdicts(all_results, beam_name):
    """The targets, each with met / missed."""
    lines = []
    lead = next(iter(all_results.values()))["lead"]
    full = all_results.get("pointer-generator+coverage")
    baseline = all_results.get("seq2seq")
    plain = all_results.get("pointer-generator")
    if full is not None:
        best = full[beam_name]
        above_lead = all(best[key] > lead[key] for key in SCORE_KEYS)
        lines.append(
            f"pointer-generator+coverage ({beam_name}) above lead on ROUGE-1/"
            f"2/L: {'met' if above_lead else 'missed'}"
        )
        if baseline is not None:
            above = all(
                best[key] > baseline[beam_name][key] for key in SCORE_KEYS
            )
            lines.append(
                "pointer-generator+coverage above the seq2seq baseline: "
                + ("met" if above else "missed")
            )
        if plain is not None:
            lower = best["repetition"] < plain[beam_name]["repetition"]
            lines.append(
                f"coverage lowers the repetition rate ({beam_name}: "
                f"{plain[beam_name]['repetition']:.1f}% -> "
                f"{best['repetition']:.1f}%): " + ("met" if lower else "missed")
            )
    return "\n".join(lines)


def main(argv=None):
    args = _arguments(argv)
    if not pathlib.Path(args.data).exists():
        raise SystemExit(f"--data {args.data}: not found")
    root = pathlib.Path(
        args.logdir or tempfile.mkdtemp(prefix="summarization-bench-")
    )
    beam_name = f"beam{args.beam_width}"
    all_results = {}
    for name in args.configs:
        print(f"== {name}: {args.minutes} minutes", flush=True)
        all_results[name] = run_config(name, args, root / name)
    print()
    print(
        f"DialogSum test ({all_results[name]['greedy']['num_documents']} "
        f"dialogues), {args.minutes} training minutes per configuration, "
        f"{datetime.date.today()}, {cpu_name()} ({os.cpu_count()} cores), "
        f"Python {platform.python_version()}"
    )
    print(table(all_results, beam_name))
    print(verdicts(all_results, beam_name))
    if args.json:
        pathlib.Path(args.json).write_text(
            json.dumps(
                {"arguments": vars(args), "results": all_results},
                indent=2,
                default=str,
            )
        )


if __name__ == "__main__":
    main()
