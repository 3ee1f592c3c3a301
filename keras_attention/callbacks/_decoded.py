"""What `AttentionSummary`'s `decode_fn` returns, as `AttentionSample`s."""

from collections.abc import Mapping

import keras
import numpy as np

from keras_attention.visualization import AttentionSample

# Keys whose value may be a dict from attention layer name (or value label)
# to per-sample data.
_PER_LAYER_KEYS = ("attention", "key_tokens", "output_values", "source_values")
_ORIGIN = "returned by `decode_fn`"


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


def _to_sample(sample, index):
    if isinstance(sample, AttentionSample):
        return sample
    if not isinstance(sample, Mapping):
        raise ValueError(
            "`decode_fn` must return a list of dicts (one per sample) or a "
            f"dict of per-sample sequences. Received: sample {index} of "
            f"type {type(sample).__name__}"
        )
    return AttentionSample.from_dict(
        sample, padded=True, index=index, origin=_ORIGIN
    )


def check_alignments(alignments):
    """The constructor's `alignments` as a list of arrays or `None`s."""
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
            if keras.ops.is_tensor(alignment):
                alignment = keras.ops.convert_to_numpy(alignment)
            alignment = np.asarray(alignment)
            if alignment.ndim not in (2, 3):
                raise ValueError(
                    "`alignments` must hold one [T_out, T_src] array (or, "
                    "for image samples, [T_out, L] or [T_out, h, w]; or "
                    "None) per sample. Received: "
                    f"alignments[{index}].shape={tuple(alignment.shape)}"
                )
        checked.append(alignment)
    return checked


def _with_alignments(samples, alignments):
    """The samples, those without alignment given their `alignments`."""
    if len(alignments) != len(samples):
        raise ValueError(
            "`alignments` must hold one array (or None) per decoded "
            f"sample. Received: len(alignments)={len(alignments)} for "
            f"{len(samples)} samples returned by `decode_fn`"
        )
    return [
        sample
        if sample.alignment is not None or alignment is None
        else AttentionSample.from_dict(
            {**sample.to_dict(), "alignment": alignment},
            padded=True,
            index=index,
            origin="given in `alignments`",
        )
        for index, (sample, alignment) in enumerate(
            zip(samples, alignments, strict=True)
        )
    ]


def decoded_samples(decoded, alignments=None):
    """`AttentionSample`s of `decode_fn`'s output, with `alignments`.

    Args:
        decoded: What `decode_fn` returned: a list of sample dicts (or of
            `AttentionSample`s), or a dict of per-sample sequences.
        alignments: `None`, or one alignment (or `None`) per sample for the
            samples without their own (checked by `check_alignments`).

    Returns:
        A list of `AttentionSample`s, all with the same attention layers.
    """
    if isinstance(decoded, dict):
        decoded = _unbatch(decoded)
    if not isinstance(decoded, (list, tuple)) or not decoded:
        raise ValueError(
            "`decode_fn` must return a non-empty list of dicts (one per "
            "sample) or a dict of per-sample sequences. Received: "
            f"{decoded!r}"
        )
    samples = [
        _to_sample(sample, index) for index, sample in enumerate(decoded)
    ]
    layer_names = list(samples[0].layers)
    for index, sample in enumerate(samples):
        if list(sample.layers) != layer_names:
            raise ValueError(
                "Every sample returned by `decode_fn` must have the same "
                f"attention layers. Received: {layer_names} for sample "
                f"0 and {list(sample.layers)} for sample {index}"
            )
    if alignments is not None:
        samples = _with_alignments(samples, alignments)
    return samples
