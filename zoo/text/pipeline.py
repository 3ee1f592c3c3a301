"""Input pipelines that turn sentence pairs into teacher-forcing batches.

Both functions produce the layout a Keras sequence-to-sequence model is
trained on with `model.fit`::

    ((source_ids, target_input_ids), target_output_ids)

* `source_ids`: `[batch, max_source_length]`, the source tokens, padded
  with 0 (`[PAD]`), no `[START]`/`[END]`.
* `target_input_ids`: `[batch, max_target_length]`, `[START]` followed by
  the target tokens, padded with 0.
* `target_output_ids`: `[batch, max_target_length]`, the target tokens
  followed by `[END]`, padded with 0: `target_input_ids` shifted left by
  one, so position `t` of the output is what the decoder must predict
  after reading positions `0..t` of the input.

By default sequences are padded to the fixed maximum lengths, so every
batch has the same static shape and a jit-compiled model (JAX, XLA)
compiles once. With `bucket_boundaries`, `make_translation_dataset` groups
pairs of similar length and pads each batch only to its bucket's bound: a
few static shapes (one compilation each) instead of one, and far less
padding on corpora of short sentences (most Tatoeba pairs hold under 12
tokens but a 40-token limit keeps the long ones). Too-long sequences are
truncated (the tokenizers warn once); `[END]` is kept after truncation.

The tokenizers run in TensorFlow (`tf.data`); the resulting batches feed
a model on any Keras backend, or use `tokenize_to_numpy` to get arrays.
"""

import itertools

import numpy as np
import tensorflow as tf

from zoo.checks import check_positive_int

_TOKENIZATION_BATCH_SIZE = 1024


def _split_pairs(pairs):
    pairs = list(pairs)
    if not pairs:
        raise ValueError("`pairs` must contain at least one (source, target).")
    for index, pair in enumerate(pairs):
        if len(pair) < 2:
            raise ValueError(
                "`pairs` must hold (source, target) tuples. "
                f"Received at index {index}: {pair!r}"
            )
    sources = [pair[0] for pair in pairs]
    targets = [pair[1] for pair in pairs]
    return sources, targets


def _tokenize_batch_fn(
    source_tokenizer, target_tokenizer, max_source_length, max_target_length
):
    def tokenize_batch(sources, targets):
        source_ids = source_tokenizer(
            sources,
            sequence_length=max_source_length,
            add_start=False,
            add_end=False,
        )
        # One extra position so that the shifted input and output each
        # keep max_target_length tokens.
        target_ids = target_tokenizer(
            targets,
            sequence_length=max_target_length + 1,
            add_start=True,
            add_end=True,
        )
        target_input_ids = target_ids[:, :-1]
        # The input never needs to read [END]: nothing is predicted after it.
        target_input_ids = tf.where(
            target_input_ids == target_tokenizer.end_id,
            tf.cast(target_tokenizer.pad_id, target_input_ids.dtype),
            target_input_ids,
        )
        target_output_ids = target_ids[:, 1:]
        return (source_ids, target_input_ids), target_output_ids

    return tokenize_batch


def _tokenized_batches(
    pairs,
    source_tokenizer,
    target_tokenizer,
    max_source_length,
    max_target_length,
    batch_size,
):
    """Dataset of tokenized batches of `pairs`, in order."""
    sources, targets = _split_pairs(pairs)
    dataset = tf.data.Dataset.from_tensor_slices(
        (
            tf.constant(sources, dtype=tf.string),
            tf.constant(targets, dtype=tf.string),
        )
    )
    dataset = dataset.batch(batch_size)
    return dataset.map(
        _tokenize_batch_fn(
            source_tokenizer,
            target_tokenizer,
            max_source_length,
            max_target_length,
        ),
        num_parallel_calls=tf.data.AUTOTUNE,
    ).prefetch(tf.data.AUTOTUNE)


