"""The text summary of `AttentionSummary`: references and a Markdown table."""

import re

import numpy as np

from keras_attention.visualization.text import token_text

# Separates the references of one sample in the text table.
_REFERENCE_SEPARATOR = " / "
# Under the text table when a hypothesis has marked (bold) words.
_MARKS_LEGEND = "**bold**: copied from the source"
# Characters that would end a table cell, start emphasis or code, or be
# taken for HTML (e.g. "<unk>") in TensorBoard's Markdown renderer.
_MARKDOWN_SPECIAL = "\\`*_|<>[]"
# Runs of ASCII whitespace and of the line breaks of `str.splitlines`: a
# line break would end the table row. Other (e.g. non-breaking) spaces are
# kept as they are.
_BREAKING_WHITESPACE = re.compile(r"[ \t\n\r\f\v\x1c-\x1e\x85\u2028\u2029]+")


def check_references(values):
    """Each entry as `str`, or as a list of `str` for several references."""
    if hasattr(values, "numpy"):
        values = values.numpy()
    if isinstance(values, (str, bytes)):
        raise ValueError(
            "`references` must be a sequence of strings (or of lists of "
            "strings), one entry per sample, not a single string. "
            f"Received: references={values!r}"
        )
    references = []
    for index, value in enumerate(values):
        if isinstance(value, (list, tuple)) or (
            isinstance(value, np.ndarray) and value.ndim == 1
        ):
            texts = [token_text(text, f"references[{index}]") for text in value]
            if not texts:
                raise ValueError(
                    f"`references[{index}]` must hold at least one reference "
                    f"string. Received: references[{index}]={value!r}"
                )
            references.append(texts)
        else:
            references.append(token_text(value, "references"))
    return references


def _escape_markdown(text):
    text = _BREAKING_WHITESPACE.sub(" ", text).strip(" ")
    return "".join(
        "\\" + char if char in _MARKDOWN_SPECIAL else char for char in text
    )


def _marked_hypothesis(output_tokens, marks):
    """Markdown of the output tokens joined by spaces, marked ones bold."""
    words = []
    for token, marked in zip(output_tokens, marks, strict=True):
        text = _escape_markdown(token)
        # "****" would render as a horizontal rule or literal stars.
        if marked and text:
            text = f"**{text}**"
        if text:
            words.append(text)
    return " ".join(words)


def _hypothesis_cell(sample):
    if sample.marked_outputs is None:
        return _escape_markdown(sample.hypothesis)
    return _marked_hypothesis(sample.output_tokens, sample.marked_outputs)


def markdown_table(samples, references):
    """Markdown table of the `AttentionSample`s and their references.

    A sample with `marked_outputs` shows its output tokens as hypothesis,
    the marked ones in bold, and a legend line follows the table when any
    token is marked. An image sample without `source` is "image {i}".
    """
    header = ["#", "Source"]
    if references is not None:
        header.append("Reference")
    header.append("Hypothesis")
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
    ]
    for index, sample in enumerate(samples):
        source = sample.source
        if source is None:
            source = f"image {index}"
        cells = [str(index), _escape_markdown(source)]
        if references is not None:
            reference = references[index]
            if isinstance(reference, str):
                reference = [reference]
            cells.append(
                _REFERENCE_SEPARATOR.join(
                    _escape_markdown(text) for text in reference
                )
            )
        cells.append(_hypothesis_cell(sample))
        lines.append("| " + " | ".join(cells) + " |")
    if any(
        sample.marked_outputs is not None and sample.marked_outputs.any()
        for sample in samples
    ):
        # A blank line ends the table; the next line would be a row.
        lines.extend(["", _MARKS_LEGEND])
    return "\n".join(lines)
