"""`keras-attention-zoo`: train, evaluate, use and export zoo models.

A mistake (a bad argument, a missing or unreadable file, a logdir that
holds another run) is reported on one line, `keras-attention-zoo: error:
...`, naming the argument or file, what was expected and what was
received, with exit status 2; anything else is a bug and keeps its
traceback. Options may come before, between or after the positional
arguments (`translate MODEL --beam-width 4 TEXT`).
"""

import argparse
import pathlib
import sys

from zoo.captioning.commands import add_cache_features_command
from zoo.captioning.commands import add_caption_command
from zoo.captioning.commands import add_evaluate_arguments
from zoo.captioning.commands import evaluate_captioner
from zoo.captioning.commands import run_cache_features
from zoo.captioning.commands import run_caption
from zoo.options import add_arguments
from zoo.options import from_arguments
from zoo.options import resolve
from zoo.summarization.commands import add_decoding_arguments
from zoo.summarization.commands import (
    add_evaluate_arguments as add_summary_evaluate_arguments,
)
from zoo.summarization.commands import add_summarize_command
from zoo.summarization.commands import evaluate_summarizer
from zoo.summarization.commands import run_summarize
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
  keras-attention-zoo train captioning --logdir runs/scenes
  keras-attention-zoo caption runs/scenes/model.keras scene.png \\
      --attention-dir attention/
  keras-attention-zoo cache-features flickr8k/ features.npz \\
      --backbone mobilenet_v2
  keras-attention-zoo train summarization --logdir runs/reports
  keras-attention-zoo train summarization --data dialogsum/ --coverage
  keras-attention-zoo summarize runs/reports/model.keras report.txt \\
      --attention-dir attention/
"""


PROG = "keras-attention-zoo"

# Commands whose positional arguments may be mixed with their options.
_INTERMIXED = ("evaluate", "translate", "export", "caption", "summarize")


class _Parser(argparse.ArgumentParser):
    """An argument parser that reports a mistake on one line."""

    def error(self, message):
        # argparse prints the whole usage first; the usage is one
        # `--help` away, and the mistake is what the user must see.
        self.exit(2, f"{PROG}: error: {message} (see {self.prog} --help)\n")


def _parser():
    parser = _Parser(
        prog=PROG,
        description="Train and use the attention model zoo.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True)
    _add_train(commands)
    _add_evaluate(commands)
    add_caption_command(commands, _positive_int)
    add_cache_features_command(commands, _positive_int)
    add_summarize_command(commands, _positive_int)
    translate = commands.add_parser("translate", help="translate text")
    translate.add_argument("model")
    translate.add_argument(
        "texts", nargs="*", help="sentences (default: read stdin lines)"
    )
    translate.add_argument("--beam-width", type=_positive_int, default=1)

    export = commands.add_parser(
        "export",
        help="write a TensorFlow SavedModel that translates or summarizes "
        "raw strings (or captions encoded images)",
    )
    export.add_argument("model")
    export.add_argument("output_dir")
    export.add_argument("--beam-width", type=_positive_int, default=1)
    export.add_argument(
        "--max-length",
        type=_positive_int,
        default=None,
        help="longest translation, caption or summary in tokens (default: "
        "the model's)",
    )
    export.add_argument(
        "--no-repeat-ngram-size",
        type=int,
        default=0,
        help="summarization: n-gram blocking of the exported decoder",
    )
    parser.commands = commands.choices
    return parser


def _parse(argv):
    """Parses the command line; options may follow positional arguments.

    `parse_intermixed_args` takes `translate MODEL --beam-width 4 TEXT`,
    which plain argparse refuses once `TEXT...` has matched nothing, but
    it does not handle subcommands: the command's own parser parses what
    follows the command's name.
    """
    parser = _parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in _INTERMIXED:
        args = parser.commands[argv[0]].parse_intermixed_args(argv[1:])
        args.command = argv[0]
        return args
    return parser.parse_args(argv)


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
        "sacreBLEU 13a tokenization); attention correctness on the dates; "
        "BLEU-1..4 and CIDEr-D for captioners; ROUGE for summarizers",
        description="Prints the exact match and corpus BLEU of the test "
        "split, both on lowercased text tokenized with sacreBLEU's 13a "
        "tokenizer ('Wait!' matches 'wait !'), BLEU by source length and, "
        "for the embedded dates, attention correctness: the attention "
        "mass each output token of the year, month and day puts on the "
        "source tokens of its field. For a captioner: BLEU-1..4 and "
        "CIDEr-D against all references, caption accuracy, the share of "
        "captions at the length limit and, on the generated scenes, "
        "attention correctness, greedy and with beam search. For a "
        "summarizer: ROUGE-1/2/L F1 against the best reference beside the "
        "lead baseline, the repetition rate and, on the generated reports, "
        "the share of unseen names copied, greedy and with beam search.",
    )
    evaluate.add_argument("model")
    add_arguments(evaluate, DATA_OPTIONS)
    add_evaluate_arguments(evaluate)
    add_summary_evaluate_arguments(evaluate)
    add_decoding_arguments(evaluate, _positive_int)
    evaluate.add_argument("--beam-width", type=_positive_int, default=4)
    evaluate.add_argument(
        "--max-examples",
        type=_positive_int,
        default=None,
        help="translation: as given to train (for the embedded dates the "
        "test dates follow the training dates, so another value evaluates "
        "on other dates, possibly ones the model was trained on); "
        "captioning and summarization: evaluate the first N test images "
        "or documents only",
    )
    evaluate.add_argument("--seed", type=int, default=0)


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected an integer, received {text!r}"
        ) from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _load(path, captioner=False, summarizer=False):
    """Loads a zoo model, or says what is wrong with `path`.

    Args:
        path: The `.keras` file.
        captioner: Whether a `ShowAttendTell` captioner is accepted too.
        summarizer: Whether a `Summarizer` is accepted too.
    """
    import zipfile

    import keras

    # Registers the zoo's models and tokenizers for deserialization.
    import zoo.text  # noqa: F401
    from zoo.captioning.model import ShowAttendTell
    from zoo.summarization.model import Summarizer
    from zoo.translation import Seq2Seq

    path = pathlib.Path(path)
    expected = f"MODEL {path}: expected a .keras model file"
    if not path.exists():
        raise ValueError(f"{expected}, received a path that does not exist")
    if path.is_dir():
        raise ValueError(f"{expected}, received a directory")
    if not zipfile.is_zipfile(path):
        # What `model.save` leaves when killed, or another kind of file.
        raise ValueError(
            f"{expected}, received a file that is not a complete .keras "
            f"archive ({path.stat().st_size} bytes; truncated?)"
        )
    try:
        model = keras.saving.load_model(path, compile=False)
    except (ValueError, TypeError, KeyError, OSError) as error:
        raise ValueError(
            f"{expected}, received one that cannot be loaded "
            f"({_first_line(error)})"
        ) from None
    if captioner and isinstance(model, ShowAttendTell):
        return model
    if summarizer and isinstance(model, Summarizer):
        return model
    if not isinstance(model, Seq2Seq):
        raise ValueError(
            f"MODEL {path}: expected a zoo translation model (from "
            f"`{PROG} train translation`), received a "
            f"{type(model).__name__}"
        )
    return model


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

    model = _load(args.model, captioner=True, summarizer=True)
    if hasattr(model, "summary_ids"):
        evaluate_summarizer(model, args)
        return
    if not hasattr(model, "translate"):
        evaluate_captioner(model, args)
        return
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
    if args.texts:
        texts = [
            _utf8(text, f"TEXT {number}")
            for number, text in enumerate(args.texts, 1)
        ]
    else:
        texts = _stdin_lines()
    for text in model.translate(texts, beam_width=args.beam_width):
        print(text)


def _utf8(text, name):
    """`text`, if it holds no byte that was not UTF-8 (`surrogateescape`)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        raw = text.encode("utf-8", "surrogateescape")
        raise ValueError(
            f"{name}: expected UTF-8 text, received the byte "
            f"{raw[error.start]:#04x} at character {error.start}"
        ) from None
    return text


