"""Token alignments of the dates and the attention correctness built on them."""

import calendar
import types

import numpy as np
import pytest

pytest.importorskip("tensorflow")
pytest.importorskip("tensorflow_text")

from zoo.data import dates  # noqa: E402
from zoo.text import WordPieceTokenizer  # noqa: E402
from zoo.text import token_alignment  # noqa: E402
from zoo.translation.training import attention_correctness_by_field  # noqa
from zoo.translation.training import date_attention_correctness  # noqa: E402

FIELDS = ("year", "month", "day")


@pytest.fixture(scope="module")
def date_tokenizers():
    """Tokenizers learned on a few dates, as `train_translation` does."""
    pairs = dates.generate_dates(200, seed=1)
    source = WordPieceTokenizer.from_texts(
        [source for source, _ in pairs], vocabulary_size=100
    )
    target = WordPieceTokenizer.from_texts(
        [target for _, target in pairs], vocabulary_size=100
    )
    return source, target


def output_spans(tokenizer, text):
    """Spans of the tokens a perfect decoder emits for `text`, [END] last."""
    ids = tokenizer.tokenize(text).numpy().tolist() + [tokenizer.end_id]
    decoded, spans = tokenizer.detokenize_with_offsets(ids)
    assert decoded == text
    return ids, spans


def source_spans(tokenizer, text):
    ids, starts, ends = tokenizer.tokenize_with_offsets(text)
    return ids, list(zip(starts, ends, strict=True))


def test_hand_worked_date(date_tokenizers):
    source_tokenizer, target_tokenizer = date_tokenizers
    source, target, alignment = dates.format_date(
        dates.datetime.date(2018, 5, 9), "dth of month yyyy"
    )
    assert (source, target) == ("9th of may 2018", "2018-05-09")
    ids, spans = source_spans(source_tokenizer, source)
    tokens = [source_tokenizer.id_to_token(i) for i in ids]
    # The learned vocabulary has no "2018": the year is four WordPieces.
    assert tokens == ["9", "##th", "of", "may", "2", "##0", "##1", "##8"]
    target_ids, target_spans = output_spans(target_tokenizer, target)
    target_tokens = [target_tokenizer.id_to_token(i) for i in target_ids]
    assert target_tokens == ["20", "##1", "##8", "-", "05", "-", "09", "[END]"]
    links = dates.date_links(alignment)
    assert links == {
        "year": ((11, 15), (0, 4)),
        "month": ((7, 10), (5, 7)),
        "day": ((0, 3), (8, 10)),
    }

    def aligned(field_names):
        matrix = token_alignment(
            [links[name] for name in field_names], spans, target_spans
        )
        return [np.flatnonzero(row).tolist() for row in matrix]

    # Rows: output tokens 20 ##1 ##8 - 05 - 09 [END]; entries: the source
    # tokens each is aligned to. Every piece of the year on either side
    # is aligned to every piece on the other; hyphens and [END] to none.
    year, none = [4, 5, 6, 7], []
    assert aligned(FIELDS) == [year, year, year, none, [3], none, [0, 1], none]
    assert aligned(["month"]) == [none, none, none, none, [3], none, none, none]
    assert aligned(["day"]) == [none] * 6 + [[0, 1], none]


def test_token_alignment_validates_links():
    with pytest.raises(ValueError, match=r"Received: links\[0\]="):
        token_alignment([((0, 1),)], [(0, 1)], [(0, 1)])
    with pytest.raises(ValueError, match="start <= end"):
        token_alignment([((3, 1), (0, 1))], [(0, 1)], [(0, 1)])
    with pytest.raises(ValueError, match=r"source_offsets\[1\]"):
        token_alignment([], [(0, 1), "ab"], [])
    assert token_alignment([], [None, (0, 2)], [(0, 1)]).tolist() == [[0, 0]]


