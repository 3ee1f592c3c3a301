"""A word vocabulary with the pointer-generator's extended vocabulary.

See et al. (2017) summarize with a fixed vocabulary of whole words: a word
outside it is really unknown to the decoder's softmax, and the pointer
can still copy it from the source. `WordVocabulary` gives the ids both
parts need:

* the fixed vocabulary: `<pad>`=0, `<start>`=1, `<end>`=2, `<unk>`=3, then
  the words, most frequent first (`WordVocabulary.build`);
* per document, an **extended vocabulary**: the k-th distinct
  out-of-vocabulary (OOV) word of the source, in order of first
  appearance, gets the id `size + k`. Targets use these ids for OOV words
  the source holds, so a model is trained to copy them; `decode` maps them
  back to the document's words.

Text normalization, the same for building, encoding and decoding:

* `lowercase=True`: Unicode lowercasing (`tf.strings.lower` with UTF-8
  encoding; accents are kept, no other folding).
* Whitespace is any Unicode separator, control or format character
  (spaces, no-break spaces, tabs, newlines, zero-width spaces).
* `split_punctuation=True`: every character that is not a letter, a digit
  or a combining mark is a token of its own, so punctuation and symbols
  are split off words: `"Hello, Anna."` -> `hello , anna .`,
  `"it's 4.5%"` -> `it ' s 4 . 5 %`. With `False` only whitespace splits
  (`"Hello, Anna."` -> `hello, anna.`).

Tokenization runs TensorFlow Text kernels (`tf_text.regex_split`) and the
lookup is a `tf.lookup.StaticHashTable`, so `tokenize`, `encode_sources`
and `encode_targets` work eagerly, in `tf.data` maps, in `tf.function`s
and in SavedModel signatures over strings (the vocabulary is a
`tf.Module`: assign it to an attribute of the exported module so that its
table is saved). `decode` and `decode_tokens` are NumPy/Python, for
reading model outputs.

The special token strings are not words: `"<unk>"` in a text (with
`split_punctuation=False`; otherwise it splits into `< unk >`) is an
out-of-vocabulary word like any other.
"""

import collections

import keras
import numpy as np
import tensorflow as tf
import tensorflow_text as tf_text

PAD, START, END, UNKNOWN = "<pad>", "<start>", "<end>", "<unk>"
SPECIAL_TOKENS = (PAD, START, END, UNKNOWN)
PAD_ID, START_ID, END_ID, UNKNOWN_ID = range(4)

_SPACE = r"\p{Z}\p{Cc}\p{Cf}"
_WORD = r"\p{L}\p{N}\p{M}"
_SPACES_PATTERN = f"[{_SPACE}]+"
_PUNCTUATION_PATTERN = f"[^{_SPACE}{_WORD}]"
# Texts tokenized per TensorFlow call while counting words in `build`.
_BUILD_BATCH_SIZE = 1024
# What the lookup table returns for anything that is not a regular word.
_NOT_A_WORD = -1


def _split_words(strings, lowercase, split_punctuation):
    """Normalizes and splits a `[batch]` string tensor into ragged words."""
    if lowercase:
        strings = tf.strings.lower(strings, encoding="utf-8")
    if split_punctuation:
        return tf_text.regex_split(
            strings,
            f"{_SPACES_PATTERN}|{_PUNCTUATION_PATTERN}",
            _PUNCTUATION_PATTERN,
        )
    return tf_text.regex_split(strings, _SPACES_PATTERN)


def _as_string_batch(texts, name="texts"):
    """Returns (rank-1 string tensor, whether the input was a scalar)."""
    if isinstance(texts, (list, tuple)) and not texts:
        texts = tf.constant([], dtype=tf.string)
    elif isinstance(texts, (np.ndarray, list, tuple)):
        texts = np.asarray(texts, dtype=object)
    texts = tf.convert_to_tensor(texts, dtype=tf.string)
    rank = texts.shape.rank
    if rank == 0:
        return texts[tf.newaxis], True
    if rank != 1:
        raise ValueError(
            f"`{name}` must be a string or a [batch] string tensor. "
            f"Received shape: {texts.shape}"
        )
    return texts, False


def _check_max_length(max_length):
    if (
        isinstance(max_length, bool)
        or not isinstance(max_length, (int, np.integer))
        or max_length < 1
    ):
        raise ValueError(
            "`max_length` must be an integer >= 1. "
            f"Received: max_length={max_length!r}"
        )
    return int(max_length)


def _to_str(word):
    return word.decode("utf-8") if isinstance(word, bytes) else str(word)


