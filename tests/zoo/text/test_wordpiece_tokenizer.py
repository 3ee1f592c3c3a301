import unicodedata
import warnings

import keras
import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")
pytest.importorskip("tensorflow_text")

from zoo.text.wordpiece_tokenizer import WordPieceTokenizer  # noqa: E402

# A hand-made vocabulary: ids below are worked out by hand from it.
HAND_VOCABULARY = [
    "[PAD]",  # 0
    "[UNK]",  # 1
    "[START]",  # 2
    "[END]",  # 3
    "¿",  # 4
    "?",  # 5
    "¡",  # 6
    "!",  # 7
    ",",  # 8
    ".",  # 9
    "dónde",  # 10
    "está",  # 11
    "la",  # 12
    "estaci",  # 13
    "##ón",  # 14
    "qué",  # 15
    "esté",  # 16
    "don",  # 17
    "'",  # 18
    "t",  # 19
    "3",  # 20
    "5",  # 21
    "-",  # 22
    "2018",  # 23
    "05",  # 24
    "09",  # 25
    "fi",  # 26
    "##n",  # 27
]

SPANISH = [
    "¿Dónde está la estación de tren?",
    "¡Qué bonito es el pingüino!",
    "El señor Muñoz no está en casa.",
    "¿Cuántos años tienes, Ñoño?",
    "Ella comió paella, y él bebió café.",
    "¡Cállate! No quiero oír más.",
    "La niña está leyendo un libro en el jardín.",
    "¿Por qué no vienes mañana a las diez?",
] * 3


@pytest.fixture(scope="module")
def hand_tokenizer():
    return WordPieceTokenizer(HAND_VOCABULARY)


@pytest.fixture(scope="module")
def spanish_tokenizer():
    return WordPieceTokenizer.from_texts(SPANISH, vocabulary_size=400)


def test_hand_vocabulary_ids(hand_tokenizer):
    ids = hand_tokenizer.tokenize(["¿Dónde está la estación?", "¡Qué fin!"])
    assert ids.to_list() == [[4, 10, 11, 12, 13, 14, 5], [6, 15, 26, 27, 7]]
    # A word that cannot be built from the vocabulary is one [UNK].
    assert hand_tokenizer.tokenize("xyz está").numpy().tolist() == [1, 11]


def test_unicode_normalization_and_case(hand_tokenizer):
    # "e" + combining acute accent is composed by NFKC into "é".
    decomposed = "este\u0301"
    assert hand_tokenizer.tokenize(decomposed).numpy().tolist() == [16]
    # NFKC turns the "ﬁ" ligature into "fi".
    assert hand_tokenizer.tokenize("\ufb01n").numpy().tolist() == [26, 27]
    cased = WordPieceTokenizer(HAND_VOCABULARY, lowercase=False)
    assert cased.tokenize("Dónde dónde").numpy().tolist() == [1, 10]
    no_normalization = WordPieceTokenizer(
        HAND_VOCABULARY, normalization_form=None
    )
    assert no_normalization.tokenize(decomposed).numpy().tolist() == [1]


def test_call_pads_and_frames(hand_tokenizer):
    ids = hand_tokenizer(
        ["¿Dónde está?", "la estación"],
        sequence_length=7,
        add_start=True,
        add_end=True,
    )
    assert ids.dtype == tf.int32
    np.testing.assert_array_equal(
        ids.numpy(),
        [[2, 4, 10, 11, 5, 3, 0], [2, 12, 13, 14, 3, 0, 0]],
    )
    unpadded = hand_tokenizer(["¿Dónde está?", "la"])
    np.testing.assert_array_equal(
        unpadded.numpy(), [[4, 10, 11, 5], [12, 0, 0, 0]]
    )
    column = hand_tokenizer(tf.constant([["la"], ["está"]]), sequence_length=2)
    np.testing.assert_array_equal(column.numpy(), [[12, 0], [11, 0]])
    scalar = hand_tokenizer("la está", sequence_length=3, add_end=True)
    np.testing.assert_array_equal(scalar.numpy(), [12, 11, 3])


