import re

import pytest

from zoo.data import reports
from zoo.data.reports import Report
from zoo.data.reports import generate_reports


@pytest.fixture(scope="module")
def splits():
    return generate_reports()


def tokens_of(split_reports):
    return {
        token
        for report in split_reports
        for text in (report.text, report.summary)
        for token in text.split(" ")
    }


def invented_tokens(split_reports):
    """Tokens that are neither template words nor numbers."""
    return {
        token
        for token in tokens_of(split_reports)
        if token not in reports.TEMPLATE_WORDS and not token.isdigit()
    }


def contains(tokens, words):
    n = len(words)
    return any(tokens[i : i + n] == words for i in range(len(tokens) - n + 1))


def test_default_sizes_and_types(splits):
    assert {name: len(items) for name, items in splits.items()} == {
        "train": 6000,
        "valid": 300,
        "test": 300,
    }
    report = splits["train"][0]
    assert isinstance(report, Report)
    assert report._fields == ("text", "summary", "names", "alignment")
    assert isinstance(report.names, tuple)
    assert isinstance(report.alignment, tuple)


def test_deterministic_and_splits_independent():
    first = generate_reports(num_train=50, num_valid=20, num_test=20, seed=3)
    again = generate_reports(num_train=50, num_valid=20, num_test=20, seed=3)
    assert first == again
    other_seed = generate_reports(
        num_train=50, num_valid=20, num_test=20, seed=4
    )
    assert other_seed["train"] != first["train"]
    # A different training size leaves valid and test as they are.
    bigger = generate_reports(num_train=80, num_valid=20, num_test=20, seed=3)
    assert bigger["valid"] == first["valid"]
    assert bigger["test"] == first["test"]
    assert bigger["train"][:50] == first["train"]


def test_held_out_names_never_occur_in_training(splits):
    training_tokens = tokens_of(splits["train"])
    for split in ("valid", "test"):
        checked = 0
        for report in splits[split]:
            for name in report.names:
                for token in name.split(" "):
                    assert token not in training_tokens, (split, name)
                    checked += 1
        assert checked > len(splits[split])
        # Not only the summary's names: every word of a held-out text that
        # is neither a template word nor a number (distractors included).
        invented = invented_tokens(splits[split])
        assert len(invented) > len(splits[split])
        assert not invented & training_tokens
    assert not invented_tokens(splits["valid"]) & invented_tokens(
        splits["test"]
    )


def test_lengths_and_shape_of_texts(splits):
    for report in splits["train"][:2000] + splits["test"]:
        text = report.text.split(" ")
        summary = report.summary.split(" ")
        assert 25 <= len(text) <= 60, report.text
        assert 2 <= text.count(".") <= 4 and text[-1] == "."
        assert 6 <= len(summary) <= 14, report.summary
        assert report.text == report.text.lower()
        # Lowercase words, numbers and single punctuation marks only.
        assert all(re.fullmatch(r"[a-z]+|\d+|[.,\-]", t) for t in text)
        assert 1 <= len(report.names) <= 3
        assert any(t.isdigit() for t in summary)


def test_summary_names_appear_in_text(splits):
    for report in splits["train"][:2000] + splits["valid"]:
        text = report.text.split(" ")
        summary = report.summary.split(" ")
        for name in report.names:
            assert contains(text, name.split(" ")), (name, report.text)
            assert contains(summary, name.split(" ")), (name, report.summary)


def test_alignment_points_to_equal_tokens(splits):
    for report in splits["train"][:2000] + splits["valid"]:
        text = report.text.split(" ")
        summary = report.summary.split(" ")
        assert len(report.alignment) == len(summary)
        name_tokens = {t for name in report.names for t in name.split(" ")}
        for word, index in zip(summary, report.alignment, strict=True):
            if index >= 0:
                assert text[index] == word
            else:
                assert word in reports.TEMPLATE_WORDS, word
            if word in name_tokens or word.isdigit():
                assert index >= 0, (word, report.summary)


def test_the_right_entity_is_summarized(splits):
    # Independent of the generator: read the roles off the texts.
    checked = {"election": 0, "match": 0, "council": 0}
    for report in splits["train"][:3000]:
        text, summary = report.text, report.summary
        if " election with " in summary:
            winner = re.search(r"elected (\w+ \w+) as their new mayor", text)
            share = re.search(r"won (\d+) percent of the vote , ahead of", text)
            runner_up = re.search(r"ahead of \w+ \w+ with (\d+) percent", text)
            assert summary.startswith(winner[1] + " wins ")
            assert f" with {share[1]} percent" in summary
            assert int(runner_up[1]) < int(share[1])
            checked["election"] += 1
        elif " scores " in summary:
            result = re.search(r"(\w+) beat (\w+) (\d) - (\d)", text)
            scorer = re.search(r"(\w+ \w+) scored (\d) goals for (\w+)", text)
            assert summary == (
                f"{result[1]} beat {result[2]} {result[3]} - {result[4]} as "
                f"{scorer[1]} scores {scorer[2]}"
            )
            assert scorer[3] == result[1]
            checked["match"] += 1
        elif summary.split(" ")[2] == "says" and " million" in summary:
            mayor = re.search(r"mayor (\w+ \w+) said", text)
            assert summary.startswith(mayor[1] + " says ")
            checked["council"] += 1
    assert min(checked.values()) > 100


def test_distractors_mention_other_entities(splits):
    with_distractor = 0
    for report in splits["train"][:1000]:
        text = report.text.split(" ")
        invented = {
            t
            for t in text
            if t not in reports.TEMPLATE_WORDS and not t.isdigit()
        }
        named = {t for name in report.names for t in name.split(" ")}
        assert named <= invented
        with_distractor += bool(invented - named)
    assert with_distractor > 850


def test_texts_are_their_default_word_tokenization(splits):
    pytest.importorskip("tensorflow_text")
    from zoo.text.word_vocabulary import WordVocabulary

    vocabulary = WordVocabulary(["<pad>", "<start>", "<end>", "<unk>"])
    sample = splits["valid"][:50]
    tokens = vocabulary.tokenize([report.text for report in sample])
    assert [[t.decode() for t in row] for row in tokens.to_list()] == [
        report.text.split(" ") for report in sample
    ]


@pytest.mark.parametrize("name", ["num_train", "num_valid", "num_test"])
@pytest.mark.parametrize("value", [-1, 1.5, True])
def test_bad_sizes(name, value):
    with pytest.raises(ValueError, match=f"`{name}` must be an integer"):
        generate_reports(**{name: value})


def test_empty_splits_allowed():
    splits = generate_reports(num_train=3, num_valid=0, num_test=0)
    assert [len(splits[name]) for name in ("train", "valid", "test")] == [
        3,
        0,
        0,
    ]
