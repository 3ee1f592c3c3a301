import keras
import numpy as np
import pytest

from bench import captioning as captioning_bench
from bench import captioning_peer as peer

requires_tensorflow = pytest.mark.skipif(
    keras.backend.backend() != "tensorflow",
    reason="the peer is the TensorFlow tutorial (tf.function, tf.data)",
)

# Two captions for each of six images; with padding and <unk> the
# vocabulary has 12 entries.
TINY_CAPTIONS = [
    ("A dog runs.", "The dog sits!"),
    ("A cat sits.", "The cat runs."),
    ("A red ball.", "The red ball."),
    ("A dog, a ball.", "The dog runs."),
    ("A cat.", "The red cat sits."),
    ("Dog runs.", "Cat sits."),
]
TINY_VOCABULARY_SIZE = 12


def _tiny_features(seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(len(TINY_CAPTIONS), 7, 7, 16)).astype("float32")


def _tiny_model(keep_state=False, seed=0):
    keras.utils.set_random_seed(seed)
    model = peer.PeerCaptioner(
        TINY_VOCABULARY_SIZE, keep_state=keep_state, embedding_dim=8, units=16
    )
    model((_tiny_features()[:1], np.ones((1, 1), "int32")))
    model.vocabulary = peer.build_vocabulary(
        [caption for captions in TINY_CAPTIONS for caption in captions]
    )
    return model


@pytest.fixture(scope="module")
def tiny_models():
    """Untrained tiny peers as published and fixed; tests leave them be."""
    if keras.backend.backend() != "tensorflow":
        pytest.skip("the peer is the TensorFlow tutorial")
    return {keep_state: _tiny_model(keep_state) for keep_state in (False, True)}


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _numpy_gru_step(x, h, kernel, recurrent_kernel, bias):
    """One step of Keras' GRU (reset_after=True), gates in z, r, h order."""
    units = h.shape[-1]
    x_gates = x @ kernel + bias[0]
    h_gates = h @ recurrent_kernel + bias[1]
    z = _sigmoid(x_gates[:, :units] + h_gates[:, :units])
    r = _sigmoid(x_gates[:, units : 2 * units] + h_gates[:, units : 2 * units])
    candidate = np.tanh(x_gates[:, 2 * units :] + r * h_gates[:, 2 * units :])
    return z * h + (1.0 - z) * candidate


def test_standardize_caption_as_the_tutorials_tokenizer():
    # Lowercase; the filters (punctuation, hyphen, space) separate words;
    # the apostrophe and the angle brackets of <start>/<end> are kept.
    assert peer.standardize_caption("A dog's T-shirt, red!") == [
        "<start>",
        "a",
        "dog's",
        "t",
        "shirt",
        "red",
        "<end>",
    ]
    assert peer.standardize_caption("  Two  (small) dogs .") == [
        "<start>",
        "two",
        "small",
        "dogs",
        "<end>",
    ]


def test_build_vocabulary_ranks_words_by_count_then_first_appearance():
    captions = ["A dog, running!", "The dog's ball.", "a DOG"]
    # Counts: <start> 3, a 2, dog 2, running 1, <end> 3, the 1, dog's 1,
    # ball 1 (in order of first appearance).
    assert peer.build_vocabulary(captions) == [
        "<pad>",
        "<unk>",
        "<start>",
        "<end>",
        "a",
        "dog",
        "running",
        "the",
        "dog's",
        "ball",
    ]
    top = peer.build_vocabulary(captions, max_words=6)
    assert top == ["<pad>", "<unk>", "<start>", "<end>", "a", "dog"]
    # Words past the top ones become <unk> (1); rows are padded with 0.
    ids = peer.encode_captions(["The dog.", "a dog's ball"], top)
    assert ids.tolist() == [[2, 1, 5, 3, 0], [2, 4, 1, 1, 3]]

    with pytest.raises(ValueError, match="`max_words` must be an integer"):
        peer.build_vocabulary(captions, max_words=2)


def test_tiny_vocabulary_has_twelve_entries():
    vocabulary = peer.build_vocabulary(
        [caption for captions in TINY_CAPTIONS for caption in captions]
    )
    assert len(vocabulary) == TINY_VOCABULARY_SIZE
    assert vocabulary[:4] == ["<pad>", "<unk>", "<start>", "<end>"]