class WordVocabulary(tf.Module):
    """Word-level vocabulary with per-document extended (copy) ids.

    Maps text to the inputs of a pointer-generator network: fixed-vocabulary
    ids for the encoder and the decoder's inputs, and extended ids (the
    source's out-of-vocabulary words numbered after the vocabulary) for
    the copy distribution and the targets. The module docstring describes
    the text normalization.

    Args:
        words: the vocabulary: a list of distinct non-empty strings
            starting with `"<pad>", "<start>", "<end>", "<unk>"`; the index
            of a word is its id. `WordVocabulary.build` makes one from
            texts.
        lowercase: whether text is lowercased before lookup.
        split_punctuation: whether every punctuation mark or symbol is a
            token of its own (`True`) or only whitespace splits (`False`).

    Example:

    >>> vocabulary = WordVocabulary.build(
    ...     ["The mayor spoke.", "The mayor said the plan is good."]
    ... )
    >>> vocabulary.words[4:8]
    ['the', '.', 'mayor', 'good']
    >>> encoded = vocabulary.encode_sources(["Mayor Anna Berg spoke."], 8)
    >>> encoded["extended_ids"].numpy()[0].tolist()
    [6, 12, 13, 11, 5, 0, 0, 0]
    >>> encoded["oov_words"].numpy()[0, :2].tolist()
    [b'anna', b'berg']
    >>> vocabulary.decode([6, 13, 2], encoded["oov_words"][0])
    'mayor berg'

    References:
        - [See et al., 2017. Get To The Point: Summarization with
          Pointer-Generator Networks](https://arxiv.org/abs/1704.04368),
          section 2.2 (extended vocabulary, equation 9).
    """

    def __init__(self, words, lowercase=True, split_punctuation=True):
        super().__init__(name="word_vocabulary")
        words = list(words)
        if not all(isinstance(word, str) and word for word in words):
            bad = next(
                word for word in words if not isinstance(word, str) or not word
            )
            raise ValueError(
                f"`words` must be non-empty strings. Received: an entry {bad!r}"
            )
        if tuple(words[: len(SPECIAL_TOKENS)]) != SPECIAL_TOKENS:
            raise ValueError(
                f"`words` must start with {list(SPECIAL_TOKENS)}. "
                f"Received: words[:4]={words[: len(SPECIAL_TOKENS)]}"
            )
        if len(set(words)) != len(words):
            counts = collections.Counter(words)
            duplicates = sorted(word for word, n in counts.items() if n > 1)
            raise ValueError(
                "`words` must not repeat a word. Received duplicates: "
                f"{duplicates[:10]}"
            )
        self._words = tuple(words)
        self._lowercase = bool(lowercase)
        self._split_punctuation = bool(split_punctuation)
        # The special tokens are keys too, mapped to "not a word", so that
        # their strings in a text are out-of-vocabulary words rather than
        # control ids (and the table is never empty).
        values = [_NOT_A_WORD] * len(SPECIAL_TOKENS) + list(
            range(len(SPECIAL_TOKENS), len(words))
        )
        self._table = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(
                tf.constant(words, dtype=tf.string),
                tf.constant(values, dtype=tf.int32),
            ),
            default_value=_NOT_A_WORD,
        )

    @classmethod
    def build(
        cls,
        texts,
        max_size=None,
        min_count=1,
        lowercase=True,
        split_punctuation=True,
    ):
        """Builds the vocabulary of the words of `texts`.

        Args:
            texts: an iterable of strings (or UTF-8 `bytes`).
            max_size: optional cap on the vocabulary size, the four special
                tokens included; the most frequent words are kept.
            min_count: words seen fewer times are left out.
            lowercase: as in the constructor; also applied while counting.
            split_punctuation: as in the constructor.

        Returns:
            A `WordVocabulary`: the special tokens, then the words by
            decreasing frequency, ties broken alphabetically (so the result
            does not depend on the order of `texts`).

        Example:

        >>> WordVocabulary.build(["a b b", "c b a"]).words
        ['<pad>', '<start>', '<end>', '<unk>', 'b', 'a', 'c']
        """
        if (
            isinstance(min_count, bool)
            or not isinstance(min_count, int)
            or min_count < 1
        ):
            raise ValueError(
                "`min_count` must be an integer >= 1. "
                f"Received: min_count={min_count!r}"
            )
        if max_size is not None and (
            isinstance(max_size, bool)
            or not isinstance(max_size, int)
            or max_size < len(SPECIAL_TOKENS)
        ):
            raise ValueError(
                "`max_size` must be None or an integer >= "
                f"{len(SPECIAL_TOKENS)} (the special tokens). "
                f"Received: max_size={max_size!r}"
            )
        if isinstance(texts, (str, bytes)):
            raise ValueError(
                "`texts` must be an iterable of strings, not one string. "
                f"Received: texts={texts[:40]!r}"
            )
        counts = collections.Counter()
        batch = []

        def count(batch):
            words = _split_words(
                tf.constant(batch, dtype=tf.string),
                lowercase,
                split_punctuation,
            )
            counts.update(words.flat_values.numpy().tolist())

        for text in texts:
            batch.append(text)
            if len(batch) == _BUILD_BATCH_SIZE:
                count(batch)
                batch = []
        if batch:
            count(batch)
        specials = {token.encode("utf-8") for token in SPECIAL_TOKENS}
        words = sorted(
            (
                word.decode("utf-8")
                for word, n in counts.items()
                if n >= min_count and word not in specials
            ),
            key=lambda word: (-counts[word.encode("utf-8")], word),
        )
        words = list(SPECIAL_TOKENS) + words
        if max_size is not None:
            words = words[:max_size]
        return cls(
            words, lowercase=lowercase, split_punctuation=split_punctuation
        )

    @property
    def size(self):
        """The number of words `V`, the special tokens included."""
        return len(self._words)

    @property
    def words(self):
        """The vocabulary as a list; index = id."""
        return list(self._words)

    @property
    def lowercase(self):
        return self._lowercase

    @property
    def split_punctuation(self):
        return self._split_punctuation

    def get_config(self):
        """A JSON-serializable dict that `from_config` rebuilds from."""
        return {
            "words": list(self._words),
            "lowercase": self._lowercase,
            "split_punctuation": self._split_punctuation,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def tokenize(self, texts):
        """Splits texts into normalized word tokens.

        Args:
            texts: a string, a list of strings or a `[batch]` string tensor.

        Returns:
            A `tf.string` `tf.RaggedTensor` `[batch, None]` (a `tf.Tensor`
            `[None]` for a scalar input).
        """
        strings, is_scalar = _as_string_batch(texts)
        tokens = _split_words(strings, self._lowercase, self._split_punctuation)
        return tokens[0] if is_scalar else tokens

    def _lookup(self, tokens):
        """Fixed ids of ragged tokens (OOV -> `<unk>`) and the OOV mask."""
        found = self._table.lookup(tokens.flat_values)
        is_oov = tf.equal(found, _NOT_A_WORD)
        ids = tf.where(is_oov, UNKNOWN_ID, found)
        return tokens.with_flat_values(ids), is_oov

    def encode_sources(self, texts, max_length):
        """Encodes source documents for the encoder and the copy mechanism.

        Documents longer than `max_length` tokens keep their first
        `max_length` tokens. Out-of-vocabulary (OOV) words are numbered
        per document after truncation: the k-th distinct one (k from 0, in
        order of first appearance) has the extended id `size + k`, every
        occurrence of it the same id.

        Args:
            texts: a `[batch]` string tensor (or a list of strings), or a
                string scalar (all outputs then lose their batch axis).
            max_length: the number of source positions, a Python integer.

        Returns:
            A dict of tensors:
            - `"source_ids"`: `int32` `[batch, max_length]`, fixed ids, OOV
              words as `<unk>` (3), padded with `<pad>` (0).
            - `"extended_ids"`: `int32` `[batch, max_length]`, the same
              with each OOV word's extended id.
            - `"oov_words"`: `tf.string` `[batch, max_length]`, entry k the
              k-th OOV word of the document; `""` after the last.
            - `"source_length"`: `int32` `[batch]`, tokens kept.
            - `"truncated"`: `bool` `[batch]`, whether the document had more
              than `max_length` tokens.
        """
        max_length = _check_max_length(max_length)
        strings, is_scalar = _as_string_batch(texts)
        tokens = _split_words(strings, self._lowercase, self._split_punctuation)
        truncated = tokens.row_lengths() > max_length
        tokens = tokens[:, :max_length]
        ids, is_oov = self._lookup(tokens)
        batch_size = tokens.nrows(out_type=tf.int32)
        oov_positions = tf.where(is_oov)[:, 0]
        oov_tokens = tf.gather(tokens.flat_values, oov_positions)
        oov_rows = tf.cast(
            tf.gather(tokens.value_rowids(), oov_positions), tf.int32
        )
        # Tokens never hold whitespace, so "row word" keys tell documents
        # apart. `tf.unique` numbers keys in order of first appearance in
        # the row-major flat tokens: each document's distinct OOV words get
        # consecutive numbers, which only need that row's offset removed.
        keys = tf.strings.join(
            [tf.strings.as_string(oov_rows), oov_tokens], separator=" "
        )
        _, key_index = tf.unique(keys, out_idx=tf.int32)
        num_distinct = tf.reduce_max(tf.concat([key_index, [-1]], 0)) + 1
        first = tf.math.unsorted_segment_min(
            tf.range(tf.size(keys)), key_index, num_distinct
        )
        distinct_rows = tf.gather(oov_rows, first)
        distinct_words = tf.gather(oov_tokens, first)
        per_row = tf.math.bincount(
            distinct_rows,
            minlength=batch_size,
            maxlength=batch_size,
            dtype=tf.int32,
        )
        offsets = tf.cumsum(per_row, exclusive=True)
        oov_index = key_index - tf.gather(offsets, oov_rows)
        extended = tf.tensor_scatter_nd_update(
            ids.flat_values, oov_positions[:, tf.newaxis], self.size + oov_index
        )
        oov_words = tf.RaggedTensor.from_value_rowids(
            distinct_words, distinct_rows, nrows=batch_size
        )
        shape = [None, max_length]
        outputs = {
            "source_ids": ids.to_tensor(PAD_ID, shape=shape),
            "extended_ids": ids.with_flat_values(extended).to_tensor(
                PAD_ID, shape=shape
            ),
            "oov_words": oov_words.to_tensor("", shape=shape),
            "source_length": tf.cast(tokens.row_lengths(), tf.int32),
            "truncated": truncated,
        }
        if is_scalar:
            return {key: value[0] for key, value in outputs.items()}
        return outputs

    def encode_targets(self, texts, oov_words, max_length):
        """Encodes reference summaries for teacher forcing.

        Summaries longer than `max_length` words keep their first
        `max_length` words (and the end token).

        Args:
            texts: a `[batch]` string tensor (or a list of strings), or a
                string scalar (all outputs then lose their batch axis).
            oov_words: the `"oov_words"` of `encode_sources` for the same
                documents: `tf.string` `[batch, num_oov]` (`[num_oov]` for a
                scalar `texts`), `""` entries being padding.
            max_length: the most summary words kept, a Python integer.

        Returns:
            A dict of tensors:
            - `"decoder_inputs"`: `int32` `[batch, max_length + 1]`:
              `<start>`, then the fixed ids of the words (an OOV word is
              `<unk>`: the decoder reads back only the fixed vocabulary),
              padded with 0.
            - `"targets"`: `int32` `[batch, max_length + 1]`: the words,
              then `<end>`, padded with 0. An OOV word found in the
              document's `oov_words` at index k is `size + k` (to be
              copied); an OOV word the document lacks is `<unk>`.
            - `"truncated"`: `bool` `[batch]`, whether the summary had more
              than `max_length` words.
        """
        max_length = _check_max_length(max_length)
        strings, is_scalar = _as_string_batch(texts)
        oov_words = tf.convert_to_tensor(oov_words, dtype=tf.string)
        if is_scalar:
            oov_words = oov_words[tf.newaxis]
        if oov_words.shape.rank != 2:
            raise ValueError(
                "`oov_words` must be a [batch, num_oov] string tensor "
                "([num_oov] for a single text). Received shape: "
                f"{oov_words.shape[int(is_scalar) :]}"
            )
        tokens = _split_words(strings, self._lowercase, self._split_punctuation)
        truncated = tokens.row_lengths() > max_length
        tokens = tokens[:, :max_length]
        ids, is_oov = self._lookup(tokens)
        lengths = tf.cast(tokens.row_lengths(), tf.int32)
        shape = [None, max_length]
        fixed = ids.to_tensor(PAD_ID, shape=shape)
        is_oov = tokens.with_flat_values(is_oov).to_tensor(False, shape=shape)
        words = tokens.to_tensor("", shape=shape)
        # Columns after the last OOV word of the batch are padding: cut
        # them, since documents hold far fewer OOV words than positions.
        used = tf.reduce_any(tf.not_equal(oov_words, ""), axis=0)
        num_used = tf.reduce_max(
            tf.concat([tf.cast(tf.where(used)[:, 0], tf.int32) + 1, [0]], 0)
        )
        # One padding column more keeps the argmax below off an empty axis.
        oov_words = tf.concat(
            [oov_words[:, :num_used], tf.fill([tf.shape(oov_words)[0], 1], "")],
            axis=1,
        )
        # [batch, max_length, num_used]: comparing every pair is cheap for
        # a short summary and needs no per-document table.
        matches = tf.logical_and(
            tf.equal(words[:, :, tf.newaxis], oov_words[:, tf.newaxis, :]),
            tf.not_equal(oov_words, "")[:, tf.newaxis, :],
        )
        copyable = tf.logical_and(is_oov, tf.reduce_any(matches, axis=-1))
        oov_index = tf.argmax(
            tf.cast(matches, tf.int32), axis=-1, output_type=tf.int32
        )
        extended = tf.where(copyable, self.size + oov_index, fixed)
        batch_size = tf.shape(fixed)[0]
        start = tf.fill([batch_size, 1], START_ID)
        decoder_inputs = tf.concat([start, fixed], axis=1)
        end = END_ID * tf.one_hot(lengths, max_length + 1, dtype=tf.int32)
        targets = tf.concat([extended, tf.zeros_like(start)], axis=1) + end
        outputs = {
            "decoder_inputs": decoder_inputs,
            "targets": targets,
            "truncated": truncated,
        }
        if is_scalar:
            return {key: value[0] for key, value in outputs.items()}
        return outputs

    def decode_tokens(self, ids, oov_words=None):
        """Turns fixed or extended ids back into tokens.

        Reads up to the first `<end>` or `<pad>`; `<start>` is skipped and
        `<unk>` kept as `"<unk>"`.

        Args:
            ids: integer ids `[batch, length]` or `[length]`: a tensor of
                any backend, a NumPy array or nested lists.
            oov_words: the documents' `"oov_words"` (`[batch, num_oov]`,
                `[num_oov]` for 1-D `ids`), `bytes` or `str`; `None` when
                `ids` hold only fixed ids.

        Returns:
            A tuple `(tokens, copied)`: per row a list of `str` tokens and
            a list of `bool`, `True` where the token is a copied OOV word
            (an id `>= size`). For 1-D `ids`, the two lists of that row.

        Raises:
            ValueError: for a negative id, or an extended id without its
                OOV word (beyond `oov_words` or a `""` entry).
        """
        ids = np.asarray(keras.ops.convert_to_numpy(ids))
        is_single = ids.ndim == 1
        if is_single:
            ids = ids[np.newaxis]
        if ids.ndim != 2:
            raise ValueError(
                "`ids` must have shape [batch, length] or [length]. "
                f"Received shape: {ids.shape}"
            )
        if oov_words is None:
            oov_rows = [[] for _ in range(len(ids))]
        else:
            if isinstance(oov_words, tf.Tensor):
                oov_words = oov_words.numpy()
            oov_rows = np.asarray(oov_words, dtype=object)
            if is_single:
                oov_rows = oov_rows[np.newaxis]
            if oov_rows.ndim != 2 or len(oov_rows) != len(ids):
                raise ValueError(
                    "`oov_words` must have shape [batch, num_oov] matching "
                    f"`ids` ([num_oov] for 1-D ids). Received shapes: "
                    f"ids {ids.shape[int(is_single) :]}, oov_words "
                    f"{np.shape(oov_words)}"
                )
        all_tokens, all_copied = [], []
        for row, (row_ids, row_oov) in enumerate(
            zip(ids.tolist(), oov_rows, strict=True)
        ):
            tokens, copied = [], []
            for token_id in row_ids:
                token_id = int(token_id)
                if token_id in (END_ID, PAD_ID):
                    break
                if token_id == START_ID:
                    continue
                if token_id < 0:
                    raise ValueError(
                        f"`ids` must be >= 0. Received: {token_id} in row {row}"
                    )
                if token_id < self.size:
                    tokens.append(self._words[token_id])
                    copied.append(False)
                    continue
                index = token_id - self.size
                word = _to_str(row_oov[index]) if index < len(row_oov) else ""
                if not word:
                    raise ValueError(
                        f"`ids` holds the extended id {token_id} (OOV word "
                        f"{index}) in row {row}, but that document has only "
                        f"{sum(bool(_to_str(w)) for w in row_oov)} OOV words."
                    )
                tokens.append(word)
                copied.append(True)
            all_tokens.append(tokens)
            all_copied.append(copied)
        if is_single:
            return all_tokens[0], all_copied[0]
        return all_tokens, all_copied

    def decode(self, ids, oov_words=None):
        """Turns fixed or extended ids back into text.

        Args:
            ids: integer ids `[batch, length]` or `[length]`.
            oov_words: as for `decode_tokens`.

        Returns:
            A list of strings, the tokens of each row joined by spaces (a
            `str` for 1-D `ids`). See `decode_tokens`.
        """
        ids = np.asarray(keras.ops.convert_to_numpy(ids))
        tokens, _ = self.decode_tokens(ids, oov_words)
        if ids.ndim == 1:
            return " ".join(tokens)
        return [" ".join(row) for row in tokens]
