import keras
import numpy as np
import pytest

from bench import translation_peer as peer

pytestmark = pytest.mark.skipif(
    keras.backend.backend() != "tensorflow",
    reason="the peer's text pipeline is tf.data",
)

BATCH_SIZE = 8
VOCABULARY_SIZE = 50
SUBJECTS = [
    ("Yo", "I"),
    ("Tú", "You"),
    ("Él", "He"),
    ("Ella", "She"),
    ("Tomás", "Tom"),
]
PHRASES = [
    ("como pan.", "eat bread."),
    ("bebo agua.", "drink water."),
    ("leo un libro.", "read a book."),
    ("¿estás en casa?", "are you at home?"),
    ("corro mucho, ¡sí!", "run a lot, yes!"),
    ("veo el mar.", "see the sea."),
    ("tengo frío.", "am cold."),
    ("escribo una carta larga.", "write a long letter."),
]
# 40 short pairs; the grammar is wrong, the words are few.
TINY_PAIRS = [
    (f"{subject} {phrase}", f"{english_subject} {english_phrase}")
    for subject, english_subject in SUBJECTS
    for phrase, english_phrase in PHRASES
]


@pytest.mark.parametrize(
    "text, expected",
    [
        # NFKD splits í, á into letter + accent; the accent is dropped.
        ("¿Todavía está en casa?", "[START] ¿ todavia esta en casa ? [END]"),
        # The comma's trailing space and the original space both remain.
        ("Hola, Ñandú!", "[START] hola ,  nandu ! [END]"),
        # Digits and apostrophes go; so does the space they leave doubled.
        ("It's 5 o'clock.", "[START] its  oclock . [END]"),
    ],
)
def test_tf_lower_and_split_punct(text, expected):
    standardized = peer.tf_lower_and_split_punct(text).numpy()
    assert standardized == expected.encode("utf-8")


@pytest.fixture(scope="module")
def tiny_peer():
    model, dataset, _ = peer.build_peer(
        TINY_PAIRS,
        vocabulary_size=VOCABULARY_SIZE,
        units=16,
        batch_size=BATCH_SIZE,
        seed=0,
    )
    return model, dataset


def _translator(max_length=6):
    """A fresh untrained peer's translator (tests change its weights)."""
    _, _, translator = peer.build_peer(
        TINY_PAIRS,
        vocabulary_size=VOCABULARY_SIZE,
        units=16,
        batch_size=BATCH_SIZE,
        seed=1,
        max_length=max_length,
    )
    return translator


def _favour(translator, token_id):
    """Makes the decoder's output layer always pick `token_id`."""
    output_layer = translator.model.decoder.output_layer
    bias = np.zeros(output_layer.bias.shape, "float32")
    bias[token_id] = 1e4
    output_layer.bias.assign(bias)


def test_logits_cover_the_target_vocabulary(tiny_peer):
    model, dataset = tiny_peer
    (context_ids, target_in), target_out = next(iter(dataset))
    logits = model((context_ids, target_in))

    target_words = {
        word
        for _, target in TINY_PAIRS
        for word in peer.tf_lower_and_split_punct(target).numpy().split()
    }
    # Padding and [UNK] come first in a TextVectorization vocabulary.
    assert len(target_words) + 2 < VOCABULARY_SIZE
    batch, target_length = target_out.shape
    assert batch == BATCH_SIZE
    assert target_in.shape == target_out.shape
    assert logits.shape == (batch, target_length, len(target_words) + 2)
    # Every target starts with [START] as input and ends with [END] as
    # output; each row drops its own last or first token before padding,
    # so input and output have their padding in the same places.
    target_in, target_out = target_in.numpy(), target_out.numpy()
    assert np.all(target_in[:, 0] == target_in[0, 0])
    lengths = np.sum(target_out != 0, axis=1)
    last_tokens = target_out[np.arange(batch), lengths - 1]
    assert np.all(last_tokens == last_tokens[0])
    assert np.array_equal(target_in != 0, target_out != 0)
    assert len(set(lengths)) > 1, "the batch needs padded rows"


def test_masked_loss_ignores_padding(tiny_peer):
    model, dataset = tiny_peer
    (context_ids, target_in), target_out = next(iter(dataset))
    target_out = target_out.numpy()
    logits = keras.ops.convert_to_numpy(model((context_ids, target_in)))
    rows, columns = np.nonzero(target_out == 0)
    assert len(rows) > 0, "the batch needs a padded target position"

    log_probabilities = logits - np.log(
        np.sum(np.exp(logits), axis=-1, keepdims=True)
    )
    token_losses = -np.take_along_axis(
        log_probabilities, target_out[..., None], axis=-1
    )[..., 0]
    expected = np.mean(token_losses[target_out != 0])
    loss = float(peer.masked_loss(target_out, logits))
    assert loss == pytest.approx(expected, rel=1e-5)

    rng = np.random.default_rng(0)
    padded_changed = logits.copy()
    padded_changed[rows[0], columns[0]] = rng.normal(
        scale=10.0, size=logits.shape[-1]
    )
    assert float(peer.masked_loss(target_out, padded_changed)) == (
        pytest.approx(loss, rel=1e-6)
    )
    token_changed = logits.copy()
    token_changed[0, 0] = rng.normal(scale=10.0, size=logits.shape[-1])
    assert float(peer.masked_loss(target_out, token_changed)) != (
        pytest.approx(loss, rel=1e-3)
    )

    # Keras reports the same loss: no mask on the logits reweights it.
    compiled_loss, accuracy = model.test_on_batch(
        (context_ids, target_in), target_out
    )
    assert compiled_loss == pytest.approx(expected, rel=1e-4)
    predicted = np.argmax(logits, axis=-1)
    expected_accuracy = np.mean((predicted == target_out)[target_out != 0])
    assert accuracy == pytest.approx(expected_accuracy, rel=1e-5)


