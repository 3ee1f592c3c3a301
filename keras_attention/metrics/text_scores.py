"""Exact match and corpus BLEU of decoded text against references."""

import numpy as np

from keras_attention._optional import import_optional


def _text(value, argument_name):
    if isinstance(value, bytes):
        value = value.decode("utf-8")
    if not isinstance(value, str):
        raise ValueError(
            f"`{argument_name.split('[')[0]}` must hold one string (or "
            "UTF-8 bytes) per sentence. Received: "
            f"{argument_name}={value!r} of type {type(value).__name__}"
        )
    return value


def _sequence(values, argument_name):
    if hasattr(values, "numpy"):
        values = values.numpy()
    if isinstance(values, (str, bytes)):
        raise ValueError(
            f"`{argument_name}` must be a sequence of strings, one per "
            f"sentence, not a single string. Received: "
            f"{argument_name}={values!r}"
        )
    if isinstance(values, np.ndarray):
        values = values.tolist()
    return values


def _texts(values, argument_name):
    values = _sequence(values, argument_name)
    return [
        _text(value, f"{argument_name}[{index}]")
        for index, value in enumerate(values)
    ]


def _reference_lists(values, argument_name="references"):
    """One list of reference strings per hypothesis.

    An entry of `values` is either one reference (`str` or UTF-8 `bytes`)
    or a non-empty list, tuple or 1-D array of them (several references).
    """
    values = _sequence(values, argument_name)
    reference_lists = []
    for index, value in enumerate(values):
        if isinstance(value, np.ndarray) and value.ndim == 1:
            value = value.tolist()
        if isinstance(value, (list, tuple)):
            if not value:
                raise ValueError(
                    f"`{argument_name}[{index}]` must hold at least one "
                    f"reference string. Received: {argument_name}[{index}]="
                    f"{value!r}"
                )
            reference_lists.append(
                [
                    _text(reference, f"{argument_name}[{index}][{position}]")
                    for position, reference in enumerate(value)
                ]
            )
        else:
            reference_lists.append([_text(value, f"{argument_name}[{index}]")])
    return reference_lists


def _check_lengths(hypotheses, reference_lists):
    if len(hypotheses) != len(reference_lists):
        raise ValueError(
            "`hypotheses` and `references` must have the same length (one "
            "reference, or list of references, per hypothesis). Received: "
            f"len(hypotheses)={len(hypotheses)} and "
            f"len(references)={len(reference_lists)}"
        )


def _reference_streams(reference_lists):
    """sacreBLEU's reference streams for a varying number of references.

    sacreBLEU takes references as streams, stream `k` holding the `k`-th
    reference of every hypothesis; a `None` entry is dropped, so a
    hypothesis with fewer references is padded with `None`. (An empty
    string would count as a reference of length 0.)
    """
    num_streams = max(len(references) for references in reference_lists)
    return [
        [
            references[stream] if stream < len(references) else None
            for references in reference_lists
        ]
        for stream in range(num_streams)
    ]


def _normalize(text, tokenize):
    """Lowercased, 13a-tokenized `text` with single spaces."""
    return " ".join(tokenize(text.lower()).split())


def text_scores(hypotheses, references):
    """Exact match and corpus BLEU of hypotheses against references.

    The one text scorer of the library: `AttentionSummary`'s `"exact_match"`
    and `"bleu"` metrics use it, and so can evaluations, so that the
    numbers agree everywhere.

    Both scores see the same normalisation: each string is lowercased,
    then tokenized with sacreBLEU's `13a` tokenizer (the WMT
    `mteval-v13a` tokenization, which splits punctuation off words and
    collapses whitespace). So `"Wait!"`, `"wait!"` and `"wait !"` are all
    equal, and leading, trailing or repeated whitespace never matters.

    - `exact_match`: the fraction of hypotheses whose normalised token
      sequence equals that of their reference (of any of their
      references, when a hypothesis has several).
    - `bleu`: sacreBLEU corpus BLEU, 0 to 100, i.e.
      `sacrebleu.corpus_bleu(hypotheses, [references], lowercase=True,
      tokenize="13a").score` with one reference per hypothesis. With
      several references per hypothesis, n-gram counts are clipped by the
      largest count in any reference and the brevity penalty uses the
      reference length closest to the hypothesis length; the number of
      references may differ between hypotheses (the reference streams
      are padded with `None`, which sacreBLEU skips).

    sacreBLEU is imported when the function is called, not when
    `keras_attention` is imported.

    Args:
        hypotheses: Sequence of `str` (or UTF-8 `bytes`), the decoded
            sentences, e.g. a list or a NumPy array of strings.
        references: Sequence with one entry per hypothesis: a reference
            sentence (`str` or UTF-8 `bytes`), or a non-empty list, tuple
            or 1-D array of reference sentences.

    Returns:
        A dict `{"exact_match": float, "bleu": float}` with `exact_match`
        in `[0, 1]` and `bleu` in `[0, 100]`. Both are 0.0 for empty
        inputs.

    Example:

    ```python
    text_scores(["Wait!", "i am tired"], ["wait !", "I'm tired."])
    # {"exact_match": 0.5, "bleu": ...}
    text_scores(["i am tired!"], [["I'm tired.", "I am tired !"]])
    # {"exact_match": 1.0, "bleu": 100.0}
    ```

    References:
        - [Papineni et al., 2002](https://aclanthology.org/P02-1040/),
          "BLEU: a Method for Automatic Evaluation of Machine Translation".
        - [Post, 2018](https://aclanthology.org/W18-6319/), "A Call for
          Clarity in Reporting BLEU Scores" (sacreBLEU).
    """
    sacrebleu = import_optional("sacrebleu", "text_scores")
    tokenizer_13a = import_optional(
        "sacrebleu.tokenizers.tokenizer_13a", "text_scores"
    )

    hypotheses = _texts(hypotheses, "hypotheses")
    reference_lists = _reference_lists(references)
    _check_lengths(hypotheses, reference_lists)
    if not hypotheses:
        return {"exact_match": 0.0, "bleu": 0.0}
    tokenize = tokenizer_13a.Tokenizer13a()
    matches = [
        any(
            _normalize(hypothesis, tokenize) == _normalize(reference, tokenize)
            for reference in references
        )
        for hypothesis, references in zip(
            hypotheses, reference_lists, strict=True
        )
    ]
    bleu = sacrebleu.corpus_bleu(
        hypotheses,
        _reference_streams(reference_lists),
        lowercase=True,
        tokenize="13a",
    )
    return {"exact_match": float(np.mean(matches)), "bleu": float(bleu.score)}
