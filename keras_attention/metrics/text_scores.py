"""Exact match and corpus BLEU of decoded text against references."""

import numpy as np

from keras_attention._optional import import_optional


def _texts(values, argument_name):
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
    texts = []
    for index, value in enumerate(values):
        if isinstance(value, bytes):
            value = value.decode("utf-8")
        if not isinstance(value, str):
            raise ValueError(
                f"`{argument_name}` must hold one string (or UTF-8 bytes) "
                f"per sentence. Received: {argument_name}[{index}]={value!r} "
                f"of type {type(value).__name__}"
            )
        texts.append(value)
    return texts


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
      sequence equals that of their reference.
    - `bleu`: sacreBLEU corpus BLEU, 0 to 100, i.e.
      `sacrebleu.corpus_bleu(hypotheses, [references], lowercase=True,
      tokenize="13a").score` (one reference per hypothesis).

    sacreBLEU is imported when the function is called, not when
    `keras_attention` is imported.

    Args:
        hypotheses: Sequence of `str` (or UTF-8 `bytes`), the decoded
            sentences, e.g. a list or a NumPy array of strings.
        references: Sequence of `str` (or UTF-8 `bytes`), one reference
            sentence per hypothesis.

    Returns:
        A dict `{"exact_match": float, "bleu": float}` with `exact_match`
        in `[0, 1]` and `bleu` in `[0, 100]`. Both are 0.0 for empty
        inputs.

    Example:

    ```python
    text_scores(["Wait!", "i am tired"], ["wait !", "I'm tired."])
    # {"exact_match": 0.5, "bleu": ...}
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
    references = _texts(references, "references")
    if len(hypotheses) != len(references):
        raise ValueError(
            "`hypotheses` and `references` must have the same length (one "
            f"reference per hypothesis). Received: len(hypotheses)="
            f"{len(hypotheses)} and len(references)={len(references)}"
        )
    if not hypotheses:
        return {"exact_match": 0.0, "bleu": 0.0}
    tokenize = tokenizer_13a.Tokenizer13a()
    matches = [
        tokenize(hypothesis.lower()).split()
        == tokenize(reference.lower()).split()
        for hypothesis, reference in zip(hypotheses, references, strict=True)
    ]
    bleu = sacrebleu.corpus_bleu(
        hypotheses, [references], lowercase=True, tokenize="13a"
    )
    return {"exact_match": float(np.mean(matches)), "bleu": float(bleu.score)}
