import math

import numpy as np
import pytest

pytest.importorskip(
    "tensorflow", reason="AttentionSummary writes with tf.summary"
)
pytest.importorskip("tensorboard", reason="events are read back with it")
sacrebleu = pytest.importorskip("sacrebleu", reason="BLEU oracle")

from keras_attention.callbacks import AttentionSummary  # noqa: E402
from keras_attention.visualization import image_attention_to_image  # noqa: E402
from tests.callbacks.test_attention_summary import _decode_png  # noqa: E402
from tests.callbacks.test_attention_summary import _read_run  # noqa: E402
from tests.callbacks.test_attention_summary import _scalar  # noqa: E402
from tests.callbacks.test_attention_summary import _text  # noqa: E402

_RNG = np.random.default_rng(0)
PICTURE_0 = _RNG.integers(0, 256, (8, 8, 3), dtype="uint8")
PICTURE_1 = _RNG.random((6, 9, 3)).astype("float32")
WORDS_0 = ["a", "cat", "sits"]
# Sample 0: three words over a 2 x 2 grid (flat [T_out, 4]); the decoder's
# padded fourth row is NaN and must be cropped away.
ATTENTION_0 = np.array(
    [
        [0.5, 0.25, 0.125, 0.125],
        [0.25, 0.25, 0.25, 0.25],
        [0.0, 0.125, 0.125, 0.75],
        [np.nan] * 4,
    ],
    dtype="float32",
)
# "a" names the top row of cells, "cat" has no reference, "sits" the
# bottom-right cell. Attention on them: 0.5 + 0.25 and 0.75.
ALIGNMENT_0 = np.zeros((3, 2, 2), dtype=bool)
ALIGNMENT_0[0, 0, :] = True
ALIGNMENT_0[2, 1, 1] = True
# Sample 1: one word over a 1 x 2 grid, given as [T_out, h, w].
ATTENTION_1 = np.array([[[1.0, 0.0]]], dtype="float32")
# Sample 0 has two references (its hypothesis matches the second one).
REFERENCES = [["a kitten sleeps", "A cat sits"], "a dog"]


def _image_decode_fn(samples):
    return [
        {
            "image": PICTURE_0,
            "output_tokens": WORDS_0,
            "attention": ATTENTION_0,
            "alignment": ALIGNMENT_0,
        },
        {
            "image": PICTURE_1,
            "output_tokens": [b"dog"],
            "attention": ATTENTION_1,
            "hypothesis": "the dog",
            "source": "photo_1.jpg",
        },
    ]


def test_image_samples_write_panels_text_and_scalars(tmp_path):
    received = []

    def seen_references(hypotheses, references):
        received.append((hypotheses, references))
        return len(references)

    callback = AttentionSummary(
        _image_decode_fn,
        None,
        tmp_path,
        references=REFERENCES,
        metric=["exact_match", "bleu", seen_references],
    )
    callback.on_epoch_end(0)
    callback.on_train_end()

    events = _read_run(tmp_path / "attention")
    assert {tag: plugin for tag, (plugin, _) in events.items()} == {
        "attention/sample_0": "images",
        "attention/sample_1": "images",
        "attention/text": "text",
        "attention/entropy": "scalars",
        "attention/attention_correctness": "scalars",
        "attention/exact_match": "scalars",
        "attention/bleu": "scalars",
        "attention/seen_references": "scalars",
    }

    # Picture plus one overlay per word, the reference cells outlined.
    np.testing.assert_array_equal(
        _decode_png(events["attention/sample_0"][1][0][1]),
        image_attention_to_image(
            PICTURE_0,
            ATTENTION_0[:3],
            WORDS_0,
            alignment=ALIGNMENT_0,
            title="sample 0",
        ),
    )
    assert not np.array_equal(
        _decode_png(events["attention/sample_0"][1][0][1]),
        image_attention_to_image(
            PICTURE_0, ATTENTION_0[:3], WORDS_0, title="sample 0"
        ),
    )
    np.testing.assert_array_equal(
        _decode_png(events["attention/sample_1"][1][0][1]),
        image_attention_to_image(
            PICTURE_1, ATTENTION_1, ["dog"], title="sample 1"
        ),
    )

    # Mass on the reference cells: 0.75 for "a" and for "sits"; "cat" and
    # sample 1 have no reference.
    assert _scalar(events, "attention/attention_correctness") == (
        pytest.approx(0.75)
    )
    # Entropy over the 4 (or 2) cells of each of the 4 rows, in nats:
    # 1/2 ln 2 + 1/4 ln 4 + 2/8 ln 8 = 1.75 ln 2, uniform ln 4,
    # 2/8 ln 8 + 3/4 ln(4/3), and one-hot 0.
    expected_entropy = (
        1.75 * math.log(2)
        + math.log(4)
        + 0.75 * math.log(2)
        + 0.75 * math.log(4 / 3)
    ) / 4
    assert _scalar(events, "attention/entropy") == pytest.approx(
        expected_entropy, rel=1e-6
    )

    # "a cat sits" equals the second reference of sample 0; "the dog" is
    # not "a dog".
    assert _scalar(events, "attention/exact_match") == pytest.approx(0.5)
    # sacreBLEU reference streams, padded with None where a sample has
    # fewer references.
    expected_bleu = sacrebleu.corpus_bleu(
        ["a cat sits", "the dog"],
        [["a kitten sleeps", "a dog"], ["A cat sits", None]],
        lowercase=True,
    ).score
    assert _scalar(events, "attention/bleu") == pytest.approx(expected_bleu)
    assert received == [(["a cat sits", "the dog"], REFERENCES)]

    text = _text(events)
    assert "| # | Source | Reference | Hypothesis |" in text
    assert "| 0 | image 0 | a kitten sleeps / A cat sits | a cat sits |" in text
    assert "| 1 | photo\\_1.jpg | a dog | the dog |" in text