def _stdin_lines():
    """The lines of stdin, decoded as UTF-8 whatever the locale says."""
    stream = getattr(sys.stdin, "buffer", None)
    if stream is None:
        return [line.rstrip("\r\n") for line in sys.stdin]
    lines = []
    for number, line in enumerate(stream, 1):
        try:
            lines.append(line.decode("utf-8").rstrip("\r\n"))
        except UnicodeDecodeError as error:
            raise ValueError(
                f"stdin line {number}: expected UTF-8 text, received the "
                f"byte {line[error.start]:#04x} at byte {error.start}"
            ) from None
    return lines


def _caption(args):
    run_caption(_load(args.model, captioner=True), args)


def _summarize(args):
    run_summarize(_load(args.model, summarizer=True), args, _stdin_lines)


def _export(args):
    from zoo.translation.export import export_saved_model

    model = _load(args.model, captioner=True, summarizer=True)
    if hasattr(model, "summary_ids"):
        from zoo.summarization.export import export_summarizer

        path = export_summarizer(
            model,
            args.output_dir,
            args.beam_width,
            args.max_length,
            args.no_repeat_ngram_size,
        )
        print(f"SavedModel written to {path}")
        print(
            "use it (needs only tensorflow and tensorflow_text): "
            f"tf.saved_model.load({path!r}).signatures['serving_default']"
            "(tf.constant(['a document ...']))['summary']"
        )
        return
    if not hasattr(model, "translate"):
        from zoo.captioning.export import export_captioner

        export_captioner(
            model, args.output_dir, args.beam_width, args.max_length
        )
        return
    path = export_saved_model(
        model,
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


def _first_line(error):
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__


def main(argv=None):
    """Entry point of the `keras-attention-zoo` console script.

    Returns:
        The exit status: 0, or 2 for a mistake in the arguments, the
        files or the logdir, reported on one line of stderr.
    """
    args = _parse(argv)
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
        "caption": _caption,
        "summarize": _summarize,
        "cache-features": run_cache_features,
    }[args.command]
    try:
        command(args)
    except (ValueError, OSError) as error:
        # Bad arguments, unreadable or malformed files (`UnicodeError` and
        # `json.JSONDecodeError` are `ValueError`s) and logdirs holding
        # another run deserve one line, not a trace.
        print(f"{PROG}: error: {_first_line(error)}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
