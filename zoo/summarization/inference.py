"""Summarizing with a trained `Summarizer`: text in, summaries and scores.

A summary comes with what explains it: the attention of every generated
token over the source tokens, its `p_gen` (the probability of generating
rather than copying), the final coverage (the attention summed over the
summary) and which tokens were copied.
"""

import re
import time

import keras
import numpy as np

from keras_attention.metrics import repetition_rate
from keras_attention.metrics import summary_scores
from zoo import length_limit
from zoo.compiled import compile_padded_batches
from zoo.compiled import compiled
from zoo.compiled import padded_batch_size
from zoo.inputs import checked_text
from zoo.summarization.data import EncodedSplit
from zoo.summarization.data import encode_documents
from zoo.text.word_vocabulary import END_ID
from zoo.text.word_vocabulary import PAD_ID
from zoo.text.word_vocabulary import START_ID
from zoo.text.word_vocabulary import UNKNOWN_ID


def _decoder(model, settings, num_rows):
    beam_width, length_penalty, no_repeat, max_length = settings

    def decode(source_ids, extended_ids):
        return model.summary_ids(
            source_ids,
            extended_ids,
            beam_width=beam_width,
            max_length=max_length,
            length_penalty=length_penalty,
            no_repeat_ngram_size=no_repeat,
        )

    return compiled(model, ("summary", *settings), decode, num_rows)


def decode_arrays(
    model,
    encoded,
    beam_width=1,
    length_penalty=0.0,
    no_repeat_ngram_size=0,
    max_length=None,
    batch_size=32,
):
    """Decodes the summaries of an `EncodedSplit`.

    The sources are cut to the longest document of `encoded` (one compiled
    program per call); a smaller last batch is padded to a power of two.

    Returns:
        A dict of NumPy arrays: `"sequences"` `[N, max_length + 1]`
        (extended ids), `"lengths"` `[N]`, `"attention"`
        `[N, max_length + 1, S]` and `"p_gen"` `[N, max_length + 1]`.
    """
    source_ids, extended_ids = _cut_to_longest(encoded)
    settings = (beam_width, length_penalty, no_repeat_ngram_size, max_length)
    decode = _decoder(model, settings, len(source_ids))
    names = ("sequences", "lengths", "attention", "p_gen")
    outputs = {name: [] for name in names}
    for start in range(0, len(source_ids), batch_size):
        batch = [
            array[start : start + batch_size]
            for array in (source_ids, extended_ids)
        ]
        count = len(batch[0])
        padded_size = padded_batch_size(count, batch_size)
        if count < padded_size:
            batch = [
                np.concatenate(
                    [array, np.repeat(array[-1:], padded_size - count, 0)]
                )
                for array in batch
            ]
        results = decode(*batch)
        for name in names:
            outputs[name].append(
                np.asarray(keras.ops.convert_to_numpy(results[name]))[:count]
            )
    return {
        name: np.concatenate(values) if values else np.zeros((0,))
        for name, values in outputs.items()
    }


def _cut_to_longest(encoded):
    """`(source_ids, extended_ids)` cut to the split's longest document."""
    width = max(int(encoded.source_lengths.max(initial=1)), 1)
    return encoded.source_ids[:, :width], encoded.extended_ids[:, :width]


def compile_decoder(
    model,
    encoded,
    beam_width=1,
    length_penalty=0.0,
    no_repeat_ngram_size=0,
    batch_size=32,
):
    """Compiles `decode_arrays`' decoder for the batches of `encoded`.

    Call it before timing `decode_arrays` with the same settings: each
    batch shape seen for the first time compiles (seconds). One document
    per shape is decoded, repeated to the padded batch size.
    """
    settings = (beam_width, length_penalty, no_repeat_ngram_size, None)
    decode = _decoder(model, settings, len(encoded))
    first_rows = [array[:1] for array in _cut_to_longest(encoded)]
    compile_padded_batches(decode, first_rows, len(encoded), batch_size)


