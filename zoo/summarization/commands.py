"""The summarization task's commands: evaluate, summarize and export.

Declared once (`COMMANDS`, taken by `SummarizationTask.commands`): the
command line and `zoo.commands.run_command` derive from them.
"""

import pathlib
import sys

from zoo.commands import Argument
from zoo.commands import Command
from zoo.decoding_options import SEED_OPTION
from zoo.decoding_options import beam_width_option
from zoo.decoding_options import max_examples_option
from zoo.decoding_options import max_length_option
from zoo.inputs import stdin_lines
from zoo.options import Option
from zoo.summarization.options import DATA_OPTIONS
from zoo.summarization.options import DECODING_OPTIONS
from zoo.summarization.options import OPTIONS

SUMMARIZE_EPILOG = """examples:
  keras-attention-zoo summarize runs/summarization/model.keras report.txt
  keras-attention-zoo summarize runs/summarization/model.keras \\
      "the mayor of brenvale said ..." --attention-dir attention/
  cat documents.txt | keras-attention-zoo summarize MODEL
"""


def read_documents(arguments, read_stdin=stdin_lines):
    """The documents of `summarize`: files, texts or stdin lines."""
    if not arguments:
        return [line for line in read_stdin() if line.strip()]
    documents = []
    for number, argument in enumerate(arguments, 1):
        if _is_file(argument):
            path = pathlib.Path(argument)
            try:
                documents.append(path.read_text(encoding="utf-8"))
            except UnicodeDecodeError as error:
                raise ValueError(
                    f"DOCUMENT {argument}: expected a UTF-8 text file, "
                    f"received the byte {error.object[error.start]:#04x} at "
                    f"byte {error.start}"
                ) from None
        else:
            documents.append(argument)
        if not documents[-1].strip():
            raise ValueError(
                f"DOCUMENT {number} ({_shorten(argument)}): expected a "
                "document with words, received an empty one"
            )
    return documents


def _is_file(argument):
    """Whether a DOCUMENT argument names a file (else it is the text)."""
    try:
        return pathlib.Path(argument).is_file()
    except (OSError, ValueError):
        # A text too long (or with a NUL) to be a path is a text.
        return False


def _shorten(text, limit=40):
    return text if len(text) <= limit else text[: limit - 3] + "..."


def run_summarize(model, args):
    """Summarizes documents and prints one summary per line."""
    from zoo.summarization.inference import summarize_texts

    documents = read_documents(args.documents)
    summaries = summarize_texts(
        model,
        documents,
        beam_width=args.beam_width,
        length_penalty=args.length_penalty if args.beam_width > 1 else 0.0,
        no_repeat_ngram_size=args.no_repeat_ngram_size,
    )
    truncated = sum(summary["truncated"] for summary in summaries)
    if truncated:
        print(
            f"note: {truncated} of {len(summaries)} documents were longer "
            f"than the model's {model.max_source_length} tokens; only their "
            "beginning was read",
            file=sys.stderr,
        )
    for summary in summaries:
        print(summary["summary"])
    if args.attention_dir:
        written = write_attention_images(
            args.attention_dir, summaries, inputs=args.documents
        )
        print(f"attention heatmaps written to {written}")


def write_attention_images(directory, summaries, inputs=()):
    """Writes `summary_N.png` heatmaps with p_gen, coverage and copies.

    Through `zoo.attention_images.write_images`: an input, or a file that
    no zoo command wrote, is never replaced.
    """
    from keras_attention.visualization import attention_to_image
    from zoo.attention_images import write_images

    images = []
    for number, summary in enumerate(summaries, 1):
        image = attention_to_image(
            summary["attention"],
            summary["source_tokens"],
            summary["tokens"],
            title=f"summary {number}",
            output_values={"p_gen": summary["p_gen"]},
            source_values={"coverage": summary["coverage"]},
            marked_outputs=summary["copied"],
        )
        images.append((f"summary_{number}.png", image))
    write_images(directory, images, inputs=inputs)
    return pathlib.Path(directory)


