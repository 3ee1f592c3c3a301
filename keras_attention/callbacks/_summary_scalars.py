"""The scalars of `AttentionSummary`: metrics, entropy, correctness."""

import math
import re

import keras
import numpy as np

from keras_attention.metrics.attention_correctness import attention_correctness
from keras_attention.metrics.text_scores import text_scores

# Scalar tags of their own, which an `output_values` label must not take.
_RESERVED_LABELS = (
    "entropy",
    "attention_correctness",
    "attention_correctness_best_head",
    "text",
)
_SAMPLE_TAG = re.compile(r"sample_\d+")


def _exact_match(hypotheses, references):
    return text_scores(hypotheses, references)["exact_match"]


def _corpus_bleu(hypotheses, references):
    return text_scores(hypotheses, references)["bleu"]


_BUILTIN_METRICS = {"exact_match": _exact_match, "bleu": _corpus_bleu}


def resolve_metrics(metric):
    """`{name: metric_fn}` of `AttentionSummary`'s `metric` argument."""
    specs = metric if isinstance(metric, (list, tuple)) else [metric]
    resolved = {}
    for spec in specs:
        if spec is None:
            continue
        if isinstance(spec, str) and spec in _BUILTIN_METRICS:
            metric_name, metric_fn = spec, _BUILTIN_METRICS[spec]
        elif callable(spec) and not isinstance(spec, str):
            metric_name = getattr(spec, "__name__", "")
            if not metric_name.isidentifier():
                metric_name = "metric"
            metric_fn = spec
        else:
            raise ValueError(
                "`metric` must be one of "
                f"{sorted(_BUILTIN_METRICS)}, a callable, None or a list of "
                f"these. Received: metric={metric!r}"
            )
        if metric_name in resolved:
            raise ValueError(
                "Each metric in `metric` needs a distinct name (the name of "
                f"a callable is its `__name__`). Received duplicate name "
                f"{metric_name!r} in metric={metric!r}"
            )
        resolved[metric_name] = metric_fn
    return resolved


def mean_entropy(samples, layer_name):
    """Mean entropy in nats of all attention rows of a layer, pooled.

    Rows are renormalised to sum to one first, so the value is a proper
    entropy even after padded source positions were cropped away; rows
    without any mass are skipped (NaN when no row is left).
    """
    entropies = np.concatenate(
        [_row_entropies(sample.layers[layer_name]) for sample in samples]
    )
    return float(np.mean(entropies)) if entropies.size else math.nan


def _row_entropies(weights):
    rows = weights.reshape(-1, weights.shape[-1]).astype(np.float64)
    totals = rows.sum(axis=-1)
    rows = rows[totals > 0] / totals[totals > 0, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(rows > 0, rows * np.log(rows), 0.0)
    return -terms.sum(axis=-1)


def layer_correctness(samples, layer_name):
    """`(mean, best_head)` attention correctness of one layer, pooled.

    `best_head` is `None` for 2-D weights; both are `None` when no sample
    has an alignment for the layer, and NaN when no step has a reference.
    """
    pairs = [
        (sample.layers[layer_name], sample.alignment)
        for sample in samples
        if sample.alignment is not None and layer_name in sample.aligned_layers
    ]
    if not pairs:
        return None, None
    head_shapes = {weights.shape[:-2] for weights, _ in pairs}
    if len(head_shapes) > 1:
        raise ValueError(
            "To score attention correctness, every sample with an "
            "alignment must have the same number of attention heads. "
            f"Received weights of shapes "
            f"{[weights.shape for weights, _ in pairs]}"
            + ("" if layer_name is None else f" for layer {layer_name!r}")
        )
    (head_shape,) = head_shapes
    num_out = max(weights.shape[-2] for weights, _ in pairs)
    num_src = max(weights.shape[-1] for weights, _ in pairs)
    attention = np.zeros(
        (len(pairs), *head_shape, num_out, num_src), dtype=np.float32
    )
    alignment = np.zeros((len(pairs), num_out, num_src), dtype=bool)
    for index, (weights, reference) in enumerate(pairs):
        rows, columns = weights.shape[-2:]
        attention[index, ..., :rows, :columns] = weights
        alignment[index, :rows, :columns] = reference
    best = None if not head_shape else math.nan
    if not alignment.any():
        return math.nan, best

    def score(heads):
        value = attention_correctness(attention, alignment, heads=heads)
        return float(keras.ops.convert_to_numpy(value))

    return score("mean"), (None if best is None else score("best"))


def value_means(samples, name, metric_names):
    """`{f"{name}/{label}": mean}` of the samples' `output_values`.

    Pooled over the output tokens of all samples with the label; a label
    must not take a tag of the callback's own.
    """
    sums = {}
    for sample in samples:
        for label, values in sample.output_values.items():
            total, count = sums.get(label, (0.0, 0))
            sums[label] = (
                total + float(np.sum(values, dtype=np.float64)),
                count + values.size,
            )
    reserved = [*_RESERVED_LABELS, *metric_names]
    for label in sums:
        if label in reserved or _SAMPLE_TAG.fullmatch(label):
            raise ValueError(
                "The labels of `output_values` returned by `decode_fn` "
                f"are written as scalars `{name}/{{label}}`, so they "
                f"must differ from the callback's own tags {sorted(reserved)} "
                f"and from `sample_{{i}}`. Received: label {label!r}"
            )
    return {
        f"{name}/{label}": total / count
        for label, (total, count) in sums.items()
    }
