"""Keras callback writing attention heatmaps, decoded text and metrics."""

import math
import os
import re
from collections.abc import Mapping

import keras
import numpy as np

from keras_attention.metrics.attention_correctness import attention_correctness
from keras_attention.metrics.text_scores import text_scores
from keras_attention.visualization.plot_attention import _crop_attention
from keras_attention.visualization.plot_attention import _prepare_marks
from keras_attention.visualization.plot_attention import _prepare_values
from keras_attention.visualization.plot_attention import _to_numpy
from keras_attention.visualization.plot_attention import _token_to_text
from keras_attention.visualization.plot_attention import _tokens_to_text
from keras_attention.visualization.plot_attention import attention_to_image
from keras_attention.visualization.plot_image_attention import _attention_grid
from keras_attention.visualization.plot_image_attention import _flatten_cells
from keras_attention.visualization.plot_image_attention import (
    _image_to_unit_float,
)
from keras_attention.visualization.plot_image_attention import (
    image_attention_to_image,
)

_REQUIRED_KEYS = ("source_tokens", "output_tokens", "attention")
_OPTIONAL_KEYS = (
    "hypothesis",
    "source",
    "key_tokens",
    "alignment",
    "output_values",
    "source_values",
    "marked_outputs",
)
# Samples of image captioners attend to the cells of an image grid.
_IMAGE_REQUIRED_KEYS = ("image", "output_tokens", "attention")
_IMAGE_OPTIONAL_KEYS = ("hypothesis", "source", "grid_shape", "alignment")
# Separates the references of one sample in the text table.
_REFERENCE_SEPARATOR = " / "
# Keys whose value may be a dict from attention layer name (or value label)
# to per-sample data.
_PER_LAYER_KEYS = ("attention", "key_tokens", "output_values", "source_values")
# Scalar tags of their own, which an `output_values` label must not take.
_RESERVED_LABELS = (
    "entropy",
    "attention_correctness",
    "attention_correctness_best_head",
    "text",
)
_SAMPLE_TAG = re.compile(r"sample_\d+")
# Under the text table when a hypothesis has marked (bold) words.
_MARKS_LEGEND = "**bold**: copied from the source"
# Characters that would end a table cell, start emphasis or code, or be
# taken for HTML (e.g. "<unk>") in TensorBoard's Markdown renderer.
_MARKDOWN_SPECIAL = "\\`*_|<>[]"
# Runs of ASCII whitespace and of the line breaks of `str.splitlines`: a
# line break would end the table row. Other (e.g. non-breaking) spaces are
# kept as they are.
_BREAKING_WHITESPACE = re.compile(r"[ \t\n\r\f\v\x1c-\x1e\x85\u2028\u2029]+")


def _import_tensorflow():
    import tensorflow as tf

    if keras.backend.backend() != "tensorflow":
        # Summaries only need the CPU. Left alone, TensorFlow would reserve
        # most of every GPU's memory on its first op, next to the JAX or
        # PyTorch process that is training.
        try:
            tf.config.set_visible_devices([], "GPU")
        except RuntimeError:
            # TensorFlow was already initialised by the user; keep their
            # device configuration.
            pass
    return tf


def _exact_match(hypotheses, references):
    return text_scores(hypotheses, references)["exact_match"]


def _corpus_bleu(hypotheses, references):
    return text_scores(hypotheses, references)["bleu"]


_BUILTIN_METRICS = {"exact_match": _exact_match, "bleu": _corpus_bleu}


def _resolve_metrics(metric):
    specs = metric if isinstance(metric, (list, tuple)) else [metric]
    resolved = {}
    for spec in specs:
        if spec is None:
            continue
        if isinstance(spec, str):
            if spec not in _BUILTIN_METRICS:
                raise ValueError(
                    "`metric` must be one of "
                    f"{sorted(_BUILTIN_METRICS)}, a callable, None or a list "
                    f"of these. Received: metric={metric!r}"
                )
            metric_name, metric_fn = spec, _BUILTIN_METRICS[spec]
        elif callable(spec):
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


def _references(values):
    """Each entry as `str`, or as a list of `str` for several references."""
    if hasattr(values, "numpy"):
        values = values.numpy()
    if isinstance(values, (str, bytes)):
        raise ValueError(
            "`references` must be a sequence of strings (or of lists of "
            "strings), one entry per sample, not a single string. "
            f"Received: references={values!r}"
        )
    references = []
    for index, value in enumerate(values):
        if isinstance(value, (list, tuple)) or (
            isinstance(value, np.ndarray) and value.ndim == 1
        ):
            texts = [
                _token_to_text(text, f"references[{index}]") for text in value
            ]
            if not texts:
                raise ValueError(
                    f"`references[{index}]` must hold at least one reference "
                    f"string. Received: references[{index}]={value!r}"
                )
            references.append(texts)
        else:
            references.append(_token_to_text(value, "references"))
    return references


def _escape_markdown(text):
    text = _BREAKING_WHITESPACE.sub(" ", text).strip(" ")
    return "".join(
        "\\" + char if char in _MARKDOWN_SPECIAL else char for char in text
    )


def _marked_hypothesis(output_tokens, marks):
    """Markdown of the output tokens joined by spaces, marked ones bold."""
    words = []
    for token, marked in zip(output_tokens, marks, strict=True):
        text = _escape_markdown(token)
        # "****" would render as a horizontal rule or literal stars.
        if marked and text:
            text = f"**{text}**"
        if text:
            words.append(text)
    return " ".join(words)


