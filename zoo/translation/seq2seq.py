"""The interface shared by the zoo's translation models."""

import keras
from keras import ops

from zoo.best_hypothesis import best_hypothesis
from zoo.inputs import checked_text


class Seq2Seq(keras.Model):
    """Base class of the zoo's encoder-decoder translation models.

    A subclass implements `encode(source_ids)` (returning the decoding state)
    and `decode_step(token_ids, state)`, plus `call((source_ids,
    target_input_ids))` for teacher forcing. This class turns them into
    greedy and beam-search translation of token ids and, when the model
    carries its tokenizers, of raw strings.

    Args:
        source_tokenizer: Optional tokenizer layer of the source language,
            saved with the model so a loaded model translates raw strings.
        target_tokenizer: Optional tokenizer layer of the target language.
        max_decode_length: Longest translation `translate` produces.
        **kwargs: Base model arguments such as `name`.
    """

    def __init__(
        self,
        source_tokenizer=None,
        target_tokenizer=None,
        max_decode_length=64,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.source_tokenizer = source_tokenizer
        self.target_tokenizer = target_tokenizer
        self.max_decode_length = max_decode_length

    def translate_ids(
        self,
        source_ids,
        start_id,
        end_id,
        max_length=None,
        beam_width=1,
        length_penalty=0.0,
    ):
        """Decodes token ids greedily (`beam_width=1`) or with beam search.

        A source without any token (all padding: an empty or blank
        sentence) gets an empty translation: no token, length 0, zero
        scores and attention. A model would otherwise invent a confident
        sentence from nothing.

        Returns:
            The dict of `keras_attention.decoding` with `"sequences"`
            `[batch, max_length]`, `"lengths"` and `"attention"` of the best
            hypothesis.
        """
        max_length = max_length or self.max_decode_length
        source_ids = ops.convert_to_tensor(source_ids, "int32")
        state = self.encode(source_ids, max_length=max_length)
        batch_size = ops.shape(source_ids)[0]
        start_ids = ops.full((batch_size,), start_id, "int32")
        results = best_hypothesis(
            self.decode_step,
            state,
            start_ids,
            end_id,
            max_length,
            beam_width=beam_width,
            length_penalty=length_penalty,
        )
        return _blank_empty_sources(results, source_ids)

    def translate(self, texts, beam_width=1, max_length=None):
        """Translates raw strings with the tokenizers saved in the model.

        An empty or whitespace-only text translates to `""`.

        Args:
            texts: Strings (`str`, or `bytes` holding UTF-8).
            beam_width: 1 for greedy decoding, more for beam search.
            max_length: Longest translation in tokens; default: the
                model's `max_decode_length`.

        Returns:
            A list of Python strings.

        Raises:
            ValueError: For a text that is neither `str` nor UTF-8
                `bytes` (the text policy of `zoo.inputs`).
        """
        if self.source_tokenizer is None or self.target_tokenizer is None:
            raise ValueError(
                "`translate` needs the model's tokenizers; this model was "
                "built without them. Use `translate_ids` instead."
            )
        texts = [
            checked_text(text, f"texts[{index}]")
            for index, text in enumerate(texts)
        ]
        if not texts:
            return []
        source_ids = self.source_tokenizer(
            texts, add_start=False, add_end=False
        )
        results = self.translate_ids(
            ops.convert_to_numpy(source_ids),
            self.target_tokenizer.start_id,
            self.target_tokenizer.end_id,
            max_length=max_length,
            beam_width=beam_width,
        )
        strings = self.target_tokenizer.detokenize(
            ops.convert_to_numpy(results["sequences"])
        )
        return [text.decode("utf-8") for text in strings.numpy()]

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "source_tokenizer": _serialize(self.source_tokenizer),
                "target_tokenizer": _serialize(self.target_tokenizer),
                "max_decode_length": self.max_decode_length,
            }
        )
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for name in ("source_tokenizer", "target_tokenizer"):
            if config.get(name) is not None:
                config[name] = keras.layers.deserialize(config[name])
        return cls(**config)


def _blank_empty_sources(results, source_ids):
    """Zeros every result of the rows whose source has no token."""
    empty = ops.logical_not(ops.any(ops.not_equal(source_ids, 0), axis=1))

    def blank(tensor):
        row_is_empty = ops.reshape(empty, (-1,) + (1,) * (tensor.ndim - 1))
        return ops.where(row_is_empty, ops.zeros_like(tensor), tensor)

    return {name: blank(tensor) for name, tensor in results.items()}


def _serialize(layer):
    return None if layer is None else keras.layers.serialize(layer)


def source_padding_mask(source_ids):
    return ops.not_equal(source_ids, 0)
