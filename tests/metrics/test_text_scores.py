import numpy as np
import pytest

sacrebleu = pytest.importorskip("sacrebleu", reason="BLEU oracle")

from keras_attention.metrics import text_scores  # noqa: E402


def _lowercase_bleu(hypotheses, references):
    return sacrebleu.corpus_bleu(
        [h.lower() for h in hypotheses], [[r.lower() for r in references]]
    ).score


@pytest.mark.parametrize(
    "hypothesis, reference",
    [
        ("Wait!", "wait!"),
        ("wait !", "wait!"),
        ("2018-05-09", "2018-05-09 "),
        ("  Ça suffit\u202f!", "ça suffit !"),
    ],
)
def test_normalised_strings_match_exactly(hypothesis, reference):
    scores = text_scores([hypothesis], [reference])

    assert scores["exact_match"] == 1.0
    assert scores["bleu"] == pytest.approx(
        _lowercase_bleu([hypothesis], [reference])
    )


def test_exact_match_fraction_and_bleu_match_lowercased_sacrebleu():
    hypotheses = [
        "The cat sat on the mat.",
        "A dog runs in the park today",
        "I am tired",
        "Thanks!",
    ]
    references = [
        "the cat sat on a mat.",
        "a dog runs in the park today",
        "I'm tired.",
        "thanks !",
    ]

    scores = text_scores(hypotheses, references)

    assert scores == {
        "exact_match": pytest.approx(0.5),
        "bleu": pytest.approx(_lowercase_bleu(hypotheses, references)),
    }
    assert 0 < scores["bleu"] < 100
    # Case-insensitive: a case-sensitive BLEU would be lower here.
    assert (
        scores["bleu"] > sacrebleu.corpus_bleu(hypotheses, [references]).score
    )


def test_accepts_bytes_and_numpy_arrays():
    hypotheses = np.array([b"Hello, world", "caf\u00e9".encode()])
    references = np.array(["hello , world", "CAFÉ"])

    assert text_scores(hypotheses, references)["exact_match"] == 1.0
    assert text_scores([], []) == {"exact_match": 0.0, "bleu": 0.0}


@pytest.mark.parametrize(
    "hypotheses, references, message",
    [
        ("wait", ["wait"], "`hypotheses` must be a sequence of strings"),
        (["a", "b"], ["a"], "same length"),
        (["a"], [None], r"references\[0\]=None"),
        (["a"], [{"a"}], r"`references` must hold one string.*set"),
        (["a"], [["a", 3]], r"references\[0\]\[1\]=3"),
        (["a"], [[]], r"`references\[0\]` must hold at least one"),
        (["a", "b"], [["a", "b"]], "same length"),
    ],
)
def test_bad_inputs_raise(hypotheses, references, message):
    with pytest.raises(ValueError, match=message):
        text_scores(hypotheses, references)


def test_multi_reference_exact_match_is_equality_with_any_reference():
    hypotheses = ["Wait!", "i am tired", "thanks"]
    references = [
        ["stop", "wait !"],
        ("I'm tired.",),
        np.array(["Thank you.", b"no"]),
    ]

    assert text_scores(hypotheses, references)["exact_match"] == (
        pytest.approx(1 / 3)
    )


def test_multi_reference_bleu_matches_sacrebleu_with_padded_streams():
    hypotheses = ["The cat sat on the mat.", "A dog runs in the park"]
    references = [
        ["a cat sat on the mat.", "The cat is on the mat.", "a cat sits"],
        ["A dog is running in a park."],
    ]
    # sacreBLEU drops the None entries of its reference streams.
    streams = [
        ["a cat sat on the mat.", "a dog is running in a park."],
        ["the cat is on the mat.", None],
        ["a cat sits", None],
    ]

    scores = text_scores(hypotheses, references)

    assert scores["bleu"] == pytest.approx(
        sacrebleu.corpus_bleu(hypotheses, streams, lowercase=True).score
    )
    # More references can only add matches here.
    single = text_scores(hypotheses, [refs[0] for refs in references])
    assert scores["bleu"] > single["bleu"] > 0


def test_one_reference_as_string_or_list_scores_the_same():
    hypotheses = ["The cat sat on the mat.", "I am tired"]
    references = ["the cat sat on a mat.", "I'm tired."]

    as_lists = text_scores(
        hypotheses, [[reference] for reference in references]
    )

    assert as_lists == text_scores(hypotheses, references)
    assert as_lists["bleu"] == pytest.approx(
        _lowercase_bleu(hypotheses, references)
    )