def test_tutorial_loss_averages_each_step_over_the_whole_batch():
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(2, 3, 5)).astype("float32")
    target = np.array([[4, 2, 0], [1, 0, 0]])
    log_probabilities = logits - np.log(
        np.exp(logits).sum(axis=-1, keepdims=True)
    )
    token_losses = -np.take_along_axis(
        log_probabilities, target[..., None], axis=-1
    )[..., 0]
    # Each step: sum over the rows that are not padding, divided by the
    # batch size (2) even where a row is padding.
    expected = sum(
        token_losses[target[:, step] != 0, step].sum() / 2 for step in range(3)
    )
    loss, total_loss = peer.tutorial_loss(target, logits)
    assert float(loss) == pytest.approx(expected, rel=1e-5)
    assert float(total_loss) == pytest.approx(expected / 4, rel=1e-5)


@requires_tensorflow
@pytest.mark.parametrize("keep_state", [False, True])
def test_the_tutorials_gru_ignores_its_previous_state(keep_state, tiny_models):
    decoder = tiny_models[keep_state].decoder
    rng = np.random.default_rng(2)
    inputs = rng.normal(size=(3, 1, 8 + 8)).astype("float32")
    state_a = rng.normal(size=(3, 16)).astype("float32")
    state_b = rng.normal(size=(3, 16)).astype("float32")
    kernel, recurrent_kernel, bias = (
        np.asarray(weight) for weight in decoder.gru.get_weights()
    )

    for state in (state_a, state_b):
        output, new_state = decoder.recur(inputs, state)
        # As published, `self.gru(x)` starts from zeros whatever the state
        # of step t-1; with the fix it starts from that state.
        start = state if keep_state else np.zeros_like(state)
        expected = _numpy_gru_step(
            inputs[:, 0], start, kernel, recurrent_kernel, bias
        )
        np.testing.assert_allclose(output[:, 0], expected, atol=1e-5)
        np.testing.assert_allclose(new_state, expected, atol=1e-5)
    output_a, _ = decoder.recur(inputs, state_a)
    output_b, _ = decoder.recur(inputs, state_b)
    assert np.allclose(output_a, output_b) != keep_state


@requires_tensorflow
@pytest.mark.parametrize("keep_state", [False, True])
def test_as_is_the_state_reaches_the_next_word_only_through_attention(
    keep_state, tiny_models
):
    model = tiny_models[keep_state]
    # Identical regions: every attention distribution gives the same
    # context, so the attention cannot carry the state either.
    uniform = np.broadcast_to(_tiny_features()[:2, :1, :1], (2, 7, 7, 16))
    encoded = model.encode(np.ascontiguousarray(uniform))
    rng = np.random.default_rng(3)
    words = np.array([[4], [5]])
    logits_a, _, _ = model.decoder(
        words, encoded, rng.normal(size=(2, 16)).astype("float32")
    )
    logits_b, _, _ = model.decoder(
        words, encoded, rng.normal(size=(2, 16)).astype("float32")
    )
    assert np.allclose(logits_a, logits_b, atol=1e-5) != keep_state


def _favour(model, word):
    """Makes the output layer always pick `word`."""
    bias = np.zeros(model.decoder.fc2.bias.shape, "float32")
    bias[model.vocabulary.index(word)] = 1e4
    model.decoder.fc2.bias.assign(bias)


@requires_tensorflow
def test_greedy_captions_stop_at_the_end_token_or_the_length_limit():
    model = _tiny_model()
    _favour(model, "<end>")
    captions, at_limit = peer.greedy_captions(model, _tiny_features(), 4)
    assert captions == [""] * len(TINY_CAPTIONS)
    assert at_limit == [False] * len(TINY_CAPTIONS)

    _favour(model, "dog")
    captions, at_limit = peer.greedy_captions(model, _tiny_features(), 3)
    assert captions == ["dog dog dog"] * len(TINY_CAPTIONS)
    assert at_limit == [True] * len(TINY_CAPTIONS)


