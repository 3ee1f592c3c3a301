"""The TensorFlow "Image captioning with visual attention" tutorial model.

A re-implementation of the retired tensorflow.org/tutorials/text/
image_captioning (its GRU version of 2020-2022, tensorflow/docs commit
fd8ac77 of `site/en/tutorials/text/image_captioning.ipynb`) in TF + Keras 3,
used by `bench.captioning` as the peer whose quality and training speed
are measured in the same run as our captioner. What the tutorial does is
kept:

- model: `CNN_Encoder` = `Dense(embedding_dim=256)` + ReLU over the image
  regions; `BahdanauAttention(512)` (`W1`, `W2`, `V`; `W1(features)`
  recomputed at every step) queried with the decoder's hidden state;
  `RNN_Decoder`: `Embedding(vocabulary, 256)`, the context concatenated
  before the embedded word, `GRU(512, return_sequences=True,
  return_state=True, recurrent_initializer="glorot_uniform")`,
  `Dense(512)`, `Dense(vocabulary)`;
- the tutorial's bug: its GRU is called as `self.gru(x)`, without the
  previous state, so every step starts the GRU from zeros and the hidden
  state reaches the next step only through the attention query.
  `keep_state=True` is the fix (`self.gru(x, initial_state=hidden)`);
- training: the hidden state reset to zeros for each batch; teacher
  forcing over the time steps, unrolled inside one `tf.function` train
  step; the loss of a step is the sparse cross-entropy from logits with
  padding masked to zero and averaged over the batch (padding included),
  summed over the steps (the gradient is that sum's) and reported divided
  by the padded caption length; `Adam()` (learning rate 1e-3); batches of
  64 caption-image pairs from a 1,000-pair shuffle buffer, the last
  partial batch kept;
- vocabulary as the tutorial's `Tokenizer(num_words=5000,
  oov_token="<unk>", filters='!"#$%&()*+.,-/:;=?@[\\]^_`{|}~ ')` fitted on
  `"<start> " + caption + " <end>"` (`build_vocabulary`), captions padded
  at the end with 0 (`<pad>`) to the longest training caption;
- greedy decoding as the tutorial's `evaluate`: from `<start>`, the hidden
  state reset to zeros, at most `max_length` (the longest training
  caption, in tokens) words, stopping at `<end>`.

Where this differs, and why:

- Features: the precomputed `[7, 7, 1280]` MobileNetV2 maps of
  `../shared/data/flickr8k` (49 regions) stand in for the tutorial's
  InceptionV3 `[8, 8, 2048]` (64 regions).
- Vocabulary: Keras 3 has no `Tokenizer`; `standardize_caption` and
  `build_vocabulary` re-implement its behaviour (lowercase; each filter
  character becomes a space, so "t-shirt" is two words and "dog's" one;
  words ranked by count, ties in order of first appearance; id 0 `<pad>`,
  id 1 `<unk>`; ids from `max_words` (5,000) on become `<unk>`). The
  tutorial sizes the embedding and output layer `top_k + 1` = 5,001
  whatever the number of words; here they have one row per id in use
  (2,773 on the 753 Flickr8k training images), so the peer computes no
  logits for ids that never occur.
- Budget: training runs for a wall-clock budget (`train_peer`'s
  `minutes`), not 20 epochs.
- Decoding: the tutorial's `evaluate` samples each word
  (`tf.random.categorical`); the benchmark scores greedy captions, so
  here each word is the argmax. Images are decoded in batches, which
  gives each image the caption it gets alone (rows do not interact).

Usage (trains the as-is peer briefly and prints a few captions):

    python -m bench.captioning_peer --data ../shared/data/flickr8k \
        --minutes 1
"""

import argparse
import collections
import pathlib
import time

import keras
import numpy as np
import tensorflow as tf

from zoo.data import filter_by_features
from zoo.data import load_features
from zoo.data import load_flickr

