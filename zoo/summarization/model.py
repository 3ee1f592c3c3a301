"""The pointer-generator summarizer of See et al. (2017), on Keras 3.

Built from `keras_attention`'s public API:

- the encoder is a bidirectional LSTM over the word embeddings of the
  source; its final forward and backward states are reduced to the
  decoder's first state by a ReLU layer, as in the authors' code;
- the decoder is an `AttentionRNN` in See et al.'s arrangement
  (`output_projection=False`): the LSTM takes the word and the previous
  context, the new state `s_t` attends over the encoder states with
  `BahdanauAttention` (eq. 1; with coverage, eq. 11), and
  `P_vocab = softmax(V'(V[s_t; h*_t] + b) + b')` (eq. 4);
- the pointer-generator (`arch="pointer-generator"`) mixes `P_vocab`
  with the attention through `PointerGenerator` into the extended
  vocabulary that holds each document's out-of-vocabulary words
  (eqs. 8-9); the baseline (`arch="seq2seq"`) generates from `P_vocab`
  alone, so an unknown word can only come out as `<unk>`;
- coverage (`coverage=True`) keeps the running sum of the attention in
  the decoder state as an input of the attention score (eq. 11) and adds
  `coverage_weight * covloss` (eqs. 12-13) to the loss once
  `coverage_weight` is positive (a callback may switch it on for a final
  training phase, as the paper does).

Ids: the fixed vocabulary has ids `[0, V)`; the `k`-th distinct unknown
word of a document has the extended id `V + k` (see
`zoo.text.word_vocabulary`). Decoder inputs and the encoder see unknown
words as `<unk>`.
"""

import weakref

import keras
from keras import ops

from keras_attention.layers import AttentionRNN
from keras_attention.layers import BahdanauAttention
from keras_attention.layers import PointerGenerator
from keras_attention.layers import extended_vocabulary_distribution
from keras_attention.layers import extended_vocabulary_probability
from keras_attention.losses import coverage_loss
from zoo.best_hypothesis import best_hypothesis
from zoo.length_limit import decode_within_limit
from zoo.text.word_vocabulary import END_ID
from zoo.text.word_vocabulary import PAD_ID
from zoo.text.word_vocabulary import START_ID
from zoo.text.word_vocabulary import UNKNOWN_ID

SEQ2SEQ = "seq2seq"
POINTER_GENERATOR = "pointer-generator"
ARCHITECTURES = (SEQ2SEQ, POINTER_GENERATOR)
# Added to probabilities before the log: a word the mixture gives no mass
# (an extended id of no source word) scores log(1e-12) instead of -inf.
_EPSILON = 1e-12
# The `WordVocabulary` of each model, made when first used.
_WORD_VOCABULARIES = weakref.WeakKeyDictionary()


