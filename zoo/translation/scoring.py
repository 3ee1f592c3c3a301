"""Scores of translations: exact match, BLEU (overall and by source
length) and the dates' attention correctness by field."""

import numpy as np
from keras import ops

from keras_attention.metrics import attention_correctness
from keras_attention.metrics import text_scores
from zoo.data import date_links
from zoo.text import token_alignment


def score_translations(hypotheses, references):
    """Exact match and corpus BLEU with `keras_attention.metrics.text_scores`.

    The one scorer of the zoo: the CLI, `evaluation.json` and the
    TensorBoard summaries all report its numbers. Both scores compare
    lowercased text tokenized with sacreBLEU's `13a` tokenizer, so exact
    match ignores case, spacing and the space before punctuation
    (`"Wait!"` equals `"wait !"`), and BLEU is `sacrebleu.corpus_bleu(...,
    lowercase=True, tokenize="13a")`.

    Args:
        hypotheses: The translations (strings).
        references: One reference string per hypothesis.

    Returns:
        A dict with `"exact_match"` (a fraction in [0, 1]) and `"bleu"`
        (0 to 100).

    Example:

    >>> score_translations(["Wait!", "I am tired."], ["wait !", "I'm tired."])[
    ...     "exact_match"
    ... ]
    0.5
    """
    return text_scores(hypotheses, references)


def bleu_by_source_length(
    sources, hypotheses, references, boundaries=(5, 10, 15, 20)
):
    """Corpus BLEU of the sentences in each source-length bucket.

    As in figure 2 of Bahdanau et al. (2014), which shows attention
    keeping BLEU up on long sentences. Lengths are whitespace-separated
    words; BLEU is computed as in `score_translations`.

    Args:
        sources: The source sentences.
        hypotheses: Their translations.
        references: The reference translations.
        boundaries: Increasing upper bounds of the buckets; a last bucket
            holds longer sentences.

    Returns:
        A list with one dict per non-empty bucket: `"lengths"` (e.g.
        `"6-10"`), `"sentences"` and `"bleu"`.

    Example:

    >>> buckets = bleu_by_source_length(["a b"], ["x y z w"], ["x y z w"])
    >>> [(b["lengths"], b["sentences"], round(b["bleu"], 1)) for b in buckets]
    [('1-5', 1, 100.0)]
    """
    buckets = {}
    for source, hypothesis, reference in zip(
        sources, hypotheses, references, strict=True
    ):
        length = len(source.split())
        index = sum(length > bound for bound in boundaries)
        buckets.setdefault(index, []).append((hypothesis, reference))
    lower_bounds = [1] + [bound + 1 for bound in boundaries]
    results = []
    for index in sorted(buckets):
        hypotheses_in, references_in = zip(*buckets[index], strict=True)
        lower = lower_bounds[index]
        lengths = (
            f"{lower}-{boundaries[index]}"
            if index < len(boundaries)
            else f"{lower}+"
        )
        results.append(
            {
                "lengths": lengths,
                "sentences": len(hypotheses_in),
                "bleu": score_translations(hypotheses_in, references_in)[
                    "bleu"
                ],
            }
        )
    return results


def _token_spans(model, sources, token_ids):
    """Character spans of the source and output tokens of decoded pairs.

    Returns:
        The decoded texts and, per pair, the spans of the `source_ids`
        positions in the source (`None` for padding) and of the
        `output_ids` positions in the decoded text (`None` for `[END]` and
        what follows).
    """
    if not len(sources):
        return [], []
    _, starts, ends = model.source_tokenizer.tokenize_with_offsets(
        list(sources)
    )
    texts, output_spans = model.target_tokenizer.detokenize_with_offsets(
        np.stack([output_ids for _, output_ids in token_ids])
    )
    spans = []
    for row_starts, row_ends, (source_ids, _), row_outputs in zip(
        starts, ends, token_ids, output_spans, strict=True
    ):
        source_spans = [None] * len(source_ids)
        # `source_ids` may be truncated to the tokenizer's sequence_length.
        for index, span in enumerate(zip(row_starts, row_ends, strict=True)):
            if index < len(source_spans) and source_ids[index] != 0:
                source_spans[index] = span
        spans.append((source_spans, row_outputs))
    return texts, spans


def output_alignments(model, sources, links, token_ids):
    """Reference alignments of decoded outputs from character-span links.

    For each decoded sentence, the 0/1 matrix of `zoo.text.token_alignment`:
    output token `t` is aligned to source token `s` when, for some link,
    `t` overlaps the link's target span and `s` its source span. The
    target spans are located in the decoder's own output (the hypothesis,
    with `WordPieceTokenizer.detokenize_with_offsets`), not in a
    reference: right for outputs whose fields sit at fixed character
    positions, like the ISO dates (`zoo.data.date_links`). An output token
    outside every link has an all-zero row (no reference), and so has the
    step that emits `[END]`: attention correctness skips those steps.

    Args:
        model: A zoo `Seq2Seq` model carrying its tokenizers.
        sources: The source sentences.
        links: Per source, a sequence of `(source_span, target_span)`
            character links.
        token_ids: Per source, its `(source_ids, output_ids)`, as returned
            by `translate_pairs`.

    Returns:
        A list of `int32` arrays `[len(output_ids), len(source_ids)]`, the
        axes of `translate_pairs`' attention.
    """
    _, spans = _token_spans(model, sources, token_ids)
    return [
        token_alignment(sample_links, source_spans, output_spans)
        for sample_links, (source_spans, output_spans) in zip(
            links, spans, strict=True
        )
    ]


