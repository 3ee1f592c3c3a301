"""Training and evaluation of the zoo's translation models.

`train_translation` trains through the zoo's trainer (`zoo.trainer`) and
the translation task (`zoo.translation.task`); this module holds what
they and the command line use: the loss, metric and schedule, the
decoding and scoring helpers and the vocabulary cache.
"""

import hashlib
import random
import weakref

import keras
import numpy as np
from keras import ops

from keras_attention.metrics import attention_correctness
from keras_attention.metrics import text_scores
from zoo.compiled import compiled
from zoo.data import date_links
from zoo.options import document
from zoo.text import WordPieceTokenizer
from zoo.text import token_alignment
from zoo.trainer import TimeBudget  # noqa: F401 (importable here, as before)
from zoo.trainer import TrainingClock  # noqa: F401
from zoo.trainer import grouped_options
from zoo.trainer import train
from zoo.translation.options import OPTIONS

# Sizes that train the embedded dates to >95% exact match in minutes on a
# 2-core CPU; real corpora want the larger values the flags allow.
DEFAULT_MODEL_ARGUMENTS = {
    # Decoders start from zeros, so that they learn about the source only
    # through attention and the attention maps explain every output word.
    "bahdanau": {"embedding_dim": 32, "units": 64, "initial_state": "zeros"},
    "luong": {
        "embedding_dim": 32,
        "units": 64,
        "num_layers": 1,
        "input_feeding": False,
        # Started from the encoder's final state (which has just read the
        # year), one seed learned to emit the year with its attention on
        # the first source token: attention correctness 0.53 on the dates'
        # fields. Started from zeros: 0.96-1.0 (4 runs), exact match >99%.
        "initial_state": "zeros",
    },
    "transformer": {
        "model_dim": 64,
        "num_heads": 4,
        "feed_forward_dim": 128,
        "num_layers": 2,
        "dropout": 0.1,
    },
}


@keras.saving.register_keras_serializable(package="keras_attention_zoo")
class MaskedSparseCrossentropy(keras.losses.Loss):
    """Cross-entropy over non-padding target tokens (id 0 is padding).

    Padding positions contribute zero. The zoo's models put a Keras mask
    on their logits, so Keras averages over the real tokens only.
    Registered, so a model compiled with it loads with
    `keras.saving.load_model` and goes on training.

    Args:
        label_smoothing: Probability mass spread uniformly over the
            vocabulary (Szegedy et al. 2016), as in the Transformer paper.
        name: Name of the loss.
        **kwargs: Base `keras.losses.Loss` arguments.

    Example:

    >>> loss = MaskedSparseCrossentropy(label_smoothing=0.1)
    >>> loss.get_config()["label_smoothing"]
    0.1
    """

    def __init__(
        self, label_smoothing=0.0, name="masked_sparse_crossentropy", **kwargs
    ):
        super().__init__(name=name, **kwargs)
        self.label_smoothing = label_smoothing

    def call(self, target_ids, logits):
        logits = ops.cast(logits, "float32")
        vocabulary_size = ops.shape(logits)[-1]
        log_probs = ops.log_softmax(logits, axis=-1)
        target_ids = ops.cast(target_ids, "int32")
        one_hot = ops.one_hot(target_ids, vocabulary_size)
        smoothed = one_hot * (
            1.0 - self.label_smoothing
        ) + self.label_smoothing / ops.cast(vocabulary_size, "float32")
        per_token = -ops.sum(smoothed * log_probs, axis=-1)
        # Keras averages over the tokens left by the Keras mask the logits
        # carry; zeroing padding here keeps it out even without that mask.
        return per_token * ops.cast(ops.not_equal(target_ids, 0), "float32")

    def get_config(self):
        config = super().get_config()
        config["label_smoothing"] = self.label_smoothing
        return config


@keras.saving.register_keras_serializable(package="keras_attention_zoo")
def masked_accuracy(target_ids, logits):
    """Per-token hits; Keras averages them over the logits' Keras mask."""
    target_ids = ops.cast(target_ids, "int32")
    predictions = ops.cast(ops.argmax(logits, axis=-1), "int32")
    return ops.cast(ops.equal(predictions, target_ids), "float32")


