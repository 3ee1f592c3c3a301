import math
import sys

import numpy as np
import pytest

sacrebleu = pytest.importorskip("sacrebleu", reason="BLEU oracle")
pytest.importorskip("pycocoevalcap", reason="CIDEr-D oracle")

from pycocoevalcap.cider.cider import Cider  # noqa: E402
from sacrebleu.tokenizers.tokenizer_13a import Tokenizer13a  # noqa: E402

from keras_attention.metrics import caption_scores  # noqa: E402

# Captions with 3, 1 and 2 references.
HYPOTHESES = [
    "A dog runs on the grass.",
    "two cats sleep on a bed",
    "A man rides a red bike",
]
REFERENCES = [
    [
        "A dog running on grass.",
        "a brown dog runs outside",
        "the dog runs on green grass",
    ],
    ["Two cats are sleeping on a bed."],
    ["a man riding a bike", "A man rides his red bicycle."],
]


def _tokenized(text):
    return " ".join(Tokenizer13a()(text.lower()).split())


def test_bleu1_and_bleu2_match_hand_worked_multi_reference_case():
    # Caption 0, "the the cat", has 3 references of lengths 3, 2, 4: the
    # closest length is 3. Clipped unigrams: "the" twice, at most once in
    # any reference -> 1; "cat" -> 1: 2 of 3. Bigrams: "the the" (0) and
    # "the cat" (in reference 0): 1 of 2.
    # Caption 1, "cat", has 1 reference of length 2: 1 of 1 unigrams, no
    # bigrams.
    # Corpus: p1 = 3/4, p2 = 1/2, hypothesis length c = 3 + 1 = 4 below
    # the reference length r = 3 + 2 = 5: brevity penalty exp(1 - 5/4).
    # Had the missing references of caption 1 counted as empty strings,
    # its closest length would be 0 (tied with 2 at distance 1; ties take
    # the shorter), r = 3 and no brevity penalty.
    hypotheses = ["The the cat", "cat"]
    references = [["The cat sat", "a cat", "cat on a mat"], ["the cat"]]

    scores = caption_scores(hypotheses, references)

    brevity_penalty = math.exp(1 - 5 / 4)
    assert scores["bleu1"] == pytest.approx(100 * brevity_penalty * 3 / 4)
    assert scores["bleu2"] == pytest.approx(
        100 * brevity_penalty * math.sqrt(3 / 4 * 1 / 2)
    )
    assert scores["num_captions"] == 2


def test_bleu_matches_sacrebleu_with_none_padded_reference_streams():
    # Stream k holds the k-th reference of every caption; sacreBLEU skips
    # None entries.
    streams = [
        [REFERENCES[0][0], REFERENCES[1][0], REFERENCES[2][0]],
        [REFERENCES[0][1], None, REFERENCES[2][1]],
        [REFERENCES[0][2], None, None],
    ]

    scores = caption_scores(HYPOTHESES, REFERENCES)

    expected = sacrebleu.corpus_bleu(
        HYPOTHESES, streams, lowercase=True, tokenize="13a"
    ).score
    assert scores["bleu4"] == pytest.approx(expected)
    for order in (1, 2, 3):
        bleu = sacrebleu.metrics.BLEU(
            max_ngram_order=order, lowercase=True, tokenize="13a"
        )
        assert scores[f"bleu{order}"] == pytest.approx(
            bleu.corpus_score(HYPOTHESES, streams).score
        )
    assert 0 < scores["bleu4"] < scores["bleu3"] < scores["bleu2"]
    assert scores["bleu2"] < scores["bleu1"] < 100


def test_cider_matches_coco_caption_scorer():
    # coco-caption's own entry point, fed the same lowercased 13a tokens.
    gts = {
        index: [_tokenized(reference) for reference in references]
        for index, references in enumerate(REFERENCES)
    }
    res = {
        index: [_tokenized(hypothesis)]
        for index, hypothesis in enumerate(HYPOTHESES)
    }
    expected, _ = Cider().compute_score(gts, res)

    scores = caption_scores(HYPOTHESES, REFERENCES)

    assert scores["cider"] == pytest.approx(float(expected))
    # coco-caption's scale: around 1 for good captions, not around 100.
    assert 0 < scores["cider"] < 10


def test_cider_of_identical_and_disjoint_captions():
    # Each caption equals its only reference and shares no word with the
    # other captions: every n-gram has document frequency 1, so its TF-IDF
    # weight is tf * log(2) in both vectors, the cosine of each order is 1
    # and the length penalty exp(0) = 1. CIDEr-D averages the 4 orders and
    # multiplies by 10: 10 for 4-word captions, 10 * 3/4 for 3-word ones
    # (no 4-gram). Disjoint from their references, captions score 0.
    identical = caption_scores(
        ["one two three four", "five six seven eight"],
        [["one two three four"], ["five six seven eight"]],
    )
    three_words = caption_scores(
        ["one two three", "five six seven"],
        [["one two three"], ["five six seven"]],
    )
    disjoint = caption_scores(
        ["nine ten eleven twelve", "red green blue black"],
        [["one two three four"], ["five six seven eight"]],
    )
    partial = caption_scores(
        ["one two three nine", "five six seven ten"],
        [["one two three four"], ["five six seven eight"]],
    )

    assert identical["cider"] == pytest.approx(10.0)
    assert three_words["cider"] == pytest.approx(7.5)
    assert disjoint["cider"] == 0.0
    assert 0 < partial["cider"] < identical["cider"]
    assert identical["bleu4"] == pytest.approx(100.0)
    assert disjoint["bleu1"] == 0.0


def test_case_punctuation_bytes_and_arrays_are_normalised():
    plain = caption_scores(["a dog runs ."], [["a dog runs", "the dog ."]])

    mixed = caption_scores(
        np.array([b"A Dog runs."]),
        [("A dog runs", "The DOG.")],
    )

    assert mixed == pytest.approx(plain)
    assert caption_scores([], []) == {
        "bleu1": 0.0,
        "bleu2": 0.0,
        "bleu3": 0.0,
        "bleu4": 0.0,
        "cider": 0.0,
        "num_captions": 0,
    }


def test_plain_string_entry_is_one_reference():
    # Caption 1 has a single reference, given as a list or as a string.
    as_string = caption_scores(
        HYPOTHESES, [*REFERENCES[:1], *REFERENCES[1], *REFERENCES[2:]]
    )

    assert as_string == pytest.approx(caption_scores(HYPOTHESES, REFERENCES))


@pytest.mark.parametrize(
    "hypotheses, references, message",
    [
        (["a", "b"], [["a"]], "same length"),
        (["a"], "a", "`references` must be a sequence of strings"),
        ("a", [["a"]], "`hypotheses` must be a sequence of strings"),
        (["a"], [[]], r"`references\[0\]` must hold at least one"),
        (["a", "b"], [["a"], ["b", "  "]], r"must not be empty.*\[1\]"),
        (["a"], [["a", None]], r"references\[0\]\[1\]=None"),
        ([None], [["a"]], r"hypotheses\[0\]=None"),
    ],
)
def test_bad_inputs_raise(hypotheses, references, message):
    with pytest.raises(ValueError, match=message):
        caption_scores(hypotheses, references)


def test_missing_pycocoevalcap_names_the_caption_extra(monkeypatch):
    for name in list(sys.modules):
        if name == "pycocoevalcap" or name.startswith("pycocoevalcap."):
            monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setitem(sys.modules, "pycocoevalcap", None)
    with pytest.raises(ImportError, match=r"keras-attention-zoo\[caption\]"):
        caption_scores(["a"], [["a"]])
