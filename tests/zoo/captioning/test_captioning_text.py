"""The captioner's vocabulary, caption pairs and scene alignments."""

import numpy as np
import pytest

from zoo.captioning.data import CaptionSplit
from zoo.captioning.data import image_captions
from zoo.captioning.data import scene_alignment
from zoo.captioning.vocabulary import END_ID
from zoo.captioning.vocabulary import START_ID
from zoo.captioning.vocabulary import UNKNOWN_ID
from zoo.captioning.vocabulary import CaptionEncoder
from zoo.captioning.vocabulary import build_vocabulary
from zoo.captioning.vocabulary import caption_words
from zoo.data import SceneObject


def test_caption_words_drop_punctuation_and_case():
    assert caption_words("A dog's ball, on the BEACH!") == [
        "a",
        "dog's",
        "ball",
        "on",
        "the",
        "beach",
    ]


def test_vocabulary_counts_words_and_breaks_ties_alphabetically():
    vocabulary = build_vocabulary(["b a", "a c", "c a", "rare"], min_count=2)
    assert vocabulary[4:] == ["a", "c"]
    assert build_vocabulary(["z y", "y z"])[4:] == ["y", "z"]
    with pytest.raises(ValueError, match="min_count"):
        build_vocabulary(["a"], min_count=0)


def test_encoder_frames_truncates_counts_and_decodes():
    vocabulary = build_vocabulary(["a red circle", "a blue square"])
    encoder = CaptionEncoder(vocabulary, max_length=3)
    ids = encoder.encode("A red circle above a square")
    assert ids[0] == START_ID and ids[-1] == END_ID and len(ids) == 5
    assert encoder.num_truncated == 1
    assert encoder.decode(ids[1:]) == "a red circle"
    assert encoder.encode("a green circle")[2] == UNKNOWN_ID


def test_image_captions_cycle_and_pad_every_reference():
    split = CaptionSplit(names=["x", "y"], references=[("a b", "a"), ("b",)])
    encoder = CaptionEncoder(build_vocabulary(["a b"]), max_length=5)
    captions = image_captions(split, encoder)
    # [<start>, a, b, <end>] is the longest; "y" repeats its one caption.
    assert captions.shape == (2, 2, 4)
    assert captions[0, 1].tolist() == [START_ID, 4, END_ID, 0]
    np.testing.assert_array_equal(captions[1, 0], captions[1, 1])


def test_scene_alignment_marks_the_named_object_box():
    objects = (
        SceneObject("circle", "red", "small", (0, 0, 16, 16)),
        SceneObject("square", "blue", "large", (32, 32, 64, 64)),
    )
    words = "a small red circle to the left of a blue square".split()
    alignment = scene_alignment(objects, words, 64, (4, 4))
    assert alignment.shape == (len(words), 16)
    circle = alignment[3].reshape(4, 4)
    expected = np.zeros((4, 4), bool)
    expected[0, 0] = True
    np.testing.assert_array_equal(circle, expected)
    square = alignment[10].reshape(4, 4)
    assert square[2:, 2:].all() and square.sum() == 4
    # Only nouns are aligned; a noun with the wrong colour names nothing.
    assert alignment.sum(axis=1).nonzero()[0].tolist() == [3, 10]
    wrong = scene_alignment(objects, "a green circle".split(), 64, (4, 4))
    assert not wrong.any()
