"""Transformer encoder-decoder (Vaswani et al. 2017) from our attention."""

import keras
from keras import ops

from keras_attention.layers import MultiHeadAttention
from zoo.translation.seq2seq import Seq2Seq
from zoo.translation.seq2seq import source_padding_mask


def _feed_forward(model_dim, feed_forward_dim, dropout, name):
    return keras.Sequential(
        [
            keras.layers.Dense(feed_forward_dim, activation="relu"),
            keras.layers.Dropout(dropout),
            keras.layers.Dense(model_dim),
        ],
        name=name,
    )


@keras.saving.register_keras_serializable(package="keras_attention_zoo")
class TransformerTranslator(Seq2Seq):
    """A post-norm Transformer for translation, with cached decoding.

    Decoder self-attention keeps a cache of earlier steps' keys and values
    (the memory of `MultiHeadAttention.init_cache`, heads first), and
    cross-attention projects the encoder outputs once, so generating a
    token costs O(T) instead of re-running the decoder on the whole prefix.
    The attention `decode_step` reports is the last decoder layer's
    cross-attention, per head: `[batch, heads, source_length]`, so the
    decoders' histories are `[batch, heads, steps, source_length]`.

    Args:
        source_vocabulary_size: Size of the source vocabulary.
        target_vocabulary_size: Size of the target vocabulary.
        model_dim: Size of the embeddings and of every sublayer output.
        num_heads: Attention heads per layer.
        feed_forward_dim: Hidden size of the position-wise feed-forward nets.
        num_layers: Encoder and decoder layers.
        max_length: Longest sequence the learned positions cover.
        dropout: Dropout rate (section 5.4 of the paper).
        **kwargs: `Seq2Seq` arguments (tokenizers, `max_decode_length`).

    References:
        - [Vaswani et al., 2017](https://arxiv.org/abs/1706.03762),
          section 3.
    """

    def __init__(
        self,
        source_vocabulary_size,
        target_vocabulary_size,
        model_dim=128,
        num_heads=4,
        feed_forward_dim=256,
        num_layers=2,
        max_length=128,
        dropout=0.1,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.supports_masking = True
        self.source_vocabulary_size = source_vocabulary_size
        self.target_vocabulary_size = target_vocabulary_size
        self.model_dim = model_dim
        self.num_heads = num_heads
        self.feed_forward_dim = feed_forward_dim
        self.num_layers = num_layers
        self.max_length = max_length
        self.dropout = dropout
        key_dim = model_dim // num_heads
        self.source_embedding = keras.layers.Embedding(
            source_vocabulary_size, model_dim, name="source_embedding"
        )
        self.target_embedding = keras.layers.Embedding(
            target_vocabulary_size, model_dim, name="target_embedding"
        )
        self.source_positions = keras.layers.Embedding(
            max_length, model_dim, name="source_positions"
        )
        self.target_positions = keras.layers.Embedding(
            max_length, model_dim, name="target_positions"
        )
        self.input_dropout = keras.layers.Dropout(dropout)

        def norms(prefix, count):
            return [
                keras.layers.LayerNormalization(
                    epsilon=1e-5, name=f"{prefix}_norm_{i}"
                )
                for i in range(count)
            ]

        self.encoder_attention = [
            MultiHeadAttention(num_heads, key_dim, name=f"encoder_attn_{i}")
            for i in range(num_layers)
        ]
        self.encoder_feed_forward = [
            _feed_forward(model_dim, feed_forward_dim, dropout, f"enc_ff_{i}")
            for i in range(num_layers)
        ]
        self.encoder_norms = norms("encoder", 2 * num_layers)
        self.decoder_self_attention = [
            MultiHeadAttention(num_heads, key_dim, name=f"decoder_self_{i}")
            for i in range(num_layers)
        ]
        self.decoder_cross_attention = [
            MultiHeadAttention(num_heads, key_dim, name=f"decoder_cross_{i}")
            for i in range(num_layers)
        ]
        self.decoder_feed_forward = [
            _feed_forward(model_dim, feed_forward_dim, dropout, f"dec_ff_{i}")
            for i in range(num_layers)
        ]
        self.decoder_norms = norms("decoder", 3 * num_layers)
        self.sublayer_dropout = keras.layers.Dropout(dropout)
        self.output_projection = keras.layers.Dense(
            target_vocabulary_size, name="output_projection"
        )

    def _embed(self, token_ids, embedding, positions, start=0, training=None):
        length = ops.shape(token_ids)[1]
        position_ids = ops.arange(length, dtype="int32") + start
        embedded = embedding(token_ids) * (self.model_dim**0.5)
        embedded = embedded + positions(position_ids)
        return self.input_dropout(embedded, training=training)

    def _residual(self, norm, inputs, sublayer_output, training):
        dropped = self.sublayer_dropout(sublayer_output, training=training)
        return norm(inputs + dropped)

    def _encode(self, source_ids, training=None):
        source_mask = source_padding_mask(source_ids)
        hidden = self._embed(
            source_ids,
            self.source_embedding,
            self.source_positions,
            training=training,
        )
        for i in range(self.num_layers):
            attended = self.encoder_attention[i](
                hidden,
                hidden,
                query_mask=source_mask,
                value_mask=source_mask,
                training=training,
            )
            hidden = self._residual(
                self.encoder_norms[2 * i], hidden, attended, training
            )
            hidden = self._residual(
                self.encoder_norms[2 * i + 1],
                hidden,
                self.encoder_feed_forward[i](hidden, training=training),
                training,
            )
        return hidden, source_mask

    def _decoder_layer(self, i, hidden, self_attended, memory, training):
        hidden = self._residual(
            self.decoder_norms[3 * i], hidden, self_attended, training
        )
        crossed, weights = self.decoder_cross_attention[i](
            hidden, memory, return_attention_scores=True, training=training
        )
        hidden = self._residual(
            self.decoder_norms[3 * i + 1], hidden, crossed, training
        )
        hidden = self._residual(
            self.decoder_norms[3 * i + 2],
            hidden,
            self.decoder_feed_forward[i](hidden, training=training),
            training,
        )
        return hidden, weights

    def call(self, inputs, training=None):
        source_ids, target_ids = inputs
        memory, source_mask = self._encode(source_ids, training)
        target_mask = ops.not_equal(target_ids, 0)
        hidden = self._embed(
            target_ids,
            self.target_embedding,
            self.target_positions,
            training=training,
        )
        for i in range(self.num_layers):
            self_attended = self.decoder_self_attention[i](
                hidden,
                hidden,
                query_mask=target_mask,
                value_mask=target_mask,
                use_causal_mask=True,
                training=training,
            )
            projected = self.decoder_cross_attention[i].precompute_memory(
                memory, value_mask=source_mask
            )
            hidden, _ = self._decoder_layer(
                i, hidden, self_attended, projected, training
            )
        return self.output_projection(hidden)

    def compute_mask(self, inputs, mask=None):
        # Masks the logits of padding targets, as the embeddings' masks do
        # in the recurrent translators, so that Keras averages the loss and
        # the metrics over real tokens only.
        return ops.not_equal(inputs[1], 0)

    def encode(self, source_ids, max_length=None):
        """The decoding state: per-layer memories, empty caches, position.

        The memories (cross-attention) and caches (self-attention) are the
        memory dicts of `MultiHeadAttention`; `"position"` int32 `[batch]`
        is the index of the next step, the `query_start_index` of its
        self-attention calls.
        """
        max_length = max_length or self.max_decode_length
        if max_length > self.max_length:
            raise ValueError(
                f"`max_length` must be <= {self.max_length} (the learned "
                f"positions). Received: max_length={max_length}"
            )
        memory, source_mask = self._encode(source_ids)
        batch_size = ops.shape(source_ids)[0]
        return {
            "memories": [
                layer.precompute_memory(memory, value_mask=source_mask)
                for layer in self.decoder_cross_attention
            ],
            "caches": [
                layer.init_cache(batch_size, max_length)
                for layer in self.decoder_self_attention
            ],
            "position": ops.zeros((batch_size,), "int32"),
        }

    def decode_step(self, token_ids, state):
        # All hypotheses advance together, so any row holds the position.
        position = state["position"][0]
        hidden = self._embed(
            ops.expand_dims(token_ids, 1),
            self.target_embedding,
            self.target_positions,
            start=position,
        )
        caches, weights = [], None
        for i in range(self.num_layers):
            self_attended, cache = self.decoder_self_attention[i](
                hidden,
                hidden,
                use_causal_mask=True,
                cache=state["caches"][i],
                query_start_index=position,
            )
            caches.append(cache)
            hidden, weights = self._decoder_layer(
                i, hidden, self_attended, state["memories"][i], False
            )
        logits = self.output_projection(hidden[:, 0])
        new_state = {
            **state,
            "caches": caches,
            "position": state["position"] + 1,
        }
        return logits, new_state, weights[:, :, 0]

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "source_vocabulary_size": self.source_vocabulary_size,
                "target_vocabulary_size": self.target_vocabulary_size,
                "model_dim": self.model_dim,
                "num_heads": self.num_heads,
                "feed_forward_dim": self.feed_forward_dim,
                "num_layers": self.num_layers,
                "max_length": self.max_length,
                "dropout": self.dropout,
            }
        )
        return config
