"""A WordPiece tokenizer layer built on TensorFlow Text.

This layer is **TensorFlow-only**: it runs TensorFlow Text kernels and
returns `tf.Tensor`s whatever the Keras backend. With the JAX or PyTorch
backend, use it inside a `tf.data` pipeline (`dataset.map(tokenizer)`) or
convert its outputs with `.numpy()`; see `zoo.text.pipeline`.
"""

import os
import pathlib
import warnings

import keras
import numpy as np
import tensorflow as tf
import tensorflow_text as tf_text

# BasicTokenizer is the BERT pre-tokenizer that
# `bert_vocab_from_dataset` splits words with; tokenizing with the same
# class guarantees the learned vocabulary fits the words seen at run time.
from tensorflow_text.python.ops.bert_tokenizer import BasicTokenizer
from tensorflow_text.tools.wordpiece_vocab import bert_vocab_from_dataset

PAD_TOKEN = "[PAD]"
UNK_TOKEN = "[UNK]"
START_TOKEN = "[START]"
END_TOKEN = "[END]"
RESERVED_TOKENS = (PAD_TOKEN, UNK_TOKEN, START_TOKEN, END_TOKEN)
SUFFIX_INDICATOR = "##"
NORMALIZATION_FORMS = ("NFC", "NFKC", "NFD", "NFKD")

# Detokenization joins tokens with spaces, then undoes the spaces that BERT
# pre-tokenization put around punctuation. RE2 has no look-behind, so
# overlapping cases ("9 . 5 . 18") need the rule applied twice.
_DETOKENIZE_RULES = (
    # Digits around . : / - belong together: 3.5, 10:30, 09/05/2018. A comma
    # only before exactly three digits (1,000), since lists ("7, 10 and 16")
    # are more frequent than decimal commas in the Tatoeba data.
    (r"(\pN) ([.:/\-]) (\pN)", r"\1\2\3"),
    (r"(\pN) ([.:/\-]) (\pN)", r"\1\2\3"),
    (r"(\pN) , (\pN\pN\pN)(\D|$)", r"\1,\2\3"),
    (r"(\pN) , (\pN\pN\pN)(\D|$)", r"\1,\2\3"),
    # Abbreviations of single letters: p.m., u.s., u.s.s.r.
    (r"(^|\s)(\pL) \. (\pL) \.", r"\1\2.\3."),
    (r"(\pL\.\pL\.) (\pL) ?\.", r"\1\2."),
    (r"(\pL\.\pL\.) (\pL) ?\.", r"\1\2."),
    # Hyphenated words: well-known, 10-minute, port-a-potty; German suspended
    # hyphens keep their space: "Obst- und Gemüsehändler".
    (r"([\pL\pN]) - ([\pL\pN])", r"\1-\2"),
    (r"([\pL\pN]) - ([\pL\pN])", r"\1-\2"),
    (r"(\pL)-(und|oder|bzw)\b", r"\1- \2"),
    # English contractions (straight or curly apostrophe), plural
    # possessives and single-letter elisions: don't, it’s, teachers' room,
    # o'clock, l'eau.
    (r"(\pL) (['’]) (s|t|re|ve|ll|d|m)\b", r"\1\2\3"),
    (r"(\pL)s (['’]) (\pL)", r"\1s\2 \3"),
    (r"(^|\s)(\pL) (['’]) (\pL)", r"\1\2\3\4"),
    # Text inside quotes hugs the quotes: "x", „x“ (German), “x”.
    (r'"\s*([^"]*?)\s*"', r'"\1"'),
    (r"„\s*([^„“]*?)\s*“", r"„\1“"),
    (r"“\s*([^“”]*?)\s*”", r"“\1”"),
    # No space before closing punctuation, none after opening punctuation.
    (r"\s+([.,!?;:%)\]}»…])", r"\1"),
    (r"([¿¡(\[{«])\s+", r"\1"),
    (r"\$ (\pN)", r"$\1"),
)


def _read_vocabulary_file(path):
    path = pathlib.Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No vocabulary file: '{path}'")
    text = path.read_text(encoding="utf-8")
    return [token.removesuffix("\r") for token in text.split("\n") if token]


