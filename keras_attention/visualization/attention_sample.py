"""`AttentionSample`: one decoded sample and its attention, validated once.

The one sample type of the visualization functions (`plot_attention`,
`attention_to_image`, `plot_image_attention`, `image_attention_to_image`)
and of `keras_attention.callbacks.AttentionSummary`. Its constructor (and
`from_dict`, for the dicts decoders return) is the only place where tokens,
attention weights, reference alignments, value strips and marks are
checked, cropped and converted to NumPy.
"""

import dataclasses
from collections.abc import Mapping
from typing import Any

from keras_attention.visualization import _checks
from keras_attention.visualization.text import token_text
from keras_attention.visualization.text import tokens_text

_FIELDS = (
    "source_tokens",
    "output_tokens",
    "attention",
    "key_tokens",
    "alignment",
    "output_values",
    "source_values",
    "marked_outputs",
    "image",
    "grid_shape",
    "hypothesis",
    "source",
    "title",
    "scores",
)
# Other names of the same fields: the arguments of `plot_attention`
# (`weights`, `target_tokens`) and of `plot_image_attention` (`words`).
ALIASES = {
    "target_tokens": "output_tokens",
    "words": "output_tokens",
    "weights": "attention",
}
_TOKEN_KEYS = ("source_tokens", "output_tokens", "attention")
_IMAGE_KEYS = ("image", "output_tokens", "attention")
_OPTIONAL_KEYS = tuple(
    key for key in _FIELDS if key not in (*_TOKEN_KEYS, "image")
)
_NAMES = {field: field for field in _FIELDS}


class _Where:
    """Where a dict sample comes from, as its errors name it."""

    def __init__(self, index=None, origin=None, image=False):
        self.index = index
        self.origin = origin
        self.image = image

    def subject(self, key):
        """E.g. "`alignment` returned by `decode_fn` for sample 3"."""
        text = f"`{key}`"
        if self.origin:
            text += f" {self.origin}"
        if self.index is not None:
            text += f" for sample {self.index}"
        return text

    def suffix(self):
        """E.g. "for image sample 3 returned by `decode_fn`", or ""."""
        parts = []
        if self.index is not None:
            kind = "image sample" if self.image else "sample"
            parts.append(f"for {kind} {self.index}")
        if self.origin:
            parts.append(self.origin)
        return " ".join(parts)

    def located(self, error):
        """`error` with the suffix appended to its message."""
        suffix = self.suffix()
        return ValueError(f"{error} {suffix}" if suffix else str(error))