@requires_tensorflow
@pytest.mark.parametrize("keep_state", [False, True])
def test_greedy_captions_follow_the_teacher_forced_model(
    keep_state, tiny_models
):
    model = tiny_models[keep_state]
    features = _tiny_features(seed=5)
    max_length = 4
    captions, at_limit = peer.greedy_captions(
        model, features, max_length, batch_size=4
    )
    vocabulary = model.vocabulary
    start, end = vocabulary.index("<start>"), vocabulary.index("<end>")
    for row, (caption, limit) in enumerate(
        zip(captions, at_limit, strict=True)
    ):
        words = [vocabulary.index(word) for word in caption.split()]
        assert limit == (len(words) == max_length)
        # Each greedy word is the argmax of the model fed the words before
        # it, and an ending caption's next prediction is <end>.
        inputs = np.array([[start, *words]])
        logits = model((features[row : row + 1], inputs))
        predicted = np.argmax(np.asarray(logits)[0], axis=-1).tolist()
        expected = words if limit else [*words, end]
        assert predicted[: len(expected)] == expected


@requires_tensorflow
def test_a_few_training_steps_lower_the_loss():
    captions = [caption for pair in TINY_CAPTIONS for caption in pair]
    model, speed = peer.train_peer(
        _tiny_features(),
        TINY_CAPTIONS,
        minutes=10,
        keep_state=True,
        batch_size=len(captions),
        embedding_dim=8,
        units=16,
        max_steps=60,
    )
    assert model.keep_state
    assert len(model.vocabulary) == TINY_VOCABULARY_SIZE
    # <start> a dog a ball <end> (the comma is a separator).
    assert model.max_length == 6
    assert (model.steps, model.train_captions) == (60, 60 * len(captions))
    assert speed == pytest.approx(model.train_captions / model.train_seconds)

    # Every batch holds all the captions, so the first step's loss (taken
    # before its update) is the untrained model's loss on all of them.
    ids = peer.encode_captions(captions, model.vocabulary)
    features = np.repeat(_tiny_features(), 2, axis=0)
    logits = model((features, ids[:, :-1]))
    _, trained_loss = peer.tutorial_loss(ids[:, 1:], logits)
    assert float(trained_loss) < 0.85 * model.first_loss
    assert model.last_loss < model.first_loss


@requires_tensorflow
def test_training_finishes_the_step_in_progress_at_the_deadline():
    ticks = iter(range(100))
    steps = []

    def train_step(features, caption_ids):
        steps.append((features.shape, caption_ids.shape))
        return 0.0, 10.0 - len(steps)

    rows = np.arange(6).reshape(3, 2)
    batches = [(rows[step % 3], np.ones((2, 4), "int32")) for step in range(9)]
    record = peer._train_for(
        train_step,
        batches,
        _tiny_features().reshape(6, 49, 16),
        seconds=2.5,
        clock=lambda: next(ticks),
    )
    # The clock reads 0 at the start and 1, 2, 3 after each step: the
    # third step ends past 2.5 seconds, and is the last.
    assert steps == [((2, 49, 16), (2, 4))] * 3
    assert record == {
        "captions": 6,
        "steps": 3,
        "seconds": 3,
        "first_loss": 9.0,
        "last_loss": 7.0,
    }
    limited = peer._train_for(
        train_step, batches, np.zeros((6, 1, 1)), seconds=1e9, max_steps=4
    )
    assert (limited["steps"], limited["captions"]) == (4, 8)


def _scores(bleu4, length_limit_share):
    return {
        "bleu1": 60.0,
        "bleu2": 40.0,
        "bleu3": 25.0,
        "bleu4": bleu4,
        "cider": 0.45,
        "length_limit_share": length_limit_share,
        "captions_per_second": 100.0,
        "num_images": 238,
    }


