import json

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")
pytest.importorskip("tensorflow_text")

from zoo.text import word_vocabulary  # noqa: E402
from zoo.text.word_vocabulary import WordVocabulary  # noqa: E402

# A hand-made vocabulary: every id below is worked out by hand from it.
WORDS = [
    "<pad>",  # 0
    "<start>",  # 1
    "<end>",  # 2
    "<unk>",  # 3
    "the",  # 4
    "mayor",  # 5
    "said",  # 6
    ".",  # 7
]
V = len(WORDS)
DOCUMENTS = [
    # the mayor oskar said oskar trelli .: oskar is OOV 0 twice, trelli 1.
    "The mayor Oskar said Oskar Trelli.",
    # OOV words are numbered per document: trelli is OOV 0 here.
    "Trelli said",
    "",
]


def strings(tensor):
    return [[item.decode("utf-8") for item in row] for row in tensor.numpy()]


@pytest.fixture(scope="module")
def vocabulary():
    return WordVocabulary(WORDS)


def test_special_token_ids():
    assert word_vocabulary.SPECIAL_TOKENS == (
        "<pad>",
        "<start>",
        "<end>",
        "<unk>",
    )
    assert (
        word_vocabulary.PAD_ID,
        word_vocabulary.START_ID,
        word_vocabulary.END_ID,
        word_vocabulary.UNKNOWN_ID,
    ) == (0, 1, 2, 3)


@pytest.mark.parametrize(
    "lowercase, split_punctuation, expected",
    [
        (
            True,
            True,
            ["hello", ",", "anna", ".", "it", "'", "s", "4", ".", "5", "%"],
        ),
        (True, False, ["hello,", "anna.", "it's", "4.5%"]),
        (
            False,
            True,
            ["Hello", ",", "Anna", ".", "It", "'", "s", "4", ".", "5", "%"],
        ),
        (False, False, ["Hello,", "Anna.", "It's", "4.5%"]),
    ],
)
def test_tokenization_options(lowercase, split_punctuation, expected):
    vocabulary = WordVocabulary(
        WORDS, lowercase=lowercase, split_punctuation=split_punctuation
    )
    tokens = vocabulary.tokenize(["Hello, Anna.\n It's\t4.5%", ""])
    assert isinstance(tokens, tf.RaggedTensor)
    assert tokens.to_list() == [[t.encode() for t in expected], []]


def test_tokenization_unicode_letters_and_spaces(vocabulary):
    # No-break space, zero-width space and a newline separate words;
    # accented letters and combining marks stay inside words.
    text = "ÉCOLE\u00a0Über\u200bnaïve\u0301 ¿qué?\nx"
    tokens = [t.decode() for t in vocabulary.tokenize(text).numpy()]
    assert tokens == ["école", "über", "naïve\u0301", "¿", "qué", "?", "x"]


def test_build_orders_by_frequency_then_alphabetically():
    texts = ["b a c", "c, b", "d b a c", "e"]
    # b: 3, c: 3, a: 2, ",": 1, d: 1, e: 1.
    built = WordVocabulary.build(texts)
    assert built.words == WORDS[:4] + ["b", "c", "a", ",", "d", "e"]
    assert built.size == 10
    assert WordVocabulary.build(texts[::-1]).words == built.words
    assert WordVocabulary.build(texts, min_count=2).words[4:] == [
        "b",
        "c",
        "a",
    ]
    assert WordVocabulary.build(texts, max_size=6).words[4:] == ["b", "c"]
    unsplit = WordVocabulary.build(texts, split_punctuation=False)
    assert "c," in unsplit.words and "," not in unsplit.words


def test_build_counts_lowercased_words_and_skips_special_strings():
    built = WordVocabulary.build(
        ["Mayor mayor <unk> <end>", "MAYOR"], split_punctuation=False
    )
    assert built.words == WORDS[:4] + ["mayor"]
    kept_case = WordVocabulary.build(["Mayor mayor"], lowercase=False)
    assert kept_case.words[4:] == ["Mayor", "mayor"]


def test_encode_sources_extended_ids(vocabulary):
    encoded = vocabulary.encode_sources(DOCUMENTS, max_length=8)
    assert encoded["source_ids"].dtype == tf.int32
    assert encoded["source_ids"].numpy().tolist() == [
        [4, 5, 3, 6, 3, 3, 7, 0],
        [3, 6, 0, 0, 0, 0, 0, 0],
        [0] * 8,
    ]
    # oskar -> V + 0 both times, trelli -> V + 1; per document.
    assert encoded["extended_ids"].numpy().tolist() == [
        [4, 5, V, 6, V, V + 1, 7, 0],
        [V, 6, 0, 0, 0, 0, 0, 0],
        [0] * 8,
    ]
    assert strings(encoded["oov_words"]) == [
        ["oskar", "trelli"] + [""] * 6,
        ["trelli"] + [""] * 7,
        [""] * 8,
    ]
    assert encoded["source_length"].dtype == tf.int32
    assert encoded["source_length"].numpy().tolist() == [7, 2, 0]
    assert encoded["truncated"].numpy().tolist() == [False, False, False]