@dataclasses.dataclass(frozen=True, eq=False, kw_only=True)
class AttentionSample:
    """One decoded sample with its attention, for plots and summaries.

    A token sample attends from its `output_tokens` (the generated tokens,
    one per decoding step) to its `source_tokens`; an image sample (an
    image captioner's, see Xu et al., 2015) attends to the cells of a grid
    over its `image` instead. The constructor validates every field once,
    crops padded arrays to the tokens and stores read-only NumPy arrays, so
    everything that takes a sample can draw it without further checks.

    Arrays may be NumPy arrays, backend tensors or nested lists; tokens
    `str`, UTF-8 `bytes` or scalars (stored as `str`). Dicts returned by a
    decoder convert with `AttentionSample.from_dict`, which also accepts
    the other names of the fields (`target_tokens` and `words` for
    `output_tokens`, `weights` for `attention`) and, with `padded=True`,
    padded value strips, marks and alignments.

    Args:
        output_tokens: The generated tokens (`T_out` of them).
        attention: The attention weights, finite and non-negative: for a
            token sample `[T_out, T_src]`, or `[heads, T_out, T_src]` for
            multi-head attention, or a dict `{layer_name: weights}` of
            several layers; for an image sample one `[T_out, L]` array over
            `L = h * w` grid cells in row-major order, or `[T_out, h, w]`.
            Larger arrays (decoder padding) are cropped to the tokens.
            Stored as float32 (image attention flattened to `[T_out, L]`).
        source_tokens: The source tokens (`T_src` of them) of a token
            sample; `None` for an image sample.
        key_tokens: Optional dict `{layer_name: tokens}` for named layers
            that attend to other tokens than the source, e.g.
            `output_tokens` for decoder self-attention. Stored as a dict
            (empty when not given).
        alignment: Optional reference alignment, bool or numeric (nonzero:
            reference cell), `[T_out, T_src]` or larger (cropped); for an
            image sample `[T_out, L]` or `[T_out, h, w]` (rows cropped).
            Stored as bool `[T_out, T_src]` (`[T_out, L]`). It applies to
            the layers over the source tokens (`aligned_layers`).
        output_values: Optional dict `{label: values}` with `T_out` finite
            numbers per label, e.g. `{"p_gen": p_gen}` of a
            pointer-generator network (See et al., 2017, Eq. 8). Stored as
            `{str: float32 array}` (empty when not given).
        source_values: Optional dict `{label: values}` with `T_src` finite
            numbers per label, e.g. `{"coverage": coverage}` (See et al.,
            2017, Eq. 10). Token samples only.
        marked_outputs: Optional `T_out` bools (or 0/1), `True` for marked
            output tokens, e.g. the words copied from the source.
        image: The picture of an image sample, `[H, W, 3]` RGB, integer in
            `[0, 255]` or float (read as `[0, 1]` when its maximum is at
            most 1, else as `[0, 255]`). Stored as float32 in `[0, 1]`.
        grid_shape: `(h, w)` of `[T_out, L]` image attention; inferred as
            a square grid when `L` is a perfect square. Stored as a tuple.
        hypothesis: Optional text of the output, compared with references;
            defaults to `" ".join(output_tokens)`.
        source: Optional text of the source; defaults to
            `" ".join(source_tokens)` (`None` for an image sample).
        title: Optional title of the plots.
        scores: Optional dict `{label: number}` of scores of the sample
            (e.g. its BLEU), shown after the title in the plots.

    Example:

    ```python
    sample = AttentionSample(
        source_tokens=["germany", "beat", "argentina"],
        output_tokens=["germany", "wins"],
        attention=[[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]],
        output_values={"p_gen": [0.1, 0.9]},
        source_values={"coverage": [0.8, 0.3, 0.9]},
        marked_outputs=[True, False],
    )
    ax = plot_attention(sample)
    ```

    An image sample, two words over a 2 x 2 grid:

    ```python
    sample = AttentionSample(
        image=np.zeros((64, 64, 3), "uint8"),
        output_tokens=["a", "cat"],
        attention=np.full((2, 4), 0.25),
    )
    figure = plot_image_attention(sample)
    ```
    """

    output_tokens: Any
    attention: Any
    source_tokens: Any = None
    key_tokens: Any = None
    alignment: Any = None
    output_values: Any = None
    source_values: Any = None
    marked_outputs: Any = None
    image: Any = None
    grid_shape: Any = None
    hypothesis: Any = None
    source: Any = None
    title: Any = None
    scores: Any = None

    def __post_init__(self):
        fields = {field: getattr(self, field) for field in _FIELDS}
        self._set(_normalized(fields, _NAMES))

    def _set(self, values):
        for field, value in values.items():
            object.__setattr__(self, field, value)

    @classmethod
    def from_dict(cls, sample, padded=False, index=None, origin=None):
        """Builds a sample from a dict with the fields as keys.

        The keys are the constructor's arguments, or their other names:
        `target_tokens` (as in `plot_attention`) or `words` (as in
        `plot_image_attention`) for `output_tokens`, `weights` for
        `attention`; errors name the key as given. A dict with `"image"`
        is an image sample. Keys with the value `None` count as absent;
        unknown keys are ignored.

        Args:
            sample: The dict, e.g. one that a decoder returned.
            padded: Whether the dict's arrays may be padded like a
                decoder's outputs: `output_values`, `source_values` and
                `marked_outputs` then need at least (not exactly) one entry
                per token and are cropped, and `alignment` may have any
                size: rows and columns beyond the tokens are dropped
                (columns beyond the source must not hold references) and
                missing ones have no reference.
            index: Optional position of the sample in a list of samples,
                named in errors ("for sample 3").
            origin: Optional text naming where the dict comes from, used
                in errors, e.g. "returned by `decode_fn`".

        Returns:
            An `AttentionSample`.

        Example:

        ```python
        sample = AttentionSample.from_dict(
            {
                "source_tokens": ["ich", "bin"],
                "target_tokens": ["i", "am"],
                "weights": np.eye(2),
            }
        )
        ```
        """
        if not isinstance(sample, Mapping):
            raise ValueError(
                "`sample` must be a dict from field name to value. "
                f"Received: sample of type {type(sample).__name__}"
            )
        fields, names = _resolve_keys(sample)
        where = _Where(index, origin, image=fields["image"] is not None)
        _check_keys(fields, where)
        alignment = None
        if padded:
            alignment, fields["alignment"] = fields["alignment"], None
        try:
            if padded:
                _crop_padded(fields, names)
            built = object.__new__(cls)
            built._set(_normalized(fields, names))
        except ValueError as error:
            raise where.located(error) from error
        if alignment is not None:
            built._set({"alignment": _fit(built, alignment, where)})
        return built

    def to_dict(self):
        """The fields that are set, as a dict `from_dict` reads back.

        Returns:
            A dict from field name to value, without the `None` and empty
            fields.
        """
        values = {field: getattr(self, field) for field in _FIELDS}
        return {
            field: value
            for field, value in values.items()
            if value is not None and not (isinstance(value, dict) and not value)
        }

    @property
    def layers(self):
        """`{layer_name: weights}`; `{None: attention}` for one array."""
        if isinstance(self.attention, dict):
            return self.attention
        return {None: self.attention}

    @property
    def aligned_layers(self):
        """Names of the layers over the source, which `alignment` fits."""
        return tuple(
            name for name in self.layers if name not in self.key_tokens
        )

    def select(self, layer=None, head=None):
        """The sample with the attention of one layer (and head) only.

        A layer given `key_tokens` attends to those tokens: they become the
        source tokens of the returned sample, which then has no alignment
        and no `source_values` (both describe the source).

        Args:
            layer: Name of the layer, `None` for an unnamed one.
            head: Optional index of a head of 3-D weights.

        Returns:
            An `AttentionSample` with one array of attention.

        Example:

        ```python
        sample.select("cross", head=0)  # [T_out, T_src] weights
        ```
        """
        if layer not in self.layers:
            raise ValueError(
                "`layer` must be one of the sample's attention layers "
                f"{list(self.layers)}. Received: layer={layer!r}"
            )
        weights = self.layers[layer]
        if head is not None:
            if weights.ndim != 3 or head not in range(weights.shape[0]):
                raise ValueError(
                    "`head` must index the heads of 3-D attention. "
                    f"Received: head={head!r} for attention.shape="
                    f"{tuple(weights.shape)}"
                )
            weights = weights[head]
        if layer not in self.key_tokens:
            return dataclasses.replace(self, attention=weights, key_tokens=None)
        return dataclasses.replace(
            self,
            attention=weights,
            key_tokens=None,
            source_tokens=self.key_tokens[layer],
            alignment=None,
            source_values=None,
        )

    def title_text(self, title=None):
        """The title to draw: `title` (else the sample's) and its scores.

        Args:
            title: Optional title replacing the sample's own.

        Returns:
            A `str`, e.g. `"sample 0 (bleu 31.2)"`, or `None`.
        """
        title = self.title if title is None else token_text(title, "title")
        if not self.scores:
            return title
        scores = ", ".join(
            f"{label} {value:.3g}" for label, value in self.scores.items()
        )
        return f"({scores})" if title is None else f"{title} ({scores})"