@keras.saving.register_keras_serializable(package="keras_attention_zoo")
class Summarizer(keras.Model):
    """Attentive sequence-to-sequence summarizer, with copying and coverage.

    Call it on a dict of int32 tensors for teacher forcing:
    `"source_ids"` `[batch, S]` (unknown words as `<unk>`, 0 pads),
    `"extended_ids"` `[batch, S]` (unknown words as `V + k`) and
    `"decoder_inputs"` `[batch, T]` (`<start>` then the summary words,
    unknown ones as `<unk>`). It returns a dict: `"logits"` float32
    `[batch, T, V]` (of `P_vocab`), `"attention"` `[batch, T, S]` and
    `"p_gen"` float32 `[batch, T]` (ones for the baseline).
    `compute_loss` takes the next words as targets, `[batch, T]` extended
    ids (an unknown word that is not in the source as `<unk>`).

    Args:
        vocabulary: the words of the fixed vocabulary, special tokens
            first (`zoo.text.word_vocabulary.WordVocabulary.words`).
        arch: `"pointer-generator"` or `"seq2seq"` (the baseline).
        coverage: whether the attention takes the coverage vector (eq. 11).
        coverage_weight: lambda of eq. 13; 0 trains without the coverage
            loss (the coverage input still exists).
        embedding_dim: size of the word embeddings (shared by encoder and
            decoder, as in the authors' code).
        units: size of the LSTM states (each direction of the encoder,
            and the decoder).
        attention_units: hidden size of the attention MLP; default `units`.
        max_source_length: the source tokens the model reads; longer
            documents are cut.
        max_summary_length: the longest summary decoded, in tokens.
        lowercase: text normalization of the vocabulary (see
            `WordVocabulary`).
        split_punctuation: likewise.
        **kwargs: base model arguments such as `name`.

    References:
        - [See et al., 2017](https://arxiv.org/abs/1704.04368), section 2,
          equations 1-13.
    """

    def __init__(
        self,
        vocabulary,
        arch=POINTER_GENERATOR,
        coverage=False,
        coverage_weight=1.0,
        embedding_dim=128,
        units=256,
        attention_units=None,
        max_source_length=400,
        max_summary_length=100,
        lowercase=True,
        split_punctuation=True,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if arch not in ARCHITECTURES:
            raise ValueError(
                f"`arch` must be one of {ARCHITECTURES}. "
                f"Received: arch={arch!r}"
            )
        self.vocabulary = list(vocabulary)
        self.arch = arch
        self.coverage = bool(coverage)
        self.embedding_dim = embedding_dim
        self.units = units
        self.attention_units = attention_units
        self.max_source_length = max_source_length
        self.max_summary_length = max_summary_length
        self.lowercase = lowercase
        self.split_punctuation = split_punctuation
        # A variable, so that a callback can switch the coverage loss on
        # for the last phase of training without recompiling.
        self.coverage_weight = keras.Variable(
            float(coverage_weight),
            trainable=False,
            dtype="float32",
            name="coverage_weight",
        )
        self.embedding = keras.layers.Embedding(
            len(self.vocabulary), embedding_dim, name="embedding"
        )
        self.encoder = keras.layers.Bidirectional(
            keras.layers.LSTM(units, return_sequences=True, return_state=True),
            name="encoder",
        )
        self.reduce_hidden = keras.layers.Dense(
            units, activation="relu", name="reduce_hidden"
        )
        self.reduce_memory = keras.layers.Dense(
            units, activation="relu", name="reduce_memory"
        )
        self.decoder = AttentionRNN(
            keras.layers.LSTMCell(units),
            BahdanauAttention(attention_units or units, coverage=self.coverage),
            style="luong",
            input_feeding=True,
            output_projection=False,
            coverage=self.coverage,
            name="decoder",
        )
        self.output_hidden = keras.layers.Dense(units, name="output_hidden")
        self.output_logits = keras.layers.Dense(
            len(self.vocabulary), name="output_logits"
        )
        self.pointer_generator = None
        if arch == POINTER_GENERATOR:
            self.pointer_generator = PointerGenerator(name="pointer_generator")
        self.nll_tracker = keras.metrics.Mean(name="nll")
        # Only a coverage model reports the coverage loss (as a metric).
        self.coverage_tracker = None
        if self.coverage:
            self.coverage_tracker = keras.metrics.Mean(name="coverage_loss")

    @property
    def vocabulary_size(self):
        return len(self.vocabulary)

    @property
    def word_vocabulary(self):
        """The model's `WordVocabulary` (TensorFlow), made when first used.

        Kept outside the model's attributes: the model itself is pure
        Keras and runs on JAX and PyTorch without TensorFlow.
        """
        from zoo.text.word_vocabulary import WordVocabulary

        if self not in _WORD_VOCABULARIES:
            _WORD_VOCABULARIES[self] = WordVocabulary(
                self.vocabulary,
                lowercase=self.lowercase,
                split_punctuation=self.split_punctuation,
            )
        return _WORD_VOCABULARIES[self]

    @property
    def copies(self):
        """Whether the model can copy source words (pointer-generator)."""
        return self.pointer_generator is not None

    # Encoding.

    def _fixed_ids(self, ids):
        """Extended ids with every unknown word as `<unk>`."""
        ids = ops.cast(ids, "int32")
        return ops.where(ids >= self.vocabulary_size, UNKNOWN_ID, ids)

    def encode(self, source_ids, training=None):
        """Encoder states `[batch, S, 2 units]`, mask and first state."""
        source_ids = self._fixed_ids(source_ids)
        source_mask = ops.not_equal(source_ids, PAD_ID)
        embedded = self.embedding(source_ids)
        states, forward_h, forward_c, backward_h, backward_c = self.encoder(
            embedded, mask=source_mask, training=training
        )
        initial_state = [
            self.reduce_hidden(ops.concatenate([forward_h, backward_h], -1)),
            self.reduce_memory(ops.concatenate([forward_c, backward_c], -1)),
        ]
        return states, source_mask, initial_state

    # Teacher forcing.

    def call(self, inputs, training=None):
        states, source_mask, initial_state = self.encode(
            inputs["source_ids"], training=training
        )
        decoder_inputs = self._fixed_ids(inputs["decoder_inputs"])
        embedded = self.embedding(decoder_inputs)
        outputs, attention, _ = self.decoder(
            embedded,
            states,
            memory_mask=source_mask,
            initial_state=initial_state,
            mask=ops.not_equal(decoder_inputs, PAD_ID),
            training=training,
        )
        logits, p_gen = self._outputs(outputs, embedded)
        return {"logits": logits, "attention": attention, "p_gen": p_gen}

    def _outputs(self, outputs, embedded):
        """`P_vocab` logits (eq. 4) and `p_gen` (eq. 8) of decoder outputs."""
        logits = ops.cast(
            self.output_logits(self.output_hidden(outputs)), "float32"
        )
        if self.pointer_generator is None:
            return logits, ops.ones(ops.shape(logits)[:-1], "float32")
        state = outputs[..., : self.units]
        context = outputs[..., self.units :]
        p_gen = self.pointer_generator(context, state, embedded)
        return logits, ops.squeeze(ops.cast(p_gen, "float32"), -1)

    def compute_loss(
        self, x=None, y=None, y_pred=None, sample_weight=None, training=True
    ):
        """Negative log-likelihood of the summary (+ coverage loss)."""
        targets = ops.cast(y, "int32")
        mask = ops.cast(ops.not_equal(targets, PAD_ID), "float32")
        num_tokens = ops.maximum(ops.sum(mask), 1.0)
        attention = ops.cast(y_pred["attention"], "float32")
        if self.pointer_generator is None:
            token_losses = keras.losses.sparse_categorical_crossentropy(
                self._fixed_ids(targets), y_pred["logits"], from_logits=True
            )
        else:
            probability = extended_vocabulary_probability(
                ops.softmax(y_pred["logits"], axis=-1),
                attention,
                ops.cast(x["extended_ids"], "int32"),
                y_pred["p_gen"][..., None],
                targets,
            )
            token_losses = -ops.log(probability + _EPSILON)
        nll = ops.sum(token_losses * mask) / num_tokens
        loss = nll
        if self.coverage:
            # Per-summary means over its steps, averaged (eq. 13).
            penalty = ops.mean(coverage_loss(attention, mask=mask > 0))
            loss = loss + self.coverage_weight * penalty
            self.coverage_tracker.update_state(penalty)
        self.nll_tracker.update_state(nll)
        for extra in self.losses:
            loss = loss + ops.cast(ops.sum(extra), "float32")
        return loss

    # Decoding.

    def decoding_state(self, source_ids, extended_ids):
        """The state before the first summary word is generated."""
        states, source_mask, initial_state = self.encode(source_ids)
        memory = self.decoder.precompute_memory(states, source_mask)
        batch_size = ops.shape(states)[0]
        return {
            "memory": memory,
            "decoder": self.decoder.get_initial_state(
                batch_size, initial_state, memory=memory
            ),
            "extended_ids": ops.cast(extended_ids, "int32"),
        }

    def decode_step(self, token_ids, state):
        """One word: `(logits, state, attention)` for `keras_attention`.

        The logits are over the extended vocabulary (`V + S`: the
        log-probabilities of eq. 9) for the pointer-generator, over the
        fixed vocabulary for the baseline. The "attention" is the step's
        attention `[batch, S]` with `p_gen` appended as a last column, so
        that the decoders carry both along the chosen hypotheses.
        """
        embedded = self.embedding(self._fixed_ids(token_ids))
        output, decoder_state, weights = self.decoder.step(
            embedded, state["decoder"], state["memory"]
        )
        logits, p_gen = self._outputs(output, embedded)
        weights = ops.cast(weights, "float32")
        if self.pointer_generator is not None:
            extended_ids = state["extended_ids"]
            distribution = extended_vocabulary_distribution(
                ops.softmax(logits, axis=-1),
                weights,
                extended_ids,
                p_gen[:, None],
                self.vocabulary_size + ops.shape(extended_ids)[1],
            )
            logits = ops.log(distribution + _EPSILON)
        trace = ops.concatenate([weights, p_gen[:, None]], axis=-1)
        return logits, {**state, "decoder": decoder_state}, trace

    def summary_ids(
        self,
        source_ids,
        extended_ids,
        beam_width=1,
        max_length=None,
        length_penalty=0.0,
        no_repeat_ngram_size=0,
    ):
        """Decodes summaries greedily (`beam_width=1`) or with beam search.

        A summary holds at most `max_length` tokens, `<end>` not counted
        (`zoo.length_limit.decode_within_limit`).

        Returns:
            A dict for the best summary of each document: `"sequences"`
            int32 `[batch, max_length + 1]` (extended ids; the last
            position `<end>` or padding), `"lengths"`, `"scores"`,
            `"attention"` float32 `[batch, max_length + 1, S]` and
            `"p_gen"` float32 `[batch, max_length + 1]` (zero after the
            end).
        """
        state = self.decoding_state(source_ids, extended_ids)
        batch_size = ops.shape(source_ids)[0]
        start_ids = ops.full((batch_size,), START_ID, "int32")

        def decode(steps):
            return best_hypothesis(
                self.decode_step,
                state,
                start_ids,
                END_ID,
                steps,
                beam_width=beam_width,
                length_penalty=length_penalty,
                pad_id=PAD_ID,
                no_repeat_ngram_size=no_repeat_ngram_size,
            )

        results = decode_within_limit(
            decode, max_length or self.max_summary_length, END_ID, PAD_ID
        )
        # The trace of a step is its attention and then its p_gen.
        trace = results.pop("attention")
        results["attention"] = trace[..., :-1]
        results["p_gen"] = trace[..., -1]
        return results

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "vocabulary": self.vocabulary,
                "arch": self.arch,
                "coverage": self.coverage,
                "coverage_weight": float(
                    ops.convert_to_numpy(self.coverage_weight)
                ),
                "embedding_dim": self.embedding_dim,
                "units": self.units,
                "attention_units": self.attention_units,
                "max_source_length": self.max_source_length,
                "max_summary_length": self.max_summary_length,
                "lowercase": self.lowercase,
                "split_punctuation": self.split_punctuation,
            }
        )
        return config
