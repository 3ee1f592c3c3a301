"""BLEU-1 to BLEU-4 and CIDEr-D of captions against several references."""

from keras_attention._optional import import_optional
from keras_attention.metrics.text_scores import _check_lengths
from keras_attention.metrics.text_scores import _normalize
from keras_attention.metrics.text_scores import _reference_lists
from keras_attention.metrics.text_scores import _reference_streams
from keras_attention.metrics.text_scores import _texts

_MAX_NGRAM_ORDER = 4
# CIDEr-D's settings in coco-caption: n-grams up to 4 and the standard
# deviation of its Gaussian length penalty.
_CIDER_NGRAM_ORDER = 4
_CIDER_SIGMA = 6.0


def caption_scores(hypotheses, references):
    """The caption metrics of captioning papers: BLEU-1..4 and CIDEr-D.

    All scores see the normalisation of `text_scores`: each caption is
    lowercased and tokenized with sacreBLEU's `13a` tokenizer (punctuation
    split off words, whitespace collapsed).

    - `bleu1` ... `bleu4`: sacreBLEU corpus BLEU, 0 to 100, with n-grams up
      to order 1 ... 4 (`sacrebleu.metrics.BLEU(max_ngram_order=n,
      lowercase=True, tokenize="13a")`, default `exp` smoothing) against
      all references of each caption: n-gram counts are clipped by the
      largest count in any of its references, and the brevity penalty
      uses, per caption, the reference length closest to the caption's
      length (the shorter one on a tie). Captions may have different
      numbers of references (sacreBLEU's reference streams are padded with
      `None`, which it skips).
    - `cider`: CIDEr-D as computed by coco-caption, with the scorer of
      `pycocoevalcap` (`pycocoevalcap.cider.cider_scorer.CiderScorer`,
      n-grams up to 4, sigma 6): TF-IDF weighted n-gram vectors, with
      document frequencies over the references of all captions scored
      together, hypothesis counts clipped by the reference counts, a
      Gaussian penalty on the length difference, averaged over references
      and n-gram orders and multiplied by 10. The value is on
      coco-caption's scale (e.g. 0.85, not 85); identical captions whose
      n-grams occur in no other caption's references score 10. As the IDF
      comes from the scored corpus, score a whole evaluation set in one
      call: a single caption always scores 0.

    coco-caption tokenizes with the Stanford PTB tokenizer, which needs
    Java; this function uses the `13a` tokenizer instead, so its numbers
    can differ slightly from the official evaluation server's (and
    coco-caption's own BLEU differs from sacreBLEU's in smoothing and in
    its corpus-level brevity penalty).

    sacreBLEU and pycocoevalcap are imported when the function is called,
    not when `keras_attention` is imported.

    Args:
        hypotheses: Sequence of generated captions, `str` or UTF-8
            `bytes` (a list or a NumPy array of strings).
        references: Sequence with one entry per hypothesis: a non-empty
            list, tuple or 1-D array of reference captions, `str` or UTF-8
            `bytes`. A plain string entry counts as a single reference.
            Reference captions must not be empty.

    Returns:
        A dict `{"bleu1": float, "bleu2": float, "bleu3": float,
        "bleu4": float, "cider": float, "num_captions": int}`, BLEU in
        `[0, 100]`, CIDEr-D `>= 0` (at most 10). All scores are 0.0 when
        there are no captions.

    Example:

    ```python
    caption_scores(
        ["a dog runs on the grass", "two cats sleep"],
        [
            ["A dog running on grass.", "a brown dog runs outside"],
            ["Two cats are sleeping.", "cats asleep", "two cats on a bed"],
        ],
    )
    # {"bleu1": ..., "bleu4": ..., "cider": ..., "num_captions": 2}
    ```

    References:
        - [Papineni et al., 2002](https://aclanthology.org/P02-1040/),
          "BLEU: a Method for Automatic Evaluation of Machine Translation",
          equations 1-2 (modified n-gram precision, brevity penalty).
        - [Vedantam et al., 2015](https://arxiv.org/abs/1411.5726),
          "CIDEr: Consensus-based Image Description Evaluation", equations
          1-5 and section 5 (CIDEr-D).
        - [Chen et al., 2015](https://arxiv.org/abs/1504.00325),
          "Microsoft COCO Captions: Data Collection and Evaluation Server"
          (coco-caption).
        - [Post, 2018](https://aclanthology.org/W18-6319/), "A Call for
          Clarity in Reporting BLEU Scores" (sacreBLEU).
    """
    sacrebleu_metrics = import_optional("sacrebleu.metrics", "caption_scores")
    tokenizer_13a = import_optional(
        "sacrebleu.tokenizers.tokenizer_13a", "caption_scores"
    )
    cider_scorer = import_optional(
        "pycocoevalcap.cider.cider_scorer", "caption_scores"
    )

    hypotheses = _texts(hypotheses, "hypotheses")
    reference_lists = _reference_lists(references)
    _check_lengths(hypotheses, reference_lists)
    scores = {f"bleu{order}": 0.0 for order in range(1, _MAX_NGRAM_ORDER + 1)}
    scores.update(cider=0.0, num_captions=len(hypotheses))
    if not hypotheses:
        return scores

    tokenize = tokenizer_13a.Tokenizer13a()
    normalized_references = _normalized_references(reference_lists, tokenize)
    scores.update(_bleu_scores(sacrebleu_metrics, hypotheses, reference_lists))
    scores["cider"] = _cider_score(
        cider_scorer, hypotheses, normalized_references, tokenize
    )
    return scores


def _normalized_references(reference_lists, tokenize):
    """The references as CIDEr-D reads them; none may be empty."""
    normalized_references = []
    for index, references_of_caption in enumerate(reference_lists):
        normalized = [
            _normalize(text, tokenize) for text in references_of_caption
        ]
        empty = [
            position for position, text in enumerate(normalized) if not text
        ]
        if empty:
            raise ValueError(
                "Reference captions must not be empty (an empty reference "
                "would count as a caption of length 0). Received: "
                f"references[{index}]={references_of_caption!r}, empty at "
                f"positions {empty}"
            )
        normalized_references.append(normalized)
    return normalized_references


def _bleu_scores(sacrebleu_metrics, hypotheses, reference_lists):
    """Corpus BLEU-1..4 of sacrebleu (13a tokens, lowercased)."""
    scores = {}
    streams = _reference_streams(reference_lists)
    for order in range(1, _MAX_NGRAM_ORDER + 1):
        bleu = sacrebleu_metrics.BLEU(
            max_ngram_order=order, lowercase=True, tokenize="13a"
        )
        scores[f"bleu{order}"] = float(
            bleu.corpus_score(hypotheses, streams).score
        )
    return scores


def _cider_score(cider_scorer, hypotheses, normalized_references, tokenize):
    """Corpus CIDEr-D of coco-caption's scorer."""
    scorer = cider_scorer.CiderScorer(n=_CIDER_NGRAM_ORDER, sigma=_CIDER_SIGMA)
    for hypothesis, references_of_caption in zip(
        hypotheses, normalized_references, strict=True
    ):
        scorer += (_normalize(hypothesis, tokenize), references_of_caption)
    cider, _ = scorer.compute_score()
    return float(cider)