def _resolve_keys(sample):
    """Canonical fields (absent: `None`) and the names given to them."""
    fields = dict.fromkeys(_FIELDS)
    names = dict(_NAMES)
    for key, value in sample.items():
        field = ALIASES.get(key, key)
        if field not in fields or value is None:
            continue
        if fields[field] is not None:
            raise ValueError(
                f"A sample takes `{field}` under one name; `{names[field]}` "
                f"and `{key}` are the same field. Received both."
            )
        fields[field] = value
        names[field] = key
    return fields, names


def _check_keys(fields, where):
    """Raises unless the required fields of the sample's kind are given."""
    if fields["image"] is not None:
        if fields["source_tokens"] is not None or fields["key_tokens"]:
            raise where.located(
                "A sample attends either to `source_tokens` or to the cells "
                "of an `image`, not both, and image samples take no "
                f"`key_tokens`. Received: keys {_given(fields)}"
            )
        required = _IMAGE_KEYS
    else:
        required = _TOKEN_KEYS
    missing = [key for key in required if fields[key] is None]
    if missing:
        raise where.located(
            f"Each sample must have the keys {list(_TOKEN_KEYS)} (optionally "
            f"{list(_OPTIONAL_KEYS)}), or for an image sample "
            f"{list(_IMAGE_KEYS)}. Received: keys {_given(fields)}, missing "
            f"{missing}"
        )


