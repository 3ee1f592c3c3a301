import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")
pytest.importorskip("tensorflow_text")

from zoo.data import load_dates  # noqa: E402
from zoo.text import WordPieceTokenizer  # noqa: E402
from zoo.text import make_translation_dataset  # noqa: E402
from zoo.text import tokenize_to_numpy  # noqa: E402

RESERVED = ["[PAD]", "[UNK]", "[START]", "[END]"]
# Source ids: hola=4, mundo=5, adiós=6, "!"=7.
SOURCE_VOCABULARY = RESERVED + ["hola", "mundo", "adiós", "!"]
# Target ids: hello=4, world=5, goodbye=6, "!"=7.
TARGET_VOCABULARY = RESERVED + ["hello", "world", "goodbye", "!"]
PAIRS = [
    ("hola mundo", "hello world"),
    ("adiós", "goodbye"),
    ("¡hola!", "hello!"),
]


@pytest.fixture(scope="module")
def tokenizers():
    return (
        WordPieceTokenizer(SOURCE_VOCABULARY),
        WordPieceTokenizer(TARGET_VOCABULARY),
    )


def test_hand_worked_batch(tokenizers):
    dataset = make_translation_dataset(
        PAIRS,
        *tokenizers,
        batch_size=3,
        max_source_length=4,
        max_target_length=5,
        shuffle=False,
    )
    (source, target_input), target_output = next(iter(dataset))
    assert source.dtype == target_input.dtype == target_output.dtype == tf.int32
    # "¡" is not in the source vocabulary: it becomes [UNK] (1).
    np.testing.assert_array_equal(
        source.numpy(), [[4, 5, 0, 0], [6, 0, 0, 0], [1, 4, 7, 0]]
    )
    np.testing.assert_array_equal(
        target_input.numpy(),
        [[2, 4, 5, 0, 0], [2, 6, 0, 0, 0], [2, 4, 7, 0, 0]],
    )
    np.testing.assert_array_equal(
        target_output.numpy(),
        [[4, 5, 3, 0, 0], [6, 3, 0, 0, 0], [4, 7, 3, 0, 0]],
    )


def test_truncated_target_keeps_start_and_end(tokenizers):
    pairs = [("hola", "hello world hello world")]
    with pytest.warns(UserWarning, match="truncated"):
        (_, target_input), target_output = tokenize_to_numpy(
            pairs, *tokenizers, max_source_length=2, max_target_length=3
        )
    np.testing.assert_array_equal(target_input, [[2, 4, 5]])
    np.testing.assert_array_equal(target_output, [[4, 5, 3]])


@pytest.fixture(scope="module")
def dates_setup():
    pairs = load_dates(num_train=300, num_valid=0, num_test=0, seed=4)["train"]
    source_tokenizer = WordPieceTokenizer.from_texts(
        [source for source, _ in pairs], vocabulary_size=300
    )
    target_tokenizer = WordPieceTokenizer.from_texts(
        [target for _, target in pairs], vocabulary_size=100
    )
    return pairs, source_tokenizer, target_tokenizer


def test_target_output_is_input_shifted_left(dates_setup):
    pairs, source_tokenizer, target_tokenizer = dates_setup
    dataset = make_translation_dataset(
        pairs,
        source_tokenizer,
        target_tokenizer,
        batch_size=64,
        max_source_length=40,
        max_target_length=16,
    )
    num_rows = 0
    for (source, target_input), target_output in dataset:
        source = source.numpy()
        target_input = target_input.numpy()
        target_output = target_output.numpy()
        assert source.shape[1] == 40
        assert target_input.shape == target_output.shape
        assert target_input.shape[1] == 16
        num_rows += len(source)
        for row_input, row_output in zip(
            target_input, target_output, strict=True
        ):
            length = int(np.sum(row_output != 0))
            assert row_input[0] == 2
            assert row_output[length - 1] == 3
            np.testing.assert_array_equal(
                row_input[1:length], row_output[: length - 1]
            )
            assert not np.any(row_input[length:])
            assert not np.any(row_output[length:])
            assert 3 not in row_input
    assert num_rows == len(pairs)


def test_targets_decode_back_to_the_iso_dates(dates_setup):
    pairs, source_tokenizer, target_tokenizer = dates_setup
    (source, _), target_output = tokenize_to_numpy(
        pairs, source_tokenizer, target_tokenizer, 40, 16, batch_size=37
    )
    assert source.shape == (len(pairs), 40) and source.dtype == np.int32
    decoded = target_tokenizer.detokenize(target_output).numpy()
    assert [text.decode() for text in decoded] == [t for _, t in pairs]
    decoded_sources = source_tokenizer.detokenize(source).numpy()
    assert [text.decode() for text in decoded_sources] == [
        s.lower() for s, _ in pairs
    ]