def summarize_texts(
    model,
    texts,
    beam_width=1,
    length_penalty=0.0,
    no_repeat_ngram_size=0,
    max_length=None,
    batch_size=32,
):
    """Summarizes documents; each summary with what explains it.

    A document without any word (empty or blank) is not decoded: its
    summary is empty (`""`, no token), as in the SavedModel.

    Args:
        model: A trained `Summarizer`.
        texts: Documents (`str`, or `bytes` holding UTF-8).
        beam_width: 1 for greedy decoding, more for beam search.
        length_penalty: GNMT alpha of beam search.
        no_repeat_ngram_size: forbid repeating n-grams of this size (3 is
            the trigram blocking of Paulus et al. 2017); 0 allows them.
        max_length: longest summary in tokens; default: the model's.
        batch_size: documents decoded at once.

    Returns:
        A list with a dict per document: `"summary"` (tokens joined by
        spaces), `"tokens"` (the generated tokens, then `"<end>"` when
        the summary ended before the limit), `"copied"` (per token: the
        word's copy probability exceeds its generation probability, the
        two terms of See et al.'s eq. 9; always for an unknown word, which
        only copying gives), `"p_gen"` `[len(tokens)]`, `"attention"`
        `[len(tokens), len(source_tokens)]`, `"coverage"`
        `[len(source_tokens)]` (the attention summed over the summary),
        `"source_tokens"` (the tokens the model read) and `"truncated"`
        (whether the document was cut to the model's length).

    Raises:
        ValueError: For a text that is neither `str` nor UTF-8 `bytes`.
    """
    texts = [
        checked_text(text, f"texts[{index}]")
        for index, text in enumerate(texts)
    ]
    encoded = encode_documents(
        model.word_vocabulary, texts, model.max_source_length
    )
    # Nothing in, nothing invented: a document without any word is not
    # decoded; its summary is empty (as in the SavedModel).
    readable = np.flatnonzero(encoded.source_lengths > 0)
    encoded = _rows(encoded, readable)
    outputs = decode_arrays(
        model,
        encoded,
        beam_width,
        length_penalty,
        no_repeat_ngram_size,
        max_length,
        batch_size,
    )
    source_tokens = _source_tokens(model, [texts[i] for i in readable])
    truncated = encoded.source_lengths >= model.max_source_length
    copies = copy_wins(model, encoded, outputs["sequences"], batch_size)
    summaries = [_empty_summary() for _ in texts]
    for row, index in enumerate(readable):
        summaries[index] = _explained_summary(
            model,
            outputs["sequences"][row],
            encoded.oov_words[row],
            outputs["attention"][row],
            outputs["p_gen"][row],
            source_tokens[row],
            bool(truncated[row]),
            copies[row],
        )
    return summaries


def copy_wins(model, encoded, sequences, batch_size=32):
    """Whether each decoded token was more likely copied than generated.

    See et al.'s eq. 9 splits a word's probability into generating it,
    `p_gen * P_vocab(w)`, and copying it, `(1 - p_gen) * sum_i a_i` over
    the source positions holding `w`; the decoder's step with the decoded
    sequence fed back (teacher forcing reproduces the decoding's states)
    gives both terms for the word it chose.

    Returns:
        A bool NumPy array `[N, T]` like `sequences` (False after the end).
    """
    sequences = np.asarray(sequences)
    size = model.word_vocabulary.size
    fed_back = np.where(sequences >= size, UNKNOWN_ID, sequences)
    decoder_inputs = np.concatenate(
        [np.full((len(sequences), 1), START_ID), fed_back[:, :-1]], axis=1
    ).astype("int32")
    wins = []
    for start in range(0, len(sequences), batch_size):
        rows = slice(start, start + batch_size)
        outputs = model(
            {
                "source_ids": encoded.source_ids[rows],
                "extended_ids": encoded.extended_ids[rows],
                "decoder_inputs": decoder_inputs[rows],
            }
        )
        wins.append(
            _copy_beats_generation(
                outputs, encoded.extended_ids[rows], sequences[rows], size
            )
        )
    return np.concatenate(wins) if wins else np.zeros((0, 0), bool)


def _copy_beats_generation(outputs, extended_ids, sequences, size):
    probabilities = keras.ops.convert_to_numpy(
        keras.ops.softmax(outputs["logits"], axis=-1)
    )
    attention = keras.ops.convert_to_numpy(outputs["attention"])
    p_gen = keras.ops.convert_to_numpy(outputs["p_gen"])
    in_vocabulary = sequences < size
    chosen = np.take_along_axis(
        probabilities, np.minimum(sequences, size - 1)[..., None], axis=-1
    )[..., 0]
    generation = np.where(in_vocabulary, p_gen * chosen, 0.0)
    # [N, T, S]: the source positions that hold each step's word.
    holds = extended_ids[:, None, :] == sequences[:, :, None]
    copy = (1.0 - p_gen) * np.sum(attention * holds, axis=-1)
    return (copy > generation) & (sequences != PAD_ID)


def _empty_summary():
    """The summary of a document without any word."""
    return {
        "summary": "",
        "tokens": [],
        "copied": [],
        "p_gen": np.zeros((0,), np.float32),
        "attention": np.zeros((0, 0), np.float32),
        "coverage": np.zeros((0,), np.float32),
        "source_tokens": [],
        "truncated": False,
    }


def _rows(encoded, indices):
    """The documents of an `EncodedSplit` at `indices`."""
    return EncodedSplit(
        source_ids=encoded.source_ids[indices],
        extended_ids=encoded.extended_ids[indices],
        oov_words=encoded.oov_words[indices],
        source_lengths=encoded.source_lengths[indices],
    )


def _source_tokens(model, texts):
    tokens = model.word_vocabulary.tokenize(texts).to_list()
    return [
        [token.decode("utf-8") for token in document[: model.max_source_length]]
        for document in tokens
    ]