def _given(fields):
    return sorted(key for key, value in fields.items() if value is not None)


def _crop_padded(fields, names):
    """Crops padded strips and marks of a decoder's sample in place."""
    output_name = names["output_tokens"]
    num_outputs = len(tokens_text(fields["output_tokens"], output_name))
    if fields["output_values"] is not None:
        fields["output_values"] = _checks.crop_padded(
            fields["output_values"],
            num_outputs,
            "output_values",
            output_name,
            "values",
        )
    if fields["marked_outputs"] is not None:
        fields["marked_outputs"] = _checks.crop_padded(
            fields["marked_outputs"],
            num_outputs,
            "marked_outputs",
            output_name,
            "bools",
        )
    if fields["source_values"] is not None and fields["image"] is None:
        fields["source_values"] = _checks.crop_padded(
            fields["source_values"],
            len(tokens_text(fields["source_tokens"], "source_tokens")),
            "source_values",
            "source_tokens",
            "values",
        )


def _fit(sample, alignment, where):
    """The bool alignment of `sample` fitted from a padded `alignment`."""
    subject = where.subject("alignment")
    num_outputs = len(sample.output_tokens)
    if sample.image is None:
        num_sources = len(sample.source_tokens)
    else:
        try:
            alignment = _checks.flatten_cells(
                alignment, sample.grid_shape, "alignment"
            )
        except ValueError as error:
            raise ValueError(f"{subject}: {error}") from error
        num_sources = alignment.shape[1]
    return _checks.frozen(
        _checks.fit_alignment(alignment, num_outputs, num_sources, subject)
    )


def _normalized(fields, names):
    """The stored values of all fields; raises for invalid ones."""
    output_tokens = tuple(
        tokens_text(fields["output_tokens"], names["output_tokens"])
    )
    if fields["image"] is None:
        values = _token_fields(fields, names, output_tokens)
    else:
        values = _image_fields(fields, names, output_tokens)
    hypothesis = fields["hypothesis"]
    if hypothesis is None:
        hypothesis = " ".join(output_tokens)
    source = fields["source"]
    if source is None and values["source_tokens"] is not None:
        source = " ".join(values["source_tokens"])
    return {
        **values,
        "output_tokens": output_tokens,
        "output_values": _checks.check_values(
            fields["output_values"],
            len(output_tokens),
            "output_values",
            names["output_tokens"],
        ),
        "marked_outputs": _checks.check_marks(
            fields["marked_outputs"], len(output_tokens), names["output_tokens"]
        ),
        "hypothesis": token_text(hypothesis, "hypothesis"),
        "source": None if source is None else token_text(source, "source"),
        "title": None
        if fields["title"] is None
        else token_text(fields["title"], "title"),
        "scores": _checks.check_scores(fields["scores"]),
    }


