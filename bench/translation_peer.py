"""The TensorFlow "Neural machine translation with attention" tutorial model.

A re-implementation of tensorflow.org/text/tutorials/nmt_with_attention in
Keras 3, used by `bench.translation` as the peer whose training speed is
measured in the same run as our own models. What the tutorial does is kept:

- text: `TextVectorization(max_tokens=5000, ragged=True)` word vocabularies,
  one a side, adapted on the training texts, with the tutorial's
  `tf_lower_and_split_punct` standardization (NFKD, lowercase, only
  `a-z .?!,¿` kept, punctuation split off, `[START]`/`[END]` added);
- data: shuffled over the whole training set, batches of 64, each mapped to
  `((context_ids, target_in), target_out)` zero-padded tensors;
- model (256 units): an embedding and a bidirectional GRU (directions
  summed) as encoder; an embedding, a GRU, one-head `MultiHeadAttention`
  over the encoder outputs (residual `Add` and `LayerNormalization`) and a
  `Dense` to vocabulary logits as decoder;
- training: cross-entropy from logits averaged over the non-padding target
  tokens, masked accuracy as metric, `Adam()` at its default rate, and
  Keras' default compilation (no XLA on CPU, as in the tutorial);
- translation: the tutorial's exported greedy `translate` (its dynamic
  loop), one `tf.function` from strings to strings (`PeerGreedyTranslator`).

With 5,000-word vocabularies on both sides and 256 units the model has
5,292,936 parameters: embeddings 2 x 1,280,000, bidirectional GRU 789,504,
decoder GRU 394,752, attention 263,168, layer normalization 512 and output
layer 1,285,000.

Only the text pipeline uses TensorFlow; the model is plain Keras.

Usage:

    python -m bench.translation_peer --data ../shared/data/spa-eng --steps 200 \
        --decode
"""

import argparse
import time

import keras
import tensorflow as tf
import tensorflow_text as tf_text

from zoo.data import load_translation_data


def tf_lower_and_split_punct(text):
    """Standardizes sentences as the tutorial does, framed by start/end.

    Args:
        text: A string tensor of sentences.

    Returns:
        A string tensor of the same shape: accents removed, lowercase, only
        spaces, `a-z` and `.?!,¿` kept, each of those punctuation marks
        surrounded by spaces, and `"[START] "` / `" [END]"` added.

    Example:

    >>> tf_lower_and_split_punct("¿Todavía está en casa?").numpy()
    b'[START] \\xc2\\xbf todavia esta en casa ? [END]'
    """
    # NFKD splits accented letters into letter + combining mark, so that
    # dropping everything outside a-z keeps the bare letter.
    text = tf_text.normalize_utf8(text, "NFKD")
    text = tf.strings.lower(text)
    text = tf.strings.regex_replace(text, "[^ a-z.?!,¿]", "")
    text = tf.strings.regex_replace(text, "[.?!,¿]", r" \0 ")
    text = tf.strings.strip(text)
    return tf.strings.join(["[START]", text, "[END]"], separator=" ")


def masked_loss(y_true, y_pred):
    """Cross-entropy from logits, averaged over the non-padding tokens.

    Args:
        y_true: Integer target ids, shape `(batch, length)`; 0 is padding.
        y_pred: Logits, shape `(batch, length, vocabulary_size)`.

    Returns:
        The scalar `sum(loss * mask) / sum(mask)` with `mask = y_true != 0`.
    """
    losses = keras.losses.sparse_categorical_crossentropy(
        y_true, y_pred, from_logits=True
    )
    mask = keras.ops.cast(keras.ops.not_equal(y_true, 0), losses.dtype)
    return keras.ops.sum(losses * mask) / keras.ops.sum(mask)


def masked_accuracy(y_true, y_pred):
    """Fraction of the non-padding tokens whose argmax is the target.

    The tutorial's version leaves the padding out of the denominator only,
    so that padding predicted as id 0 counts as correct and the accuracy can
    exceed 1; here the padding is left out of both.

    Args:
        y_true: Integer target ids, shape `(batch, length)`; 0 is padding.
        y_pred: Logits, shape `(batch, length, vocabulary_size)`.

    Returns:
        The scalar accuracy over the tokens where `y_true != 0`.
    """
    y_true = keras.ops.cast(y_true, "int32")
    predicted = keras.ops.cast(keras.ops.argmax(y_pred, axis=-1), "int32")
    mask = keras.ops.cast(keras.ops.not_equal(y_true, 0), "float32")
    match = keras.ops.cast(keras.ops.equal(y_true, predicted), "float32")
    return keras.ops.sum(match * mask) / keras.ops.sum(mask)


