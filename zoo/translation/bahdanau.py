"""Bahdanau et al. (2014): bidirectional GRU encoder, attentive GRU decoder."""

import keras

from keras_attention.layers import AttentionRNN
from keras_attention.layers import BahdanauAttention
from zoo.translation.recurrent_translator import RecurrentTranslator
from zoo.translation.recurrent_translator import _check_initial_state
from zoo.translation.seq2seq import source_padding_mask


@keras.saving.register_keras_serializable(package="keras_attention_zoo")
class BahdanauTranslator(RecurrentTranslator):
    """RNNsearch of Bahdanau et al. (2014), scaled to the data.

    The encoder is a bidirectional GRU; the decoder's first state is
    `tanh(W_s h_1_backward)` (appendix A.2.2) or zeros (see
    `initial_state`), and at every step its previous state attends over the
    encoder outputs with additive attention and the context is fed into the
    GRU. The output layer sees `[s_t; c_t]`.

    Args:
        source_vocabulary_size: Size of the source vocabulary.
        target_vocabulary_size: Size of the target vocabulary.
        embedding_dim: Size of the word embeddings.
        units: Size of each encoder direction and of the decoder.
        attention_units: Hidden size of the alignment model.
        dropout: Dropout on embeddings and decoder outputs.
        initial_state: Where the decoder starts: `"encoder"` (the paper's
            `tanh(W_s h_1_backward)`, a summary of the whole source) or
            `"zeros"`, with which the decoder learns about the source only
            through attention and cannot emit a source word from its first
            state without attending to it.
        **kwargs: `Seq2Seq` arguments (tokenizers, `max_decode_length`).

    References:
        - [Bahdanau et al., 2014](https://arxiv.org/abs/1409.0473).
    """

    def __init__(
        self,
        source_vocabulary_size,
        target_vocabulary_size,
        embedding_dim=64,
        units=128,
        attention_units=None,
        dropout=0.0,
        initial_state="encoder",
        **kwargs,
    ):
        super().__init__(**kwargs)
        _check_initial_state(initial_state)
        self.source_vocabulary_size = source_vocabulary_size
        self.target_vocabulary_size = target_vocabulary_size
        self.embedding_dim = embedding_dim
        self.units = units
        self.attention_units = attention_units
        self.dropout = dropout
        self.initial_state = initial_state
        self.source_embedding = keras.layers.Embedding(
            source_vocabulary_size, embedding_dim, name="source_embedding"
        )
        self.encoder = keras.layers.Bidirectional(
            keras.layers.GRU(units, return_sequences=True, return_state=True),
            name="encoder",
        )
        # Unused (and so never built) weights would not save; the bridge
        # exists only when it computes the first state.
        self.bridge = None
        if initial_state == "encoder":
            self.bridge = keras.layers.Dense(
                units, activation="tanh", name="bridge"
            )
        self.target_embedding = keras.layers.Embedding(
            target_vocabulary_size, embedding_dim, name="target_embedding"
        )
        self.decoder = AttentionRNN(
            keras.layers.GRUCell(units),
            BahdanauAttention(attention_units or units),
            style="bahdanau",
            name="decoder",
        )
        self.embedding_dropout = keras.layers.Dropout(dropout)
        self.output_dropout = keras.layers.Dropout(dropout)
        self.output_projection = keras.layers.Dense(
            target_vocabulary_size, name="output_projection"
        )

    def _encode(self, source_ids, training=None):
        source_mask = source_padding_mask(source_ids)
        embedded = self.embedding_dropout(
            self.source_embedding(source_ids), training=training
        )
        memory, _, backward_state = self.encoder(
            embedded, mask=source_mask, training=training
        )
        if self.bridge is None:
            return memory, source_mask, None
        return memory, source_mask, [self.bridge(backward_state)]

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "source_vocabulary_size": self.source_vocabulary_size,
                "target_vocabulary_size": self.target_vocabulary_size,
                "embedding_dim": self.embedding_dim,
                "units": self.units,
                "attention_units": self.attention_units,
                "dropout": self.dropout,
                "initial_state": self.initial_state,
            }
        )
        return config