def test_constructor_alignments_apply_to_image_samples(tmp_path):
    def decode_fn(samples):
        samples = _image_decode_fn(samples)
        del samples[0]["alignment"]
        return samples

    # Flat [T_out, L] for sample 0, [T_out, h, w] for sample 1 (whose one
    # word puts all its attention on cell (0, 0), off this reference).
    callback = AttentionSummary(
        decode_fn,
        None,
        tmp_path,
        alignments=[ALIGNMENT_0.reshape(3, 4), np.array([[[False, True]]])],
    )
    decoded = callback.decode()

    np.testing.assert_array_equal(
        decoded[0].alignment, ALIGNMENT_0.reshape(3, 4)
    )
    assert decoded[0].grid_shape == (2, 2)
    assert decoded[1].grid_shape == (1, 2)
    np.testing.assert_array_equal(decoded[1].attention, [[1.0, 0.0]])
    assert callback.compute_scalars(decoded)[
        "attention/attention_correctness"
    ] == pytest.approx((0.75 + 0.75 + 0.0) / 3)


def test_batched_image_output_and_max_images(tmp_path):
    def decode_fn(samples):
        # A padded batch of two: [N, H, W, 3] pictures, [N, T, h, w]
        # attention and alignments.
        attention = np.stack([ATTENTION_0.reshape(4, 2, 2)] * 2)
        attention[1, :3] = 0.25
        alignment = np.zeros((2, 4, 2, 2), dtype=bool)
        alignment[0, :3] = ALIGNMENT_0
        alignment[1, 0, 0, 0] = True
        return {
            "image": np.stack([PICTURE_0, PICTURE_0]),
            "output_tokens": [WORDS_0, ["a", "cat"]],
            "attention": attention,
            "alignment": alignment,
        }

    callback = AttentionSummary(decode_fn, None, tmp_path, max_images=1)
    scalars = callback.write_summaries(step=3)
    callback.close()

    events = _read_run(tmp_path / "attention")
    image_tags = {
        tag for tag, (plugin, _) in events.items() if plugin == "images"
    }
    assert image_tags == {"attention/sample_0"}
    assert events["attention/sample_0"][1][0][0] == 3
    # 0.75 twice for sample 0, 0.25 on the one reference cell of sample 1.
    assert scalars["attention/attention_correctness"] == pytest.approx(
        (0.75 + 0.75 + 0.25) / 3
    )
    assert "| 1 | image 1 |" in _text(events)


def test_image_and_token_samples_are_pooled(tmp_path):
    def decode_fn(samples):
        return [
            _image_decode_fn(samples)[0],
            {
                "source_tokens": ["ich", "bin"],
                "output_tokens": ["i"],
                "attention": np.array([[0.25, 0.75]]),
                "alignment": np.array([[0, 1]]),
            },
        ]

    callback = AttentionSummary(decode_fn, None, tmp_path)

    scalars = callback.compute_scalars(callback.decode())

    assert scalars["attention/attention_correctness"] == pytest.approx(0.75)
    assert scalars["attention/entropy"] == pytest.approx(
        (
            3.75 * math.log(2)
            + 0.75 * math.log(2)
            + 0.75 * math.log(4 / 3)
            + (0.25 * math.log(4) + 0.75 * math.log(4 / 3))
        )
        / 4,
        rel=1e-6,
    )


def _image_sample(**overrides):
    sample = {
        "image": PICTURE_0,
        "output_tokens": ["x"],
        "attention": np.full((1, 4), 0.25),
    }
    sample.update(overrides)
    return sample


@pytest.mark.parametrize(
    "sample, message",
    [
        (_image_sample(source_tokens=["a"]), "not both"),
        (_image_sample(key_tokens={"l": ["a"]}), "not both"),
        (
            _image_sample(attention={"l": np.full((1, 4), 0.25)}),
            "not a dict",
        ),
        (
            _image_sample(attention=np.full((1, 6), 1 / 6)),
            r"perfect square.*image sample 0",
        ),
        (
            _image_sample(attention=np.full((1, 6), 1 / 6), grid_shape=(3, 3)),
            r"h \* w equal to the L",
        ),
        (
            _image_sample(attention=np.full((2, 1, 2, 2), 0.25)),
            r"\[T, L\]",
        ),
        (_image_sample(attention=np.full((0, 4), 0.25)), "a row for each"),
        (_image_sample(image=np.zeros((8, 8))), r"\[height, width, 3\]"),
        (
            _image_sample(alignment=np.ones((1, 3, 3))),
            r"`alignment` returned by `decode_fn` for sample 0.*\[T, 4\]",
        ),
        (
            {"image": PICTURE_0, "attention": np.full((1, 4), 0.25)},
            r"missing \['output_tokens'\]",
        ),
    ],
)
def test_bad_image_samples_raise(tmp_path, sample, message):
    callback = AttentionSummary(lambda samples: [sample], None, tmp_path)
    with pytest.raises(ValueError, match=message):
        callback.decode()


@pytest.mark.parametrize(
    "references, message",
    [
        ([["a"], []], r"`references\[1\]` must hold at least one"),
        ([["a", ["b"]]], r"Each entry of `references\[0\]` must be a single"),
        ("a cat", "`references` must be a sequence"),
    ],
)
def test_bad_references_raise(tmp_path, references, message):
    with pytest.raises(ValueError, match=message):
        AttentionSummary(
            _image_decode_fn, None, tmp_path, references=references
        )