def _stack_padded(arrays):
    """Stacks arrays of one rank, zero-padding each axis to the largest."""
    shape = np.max([array.shape for array in arrays], axis=0)
    stacked = np.zeros((len(arrays), *shape), np.float32)
    for index, array in enumerate(arrays):
        stacked[(index, *(slice(0, size) for size in array.shape))] = array
    return stacked


def attention_correctness_by_field(attention, alignments):
    """Attention correctness (Liu et al. 2016) overall and per field.

    Scores with `keras_attention.metrics.attention_correctness` the steps
    of all sentences pooled: the attention mass a step puts on the source
    tokens its output token is aligned to, averaged over the steps that
    have a reference. `"all"` uses the union of the fields' alignments.

    Args:
        attention: Per sentence, the decoder's attention `[T_out, T_src]`,
            or `[heads, T_out, T_src]` per head (as `translate_pairs`
            returns it).
        alignments: A dict from field name to one `[T_out, T_src]` 0/1
            reference alignment per sentence (`output_alignments`).

    Returns:
        A dict with `"attention_correctness"`: `{"all": x, field: x,
        ...}`, for multi-head attention that of the head-averaged map; and
        for multi-head attention `"attention_correctness_best_head"`:
        likewise the score of the best single head, chosen per field. A
        score is `None` when no step has a reference.

    Example:

    >>> attention = [np.array([[0.8, 0.2], [0.3, 0.7], [0.5, 0.5]])]
    >>> alignments = {
    ...     "a": [np.array([[1, 0], [0, 0], [0, 0]])],
    ...     "b": [np.array([[0, 0], [0, 1], [0, 0]])],
    ... }
    >>> scores = attention_correctness_by_field(attention, alignments)
    >>> {k: round(v, 2) for k, v in scores["attention_correctness"].items()}
    {'all': 0.75, 'a': 0.8, 'b': 0.7}
    """
    if not alignments:
        raise ValueError(
            "`alignments` must map at least one field name to alignments. "
            f"Received: alignments={alignments!r}"
        )
    attention = [np.asarray(weights, np.float32) for weights in attention]
    multi_head = bool(attention) and attention[0].ndim == 3
    fields = {
        "all": [
            np.max(np.stack(per_sentence), axis=0)
            for per_sentence in zip(*alignments.values(), strict=True)
        ],
        **alignments,
    }
    scores = {"attention_correctness": {}}
    if multi_head:
        scores["attention_correctness_best_head"] = {}
    if not attention:
        for key in scores:
            scores[key] = dict.fromkeys(fields)
        return scores
    stacked = _stack_padded(attention)  # [batch, (heads,) T_out, T_src]
    num_out, num_src = stacked.shape[-2:]
    for field, field_alignments in fields.items():
        reference = np.zeros((len(attention), num_out, num_src), np.float32)
        for index, alignment in enumerate(field_alignments):
            rows, columns = np.shape(alignment)
            reference[index, : min(rows, num_out), : min(columns, num_src)] = (
                np.asarray(alignment)[:num_out, :num_src]
            )
        has_reference = bool(reference.any())
        for key, heads in (
            ("attention_correctness", "mean"),
            ("attention_correctness_best_head", "best"),
        ):
            if key in scores:
                value = attention_correctness(stacked, reference, heads=heads)
                scores[key][field] = (
                    float(ops.convert_to_numpy(value))
                    if has_reference
                    else None
                )
    return scores


def date_attention_correctness(
    model, sources, alignments, attention, token_ids
):
    """Attention correctness of translated dates, overall and per field.

    Each output token of the year, month or day of a translation is
    aligned to the source tokens of that field (`zoo.data.date_links`
    with the translation as `output`, located in the output as in
    `output_alignments`): a year written `"19", "##88"` in the output and
    `"19", "##88"` in the source has both output tokens aligned to both
    source tokens. Hyphens and the step that emits `[END]` have no
    reference and are not scored, and neither is a field that is not at
    its ISO position in the translation (an output `"20-05-05"` has no
    year where ISO puts it, so none of its fields is scored).

    Args:
        model: A zoo model trained on the embedded dates.
        sources: The source dates.
        alignments: Per source, its alignment dict (`load_dates(...,
            return_alignment=True)`).
        attention: Per source, its attention, from `translate_pairs`.
        token_ids: Per source, its `(source_ids, output_ids)`, from
            `translate_pairs`.

    Returns:
        The dict of `attention_correctness_by_field` with the fields
        `"all"`, `"year"`, `"month"` and `"day"`.
    """
    texts, spans = _token_spans(model, sources, token_ids)
    links = [
        date_links(alignment, output=text)
        for alignment, text in zip(alignments, texts, strict=True)
    ]
    per_field = {
        field: [
            token_alignment(
                [sample_links[field]] if field in sample_links else [],
                *sample_spans,
            )
            for sample_links, sample_spans in zip(links, spans, strict=True)
        ]
        for field in ("year", "month", "day")
    }
    return attention_correctness_by_field(attention, per_field)