class PeerEncoder(keras.layers.Layer):
    """The tutorial's encoder: embedding and a bidirectional GRU.

    Args:
        vocabulary_size: Number of source token ids, padding (0) included.
        units: Embedding and GRU width; the two directions are summed.
        **kwargs: Base layer arguments.
    """

    def __init__(self, vocabulary_size, units, **kwargs):
        super().__init__(**kwargs)
        self.embedding = keras.layers.Embedding(
            vocabulary_size, units, mask_zero=True
        )
        self.rnn = keras.layers.Bidirectional(
            keras.layers.GRU(
                units,
                return_sequences=True,
                recurrent_initializer="glorot_uniform",
            ),
            merge_mode="sum",
        )

    def call(self, context_ids):
        return self.rnn(self.embedding(context_ids))


class PeerCrossAttention(keras.layers.Layer):
    """The tutorial's cross-attention: one-head MHA, residual, layer norm.

    Args:
        units: Key dimension of the single attention head.
        **kwargs: Base layer arguments.
    """

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.attention = keras.layers.MultiHeadAttention(
            key_dim=units, num_heads=1
        )
        self.add = keras.layers.Add()
        self.layer_norm = keras.layers.LayerNormalization()

    def call(self, queries, context):
        # The tutorial asks for the scores (to plot them), which also keeps
        # Keras on the explicit-softmax path that TF-Keras 2 always took.
        attended, _ = self.attention(
            query=queries, value=context, return_attention_scores=True
        )
        return self.layer_norm(self.add([queries, attended]))

    def compute_mask(self, inputs, previous_mask=None):
        # Nothing after the attention reads a mask (the loss masks padding
        # itself); declaring none keeps Keras from warning that it is lost.
        return None


class PeerDecoder(keras.layers.Layer):
    """The tutorial's decoder: embedding, GRU, cross-attention, logits.

    Args:
        vocabulary_size: Number of target token ids, padding (0) included.
        units: Embedding, GRU and attention width.
        **kwargs: Base layer arguments.
    """

    def __init__(self, vocabulary_size, units, **kwargs):
        super().__init__(**kwargs)
        self.embedding = keras.layers.Embedding(
            vocabulary_size, units, mask_zero=True
        )
        self.rnn = keras.layers.GRU(
            units,
            return_sequences=True,
            return_state=True,
            recurrent_initializer="glorot_uniform",
        )
        self.attention = PeerCrossAttention(units)
        self.output_layer = keras.layers.Dense(vocabulary_size)

    def call(self, context, target_in, state=None, return_state=False):
        outputs, state = self.rnn(
            self.embedding(target_in), initial_state=state
        )
        logits = self.output_layer(self.attention(outputs, context))
        if return_state:
            return logits, state
        return logits

    def compute_mask(self, inputs, previous_mask=None):
        # The first argument is the context, whose source-length mask must
        # not be taken for the logits' (the loss masks padding itself).
        return None


class PeerTranslator(keras.Model):
    """The tutorial's `Translator`, for teacher-forced training.

    Args:
        source_vocabulary_size: Number of source token ids.
        target_vocabulary_size: Number of target token ids.
        units: Width of every layer.
        **kwargs: Base model arguments.

    Call arguments:
        inputs: `(context_ids, target_in)` integer tensors, zero-padded.

    Returns:
        Logits of shape `(batch, target_length, target_vocabulary_size)`.
    """

    def __init__(
        self, source_vocabulary_size, target_vocabulary_size, units, **kwargs
    ):
        super().__init__(**kwargs)
        self.encoder = PeerEncoder(source_vocabulary_size, units)
        self.decoder = PeerDecoder(target_vocabulary_size, units)

    def call(self, inputs):
        context_ids, target_in = inputs
        logits = self.decoder(self.encoder(context_ids), target_in)
        # Where a Keras version lets the decoder input's padding mask reach
        # the logits, Keras would weight the already-masked loss and
        # accuracy with it; the tutorial deletes it the same way.
        try:
            del logits._keras_mask
        except AttributeError:
            pass
        return logits