def _normalize_strings(strings, lowercase, normalization_form):
    if normalization_form is not None:
        strings = tf_text.normalize_utf8(strings, normalization_form)
    if lowercase:
        strings = tf.strings.lower(strings, encoding="utf-8")
    return strings


def _find_source_offsets(offsets_map, offsets, row_splits):
    """`tf_text.find_source_offsets` on flat byte offsets split into rows."""
    # The op rejects rows without offsets (an empty string): every row gets
    # a leading 0, dropped again afterwards.
    num_rows = len(row_splits) - 1
    lengths = np.diff(row_splits)
    padded = np.insert(offsets, row_splits[:-1], 0)
    mapped = tf_text.find_source_offsets(
        offsets_map,
        tf.RaggedTensor.from_row_lengths(
            tf.constant(padded, tf.int64), tf.constant(lengths + 1, tf.int64)
        ),
    ).flat_values.numpy()
    keep = np.ones(len(mapped), bool)
    keep[row_splits[:-1] + np.arange(num_rows)] = False
    return mapped[keep]


@keras.saving.register_keras_serializable(package="keras_attention_zoo")
class WordPieceTokenizer(keras.layers.Layer):
    """WordPiece tokenizer with BERT-style pre-tokenization.

    Text is normalized (Unicode `normalization_form`, then optionally
    lowercased; accents are kept), split into words and punctuation marks
    (each of `¿ ¡ ? ! , . '` and the like is a word of its own) by BERT's
    basic tokenizer, and each word into the longest WordPiece tokens of
    the vocabulary (`"estación"` -> `"estaci", "##ón"`). A word that cannot
    be built from the vocabulary becomes `[UNK]`.

    The first four vocabulary entries are reserved: `[PAD]`=0, `[UNK]`=1,
    `[START]`=2, `[END]`=3. Learn a vocabulary with `from_texts`.

    Calling the layer returns dense `int32` ids padded with 0, optionally
    framed by `[START]`/`[END]` and truncated or padded to
    `sequence_length`. Inputs longer than `sequence_length` are truncated
    (keeping `[START]`/`[END]`) and a `UserWarning` is issued once per layer.

    This layer is TensorFlow-only (TensorFlow Text kernels); with other
    backends use it in a `tf.data` pipeline. The vocabulary is part of
    `get_config()`, so a `.keras` file holding the layer restores it.

    Args:
        vocabulary: list of token strings, starting with `[PAD]`, `[UNK]`,
            `[START]`, `[END]`; suffix tokens start with `"##"`. Or the
            path of a UTF-8 file with one token per line, as written by
            `save_vocabulary`.
        lowercase: whether to lowercase text (Unicode aware, accents kept).
        normalization_form: Unicode normalization applied before
            lowercasing: `"NFKC"` (default), `"NFC"`, `"NFD"`, `"NFKD"` or
            `None`.
        sequence_length: default output length of `call`; `None` pads to
            the longest sequence of the batch.
        add_start: default for prepending `[START]` in `call`.
        add_end: default for appending `[END]` in `call`.
        **kwargs: base `keras.layers.Layer` arguments (`name`, ...).

    Example:

    >>> tokenizer = WordPieceTokenizer.from_texts(
    ...     ["¿Dónde está la estación?", "La estación está aquí."],
    ...     vocabulary_size=100,
    ... )
    >>> ids = tokenizer(["¿Dónde está?"], sequence_length=16, add_end=True)
    >>> tokenizer.detokenize(ids).numpy()[0].decode()
    '¿dónde está?'

    References:
        - [Schuster & Nakajima, 2012. Japanese and Korean voice search](
          https://research.google/pubs/pub37842/) (WordPiece).
        - [Devlin et al., 2019. BERT](https://arxiv.org/abs/1810.04805)
          (pre-tokenization and vocabulary learning).
    """

    def __init__(
        self,
        vocabulary,
        lowercase=True,
        normalization_form="NFKC",
        sequence_length=None,
        add_start=False,
        add_end=False,
        **kwargs,
    ):
        if kwargs.get("dtype") is None:
            kwargs["dtype"] = "int32"
        super().__init__(**kwargs)
        # Strings must reach `call` untouched: no conversion to the
        # backend's float tensors, and Python lists are accepted.
        self._convert_input_args = False
        self._allow_non_tensor_positional_args = True
        if isinstance(vocabulary, (str, os.PathLike)):
            vocabulary = _read_vocabulary_file(vocabulary)
        vocabulary = [str(token) for token in vocabulary]
        if tuple(vocabulary[: len(RESERVED_TOKENS)]) != RESERVED_TOKENS:
            raise ValueError(
                "`vocabulary` must start with the reserved tokens "
                f"{list(RESERVED_TOKENS)}. Received: "
                f"{vocabulary[: len(RESERVED_TOKENS)]}"
            )
        if len(set(vocabulary)) != len(vocabulary):
            duplicates = sorted(
                {token for token in vocabulary if vocabulary.count(token) > 1}
            )
            raise ValueError(
                "`vocabulary` must not repeat tokens. Received duplicates: "
                f"{duplicates[:10]}"
            )
        if normalization_form not in (None, *NORMALIZATION_FORMS):
            raise ValueError(
                "`normalization_form` must be one of "
                f"{[*NORMALIZATION_FORMS, None]}. "
                f"Received: normalization_form={normalization_form!r}"
            )
        if sequence_length is not None and (
            not isinstance(sequence_length, int) or sequence_length < 1
        ):
            raise ValueError(
                "`sequence_length` must be None or an integer >= 1. "
                f"Received: sequence_length={sequence_length!r}"
            )
        self._vocabulary = vocabulary
        self._token_ids = {token: i for i, token in enumerate(vocabulary)}
        self.lowercase = bool(lowercase)
        self.normalization_form = normalization_form
        self.sequence_length = sequence_length
        self.add_start = bool(add_start)
        self.add_end = bool(add_end)
        self._truncation_warned = False
        self._word_splitter = BasicTokenizer(lower_case=False)
        self._wordpiece = tf_text.FastWordpieceTokenizer(
            vocab=vocabulary,
            suffix_indicator=SUFFIX_INDICATOR,
            unknown_token=UNK_TOKEN,
            no_pretokenization=True,
            support_detokenization=False,
            token_out_type=tf.int32,
        )
        self._vocabulary_tensor = tf.constant(vocabulary, dtype=tf.string)
        self.built = True

    @classmethod
    def from_texts(
        cls,
        texts,
        vocabulary_size=8000,
        lowercase=True,
        normalization_form="NFKC",
        learn_params=None,
        **kwargs,
    ):
        """Learns a WordPiece vocabulary from texts and builds a tokenizer.

        Uses `tensorflow_text.tools.wordpiece_vocab.bert_vocab_from_dataset`
        on the normalized texts. Every character of the training words gets
        a token, so text made of seen characters never maps to `[UNK]`.
        The learner is pure Python: for the 115,000 Spanish (or English)
        sentences of the Anki data it takes 1.5 to 4 minutes on one CPU
        core, so save the result (`save_vocabulary`, or the `.keras` file
        of a model holding the layer) rather than learn it again.

        With the learner's default `lower_thresh=10`, tokens seen fewer
        than 10 times are never added, which caps the vocabulary of a
        small corpus (about 4,500 tokens for the Anki English side). A
        smaller threshold, e.g. `learn_params={"lower_thresh": 2}`, admits
        rarer tokens; the learner may then overshoot slightly (8,239 tokens
        for a `vocabulary_size` of 8,000 on the Anki Spanish side).

        Args:
            texts: an iterable of strings, or a `tf.data.Dataset` of string
                scalars or batches.
            vocabulary_size: the maximum vocabulary size, reserved tokens
                included. The learner aims for 95-100% of it; an alphabet
                larger than the budget can exceed it.
            lowercase: see the class arguments.
            normalization_form: see the class arguments.
            learn_params: extra keyword arguments of
                `wordpiece_tokenizer_learner_lib.learn`, e.g.
                `{"num_iterations": 4, "max_token_length": 50}`.
            **kwargs: other arguments of the class (`sequence_length`, ...).

        Returns:
            A `WordPieceTokenizer`.

        Example:

        >>> tokenizer = WordPieceTokenizer.from_texts(
        ...     ["a cat sat", "a cat ran"], vocabulary_size=60
        ... )
        >>> tokenizer.get_vocabulary()[:6]
        ['[PAD]', '[UNK]', '[START]', '[END]', 'a', 'c']
        """
        if not isinstance(vocabulary_size, int) or vocabulary_size <= len(
            RESERVED_TOKENS
        ):
            raise ValueError(
                "`vocabulary_size` must be an integer > "
                f"{len(RESERVED_TOKENS)}. "
                f"Received: vocabulary_size={vocabulary_size!r}"
            )
        if isinstance(texts, tf.data.Dataset):
            dataset = texts
        else:
            texts = list(texts)
            if not all(isinstance(text, str) for text in texts):
                raise ValueError(
                    "`texts` must hold strings. Received an element of type "
                    f"{type(next(t for t in texts if not isinstance(t, str)))}"
                )
            if not any(text.strip() for text in texts):
                raise ValueError(
                    "`texts` must contain at least one non-blank string. "
                    f"Received {len(texts)} blank or no strings."
                )
            dataset = tf.data.Dataset.from_tensor_slices(
                tf.constant(texts, dtype=tf.string)
            ).batch(1024)
        dataset = dataset.map(
            lambda strings: _normalize_strings(
                strings, lowercase, normalization_form
            ),
            num_parallel_calls=tf.data.AUTOTUNE,
        )
        try:
            vocabulary = bert_vocab_from_dataset.bert_vocab_from_dataset(
                dataset,
                vocab_size=vocabulary_size,
                reserved_tokens=list(RESERVED_TOKENS),
                bert_tokenizer_params={"lower_case": False},
                learn_params=learn_params,
            )
        except StopIteration:
            raise ValueError("`texts` contain no words.") from None
        return cls(
            vocabulary,
            lowercase=lowercase,
            normalization_form=normalization_form,
            **kwargs,
        )

    @property
    def vocabulary_size(self):
        """Number of tokens, reserved ones included."""
        return len(self._vocabulary)

    @property
    def pad_id(self):
        """Id of `[PAD]` (0)."""
        return self._token_ids[PAD_TOKEN]

    @property
    def unk_id(self):
        """Id of `[UNK]` (1)."""
        return self._token_ids[UNK_TOKEN]

    @property
    def start_id(self):
        """Id of `[START]` (2)."""
        return self._token_ids[START_TOKEN]

    @property
    def end_id(self):
        """Id of `[END]` (3)."""
        return self._token_ids[END_TOKEN]

    def get_vocabulary(self):
        """Returns the vocabulary as a list of strings, indexed by id."""
        return list(self._vocabulary)

    def save_vocabulary(self, path):
        """Writes the vocabulary to a UTF-8 file, one token per line.

        Learning a vocabulary on a large corpus takes minutes; saving it
        lets `WordPieceTokenizer(path)` rebuild the tokenizer at once.

        Args:
            path: the file to write.
        """
        text = "\n".join(self._vocabulary) + "\n"
        pathlib.Path(path).write_text(text, encoding="utf-8")

    def id_to_token(self, token_id):
        """Returns the token string of an integer id."""
        token_id = int(token_id)
        if not 0 <= token_id < self.vocabulary_size:
            raise ValueError(
                f"`token_id` must be in [0, {self.vocabulary_size}). "
                f"Received: token_id={token_id}"
            )
        return self._vocabulary[token_id]

    def token_to_id(self, token):
        """Returns the id of a token string (suffix tokens start with ##)."""
        if token not in self._token_ids:
            raise ValueError(
                f"`token` is not in the vocabulary. Received: token={token!r}"
            )
        return self._token_ids[token]

    def normalize(self, strings):
        """Applies the Unicode normalization and lowercasing of the layer.

        Args:
            strings: a string, a list of strings or a string tensor.

        Returns:
            A `tf.string` tensor of the same shape.
        """
        strings = tf.convert_to_tensor(strings, dtype=tf.string)
        return _normalize_strings(
            strings, self.lowercase, self.normalization_form
        )

    def _as_string_batch(self, inputs):
        """Returns (rank-1 string tensor, whether the input was a scalar)."""
        if isinstance(inputs, (np.ndarray, list, tuple)):
            inputs = np.asarray(inputs, dtype=object)
        inputs = tf.convert_to_tensor(inputs, dtype=tf.string)
        rank = inputs.shape.rank
        if rank == 0:
            return inputs[tf.newaxis], True
        if rank == 2 and inputs.shape[-1] == 1:
            return tf.squeeze(inputs, axis=-1), False
        if rank != 1:
            raise ValueError(
                "Inputs must be a string scalar, a [batch] or a [batch, 1] "
                f"string tensor. Received shape: {inputs.shape}"
            )
        return inputs, False

    def tokenize(self, inputs):
        """Splits text into WordPiece ids, without special tokens.

        Args:
            inputs: a string, a list of strings or a `[batch]` (or
                `[batch, 1]`) string tensor.

        Returns:
            An `int32` `tf.RaggedTensor` `[batch, None]` of ids, or a
            `tf.Tensor` `[None]` for a scalar input.
        """
        strings, is_scalar = self._as_string_batch(inputs)
        words = self._word_splitter.tokenize(self.normalize(strings))
        token_ids = self._wordpiece.tokenize(words).merge_dims(-2, -1)
        return token_ids[0] if is_scalar else token_ids

    def tokenize_with_offsets(self, inputs):
        """Splits text into WordPiece ids and the character span of each.

        The ids are exactly those of `tokenize`. Each token's span is given
        in characters (Unicode code points) of the *input* string, before
        normalization and lowercasing, so that `text[start:end]` in Python
        is the text the token came from: `"9th"` -> `"9", "##th"` with
        spans `(0, 1)` and `(1, 3)`. The offsets of TensorFlow Text's
        pre-tokenizer and WordPiece are mapped back through the lowercasing
        and through `tensorflow_text.normalize_utf8_with_offsets_map`, so
        Unicode normalization that changes lengths (NFKC turns `"ﬁ"` into
        `"fi"`) still gives spans of the input; a token made from part of
        such a character spans the whole character. For ASCII text the
        offsets are those of the normalized text.

        Runs eagerly (the mapping is Python code), e.g. for evaluation.

        Args:
            inputs: a string, a list of strings or a `[batch]` (or
                `[batch, 1]`) string tensor.

        Returns:
            A tuple `(token_ids, starts, ends)` of Python lists, one list
            per input string (or the lists of the one string for a scalar
            input): the `int` ids and the `int` start and end (exclusive)
            character offsets of every token.

        Example:

        >>> tokenizer = WordPieceTokenizer(
        ...     ["[PAD]", "[UNK]", "[START]", "[END]", "may", "9", "##th"]
        ... )
        >>> tokenizer.tokenize_with_offsets("9th MAY")
        ([5, 6, 4], [0, 1, 4], [1, 3, 7])
        """
        strings, is_scalar = self._as_string_batch(inputs)
        if self.normalization_form is not None:
            normalized, offsets_map = tf_text.normalize_utf8_with_offsets_map(
                strings, self.normalization_form
            )
        else:
            normalized, offsets_map = strings, None
        lowered = normalized
        if self.lowercase:
            lowered = tf.strings.lower(normalized, encoding="utf-8")
        words, word_starts, _ = self._word_splitter.tokenize_with_offsets(
            lowered
        )
        ids, piece_starts, piece_ends = self._wordpiece.tokenize_with_offsets(
            words
        )
        # NumPy from here: RaggedTensor.to_list() is slow on nested rows.
        word_splits = ids.row_splits.numpy()
        piece_splits = ids.values.row_splits.numpy()
        word_of_piece = np.repeat(
            np.arange(len(piece_splits) - 1), np.diff(piece_splits)
        )
        flat_word_starts = word_starts.flat_values.numpy()[word_of_piece]
        # Byte offsets in the text the pre-tokenizer split: the lowered
        # text with control characters turned into spaces.
        split_starts = flat_word_starts + piece_starts.flat_values.numpy()
        split_ends = flat_word_starts + piece_ends.flat_values.numpy()
        token_splits = piece_splits[word_splits]
        # Each character of the normalized text becomes, lowered and with
        # control characters replaced, a known number of bytes of the split
        # text; cumulative sums map offsets back to the normalized text.
        characters = tf.strings.unicode_split(normalized, "UTF-8")
        transformed = characters.flat_values
        if self.lowercase:
            transformed = tf.strings.lower(transformed, encoding="utf-8")
        transformed = tf.strings.regex_replace(
            transformed, r"\p{Cc}|\p{Cf}", " "
        )
        normalized_starts, normalized_ends = _split_to_normalized_offsets(
            split_starts,
            split_ends,
            token_splits,
            characters.row_splits.numpy(),
            tf.strings.length(characters.flat_values).numpy(),
            tf.strings.length(transformed).numpy(),
        )
        if offsets_map is not None:
            normalized_starts = _find_source_offsets(
                offsets_map, normalized_starts, token_splits
            )
            normalized_ends = _find_source_offsets(
                offsets_map, normalized_ends, token_splits
            )
        token_ids, starts, ends = _character_spans(
            strings.numpy().tolist(),
            ids.flat_values.numpy(),
            token_splits,
            normalized_starts,
            normalized_ends,
        )
        if is_scalar:
            return token_ids[0], starts[0], ends[0]
        return token_ids, starts, ends

    def _warn_truncation_once(self, longest, budget):
        if not self._truncation_warned:
            self._truncation_warned = True
            warnings.warn(
                f"{self.name}: an input of {int(longest)} tokens was "
                f"truncated to {int(budget)} tokens (sequence_length minus "
                "the [START]/[END] tokens). Later truncations are not "
                "reported.",
                UserWarning,
                stacklevel=2,
            )
        return True

    def _check_truncation(self, row_lengths, budget):
        """Warns once when a row is longer than `budget`.

        In eager mode this is a Python check. In a graph (a `tf.data` map,
        a `tf.function`) a `py_function` warns, and it runs only when a
        row is actually too long.
        """
        longest = tf.reduce_max(tf.concat([row_lengths, [0]], axis=0))
        if tf.executing_eagerly():
            if int(longest) > budget:
                self._warn_truncation_once(longest, budget)
            return tf.constant(True)
        if self._truncation_warned:
            return tf.constant(True)
        return tf.cond(
            longest > budget,
            lambda: tf.py_function(
                self._warn_truncation_once, [longest, budget], Tout=tf.bool
            ),
            lambda: tf.constant(True),
        )

    def call(
        self,
        inputs,
        sequence_length=None,
        add_start=None,
        add_end=None,
        warn_on_truncation=True,
    ):
        """Tokenizes text into dense padded ids.

        Args:
            inputs: a string, a list of strings or a `[batch]` (or
                `[batch, 1]`) string tensor.
            sequence_length: overrides the layer's `sequence_length`.
            add_start: overrides the layer's `add_start`.
            add_end: overrides the layer's `add_end`.
            warn_on_truncation: whether an over-long input warns (once per
                layer). Inside a `tf.function` the warning is a Python
                callback (`tf.py_function`) that a SavedModel cannot carry:
                pass `False` in functions meant for export. Truncation
                happens either way.

        Returns:
            An `int32` `tf.Tensor` `[batch, length]` padded with 0 (`[length]`
            for a scalar input).
        """
        strings, is_scalar = self._as_string_batch(inputs)
        sequence_length = (
            self.sequence_length if sequence_length is None else sequence_length
        )
        add_start = self.add_start if add_start is None else bool(add_start)
        add_end = self.add_end if add_end is None else bool(add_end)
        token_ids = self.tokenize(strings)
        if sequence_length is not None:
            budget = sequence_length - int(add_start) - int(add_end)
            if budget < 0:
                raise ValueError(
                    "`sequence_length` must leave room for [START]/[END]. "
                    f"Received: sequence_length={sequence_length}, "
                    f"add_start={add_start}, add_end={add_end}"
                )
            if warn_on_truncation:
                checked = self._check_truncation(
                    token_ids.row_lengths(), budget
                )
                with tf.control_dependencies([checked]):
                    token_ids = token_ids.with_flat_values(
                        tf.identity(token_ids.flat_values)
                    )
            token_ids = token_ids[:, :budget]
        num_rows = token_ids.nrows(out_type=tf.int32)
        pieces = []
        if add_start:
            pieces.append(tf.fill([num_rows, 1], self.start_id))
        pieces.append(token_ids)
        if add_end:
            pieces.append(tf.fill([num_rows, 1], self.end_id))
        if len(pieces) > 1:
            token_ids = tf.concat(
                [
                    piece
                    if isinstance(piece, tf.RaggedTensor)
                    else tf.RaggedTensor.from_tensor(piece)
                    for piece in pieces
                ],
                axis=1,
            )
        dense = token_ids.to_tensor(
            default_value=self.pad_id, shape=[None, sequence_length]
        )
        return dense[0] if is_scalar else dense

    def detokenize(self, token_ids):
        """Turns ids back into text.

        `[PAD]` and `[START]` are dropped, and so is everything from the
        first `[END]` on (a decoder's output after it is meaningless);
        `[UNK]` stays visible. WordPiece suffixes are glued to their word
        and the spaces around punctuation are undone (`"¿ dónde ?"` ->
        `"¿dónde?"`, `"don ' t"` -> `"don't"`, `"3 . 5"` -> `"3.5"`).
        Spacing the input had around punctuation is not remembered, so the
        result is the normalized text with standard spacing.

        Args:
            token_ids: integer ids `[batch, length]` or `[length]`: a
                tensor of any backend, a NumPy array, a nested list, or a
                `tf.RaggedTensor`.

        Returns:
            A `tf.string` tensor `[batch]` (a scalar for `[length]` input).
        """
        if not isinstance(token_ids, (tf.Tensor, tf.RaggedTensor)):
            token_ids = keras.ops.convert_to_numpy(token_ids)
        if isinstance(token_ids, tf.RaggedTensor):
            token_ids = token_ids.to_tensor(default_value=self.pad_id)
        token_ids = tf.cast(token_ids, tf.int32)
        is_scalar = token_ids.shape.rank == 1
        if is_scalar:
            token_ids = token_ids[tf.newaxis]
        if token_ids.shape.rank != 2:
            raise ValueError(
                "`token_ids` must have shape [batch, length] or [length]. "
                f"Received shape: {token_ids.shape}"
            )
        after_end = (
            tf.cumsum(tf.cast(token_ids == self.end_id, tf.int32), axis=1) > 0
        )
        keep = (
            ~after_end
            & (token_ids != self.pad_id)
            & (token_ids != self.start_id)
        )
        tokens = tf.gather(
            self._vocabulary_tensor, tf.ragged.boolean_mask(token_ids, keep)
        )
        text = tf.strings.reduce_join(tokens, axis=-1, separator=" ")
        text = tf.strings.regex_replace(text, " ##", "")
        text = tf.strings.regex_replace(text, "^##", "")
        for pattern, rewrite in _DETOKENIZE_RULES:
            text = tf.strings.regex_replace(text, pattern, rewrite)
        return text[0] if is_scalar else text

    def detokenize_with_offsets(self, token_ids):
        """Turns ids back into text, with the character span of each token.

        The text is exactly that of `detokenize`, which only glues suffix
        tokens to their word and removes or adds spaces around
        punctuation; so every token that reaches the text appears there,
        in order, and its span is found by reading the text from left to
        right. Tokens that do not reach the text (`[PAD]`, `[START]`,
        `[END]` and everything after the first `[END]`) have the span
        `None`. Use it to locate the tokens a decoder emitted in its own
        output: `"2018-05-09"` from `"2018", "-", "05", "-", "09", "[END]"`
        gives the spans `(0, 4), (4, 5), (5, 7), (7, 8), (8, 10), None`.

        Args:
            token_ids: integer ids `[batch, length]` or `[length]`, as for
                `detokenize`.

        Returns:
            A tuple `(texts, spans)`: a list of `str` and, for each, a list
            with one `(start, end)` character span or `None` per input
            position (a `str` and one such list for `[length]` input).

        Example:

        >>> tokenizer = WordPieceTokenizer(
        ...     ["[PAD]", "[UNK]", "[START]", "[END]", "2018", "-", "0", "##5"]
        ... )
        >>> tokenizer.detokenize_with_offsets([4, 5, 6, 7, 3, 0])
        ('2018-05', [(0, 4), (4, 5), (5, 6), (6, 7), None, None])
        """
        if not isinstance(token_ids, (tf.Tensor, tf.RaggedTensor)):
            token_ids = keras.ops.convert_to_numpy(token_ids)
        if isinstance(token_ids, tf.RaggedTensor):
            token_ids = token_ids.to_tensor(default_value=self.pad_id)
        token_ids = np.asarray(token_ids)
        is_scalar = token_ids.ndim == 1
        if is_scalar:
            token_ids = token_ids[np.newaxis]
        if token_ids.ndim != 2:
            raise ValueError(
                "`token_ids` must have shape [batch, length] or [length]. "
                f"Received shape: {token_ids.shape}"
            )
        texts = [
            text.decode("utf-8")
            for text in self.detokenize(token_ids).numpy().tolist()
        ]
        all_spans = []
        for text, row in zip(texts, token_ids.tolist(), strict=True):
            spans = []
            position = 0
            ended = False
            for token_id in row:
                ended = ended or token_id == self.end_id
                if ended or token_id in (self.pad_id, self.start_id):
                    spans.append(None)
                    continue
                piece = self.id_to_token(token_id)
                if piece.startswith(SUFFIX_INDICATOR):
                    piece = piece[len(SUFFIX_INDICATOR) :]
                while position < len(text) and text[position].isspace():
                    position += 1
                if not piece or not text.startswith(piece, position):
                    # Cannot happen with `detokenize`'s rules, which only
                    # change spaces; kept safe for empty pieces.
                    spans.append(None)
                    continue
                spans.append((position, position + len(piece)))
                position += len(piece)
            all_spans.append(spans)
        if is_scalar:
            return texts[0], all_spans[0]
        return texts, all_spans

    def compute_output_spec(
        self,
        inputs,
        sequence_length=None,
        add_start=None,
        add_end=None,
        warn_on_truncation=True,
    ):
        sequence_length = (
            self.sequence_length if sequence_length is None else sequence_length
        )
        if len(inputs.shape) == 0:
            return keras.KerasTensor((sequence_length,), dtype="int32")
        return keras.KerasTensor(
            (inputs.shape[0], sequence_length), dtype="int32"
        )

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "vocabulary": self.get_vocabulary(),
                "lowercase": self.lowercase,
                "normalization_form": self.normalization_form,
                "sequence_length": self.sequence_length,
                "add_start": self.add_start,
                "add_end": self.add_end,
            }
        )
        return config