def _token_fields(fields, names, output_tokens):
    """Source tokens, attention, key tokens, alignment, source values."""
    source_tokens = tuple(
        tokens_text(fields["source_tokens"], names["source_tokens"])
    )
    attention = fields["attention"]
    layers = attention if isinstance(attention, Mapping) else {None: attention}
    if not layers:
        raise ValueError(
            f"`{names['attention']}` must not be an empty dict. Received: "
            f"{names['attention']}={attention!r}"
        )
    key_tokens = fields["key_tokens"] or {}
    if not isinstance(key_tokens, Mapping) or not set(key_tokens) <= set(
        layers
    ):
        raise ValueError(
            "`key_tokens` must be a dict whose keys are attention layer "
            f"names {sorted(map(str, layers))}. Received: "
            f"key_tokens={key_tokens!r}"
        )
    key_tokens = {
        layer: tuple(tokens_text(tokens, "key_tokens"))
        for layer, tokens in key_tokens.items()
    }
    checked = {}
    for layer, weights in layers.items():
        keys = key_tokens.get(layer, source_tokens)
        try:
            checked[layer] = _checks.frozen(
                _checks.crop_attention(
                    _checks.to_numpy(weights),
                    len(output_tokens),
                    len(keys),
                    names,
                )
            )
        except ValueError as error:
            if layer is None:
                raise
            raise ValueError(f"{error} for layer {layer!r}") from error
    alignment = fields["alignment"]
    if alignment is not None:
        alignment = _checks.frozen(
            _checks.crop_alignment(
                alignment, len(output_tokens), len(source_tokens), names
            )
        )
    return {
        "source_tokens": source_tokens,
        "attention": checked
        if isinstance(attention, Mapping)
        else checked[None],
        "key_tokens": key_tokens,
        "alignment": alignment,
        "source_values": _checks.check_values(
            fields["source_values"],
            len(source_tokens),
            "source_values",
            "source_tokens",
        ),
        "image": None,
        "grid_shape": None,
    }


def _image_fields(fields, names, output_tokens):
    """Image, grid, flat attention and alignment of an image sample."""
    if fields["source_tokens"] is not None or fields["key_tokens"]:
        raise ValueError(
            "A sample attends either to `source_tokens` or to the cells of "
            "an `image`, not both, and image samples take no `key_tokens`. "
            f"Received: source_tokens={fields['source_tokens']!r}, "
            f"key_tokens={fields['key_tokens']!r}"
        )
    if fields["source_values"]:
        raise ValueError(
            "`source_values` need source tokens, which image samples do not "
            f"have. Received: source_values={fields['source_values']!r}"
        )
    attention = fields["attention"]
    if isinstance(attention, Mapping):
        raise ValueError(
            f"`{names['attention']}` of an image sample must be one array of "
            "shape [T_out, L] or [T_out, h, w] (one attention layer; "
            "average heads before passing it), not a dict. Received: "
            f"{names['attention']}={attention!r}"
        )
    image = _checks.image_to_unit_float(fields["image"], names["image"])
    weights, grid = _checks.attention_grid(
        attention, fields["grid_shape"], len(output_tokens)
    )
    alignment = fields["alignment"]
    if alignment is not None:
        alignment = _checks.flatten_cells(alignment, grid, "alignment")
        if alignment.shape[0] < len(output_tokens):
            raise ValueError(
                "`alignment` must have a row for each of the "
                f"{len(output_tokens)} words (extra rows are cropped, like "
                f"`attention`). Received: alignment.shape="
                f"{tuple(alignment.shape)}"
            )
        alignment = _checks.frozen(alignment[: len(output_tokens)] != 0)
    return {
        "source_tokens": None,
        "attention": _checks.frozen(weights),
        "key_tokens": {},
        "alignment": alignment,
        "source_values": {},
        "image": _checks.frozen(image),
        "grid_shape": grid,
    }