class PeerGreedyTranslator:
    """The tutorial's `Translator.translate`: greedy decoding of raw text.

    As in the tutorial's exported version (its "dynamic loop"), one
    `tf.function` (no XLA, as the tutorial) takes a batch of strings,
    vectorizes them (padded to the batch's longest), encodes them, then
    calls the decoder one token at a time from `[START]` with the GRU
    state carried along (`get_next_token`: argmax of the logits; a row
    that emits `[END]` is done and emits 0 from then on, so its `[END]`
    itself becomes 0), collects the tokens in a `TensorArray` and leaves
    the loop once every row is done or after `max_length` steps; the
    tokens become words with an inverse `StringLookup` and are joined by
    spaces (`tokens_to_text`). Strings of any batch size share one trace.

    Args:
        model: A `PeerTranslator`.
        source_vectorizer: The `TextVectorization` of the sources.
        target_vectorizer: The `TextVectorization` of the targets.
        max_length: Most tokens generated per sentence, `[END]` included.
    """

    def __init__(
        self, model, source_vectorizer, target_vectorizer, max_length=40
    ):
        self.model = model
        self.source_vectorizer = source_vectorizer
        self.target_vectorizer = target_vectorizer
        vocabulary = target_vectorizer.get_vocabulary()
        self.start_id = vocabulary.index("[START]")
        self.end_id = vocabulary.index("[END]")
        self.id_to_word = keras.layers.StringLookup(
            vocabulary=vocabulary, mask_token="", invert=True
        )
        self.max_length = max_length
        self._translate = tf.function(
            self._translate_batch,
            input_signature=[tf.TensorSpec([None], tf.string)],
        )

    def next_logits(self, context, next_token, state, step):
        """The decoder's logits `[batch, 1, vocabulary]` and new state.

        A hook for timing: `bench.decoding_profile` overrides it to end
        untrained decoders at realistic lengths.
        """
        return self.model.decoder(
            context, next_token, state=state, return_state=True
        )

    def _translate_batch(self, texts):
        context_ids = self.source_vectorizer(texts).to_tensor()
        context = self.model.encoder(context_ids)
        batch_size = tf.shape(context_ids)[0]
        next_token = tf.fill(
            [batch_size, 1], tf.constant(self.start_id, "int64")
        )
        done = tf.zeros([batch_size, 1], "bool")
        state = tf.zeros([batch_size, self.model.decoder.rnn.units])
        tokens = tf.TensorArray("int64", size=1, dynamic_size=True)
        for step in tf.range(self.max_length):
            logits, state = self.next_logits(context, next_token, state, step)
            next_token = tf.argmax(logits, axis=-1)
            done = done | (next_token == self.end_id)
            next_token = tf.where(done, tf.constant(0, "int64"), next_token)
            tokens = tokens.write(step, next_token)
            if tf.reduce_all(done):
                break
        # [steps, batch, 1] -> [batch, steps]
        tokens = tf.transpose(tokens.stack()[:, :, 0])
        words = self.id_to_word(tokens)
        text = tf.strings.reduce_join(words, axis=-1, separator=" ")
        text = tf.strings.regex_replace(text, r"^ *\[START\] *", "")
        text = tf.strings.regex_replace(text, r" *\[END\] *$", "")
        return text, tokens

    def translate(self, texts):
        """Translates a batch of sentences.

        Args:
            texts: A list or `[batch]` string tensor of source sentences.

        Returns:
            `(translations, token_ids)`: a `[batch]` string tensor (the
            tutorial's output: lowercase words and punctuation separated by
            spaces, with the spaces its padding leaves at the end) and the
            int64 ids `[batch, steps]`, `steps` being the decoding loop's
            iterations (0 after each row's end).
        """
        return self._translate(tf.constant(texts, tf.string))