def _split_to_normalized_offsets(
    split_starts,
    split_ends,
    token_splits,
    character_splits,
    character_bytes,
    transformed_bytes,
):
    """Maps byte offsets of the split text to the normalized text.

    Each character of the normalized text became, lowered and with control
    characters replaced, `transformed_bytes` bytes of the split text;
    cumulative sums per row map token offsets back.
    """
    normalized_starts = np.zeros_like(split_starts)
    normalized_ends = np.zeros_like(split_ends)
    for row in range(len(token_splits) - 1):
        tokens = slice(token_splits[row], token_splits[row + 1])
        row_characters = slice(character_splits[row], character_splits[row + 1])
        split_positions = np.cumsum([0, *transformed_bytes[row_characters]])
        normalized_positions = np.cumsum([0, *character_bytes[row_characters]])
        first = np.searchsorted(
            split_positions, split_starts[tokens], side="right"
        )
        last = np.searchsorted(split_positions, split_ends[tokens], side="left")
        num_characters = len(normalized_positions) - 1
        normalized_starts[tokens] = normalized_positions[
            np.clip(first - 1, 0, num_characters)
        ]
        normalized_ends[tokens] = normalized_positions[
            np.minimum(last, num_characters)
        ]
    return normalized_starts, normalized_ends


def _character_spans(texts, flat_ids, token_splits, byte_starts, byte_ends):
    """Per row: the ids and the character spans from byte offsets."""
    token_ids, starts, ends = [], [], []
    for row, text in enumerate(texts):
        tokens = slice(token_splits[row], token_splits[row + 1])
        is_lead = (np.frombuffer(text, np.uint8) & 0xC0) != 0x80
        character_of_byte = np.concatenate([[0], np.cumsum(is_lead)])
        row_starts = character_of_byte[byte_starts[tokens]]
        row_ends = character_of_byte[byte_ends[tokens]]
        # A token from part of a character the normalization expanded
        # ("f" of "ﬁ") maps to an empty span at the character's end: it
        # spans the whole character instead.
        inside = (row_starts >= row_ends) & (row_ends > 0)
        row_starts = np.where(inside, row_ends - 1, row_starts)
        token_ids.append(flat_ids[tokens].tolist())
        starts.append(row_starts.tolist())
        ends.append(row_ends.tolist())
    return token_ids, starts, ends
