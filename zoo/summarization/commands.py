"""The summarizer's commands of `keras-attention-zoo`: summarize and
evaluate (and `export`, in `zoo.summarization.export`)."""

import argparse
import pathlib
import sys

SUMMARIZE_EPILOG = """examples:
  keras-attention-zoo summarize runs/summarization/model.keras report.txt
  keras-attention-zoo summarize runs/summarization/model.keras \\
      "the mayor of brenvale said ..." --attention-dir attention/
  cat documents.txt | keras-attention-zoo summarize MODEL
"""


def add_summarize_command(commands, positive_int):
    """`summarize MODEL [FILE|TEXT]...`: prints one summary per document."""
    summarize = commands.add_parser(
        "summarize",
        help="summarize documents with a trained summarizer",
        description="Prints one summary per document. Each DOCUMENT is a "
        "file (its whole text) if such a file exists, else the text "
        "itself; without any, every line of stdin is a document. With "
        "--attention-dir, also writes summary_N.png there: the attention "
        "of every generated word over the document, with p_gen (the "
        "probability of generating rather than copying) beside each row, "
        "the final coverage below, and copied words marked.",
        epilog=SUMMARIZE_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    summarize.add_argument("model")
    summarize.add_argument("documents", nargs="*", metavar="DOCUMENT")
    add_decoding_arguments(summarize, positive_int, beam_width=4)
    summarize.add_argument(
        "--attention-dir",
        default=None,
        help="folder for the attention heatmaps of the summaries",
    )


def add_decoding_arguments(parser, positive_int, beam_width=None):
    """Beam search flags shared by `summarize` and `evaluate`."""
    if beam_width is not None:
        parser.add_argument(
            "--beam-width", type=positive_int, default=beam_width
        )
    parser.add_argument(
        "--length-penalty",
        type=float,
        default=1.0,
        help="summarization: GNMT length penalty alpha of beam search",
    )
    parser.add_argument(
        "--no-repeat-ngram-size",
        type=int,
        default=0,
        help="summarization: forbid repeating n-grams of this size (3: "
        "trigram blocking); 0 allows them",
    )


def add_evaluate_arguments(parser):
    """The summarizer's flags of `evaluate` (`--data` is shared)."""
    parser.add_argument(
        "--text-column",
        default="text",
        help="summarization: the document column of a JSON lines/CSV/TSV file",
    )
    parser.add_argument(
        "--summary-column",
        default="summary",
        help="summarization: the summary column of a JSON lines/CSV/TSV file",
    )
    parser.add_argument(
        "--lead-words",
        type=int,
        default=30,
        help="summarization: words of the lead baseline",
    )


def read_documents(arguments, stdin_lines):
    """The documents of `summarize`: files, texts or stdin lines."""
    if not arguments:
        return [line for line in stdin_lines() if line.strip()]
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


def run_summarize(model, args, stdin_lines):
    """Summarizes documents and prints one summary per line."""
    from zoo.summarization.inference import summarize_texts

    documents = read_documents(args.documents, stdin_lines)
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
        written = write_attention_images(args.attention_dir, summaries)
        print(f"attention heatmaps written to {written}")


def write_attention_images(directory, summaries):
    """Writes `summary_N.png` heatmaps with p_gen, coverage and copies."""
    import matplotlib.image

    from keras_attention.visualization import attention_to_image

    directory = pathlib.Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
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
        matplotlib.image.imsave(directory / f"summary_{number}.png", image)
    return directory


def evaluate_summarizer(model, args):
    """Prints the test scores of a summarizer (`evaluate MODEL`)."""
    from zoo.summarization import inference
    from zoo.summarization.task import SCORING
    from zoo.summarization.task import _load_splits
    from zoo.summarization.task import format_scores

    config = argparse.Namespace(
        data=args.data,
        num_reports=1,
        seed=args.seed,
        text_column=args.text_column,
        summary_column=args.summary_column,
    )
    splits, names = _load_splits(config)
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
    for beam_width in sorted({1, args.beam_width}):
        scores, _ = inference.evaluate_examples(
            model,
            examples,
            beam_width=beam_width,
            length_penalty=args.length_penalty if beam_width > 1 else 0.0,
            no_repeat_ngram_size=args.no_repeat_ngram_size,
            names=names,
        )
        print(format_scores(f"beam {beam_width}", scores))
