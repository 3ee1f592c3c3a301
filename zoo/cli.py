"""`keras-attention-zoo`: train, evaluate, use and export zoo models."""

import argparse
import sys

from zoo.options import add_arguments
from zoo.options import from_arguments
from zoo.options import resolve
from zoo.tasks import get_task
from zoo.tasks import task_names
from zoo.trainer import grouped_options
from zoo.trainer import options_of
from zoo.trainer import train
from zoo.translation.options import DATA_OPTIONS
from zoo.translation.task import SCORING
from zoo.translation.task import print_attention_correctness
from zoo.translation.task import print_bleu_by_length
from zoo.translation.task import print_samples

# The names of the report's printers from when this module printed it.
_print_attention_correctness = print_attention_correctness
_print_samples = print_samples

EPILOG = """examples:
  keras-attention-zoo train translation
  keras-attention-zoo train translation --arch luong --data spa-eng.zip \\
      --epochs 10 --logdir runs/spa-eng
  keras-attention-zoo train translation --help
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
    _add_train(commands)
    _add_evaluate(commands)
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


def _add_train(commands):
    """`train TASK`: one subcommand per registered task, flags declared."""
    train_command = commands.add_parser(
        "train",
        help="train a zoo model",
        description="Trains the model of a zoo task, saves it and "
        "evaluates it on the test split; `train TASK --help` lists the "
        "task's options. Rerunning with the same --logdir resumes.",
    )
    tasks = train_command.add_subparsers(
        dest="task", required=True, metavar="TASK"
    )
    for name in task_names():
        task = get_task(name)
        summary = task.description.split(". ")[0].rstrip(".")
        parser = tasks.add_parser(
            name,
            help=summary[:1].lower() + summary[1:],
            description=task.description,
        )
        own, shared = grouped_options(task.options)
        add_arguments(parser.add_argument_group(f"{name} options"), own)
        add_arguments(parser.add_argument_group("training options"), shared)


def _add_evaluate(commands):
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
    add_arguments(evaluate, DATA_OPTIONS)
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


def _positive_int(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _load(path):
    import keras

    # Registers the zoo's models and tokenizers for deserialization.
    import zoo.text  # noqa: F401
    import zoo.translation  # noqa: F401

    return keras.saving.load_model(path, compile=False)


def _train(args):
    task = get_task(args.task)
    results = train(args.task, **from_arguments(args, options_of(task)))
    print()
    task.print_results(results)
    print(f"model saved to {results['model_path']}")
    print(
        f"look at the attention with: tensorboard --logdir {results['logdir']}"
    )


def _evaluate(args):
    from zoo.data import load_translation_data
    from zoo.translation.training import bleu_by_source_length
    from zoo.translation.training import date_attention_correctness
    from zoo.translation.training import score_translations
    from zoo.translation.training import translate_pairs

    model = _load(args.model)
    data = resolve(DATA_OPTIONS, from_arguments(args, DATA_OPTIONS), "evaluate")
    dates = data.data is None
    splits = load_translation_data(
        **vars(data),
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
            print_attention_correctness(
                date_attention_correctness(
                    model,
                    sources,
                    [alignment for _, _, alignment in splits["test"]],
                    attention,
                    token_ids,
                )
            )
        print_bleu_by_length(
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