START = "<start>"
END = "<end>"
PAD = "<pad>"
UNKNOWN = "<unk>"
# The tutorial's `Tokenizer(filters=...)`: each becomes a word separator.
# `<` and `>` are not among them, which keeps `<start>` and `<end>` whole.
TUTORIAL_FILTERS = '!"#$%&()*+.,-/:;=?@[\\]^_`{|}~ '
TOP_K = 5000
EMBEDDING_DIM = 256
UNITS = 512
BATCH_SIZE = 64
SHUFFLE_BUFFER = 1000

_SEPARATORS = str.maketrans(dict.fromkeys(TUTORIAL_FILTERS, " "))


def standardize_caption(caption):
    """Splits a caption into the tutorial's words, framed by start/end.

    Args:
        caption: A caption as written.

    Returns:
        The list of words of `"<start> " + caption + " <end>"`, lowercased,
        with every character of `TUTORIAL_FILTERS` taken as a separator.

    Example:

    >>> standardize_caption("A dog's T-shirt, red!")
    ['<start>', 'a', "dog's", 't', 'shirt', 'red', '<end>']
    """
    text = f"{START} {caption} {END}".lower().translate(_SEPARATORS)
    return [word for word in text.split(" ") if word]


def build_vocabulary(captions, max_words=TOP_K):
    """The tutorial's vocabulary of the training captions.

    Args:
        captions: Caption strings as written (each image's captions, all
            images, flattened).
        max_words: The tutorial's `top_k` (the `Tokenizer`'s `num_words`):
            ids from this value on are not used.

    Returns:
        The list of words by id: `"<pad>"` (0), `"<unk>"` (1), then the
        words by decreasing count (ties in order of first appearance),
        at most `max_words` entries in all.

    Example:

    >>> build_vocabulary(["A dog.", "A cat."])
    ['<pad>', '<unk>', '<start>', 'a', '<end>', 'dog', 'cat']
    """
    if not isinstance(max_words, int) or max_words < 3:
        raise ValueError(
            "`max_words` must be an integer of at least 3 (padding, "
            f"unknown and one word). Received: max_words={max_words}"
        )
    counts = collections.Counter()
    for caption in captions:
        counts.update(standardize_caption(caption))
    # Counter keeps first appearances in order and `sorted` is stable, as
    # the `Tokenizer`'s ranking.
    ranked = sorted(counts, key=lambda word: -counts[word])
    return [PAD, UNKNOWN, *ranked][:max_words]


def encode_captions(captions, vocabulary):
    """Token ids of captions, padded with 0 at the end to the longest.

    Args:
        captions: Caption strings as written.
        vocabulary: Words by id (`build_vocabulary`).

    Returns:
        An int32 array `[len(captions), longest]`, `<start>` first and
        `<end>` last in each row; words out of the vocabulary are `<unk>`.
    """
    index = {word: token for token, word in enumerate(vocabulary)}
    unknown = index[UNKNOWN]
    sequences = [
        [index.get(word, unknown) for word in standardize_caption(caption)]
        for caption in captions
    ]
    ids = np.zeros((len(sequences), max(map(len, sequences))), np.int32)
    for row, sequence in enumerate(sequences):
        ids[row, : len(sequence)] = sequence
    return ids


class PeerCNNEncoder(keras.layers.Layer):
    """The tutorial's `CNN_Encoder`: one `Dense` + ReLU over the regions.

    Args:
        embedding_dim: Width of each encoded region.
        **kwargs: Base layer arguments.
    """

    def __init__(self, embedding_dim, **kwargs):
        super().__init__(**kwargs)
        self.fc = keras.layers.Dense(embedding_dim)

    def call(self, features):
        return keras.ops.relu(self.fc(features))