def _explained_summary(
    model, ids, oov_words, attention, p_gen, source_tokens, truncated, copies
):
    words, copied_unknown = model.word_vocabulary.decode_tokens(ids, oov_words)
    ended = not reached_length_limit(np.asarray(ids)[None])[0]
    tokens = list(words) + (["<end>"] if ended else [])
    steps = len(tokens)
    p_gen = np.asarray(p_gen[:steps], np.float32)
    copied = [
        bool(copied_unknown[index]) or bool(copies[index])
        for index in range(len(words))
    ] + [False] * (steps - len(words))
    weights = np.asarray(attention[:steps, : len(source_tokens)], np.float32)
    return {
        "summary": " ".join(words),
        "tokens": tokens,
        "copied": copied,
        "p_gen": p_gen,
        "attention": weights,
        "coverage": weights.sum(axis=0),
        "source_tokens": source_tokens,
        "truncated": truncated,
    }


def lead(text, num_words=30):
    """The lead baseline: the first `num_words` words of the document."""
    return " ".join(text.split()[:num_words])


# A sentence ends at ".", "!" or "?" (attached to its word or not) before
# whitespace.
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def lead_sentences(text, num_sentences=3, max_words=None):
    """The lead-3 baseline: the document's first sentences, length-matched.

    The standard extractive baseline of news summarization (See et al.
    2017, table 1). Cut to `max_words` words (the summaries' length
    limit), so that it is compared with the model at the same length.
    """
    sentences = _SENTENCE_END.split(text.strip())[:num_sentences]
    words = " ".join(sentences).split()
    return " ".join(words if max_words is None else words[:max_words])


def name_copy_rate(summaries, names):
    """The share of names found verbatim (as whole words) in the summaries.

    Args:
        summaries: generated summary strings.
        names: per summary, the names it should contain (lowercase).

    Returns:
        The share in `[0, 1]`, or `None` when there is no name.
    """
    found = total = 0
    for summary, summary_names in zip(summaries, names, strict=True):
        padded = f" {summary.lower()} "
        for name in summary_names:
            total += 1
            found += f" {name.lower()} " in padded
    return found / total if total else None


def reached_length_limit(sequences):
    """Whether each summary ran to the length limit without `<end>`."""
    return length_limit.reached_length_limit(sequences, END_ID, PAD_ID)


def evaluate_examples(
    model,
    examples,
    beam_width=1,
    length_penalty=0.0,
    no_repeat_ngram_size=0,
    names=None,
):
    """ROUGE, repetition and speed of one decoding of `examples`.

    Args:
        model: A trained `Summarizer`.
        examples: `SummaryExample`s (text and references).
        beam_width, length_penalty, no_repeat_ngram_size: the decoding.
        names: optional per example the names its summary must copy
            (generated reports); adds `"name_copy_rate"`.

    Returns:
        `(scores, summaries)`: `summary_scores` (ROUGE-1/2/L F1 against
        the best reference, repetition rate) with `"length_limit_share"`,
        `"summaries_per_second"`, `"num_documents"` and, with names,
        `"name_copy_rate"`; and the summary strings.
    """
    texts = [example.text for example in examples]
    encoded = encode_documents(
        model.word_vocabulary, texts, model.max_source_length
    )
    settings = (beam_width, length_penalty, no_repeat_ngram_size)
    # Compiling is not timed.
    compile_decoder(model, encoded, *settings)
    start = time.perf_counter()
    outputs = decode_arrays(model, encoded, *settings)
    seconds = time.perf_counter() - start
    summaries = [
        " ".join(model.word_vocabulary.decode_tokens(ids, oov)[0])
        for ids, oov in zip(
            outputs["sequences"], encoded.oov_words, strict=True
        )
    ]
    references = [list(example.references) for example in examples]
    scores = summary_scores(summaries, references)
    scores["length_limit_share"] = float(
        np.mean(reached_length_limit(outputs["sequences"]))
    )
    scores["summaries_per_second"] = len(summaries) / max(seconds, 1e-9)
    scores["num_documents"] = len(summaries)
    if names is not None:
        scores["name_copy_rate"] = name_copy_rate(summaries, names)
    return scores, summaries


def lead_scores(examples, num_words=30):
    """`summary_scores` of the lead baseline on `examples`."""
    leads = [lead(example.text, num_words) for example in examples]
    references = [list(example.references) for example in examples]
    return summary_scores(leads, references)


def lead3_scores(examples, max_words):
    """`summary_scores` of lead-3 cut to `max_words` words on `examples`."""
    leads = [lead_sentences(example.text, 3, max_words) for example in examples]
    references = [list(example.references) for example in examples]
    return summary_scores(leads, references)


def reference_repetition(examples):
    """The repetition rate of the first references (the human level)."""
    return repetition_rate([example.references[0] for example in examples])
