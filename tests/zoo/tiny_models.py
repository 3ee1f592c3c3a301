"""Tiny untrained models of every zoo task, saved as training saves them.

Built without training (one call builds the weights) and compiled as the
tasks compile them, so that a saved file holds what a trained model's
does: its tokenizers, loss, metrics and optimizer (a learning-rate
schedule for the Transformer).
"""

import keras
import numpy as np

from zoo.captioning.model import ShowAttendTell
from zoo.summarization.model import Summarizer
from zoo.text import WordPieceTokenizer
from zoo.translation import BahdanauTranslator
from zoo.translation import TransformerTranslator
from zoo.translation.losses import MaskedSparseCrossentropy
from zoo.translation.losses import masked_accuracy
from zoo.translation.training import TransformerSchedule

WORDS = ["<pad>", "<start>", "<end>", "<unk>", "dog", "cat"]
WORD_PIECES = ["[PAD]", "[UNK]", "[START]", "[END]", "a", "b", "c", "d"]


def tiny_captioner(attention="soft", max_caption_length=3):
    """A built, uncompiled captioner of 2x2x4 features and `WORDS`."""
    model = ShowAttendTell(
        WORDS,
        encoder="features",
        feature_shape=(2, 2, 4),
        embedding_dim=4,
        units=4,
        max_caption_length=max_caption_length,
        attention=attention,
    )
    model((np.zeros((1, 2, 2, 4), "float32"), np.zeros((1, 2), "int32")))
    return model


def _captioner():
    model = tiny_captioner()
    model.compile(optimizer=keras.optimizers.Adam(1e-3, clipnorm=5.0))
    return model


def _summarizer():
    model = Summarizer(WORDS, embedding_dim=4, units=4, max_source_length=8)
    ids = np.zeros((1, 4), "int32")
    model(
        {"source_ids": ids, "extended_ids": ids, "decoder_inputs": ids[:, :2]}
    )
    model.compile(optimizer=keras.optimizers.Adam(1e-3, clipnorm=2.0))
    return model


def _translator(architecture):
    tokenizers = {
        "source_tokenizer": WordPieceTokenizer(WORD_PIECES),
        "target_tokenizer": WordPieceTokenizer(WORD_PIECES),
    }
    size = len(WORD_PIECES)
    if architecture == "transformer":
        model = TransformerTranslator(
            size,
            size,
            model_dim=4,
            num_heads=1,
            feed_forward_dim=4,
            num_layers=1,
            max_length=8,
            **tokenizers,
        )
        rate = TransformerSchedule(4, warmup_steps=10)
    else:
        model = BahdanauTranslator(
            size, size, embedding_dim=4, units=4, **tokenizers
        )
        rate = 3e-3
    ids = np.full((1, 3), 4, "int32")
    model((ids, ids))
    model.compile(
        optimizer=keras.optimizers.Adam(rate),
        loss=MaskedSparseCrossentropy(),
        metrics=[masked_accuracy],
    )
    return model


def save_tiny_models(directory):
    """Saves a tiny model of each task; returns `{kind: path}`.

    The kinds: `captioning`, `summarization`, `translation` (Bahdanau) and
    `transformer` (a translation model too).
    """
    models = {
        "captioning": _captioner(),
        "summarization": _summarizer(),
        "translation": _translator("bahdanau"),
        "transformer": _translator("transformer"),
    }
    paths = {}
    for kind, model in models.items():
        paths[kind] = directory / f"{kind}.keras"
        model.save(paths[kind])
    return paths