@keras.saving.register_keras_serializable(package="keras_attention_zoo")
class TransformerSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """lr = d^-0.5 min(step^-0.5, step warmup^-1.5) (Vaswani et al., eq. 3)."""

    def __init__(self, model_dim, warmup_steps=4000):
        self.model_dim = model_dim
        self.warmup_steps = warmup_steps

    def __call__(self, step):
        step = ops.cast(step, "float32") + 1.0
        return (self.model_dim**-0.5) * ops.minimum(
            step**-0.5, step * self.warmup_steps**-1.5
        )

    def get_config(self):
        return {"model_dim": self.model_dim, "warmup_steps": self.warmup_steps}


def _decoder(model, beam_width):
    """The model's decoding loop as one compiled program (`zoo.compiled`)."""
    start_id = model.target_tokenizer.start_id
    end_id = model.target_tokenizer.end_id

    def decode(source_ids):
        return model.translate_ids(
            source_ids, start_id, end_id, beam_width=beam_width
        )

    return compiled(model, ("translate", beam_width), decode)


# The tokenizer and detokenizer of each model as TensorFlow graphs.
_TEXT_FUNCTIONS = weakref.WeakKeyDictionary()


def _text_functions(model):
    """`(tokenize, detokenize)`: the model's tokenizers as `tf.function`s.

    Run op by op, tokenizing and detokenizing a batch of 64 took about a
    fifth of `translate_pairs`' time on the spa-eng test split (about 40
    ms of 210 per batch); as graphs they take about 5 ms.
    """
    if model not in _TEXT_FUNCTIONS:
        import tensorflow as tf

        source_tokenizer = model.source_tokenizer

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
        def tokenize(texts):
            return source_tokenizer(texts, add_start=False, add_end=False)

        detokenize = tf.function(
            model.target_tokenizer.detokenize,
            input_signature=[tf.TensorSpec([None, None], tf.int32)],
        )
        _TEXT_FUNCTIONS[model] = (tokenize, detokenize)
    return _TEXT_FUNCTIONS[model]


# Source widths are cut to a multiple of this: one compiled decoder per
# width (5 for 40 tokens), little padding left.
SOURCE_WIDTH_MULTIPLE = 8


