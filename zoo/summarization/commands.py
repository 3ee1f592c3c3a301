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
from zoo.inputs import checked_utf8
from zoo.inputs import command_texts
from zoo.options import Option
from zoo.summarization.options import BEAM_WIDTH
from zoo.summarization.options import DATA_OPTIONS
from zoo.summarization.options import DECODING_OPTIONS
from zoo.summarization.options import LENGTH_PENALTY_OPTION
from zoo.summarization.options import NO_REPEAT_NGRAM_SIZE_OPTION
from zoo.summarization.options import OPTIONS

SUMMARIZE_EPILOG = """examples:
  keras-attention-zoo summarize runs/summarization/model.keras report.txt
  keras-attention-zoo summarize runs/summarization/model.keras \\
      "the mayor of brenvale said ..." --attention-dir attention/
  cat documents.txt | keras-attention-zoo summarize MODEL
"""


def read_documents(arguments):
    """The documents of `summarize`: files, texts or stdin lines.

    One document per DOCUMENT or stdin line, blank ones included (their
    summary is an empty line), so that the output lines up with the
    input. A DOCUMENT naming a file is that file's text; a folder is
    refused; else a DOCUMENT holding white space is the text itself, and
    one without (`report.txt`, `docs/`) must name a file: a missing one
    is refused, never summarized as the text of its name.

    Raises:
        ValueError: Naming the DOCUMENT that is a folder, a missing file,
            or not UTF-8.
    """
    return command_texts(arguments, "DOCUMENT", _read_document)


def _read_document(argument, name):
    """The text of one DOCUMENT argument (`name`: "DOCUMENT 2")."""
    argument = checked_utf8(argument, name)
    if not argument.strip():
        return argument
    path = _existing_path(argument)
    if path is not None and path.is_dir():
        raise ValueError(
            f"{name}: expected a file or a text, received the folder "
            f"{argument!r}"
        )
    if path is not None:
        try:
            return path.read_text(encoding="utf-8")
        except UnicodeDecodeError as error:
            raise ValueError(
                f"{name} {argument}: expected a UTF-8 text file, "
                f"received the byte {error.object[error.start]:#04x} at "
                f"byte {error.start}"
            ) from None
    if not any(character.isspace() for character in argument):
        raise ValueError(
            f"{name}: expected a file or a text (a text holds spaces), "
            f"received {argument!r}, which is no file"
        )
    return argument


def _existing_path(argument):
    """The path a DOCUMENT names if something exists there, else None."""
    path = pathlib.Path(argument)
    try:
        return path if path.exists() else None
    except (OSError, ValueError):
        # A text too long (or with a NUL) to be a path is a text.
        return None


def run_summarize(model, args):
    """Summarizes documents and prints one summary per line."""
    from zoo.attention_images import check_targets
    from zoo.summarization.inference import summarize_texts

    documents = read_documents(args.documents)
    if args.attention_dir:
        # Refused before summarizing: nothing of the user's is replaced.
        check_targets(
            args.attention_dir,
            [heatmap_name(number) for number in range(1, len(documents) + 1)],
            args.documents,
        )
    summaries = summarize_texts(
        model,
        documents,
        beam_width=args.beam_width,
        length_penalty=args.length_penalty if args.beam_width > 1 else 0.0,
        no_repeat_ngram_size=args.no_repeat_ngram_size,
        max_length=args.max_length,
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


# A heatmap of a long document shows its most attended source tokens
# only, so that each keeps a readable label (16 inches for 60 columns).
HEATMAP_SOURCE_TOKENS = 60


def heatmap_name(number):
    """The file name of the heatmap of the `number`-th summary (from 1)."""
    return f"summary_{number}.png"


def write_attention_images(directory, summaries, inputs=()):
    """Writes `summary_N.png` heatmaps with p_gen, coverage and copies.

    Through `zoo.attention_images.write_images`: an input, or a file that
    no zoo command wrote, is never replaced.
    """
    from keras_attention.visualization import attention_to_image
    from zoo.attention_images import write_images

    images = []
    for number, summary in enumerate(summaries, 1):
        if not summary["tokens"]:
            continue  # The empty summary of a blank document.
        image = attention_to_image(
            summary["attention"],
            summary["source_tokens"],
            summary["tokens"],
            title=f"summary {number}",
            output_values={"p_gen": summary["p_gen"]},
            source_values={"coverage": summary["coverage"]},
            marked_outputs=summary["copied"],
            max_source_tokens=HEATMAP_SOURCE_TOKENS,
        )
        images.append((heatmap_name(number), image))
    write_images(directory, images, inputs=inputs)
    return pathlib.Path(directory)


def evaluate_summarizer(model, args):
    """Prints the test scores of a summarizer (`evaluate MODEL`).

    Returns:
        A dict from beam width to its scores.
    """
    from zoo.summarization import inference
    from zoo.summarization.task import SCORING
    from zoo.summarization.task import format_baselines
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
    lead3 = inference.lead3_scores(examples, model.max_summary_length)
    print(f"test scores ({SCORING}):")
    print(
        format_baselines(lead3, model.max_summary_length, lead, args.lead_words)
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
        config.length_penalty,
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

# The decoding flags of `summarize` and `export`, declared once: an
# export decodes as `summarize` does with the same flags and defaults.
SUMMARY_DECODING_OPTIONS = (
    beam_width_option(BEAM_WIDTH, "the summaries"),
    LENGTH_PENALTY_OPTION,
    NO_REPEAT_NGRAM_SIZE_OPTION,
    max_length_option("summary"),
)

SUMMARIZE_OPTIONS = SUMMARY_DECODING_OPTIONS + (
    Option(
        "attention_dir",
        str,
        None,
        "Folder for the attention heatmaps of the summaries.",
    ),
)

EXPORT_OPTIONS = SUMMARY_DECODING_OPTIONS

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
        description="Prints one summary per document. A DOCUMENT naming a "
        "file is its whole text; else a DOCUMENT holding white space is "
        "the text itself, and one without (a path) must name a file: a "
        "folder or a missing file is an error. Without any DOCUMENT, "
        "every line of stdin is a document. A blank document gets an "
        "empty line, so the output lines up with the input. With "
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
        "tensorflow_text), decoding as summarize does with the same "
        "flags: the same summary for every document, an empty one for a "
        "blank document or one that is not UTF-8.",
    ),
)
