"""ROUGE-1/2/L and the trigram repetition rate of summaries."""

from keras_attention._optional import import_optional
from keras_attention.metrics.text_scores import _check_lengths
from keras_attention.metrics.text_scores import _reference_lists
from keras_attention.metrics.text_scores import _texts

_ROUGE_TYPES = ("rouge1", "rouge2", "rougeL")


def repetition_rate(texts, n=3):
    """The share of repeated n-grams in texts, in percent.

    The repetition measure of See et al. (2017, figure 4): over all texts,
    the number of n-grams that already occurred earlier in the same text,
    divided by the total number of n-grams. Each text is lowercased and
    split on whitespace. A text of `L` tokens holds `max(L - n + 1, 0)`
    n-grams; an n-gram occurring `k` times in a text counts `k - 1` times
    as a repetition. Use it on decoded summaries and on the reference
    summaries, whose rate is the natural level to compare with.

    Args:
        texts: Sequence of `str` (or UTF-8 `bytes`), e.g. a list or a NumPy
            array of strings.
        n: Positive integer, the n-gram order (3: trigrams).

    Returns:
        A float in `[0, 100)`; 0.0 when the texts hold no n-gram.

    Example:

    >>> repetition_rate(["a b c a b c"])  # abc bca cab abc: 1 of 4
    25.0

    References:
        - [See et al., 2017](https://arxiv.org/abs/1704.04368), "Get To The
          Point: Summarization with Pointer-Generator Networks", section 7.2
          and figure 4 (percentage of duplicate n-grams).
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"`n` must be a positive integer. Received: n={n!r}")
    texts = _texts(texts, "texts")
    repeated = total = 0
    for text in texts:
        tokens = text.lower().split()
        seen = set()
        for start in range(len(tokens) - n + 1):
            ngram = tuple(tokens[start : start + n])
            repeated += ngram in seen
            seen.add(ngram)
            total += 1
    return 100.0 * repeated / total if total else 0.0


def summary_scores(hypotheses, references, stem=True):
    """ROUGE-1, ROUGE-2, ROUGE-L F1 and the repetition rate of summaries.

    - `rouge1`, `rouge2`, `rougeL`: the F1 (F-measure) of ROUGE-1 (unigram
      overlap), ROUGE-2 (bigram overlap) and ROUGE-L (longest common
      subsequence) from Google's `rouge-score` package
      (`rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"],
      use_stemmer=stem)`), times 100, averaged over the documents.
      `rouge-score` lowercases, replaces every character other than
      `a-z` and `0-9` by a space and, with `stem=True`, applies the Porter
      stemmer to tokens longer than three characters, as the original
      ROUGE-1.5.5 script with `-m` does (text in other scripts than Latin
      has no tokens left). A document with several references gets, per
      metric, the F1 of its best reference (the largest F1 among them,
      `RougeScorer.score_multi`), as in common multi-reference practice,
      rather than ROUGE-1.5.5's default of averaging over references
      (or the jackknifing of its `-f` options). An empty hypothesis (or
      reference) scores 0.
    - `repetition`: `repetition_rate(hypotheses, n=3)`, the percentage of
      trigrams of the hypotheses that repeat an earlier trigram of their
      own summary (See et al., 2017, figure 4).

    `rougeL` is the sentence-level ROUGE-L: the longest common subsequence
    of the whole texts, ignoring sentence boundaries. The ROUGE-L of
    ROUGE-1.5.5 on multi-sentence summaries (reported by See et al.) is
    the summary-level variant, the union of the LCS of each reference
    sentence with all hypothesis sentences (`rouge-score`'s `rougeLsum`
    with newline-separated sentences); the two differ on multi-sentence
    summaries.

    `rouge-score` is imported when the function is called, not when
    `keras_attention` is imported.

    Args:
        hypotheses: Non-empty sequence of generated summaries, `str` or
            UTF-8 `bytes` (a list or a NumPy array of strings).
        references: Sequence with one entry per hypothesis: a reference
            summary (`str` or UTF-8 `bytes`) or a non-empty list, tuple or
            1-D array of reference summaries.
        stem: Whether tokens are Porter-stemmed before matching.

    Returns:
        A dict `{"rouge1": float, "rouge2": float, "rougeL": float,
        "repetition": float}`, each in `[0, 100]`.

    Raises:
        ValueError: if `hypotheses` is empty, or `hypotheses` and
            `references` differ in length.

    Example:

    ```python
    summary_scores(
        ["the cat sat on the mat . the cat sat on the mat ."],
        [["a cat sat on the mat .", "the cat was on the mat ."]],
    )
    # {"rouge1": 55.6, "rouge2": 50.0, "rougeL": 55.6, "repetition": 41.7}
    # (5 of the 12 trigrams of the summary repeat one before them)
    ```

    References:
        - [Lin, 2004](https://aclanthology.org/W04-1013/), "ROUGE: A
          Package for Automatic Evaluation of Summaries", sections 2-3
          (ROUGE-N, ROUGE-L).
        - [See et al., 2017](https://arxiv.org/abs/1704.04368), "Get To The
          Point: Summarization with Pointer-Generator Networks", section 7
          (ROUGE F1 and figure 4, repetition).
    """
    rouge_scorer = import_optional("rouge_score.rouge_scorer", "summary_scores")

    hypotheses = _texts(hypotheses, "hypotheses")
    reference_lists = _reference_lists(references)
    _check_lengths(hypotheses, reference_lists)
    if not hypotheses:
        raise ValueError(
            "`hypotheses` must hold at least one summary. Received: "
            "hypotheses=[] (and references=[])"
        )

    scorer = rouge_scorer.RougeScorer(list(_ROUGE_TYPES), use_stemmer=stem)
    totals = dict.fromkeys(_ROUGE_TYPES, 0.0)
    for hypothesis, references_of_document in zip(
        hypotheses, reference_lists, strict=True
    ):
        scores = scorer.score_multi(references_of_document, hypothesis)
        for rouge_type in _ROUGE_TYPES:
            totals[rouge_type] += scores[rouge_type].fmeasure
    result = {
        rouge_type: 100.0 * total / len(hypotheses)
        for rouge_type, total in totals.items()
    }
    result["repetition"] = repetition_rate(hypotheses, n=3)
    return result
