"""`summary_scores` and `repetition_rate` against hand-worked numbers."""

import sys

import numpy as np
import pytest

pytest.importorskip("rouge_score", reason="summary_scores needs rouge-score")

from keras_attention.metrics import repetition_rate  # noqa: E402
from keras_attention.metrics import summary_scores  # noqa: E402

# Tokens of at most three letters, which the Porter stemmer leaves alone.
HYPOTHESIS = "The cat sat on the mat."
REFERENCE = "the cat is on a mat in the sun"


def test_hand_worked_rouge():
    scores = summary_scores([HYPOTHESIS], [REFERENCE])
    # 6 and 9 tokens. Unigrams in common, counts clipped: the (2), cat, on,
    # mat -> 5. F1 = 2 P R / (P + R) = 2 * 5 / (6 + 9).
    assert scores["rouge1"] == pytest.approx(100 * 10 / 15)
    # 5 and 8 bigrams; only "the cat" is shared: F1 = 2 * 1 / (5 + 8).
    assert scores["rouge2"] == pytest.approx(100 * 2 / 13)
    # Longest common subsequence "the cat on mat", 4: F1 = 2 * 4 / 15.
    assert scores["rougeL"] == pytest.approx(100 * 8 / 15)
    assert scores["repetition"] == 0.0
    assert set(scores) == {"rouge1", "rouge2", "rougeL", "repetition"}
    assert all(isinstance(value, float) for value in scores.values())


def test_best_reference_per_metric_then_mean_over_documents():
    # Reference A has every word in reverse order: ROUGE-1 100, ROUGE-2 0,
    # LCS 1 (F1 25). Reference B shares "a b": ROUGE-1 2 * 2 / 8 = 50,
    # ROUGE-2 (ab, bc, cd vs ab, bx, xy) 2 * 1 / 6, LCS "a b" 2 * 2 / 8.
    references = [["d c b a", "a b x y"], "a b c d"]
    scores = summary_scores(["a b c d", "a b c d"], references)
    best = {"rouge1": 100.0, "rouge2": 100 / 3, "rougeL": 50.0}
    for rouge_type, value in best.items():
        # The second document matches its reference exactly: 100.
        assert scores[rouge_type] == pytest.approx((value + 100.0) / 2)
    # The order of the references does not matter.
    swapped = summary_scores(
        ["a b c d", "a b c d"], [references[0][::-1], references[1]]
    )
    assert swapped == pytest.approx(scores)


def test_stemming():
    stemmed = summary_scores(["cats running"], ["cat runs"])
    assert stemmed["rouge1"] == pytest.approx(100.0)
    plain = summary_scores(["cats running"], ["cat runs"], stem=False)
    assert plain["rouge1"] == 0.0


def test_empty_hypothesis_scores_zero():
    scores = summary_scores(np.array(["", HYPOTHESIS]), ["a b", REFERENCE])
    assert scores["rouge1"] == pytest.approx(100 * 10 / 15 / 2)
    assert scores["rouge2"] == pytest.approx(100 * 2 / 13 / 2)
    assert summary_scores([""], ["a b"])["rougeL"] == 0.0


@pytest.mark.parametrize(
    "texts, n, expected",
    [
        (["a b c a b c"], 3, 25.0),  # abc bca cab abc: 1 of 4
        (["A b C a B c"], 3, 25.0),  # lowercased
        (["a b c a b c", "x y"], 3, 25.0),  # "x y" has no trigram
        (["a b c", "a b c"], 3, 0.0),  # only repeats within a text count
        (["a a a a"], 3, 50.0),  # aaa aaa
        (["a  b\ta\nb"], 2, 100 / 3),  # ab ba ab, whitespace tokens
        (["a b", ""], 3, 0.0),
        ([], 3, 0.0),
    ],
)
def test_repetition_rate(texts, n, expected):
    assert repetition_rate(texts, n=n) == pytest.approx(expected)


def test_summary_repetition_is_that_of_the_hypotheses():
    hypotheses = ["a b c a b c", "x y z x y z x"]  # 1 of 4, 2 of 5
    scores = summary_scores(hypotheses, ["a b c", "x y z"])
    assert scores["repetition"] == pytest.approx(100 * 3 / 9)


@pytest.mark.parametrize(
    "hypotheses, references, message",
    [
        ([], [], "`hypotheses` must hold at least one summary"),
        (
            ["a", "b"],
            ["a"],
            r"len\(hypotheses\)=2 and len\(references\)=1",
        ),
        ("a b", ["a b"], "`hypotheses` must be a sequence of strings"),
        (["a"], [[]], r"`references\[0\]` must hold at least one"),
        (["a"], [3], r"references\[0\]=3"),
    ],
)
def test_bad_inputs_raise(hypotheses, references, message):
    with pytest.raises(ValueError, match=message):
        summary_scores(hypotheses, references)


@pytest.mark.parametrize("n", [0, 2.0, True])
def test_repetition_rate_checks_n(n):
    with pytest.raises(ValueError, match=f"`n` must be a positive.*n={n}"):
        repetition_rate(["a b c"], n=n)


def test_missing_rouge_score_says_what_to_install(monkeypatch):
    for name in list(sys.modules):
        if name == "rouge_score" or name.startswith("rouge_score."):
            monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setitem(sys.modules, "rouge_score", None)
    monkeypatch.setitem(sys.modules, "rouge_score.rouge_scorer", None)
    with pytest.raises(ImportError, match=r"keras-attention-zoo\[summary\]"):
        summary_scores(["a"], ["a"])