def oracle_field_texts(target):
    """What the source may write for each field of an ISO target."""
    year, month, day = (int(part) for part in target.split("-"))
    month_names = {
        calendar.month_name[month].lower(),
        calendar.month_abbr[month].lower(),
        str(month),
        f"{month:02d}",
    }
    if month == 9:
        month_names.add("sept")
    day_names = {str(day), f"{day:02d}"}
    day_names |= {
        name + suffix for name in day_names for suffix in "st nd rd th".split()
    }
    return {
        "year": {target[:4], target[2:4]},
        "month": month_names,
        "day": day_names,
    }


def test_every_field_is_aligned_to_the_source_tokens_writing_it(
    date_tokenizers,
):
    source_tokenizer, target_tokenizer = date_tokenizers
    examples = dates.generate_dates(400, seed=7, return_alignment=True)
    sources = [source for source, _, _ in examples]
    targets = [target for _, target, _ in examples]
    _, all_starts, all_ends = source_tokenizer.tokenize_with_offsets(sources)
    # The tokens a perfect decoder emits, located in its output.
    target_ids = target_tokenizer(targets, add_end=True).numpy()
    texts, all_target_spans = target_tokenizer.detokenize_with_offsets(
        target_ids
    )
    assert texts == targets
    rows = zip(
        examples,
        all_starts,
        all_ends,
        target_ids,
        all_target_spans,
        strict=True,
    )
    for (source, target, alignment), starts, ends, ids, target_spans in rows:
        spans = list(zip(starts, ends, strict=True))
        links = dates.date_links(alignment)
        expected = oracle_field_texts(target)
        weekday = alignment.get("weekday")
        for field in FIELDS:
            matrix = token_alignment([links[field]], spans, target_spans)
            aligned_rows = np.flatnonzero(matrix.any(axis=1))
            columns = np.flatnonzero(matrix.any(axis=0))
            assert len(columns) >= 1, (source, field)
            # The aligned source tokens spell the field as the source
            # writes it, whatever WordPieces it was split into.
            written = source[spans[columns[0]][0] : spans[columns[-1]][1]]
            assert written.lower() in expected[field], (source, field)
            assert np.all(matrix[np.ix_(aligned_rows, columns)] == 1)
            # The aligned output tokens are those of the field in ISO.
            output = "".join(
                target[slice(*target_spans[row])] for row in aligned_rows
            )
            assert output == target[slice(*dates.ISO_FIELD_SPANS[field])]
            if weekday is not None:
                for column, span in enumerate(spans):
                    if span[0] < weekday[1] and weekday[0] < span[1]:
                        assert not matrix[:, column].any(), source
        full = token_alignment(list(links.values()), spans, target_spans)
        for row, token_id in enumerate(ids):
            token = target_tokenizer.id_to_token(token_id)
            if token in ("-", "[END]", "[PAD]"):
                assert not full[row].any(), (source, token)
            else:
                assert full[row].any(), (source, token)


def test_load_dates_returns_alignments_of_the_same_pairs():
    plain = dates.load_dates(num_train=50, num_valid=20, num_test=20)
    aligned = dates.load_dates(
        num_train=50, num_valid=20, num_test=20, return_alignment=True
    )
    for name in ("train", "valid", "test"):
        assert [(s, t) for s, t, _ in aligned[name]] == plain[name]
        for _, _, alignment in aligned[name]:
            assert set(FIELDS) <= set(alignment)
    # The test dates are never training dates.
    train = {source for source, _ in plain["train"]}
    assert not train & {source for source, _ in plain["test"]}


def test_date_links_locate_fields_in_a_translation():
    _, _, alignment = dates.format_date(
        dates.datetime.date(2018, 5, 9), "d.m.yy"
    )
    assert sorted(dates.date_links(alignment, output="2018-05-09")) == sorted(
        FIELDS
    )
    # Wrong digits are still where ISO puts them; a misplaced field is not.
    assert sorted(dates.date_links(alignment, output="1999-12-31")) == sorted(
        FIELDS
    )
    assert list(dates.date_links(alignment, output="2018-05-9")) == [
        "year",
        "month",
    ]
    assert dates.date_links(alignment, output="20-05-05") == {}
    with pytest.raises(ValueError, match="Received: output=5"):
        dates.date_links(alignment, output=5)