def build_peer(
    train_pairs,
    vocabulary_size=5000,
    units=256,
    batch_size=64,
    seed=0,
    max_length=40,
):
    """Builds the compiled peer model and its training dataset.

    Seeds Python, NumPy and the backend globally with
    `keras.utils.set_random_seed(seed)` (the tutorial's layers take no
    seeds), then learns the vocabularies and initializes the weights.

    Args:
        train_pairs: `(source, target)` string tuples.
        vocabulary_size: `max_tokens` of each side's vocabulary (padding and
            `[UNK]` included); fewer if the texts have fewer words.
        units: Width of every layer.
        batch_size: Sentence pairs per batch.
        seed: Seed of the weights and of the shuffling.
        max_length: Most tokens the translator generates per sentence.

    Returns:
        `(model, train_dataset, translator)`: the compiled
        `PeerTranslator`; an endless `tf.data.Dataset` of
        `((context_ids, target_in), target_out)` batches, reshuffled every
        pass over `train_pairs`; and the `PeerGreedyTranslator` that
        translates raw strings with that model and vocabularies.
    """
    keras.utils.set_random_seed(seed)
    sources = [source for source, _ in train_pairs]
    targets = [target for _, target in train_pairs]

    def adapted_vectorizer(texts):
        vectorizer = keras.layers.TextVectorization(
            max_tokens=vocabulary_size,
            standardize=tf_lower_and_split_punct,
            ragged=True,
        )
        vectorizer.adapt(tf.data.Dataset.from_tensor_slices(texts).batch(1024))
        return vectorizer

    source_vectorizer = adapted_vectorizer(sources)
    target_vectorizer = adapted_vectorizer(targets)

    def to_model_inputs(context, target):
        context_ids = source_vectorizer(context).to_tensor()
        target_ids = target_vectorizer(target)
        # Sliced while ragged, as in the tutorial, so that each row loses its
        # own last (input) or first (output) token before padding.
        target_in = target_ids[:, :-1].to_tensor()
        target_out = target_ids[:, 1:].to_tensor()
        return (context_ids, target_in), target_out

    train_dataset = (
        tf.data.Dataset.from_tensor_slices((sources, targets))
        .shuffle(len(train_pairs), seed=seed)
        .batch(batch_size)
        .map(to_model_inputs, num_parallel_calls=tf.data.AUTOTUNE)
        .repeat()
        .prefetch(tf.data.AUTOTUNE)
    )

    model = PeerTranslator(
        source_vectorizer.vocabulary_size(),
        target_vectorizer.vocabulary_size(),
        units,
    )
    (context_ids, target_in), _ = next(iter(train_dataset))
    model((context_ids, target_in))
    model.compile(
        optimizer=keras.optimizers.Adam(),
        loss=masked_loss,
        metrics=[masked_accuracy],
    )
    translator = PeerGreedyTranslator(
        model, source_vectorizer, target_vectorizer, max_length
    )
    return model, train_dataset, translator


def train_steps(model, dataset_iterator, steps):
    """Runs training steps on the next batches of an iterator.

    Only the steps are timed: taking each batch from the (prefetching)
    iterator and `model.train_on_batch`, which returns once the step is
    done.

    Args:
        model: A compiled model such as `build_peer` returns.
        dataset_iterator: Iterator over `(inputs, targets)` batches.
        steps: Number of training steps.

    Returns:
        `(seconds, pairs)`: wall time spent in the steps and the number of
        sentence pairs trained on (the batch sizes summed).
    """
    seconds = 0.0
    pairs = 0
    for _ in range(steps):
        start = time.perf_counter()
        inputs, targets = next(dataset_iterator)
        model.train_on_batch(inputs, targets)
        seconds += time.perf_counter() - start
        pairs += int(targets.shape[0])
    return seconds, pairs


def train_for(model, dataset_iterator, minutes, steps_per_turn=50):
    """Trains in turns of `steps_per_turn` steps until `minutes` have passed.

    Returns:
        `(seconds, pairs)` of the training steps, as `train_steps`.
    """
    deadline = time.perf_counter() + 60.0 * minutes
    seconds, pairs = 0.0, 0
    while time.perf_counter() < deadline:
        turn_seconds, turn_pairs = train_steps(
            model, dataset_iterator, steps_per_turn
        )
        seconds += turn_seconds
        pairs += turn_pairs
    return seconds, pairs


