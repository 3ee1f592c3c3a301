"""Training and evaluation of the zoo's translation models."""

import json
import os
import pathlib
import time

import keras
import numpy as np
import sacrebleu
from keras import ops

from keras_attention.callbacks import AttentionSummary
from zoo.data import load_translation_data
from zoo.text import WordPieceTokenizer
from zoo.text import make_translation_dataset
from zoo.translation import ARCHITECTURES

# Sizes that train the embedded dates to >95% exact match in minutes on a
# 2-core CPU; real corpora want the larger values the flags allow.
DEFAULT_MODEL_ARGUMENTS = {
    "bahdanau": {"embedding_dim": 32, "units": 64},
    "luong": {
        "embedding_dim": 32,
        "units": 64,
        "num_layers": 1,
        "input_feeding": False,
    },
    "transformer": {
        "model_dim": 64,
        "num_heads": 4,
        "feed_forward_dim": 128,
        "num_layers": 2,
        "dropout": 0.1,
    },
}


def masked_sparse_crossentropy(label_smoothing=0.0):
    """Cross-entropy over non-padding target tokens (id 0 is padding).

    Args:
        label_smoothing: Probability mass spread uniformly over the
            vocabulary (Szegedy et al. 2016), as in the Transformer paper.
    """

    def loss(target_ids, logits):
        logits = ops.cast(logits, "float32")
        vocabulary_size = ops.shape(logits)[-1]
        log_probs = ops.log_softmax(logits, axis=-1)
        target_ids = ops.cast(target_ids, "int32")
        one_hot = ops.one_hot(target_ids, vocabulary_size)
        smoothed = one_hot * (
            1.0 - label_smoothing
        ) + label_smoothing / ops.cast(vocabulary_size, "float32")
        per_token = -ops.sum(smoothed * log_probs, axis=-1)
        # Keras averages over the tokens left by the Keras mask the logits
        # carry; zeroing padding here keeps it out even without that mask.
        return per_token * ops.cast(ops.not_equal(target_ids, 0), "float32")

    return loss


def masked_accuracy(target_ids, logits):
    """Per-token hits; Keras averages them over the logits' Keras mask."""
    target_ids = ops.cast(target_ids, "int32")
    predictions = ops.cast(ops.argmax(logits, axis=-1), "int32")
    return ops.cast(ops.equal(predictions, target_ids), "float32")


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


def translate_pairs(model, pairs, batch_size=64, beam_width=1):
    """Translates the sources of `pairs`; returns hypotheses and attention."""
    hypotheses, attention, token_ids = [], [], []
    source_tokenizer = model.source_tokenizer
    target_tokenizer = model.target_tokenizer
    for start in range(0, len(pairs), batch_size):
        sources = [source for source, _ in pairs[start : start + batch_size]]
        source_ids = ops.convert_to_numpy(
            source_tokenizer(sources, add_start=False, add_end=False)
        )
        results = model.translate_ids(
            source_ids,
            target_tokenizer.start_id,
            target_tokenizer.end_id,
            beam_width=beam_width,
        )
        sequences = ops.convert_to_numpy(results["sequences"])
        texts = target_tokenizer.detokenize(sequences).numpy()
        hypotheses.extend(text.decode("utf-8") for text in texts)
        attention.extend(ops.convert_to_numpy(results["attention"]))
        token_ids.extend(zip(source_ids, sequences, strict=True))
    return hypotheses, attention, token_ids


def score_translations(hypotheses, references):
    """Exact match and corpus BLEU (sacrebleu 13a, lowercased)."""
    exact = np.mean(
        [
            h.strip() == r.strip()
            for h, r in zip(hypotheses, references, strict=True)
        ]
    )
    bleu = sacrebleu.corpus_bleu(
        [h.lower() for h in hypotheses], [[r.lower() for r in references]]
    )
    return {"exact_match": float(exact), "bleu": float(bleu.score)}