def make_translation_dataset(
    pairs,
    source_tokenizer,
    target_tokenizer,
    batch_size,
    max_source_length,
    max_target_length,
    shuffle=True,
    seed=0,
    drop_remainder=False,
    bucket_boundaries=None,
):
    """Builds a `tf.data.Dataset` of teacher-forcing translation batches.

    The strings are tokenized in large batches by parallel `map` calls
    during the first epoch and the ids cached in memory (about 8 bytes per
    token position and pair); every epoch then shuffles the examples anew
    (reproducibly under `seed`), batches and prefetches them.

    Args:
        pairs: a list of `(source, target)` strings.
        source_tokenizer: a `zoo.text.WordPieceTokenizer` (or any layer
            with the same call signature) for the sources.
        target_tokenizer: the tokenizer of the targets; needs `pad_id` and
            `end_id`.
        batch_size: number of pairs per batch.
        max_source_length: length of `source_ids`.
        max_target_length: length of `target_input_ids` and
            `target_output_ids`.
        shuffle: whether to shuffle the pairs every epoch.
        seed: integer shuffle seed.
        drop_remainder: whether to drop the last, smaller batch (of each
            bucket, with `bucket_boundaries`).
        bucket_boundaries: `None` to pad every batch to the maximum
            lengths, or increasing token counts: a pair goes to the first
            bucket whose bound is at least its longer side (source tokens,
            or target tokens plus `[START]`), and its batch is padded to
            that bound (capped at each side's maximum length). Pairs longer
            than the last bound form a last bucket padded to the maximums.

    Returns:
        A `tf.data.Dataset` of `((source_ids, target_input_ids),
        target_output_ids)`, all `int32`, padded with 0.

    Example:

    >>> from zoo.data import load_dates
    >>> from zoo.text import WordPieceTokenizer
    >>> pairs = load_dates(num_train=64, num_valid=0, num_test=0)["train"]
    >>> source_tokenizer = WordPieceTokenizer.from_texts(
    ...     [s for s, _ in pairs], vocabulary_size=200)
    >>> target_tokenizer = WordPieceTokenizer.from_texts(
    ...     [t for _, t in pairs], vocabulary_size=100)
    >>> dataset = make_translation_dataset(
    ...     pairs, source_tokenizer, target_tokenizer, batch_size=16,
    ...     max_source_length=32, max_target_length=12)
    >>> (source, target_input), target_output = next(iter(dataset))
    >>> source.shape, target_input.shape, target_output.shape
    (TensorShape([16, 32]), TensorShape([16, 12]), TensorShape([16, 12]))
    """
    check_positive_int("batch_size", batch_size)
    check_positive_int("max_source_length", max_source_length)
    check_positive_int("max_target_length", max_target_length)
    pairs = list(pairs)
    # Tokenizing large batches once, then caching the fixed-length ids,
    # costs one pass over the text; later epochs only shuffle and batch.
    dataset = _tokenized_batches(
        pairs,
        source_tokenizer,
        target_tokenizer,
        max_source_length,
        max_target_length,
        _TOKENIZATION_BATCH_SIZE,
    )
    dataset = dataset.unbatch().cache()
    if shuffle:
        dataset = dataset.shuffle(
            len(pairs), seed=seed, reshuffle_each_iteration=True
        )
    if bucket_boundaries is None:
        dataset = dataset.batch(batch_size, drop_remainder=drop_remainder)
    else:
        dataset = _bucketed_batches(
            dataset,
            _check_boundaries(bucket_boundaries),
            batch_size,
            max_source_length,
            max_target_length,
            drop_remainder,
        )
    return dataset.prefetch(tf.data.AUTOTUNE)


