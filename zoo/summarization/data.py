"""Summarization batches: documents and summaries to padded id arrays.

Every document and summary is encoded once, up front, with the model's
`WordVocabulary` (tensorflow-text): sources cut to `max_source_length`
tokens (counted), summaries to `max_summary_length`. Batches group
documents of similar length (`group_by_window` over length buckets) and
are cut to their bucket's width, so that a short document is not run
through hundreds of padding steps while the model compiles for a handful
of shapes only.
"""

import dataclasses

import numpy as np

from zoo.text.word_vocabulary import PAD_ID

# Bucket widths are multiples of this many tokens.
_WIDTH_MULTIPLE = 16
_MAX_BUCKETS = 4
# Documents encoded per call of the vocabulary's TensorFlow functions.
_ENCODE_CHUNK = 2048


@dataclasses.dataclass
class EncodedSplit:
    """The id arrays of a split (all `[N, width]` int32, 0-padded).

    Attributes:
        source_ids: source tokens, unknown words as `<unk>`.
        extended_ids: source tokens, the `k`-th unknown word as `V + k`.
        oov_words: `[N, max_source_length]` bytes, the unknown words by `k`.
        source_lengths: `[N]` tokens kept of each document.
        decoder_inputs: `<start>` and the reference summary, `[N, L + 1]`.
        targets: the summary and `<end>`, unknown words copied from the
            source as their extended ids.
        num_truncated_sources: documents longer than the limit (cut).
        num_truncated_summaries: summaries longer than the limit (cut).
    """

    source_ids: np.ndarray
    extended_ids: np.ndarray
    oov_words: np.ndarray
    source_lengths: np.ndarray
    decoder_inputs: np.ndarray = None
    targets: np.ndarray = None
    num_truncated_sources: int = 0
    num_truncated_summaries: int = 0

    def __len__(self):
        return len(self.source_ids)


def encode_documents(vocabulary, texts, max_source_length):
    """Encodes documents only (for decoding): an `EncodedSplit`."""
    import tensorflow as tf

    parts = []
    for start in range(0, len(texts), _ENCODE_CHUNK):
        chunk = tf.constant(list(texts[start : start + _ENCODE_CHUNK]))
        encoded = vocabulary.encode_sources(chunk, max_source_length)
        parts.append({name: value.numpy() for name, value in encoded.items()})
    if not parts:
        empty = np.zeros((0, max_source_length), np.int32)
        return EncodedSplit(
            empty, empty, empty.astype(bytes), np.zeros((0,), np.int32)
        )

    def joined(name):
        return np.concatenate([part[name] for part in parts])

    return EncodedSplit(
        source_ids=joined("source_ids").astype(np.int32),
        extended_ids=joined("extended_ids").astype(np.int32),
        oov_words=joined("oov_words"),
        source_lengths=joined("source_length").astype(np.int32),
        num_truncated_sources=int(joined("truncated").sum()),
    )


def encode_examples(
    vocabulary, examples, max_source_length, max_summary_length
):
    """Encodes `SummaryExample`s (documents and first references)."""
    import tensorflow as tf

    split = encode_documents(
        vocabulary, [example.text for example in examples], max_source_length
    )
    inputs, targets, truncated = [], [], 0
    for start in range(0, len(examples), _ENCODE_CHUNK):
        chunk = examples[start : start + _ENCODE_CHUNK]
        encoded = vocabulary.encode_targets(
            tf.constant([example.references[0] for example in chunk]),
            tf.constant(split.oov_words[start : start + len(chunk)]),
            max_summary_length,
        )
        inputs.append(encoded["decoder_inputs"].numpy())
        targets.append(encoded["targets"].numpy())
        truncated += int(encoded["truncated"].numpy().sum())
    width = max_summary_length + 1
    split.decoder_inputs = (
        np.concatenate(inputs).astype(np.int32)
        if inputs
        else np.zeros((0, width), np.int32)
    )
    split.targets = (
        np.concatenate(targets).astype(np.int32)
        if targets
        else np.zeros((0, width), np.int32)
    )
    split.num_truncated_summaries = truncated
    return split


def bucket_widths(lengths, max_width):
    """Up to four source widths (multiples of 16) that cover `lengths`."""
    lengths = np.asarray(lengths)
    if not len(lengths):
        return [max_width]
    quantiles = np.quantile(lengths, np.linspace(0, 1, _MAX_BUCKETS + 1)[1:])
    widths = sorted(
        {
            int(min(max_width, -(-max(int(q), 1) // _WIDTH_MULTIPLE)))
            * _WIDTH_MULTIPLE
            for q in quantiles
        }
    )
    widths = [min(width, max_width) for width in widths]
    widths[-1] = max(widths[-1], int(lengths.max()))
    return sorted(set(widths))


def make_dataset(split, batch_size, shuffle, seed):
    """`tf.data` batches `(inputs, targets)` of an `EncodedSplit`.

    `inputs` is the dict `Summarizer` takes (`source_ids`, `extended_ids`,
    `decoder_inputs`); sources are cut to the width of their length
    bucket and summaries to the batch's longest, rounded up to a multiple
    of 16 tokens. Shuffled every epoch with `shuffle`.
    """
    import tensorflow as tf

    max_width = split.source_ids.shape[1]
    widths = tf.constant(bucket_widths(split.source_lengths, max_width))
    dataset = tf.data.Dataset.from_tensor_slices(
        (
            {
                "source_ids": split.source_ids,
                "extended_ids": split.extended_ids,
                "decoder_inputs": split.decoder_inputs,
            },
            split.targets,
            split.source_lengths,
        )
    )
    if shuffle:
        dataset = dataset.shuffle(
            len(split), seed=seed, reshuffle_each_iteration=True
        )

    def bucket(inputs, targets, length):
        index = tf.searchsorted(widths, [length], side="left")[0]
        return tf.cast(tf.minimum(index, tf.size(widths) - 1), tf.int64)

    def batch_and_cut(index, window):
        width = tf.gather(widths, index)

        def cut(inputs, targets, lengths):
            summary_lengths = tf.reduce_sum(
                tf.cast(targets != PAD_ID, tf.int32), axis=-1
            )
            summary_width = _WIDTH_MULTIPLE * (
                (tf.reduce_max(summary_lengths) + _WIDTH_MULTIPLE - 1)
                // _WIDTH_MULTIPLE
            )
            summary_width = tf.minimum(summary_width, tf.shape(targets)[1])
            return (
                {
                    "source_ids": inputs["source_ids"][:, :width],
                    "extended_ids": inputs["extended_ids"][:, :width],
                    "decoder_inputs": inputs["decoder_inputs"][
                        :, :summary_width
                    ],
                },
                targets[:, :summary_width],
            )

        return window.batch(batch_size).map(cut)

    dataset = dataset.group_by_window(
        key_func=bucket, reduce_func=batch_and_cut, window_size=batch_size
    )
    return dataset.prefetch(tf.data.AUTOTUNE)