def _markdown_table(sources, references, hypotheses, marked=None):
    """Markdown table of the samples.

    `marked` holds per sample `None` or `(output_tokens, marks)`; a sample
    with marks shows its tokens as hypothesis, the marked ones in bold,
    and a legend line follows the table when any token is marked.
    """
    header = ["#", "Source"]
    if references is not None:
        header.append("Reference")
    header.append("Hypothesis")
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
    ]
    for index, (source, hypothesis) in enumerate(
        zip(sources, hypotheses, strict=True)
    ):
        cells = [str(index), _escape_markdown(source)]
        if references is not None:
            reference = references[index]
            if isinstance(reference, str):
                reference = [reference]
            cells.append(
                _REFERENCE_SEPARATOR.join(
                    _escape_markdown(text) for text in reference
                )
            )
        if marked is not None and marked[index] is not None:
            cells.append(_marked_hypothesis(*marked[index]))
        else:
            cells.append(_escape_markdown(hypothesis))
        lines.append("| " + " | ".join(cells) + " |")
    if marked is not None and any(
        entry is not None and np.any(entry[1]) for entry in marked
    ):
        # A blank line ends the table; the next line would be a row.
        lines.extend(["", _MARKS_LEGEND])
    return "\n".join(lines)


def _row_entropies(weights):
    """Entropy in nats of every attention row (last axis) of `weights`.

    Rows are renormalised to sum to one first, so the value is a proper
    entropy even after padded source positions were cropped away; rows
    without any mass are skipped.
    """
    rows = weights.reshape(-1, weights.shape[-1]).astype(np.float64)
    totals = rows.sum(axis=-1)
    rows = rows[totals > 0] / totals[totals > 0, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(rows > 0, rows * np.log(rows), 0.0)
    return -terms.sum(axis=-1)


def _unbatch(decoded):
    """Turns a dict of per-sample sequences into a list of sample dicts."""
    columns = {}
    for key, value in decoded.items():
        if key in _PER_LAYER_KEYS and isinstance(value, dict):
            for layer_name, layer_value in value.items():
                columns[(key, layer_name)] = layer_value
        else:
            columns[key] = value
    lengths = {key: len(value) for key, value in columns.items()}
    if len(set(lengths.values())) > 1:
        raise ValueError(
            "When `decode_fn` returns a dict, every value must hold one "
            "entry per sample, so all lengths must be equal. Received "
            f"lengths: {lengths}"
        )
    num_samples = next(iter(lengths.values()), 0)
    samples = []
    for index in range(num_samples):
        sample = {}
        for key, value in columns.items():
            if isinstance(key, tuple):
                sample.setdefault(key[0], {})[key[1]] = value[index]
            else:
                sample[key] = value[index]
        samples.append(sample)
    return samples


def _check_attention(weights, sample_index, layer_name, num_keys, num_out):
    weights = _to_numpy(weights)
    where = f"sample {sample_index}"
    if layer_name is not None:
        where += f", layer {layer_name!r}"
    if weights.ndim not in (2, 3):
        raise ValueError(
            "`attention` returned by `decode_fn` must have shape "
            "[T_out, T_src] or [heads, T_out, T_src]. Received: "
            f"attention.shape={tuple(weights.shape)} for {where}"
        )
    try:
        weights = _crop_attention(weights, num_keys, num_out)
    except ValueError as error:
        raise ValueError(
            "`attention` returned by `decode_fn` must cover "
            f"len(output_tokens)={num_out} target steps and {num_keys} "
            "attended positions (len(source_tokens), or the layer's "
            "`key_tokens`). Received: "
            f"attention.shape={tuple(weights.shape)} for {where}"
        ) from error
    if not np.all(np.isfinite(weights)) or np.any(weights < 0):
        raise ValueError(
            "`attention` returned by `decode_fn` must hold finite, "
            f"non-negative weights. Received min={np.min(weights)}, "
            f"max={np.max(weights)} for {where}"
        )
    return weights


def _fit_alignment(alignment, num_out, num_src, where):
    """Bool `[num_out, num_src]` reference cells of a 2-D alignment array.

    Rows beyond `num_out` are dropped and missing rows (or columns) have no
    reference; columns beyond `num_src` must not mark any reference cell
    of a kept row.
    """
    alignment = _to_numpy(alignment)
    if alignment.ndim != 2:
        raise ValueError(
            f"{where} must have shape [T_out, T_src]. Received: "
            f"alignment.shape={tuple(alignment.shape)}"
        )
    reference = alignment != 0
    beyond = np.nonzero(reference[:num_out, num_src:])[1] + num_src
    if beyond.size:
        raise ValueError(
            f"{where} marks source positions beyond the {num_src} source "
            f"tokens. Received: alignment.shape={tuple(alignment.shape)} "
            f"with references in columns {sorted(set(beyond.tolist()))}"
        )
    fitted = np.zeros((num_out, num_src), dtype=bool)
    rows = min(num_out, reference.shape[0])
    columns = min(num_src, reference.shape[1])
    fitted[:rows, :columns] = reference[:rows, :columns]
    return fitted


def _fit_values(values, num_tokens, key, tokens_name, index):
    """`{label: float32 [num_tokens]}` of a sample's `key` dict, or `{}`.

    Longer arrays are cropped to the tokens like the attention (padding),
    shorter ones raise.
    """
    where = f"for sample {index} returned by `decode_fn`"
    if values is None:
        return {}
    if not isinstance(values, Mapping):
        raise ValueError(
            f"`{key}` must be a dict from label to one value per token of "
            f"`{tokens_name}`. Received: {key}={values!r} {where}"
        )
    cropped = {}
    for label, entry in values.items():
        array = _to_numpy(entry)
        if array.ndim != 1 or array.shape[0] < num_tokens:
            raise ValueError(
                f"`{key}[{label!r}]` must be 1-D with at least "
                f"len({tokens_name})={num_tokens} values (longer arrays are "
                f"cropped like the attention). Received: "
                f"{key}[{label!r}].shape={tuple(array.shape)} {where}"
            )
        cropped[label] = array[:num_tokens]
    try:
        prepared = _prepare_values(cropped, num_tokens, key, tokens_name)
    except ValueError as error:
        raise ValueError(f"{error} ({where})") from error
    return dict(prepared)


def _fit_marks(marks, num_out, index):
    """Bool `[num_out]` marks of a sample, cropped like the outputs."""
    if marks is None:
        return None
    where = f"for sample {index} returned by `decode_fn`"
    array = _to_numpy(marks)
    if array.ndim != 1 or array.shape[0] < num_out:
        raise ValueError(
            "`marked_outputs` must be 1-D with at least "
            f"len(output_tokens)={num_out} bools (longer arrays are cropped "
            "like the attention). Received: "
            f"marked_outputs.shape={tuple(array.shape)} {where}"
        )
    try:
        return _prepare_marks(array[:num_out], num_out)
    except ValueError as error:
        raise ValueError(f"{error} ({where})") from error


def _check_alignments(alignments):
    if alignments is None:
        return None
    if hasattr(alignments, "numpy"):
        alignments = alignments.numpy()
    if isinstance(alignments, (str, bytes, dict)) or not hasattr(
        alignments, "__len__"
    ):
        raise ValueError(
            "`alignments` must be a sequence with one [T_out, T_src] array "
            "(or, for image samples, [T_out, L] or [T_out, h, w]; or None) "
            f"per sample. Received: alignments={alignments!r}"
        )
    checked = []
    for index, alignment in enumerate(alignments):
        if alignment is not None:
            alignment = _to_numpy(alignment)
            if alignment.ndim not in (2, 3):
                raise ValueError(
                    "`alignments` must hold one [T_out, T_src] array (or, "
                    "for image samples, [T_out, L] or [T_out, h, w]; or "
                    "None) per sample. Received: "
                    f"alignments[{index}].shape={tuple(alignment.shape)}"
                )
        checked.append(alignment)
    return checked


def _layer_correctness(decoded, layer_name):
    """`(mean, best_head)` attention correctness of one layer, pooled.

    `best_head` is `None` for 2-D weights; both are `None` when no sample
    has an alignment for the layer, and NaN when no step has a reference.
    """
    pairs = [
        (sample["attention"][layer_name], sample["alignment"])
        for sample in decoded
        if sample["alignment"] is not None
        and layer_name in sample["aligned_layers"]
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


def _fit_image_alignment(alignment, num_out, grid, where):
    """Bool `[num_out, h * w]` reference cells of an image sample."""
    try:
        flat = _flatten_cells(alignment, grid, "alignment")
    except ValueError as error:
        raise ValueError(f"{where}: {error}") from error
    return _fit_alignment(flat, num_out, grid[0] * grid[1], where)


def _normalize_image_sample(sample, index):
    missing = [key for key in _IMAGE_REQUIRED_KEYS if key not in sample]
    if missing:
        raise ValueError(
            f"Each image sample returned by `decode_fn` must have the keys "
            f"{list(_IMAGE_REQUIRED_KEYS)} (optionally "
            f"{list(_IMAGE_OPTIONAL_KEYS)}). Received: keys "
            f"{sorted(sample)} for sample {index}, missing {missing}"
        )
    if "source_tokens" in sample or "key_tokens" in sample:
        raise ValueError(
            "A sample returned by `decode_fn` attends either to "
            "`source_tokens` or to the cells of an `image`, not both, and "
            "image samples take no `key_tokens`. Received: keys "
            f"{sorted(sample)} for sample {index}"
        )
    output_tokens = _tokens_to_text(sample["output_tokens"], "output_tokens")
    attention = sample["attention"]
    if isinstance(attention, dict):
        raise ValueError(
            "`attention` of an image sample must be one array of shape "
            "[T_out, L] or [T_out, h, w] (one attention layer; average "
            "heads before returning it), not a dict. Received: "
            f"attention={attention!r} for sample {index}"
        )
    where = f"image sample {index} returned by `decode_fn`"
    try:
        picture = _image_to_unit_float(sample["image"])
        weights, grid = _attention_grid(
            attention, sample.get("grid_shape"), len(output_tokens)
        )
    except ValueError as error:
        raise ValueError(f"{error} (for {where})") from error
    alignment = sample.get("alignment")
    if alignment is not None:
        alignment = _fit_image_alignment(
            alignment,
            len(output_tokens),
            grid,
            f"`alignment` returned by `decode_fn` for sample {index}",
        )
    hypothesis = sample.get("hypothesis")
    if hypothesis is None:
        hypothesis = " ".join(output_tokens)
    source = sample.get("source")
    if source is None:
        source = f"image {index}"
    return {
        "image": picture,
        "grid_shape": grid,
        "output_tokens": output_tokens,
        "attention": {None: weights},
        "hypothesis": _token_to_text(hypothesis, "hypothesis"),
        "source": _token_to_text(source, "source"),
        "alignment": alignment,
        "aligned_layers": (None,),
    }


def _normalize_sample(sample, index):
    if not isinstance(sample, dict):
        raise ValueError(
            "`decode_fn` must return a list of dicts (one per sample) or a "
            f"dict of per-sample sequences. Received: sample {index} of "
            f"type {type(sample).__name__}"
        )
    if "image" in sample:
        return _normalize_image_sample(sample, index)
    missing = [key for key in _REQUIRED_KEYS if key not in sample]
    if missing:
        raise ValueError(
            f"Each sample returned by `decode_fn` must have the keys "
            f"{list(_REQUIRED_KEYS)} (optionally {list(_OPTIONAL_KEYS)}; "
            "image samples have `image` instead of `source_tokens`). "
            f"Received: keys {sorted(sample)} for sample {index}, missing "
            f"{missing}"
        )
    source_tokens = _tokens_to_text(sample["source_tokens"], "source_tokens")
    output_tokens = _tokens_to_text(sample["output_tokens"], "output_tokens")
    attention = sample["attention"]
    layers = attention if isinstance(attention, dict) else {None: attention}
    if not layers:
        raise ValueError(
            "`attention` returned by `decode_fn` must not be an empty dict. "
            f"Received: attention={attention!r} for sample {index}"
        )
    key_tokens = sample.get("key_tokens", {})
    if not isinstance(key_tokens, dict) or not set(key_tokens) <= set(layers):
        raise ValueError(
            "`key_tokens` returned by `decode_fn` must be a dict whose keys "
            f"are attention layer names {sorted(map(str, layers))}. "
            f"Received: key_tokens={key_tokens!r} for sample {index}"
        )
    layer_keys = {
        layer_name: (
            _tokens_to_text(key_tokens[layer_name], "key_tokens")
            if layer_name in key_tokens
            else source_tokens
        )
        for layer_name in layers
    }
    layers = {
        layer_name: _check_attention(
            weights,
            index,
            layer_name,
            len(layer_keys[layer_name]),
            len(output_tokens),
        )
        for layer_name, weights in layers.items()
    }
    hypothesis = sample.get("hypothesis")
    if hypothesis is None:
        hypothesis = " ".join(output_tokens)
    source = sample.get("source")
    if source is None:
        source = " ".join(source_tokens)
    alignment = sample.get("alignment")
    if alignment is not None:
        alignment = _fit_alignment(
            alignment,
            len(output_tokens),
            len(source_tokens),
            f"`alignment` returned by `decode_fn` for sample {index}",
        )
    return {
        "source_tokens": source_tokens,
        "output_tokens": output_tokens,
        "attention": layers,
        "key_tokens": layer_keys,
        "hypothesis": _token_to_text(hypothesis, "hypothesis"),
        "source": _token_to_text(source, "source"),
        "alignment": alignment,
        "aligned_layers": tuple(
            layer_name for layer_name in layers if layer_name not in key_tokens
        ),
        "output_values": _fit_values(
            sample.get("output_values"),
            len(output_tokens),
            "output_values",
            "output_tokens",
            index,
        ),
        "source_values": _fit_values(
            sample.get("source_values"),
            len(source_tokens),
            "source_values",
            "source_tokens",
            index,
        ),
        "marked_outputs": _fit_marks(
            sample.get("marked_outputs"), len(output_tokens), index
        ),
    }


class AttentionSummary(keras.callbacks.Callback):
    """Writes attention heatmaps, decoded text and metrics to TensorBoard.

    Every `every_n_epochs` epochs the callback calls
    `decode_fn(samples)`, then writes with `tf.summary` to
    `os.path.join(logdir, name)` (a run of its own in TensorBoard, so
    `logdir` can be shared with `keras.callbacks.TensorBoard`):

    - images `{name}/sample_{i}` (2-D weights) or `{name}/sample_{i}/head_{h}`
      (3-D weights, one per head) for the first `max_images` samples: the
      heatmap of `plot_attention` with source tokens on the x axis and
      generated tokens on the y axis. With several named layers the tags
      are `{name}/{layer}/sample_{i}[/head_{h}]`. Each heatmap is titled
      `sample {i}[, {layer}][, head {h}]`. For an image sample (see
      below) the image `{name}/sample_{i}` holds the panels of
      `image_attention_to_image`: the picture (titled `sample {i}`), then
      per generated word the picture with that step's attention map
      blended over it, titled with the word, its reference cells outlined.
      Samples with `"output_values"`, `"source_values"` or
      `"marked_outputs"` (see the contract below) get value strips and
      bold marked tokens in their heatmaps.
    - text `{name}/text`: a Markdown table with the source, reference (when
      `references` are given; several references of a sample are joined
      with " / ") and hypothesis of every sample. The hypothesis of a
      sample with `"marked_outputs"` is its `output_tokens` joined by
      spaces, the marked ones in bold (`**word**`), and a line
      "**bold**: copied from the source" follows the table when any token
      is marked.
    - scalars `{name}/{metric}` (e.g. `{name}/exact_match`, `{name}/bleu`)
      when `references` are given, and `{name}/entropy` (or
      `{name}/entropy/{layer}` per named layer): the mean attention entropy
      in nats, pooled over all target steps (and heads) of all samples.
      Each attention row is renormalised to sum to one after padding is
      cropped; uniform attention over `n` positions gives `ln(n)`.
    - with alignments (see below), scalars `{name}/attention_correctness`
      (or `{name}/attention_correctness/{layer}`): the share of attention
      mass on the reference-aligned source tokens, averaged over all
      output steps with a reference of all samples
      (`keras_attention.metrics.attention_correctness`, NaN when no step
      has a reference). For multi-head weights this scores the
      head-averaged map, and `{name}/attention_correctness_best_head`
      (`.../{layer}`) the best head. The heatmaps then outline the
      reference cells.
    - scalars `{name}/{label}` (e.g. `{name}/p_gen`) for every label of
      the samples' `"output_values"`: its mean over all generated tokens of
      all samples that have it (pooled, not averaged per sample). A label
      must therefore not be a tag of the callback's own (`entropy`,
      `attention_correctness`, `attention_correctness_best_head`, `text`,
      a metric name, `sample_{i}`).

    **Alignments.** Reference alignments relate each output token to the
    source tokens it translates; they can be given in two ways:

    - per decoded sample, as `"alignment"` in the dict `decode_fn` returns
      (the decoder knows which tokens it generated, so it can align them);
    - up front, as the constructor's `alignments`: one `[T_out, T_src]`
      array (or `None`) per sample. Rows beyond the decoded output are
      ignored, and decoded steps beyond the array's rows have no
      reference.

    A sample's own `"alignment"` takes precedence over `alignments`. Either
    is a bool or numeric array whose nonzero cells are the reference
    (rows: output steps, columns: source tokens); rows that are all zero
    are steps without a reference, which are not scored. Alignments apply
    to the attention layers over the source tokens, i.e. to all layers but
    those given `key_tokens`.

    The summary step is the number of completed epochs: `epoch + 1` at the
    end of (0-based) epoch `epoch`, and 0 for the optional summary written
    before training when `write_on_train_begin=True`. The writer is
    flushed after every write and closed at the end of training.

    TensorFlow is imported only when summaries are written, and
    `decode_fn` only has to return NumPy-convertible values, so the
    callback works with any Keras backend (TensorFlow, JAX, PyTorch). With
    a backend other than TensorFlow, the callback hides the GPUs from
    TensorFlow (if TensorFlow is not initialised yet) so that writing
    summaries does not reserve GPU memory needed for training.

    **The `decode_fn` contract.** `decode_fn(samples)` returns either a
    list of `N` dicts (one per sample) or one dict of per-sample sequences
    of length `N` (e.g. a padded batch: a value `v` gives sample `i` the
    entry `v[i]`; a dict of layers under `"attention"` is indexed per
    layer). Each sample dict has the keys:

    - `"source_tokens"`: sequence of `str` (or UTF-8 `bytes`), the source.
    - `"output_tokens"`: sequence of `str` (or `bytes`), the generated
      tokens, one per decoding step that is to be plotted.
    - `"attention"`: the attention weights as a NumPy array (or backend
      tensor) of shape `[T_out, T_src]`, or `[heads, T_out, T_src]` for
      multi-head attention, where row `t` is the distribution over source
      positions used to generate `output_tokens[t]`. Arrays may be larger
      than the token lists (`T_out >= len(output_tokens)`,
      `T_src >= len(source_tokens)`): padding is cropped away. For several
      attention layers pass a dict `{layer_name: weights}`; every sample
      must then use the same layer names.
    - `"key_tokens"` (optional, named layers only): a dict
      `{layer_name: tokens}` giving the tokens a layer attends to when they
      are not the source tokens, e.g. `output_tokens` for decoder
      self-attention (`[T_out, T_out]` weights).
    - `"hypothesis"` (optional): the hypothesis text compared with the
      reference; defaults to `" ".join(output_tokens)` (pass the
      detokenized text for subword models).
    - `"source"` (optional): source text for the text summary; defaults to
      `" ".join(source_tokens)`.
    - `"alignment"` (optional): the reference alignment of the sample, an
      array of shape `[T_out, T_src]` (bool, or numeric with nonzero
      reference cells) laid out like the last two axes of `"attention"`
      and cropped like them; zero rows or missing rows mean no reference.
    - `"output_values"` (optional): a dict `{label: values}` of numbers per
      generated token, e.g. `{"p_gen": p_gen}`, the generation probability
      of a pointer-generator network (See et al., 2017, Eq. 8); each
      `values` is 1-D with at least `len(output_tokens)` finite entries,
      cropped like the rows of `"attention"`. Drawn as columns right of
      the heatmap of every layer of the sample (own scale: 0 to 1, widened
      to the data outside it) and logged as the scalars `{name}/{label}`.
    - `"source_values"` (optional): a dict `{label: values}` of numbers per
      source token, e.g. `{"coverage": coverage}`, the attention summed
      over the decoding steps (See et al., 2017, Eq. 10); each `values` is
      1-D with at least `len(source_tokens)` finite entries, cropped like
      the columns of `"attention"`. Drawn as rows below the heatmaps of the
      layers over the source tokens (not of layers given `key_tokens`),
      on a scale from 0 to the largest value.
    - `"marked_outputs"` (optional): one bool (or 0/1) per generated token,
      at least `len(output_tokens)` and cropped like them, `True` for the
      words copied from the source. Marked tokens are bold and red in the
      heatmaps and bold in the text table.

    In the dict-of-sequences form, `"output_values"` and `"source_values"`
    may be dicts `{label: [N, T] values}`, indexed per label like the
    layers of `"attention"`.

    **Image samples.** An image captioner (e.g. Show, Attend and Tell)
    attends to the cells of a grid over the picture instead of to source
    tokens. Its sample dicts have `"image"` instead of `"source_tokens"`:

    - `"image"`: the picture, `[H, W, 3]` RGB, `uint8` (or integer) in
      `[0, 255]` or float (read as `[0, 1]` when its maximum is at most 1,
      else as `[0, 255]`).
    - `"output_tokens"`: the generated words, as above.
    - `"attention"`: one attention layer, `[T_out, L]` over `L = h * w`
      cells in row-major order or `[T_out, h, w]`; rows beyond
      `len(output_tokens)` are cropped. Multi-head weights are not
      supported: a 3-D array is always read as `[T_out, h, w]` and 4-D
      arrays are refused, so average the heads (or pick one) in
      `decode_fn`. A dict of layers is refused too.
    - `"grid_shape"` (optional): `(h, w)` of `[T_out, L]` attention;
      inferred as a square grid when `L` is a perfect square.
    - `"alignment"` (optional): the reference cells of each generated
      word (e.g. the cells covered by the box of the object it names),
      `[T_out, L]` or `[T_out, h, w]`, bool or numeric; rows of words
      without a reference are all zero, and missing rows have none.
      Constructor `alignments` may hold the same arrays for image samples.
    - `"hypothesis"` (optional): as above.
    - `"source"` (optional): text of the sample in the table; defaults to
      `f"image {i}"`.

    Entropy (over the `L` cells) and attention correctness (the attention
    mass on the reference cells, Liu et al., 2017) are computed on the
    flattened `[T_out, L]` weights exactly as for token attention, and
    pooled with the token samples, if any.

    `decode_fn` usually closes over the model being trained, e.g. runs a
    greedy or beam search decoder on `samples` and returns its attention.

    Args:
        decode_fn: Callable `decode_fn(samples)` following the contract
            above.
        samples: Anything `decode_fn` accepts (token ids, strings, a
            batch); passed through unchanged.
        logdir: Directory for TensorBoard logs; events go to
            `os.path.join(logdir, name)`.
        references: Optional sequence with one entry per decoded sample,
            for the text table and the metrics: a reference string, or a
            non-empty list, tuple or 1-D array of reference strings when a
            sample has several (as captions do). The built-in metrics score
            against all references of a sample (exact match: equal to any
            of them).
        every_n_epochs: Write summaries at the end of every
            `every_n_epochs`-th epoch; must be >= 1.
        max_images: Number of samples (the first ones) for which heatmaps
            are written; the text and scalars always use all samples. Must
            be >= 0.
        metric: `"exact_match"` (fraction of hypotheses equal to their
            reference) or `"bleu"` (sacreBLEU corpus BLEU, 0 to 100), both
            computed by `keras_attention.metrics.text_scores` (lowercased,
            13a-tokenized, so `"Wait!"` matches `"wait !"`), a callable
            `metric(hypotheses, references) -> float` logged under its
            `__name__`, `None`, or a list of these. A callable receives
            `references` as given, each entry a `str` (bytes decoded) or a
            list of `str`. Metrics are only written when `references` are
            given.
        name: Tag prefix and sub-directory name of the run.
        write_on_train_begin: Whether to also write summaries (step 0)
            before the first epoch.
        image_dpi: Resolution of the heatmap images in pixels per inch.
        alignments: Optional sequence with one reference alignment per
            decoded sample, each a `[T_out, T_src]` array or `None`; see
            "Alignments" above.

    Example:

    ```python
    def decode_fn(samples):
        # Any decoder returning tokens and [T_out, T_src] weights per sample.
        outputs, attention = my_greedy_decoder(model, samples)
        return [
            {
                "source_tokens": source.split(),
                "output_tokens": output_tokens,
                "attention": weights,
            }
            for source, output_tokens, weights in zip(
                samples, outputs, attention
            )
        ]

    callback = AttentionSummary(
        decode_fn,
        samples=["ich bin müde", "danke"],
        logdir="runs/nmt",
        references=["i am tired", "thanks"],
        metric="bleu",
    )
    model.fit(dataset, epochs=10, callbacks=[callback])
    ```

    An image captioner attending to a 14 x 14 grid of the picture, with
    several reference captions per image:

    ```python
    def caption_decode_fn(images):
        captions, attention = my_captioner(model, images)  # [N, T, 196]
        return [
            {"image": image, "output_tokens": words, "attention": weights}
            for image, words, weights in zip(images, captions, attention)
        ]

    callback = AttentionSummary(
        caption_decode_fn,
        samples=images,  # [N, H, W, 3] uint8
        logdir="runs/captions",
        references=[["a dog runs", "a brown dog on grass"], ["two cats"]],
        metric="bleu",
    )
    ```

    A pointer-generator summarizer showing `p_gen`, the coverage and the
    copied words beside its attention:

    ```python
    def summarize_decode_fn(articles):
        results = my_pointer_generator_decoder(model, articles)
        return [
            {
                "source_tokens": result.article_tokens,
                "output_tokens": result.summary_tokens,
                "attention": result.attention,  # [T_out, T_src]
                "output_values": {"p_gen": result.p_gen},  # [T_out]
                "source_values": {
                    "coverage": result.attention.sum(axis=0)  # [T_src]
                },
                # Copied: more probability from the source than generated.
                "marked_outputs": result.p_gen < 0.5,
            }
            for result in results
        ]

    callback = AttentionSummary(
        summarize_decode_fn,
        samples=articles,
        logdir="runs/summaries",
    )  # writes attention/p_gen, the mean p_gen of all generated words
    ```
    """

    def __init__(
        self,
        decode_fn,
        samples,
        logdir,
        references=None,
        every_n_epochs=1,
        max_images=3,
        metric="exact_match",
        name="attention",
        write_on_train_begin=False,
        image_dpi=100,
        alignments=None,
    ):
        super().__init__()
        if not callable(decode_fn):
            raise ValueError(
                "`decode_fn` must be callable. Received: "
                f"decode_fn={decode_fn!r}"
            )
        if (
            isinstance(every_n_epochs, bool)
            or not isinstance(every_n_epochs, int)
            or every_n_epochs < 1
        ):
            raise ValueError(
                "`every_n_epochs` must be an integer >= 1. Received: "
                f"every_n_epochs={every_n_epochs!r}"
            )
        if (
            isinstance(max_images, bool)
            or not isinstance(max_images, int)
            or max_images < 0
        ):
            raise ValueError(
                "`max_images` must be an integer >= 0. Received: "
                f"max_images={max_images!r}"
            )
        if not isinstance(name, str) or not name.strip("/"):
            raise ValueError(
                f"`name` must be a non-empty string. Received: name={name!r}"
            )
        if not image_dpi > 0:
            raise ValueError(
                f"`image_dpi` must be > 0. Received: image_dpi={image_dpi!r}"
            )
        self.decode_fn = decode_fn
        self.samples = samples
        self.logdir = os.fspath(logdir)
        self.references = (
            None if references is None else _references(references)
        )
        self.every_n_epochs = every_n_epochs
        self.max_images = max_images
        self.metric = metric
        self._metric_fns = _resolve_metrics(metric)
        self.name = name.strip("/")
        self.write_on_train_begin = write_on_train_begin
        self.image_dpi = image_dpi
        self.alignments = _check_alignments(alignments)
        self._writer = None

    @property
    def run_dir(self):
        """Directory the event files are written to."""
        return os.path.join(self.logdir, self.name)

    def on_train_begin(self, logs=None):
        if self.write_on_train_begin:
            self.write_summaries(step=0)

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.every_n_epochs == 0:
            self.write_summaries(step=epoch + 1)

    def on_train_end(self, logs=None):
        self.close()

    def close(self):
        """Flushes and closes the summary writer (reopened when needed)."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def decode(self):
        """Runs `decode_fn` and validates its output.

        Returns:
            A list with one dict per sample holding `source_tokens` and
            `output_tokens` (lists of `str`), `attention` (a dict from layer
            name, or `None` for a single unnamed layer, to the cropped NumPy
            weights), `key_tokens` (a dict with the same keys, to the list
            of attended tokens), `hypothesis` and `source` (`str`),
            `alignment` (`None` or a bool `[len(output_tokens),
            len(source_tokens)]` array of the reference cells) and
            `aligned_layers` (the names of the layers over the source
            tokens, which the alignment applies to). An image sample
            instead holds `image` (float32 `[H, W, 3]` in `[0, 1]`),
            `grid_shape` (`(h, w)`), `output_tokens`, `attention`
            (`{None: [len(output_tokens), h * w] weights}`), `hypothesis`,
            `source`, `alignment` (`None` or bool `[len(output_tokens),
            h * w]`) and `aligned_layers` (`(None,)`). A token sample also
            holds `output_values` and `source_values` (dicts from label,
            `str`, to float32 arrays cropped to `len(output_tokens)` and
            `len(source_tokens)`; empty when not given) and
            `marked_outputs` (`None` or bool `[len(output_tokens)]`).
        """
        decoded = self.decode_fn(self.samples)
        if isinstance(decoded, dict):
            decoded = _unbatch(decoded)
        if not isinstance(decoded, (list, tuple)) or not decoded:
            raise ValueError(
                "`decode_fn` must return a non-empty list of dicts (one per "
                "sample) or a dict of per-sample sequences. Received: "
                f"{decoded!r}"
            )
        decoded = [
            _normalize_sample(sample, index)
            for index, sample in enumerate(decoded)
        ]
        layer_names = list(decoded[0]["attention"])
        for index, sample in enumerate(decoded):
            if list(sample["attention"]) != layer_names:
                raise ValueError(
                    "Every sample returned by `decode_fn` must have the same "
                    f"attention layers. Received: {layer_names} for sample "
                    f"0 and {list(sample['attention'])} for sample {index}"
                )
        if self.references is not None and len(self.references) != len(decoded):
            raise ValueError(
                "`references` must hold one string per decoded sample (or "
                "one list of strings, for several references). Received: "
                f"len(references)={len(self.references)} for "
                f"{len(decoded)} samples returned by `decode_fn`"
            )
        if self.alignments is not None:
            if len(self.alignments) != len(decoded):
                raise ValueError(
                    "`alignments` must hold one array (or None) per decoded "
                    f"sample. Received: len(alignments)={len(self.alignments)}"
                    f" for {len(decoded)} samples returned by `decode_fn`"
                )
            for index, sample in enumerate(decoded):
                alignment = self.alignments[index]
                if sample["alignment"] is not None or alignment is None:
                    continue
                if "image" in sample:
                    sample["alignment"] = _fit_image_alignment(
                        alignment,
                        len(sample["output_tokens"]),
                        sample["grid_shape"],
                        f"`alignments[{index}]`",
                    )
                else:
                    sample["alignment"] = _fit_alignment(
                        alignment,
                        len(sample["output_tokens"]),
                        len(sample["source_tokens"]),
                        f"`alignments[{index}]`",
                    )
        return decoded

    def compute_scalars(self, decoded):
        """Computes the scalar summaries of decoded samples.

        Args:
            decoded: Output of `decode()`.

        Returns:
            A dict from tag (e.g. `"attention/entropy"`) to float.
        """
        scalars = {}
        if self.references is not None:
            hypotheses = [sample["hypothesis"] for sample in decoded]
            for metric_name, metric_fn in self._metric_fns.items():
                scalars[f"{self.name}/{metric_name}"] = float(
                    metric_fn(hypotheses, self.references)
                )
        for layer_name in decoded[0]["attention"]:
            entropies = np.concatenate(
                [
                    _row_entropies(sample["attention"][layer_name])
                    for sample in decoded
                ]
            )
            tag = f"{self.name}/entropy"
            if layer_name is not None:
                tag += f"/{layer_name}"
            scalars[tag] = (
                float(np.mean(entropies)) if entropies.size else math.nan
            )
        for layer_name in decoded[0]["attention"]:
            mean, best = _layer_correctness(decoded, layer_name)
            suffix = "" if layer_name is None else f"/{layer_name}"
            if mean is not None:
                scalars[f"{self.name}/attention_correctness{suffix}"] = mean
            if best is not None:
                tag = f"{self.name}/attention_correctness_best_head{suffix}"
                scalars[tag] = best
        # Pooled over the generated tokens of all samples with the label.
        sums = {}
        for sample in decoded:
            for label, values in sample.get("output_values", {}).items():
                total, count = sums.get(label, (0.0, 0))
                sums[label] = (
                    total + float(np.sum(values, dtype=np.float64)),
                    count + values.size,
                )
        for label, (total, count) in sums.items():
            if (
                label in _RESERVED_LABELS
                or label in self._metric_fns
                or _SAMPLE_TAG.fullmatch(label)
            ):
                raise ValueError(
                    "The labels of `output_values` returned by `decode_fn` "
                    f"are written as scalars `{self.name}/{{label}}`, so they "
                    "must differ from the callback's own tags "
                    f"{sorted([*_RESERVED_LABELS, *self._metric_fns])} and "
                    f"from `sample_{{i}}`. Received: label {label!r}"
                )
            scalars[f"{self.name}/{label}"] = total / count
        return scalars

    def write_summaries(self, step):
        """Decodes the samples and writes all summaries at `step`.

        Usable outside `fit`, e.g. from a custom training loop.

        Args:
            step: Integer summary step.

        Returns:
            The dict of scalars written, from tag to value.
        """
        tf = _import_tensorflow()
        decoded = self.decode()
        scalars = self.compute_scalars(decoded)
        if self._writer is None:
            self._writer = tf.summary.create_file_writer(self.run_dir)
        with self._writer.as_default(step=step), tf.summary.record_if(True):
            for index, sample in enumerate(decoded[: self.max_images]):
                self._write_images(tf, index, sample)
            tf.summary.text(
                f"{self.name}/text",
                _markdown_table(
                    [sample["source"] for sample in decoded],
                    self.references,
                    [sample["hypothesis"] for sample in decoded],
                    [
                        None
                        if sample.get("marked_outputs") is None
                        else (sample["output_tokens"], sample["marked_outputs"])
                        for sample in decoded
                    ],
                ),
            )
            for tag, value in scalars.items():
                tf.summary.scalar(tag, value)
        self._writer.flush()
        return scalars

    def _write_images(self, tf, index, sample):
        if "image" in sample:
            image = image_attention_to_image(
                sample["image"],
                sample["attention"][None],
                sample["output_tokens"],
                grid_shape=sample["grid_shape"],
                alignment=sample["alignment"],
                title=f"sample {index}",
                dpi=self.image_dpi,
            )
            tf.summary.image(
                f"{self.name}/sample_{index}", image[None], max_outputs=1
            )
            return
        for layer_name, weights in sample["attention"].items():
            alignment = None
            if layer_name in sample["aligned_layers"]:
                alignment = sample["alignment"]
            prefix = self.name
            title = f"sample {index}"
            if layer_name is not None:
                prefix += f"/{layer_name}"
                title += f", {layer_name}"
            prefix += f"/sample_{index}"
            if weights.ndim == 2:
                heads = {prefix: (weights, title)}
            else:
                heads = {
                    f"{prefix}/head_{head}": (
                        head_weights,
                        f"{title}, head {head}",
                    )
                    for head, head_weights in enumerate(weights)
                }
            # Source values describe the source tokens, which only the
            # layers without `key_tokens` attend to.
            source_values = None
            if layer_name in sample["aligned_layers"]:
                source_values = sample["source_values"] or None
            for tag, (head_weights, head_title) in heads.items():
                image = attention_to_image(
                    head_weights,
                    sample["key_tokens"][layer_name],
                    sample["output_tokens"],
                    title=head_title,
                    dpi=self.image_dpi,
                    alignment=alignment,
                    output_values=sample["output_values"] or None,
                    source_values=source_values,
                    marked_outputs=sample["marked_outputs"],
                )
                tf.summary.image(tag, image[None], max_outputs=1)