def decoded_dates(date_tokenizers, examples, outputs=None):
    """What `translate_pairs` returns for a decoder emitting `outputs`."""
    source_tokenizer, target_tokenizer = date_tokenizers
    sources = [source for source, _, _ in examples]
    outputs = outputs or [target for _, target, _ in examples]
    source_ids = source_tokenizer(sources, sequence_length=24).numpy()
    output_ids = target_tokenizer(
        outputs, sequence_length=14, add_end=True
    ).numpy()
    token_ids = list(zip(source_ids, output_ids, strict=True))
    return sources, token_ids


def perfect_attention(model, examples, token_ids):
    """Attention spread evenly over the aligned sources, else the first."""
    from zoo.translation.training import output_alignments

    sources = [source for source, _, _ in examples]
    links = [list(dates.date_links(a).values()) for _, _, a in examples]
    attention = []
    for alignment in output_alignments(model, sources, links, token_ids):
        weights = np.zeros(alignment.shape, np.float32)
        weights[:, 0] = 1.0
        aligned = alignment.any(axis=1)
        weights[aligned] = alignment[aligned] / alignment[aligned].sum(
            axis=1, keepdims=True
        )
        attention.append(weights)
    return attention


def test_date_attention_correctness_oracle(date_tokenizers):
    source_tokenizer, target_tokenizer = date_tokenizers
    model = types.SimpleNamespace(
        source_tokenizer=source_tokenizer, target_tokenizer=target_tokenizer
    )
    examples = dates.generate_dates(30, seed=11, return_alignment=True)
    alignments = [alignment for _, _, alignment in examples]
    sources, token_ids = decoded_dates(date_tokenizers, examples)
    attention = perfect_attention(model, examples, token_ids)
    scores = date_attention_correctness(
        model, sources, alignments, attention, token_ids
    )
    assert set(scores) == {"attention_correctness"}
    assert scores["attention_correctness"] == pytest.approx(
        {"all": 1.0, "year": 1.0, "month": 1.0, "day": 1.0}
    )
    # All mass on a padding position: nothing on the references.
    off = [np.zeros_like(weights) for weights in attention]
    for weights in off:
        weights[:, -1] = 1.0
    scores = date_attention_correctness(
        model, sources, alignments, off, token_ids
    )
    assert scores["attention_correctness"] == pytest.approx(
        {"all": 0.0, "year": 0.0, "month": 0.0, "day": 0.0}
    )
    # Per head ([heads, T_out, T_src], as the Transformer decodes): one
    # perfect head, one on padding.
    heads = [
        np.stack([a, o], axis=0) for a, o in zip(attention, off, strict=True)
    ]
    scores = date_attention_correctness(
        model, sources, alignments, heads, token_ids
    )
    assert scores["attention_correctness"] == pytest.approx(
        dict.fromkeys(["all", *FIELDS], 0.5)
    )
    assert scores["attention_correctness_best_head"] == pytest.approx(
        dict.fromkeys(["all", *FIELDS], 1.0)
    )
    # Outputs that are no ISO date have no reference: not scored.
    sources, bad_ids = decoded_dates(
        date_tokenizers, examples, ["20-05-05"] * len(examples)
    )
    scores = date_attention_correctness(
        model, sources, alignments, attention, bad_ids
    )
    assert scores["attention_correctness"] == dict.fromkeys(
        ["all", *FIELDS], None
    )


def test_attention_correctness_by_field_pools_steps():
    attention = [
        np.array([[0.8, 0.2], [0.3, 0.7], [0.5, 0.5]]),
        np.array([[0.1, 0.9]]),
    ]
    alignments = {
        "a": [np.array([[1, 0], [0, 0], [0, 0]]), np.array([[0, 1]])],
        "b": [np.array([[0, 0], [0, 1], [0, 0]]), np.array([[0, 0]])],
    }
    scores = attention_correctness_by_field(attention, alignments)
    assert scores["attention_correctness"] == pytest.approx(
        {"all": (0.8 + 0.7 + 0.9) / 3, "a": (0.8 + 0.9) / 2, "b": 0.7}
    )
    with pytest.raises(ValueError, match="Received: alignments={}"):
        attention_correctness_by_field(attention, {})