def test_empty_strings(hand_tokenizer):
    assert hand_tokenizer([""]).shape == (1, 0)
    ids = hand_tokenizer(
        ["", "la"], sequence_length=4, add_start=True, add_end=True
    )
    np.testing.assert_array_equal(ids.numpy(), [[2, 3, 0, 0], [2, 12, 3, 0]])
    assert [s.decode() for s in hand_tokenizer.detokenize(ids).numpy()] == [
        "",
        "la",
    ]


def test_over_long_input_is_truncated_and_warns_once():
    tokenizer = WordPieceTokenizer(HAND_VOCABULARY)
    text = "¿Dónde está la estación?"  # 7 tokens
    with pytest.warns(UserWarning, match="7 tokens was truncated to 3"):
        ids = tokenizer([text], sequence_length=5, add_start=True, add_end=True)
    np.testing.assert_array_equal(ids.numpy(), [[2, 4, 10, 11, 3]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        again = tokenizer([text], sequence_length=4)
    np.testing.assert_array_equal(again.numpy(), [[4, 10, 11, 12]])


def test_truncation_warns_inside_tf_data():
    tokenizer = WordPieceTokenizer(HAND_VOCABULARY)
    dataset = tf.data.Dataset.from_tensor_slices(
        ["la", "¿Dónde está la estación?"]
    ).batch(2)
    dataset = dataset.map(lambda x: tokenizer(x, sequence_length=3))
    with pytest.warns(UserWarning, match="truncated to 3"):
        batches = [batch.numpy() for batch in dataset]
    np.testing.assert_array_equal(batches[0], [[12, 0, 0], [4, 10, 11]])


def test_detokenize_drops_special_tokens_and_stops_at_end(hand_tokenizer):
    ids = [[2, 4, 10, 11, 5, 3, 12, 0], [2, 12, 13, 14, 0, 0, 0, 0]]
    expected = ["¿dónde está?", "la estación"]
    for form in (ids, np.array(ids), tf.constant(ids, dtype=tf.int64)):
        text = hand_tokenizer.detokenize(form).numpy()
        assert [s.decode() for s in text] == expected
    ragged = tf.ragged.constant([[10, 11], [12, 1, 7]])
    assert [s.decode() for s in hand_tokenizer.detokenize(ragged).numpy()] == [
        "dónde está",
        "la [UNK]!",
    ]
    scalar = hand_tokenizer.detokenize(keras.ops.convert_to_tensor([6, 15, 7]))
    assert scalar.numpy().decode() == "¡qué!"


def token_texts(text, starts, ends):
    return [text[start:end] for start, end in zip(starts, ends, strict=True)]


def test_tokenize_with_offsets_gives_spans_of_the_input(hand_tokenizer):
    texts = ["¿Dónde está la estación?", "LA\u200bestá", "", "la İ"]
    ids, starts, ends = hand_tokenizer.tokenize_with_offsets(texts)
    assert ids == hand_tokenizer.tokenize(texts).to_list()
    spans = [token_texts(*row) for row in zip(texts, starts, ends, strict=True)]
    assert spans == [
        ["¿", "Dónde", "está", "la", "estaci", "ón", "?"],
        # A zero-width space (a format character) separates words.
        ["LA", "está"],
        [],
        # Lowercasing "İ" gives two characters; its [UNK] spans the one.
        ["la", "İ"],
    ]
    # NFKC changes lengths: the spans are still those of the input. The
    # ligature "ﬁ" is one character of the input for the token "fi".
    for text, expected_ids, expected_texts in [
        ("\ufb01n", [26, 27], ["\ufb01", "n"]),
        ("este\u0301 la", [16, 12], ["este\u0301", "la"]),
    ]:
        ids, starts, ends = hand_tokenizer.tokenize_with_offsets(text)
        assert ids == expected_ids
        assert token_texts(text, starts, ends) == expected_texts


def test_tokenize_with_offsets_agrees_with_tokenize(spanish_tokenizer):
    texts = [*SPANISH[:8], "Ça suffit\u202f! ＡＢＣ ｶ ½"]
    ids, starts, ends = spanish_tokenizer.tokenize_with_offsets(texts)
    assert ids == spanish_tokenizer.tokenize(texts).to_list()
    for text, row_ids, row_starts, row_ends in zip(
        texts, ids, starts, ends, strict=True
    ):
        pieces = token_texts(text, row_starts, row_ends)
        for token_id, piece in zip(row_ids, pieces, strict=True):
            if token_id == spanish_tokenizer.unk_id:
                continue
            token = spanish_tokenizer.id_to_token(token_id).removeprefix("##")
            assert unicodedata.normalize("NFKC", piece).lower() == token


def test_detokenize_with_offsets_locates_every_token(hand_tokenizer):
    ids = [
        [2, 4, 10, 11, 5, 3, 12, 0],
        [12, 13, 14, 0, 0, 0, 0, 0],
        [23, 22, 24, 22, 25, 3, 0, 0],
    ]
    texts, spans = hand_tokenizer.detokenize_with_offsets(np.array(ids))
    assert texts == [s.decode() for s in hand_tokenizer.detokenize(ids).numpy()]
    assert texts == ["¿dónde está?", "la estación", "2018-05-09"]
    assert spans == [
        [None, (0, 1), (1, 6), (7, 11), (11, 12), None, None, None],
        [(0, 2), (3, 9), (9, 11), None, None, None, None, None],
        [(0, 4), (4, 5), (5, 7), (7, 8), (8, 10), None, None, None],
    ]
    text, row = hand_tokenizer.detokenize_with_offsets([17, 18, 19, 1])
    assert (text, row) == ("don't [UNK]", [(0, 3), (3, 4), (4, 5), (6, 11)])


def test_detokenize_restores_standard_spacing():
    # Input text -> what detokenize(tokenize(text)) must give back.
    cases = {
        "Don't you know it's 3.5 o'clock?": "don't you know it's 3.5 o'clock?",
        "Call at 5 p.m. in the U.S.S.R.": "call at 5 p.m. in the u.s.s.r.",
        "Born 2018-05-09, on 09/05/2018 at 10:30.": (
            "born 2018-05-09, on 09/05/2018 at 10:30."
        ),
        "It costs $1,000 (not 7, 10 or 16)!": (
            "it costs $1,000 (not 7, 10 or 16)!"
        ),
        "A well-known port-a-potty.": "a well-known port-a-potty.",
        'He said "hello there" to me.': 'he said "hello there" to me.',
        "Ein „Obst- und Gemüsehändler“ hier.": (
            "ein „obst- und gemüsehändler“ hier."
        ),
        "¡Hola! ¿Qué tal, señor?": "¡hola! ¿qué tal, señor?",
        "It’s the teachers' room, a 10-minute walk.": (
            "it’s the teachers' room, a 10-minute walk."
        ),
        "Pagué 200 $ o $5.": "pagué 200 $ o $5.",
    }
    tokenizer = WordPieceTokenizer.from_texts(list(cases), vocabulary_size=300)
    ids = tokenizer.tokenize(list(cases))
    decoded = [s.decode() for s in tokenizer.detokenize(ids).numpy()]
    assert decoded == list(cases.values())


def test_learned_vocabulary_has_reserved_tokens_and_all_characters(
    spanish_tokenizer,
):
    vocabulary = spanish_tokenizer.get_vocabulary()
    assert vocabulary[:4] == ["[PAD]", "[UNK]", "[START]", "[END]"]
    assert (
        spanish_tokenizer.pad_id,
        spanish_tokenizer.unk_id,
        spanish_tokenizer.start_id,
        spanish_tokenizer.end_id,
    ) == (0, 1, 2, 3)
    assert spanish_tokenizer.vocabulary_size == len(vocabulary) <= 400
    characters = {
        character
        for text in SPANISH
        for character in unicodedata.normalize("NFKC", text).lower()
        if not character.isspace()
    }
    assert characters <= set(vocabulary)
    assert {"¿", "¡", "ñ", "ü"} <= set(vocabulary)
    assert spanish_tokenizer.id_to_token(2) == "[START]"
    assert spanish_tokenizer.token_to_id("[END]") == 3


def test_spanish_round_trip_gives_normalized_text(spanish_tokenizer):
    texts = [
        "¿Dónde está la estación de tren?",
        "¡Qué bonito es el pingüino!",
        "El señor Muñoz no está en casa.",
        "¿Cuántos años tienes, Ñoño?",
        "Ella comió paella, y él bebió café.",
    ]
    expected = [
        "¿dónde está la estación de tren?",
        "¡qué bonito es el pingüino!",
        "el señor muñoz no está en casa.",
        "¿cuántos años tienes, ñoño?",
        "ella comió paella, y él bebió café.",
    ]
    ids = spanish_tokenizer(texts, add_start=True, add_end=True)
    assert not np.any(ids.numpy() == spanish_tokenizer.unk_id)
    decoded = [s.decode() for s in spanish_tokenizer.detokenize(ids).numpy()]
    assert decoded == expected


def test_config_round_trip_gives_identical_ids(spanish_tokenizer):
    config = spanish_tokenizer.get_config()
    assert config["vocabulary"] == spanish_tokenizer.get_vocabulary()
    restored = keras.saving.deserialize_keras_object(
        keras.saving.serialize_keras_object(spanish_tokenizer)
    )
    assert isinstance(restored, WordPieceTokenizer)
    np.testing.assert_array_equal(
        restored(SPANISH, sequence_length=48).numpy(),
        spanish_tokenizer(SPANISH, sequence_length=48).numpy(),
    )


def test_vocabulary_file_round_trip(spanish_tokenizer, tmp_path):
    path = tmp_path / "vocabulary.txt"
    spanish_tokenizer.save_vocabulary(path)
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines == spanish_tokenizer.get_vocabulary()
    restored = WordPieceTokenizer(str(path))
    assert restored.get_vocabulary() == spanish_tokenizer.get_vocabulary()
    with pytest.raises(FileNotFoundError, match="missing.txt"):
        WordPieceTokenizer(tmp_path / "missing.txt")


def test_keras_model_file_restores_tokenizer(spanish_tokenizer, tmp_path):
    if keras.backend.backend() != "tensorflow":
        pytest.skip("string inputs of a Keras model need the TF backend")
    inputs = keras.Input(shape=(), dtype="string")
    layer = WordPieceTokenizer(
        spanish_tokenizer.get_vocabulary(), sequence_length=48, add_start=True
    )
    model = keras.Model(inputs, layer(inputs))
    path = tmp_path / "tokenizer.keras"
    model.save(path)
    restored = keras.models.load_model(path)
    strings = tf.constant(SPANISH[:4])
    np.testing.assert_array_equal(
        restored(strings).numpy(), model(strings).numpy()
    )
    assert restored.layers[-1].get_vocabulary() == layer.get_vocabulary()


@pytest.mark.filterwarnings("ignore:.*truncated:UserWarning")
def test_in_tf_data_on_any_backend(spanish_tokenizer):
    dataset = tf.data.Dataset.from_tensor_slices(SPANISH).batch(4)
    dataset = dataset.map(
        lambda x: spanish_tokenizer(x, sequence_length=10, add_end=True)
    )
    batches = np.concatenate([batch.numpy() for batch in dataset])
    np.testing.assert_array_equal(
        batches, spanish_tokenizer(SPANISH, sequence_length=10, add_end=True)
    )


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"vocabulary": ["a", "b"]}, "must start with the reserved"),
        ({"vocabulary": HAND_VOCABULARY + ["la"]}, "must not repeat"),
        (
            {"vocabulary": HAND_VOCABULARY, "normalization_form": "NFX"},
            "normalization_form",
        ),
        (
            {"vocabulary": HAND_VOCABULARY, "sequence_length": 0},
            "sequence_length",
        ),
    ],
)
def test_bad_constructor_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        WordPieceTokenizer(**kwargs)


def test_bad_call_arguments(hand_tokenizer):
    with pytest.raises(ValueError, match="leave room"):
        hand_tokenizer(["la"], sequence_length=1, add_start=True, add_end=True)
    with pytest.raises(ValueError, match="Received shape"):
        hand_tokenizer(tf.constant([["a", "b"]]))
    with pytest.raises(ValueError, match="token_id"):
        hand_tokenizer.id_to_token(len(HAND_VOCABULARY))
    with pytest.raises(ValueError, match="vocabulary_size"):
        WordPieceTokenizer.from_texts(["a b"], vocabulary_size=4)
    with pytest.raises(ValueError, match="non-blank"):
        WordPieceTokenizer.from_texts(["", "  "], vocabulary_size=50)