def test_shuffle_is_seeded_and_changes_between_epochs(dates_setup):
    pairs, source_tokenizer, target_tokenizer = dates_setup

    def epochs(seed):
        dataset = make_translation_dataset(
            pairs,
            source_tokenizer,
            target_tokenizer,
            batch_size=100,
            max_source_length=40,
            max_target_length=16,
            seed=seed,
        )
        return [
            np.concatenate([x[0].numpy() for x, _ in dataset]) for _ in range(2)
        ]

    first, second = epochs(seed=1)
    again_first, again_second = epochs(seed=1)
    np.testing.assert_array_equal(first, again_first)
    np.testing.assert_array_equal(second, again_second)
    assert not np.array_equal(first, second)
    (ordered, _), _ = tokenize_to_numpy(
        pairs, source_tokenizer, target_tokenizer, 40, 16
    )
    assert sorted(map(tuple, first)) == sorted(map(tuple, ordered))


def test_bucketed_batches_hand_worked(tokenizers):
    # Longer sides (source tokens; [START] + target tokens): 3, 2, 3. With
    # one bound of 2, "adiós" gets a batch padded to 2 positions and the
    # other two fall in the last bucket, padded to the maximum lengths.
    dataset = make_translation_dataset(
        PAIRS,
        *tokenizers,
        batch_size=3,
        max_source_length=4,
        max_target_length=5,
        shuffle=False,
        bucket_boundaries=[2],
    )
    batches = [
        (source.numpy(), target_input.numpy(), target_output.numpy())
        for (source, target_input), target_output in dataset
    ]
    assert len(batches) == 2
    short, long = sorted(batches, key=lambda batch: batch[0].shape[1])
    np.testing.assert_array_equal(short[0], [[6, 0]])
    np.testing.assert_array_equal(short[1], [[2, 6]])
    np.testing.assert_array_equal(short[2], [[6, 3]])
    np.testing.assert_array_equal(long[0], [[4, 5, 0, 0], [1, 4, 7, 0]])
    np.testing.assert_array_equal(long[1], [[2, 4, 5, 0, 0], [2, 4, 7, 0, 0]])
    np.testing.assert_array_equal(long[2], [[4, 5, 3, 0, 0], [4, 7, 3, 0, 0]])


def test_bucketing_keeps_every_pair_once(dates_setup):
    pairs, source_tokenizer, target_tokenizer = dates_setup
    plain = make_translation_dataset(
        pairs, source_tokenizer, target_tokenizer, 32, 40, 16, shuffle=False
    )
    bucketed = make_translation_dataset(
        pairs,
        source_tokenizer,
        target_tokenizer,
        32,
        40,
        16,
        seed=3,
        bucket_boundaries=[6, 9, 12],
    )

    def rows(dataset):
        found = []
        for (source, target_input), target_output in dataset:
            width = 40
            for row in zip(
                source.numpy(),
                target_input.numpy(),
                target_output.numpy(),
                strict=True,
            ):
                padded = [np.pad(part, (0, width - len(part))) for part in row]
                found.append(tuple(np.concatenate(padded)))
        return sorted(found)

    shapes = {
        (source.shape[1], target_input.shape[1])
        for (source, target_input), _ in bucketed
    }
    assert shapes <= {(6, 6), (9, 9), (12, 12), (40, 16)}
    assert len(shapes) > 1
    assert rows(bucketed) == rows(plain)


def test_drop_remainder(tokenizers):
    dataset = make_translation_dataset(
        PAIRS,
        *tokenizers,
        batch_size=2,
        max_source_length=4,
        max_target_length=4,
        drop_remainder=True,
    )
    assert [x[0].shape[0] for x, _ in dataset] == [2]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"batch_size": 0}, "batch_size"),
        ({"max_source_length": 0}, "max_source_length"),
        ({"max_target_length": 1.5}, "max_target_length"),
        ({"pairs": []}, "at least one"),
        ({"pairs": [("only source",)]}, "index 0"),
        ({"bucket_boundaries": []}, "bucket_boundaries"),
        ({"bucket_boundaries": [4, 2]}, "bucket_boundaries"),
        ({"bucket_boundaries": [0, 2]}, "bucket_boundaries"),
    ],
)
def test_bad_arguments(tokenizers, kwargs, message):
    arguments = {
        "pairs": PAIRS,
        "source_tokenizer": tokenizers[0],
        "target_tokenizer": tokenizers[1],
        "batch_size": 2,
        "max_source_length": 4,
        "max_target_length": 4,
    }
    arguments.update(kwargs)
    with pytest.raises(ValueError, match=message):
        make_translation_dataset(**arguments)