def _check_boundaries(bucket_boundaries):
    boundaries = list(bucket_boundaries)
    if (
        not boundaries
        or not all(isinstance(b, (int, np.integer)) for b in boundaries)
        or boundaries[0] < 1
        or any(a >= b for a, b in itertools.pairwise(boundaries))
    ):
        raise ValueError(
            "`bucket_boundaries` must be a non-empty list of increasing "
            f"integers >= 1. Received: bucket_boundaries={bucket_boundaries!r}"
        )
    return boundaries


def _bucketed_batches(
    dataset,
    boundaries,
    batch_size,
    max_source_length,
    max_target_length,
    drop_remainder,
):
    bounds = tf.constant(
        boundaries + [max(max_source_length, max_target_length)], tf.int32
    )

    def bucket_index(inputs, target_output):
        source, target_input = inputs
        # Padding is 0 and trails, so the non-zero count is the length.
        longest = tf.maximum(
            tf.math.count_nonzero(source, dtype=tf.int32),
            tf.math.count_nonzero(target_input, dtype=tf.int32),
        )
        index = tf.searchsorted(bounds[:-1], [longest], side="left")[0]
        return tf.cast(index, tf.int64)

    def batch_and_trim(index, window):
        bound = tf.gather(bounds, index)

        def trim(inputs, target_output):
            source, target_input = inputs
            target_bound = tf.minimum(bound, max_target_length)
            return (
                source[:, : tf.minimum(bound, max_source_length)],
                target_input[:, :target_bound],
            ), target_output[:, :target_bound]

        return window.batch(batch_size, drop_remainder=drop_remainder).map(trim)

    return dataset.group_by_window(
        key_func=bucket_index,
        reduce_func=batch_and_trim,
        window_size=batch_size,
    )


def tokenize_to_numpy(
    pairs,
    source_tokenizer,
    target_tokenizer,
    max_source_length,
    max_target_length,
    batch_size=1024,
):
    """Tokenizes all pairs into NumPy arrays, in order.

    For training on the JAX or PyTorch backend from in-memory arrays
    (`model.fit(x=(source_ids, target_input_ids), y=target_output_ids)`),
    or for evaluation. Same layout as `make_translation_dataset`.

    Args:
        pairs: a list of `(source, target)` strings.
        source_tokenizer: the source tokenizer.
        target_tokenizer: the target tokenizer.
        max_source_length: length of `source_ids`.
        max_target_length: length of the target arrays.
        batch_size: how many pairs are tokenized per TensorFlow call
            (memory only; the result does not depend on it).

    Returns:
        `((source_ids, target_input_ids), target_output_ids)`: `int32`
        NumPy arrays of shapes `[num_pairs, max_source_length]` and
        `[num_pairs, max_target_length]`.

    Example:

    >>> from zoo.data import load_dates
    >>> from zoo.text import WordPieceTokenizer
    >>> pairs = load_dates(num_train=64, num_valid=0, num_test=0)["train"]
    >>> tokenizer = WordPieceTokenizer.from_texts(
    ...     [s for s, _ in pairs] + [t for _, t in pairs],
    ...     vocabulary_size=200)
    >>> (source, target_input), target_output = tokenize_to_numpy(
    ...     pairs, tokenizer, tokenizer, 32, 12)
    >>> source.shape, target_output.dtype
    ((64, 32), dtype('int32'))
    """
    check_positive_int("batch_size", batch_size)
    check_positive_int("max_source_length", max_source_length)
    check_positive_int("max_target_length", max_target_length)
    dataset = _tokenized_batches(
        pairs,
        source_tokenizer,
        target_tokenizer,
        max_source_length,
        max_target_length,
        batch_size,
    )
    source_ids, target_input_ids, target_output_ids = [], [], []
    for (source, target_input), target_output in dataset:
        source_ids.append(source.numpy())
        target_input_ids.append(target_input.numpy())
        target_output_ids.append(target_output.numpy())
    return (
        (
            np.concatenate(source_ids).astype("int32"),
            np.concatenate(target_input_ids).astype("int32"),
        ),
        np.concatenate(target_output_ids).astype("int32"),
    )