class PeerBahdanauAttention(keras.layers.Layer):
    """The tutorial's `BahdanauAttention` over the encoded image regions.

    `score = V(tanh(W1(features) + W2(hidden)))`, softmax over the regions,
    context = weighted sum of the features (Bahdanau et al. 2015, eq. 6,
    5 and 4); `W1(features)` is recomputed at every call, as the tutorial
    does.

    Args:
        units: Width of `W1` and `W2`.
        **kwargs: Base layer arguments.
    """

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.W1 = keras.layers.Dense(units)
        self.W2 = keras.layers.Dense(units)
        self.V = keras.layers.Dense(1)

    def call(self, features, hidden):
        hidden_with_time_axis = keras.ops.expand_dims(hidden, 1)
        attention_hidden_layer = keras.ops.tanh(
            self.W1(features) + self.W2(hidden_with_time_axis)
        )
        score = self.V(attention_hidden_layer)
        attention_weights = keras.ops.softmax(score, axis=1)
        context_vector = keras.ops.sum(attention_weights * features, axis=1)
        return context_vector, attention_weights


class PeerRNNDecoder(keras.layers.Layer):
    """The tutorial's `RNN_Decoder`: one word a call.

    Args:
        embedding_dim: Width of the word embedding.
        units: GRU, attention and `fc1` width.
        vocabulary_size: Number of word ids.
        keep_state: `False` calls the GRU as the tutorial does,
            `self.gru(x)`, from a zero state at every step; `True` gives
            it the previous hidden state.
        **kwargs: Base layer arguments.
    """

    def __init__(
        self, embedding_dim, units, vocabulary_size, keep_state, **kwargs
    ):
        super().__init__(**kwargs)
        self.units = units
        self.keep_state = keep_state
        self.embedding = keras.layers.Embedding(vocabulary_size, embedding_dim)
        self.gru = keras.layers.GRU(
            units,
            return_sequences=True,
            return_state=True,
            recurrent_initializer="glorot_uniform",
        )
        self.fc1 = keras.layers.Dense(units)
        self.fc2 = keras.layers.Dense(vocabulary_size)
        self.attention = PeerBahdanauAttention(units)

    def recur(self, inputs, hidden):
        """The GRU step: `(output [batch, 1, units], state [batch, units])`.

        As-is, `hidden` is ignored (the tutorial's `self.gru(x)`).
        """
        if self.keep_state:
            return self.gru(inputs, initial_state=[hidden])
        return self.gru(inputs)

    def call(self, word_ids, features, hidden):
        """Logits `[batch, vocabulary]`, new hidden state and attention.

        Args:
            word_ids: `[batch, 1]` ids of the previous words.
            features: `[batch, regions, embedding_dim]` encoded regions.
            hidden: `[batch, units]` state after the previous word.
        """
        context_vector, attention_weights = self.attention(features, hidden)
        x = self.embedding(word_ids)
        x = keras.ops.concatenate(
            [keras.ops.expand_dims(context_vector, 1), x], axis=-1
        )
        output, state = self.recur(x, hidden)
        x = self.fc1(output)
        x = keras.ops.reshape(x, (-1, x.shape[2]))
        return self.fc2(x), state, attention_weights

    def reset_state(self, batch_size):
        return keras.ops.zeros((batch_size, self.units))


