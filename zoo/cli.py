"""`keras-attention-zoo`: train, evaluate, use and export zoo models."""

import argparse
import json
import sys

# How the printed exact match and BLEU compare texts
# (`keras_attention.metrics.text_scores`).
SCORING = "lowercased, sacreBLEU 13a tokenization"

EPILOG = """examples:
  keras-attention-zoo train translation
  keras-attention-zoo train translation --arch luong --data spa-eng.zip \\
      --epochs 10 --logdir runs/spa-eng
  keras-attention-zoo evaluate runs/translation/model.keras --data spa-eng.zip
  keras-attention-zoo translate runs/translation/model.keras "9 may 2018"
  keras-attention-zoo export runs/translation/model.keras runs/translation/saved
"""


def _parser():
    parser = argparse.ArgumentParser(
        prog="keras-attention-zoo",
        description="Train and use the attention model zoo.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True)

    train = commands.add_parser(
        "train",
        help="train a zoo model",
        description="Trains a zoo model, saves it and evaluates it on the "
        "test split like `evaluate`: exact match and BLEU on lowercased "
        "text tokenized with sacreBLEU's 13a tokenizer, for greedy and "
        "beam-4 decoding, and attention correctness on the embedded dates.",
    )
    train.add_argument("task", choices=["translation"])
    train.add_argument(
        "--arch", default="luong", choices=["bahdanau", "luong", "transformer"]
    )
    train.add_argument(
        "--data",
        default=None,
        help="pairs file (.txt/.zip/.tsv[.gz]), a split directory, a "
        "parallel-file prefix or a URL; default: the embedded dates",
    )
    train.add_argument("--valid", default=None, help="validation file")
    train.add_argument("--test", default=None, help="test file")
    train.add_argument(
        "--source-column",
        type=int,
        default=0,
        help="source column of tab-separated data (Anki files are "
        "english<TAB>other: use 1 with --target-column 0 for X->English)",
    )
    train.add_argument("--target-column", type=int, default=1)
    train.add_argument(
        "--source-lang", default=None, help="suffix of line-aligned files"
    )
    train.add_argument("--target-lang", default=None)
    train.add_argument(
        "--logdir",
        default="runs/translation",
        help="checkpoints, TensorBoard logs, model; rerun to resume",
    )
    train.add_argument(
        "--epochs",
        type=_positive_int,
        default=None,
        help="default: 6 on the embedded dates, 10 otherwise",
    )
    train.add_argument(
        "--max-minutes",
        type=_positive_float,
        default=None,
        help=(
            "training time budget in minutes; the learning rate falls "
            "linearly to zero over its last 40%%"
        ),
    )
    train.add_argument(
        "--vocabulary-dir",
        default=None,
        help="where learned vocabularies are kept and reused "
        "(default: LOGDIR/vocabulary)",
    )
    train.add_argument("--batch-size", type=_positive_int, default=64)
    train.add_argument("--vocabulary-size", type=_positive_int, default=4000)
    train.add_argument("--max-source-length", type=_positive_int, default=None)
    train.add_argument("--max-target-length", type=_positive_int, default=None)
    train.add_argument("--max-examples", type=_positive_int, default=None)
    train.add_argument("--learning-rate", type=float, default=None)
    train.add_argument("--label-smoothing", type=float, default=0.0)
    train.add_argument("--patience", type=_positive_int, default=3)
    train.add_argument("--mixed-precision", action="store_true")
    train.add_argument(
        "--no-jit", action="store_true", help="do not compile with XLA"
    )
    train.add_argument("--distribute", choices=["mirrored"], default=None)
    train.add_argument(
        "--model-args",
        type=json.loads,
        default=None,
        help="JSON overrides of the model, e.g. '{\"units\": 256}'",
    )
    train.add_argument("--seed", type=int, default=0)

    evaluate = commands.add_parser(
        "evaluate",
        help="exact match and BLEU on the test split (lowercased, "
        "sacreBLEU 13a tokenization); attention correctness on the dates",
        description="Prints the exact match and corpus BLEU of the test "
        "split, both on lowercased text tokenized with sacreBLEU's 13a "
        "tokenizer ('Wait!' matches 'wait !'), BLEU by source length and, "
        "for the embedded dates, attention correctness: the attention "
        "mass each output token of the year, month and day puts on the "
        "source tokens of its field.",
    )
    evaluate.add_argument("model")
    evaluate.add_argument(
        "--data", default=None, help="as for train; default: the dates"
    )
    evaluate.add_argument("--test", default=None)
    evaluate.add_argument("--source-column", type=int, default=0)
    evaluate.add_argument("--target-column", type=int, default=1)
    evaluate.add_argument("--source-lang", default=None)
    evaluate.add_argument("--target-lang", default=None)
    evaluate.add_argument("--beam-width", type=_positive_int, default=4)
    evaluate.add_argument(
        "--max-examples",
        type=_positive_int,
        default=None,
        help="as given to train: for the embedded dates the test dates "
        "follow the training dates, so another value evaluates on other "
        "dates, possibly ones the model was trained on",
    )
    evaluate.add_argument("--seed", type=int, default=0)

    translate = commands.add_parser("translate", help="translate text")
    translate.add_argument("model")
    translate.add_argument(
        "texts", nargs="*", help="sentences (default: read stdin lines)"
    )
    translate.add_argument("--beam-width", type=_positive_int, default=1)

    export = commands.add_parser(
        "export",
        help="write a TensorFlow SavedModel that translates raw strings",
    )
    export.add_argument("model")
    export.add_argument("output_dir")
    export.add_argument("--beam-width", type=_positive_int, default=1)
    export.add_argument(
        "--max-length",
        type=_positive_int,
        default=None,
        help="longest translation in tokens (default: the model's)",
    )
    return parser


def _positive_int(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _positive_float(text):
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {value}")
    return value


def _load(path):
    import keras

    # Registers the zoo's models and tokenizers for deserialization.
    import zoo.text  # noqa: F401
    import zoo.translation  # noqa: F401

    return keras.saving.load_model(path, compile=False)


def _train(args):
    from zoo.translation.training import train_translation

    results = train_translation(
        args.arch,
        args.data,
        valid=args.valid,
        test=args.test,
        source_lang=args.source_lang,
        target_lang=args.target_lang,
        source_column=args.source_column,
        target_column=args.target_column,
        logdir=args.logdir,
        epochs=args.epochs,
        max_minutes=args.max_minutes,
        vocabulary_dir=args.vocabulary_dir,
        batch_size=args.batch_size,
        vocabulary_size=args.vocabulary_size,
        max_source_length=args.max_source_length,
        max_target_length=args.max_target_length,
        max_examples=args.max_examples,
        learning_rate=args.learning_rate,
        label_smoothing=args.label_smoothing,
        patience=args.patience,
        mixed_precision=args.mixed_precision,
        jit_compile=False if args.no_jit else "auto",
        distribute=args.distribute,
        model_arguments=args.model_args,
        seed=args.seed,
    )
    print()
    print(f"test scores ({SCORING}):")
    for name in ("greedy", "beam4"):
        scores = results[name]
        print(
            f"test {name}: exact match {scores['exact_match']:.1%}, "
            f"BLEU {scores['bleu']:.1f}, "
            f"{scores['sentences_per_second']:.0f} sentences/s"
        )
        _print_attention_correctness(scores)
    _print_bleu_by_length(results["greedy"]["bleu_by_source_length"])
    print(
        f"training: {results['train_pairs_per_second']:.0f} pairs/s, "
        f"{results['epochs']} epochs in {results['fit_seconds']:.0f} s"
    )
    _print_samples(results["samples"])
    print(f"model saved to {results['model_path']}")
    print(f"look at the attention with: tensorboard --logdir {args.logdir}")


def _print_samples(samples):
    from zoo.translation.training import score_translations

    print("sample translations (source -> translation):")
    for sample in samples:
        line = f"  {sample['source']} -> {sample['hypothesis']}"
        scores = score_translations(
            [sample["hypothesis"]], [sample["reference"]]
        )
        if not scores["exact_match"]:
            line += f"  (reference: {sample['reference']})"
        print(line)


def _format_correctness(values):
    if values["all"] is None:
        return "n/a (no translation has a field where ISO puts it)"

    def number(value):
        return "n/a" if value is None else f"{value:.2f}"

    fields = ", ".join(
        f"{field} {number(value)}"
        for field, value in values.items()
        if field != "all"
    )
    return f"{number(values['all'])} ({fields})"


def _print_attention_correctness(scores):
    """Prints the dates' attention correctness, per head when there are."""
    if "attention_correctness" not in scores:
        return
    mean = _format_correctness(scores["attention_correctness"])
    if "attention_correctness_best_head" not in scores:
        print(f"  attention correctness {mean}")
        return
    best = _format_correctness(scores["attention_correctness_best_head"])
    print(f"  attention correctness, mean over heads: {mean}")
    print(f"  attention correctness, best head:       {best}")


def _print_bleu_by_length(buckets):
    print(
        "  BLEU by source length in words (sentences): "
        + ", ".join(
            f"{bucket['lengths']}: {bucket['bleu']:.1f} ({bucket['sentences']})"
            for bucket in buckets
        )
    )


def _evaluate(args):
    from zoo.data import load_translation_data
    from zoo.translation.training import bleu_by_source_length
    from zoo.translation.training import date_attention_correctness
    from zoo.translation.training import score_translations
    from zoo.translation.training import translate_pairs

    model = _load(args.model)
    dates = args.data is None
    splits = load_translation_data(
        args.data,
        test=args.test,
        source_lang=args.source_lang,
        target_lang=args.target_lang,
        source_column=args.source_column,
        target_column=args.target_column,
        max_examples=args.max_examples,
        seed=args.seed,
        return_alignment=dates,
    )
    pairs = [(example[0], example[1]) for example in splits["test"]]
    sources = [source for source, _ in pairs]
    references = [target for _, target in pairs]
    print(f"test scores ({SCORING}):")
    for beam_width in sorted({1, args.beam_width}):
        hypotheses, attention, token_ids = translate_pairs(
            model, pairs, beam_width=beam_width
        )
        scores = score_translations(hypotheses, references)
        print(
            f"beam {beam_width}: exact match {scores['exact_match']:.1%}, "
            f"BLEU {scores['bleu']:.1f} ({len(pairs)} sentences)"
        )
        if dates:
            _print_attention_correctness(
                date_attention_correctness(
                    model,
                    sources,
                    [alignment for _, _, alignment in splits["test"]],
                    attention,
                    token_ids,
                )
            )
        _print_bleu_by_length(
            bleu_by_source_length(sources, hypotheses, references)
        )


def _translate(args):
    model = _load(args.model)
    texts = args.texts or [line.rstrip("\n") for line in sys.stdin]
    for text in model.translate(texts, beam_width=args.beam_width):
        print(text)


def _export(args):
    from zoo.translation.export import export_saved_model

    path = export_saved_model(
        _load(args.model),
        args.output_dir,
        beam_width=args.beam_width,
        max_length=args.max_length,
    )
    print(f"SavedModel written to {path}")
    print(
        "use it (needs only tensorflow and tensorflow_text): import "
        "tensorflow as tf, tensorflow_text; "
        f"tf.saved_model.load({path!r}).signatures['serving_default']"
        "(tf.constant(['9 may 2018']))['translation']"
    )


def main(argv=None):
    """Entry point of the `keras-attention-zoo` console script."""
    args = _parser().parse_args(argv)
    # Translations are printed as text; a console that cannot encode a
    # character ("\u202f" on a cp1252 terminal) shows an escape instead
    # of ending the run with a UnicodeEncodeError.
    if hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(errors="backslashreplace")
    command = {
        "train": _train,
        "evaluate": _evaluate,
        "translate": _translate,
        "export": _export,
    }[args.command]
    try:
        command(args)
    except (ValueError, FileNotFoundError, OSError) as error:
        # Bad arguments and unreadable data deserve one line, not a trace.
        print(f"keras-attention-zoo: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