def test_encode_sources_truncation_keeps_first_tokens(vocabulary):
    encoded = vocabulary.encode_sources(DOCUMENTS[:2], max_length=4)
    assert encoded["extended_ids"].numpy().tolist() == [
        [4, 5, V, 6],
        [V, 6, 0, 0],
    ]
    # trelli came after the cut: it is no OOV word of the document.
    assert strings(encoded["oov_words"]) == [
        ["oskar", "", "", ""],
        ["trelli", "", "", ""],
    ]
    assert encoded["source_length"].numpy().tolist() == [4, 2]
    assert encoded["truncated"].numpy().tolist() == [True, False]


def test_special_strings_in_text_are_oov_words():
    vocabulary = WordVocabulary(WORDS, split_punctuation=False)
    encoded = vocabulary.encode_sources(["<unk> <end> mayor <pad>"], 4)
    assert encoded["source_ids"].numpy().tolist() == [[3, 3, 5, 3]]
    assert encoded["extended_ids"].numpy().tolist() == [[V, V + 1, 5, V + 2]]


def test_encode_targets_copied_and_uncopyable_oov(vocabulary):
    sources = vocabulary.encode_sources(DOCUMENTS[:2], max_length=8)
    # bob is in neither source: <unk> in targets too.
    targets = vocabulary.encode_targets(
        ["Oskar Trelli said Bob.", "Oskar said trelli"],
        sources["oov_words"],
        max_length=6,
    )
    assert targets["decoder_inputs"].dtype == tf.int32
    assert targets["decoder_inputs"].numpy().tolist() == [
        [1, 3, 3, 6, 3, 7, 0],
        [1, 3, 6, 3, 0, 0, 0],
    ]
    assert targets["targets"].numpy().tolist() == [
        [V, V + 1, 6, 3, 7, 2, 0],
        [3, 6, V, 2, 0, 0, 0],
    ]
    assert targets["truncated"].numpy().tolist() == [False, False]


def test_encode_targets_truncation_keeps_end_token(vocabulary):
    sources = vocabulary.encode_sources(DOCUMENTS[:1], max_length=8)
    targets = vocabulary.encode_targets(
        ["Oskar Trelli said Bob.", "the mayor"],
        tf.concat([sources["oov_words"]] * 2, axis=0),
        max_length=3,
    )
    assert targets["decoder_inputs"].numpy().tolist() == [
        [1, 3, 3, 6],
        [1, 4, 5, 0],
    ]
    assert targets["targets"].numpy().tolist() == [
        [V, V + 1, 6, 2],
        [4, 5, 2, 0],
    ]
    assert targets["truncated"].numpy().tolist() == [True, False]


def test_encode_targets_without_oov_words_and_with_gaps(vocabulary):
    # No OOV word at all (an empty document), no column, or an entry after
    # empty ones: the index in `oov_words` is what counts.
    for oov_words, expected in [
        ([["", ""]], [3, 4, 2, 0]),
        (tf.zeros([1, 0], tf.string), [3, 4, 2, 0]),
        ([["", "bob"]], [V + 1, 4, 2, 0]),
    ]:
        targets = vocabulary.encode_targets(["Bob the"], oov_words, 3)
        assert targets["targets"].numpy().tolist() == [expected]
    empty = vocabulary.encode_targets(
        tf.zeros([0], tf.string), tf.zeros([0, 3], tf.string), 3
    )
    assert empty["targets"].shape == (0, 4)


def test_decode_maps_extended_ids_back(vocabulary):
    oov_words = np.array([[b"oskar", b"trelli", b""], [b"anna", b"", b""]])
    ids = [[1, V + 1, 6, V, 3, 2, 5], [V, 5, 0, 6, 6, 6, 6]]
    assert vocabulary.decode(ids, oov_words) == [
        "trelli said oskar <unk>",
        "anna mayor",
    ]
    tokens, copied = vocabulary.decode_tokens(ids, oov_words)
    assert tokens == [["trelli", "said", "oskar", "<unk>"], ["anna", "mayor"]]
    assert copied == [[True, False, True, False], [True, False]]
    assert vocabulary.decode([V + 1, 7], ["x", "y"]) == "y ."
    assert vocabulary.decode_tokens(np.array([4, 5, 2, 4])) == (
        ["the", "mayor"],
        [False, False],
    )
    with pytest.raises(ValueError, match="extended id 10"):
        vocabulary.decode([V + 2], ["x", "y", ""])
    with pytest.raises(ValueError, match="extended id 8"):
        vocabulary.decode([V])
    with pytest.raises(ValueError, match=">= 0"):
        vocabulary.decode([-1])