class PeerCaptioner(keras.Model):
    """The tutorial's encoder and decoder, teacher-forced over captions.

    Args:
        vocabulary_size: Number of word ids (`len(vocabulary)`).
        keep_state: Whether the decoder's GRU gets its previous state (the
            fix); `False` is the tutorial as published.
        embedding_dim: Encoder and embedding width (256 in the tutorial).
        units: GRU and attention width (512 in the tutorial).
        **kwargs: Base model arguments.

    Call arguments:
        inputs: `(features, word_ids)`: float `[batch, H, W, C]` or
            `[batch, regions, C]` image features and int `[batch, steps]`
            decoder inputs (`<start>` then the caption's words).

    Returns:
        Logits `[batch, steps, vocabulary_size]`: at step `t`, the
        prediction of the word after `word_ids[:, t]`, from a hidden state
        reset to zeros before step 0.

    Example:

    >>> model = PeerCaptioner(12, embedding_dim=8, units=8)
    >>> features = np.zeros((2, 7, 7, 16), "float32")
    >>> model((features, np.ones((2, 3), "int32"))).shape
    TensorShape([2, 3, 12])
    """

    def __init__(
        self,
        vocabulary_size,
        keep_state=False,
        embedding_dim=EMBEDDING_DIM,
        units=UNITS,
        **kwargs,
    ):
        super().__init__(**kwargs)
        for name, value in (
            ("vocabulary_size", vocabulary_size),
            ("embedding_dim", embedding_dim),
            ("units", units),
        ):
            if not isinstance(value, int) or value < 1:
                raise ValueError(
                    f"`{name}` must be a positive integer. "
                    f"Received: {name}={value}"
                )
        self.vocabulary_size = vocabulary_size
        self.keep_state = bool(keep_state)
        self.encoder = PeerCNNEncoder(embedding_dim)
        self.decoder = PeerRNNDecoder(
            embedding_dim, units, vocabulary_size, self.keep_state
        )

    def encode(self, features):
        """Encoded regions `[batch, H * W, embedding_dim]`."""
        shape = keras.ops.shape(features)
        regions = keras.ops.reshape(features, (shape[0], -1, shape[-1]))
        return self.encoder(regions)

    def call(self, inputs):
        features, word_ids = inputs
        encoded = self.encode(features)
        hidden = self.decoder.reset_state(keras.ops.shape(word_ids)[0])
        logits = []
        for step in range(word_ids.shape[1]):
            step_logits, hidden, _ = self.decoder(
                word_ids[:, step : step + 1], encoded, hidden
            )
            logits.append(step_logits)
        return keras.ops.stack(logits, axis=1)


def tutorial_loss(target_out, logits):
    """The tutorial's loss: its per-step `loss_function`, summed.

    Each step's loss is `reduce_mean(crossentropy * mask)` over the batch:
    padding counts zero but still counts in the mean's denominator.

    Args:
        target_out: Int `[batch, steps]` next-word ids (0 is padding).
        logits: `[batch, steps, vocabulary]` predictions.

    Returns:
        `(loss, total_loss)`: the sum over steps (what the gradient is
        taken of) and that sum over `steps + 1` (the padded caption length,
        `<start>` included), which the tutorial reports.
    """
    crossentropy = keras.losses.sparse_categorical_crossentropy(
        target_out, logits, from_logits=True
    )
    mask = keras.ops.cast(keras.ops.not_equal(target_out, 0), logits.dtype)
    loss = keras.ops.sum(keras.ops.mean(crossentropy * mask, axis=0))
    return loss, loss / (target_out.shape[1] + 1)


def make_train_step(model, optimizer):
    """The tutorial's `train_step` as one `tf.function`.

    Args:
        model: A built `PeerCaptioner`.
        optimizer: A built Keras optimizer.

    Returns:
        A function `(features, captions) -> (loss, total_loss)` that takes
        one teacher-forced gradient step on a batch of image features and
        padded caption ids (`encode_captions`), unrolled over the time
        steps.
    """

    @tf.function
    def train_step(features, captions):
        with tf.GradientTape() as tape:
            logits = model((features, captions[:, :-1]), training=True)
            loss, total_loss = tutorial_loss(captions[:, 1:], logits)
        variables = model.trainable_variables
        gradients = tape.gradient(loss, variables)
        optimizer.apply_gradients(zip(gradients, variables, strict=True))
        return loss, total_loss

    return train_step


def _caption_pairs(captions):
    """(image row, caption) of every caption of `captions[row]`."""
    return [
        (row, caption)
        for row, image_captions in enumerate(captions)
        for caption in image_captions
    ]


