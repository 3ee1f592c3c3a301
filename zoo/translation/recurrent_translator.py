"""Teacher forcing and step decoding shared by the zoo's RNN translators."""

from keras import ops

from zoo.translation.seq2seq import Seq2Seq

INITIAL_STATES = ("encoder", "zeros")


def _check_initial_state(initial_state):
    if initial_state not in INITIAL_STATES:
        raise ValueError(
            f"`initial_state` must be one of {INITIAL_STATES}. "
            f"Received: initial_state={initial_state!r}"
        )


class RecurrentTranslator(Seq2Seq):
    """Base class of translators whose decoder is an `AttentionRNN`.

    A subclass creates `target_embedding`, `embedding_dropout`, `decoder`
    (an `AttentionRNN`), `output_dropout` and `output_projection`, and
    implements `_encode(source_ids, training)` returning
    `(memory, source_mask, initial_decoder_state)`; an initial state of
    `None` starts the decoder from zeros.
    """

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
