"""Translating batches of text with a model's compiled decoder.

The decoding loop is compiled once per model, beam width and source width
(`zoo.compiled`); the tokenizers run as TensorFlow graphs."""

import weakref

import numpy as np
from keras import ops

from zoo.compiled import compiled


def _decoder(model, beam_width, num_rows):
    """The model's decoding loop as one compiled program (`zoo.compiled`)."""
    start_id = model.target_tokenizer.start_id
    end_id = model.target_tokenizer.end_id

    def decode(source_ids):
        return model.translate_ids(
            source_ids, start_id, end_id, beam_width=beam_width
        )

    return compiled(model, ("translate", beam_width), decode, num_rows)


# The tokenizer and detokenizer of each model as TensorFlow graphs.
_TEXT_FUNCTIONS = weakref.WeakKeyDictionary()


def _text_functions(model):
    """`(tokenize, detokenize)`: the model's tokenizers as `tf.function`s.

    Run op by op, tokenizing and detokenizing a batch of 64 took about a
    fifth of `translate_pairs`' time on the spa-eng test split (about 40
    ms of 210 per batch); as graphs they take about 5 ms.
    """
    if model not in _TEXT_FUNCTIONS:
        import tensorflow as tf

        source_tokenizer = model.source_tokenizer

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
        def tokenize(texts):
            return source_tokenizer(texts, add_start=False, add_end=False)

        detokenize = tf.function(
            model.target_tokenizer.detokenize,
            input_signature=[tf.TensorSpec([None, None], tf.int32)],
        )
        _TEXT_FUNCTIONS[model] = (tokenize, detokenize)
    return _TEXT_FUNCTIONS[model]


# Source widths are cut to a multiple of this: one compiled decoder per
# width (5 for 40 tokens), little padding left.
SOURCE_WIDTH_MULTIPLE = 8


def source_width(source_ids):
    """Columns of a padded batch that `translate_pairs` keeps.

    The batch's longest source, rounded up to `SOURCE_WIDTH_MULTIPLE`
    (and at most the batch's width): the columns after it are padding in
    every row.
    """
    longest = int(np.max(np.sum(source_ids != 0, axis=1), initial=1))
    multiple = SOURCE_WIDTH_MULTIPLE
    return min(source_ids.shape[1], -(-longest // multiple) * multiple)


def compile_decoder(model, pairs, batch_size=64, beam_width=1):
    """Compiles `translate_pairs`' decoder for the batches of `pairs`.

    Call it before timing `translate_pairs` with the same settings: a
    source width seen for the first time compiles (seconds). Only the
    widths of `pairs`' batches are compiled, on padding.
    """
    decode = _decoder(model, beam_width, len(pairs))
    widths = {
        width for _, _, width in _source_batches(model, pairs, batch_size)
    }
    for width in sorted(widths):
        # Padding only: the shapes are what compiles.
        decode(np.zeros((batch_size, width), "int32"))


def _source_batches(model, pairs, batch_size):
    """`(count, source_ids, width)` of each batch `translate_pairs` decodes.

    A batch is padded to `batch_size` with empty sentences; `count` of its
    rows are sentences of `pairs`; `width` is its `source_width`.
    """
    tokenize, _ = _text_functions(model)
    for start in range(0, len(pairs), batch_size):
        sources = [source for source, _ in pairs[start : start + batch_size]]
        count = len(sources)
        sources += [""] * (batch_size - count)
        source_ids = tokenize(sources).numpy()
        yield count, source_ids, source_width(source_ids)


def translate_pairs(model, pairs, batch_size=64, beam_width=1):
    """Translates the sources of `pairs` with a model's tokenizers.

    Batches are padded to `batch_size` (with empty sentences) and their
    source ids cut to `source_width`, so that the compiled decoder sees a
    few shapes (`compile_decoder` compiles them all) and the encoder and
    the attention skip the padding every sentence of the batch has.

    Args:
        model: A zoo `Seq2Seq` model carrying its tokenizers.
        pairs: `(source, reference)` tuples; the references are ignored.
        batch_size: Sentences decoded at once.
        beam_width: 1 for greedy decoding, more for beam search.

    Returns:
        The hypotheses (strings), the attention of each (NumPy
        `[T_out, T_src]`, or `[heads, T_out, T_src]`) and the
        `(source_ids, output_ids)` of each.
    """
    hypotheses, attention, token_ids = [], [], []
    _, detokenize = _text_functions(model)
    decode = _decoder(model, beam_width, len(pairs))
    batches = _source_batches(model, pairs, batch_size)
    for count, source_ids, width in batches:
        results = decode(source_ids[:, :width])
        sequences = ops.convert_to_numpy(results["sequences"])[:count]
        texts = detokenize(sequences).numpy()
        hypotheses.extend(text.decode("utf-8") for text in texts)
        weights = ops.convert_to_numpy(results["attention"])[:count]
        # Back to the tokenizer's width: the cut columns are padding, which
        # gets no attention.
        cut = source_ids.shape[1] - width
        attention.extend(
            np.pad(weights, [(0, 0)] * (weights.ndim - 1) + [(0, cut)])
        )
        token_ids.extend(zip(source_ids[:count], sequences, strict=True))
    return hypotheses, attention, token_ids