def _train_for(
    train_step, batches, regions, seconds, max_steps=None, clock=None
):
    """Runs training steps until `seconds` have passed since the first.

    Args:
        train_step: `(features, caption_ids) -> (loss, total_loss)`.
        batches: An iterable of `(image rows, caption ids)` batches.
        regions: Array of the image features, indexed by the rows.
        seconds: The budget; the step in progress when it runs out is
            finished.
        max_steps: If given, stops after this many steps too.
        clock: A function returning seconds; `time.perf_counter` if None.

    Returns:
        A dict: `"captions"` and `"steps"` trained, `"seconds"` from the
        start of the first step to the end of the last, and the
        `"first_loss"` and `"last_loss"` of the tutorial's report.
    """
    clock = clock or time.perf_counter
    captions, steps = 0, 0
    first_loss = last_loss = float("nan")
    elapsed = 0.0
    start = clock()
    for batch_rows, batch_ids in batches:
        _, total_loss = train_step(
            tf.constant(regions[np.asarray(batch_rows)]), batch_ids
        )
        captions += int(batch_ids.shape[0])
        steps += 1
        last_loss = float(total_loss)
        if steps == 1:
            first_loss = last_loss
        elapsed = clock() - start
        if elapsed >= seconds or steps == max_steps:
            break
    return {
        "captions": captions,
        "steps": steps,
        "seconds": elapsed,
        "first_loss": first_loss,
        "last_loss": last_loss,
    }


def train_peer(
    features,
    captions,
    minutes,
    *,
    keep_state=False,
    batch_size=BATCH_SIZE,
    seed=0,
    max_words=TOP_K,
    embedding_dim=EMBEDDING_DIM,
    units=UNITS,
    max_steps=None,
):
    """Builds the peer and trains it for a wall-clock budget.

    Seeds Python, NumPy and TensorFlow globally (`keras.utils.
    set_random_seed(seed)`: the tutorial's layers take no seeds), learns
    the vocabulary of `captions`, then trains on the caption-image pairs
    (each caption with its image's features) in epochs of shuffled batches
    until `minutes` have passed since the first step began; the step in
    progress then is finished. Tracing the step is counted.

    Args:
        features: Float array `[images, H, W, C]`.
        captions: `captions[row]` is the sequence of captions (strings, as
            written) of the image of `features[row]`.
        minutes: Training budget in minutes (wall time).
        keep_state: Whether the decoder's GRU gets its previous state.
        batch_size: Caption-image pairs per batch.
        seed: Seed of the weights and of the shuffling.
        max_words: The vocabulary's `top_k`.
        embedding_dim: Encoder and embedding width.
        units: GRU and attention width.
        max_steps: If given, training also stops after this many steps.

    Returns:
        `(model, captions_per_second)`: the trained `PeerCaptioner`, with
        attributes `vocabulary` (words by id), `max_length` (tokens in the
        longest training caption), `train_captions`, `train_seconds`,
        `steps`, `first_loss` and `last_loss` (the tutorial's reported
        loss of the first and last batches, each before its update); and
        the captions trained on per second.
    """
    keras.utils.set_random_seed(seed)
    pairs = _caption_pairs(captions)
    vocabulary = build_vocabulary(
        [caption for _, caption in pairs], max_words=max_words
    )
    caption_ids = encode_captions([caption for _, caption in pairs], vocabulary)
    rows = np.array([row for row, _ in pairs], np.int64)
    regions = np.asarray(features, np.float32)
    regions = regions.reshape(len(regions), -1, regions.shape[-1])

    model = PeerCaptioner(
        len(vocabulary),
        keep_state=keep_state,
        embedding_dim=embedding_dim,
        units=units,
    )
    # Variables are created eagerly, outside the traced train step.
    model((regions[:1], caption_ids[:1, :1]))
    optimizer = keras.optimizers.Adam(learning_rate=1e-3)
    optimizer.build(model.trainable_variables)
    train_step = make_train_step(model, optimizer)
    batches = (
        tf.data.Dataset.from_tensor_slices((rows, caption_ids))
        .shuffle(SHUFFLE_BUFFER, seed=seed, reshuffle_each_iteration=True)
        .batch(batch_size)
        .repeat()
    )

    record = _train_for(
        train_step,
        batches,
        regions,
        seconds=60.0 * minutes,
        max_steps=max_steps,
    )
    model.vocabulary = vocabulary
    model.max_length = int(caption_ids.shape[1])
    model.train_captions = record["captions"]
    model.train_seconds = record["seconds"]
    model.steps = record["steps"]
    model.first_loss = record["first_loss"]
    model.last_loss = record["last_loss"]
    return model, record["captions"] / record["seconds"]


