"""Translation follows the text policy of `zoo.inputs`.

Bytes that are not UTF-8 are refused by `model.translate` and served as
an empty text by the SavedModel (empty in, empty out, as for a blank
sentence); a batch that is not a 1-D tensor of strings is refused at the
signature instead of being translated as garbage. The model is tiny and
untrained: these tests check what is read, not what is written.
"""

import numpy as np
import pytest

pytest.importorskip("tensorflow")
pytest.importorskip("tensorflow_text")

import keras  # noqa: E402

pytestmark = pytest.mark.skipif(
    keras.backend.backend() != "tensorflow",
    reason="the tokenizers and SavedModel need the TensorFlow backend",
)

TEXT = "9 may 2018"


@pytest.fixture(scope="module")
def model():
    from zoo.data import load_dates
    from zoo.text import WordPieceTokenizer
    from zoo.translation import LuongTranslator

    keras.utils.set_random_seed(0)
    pairs = load_dates(num_train=300, num_valid=0, num_test=0)["train"]
    source = WordPieceTokenizer.from_texts(
        [source for source, _ in pairs], vocabulary_size=200, sequence_length=16
    )
    target = WordPieceTokenizer.from_texts(
        [target for _, target in pairs], vocabulary_size=100
    )
    translator = LuongTranslator(
        source.vocabulary_size,
        target.vocabulary_size,
        embedding_dim=8,
        units=8,
        num_layers=1,
        input_feeding=False,
        source_tokenizer=source,
        target_tokenizer=target,
        max_decode_length=6,
    )
    translator((np.zeros((1, 16), "int32"), np.zeros((1, 6), "int32")))
    return translator


@pytest.fixture(scope="module")
def signature(model, tmp_path_factory):
    import tensorflow as tf

    from zoo.translation.export import export_saved_model

    path = export_saved_model(model, tmp_path_factory.mktemp("tr") / "saved")
    return tf.saved_model.load(path).signatures["serving_default"]


def test_translate_refuses_bytes_that_are_not_utf8(model):
    assert model.translate([TEXT.encode()]) == model.translate([TEXT])
    with pytest.raises(ValueError, match=r"`texts\[1\]` must be UTF-8 text"):
        model.translate([TEXT, b"9 \xff may"])


def test_saved_model_serves_non_utf8_as_an_empty_text(signature):
    import tensorflow as tf

    outputs = signature(tf.constant([b"9 \xff may 2018", b"", TEXT.encode()]))
    assert list(outputs["translation"].numpy()[:2]) == [b"", b""]
    np.testing.assert_array_equal(outputs["lengths"].numpy()[:2], 0)
    assert outputs["lengths"].numpy()[2] > 0


@pytest.mark.parametrize("shape", ["matrix", "scalar"])
def test_saved_model_refuses_a_batch_that_is_not_1d(signature, shape):
    import tensorflow as tf

    texts = [[TEXT, TEXT]] if shape == "matrix" else TEXT
    with pytest.raises(tf.errors.InvalidArgumentError, match="texts"):
        signature(texts=tf.constant(texts))