def translate_texts(translator, texts, batch_size=64):
    """Translates sentences in batches, as the tutorial's `translate`.

    The last batch keeps its own size: the translator's one trace takes any
    batch size.

    Args:
        translator: A `PeerGreedyTranslator`.
        texts: Source sentences.
        batch_size: Sentences per call.

    Returns:
        `(translations, steps)`: the Python strings, stripped of the
        spaces the padding leaves, and the decoding loop's iterations of
        each batch.
    """
    translations, steps = [], []
    for start in range(0, len(texts), batch_size):
        batch = list(texts[start : start + batch_size])
        strings, token_ids = translator.translate(batch)
        translations.extend(
            text.decode("utf-8").strip() for text in strings.numpy()
        )
        steps.append(int(token_ids.shape[1]))
    return translations, steps


def standardized_references(references):
    """References in the peer's text form, without `[START]`/`[END]`.

    The tutorial's words are lowercase, unaccented and stripped of
    apostrophes and digits; the peer's BLEU is measured against references
    standardized the same way.
    """
    standardized = tf_lower_and_split_punct(tf.constant(references))
    return [
        " ".join(text.decode("utf-8").split()[1:-1])
        for text in standardized.numpy()
    ]


def _parse_args(argv):
    parser = argparse.ArgumentParser(
        prog="python -m bench.translation_peer",
        description=__doc__.split("\n")[0],
    )
    parser.add_argument(
        "--data",
        required=True,
        help="directory of the tab-separated english<TAB>spanish splits",
    )
    parser.add_argument(
        "--steps", type=int, default=200, help="timed training steps"
    )
    parser.add_argument(
        "--warmup-steps",
        type=int,
        default=20,
        help="untimed training steps first (tracing, memory allocation)",
    )
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument(
        "--decode",
        action="store_true",
        help="then translate the test split greedily and time it (the "
        "first batch, which traces, untimed)",
    )
    parser.add_argument("--units", type=int, default=256)
    parser.add_argument("--vocabulary-size", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


def main(argv=None):
    """Builds the peer on the data and prints its training throughput.

    With `--decode`, also its greedy decoding speed on the test split
    (after only the training steps run here, so the lengths it emits are
    those of a barely trained model).

    Args:
        argv: Command-line arguments; `None` for `sys.argv[1:]`.

    Returns:
        A dict with `"parameters"`, `"seconds"`, `"pairs"` and
        `"pairs_per_second"` of the timed steps, and with `--decode`
        `"greedy_sentences_per_second"`.
    """
    args = _parse_args(argv)
    splits = load_translation_data(
        args.data, source_column=1, target_column=0, seed=args.seed
    )
    model, train_dataset, translator = build_peer(
        splits["train"],
        vocabulary_size=args.vocabulary_size,
        units=args.units,
        batch_size=args.batch_size,
        seed=args.seed,
    )
    parameters = model.count_params()
    print(f"peer parameters: {parameters:,}")
    batches = iter(train_dataset)
    train_steps(model, batches, args.warmup_steps)
    seconds, pairs = train_steps(model, batches, args.steps)
    pairs_per_second = pairs / seconds
    print(
        f"peer training: {pairs:,} pairs in {seconds:.1f} s "
        f"({args.steps} steps of batch {args.batch_size}): "
        f"{pairs_per_second:.1f} pairs/s"
    )
    results = {
        "parameters": parameters,
        "seconds": seconds,
        "pairs": pairs,
        "pairs_per_second": pairs_per_second,
    }
    if args.decode:
        sources = [source for source, _ in splits["test"]]
        translate_texts(translator, sources[: args.batch_size])
        start = time.perf_counter()
        translations, steps = translate_texts(
            translator, sources, args.batch_size
        )
        decode_seconds = time.perf_counter() - start
        results["greedy_sentences_per_second"] = len(sources) / decode_seconds
        print(
            f"peer greedy decoding: {len(sources):,} sentences in "
            f"{decode_seconds:.1f} s (batches of {args.batch_size}, "
            f"{sum(steps) / len(steps):.1f} steps each): "
            f"{results['greedy_sentences_per_second']:.0f} sentences/s"
        )
    return results


if __name__ == "__main__":
    main()