def greedy_captions(model, features, max_length, batch_size=BATCH_SIZE):
    """Greedy captions of images, as the tutorial's `evaluate` (argmax).

    Args:
        model: A `PeerCaptioner` with a `vocabulary` attribute (words by
            id, as `train_peer` sets it).
        features: Float array `[images, H, W, C]`.
        max_length: Most words generated per image, `<end>` included.
        batch_size: Images decoded together.

    Returns:
        `(captions, at_length_limit)`: for each image the words before
        `<end>` joined by spaces, and whether it generated `max_length`
        words without `<end>`.
    """
    vocabulary = model.vocabulary
    start_id, end_id = vocabulary.index(START), vocabulary.index(END)

    @tf.function
    def step(word_ids, encoded, hidden):
        logits, hidden, _ = model.decoder(word_ids, encoded, hidden)
        return tf.argmax(logits, axis=-1, output_type=tf.int32), hidden

    captions, at_limit = [], []
    for first in range(0, len(features), batch_size):
        batch = np.asarray(features[first : first + batch_size], np.float32)
        encoded = model.encode(batch)
        hidden = model.decoder.reset_state(len(batch))
        word_ids = tf.fill([len(batch), 1], start_id)
        generated = []
        done = np.zeros(len(batch), bool)
        for _ in range(max_length):
            next_ids, hidden = step(word_ids, encoded, hidden)
            next_ids = next_ids.numpy()
            generated.append(next_ids)
            done |= next_ids == end_id
            if done.all():
                break
            word_ids = tf.constant(next_ids[:, None])
        for tokens in np.stack(generated, axis=1):
            ends = np.flatnonzero(tokens == end_id)
            length = ends[0] if ends.size else len(tokens)
            captions.append(" ".join(vocabulary[t] for t in tokens[:length]))
            at_limit.append(not ends.size)
    return captions, at_limit


def _parse_args(argv):
    parser = argparse.ArgumentParser(
        prog="python -m bench.captioning_peer",
        description=__doc__.split("\n")[0],
    )
    parser.add_argument("--data", required=True, help="the flickr8k folder")
    parser.add_argument("--minutes", type=float, default=1.0)
    parser.add_argument("--keep-state", action="store_true")
    parser.add_argument("--samples", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


def main(argv=None):
    """Trains the peer on the Flickr8k training images; prints captions.

    Returns:
        `(model, captions_per_second)` of `train_peer`.
    """
    args = _parse_args(argv)
    data = pathlib.Path(args.data)
    features = load_features(data / "features_mobilenet_v2_7x7x1280.npz")
    splits = filter_by_features(load_flickr(data), features)
    train = splits["train"]
    model, speed = train_peer(
        features.features[features.rows([image.image for image in train])],
        [image.captions for image in train],
        args.minutes,
        keep_state=args.keep_state,
        seed=args.seed,
    )
    print(
        f"peer (keep_state={args.keep_state}): {model.train_captions:,} "
        f"captions in {model.train_seconds:.1f} s, {speed:.1f} captions/s, "
        f"last loss {model.last_loss:.3f}, vocabulary "
        f"{len(model.vocabulary):,}, max length {model.max_length}"
    )
    shown = splits["test"][: args.samples]
    texts, at_limit = greedy_captions(
        model,
        features.features[features.rows([image.image for image in shown])],
        model.max_length,
    )
    for image, text, limit in zip(shown, texts, at_limit, strict=True):
        print(f"{image.image}: {text!r}{' (length limit)' if limit else ''}")
        print(f"    reference: {image.captions[0]!r}")
    return model, speed


if __name__ == "__main__":
    main()