def attention_decode_fn(model):
    """Builds the `AttentionSummary` decode function of a zoo model."""
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
        decoded = []
        for hypothesis, weights, (source_ids, output_ids) in zip(
            hypotheses, attention, token_ids, strict=True
        ):
            source_tokens = tokens(source_tokenizer, source_ids)
            output_tokens = tokens(target_tokenizer, output_ids)
            decoded.append(
                {
                    "source_tokens": source_tokens,
                    "output_tokens": output_tokens,
                    "attention": _heads_first(weights)[
                        ..., : len(output_tokens), : len(source_tokens)
                    ],
                    "hypothesis": hypothesis,
                }
            )
        return decoded

    return decode


def _heads_first(weights):
    # Decoders return [T_out, heads, T_src]; summaries want heads first.
    return np.moveaxis(weights, 1, 0) if weights.ndim == 3 else weights


def train_translation(
    arch="luong",
    data=None,
    *,
    valid=None,
    test=None,
    logdir="runs/translation",
    epochs=None,
    batch_size=64,
    vocabulary_size=4000,
    max_source_length=None,
    max_target_length=None,
    learning_rate=None,
    label_smoothing=0.0,
    patience=3,
    max_examples=None,
    mixed_precision=False,
    jit_compile="auto",
    distribute=None,
    num_summary_samples=3,
    model_arguments=None,
    seed=0,
    verbose=1,
):
    """Trains, evaluates and saves a translation model; returns its metrics.

    Args:
        arch: `"bahdanau"`, `"luong"` or `"transformer"`.
        data: What `zoo.data.load_translation_data` accepts; `None` trains
            on the embedded dates.
        valid: Optional explicit validation file.
        test: Optional explicit test file.
        logdir: Where checkpoints, TensorBoard logs, the model and the
            evaluation land.
        epochs: Maximum number of epochs (early stopping may end sooner);
            `None` gives 6 on the embedded dates and 10 otherwise.
        batch_size: Sentence pairs per batch.
        vocabulary_size: WordPiece vocabulary size of each language.
        max_source_length: Source tokens kept (longer inputs are truncated);
            `None` gives 24 on the embedded dates and 40 otherwise.
        max_target_length: Target tokens kept, and the decoding limit;
            `None` gives 14 on the embedded dates and 40 otherwise.
        learning_rate: Adam learning rate; `None` uses 3e-3 for RNNs and the
            warm-up schedule of Vaswani et al. for the Transformer.
        label_smoothing: Label smoothing of the loss.
        patience: Early-stopping patience in epochs (on validation loss).
        max_examples: Cap on the number of training pairs read.
        mixed_precision: Whether to train under `mixed_float16`
            (`mixed_bfloat16` on CPU, which has no fast float16).
        jit_compile: Passed to `model.compile`.
        distribute: `None` or `"mirrored"` (`tf.distribute.MirroredStrategy`
            over all visible devices).
        num_summary_samples: Validation sentences whose attention is drawn
            in TensorBoard each epoch.
        model_arguments: Overrides of the architecture's constructor
            arguments.
        seed: Seed of the data split, shuffling and initialization.
        verbose: Keras progress bar verbosity.

    Returns:
        A dict with the test metrics (greedy and beam 4), training pairs per
        second and the paths written.
    """
    if arch not in ARCHITECTURES:
        raise ValueError(
            f"`arch` must be one of {sorted(ARCHITECTURES)}. "
            f"Received: arch={arch}"
        )
    dates = data is None
    epochs = epochs or (6 if dates else 10)
    max_source_length = max_source_length or (24 if dates else 40)
    max_target_length = max_target_length or (14 if dates else 40)
    keras.utils.set_random_seed(seed)
    logdir = pathlib.Path(logdir)
    logdir.mkdir(parents=True, exist_ok=True)
    splits = load_translation_data(
        data, valid=valid, test=test, max_examples=max_examples, seed=seed
    )
    train_pairs, valid_pairs = splits["train"], splits["valid"]
    source_tokenizer = WordPieceTokenizer.from_texts(
        [source for source, _ in train_pairs],
        vocabulary_size=vocabulary_size,
        sequence_length=max_source_length,
    )
    target_tokenizer = WordPieceTokenizer.from_texts(
        [target for _, target in train_pairs],
        vocabulary_size=vocabulary_size,
    )
    train_data = make_translation_dataset(
        train_pairs,
        source_tokenizer,
        target_tokenizer,
        batch_size,
        max_source_length,
        max_target_length,
        seed=seed,
    )
    valid_data = make_translation_dataset(
        valid_pairs,
        source_tokenizer,
        target_tokenizer,
        batch_size,
        max_source_length,
        max_target_length,
        shuffle=False,
    )
    if mixed_precision:
        keras.mixed_precision.set_dtype_policy(
            "mixed_bfloat16" if _cpu_only() else "mixed_float16"
        )
    arguments = dict(DEFAULT_MODEL_ARGUMENTS[arch])
    arguments.update(model_arguments or {})

    def build_and_compile():
        model = ARCHITECTURES[arch](
            source_tokenizer.vocabulary_size,
            target_tokenizer.vocabulary_size,
            source_tokenizer=source_tokenizer,
            target_tokenizer=target_tokenizer,
            max_decode_length=max_target_length,
            **arguments,
        )
        rate = learning_rate
        if rate is None:
            rate = (
                TransformerSchedule(arguments["model_dim"], warmup_steps=400)
                if arch == "transformer"
                else 3e-3
            )
        model.compile(
            optimizer=keras.optimizers.Adam(rate, clipnorm=5.0),
            loss=masked_sparse_crossentropy(label_smoothing),
            metrics=[masked_accuracy],
            jit_compile=jit_compile,
        )
        (source_ids, target_ids), _ = next(iter(valid_data.take(1)))
        model((source_ids[:1], target_ids[:1]))
        return model

    if distribute == "mirrored":
        import tensorflow as tf

        with tf.distribute.MirroredStrategy().scope():
            model = build_and_compile()
    elif distribute is None:
        model = build_and_compile()
    else:
        raise ValueError(
            "`distribute` must be None or 'mirrored'. "
            f"Received: distribute={distribute}"
        )

    summary_pairs = valid_pairs[:num_summary_samples]
    callbacks = [
        keras.callbacks.BackupAndRestore(str(logdir / "backup")),
        keras.callbacks.EarlyStopping(
            monitor="val_loss", patience=patience, restore_best_weights=True
        ),
        keras.callbacks.TensorBoard(str(logdir)),
        AttentionSummary(
            attention_decode_fn(model),
            [source for source, _ in summary_pairs],
            str(logdir),
            references=[target for _, target in summary_pairs],
            metric="exact_match" if dates else "bleu",
        ),
    ]
    start = time.perf_counter()
    history = model.fit(
        train_data,
        validation_data=valid_data,
        epochs=epochs,
        callbacks=callbacks,
        verbose=verbose,
    )
    seconds = time.perf_counter() - start
    trained_epochs = len(history.history.get("loss", []))
    model_path = logdir / "model.keras"
    model.save(model_path)

    test_pairs = splits["test"]
    references = [target for _, target in test_pairs]
    greedy, _, _ = translate_pairs(model, test_pairs)
    beam, _, _ = translate_pairs(model, test_pairs, beam_width=4)
    results = {
        "arch": arch,
        "greedy": score_translations(greedy, references),
        "beam4": score_translations(beam, references),
        "train_pairs_per_second": len(train_pairs)
        * max(trained_epochs, 1)
        / seconds,
        "epochs": trained_epochs,
        "model_path": str(model_path),
        "logdir": str(logdir),
        "samples": [
            {"source": source, "reference": reference, "hypothesis": output}
            for (source, reference), output in zip(
                test_pairs[:5], greedy[:5], strict=False
            )
        ],
    }
    (logdir / "evaluation.json").write_text(json.dumps(results, indent=2))
    return results


def _cpu_only():
    import tensorflow as tf

    return not tf.config.list_physical_devices("GPU") and not os.environ.get(
        "CUDA_VISIBLE_DEVICES"
    )
