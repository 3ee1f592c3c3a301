"""Training and evaluation of the zoo's translation models.

`train_translation` trains through the zoo's trainer (`zoo.trainer`) and
the translation task (`zoo.translation.task`); this module holds the
models' default arguments, the optimizer and its schedule, the length
buckets and the vocabulary cache. The loss is in `losses`, decoding in
`decoding`, scores in `scoring` and the summaries' samples in `summaries`.
"""

import hashlib

import keras
from keras import ops

from zoo.options import document
from zoo.text import WordPieceTokenizer
from zoo.trainer import grouped_options
from zoo.trainer import train

# What earlier versions of this module held, importable from it as before
# (the tutorials and benchmarks import them from here).
from zoo.translation.decoding import compile_decoder  # noqa: F401
from zoo.translation.decoding import translate_pairs  # noqa: F401
from zoo.translation.losses import MaskedSparseCrossentropy  # noqa: F401
from zoo.translation.losses import masked_accuracy  # noqa: F401
from zoo.translation.options import OPTIONS
from zoo.translation.scoring import attention_correctness_by_field  # noqa: F401
from zoo.translation.scoring import bleu_by_source_length  # noqa: F401
from zoo.translation.scoring import date_attention_correctness  # noqa: F401
from zoo.translation.scoring import output_alignments  # noqa: F401
from zoo.translation.scoring import score_translations  # noqa: F401
from zoo.translation.summaries import attention_decode_fn  # noqa: F401
from zoo.translation.summaries import length_spread  # noqa: F401

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
