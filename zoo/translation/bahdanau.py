"""Bahdanau et al. (2014): bidirectional GRU encoder, attentive GRU decoder."""

import keras
from keras import ops

from keras_attention.layers import AttentionRNN
from keras_attention.layers import BahdanauAttention
from zoo.translation.seq2seq import Seq2Seq
from zoo.translation.seq2seq import source_padding_mask


@keras.saving.register_keras_serializable(package="keras_attention_zoo")
class BahdanauTranslator(Seq2Seq):
    """RNNsearch of Bahdanau et al. (2014), scaled to the data.

    The encoder is a bidirectional GRU; the decoder's first state is
    `tanh(W_s h_1_backward)` (appendix A.2.2), and at every step its previous
    state attends over the encoder outputs with additive attention and the
    context is fed into the GRU. The output layer sees `[s_t; c_t]`.

    Args:
        source_vocabulary_size: Size of the source vocabulary.
        target_vocabulary_size: Size of the target vocabulary.
        embedding_dim: Size of the word embeddings.
        units: Size of each encoder direction and of the decoder.
        attention_units: Hidden size of the alignment model.
        dropout: Dropout on embeddings and decoder outputs.
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
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.source_vocabulary_size = source_vocabulary_size
        self.target_vocabulary_size = target_vocabulary_size
        self.embedding_dim = embedding_dim
        self.units = units
        self.attention_units = attention_units
        self.dropout = dropout
        self.source_embedding = keras.layers.Embedding(
            source_vocabulary_size, embedding_dim, name="source_embedding"
        )
        self.encoder = keras.layers.Bidirectional(
            keras.layers.GRU(units, return_sequences=True, return_state=True),
            name="encoder",
        )
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
        return memory, source_mask, [self.bridge(backward_state)]

    def call(self, inputs, training=None):
        source_ids, target_ids = inputs
        memory, source_mask, initial_state = self._encode(source_ids, training)
        embedded = self.embedding_dropout(
            self.target_embedding(target_ids), training=training
        )
        outputs, _, _ = self.decoder(
            embedded,
            memory,
            memory_mask=source_mask,
            initial_state=initial_state,
            mask=ops.not_equal(target_ids, 0),
            training=training,
        )
        outputs = self.output_dropout(outputs, training=training)
        return self.output_projection(outputs)

    def encode(self, source_ids, max_length=None):
        """The decoding state: projected memory and first decoder state."""
        memory, source_mask, initial_state = self._encode(source_ids)
        batch_size = ops.shape(source_ids)[0]
        return {
            "memory": self.decoder.precompute_memory(memory, source_mask),
            "decoder": self.decoder.get_initial_state(
                batch_size, initial_state
            ),
        }

    def decode_step(self, token_ids, state):
        embedded = self.target_embedding(token_ids)
        output, decoder_state, weights = self.decoder.step(
            embedded, state["decoder"], state["memory"]
        )
        logits = self.output_projection(output)
        return logits, {**state, "decoder": decoder_state}, weights

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
            }
        )
        return config