def _fabricated_results():
    return {
        "variants": {
            "soft": {
                "greedy": _scores(15.0, 0.0),
                "beam3": _scores(16.25, 0.0),
                "train_pairs_per_second": 300.0,
            },
            "hard": {
                "greedy": _scores(11.0, 0.01),
                "beam3": _scores(12.9, 0.0),
                "train_pairs_per_second": 200.0,
            },
            "edge": {
                "greedy": _scores(12.0, 0.0),
                "beam3": _scores(13.0, 0.0),
                "train_pairs_per_second": 240.0,
            },
        },
        "peers": {
            "tutorial": {
                "greedy": _scores(4.5, 99 / 238),
                "train_pairs_per_second": 120.0,
            },
            "tutorial-keep-state": {
                "greedy": _scores(10.1, 0.0),
                "train_pairs_per_second": 118.0,
            },
        },
    }


def test_table_has_one_row_per_model_and_decoding():
    table = captioning_bench.format_table(_fabricated_results()).splitlines()
    assert len(table) == 2 + 3 * 2 + 2
    assert table[2] == (
        "| soft | greedy | 60.0 | 40.0 | 25.0 | 15.0 | 0.450 | 0.0% "
        "| 300.0 | 2.50 |"
    )
    assert table[3].startswith("| soft | beam 3 | 60.0 | 40.0 | 25.0 | 16.2 ")
    assert table[4].endswith("| 1.0% | 200.0 | 1.67 |")
    assert table[8] == (
        "| peer: tutorial | greedy | 60.0 | 40.0 | 25.0 | 4.5 | 0.450 "
        "| 41.6% | 120.0 | 1.00 |"
    )
    assert table[9].endswith("| 118.0 | 0.98 |")


def test_targets_pass_or_fail_per_variant():
    targets = captioning_bench.format_targets(_fabricated_results())
    assert targets.splitlines() == [
        "- soft: beam-3 BLEU-4 16.2 >= 13: PASS",
        "- soft: no caption at the length limit (greedy 0.0%, beam 3 0.0%): "
        "PASS",
        "- soft: training captions/s 2.50x the tutorial peer's >= 2x: PASS",
        "- hard: beam-3 BLEU-4 12.9 >= 13: FAIL",
        "- hard: no caption at the length limit (greedy 1.0%, beam 3 0.0%): "
        "FAIL",
        "- hard: training captions/s 1.67x the tutorial peer's >= 2x: FAIL",
        "- edge: beam-3 BLEU-4 13.0 >= 13: PASS",
        "- edge: no caption at the length limit (greedy 0.0%, beam 3 0.0%): "
        "PASS",
        "- edge: training captions/s 2.00x the tutorial peer's >= 2x: PASS",
    ]


def test_without_the_tutorial_peer_the_speed_target_is_not_judged():
    results = _fabricated_results()
    del results["peers"]["tutorial"]
    table = captioning_bench.format_table(results).splitlines()
    assert table[2].endswith("| 300.0 |  |")
    targets = captioning_bench.format_targets(results).splitlines()
    assert targets[2] == (
        "- soft: training captions/s the tutorial peer's >= 2x: "
        "n/a (the tutorial peer was not run)"
    )


def test_arguments():
    args = captioning_bench._parse_args(
        ["--minutes", "0.5", "--variants", "soft", "--peers", ""]
    )
    assert (args.minutes, args.variants, args.peers) == (0.5, ["soft"], [])
    defaults = captioning_bench._parse_args([])
    assert defaults.variants == ["soft", "hard"]
    assert defaults.peers == ["tutorial", "tutorial-keep-state"]
    with pytest.raises(SystemExit):
        captioning_bench._parse_args(["--peers", "tutorial,nmt"])


def test_benchmark_data_is_the_official_flickr8k_lists(shared_data):
    folder = shared_data / "flickr8k"
    if not (folder / captioning_bench.FEATURES_FILE).is_file():
        pytest.skip(f"no {captioning_bench.FEATURES_FILE} in {folder}")
    with pytest.warns(UserWarning, match="absent from"):
        data = captioning_bench.load_benchmark_data(folder)
    assert len(data["train"]) == 753
    assert len(data["report"]) == 113 + 125 == 238
    images = data["train"] + data["report"]
    assert all(len(image.captions) == 5 for image in images)
    assert len({image.image for image in images}) == 753 + 238
    assert all(image.image in data["features"] for image in images)
    assert data["features"].features.shape[1:] == (7, 7, 1280)