def evaluate_summarizer(model, args):
    """Prints the test scores of a summarizer (`evaluate MODEL`).

    Returns:
        A dict from beam width to its scores.
    """
    from zoo.summarization import inference
    from zoo.summarization.task import SCORING
    from zoo.summarization.task import format_scores
    from zoo.summarization.task import load_splits

    splits, names = load_splits(
        args.data, args.text_column, args.summary_column, args.seed
    )
    examples = splits["test"]
    names = None if names is None else names["test"]
    if args.max_examples is not None:
        examples = examples[: args.max_examples]
        names = None if names is None else names[: len(examples)]
    lead = inference.lead_scores(examples, args.lead_words)
    print(f"test scores ({SCORING}):")
    print(
        f"lead-{args.lead_words}: ROUGE-1/2/L {lead['rouge1']:.1f}/"
        f"{lead['rouge2']:.1f}/{lead['rougeL']:.1f}"
    )
    results = {}
    for beam_width in sorted({1, args.beam_width}):
        scores, _ = inference.evaluate_examples(
            model,
            examples,
            beam_width=beam_width,
            length_penalty=args.length_penalty if beam_width > 1 else 0.0,
            no_repeat_ngram_size=args.no_repeat_ngram_size,
            names=names,
        )
        results[beam_width] = scores
        print(format_scores(f"beam {beam_width}", scores))
    return results


def export_summarizer_command(model, config):
    """Writes the SavedModel of `export MODEL OUTPUT_DIR`; returns its path."""
    from zoo.summarization.export import export_summarizer

    path = export_summarizer(
        model,
        config.output_dir,
        config.beam_width,
        config.max_length,
        config.no_repeat_ngram_size,
    )
    print(f"SavedModel written to {path}")
    print(
        "use it (needs only tensorflow and tensorflow_text): "
        f"tf.saved_model.load({path!r}).signatures['serving_default']"
        "(tf.constant(['a document ...']))['summary']"
    )
    return path


EVALUATE_OPTIONS = (
    DATA_OPTIONS
    + DECODING_OPTIONS
    + (
        next(option for option in OPTIONS if option.name == "lead_words"),
        max_examples_option("Evaluate the first N test documents only."),
        SEED_OPTION,
    )
)

SUMMARIZE_OPTIONS = DECODING_OPTIONS + (
    Option(
        "attention_dir",
        str,
        None,
        "Folder for the attention heatmaps of the summaries.",
    ),
)

EXPORT_OPTIONS = (
    beam_width_option(1, "the exported decoder"),
    max_length_option("summary"),
    DECODING_OPTIONS[2],
)

COMMANDS = (
    Command(
        "evaluate",
        help="score a saved model on its task's test split",
        run=evaluate_summarizer,
        options=EVALUATE_OPTIONS,
        description="Prints ROUGE-1/2/L F1 against the best reference "
        "beside the lead baseline, the repetition rate and, on the "
        "generated reports, the share of unseen names copied, greedy and "
        "with beam search.",
    ),
    Command(
        "summarize",
        help="summarize documents with a trained summarizer",
        run=run_summarize,
        arguments=(
            Argument(
                "documents",
                "files (their whole text) or texts; default: stdin lines",
                nargs="*",
                metavar="DOCUMENT",
            ),
        ),
        options=SUMMARIZE_OPTIONS,
        description="Prints one summary per document. Each DOCUMENT is a "
        "file (its whole text) if such a file exists, else the text "
        "itself; without any, every line of stdin is a document. With "
        "--attention-dir, also writes summary_N.png there: the attention "
        "of every generated word over the document, with p_gen (the "
        "probability of generating rather than copying) beside each row, "
        "the final coverage below, and copied words marked.",
        epilog=SUMMARIZE_EPILOG,
    ),
    Command(
        "export",
        help="write a TensorFlow SavedModel of a saved model",
        run=export_summarizer_command,
        arguments=(
            Argument("output_dir", "folder to write the SavedModel to"),
        ),
        options=EXPORT_OPTIONS,
        description="Writes a SavedModel that maps raw documents to "
        "summaries and attention (needs only tensorflow and "
        "tensorflow_text).",
    ),
)
