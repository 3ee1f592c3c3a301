"""What `AttentionSummary` draws for a translator: validation sentences
spread over the lengths, decoded with their attention."""

import random

from zoo.translation.decoding import translate_pairs
from zoo.translation.scoring import output_alignments


def length_spread(texts, num_samples, seed=0):
    """Indices of texts spread over their lengths: short, medium, long.

    The texts are ordered by length in characters, ties in an order
    shuffled with `seed`, and the ones at the quantiles `(i + 0.5) /
    num_samples` are picked: representative short to long texts rather
    than the first rows of a file (which Anki sorts by length) or the
    extremes. The same texts and seed always give the same indices.

    Args:
        texts: The texts (e.g. the sources of the validation pairs).
        num_samples: How many indices to return, >= 0; all of them, by
            length, when there are fewer texts.
        seed: Seed of the tie-breaking order.

    Returns:
        A list of indices into `texts`, shortest text first.

    Example:

    >>> length_spread(["a", "abc", "ab", "abcdef", "abcd", "abcde"], 3)
    [2, 4, 3]
    """
    if (
        isinstance(num_samples, bool)
        or not isinstance(num_samples, int)
        or num_samples < 0
    ):
        raise ValueError(
            "`num_samples` must be an integer >= 0. "
            f"Received: num_samples={num_samples!r}"
        )
    order = list(range(len(texts)))
    random.Random(seed).shuffle(order)
    order.sort(key=lambda index: len(texts[index]))
    if num_samples >= len(order):
        return order
    return [
        order[int((i + 0.5) * len(order) / num_samples)]
        for i in range(num_samples)
    ]


def attention_decode_fn(model, links=None):
    """Builds the `AttentionSummary` decode function of a zoo model.

    Args:
        model: A zoo `Seq2Seq` model carrying its tokenizers.
        links: Optional function `links(source, hypothesis)` returning
            the character links `[(source_span, target_span), ...]` of a
            sample, target spans located in its translation `hypothesis`
            (see `output_alignments`; `zoo.data.date_links` for the dates),
            or `None`. A sample with links gets an `"alignment"` `[T_out,
            T_src]` over its output and source tokens, for which
            `AttentionSummary` logs attention correctness and outlines the
            reference cells.

    Returns:
        A function from a list of source strings to the list of sample
        dicts of the `AttentionSummary` contract.
    """
    source_tokenizer = model.source_tokenizer
    target_tokenizer = model.target_tokenizer

    def tokens(tokenizer, ids):
        kept = []
        for token_id in ids:
            if token_id == 0:
                break
            kept.append(tokenizer.id_to_token(token_id))
            if token_id == tokenizer.end_id:
                break
        return kept

    def decode(samples):
        hypotheses, attention, token_ids = translate_pairs(
            model, [(source, "") for source in samples]
        )
        sample_links = [
            None if links is None else links(source, hypothesis)
            for source, hypothesis in zip(samples, hypotheses, strict=True)
        ]
        linked = [
            index
            for index, found in enumerate(sample_links)
            if found is not None
        ]
        alignments = dict(
            zip(
                linked,
                output_alignments(
                    model,
                    [samples[index] for index in linked],
                    [sample_links[index] for index in linked],
                    [token_ids[index] for index in linked],
                ),
                strict=True,
            )
        )
        decoded = []
        rows = zip(samples, hypotheses, attention, token_ids, strict=True)
        for index, (source, hypothesis, weights, ids) in enumerate(rows):
            source_ids, output_ids = ids
            source_tokens = tokens(source_tokenizer, source_ids)
            output_tokens = tokens(target_tokenizer, output_ids)
            sample = {
                "source_tokens": source_tokens,
                "output_tokens": output_tokens,
                "attention": weights[
                    ..., : len(output_tokens), : len(source_tokens)
                ],
                "hypothesis": hypothesis,
                "source": source,
            }
            if index in alignments:
                sample["alignment"] = alignments[index][
                    : len(output_tokens), : len(source_tokens)
                ]
            decoded.append(sample)
        return decoded

    return decode