def test_encode_then_decode_round_trip(vocabulary):
    sources = vocabulary.encode_sources(DOCUMENTS[:1], max_length=8)
    targets = vocabulary.encode_targets(
        ["Trelli said Oskar."], sources["oov_words"], max_length=5
    )
    assert vocabulary.decode(targets["targets"], sources["oov_words"]) == [
        "trelli said oskar ."
    ]


def test_scalar_inputs_drop_the_batch_axis(vocabulary):
    source = vocabulary.encode_sources("Trelli said", max_length=3)
    assert source["extended_ids"].numpy().tolist() == [V, 6, 0]
    assert source["source_length"].numpy() == 2
    target = vocabulary.encode_targets(
        "said Trelli", source["oov_words"], max_length=2
    )
    assert target["targets"].numpy().tolist() == [6, V, 2]
    assert vocabulary.tokenize("The end").numpy().tolist() == [b"the", b"end"]


def test_works_in_tf_data_map_and_tf_function(vocabulary):
    eager = vocabulary.encode_sources(DOCUMENTS, max_length=8)
    dataset = (
        tf.data.Dataset.from_tensor_slices(DOCUMENTS)
        .map(lambda text: vocabulary.encode_sources(text, max_length=8))
        .batch(3)
    )
    batch = next(iter(dataset))
    for key, value in eager.items():
        np.testing.assert_array_equal(batch[key].numpy(), value.numpy())

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
    def encode(texts):
        sources = vocabulary.encode_sources(texts, max_length=8)
        targets = vocabulary.encode_targets(
            texts, sources["oov_words"], max_length=4
        )
        return sources["extended_ids"], targets["targets"]

    extended_ids, targets = encode(tf.constant(DOCUMENTS))
    np.testing.assert_array_equal(extended_ids, eager["extended_ids"])
    assert targets.numpy().tolist()[1] == [V, 6, 2, 0, 0]


def test_saved_model_signature_over_strings(vocabulary, tmp_path):
    module = tf.Module()
    module.vocabulary = vocabulary
    module.encode = tf.function(
        lambda texts: vocabulary.encode_sources(texts, max_length=8),
        input_signature=[tf.TensorSpec([None], tf.string)],
    )
    tf.saved_model.save(module, str(tmp_path / "saved"))
    del module
    loaded = tf.saved_model.load(str(tmp_path / "saved"))
    encoded = loaded.encode(tf.constant(DOCUMENTS[:2]))
    assert encoded["extended_ids"].numpy().tolist()[0] == [
        4,
        5,
        V,
        6,
        V,
        V + 1,
        7,
        0,
    ]


def test_config_round_trip_through_json():
    vocabulary = WordVocabulary(
        WORDS + ["oskar"], lowercase=False, split_punctuation=False
    )
    config = json.loads(json.dumps(vocabulary.get_config()))
    assert config == {
        "words": WORDS + ["oskar"],
        "lowercase": False,
        "split_punctuation": False,
    }
    restored = WordVocabulary.from_config(config)
    assert restored.words == vocabulary.words
    assert restored.tokenize("Oskar, said").numpy().tolist() == [
        b"Oskar,",
        b"said",
    ]
    assert restored.encode_sources(["oskar Oskar"], 2)[
        "extended_ids"
    ].numpy().tolist() == [[8, 9]]


@pytest.mark.parametrize(
    "words, message",
    [
        (["<pad>", "<start>", "<unk>", "<end>"], "must start with"),
        (WORDS + ["the"], r"duplicates: \['the'\]"),
        (WORDS + [""], "non-empty strings"),
        (WORDS + [3], "non-empty strings"),
    ],
)
def test_constructor_rejects_bad_words(words, message):
    with pytest.raises(ValueError, match=message):
        WordVocabulary(words)


def test_bad_arguments(vocabulary):
    with pytest.raises(ValueError, match=r"`max_length`.*max_length=0"):
        vocabulary.encode_sources(["a"], 0)
    with pytest.raises(ValueError, match="`max_length`"):
        vocabulary.encode_targets(["a"], [["a"]], 2.0)
    with pytest.raises(ValueError, match=r"`oov_words`.*\[batch, num_oov\]"):
        vocabulary.encode_targets(["a"], ["a"], 2)
    with pytest.raises(ValueError, match=r"`texts`.*Received shape"):
        vocabulary.tokenize([["a"]])
    with pytest.raises(ValueError, match=r"`min_count`.*min_count=0"):
        WordVocabulary.build(["a"], min_count=0)
    with pytest.raises(ValueError, match=r"`max_size`.*max_size=3"):
        WordVocabulary.build(["a"], max_size=3)
    with pytest.raises(ValueError, match="not one string"):
        WordVocabulary.build("a b")
