"""Token-level reference alignments from character-span links.

A reference alignment says which source tokens each target token should
attend to; `keras_attention.metrics.attention_correctness` scores attention
maps against it. Datasets know alignments as character spans (the dates of
`zoo.data.dates` know where the year, month and day are written); the
tokenizer knows where its tokens are (`WordPieceTokenizer.
tokenize_with_offsets` for a source, `detokenize_with_offsets` for a
decoder's output). `token_alignment` combines the two.
"""

import numpy as np


def _check_span(span, argument_name, index):
    valid = (
        isinstance(span, (tuple, list))
        and len(span) == 2
        and all(
            isinstance(value, (int, np.integer)) and not isinstance(value, bool)
            for value in span
        )
        and 0 <= span[0] <= span[1]
    )
    if not valid:
        raise ValueError(
            f"Each entry of `{argument_name}` must be a (start, end) pair of "
            f"integers with 0 <= start <= end. Received: "
            f"{argument_name}[{index}]={span!r}"
        )
    return int(span[0]), int(span[1])


def _overlaps(span, other):
    return span[0] < other[1] and other[0] < span[1]


def _offset_spans(offsets, argument_name):
    spans = []
    for index, span in enumerate(offsets):
        spans.append(
            None if span is None else _check_span(span, argument_name, index)
        )
    return spans


def token_alignment(links, source_offsets, target_offsets):
    """Maps character-span links to a `[T_target, T_source]` 0/1 matrix.

    A link `(source_span, target_span)` says that the characters
    `target_span` of the target text come from the characters
    `source_span` of the source text. Target token `t` is aligned to
    source token `s` when, for some link, token `t` overlaps the link's
    target span and token `s` overlaps its source span (overlap means
    sharing at least one character). So a word split into several
    WordPieces has all of them aligned, on either side; tokens outside
    every link (hyphens, `[END]`, a weekday the target does not use) get
    an all-zero row or column, i.e. no reference.

    Args:
        links: a sequence of `(source_span, target_span)` pairs, each span
            a `(start, end)` pair of character offsets, `end` exclusive.
        source_offsets: one `(start, end)` character span per source token
            (as given by `WordPieceTokenizer.tokenize_with_offsets`), or
            `None` for a token without text (e.g. `[START]` or padding).
        target_offsets: likewise, one span or `None` per target token (as
            given by `WordPieceTokenizer.detokenize_with_offsets` for a
            decoder's output: `[END]` has `None`).

    Returns:
        An `int32` NumPy array `[len(target_offsets), len(source_offsets)]`
        of 0 and 1.

    Example:

    >>> # "9th of may 2018" -> "2018-05-09"; source tokens 9 ##th of may
    >>> # 2018, target tokens 2018 - 05 - 09 [END].
    >>> source_offsets = [(0, 1), (1, 3), (4, 6), (7, 10), (11, 15)]
    >>> target_offsets = [(0, 4), (4, 5), (5, 7), (7, 8), (8, 10), None]
    >>> links = [((11, 15), (0, 4)), ((7, 10), (5, 7)), ((0, 3), (8, 10))]
    >>> token_alignment(links, source_offsets, target_offsets)
    array([[0, 0, 0, 0, 1],
           [0, 0, 0, 0, 0],
           [0, 0, 0, 1, 0],
           [0, 0, 0, 0, 0],
           [1, 1, 0, 0, 0],
           [0, 0, 0, 0, 0]], dtype=int32)
    """
    if isinstance(links, (str, bytes)) or not hasattr(links, "__iter__"):
        raise ValueError(
            "`links` must be a sequence of (source_span, target_span) "
            f"pairs. Received: links={links!r}"
        )
    checked_links = []
    for index, link in enumerate(links):
        if not isinstance(link, (tuple, list)) or len(link) != 2:
            raise ValueError(
                "Each entry of `links` must be a (source_span, target_span) "
                f"pair. Received: links[{index}]={link!r}"
            )
        checked_links.append(
            (
                _check_span(link[0], f"links[{index}]", 0),
                _check_span(link[1], f"links[{index}]", 1),
            )
        )
    source_spans = _offset_spans(source_offsets, "source_offsets")
    target_spans = _offset_spans(target_offsets, "target_offsets")
    alignment = np.zeros((len(target_spans), len(source_spans)), np.int32)
    for source_span, target_span in checked_links:
        rows = [
            index
            for index, span in enumerate(target_spans)
            if span is not None and _overlaps(span, target_span)
        ]
        columns = [
            index
            for index, span in enumerate(source_spans)
            if span is not None and _overlaps(span, source_span)
        ]
        alignment[np.ix_(rows, columns)] = 1
    return alignment
