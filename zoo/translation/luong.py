"""Luong et al. (2015): stacked LSTMs with global or local attention."""

import keras

from keras_attention.layers import AttentionRNN
from keras_attention.layers import LuongAttention
from zoo.translation.recurrent_translator import RecurrentTranslator
from zoo.translation.recurrent_translator import _check_initial_state
from zoo.translation.seq2seq import source_padding_mask


@keras.saving.register_keras_serializable(package="keras_attention_zoo")
class LuongTranslator(RecurrentTranslator):
    """The attentional NMT model of Luong et al. (2015), scaled to the data.

    A stack of LSTMs encodes the source; the decoder stack starts from the
    encoder's final states (or from zeros, see `initial_state`), attends
    from its top state with the chosen score and alignment, and predicts
    from the attentional vector `h~_t = tanh(W_c [c_t; h_t])`, which input
    feeding passes to the next step.

    Args:
        source_vocabulary_size: Size of the source vocabulary.
        target_vocabulary_size: Size of the target vocabulary.
        embedding_dim: Size of the word embeddings.
        units: Size of every LSTM layer.
        num_layers: Number of LSTM layers in the encoder and the decoder.
        score: `"dot"`, `"general"` or `"concat"` (see `LuongAttention`).
        alignment: `"global"`, `"local-m"` (a window centred on the
            decoder step) or `"local-p"` (the predictive local attention
            the paper found best).
        window: Half width `D` of the local window.
        input_feeding: Whether `h~_{t-1}` is fed into the decoder.
        dropout: Dropout on embeddings and attentional vectors.
        initial_state: Where the decoder starts: `"encoder"` (the paper:
            each decoder layer starts from the final state of the same
            encoder layer) or `"zeros"`. The encoder's final state has just
            read the end of the source, so a decoder started from it can
            emit the first target words without attending (on dates the
            year is often written last); started from zeros, the decoder
            learns about the source only through attention, so it must look
            where the words it emits come from (or, since a recurrent
            encoder's state at one word also holds the words before it,
            just after). The paper's
            `"encoder"` hands the decoder a summary of the source, which
            long real sentences may still profit from.
        **kwargs: `Seq2Seq` arguments (tokenizers, `max_decode_length`).

    References:
        - [Luong et al., 2015](https://arxiv.org/abs/1508.04025).
    """

    def __init__(
        self,
        source_vocabulary_size,
        target_vocabulary_size,
        embedding_dim=64,
        units=128,
        num_layers=2,
        score="general",
        alignment="global",
        window=5,
        input_feeding=True,
        dropout=0.0,
        initial_state="encoder",
        **kwargs,
    ):
        super().__init__(**kwargs)
        _check_initial_state(initial_state)
        if alignment not in ("global", "local-m", "local-p"):
            raise ValueError(
                "`alignment` must be 'global', 'local-m' or 'local-p'. "
                f"Received: alignment={alignment}"
            )
        self.source_vocabulary_size = source_vocabulary_size
        self.target_vocabulary_size = target_vocabulary_size
        self.embedding_dim = embedding_dim
        self.units = units
        self.num_layers = num_layers
        self.score = score
        self.alignment = alignment
        self.window = window
        self.input_feeding = input_feeding
        self.dropout = dropout
        self.initial_state = initial_state
        self.source_embedding = keras.layers.Embedding(
            source_vocabulary_size, embedding_dim, name="source_embedding"
        )
        self.encoder_layers = [
            keras.layers.LSTM(
                units,
                return_sequences=True,
                return_state=True,
                name=f"encoder_{index}",
            )
            for index in range(num_layers)
        ]
        self.target_embedding = keras.layers.Embedding(
            target_vocabulary_size, embedding_dim, name="target_embedding"
        )
        cells = [keras.layers.LSTMCell(units) for _ in range(num_layers)]
        self.decoder = AttentionRNN(
            cells if num_layers > 1 else cells[0],
            LuongAttention(
                score,
                units=units if score == "concat" else None,
                alignment=alignment,
                window=window,
            ),
            input_feeding=input_feeding,
            name="decoder",
        )
        self.embedding_dropout = keras.layers.Dropout(dropout)
        self.output_dropout = keras.layers.Dropout(dropout)
        self.output_projection = keras.layers.Dense(
            target_vocabulary_size, name="output_projection"
        )

    def _encode(self, source_ids, training=None):
        source_mask = source_padding_mask(source_ids)
        hidden = self.embedding_dropout(
            self.source_embedding(source_ids), training=training
        )
        final_states = []
        for layer in self.encoder_layers:
            hidden, state_h, state_c = layer(
                hidden, mask=source_mask, training=training
            )
            final_states.append([state_h, state_c])
        if self.initial_state == "zeros":
            # The decoder's `get_initial_state` then starts from zeros.
            return hidden, source_mask, None
        if self.num_layers == 1:
            final_states = final_states[0]
        return hidden, source_mask, final_states

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "source_vocabulary_size": self.source_vocabulary_size,
                "target_vocabulary_size": self.target_vocabulary_size,
                "embedding_dim": self.embedding_dim,
                "units": self.units,
                "num_layers": self.num_layers,
                "score": self.score,
                "alignment": self.alignment,
                "window": self.window,
                "input_feeding": self.input_feeding,
                "dropout": self.dropout,
                "initial_state": self.initial_state,
            }
        )
        return config