def source_width(source_ids):
    """Columns of a padded batch that `translate_pairs` keeps.

    The batch's longest source, rounded up to `SOURCE_WIDTH_MULTIPLE`
    (and at most the batch's width): the columns after it are padding in
    every row.
    """
    longest = int(np.max(np.sum(source_ids != 0, axis=1), initial=1))
    multiple = SOURCE_WIDTH_MULTIPLE
    return min(source_ids.shape[1], -(-longest // multiple) * multiple)


def compile_decoder(model, batch_size=64, beam_width=1):
    """Compiles `translate_pairs`' decoder for every source width it uses.

    Call it before timing `translate_pairs`: a width seen for the first
    time compiles (seconds).
    """
    decode = _decoder(model, beam_width)
    full_width = model.source_tokenizer.sequence_length
    if full_width is None:
        return
    widths = range(SOURCE_WIDTH_MULTIPLE, full_width, SOURCE_WIDTH_MULTIPLE)
    for width in sorted({*widths, full_width}):
        # Padding only: the shapes are what compiles.
        decode(np.zeros((batch_size, width), "int32"))


def translate_pairs(model, pairs, batch_size=64, beam_width=1):
    """Translates the sources of `pairs` with a model's tokenizers.

    Batches are padded to `batch_size` (with empty sentences) and their
    source ids cut to `source_width`, so that the compiled decoder sees a
    few shapes (`compile_decoder` compiles them all) and the encoder and
    the attention skip the padding every sentence of the batch has.

    Args:
        model: A zoo `Seq2Seq` model carrying its tokenizers.
        pairs: `(source, reference)` tuples; the references are ignored.
        batch_size: Sentences decoded at once.
        beam_width: 1 for greedy decoding, more for beam search.

    Returns:
        The hypotheses (strings), the attention of each (NumPy
        `[T_out, T_src]`, or `[heads, T_out, T_src]`) and the
        `(source_ids, output_ids)` of each.
    """
    hypotheses, attention, token_ids = [], [], []
    tokenize, detokenize = _text_functions(model)
    decode = _decoder(model, beam_width)
    for start in range(0, len(pairs), batch_size):
        sources = [source for source, _ in pairs[start : start + batch_size]]
        count = len(sources)
        sources += [""] * (batch_size - count)
        source_ids = tokenize(sources).numpy()
        width = source_width(source_ids)
        results = decode(source_ids[:, :width])
        sequences = ops.convert_to_numpy(results["sequences"])[:count]
        texts = detokenize(sequences).numpy()
        hypotheses.extend(text.decode("utf-8") for text in texts)
        weights = ops.convert_to_numpy(results["attention"])[:count]
        # Back to the tokenizer's width: the cut columns are padding, which
        # gets no attention.
        cut = source_ids.shape[1] - width
        attention.extend(
            np.pad(weights, [(0, 0)] * (weights.ndim - 1) + [(0, cut)])
        )
        token_ids.extend(zip(source_ids[:count], sequences, strict=True))
    return hypotheses, attention, token_ids


def score_translations(hypotheses, references):
    """Exact match and corpus BLEU with `keras_attention.metrics.text_scores`.

    The one scorer of the zoo: the CLI, `evaluation.json` and the
    TensorBoard summaries all report its numbers. Both scores compare
    lowercased text tokenized with sacreBLEU's `13a` tokenizer, so exact
    match ignores case, spacing and the space before punctuation
    (`"Wait!"` equals `"wait !"`), and BLEU is `sacrebleu.corpus_bleu(...,
    lowercase=True, tokenize="13a")`.

    Args:
        hypotheses: The translations (strings).
        references: One reference string per hypothesis.

    Returns:
        A dict with `"exact_match"` (a fraction in [0, 1]) and `"bleu"`
        (0 to 100).

    Example:

    >>> score_translations(["Wait!", "I am tired."], ["wait !", "I'm tired."])[
    ...     "exact_match"
    ... ]
    0.5
    """
    return text_scores(hypotheses, references)


def bleu_by_source_length(
    sources, hypotheses, references, boundaries=(5, 10, 15, 20)
):
    """Corpus BLEU of the sentences in each source-length bucket.

    As in figure 2 of Bahdanau et al. (2014), which shows attention
    keeping BLEU up on long sentences. Lengths are whitespace-separated
    words; BLEU is computed as in `score_translations`.

    Args:
        sources: The source sentences.
        hypotheses: Their translations.
        references: The reference translations.
        boundaries: Increasing upper bounds of the buckets; a last bucket
            holds longer sentences.

    Returns:
        A list with one dict per non-empty bucket: `"lengths"` (e.g.
        `"6-10"`), `"sentences"` and `"bleu"`.

    Example:

    >>> buckets = bleu_by_source_length(["a b"], ["x y z w"], ["x y z w"])
    >>> [(b["lengths"], b["sentences"], round(b["bleu"], 1)) for b in buckets]
    [('1-5', 1, 100.0)]
    """
    buckets = {}
    for source, hypothesis, reference in zip(
        sources, hypotheses, references, strict=True
    ):
        length = len(source.split())
        index = sum(length > bound for bound in boundaries)
        buckets.setdefault(index, []).append((hypothesis, reference))
    lower_bounds = [1] + [bound + 1 for bound in boundaries]
    results = []
    for index in sorted(buckets):
        hypotheses_in, references_in = zip(*buckets[index], strict=True)
        lower = lower_bounds[index]
        lengths = (
            f"{lower}-{boundaries[index]}"
            if index < len(boundaries)
            else f"{lower}+"
        )
        results.append(
            {
                "lengths": lengths,
                "sentences": len(hypotheses_in),
                "bleu": score_translations(hypotheses_in, references_in)[
                    "bleu"
                ],
            }
        )
    return results


def _token_spans(model, sources, token_ids):
    """Character spans of the source and output tokens of decoded pairs.

    Returns:
        The decoded texts and, per pair, the spans of the `source_ids`
        positions in the source (`None` for padding) and of the
        `output_ids` positions in the decoded text (`None` for `[END]` and
        what follows).
    """
    if not len(sources):
        return [], []
    _, starts, ends = model.source_tokenizer.tokenize_with_offsets(
        list(sources)
    )
    texts, output_spans = model.target_tokenizer.detokenize_with_offsets(
        np.stack([output_ids for _, output_ids in token_ids])
    )
    spans = []
    for row_starts, row_ends, (source_ids, _), row_outputs in zip(
        starts, ends, token_ids, output_spans, strict=True
    ):
        source_spans = [None] * len(source_ids)
        # `source_ids` may be truncated to the tokenizer's sequence_length.
        for index, span in enumerate(zip(row_starts, row_ends, strict=True)):
            if index < len(source_spans) and source_ids[index] != 0:
                source_spans[index] = span
        spans.append((source_spans, row_outputs))
    return texts, spans


def output_alignments(model, sources, links, token_ids):
    """Reference alignments of decoded outputs from character-span links.

    For each decoded sentence, the 0/1 matrix of `zoo.text.token_alignment`:
    output token `t` is aligned to source token `s` when, for some link,
    `t` overlaps the link's target span and `s` its source span. The
    target spans are located in the decoder's own output (the hypothesis,
    with `WordPieceTokenizer.detokenize_with_offsets`), not in a
    reference: right for outputs whose fields sit at fixed character
    positions, like the ISO dates (`zoo.data.date_links`). An output token
    outside every link has an all-zero row (no reference), and so has the
    step that emits `[END]`: attention correctness skips those steps.

    Args:
        model: A zoo `Seq2Seq` model carrying its tokenizers.
        sources: The source sentences.
        links: Per source, a sequence of `(source_span, target_span)`
            character links.
        token_ids: Per source, its `(source_ids, output_ids)`, as returned
            by `translate_pairs`.

    Returns:
        A list of `int32` arrays `[len(output_ids), len(source_ids)]`, the
        axes of `translate_pairs`' attention.
    """
    _, spans = _token_spans(model, sources, token_ids)
    return [
        token_alignment(sample_links, source_spans, output_spans)
        for sample_links, (source_spans, output_spans) in zip(
            links, spans, strict=True
        )
    ]


def _stack_padded(arrays):
    """Stacks arrays of one rank, zero-padding each axis to the largest."""
    shape = np.max([array.shape for array in arrays], axis=0)
    stacked = np.zeros((len(arrays), *shape), np.float32)
    for index, array in enumerate(arrays):
        stacked[(index, *(slice(0, size) for size in array.shape))] = array
    return stacked


def attention_correctness_by_field(attention, alignments):
    """Attention correctness (Liu et al. 2016) overall and per field.

    Scores with `keras_attention.metrics.attention_correctness` the steps
    of all sentences pooled: the attention mass a step puts on the source
    tokens its output token is aligned to, averaged over the steps that
    have a reference. `"all"` uses the union of the fields' alignments.

    Args:
        attention: Per sentence, the decoder's attention `[T_out, T_src]`,
            or `[heads, T_out, T_src]` per head (as `translate_pairs`
            returns it).
        alignments: A dict from field name to one `[T_out, T_src]` 0/1
            reference alignment per sentence (`output_alignments`).

    Returns:
        A dict with `"attention_correctness"`: `{"all": x, field: x,
        ...}`, for multi-head attention that of the head-averaged map; and
        for multi-head attention `"attention_correctness_best_head"`:
        likewise the score of the best single head, chosen per field. A
        score is `None` when no step has a reference.

    Example:

    >>> attention = [np.array([[0.8, 0.2], [0.3, 0.7], [0.5, 0.5]])]
    >>> alignments = {
    ...     "a": [np.array([[1, 0], [0, 0], [0, 0]])],
    ...     "b": [np.array([[0, 0], [0, 1], [0, 0]])],
    ... }
    >>> scores = attention_correctness_by_field(attention, alignments)
    >>> {k: round(v, 2) for k, v in scores["attention_correctness"].items()}
    {'all': 0.75, 'a': 0.8, 'b': 0.7}
    """
    if not alignments:
        raise ValueError(
            "`alignments` must map at least one field name to alignments. "
            f"Received: alignments={alignments!r}"
        )
    attention = [np.asarray(weights, np.float32) for weights in attention]
    multi_head = bool(attention) and attention[0].ndim == 3
    fields = {
        "all": [
            np.max(np.stack(per_sentence), axis=0)
            for per_sentence in zip(*alignments.values(), strict=True)
        ],
        **alignments,
    }
    scores = {"attention_correctness": {}}
    if multi_head:
        scores["attention_correctness_best_head"] = {}
    if not attention:
        for key in scores:
            scores[key] = dict.fromkeys(fields)
        return scores
    stacked = _stack_padded(attention)  # [batch, (heads,) T_out, T_src]
    num_out, num_src = stacked.shape[-2:]
    for field, field_alignments in fields.items():
        reference = np.zeros((len(attention), num_out, num_src), np.float32)
        for index, alignment in enumerate(field_alignments):
            rows, columns = np.shape(alignment)
            reference[index, : min(rows, num_out), : min(columns, num_src)] = (
                np.asarray(alignment)[:num_out, :num_src]
            )
        has_reference = bool(reference.any())
        for key, heads in (
            ("attention_correctness", "mean"),
            ("attention_correctness_best_head", "best"),
        ):
            if key in scores:
                value = attention_correctness(stacked, reference, heads=heads)
                scores[key][field] = (
                    float(ops.convert_to_numpy(value))
                    if has_reference
                    else None
                )
    return scores


def date_attention_correctness(
    model, sources, alignments, attention, token_ids
):
    """Attention correctness of translated dates, overall and per field.

    Each output token of the year, month or day of a translation is
    aligned to the source tokens of that field (`zoo.data.date_links`
    with the translation as `output`, located in the output as in
    `output_alignments`): a year written `"19", "##88"` in the output and
    `"19", "##88"` in the source has both output tokens aligned to both
    source tokens. Hyphens and the step that emits `[END]` have no
    reference and are not scored, and neither is a field that is not at
    its ISO position in the translation (an output `"20-05-05"` has no
    year where ISO puts it, so none of its fields is scored).

    Args:
        model: A zoo model trained on the embedded dates.
        sources: The source dates.
        alignments: Per source, its alignment dict (`load_dates(...,
            return_alignment=True)`).
        attention: Per source, its attention, from `translate_pairs`.
        token_ids: Per source, its `(source_ids, output_ids)`, from
            `translate_pairs`.

    Returns:
        The dict of `attention_correctness_by_field` with the fields
        `"all"`, `"year"`, `"month"` and `"day"`.
    """
    texts, spans = _token_spans(model, sources, token_ids)
    links = [
        date_links(alignment, output=text)
        for alignment, text in zip(alignments, texts, strict=True)
    ]
    per_field = {
        field: [
            token_alignment(
                [sample_links[field]] if field in sample_links else [],
                *sample_spans,
            )
            for sample_links, sample_spans in zip(links, spans, strict=True)
        ]
        for field in ("year", "month", "day")
    }
    return attention_correctness_by_field(attention, per_field)


def length_spread(texts, num_samples, seed=0):
    """Indices of texts spread over their lengths: short, medium, long.

    The texts are ordered by length in characters, ties in an order
    shuffled with `seed`, and the ones at the quantiles `(i + 0.5) /
    num_samples` are picked: representative short to long texts rather
    than the first rows of a file (which Anki sorts by length) or the
    extremes. The same texts and seed always give the same indices.

    Args:
        texts: The texts (e.g. the sources of the validation pairs).
        num_samples: How many indices to return, >= 0; all of them, by
            length, when there are fewer texts.
        seed: Seed of the tie-breaking order.

    Returns:
        A list of indices into `texts`, shortest text first.

    Example:

    >>> length_spread(["a", "abc", "ab", "abcdef", "abcd", "abcde"], 3)
    [2, 4, 3]
    """
    if (
        isinstance(num_samples, bool)
        or not isinstance(num_samples, int)
        or num_samples < 0
    ):
        raise ValueError(
            "`num_samples` must be an integer >= 0. "
            f"Received: num_samples={num_samples!r}"
        )
    order = list(range(len(texts)))
    random.Random(seed).shuffle(order)
    order.sort(key=lambda index: len(texts[index]))
    if num_samples >= len(order):
        return order
    return [
        order[int((i + 0.5) * len(order) / num_samples)]
        for i in range(num_samples)
    ]


def attention_decode_fn(model, links=None):
    """Builds the `AttentionSummary` decode function of a zoo model.

    Args:
        model: A zoo `Seq2Seq` model carrying its tokenizers.
        links: Optional function `links(source, hypothesis)` returning
            the character links `[(source_span, target_span), ...]` of a
            sample, target spans located in its translation `hypothesis`
            (see `output_alignments`; `zoo.data.date_links` for the dates),
            or `None`. A sample with links gets an `"alignment"` `[T_out,
            T_src]` over its output and source tokens, for which
            `AttentionSummary` logs attention correctness and outlines the
            reference cells.

    Returns:
        A function from a list of source strings to the list of sample
        dicts of the `AttentionSummary` contract.
    """
    source_tokenizer = model.source_tokenizer
    target_tokenizer = model.target_tokenizer

    def tokens(tokenizer, ids):
        kept = []
        for token_id in ids:
            if token_id == 0:
                break
            kept.append(tokenizer.id_to_token(token_id))
            if token_id == tokenizer.end_id:
                break
        return kept

    def decode(samples):
        hypotheses, attention, token_ids = translate_pairs(
            model, [(source, "") for source in samples]
        )
        sample_links = [
            None if links is None else links(source, hypothesis)
            for source, hypothesis in zip(samples, hypotheses, strict=True)
        ]
        linked = [
            index
            for index, found in enumerate(sample_links)
            if found is not None
        ]
        alignments = dict(
            zip(
                linked,
                output_alignments(
                    model,
                    [samples[index] for index in linked],
                    [sample_links[index] for index in linked],
                    [token_ids[index] for index in linked],
                ),
                strict=True,
            )
        )
        decoded = []
        rows = zip(samples, hypotheses, attention, token_ids, strict=True)
        for index, (source, hypothesis, weights, ids) in enumerate(rows):
            source_ids, output_ids = ids
            source_tokens = tokens(source_tokenizer, source_ids)
            output_tokens = tokens(target_tokenizer, output_ids)
            sample = {
                "source_tokens": source_tokens,
                "output_tokens": output_tokens,
                "attention": weights[
                    ..., : len(output_tokens), : len(source_tokens)
                ],
                "hypothesis": hypothesis,
                "source": source,
            }
            if index in alignments:
                sample["alignment"] = alignments[index][
                    : len(output_tokens), : len(source_tokens)
                ]
            decoded.append(sample)
        return decoded

    return decode


# The options but `arch` and `data`, which the docstring's "Args" lists.
_OWN_OPTIONS, _SHARED_OPTIONS = grouped_options(OPTIONS)


@document(
    [option for option in _OWN_OPTIONS if option.name not in ("arch", "data")],
    _SHARED_OPTIONS,
)
def train_translation(arch="luong", data=None, **options):
    """Trains, evaluates and saves a translation model; returns its metrics.

    The Python form of `keras-attention-zoo train translation`:
    `zoo.trainer.train("translation", arch=arch, data=data, **options)`.
    The keywords are the command's flags (`--batch-size 32` is
    `batch_size=32`, `--model-args` is `model_arguments`), checked against
    the options the translation task (`zoo.translation.options.OPTIONS`)
    and the trainer (`zoo.trainer.TRAINER_OPTIONS`) declare; they are
    listed below. A rerun with the same `logdir` and settings resumes an
    interrupted run (from its last epoch, or at its evaluation); a
    `logdir` holding a finished run or another run is refused unless
    `overwrite=True` (see `zoo.trainer.train`). The dtype policy it sets
    is restored.

    Args:
        arch: `"bahdanau"`, `"luong"` or `"transformer"`.
        data: What `zoo.data.load_translation_data` accepts; `None` trains
            on the embedded dates.
        **options: The other options, listed below; `None` or left out
            means the default.

    Returns:
        A dict with the test metrics of greedy and beam-4 decoding (exact
        match and BLEU of `score_translations`: lowercased, sacreBLEU 13a;
        BLEU by source length; for the embedded dates the attention
        correctness of `date_attention_correctness`, overall and per field,
        and for the Transformer also that of its best head), training pairs
        per second, decoded sentences per second, five sample translations
        spread over the source lengths and the paths written. The same
        dict is written to `logdir/evaluation.json`.

    Raises:
        ValueError: For an unknown option, an invalid value or model
            argument, naming it (before any data is read), or a logdir
            holding a finished or another run (`RunConflictError`).

    Example:

    ```python
    results = train_translation("luong", logdir="runs/dates", epochs=2)
    print(results["greedy"]["exact_match"])
    ```
    """
    return train("translation", arch=arch, data=data, **options)


def _optimizer(
    arch, arguments, learning_rate, num_pairs, batch_size, time_budget=False
):
    """Adam as each architecture's paper trains it, unless a rate is given.

    The Transformer gets Adam's beta_2 = 0.98, epsilon = 1e-9 and, trained
    by epochs, the warm-up schedule of Vaswani et al. (section 5.3). The
    paper warms up over 4,000 of 100,000 steps; a small dataset warms up
    over two epochs instead (at least 400 steps). Under a time budget the
    number of steps is unknown, so the Transformer, like the RNNs, gets a
    constant rate that `TimeBudget` anneals by the clock: on Tatoeba, 800
    steps at a constant 5e-4 reached 65% validation accuracy, the warm-up
    over 4,000 steps 51%, and a 400-step warm-up (a peak of 3e-3 at 256
    dimensions) 41%, emitting the same sentence for every input.
    """
    if learning_rate is not None:
        return keras.optimizers.Adam(learning_rate, clipnorm=5.0)
    if arch != "transformer":
        return keras.optimizers.Adam(3e-3, clipnorm=5.0)
    if time_budget:
        rate = 5e-4
    else:
        steps_per_epoch = -(-num_pairs // batch_size)
        warmup_steps = min(4000, max(400, 2 * steps_per_epoch))
        rate = TransformerSchedule(arguments["model_dim"], warmup_steps)
    return keras.optimizers.Adam(rate, beta_2=0.98, epsilon=1e-9, clipnorm=5.0)


def length_buckets(max_source_length, max_target_length):
    """Bucket boundaries of the training batches: every 8 tokens.

    A handful of batch shapes (one trace each) and little padding; dates
    fit the first bucket or two.

    Returns:
        The boundaries for `make_translation_dataset(bucket_boundaries=...)`,
        or `None` when everything fits one bucket.
    """
    boundaries = range(8, max(max_source_length, max_target_length + 1), 8)
    return list(boundaries) or None


def _learn_or_reuse_tokenizers(
    train_pairs, vocabulary_dir, vocabulary_size, max_source_length, verbose
):
    """Learns each side's vocabulary once per distinct text and size."""
    vocabulary_dir.mkdir(parents=True, exist_ok=True)
    tokenizers = []
    for side, sequence_length in ((0, max_source_length), (1, None)):
        texts = [pair[side] for pair in train_pairs]
        fingerprint = hashlib.sha256(
            "\n".join([str(vocabulary_size), *texts]).encode("utf-8")
        ).hexdigest()[:16]
        path = vocabulary_dir / f"{fingerprint}.txt"
        if path.is_file():
            tokenizer = WordPieceTokenizer(
                path, sequence_length=sequence_length
            )
        else:
            if verbose:
                print(
                    f"Learning the {'target' if side else 'source'} "
                    f"vocabulary from {len(texts)} sentences..."
                )
            tokenizer = WordPieceTokenizer.from_texts(
                texts,
                vocabulary_size=vocabulary_size,
                sequence_length=sequence_length,
            )
            # Written under a temporary name first: a run killed mid-write
            # must not leave a truncated vocabulary to be reused.
            partial = path.with_suffix(".partial")
            tokenizer.save_vocabulary(partial)
            partial.replace(path)
        tokenizers.append(tokenizer)
    return tokenizers