def test_train_steps_counts_pairs_and_learns(tiny_peer):
    model, dataset = tiny_peer
    fixed_inputs, fixed_targets = next(iter(dataset))
    loss_before = model.test_on_batch(fixed_inputs, fixed_targets)[0]

    seconds, pairs = peer.train_steps(model, iter(dataset), 30)

    assert seconds > 0
    assert pairs == 30 * BATCH_SIZE
    loss_after = model.test_on_batch(fixed_inputs, fixed_targets)[0]
    assert loss_after < loss_before - 0.2

    # Pairs are the batches' sizes, not steps times the nominal batch.
    (context_ids, target_in), target_out = fixed_inputs, fixed_targets
    uneven_batches = [
        ((context_ids[:3], target_in[:3]), target_out[:3]),
        ((context_ids, target_in), target_out),
    ]
    _, uneven_pairs = peer.train_steps(model, iter(uneven_batches), 2)
    assert uneven_pairs == 3 + BATCH_SIZE


def test_greedy_translation_follows_the_teacher_forced_model():
    translator = _translator(max_length=6)
    sources = [source for source, _ in TINY_PAIRS[:5]]
    texts, tokens = translator.translate(sources)
    texts, tokens = texts.numpy(), tokens.numpy()
    assert texts.shape == (5,)
    assert tokens.shape[0] == 5 and 1 <= tokens.shape[1] <= 6

    # Each greedy token is the argmax of the teacher-forced model fed the
    # tokens before it: the step decoder carries the GRU state correctly.
    context_ids = translator.source_vectorizer(sources).to_tensor()
    start = np.full((5, 1), translator.start_id)
    target_in = np.concatenate([start, tokens[:, :-1]], axis=1)
    logits = translator.model((context_ids, target_in))
    predicted = np.argmax(keras.ops.convert_to_numpy(logits), axis=-1)
    for row in range(5):
        # A row that ends writes 0 in place of [END], then 0s.
        ended = np.flatnonzero(tokens[row] == 0)
        length = ended[0] if ended.size else tokens.shape[1]
        assert np.array_equal(predicted[row, :length], tokens[row, :length])
        if ended.size:
            assert predicted[row, length] == translator.end_id
            assert np.all(tokens[row, length:] == 0)
    words = translator.target_vectorizer.get_vocabulary()
    first = " ".join(str(words[token]) for token in tokens[0] if token)
    assert texts[0].decode("utf-8").strip() == first


def test_greedy_translation_stops_when_every_row_is_done():
    translator = _translator(max_length=6)
    _favour(translator, translator.end_id)
    texts, tokens = translator.translate(["yo como pan.", "tú bebo agua."])
    # One step: every row emitted [END] (written as 0) at once.
    assert tokens.shape == (2, 1)
    assert np.all(tokens.numpy() == 0)
    assert [text.strip() for text in texts.numpy()] == [b"", b""]


def test_greedy_translation_stops_at_max_length():
    translator = _translator(max_length=4)
    words = translator.target_vectorizer.get_vocabulary()
    word = words.index("water")
    _favour(translator, word)
    texts, tokens = translator.translate(["yo bebo agua."])
    assert tokens.numpy().tolist() == [[word] * 4]
    assert texts.numpy()[0] == b"water water water water"


def test_translate_texts_batches_with_one_trace():
    translator = _translator(max_length=5)
    sources = [source for source, _ in TINY_PAIRS[:7]]
    translations, steps = peer.translate_texts(translator, sources, 3)
    assert len(translations) == 7
    assert len(steps) == 3 and all(1 <= step <= 5 for step in steps)
    assert all(text == text.strip() for text in translations)
    # Batches of 3, 3 and 1 sentences share the one trace.
    assert translator._translate.experimental_get_tracing_count() == 1
    one_by_one = [
        peer.translate_texts(translator, [source])[0][0] for source in sources
    ]
    assert one_by_one == translations


def test_standardized_references_are_in_the_peers_text_form():
    assert peer.standardized_references(["I'm cold.", "¿Qué?"]) == [
        "im cold .",
        "¿ que ?",
    ]
