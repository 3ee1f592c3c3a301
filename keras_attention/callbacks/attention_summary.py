"""Keras callback writing attention heatmaps, decoded text and metrics."""

import os

import keras

from keras_attention.callbacks import _decoded
from keras_attention.callbacks import _summary_scalars
from keras_attention.callbacks import _summary_text
from keras_attention.visualization import attention_to_image
from keras_attention.visualization import image_attention_to_image


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


def _check_count(value, name, minimum):
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(
            f"`{name}` must be an integer >= {minimum}. Received: "
            f"{name}={value!r}"
        )


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
    list of `N` samples or one dict of per-sample sequences of length `N`
    (e.g. a padded batch: a value `v` gives sample `i` the entry `v[i]`; a
    dict of layers under `"attention"`, or of labels under
    `"output_values"` and `"source_values"`, is indexed per entry). A
    sample is a `keras_attention.visualization.AttentionSample` or a dict
    of its fields, converted by `AttentionSample.from_dict(sample,
    padded=True)`, which validates it and whose docstring describes each
    field. A token sample's dict has:

    - `"source_tokens"` and `"output_tokens"`: sequences of `str` (or
      UTF-8 `bytes`); one output token per decoding step to plot.
    - `"attention"`: `[T_out, T_src]`, or `[heads, T_out, T_src]` for
      multi-head attention, as a NumPy array or backend tensor; row `t` is
      the distribution over source positions used to generate
      `output_tokens[t]`. Padding beyond the tokens is cropped. For several
      attention layers pass a dict `{layer_name: weights}`; every sample
      must then use the same layer names.
    - optionally `"key_tokens"` (`{layer_name: tokens}` for layers
      attending to other tokens than the source, e.g. `output_tokens` for
      decoder self-attention), `"hypothesis"` (the text compared with the
      reference; default `" ".join(output_tokens)`, pass the detokenized
      text for subword models), `"source"` (the source text of the table;
      default `" ".join(source_tokens)`), `"alignment"` (the reference
      alignment, `[T_out, T_src]`, zero or missing rows meaning no
      reference), `"output_values"` (`{label: values}` per output token,
      e.g. `{"p_gen": p_gen}`, See et al., 2017, Eq. 8, drawn beside every
      layer's heatmap and logged as `{name}/{label}`), `"source_values"`
      (`{label: values}` per source token, e.g. `{"coverage": coverage}`,
      drawn below the heatmaps of the layers over the source tokens) and
      `"marked_outputs"` (one bool per output token, `True` for the words
      copied from the source: bold and red in the heatmaps, bold in the
      text table). Value strips and marks may be padded like the attention.

    **Image samples.** An image captioner (e.g. Show, Attend and Tell)
    attends to the cells of a grid over the picture. Its samples have
    `"image"` (the picture, `[H, W, 3]` RGB) instead of `"source_tokens"`,
    one attention layer `"attention"` of shape `[T_out, L]` over
    `L = h * w` cells in row-major order or `[T_out, h, w]` (average the
    heads, or pick one, in `decode_fn`), optionally `"grid_shape"`
    (`(h, w)`, inferred as a square grid when `L` is a perfect square) and
    an `"alignment"` of `[T_out, L]` or `[T_out, h, w]` reference cells
    (e.g. those of the box of the object a word names); their `"source"`
    defaults to `f"image {i}"`. Entropy (over the `L` cells) and attention
    correctness (the attention mass on the reference cells, Liu et al.,
    2017) are computed on the flattened `[T_out, L]` weights exactly as for
    token attention, and pooled with the token samples, if any.

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
        max_source_tokens: Optional positive integer: token heatmaps of
            longer sources draw only their most attended source columns
            (`plot_attention`'s `max_source_tokens`), e.g. 60 for articles
            of hundreds of tokens.

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
        max_source_tokens=None,
    ):
        super().__init__()
        if not callable(decode_fn):
            raise ValueError(
                "`decode_fn` must be callable. Received: "
                f"decode_fn={decode_fn!r}"
            )
        _check_count(every_n_epochs, "every_n_epochs", 1)
        _check_count(max_images, "max_images", 0)
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
            None
            if references is None
            else _summary_text.check_references(references)
        )
        self.every_n_epochs = every_n_epochs
        self.max_images = max_images
        self.metric = metric
        self._metric_fns = _summary_scalars.resolve_metrics(metric)
        self.name = name.strip("/")
        self.write_on_train_begin = write_on_train_begin
        self.image_dpi = image_dpi
        self.alignments = _decoded.check_alignments(alignments)
        if max_source_tokens is not None:
            _check_count(max_source_tokens, "max_source_tokens", 1)
        self.max_source_tokens = max_source_tokens
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
            A list with one `keras_attention.visualization.AttentionSample`
            per sample (dicts converted with `AttentionSample.from_dict`,
            padded arrays cropped), the constructor's `alignments` filled in
            where a sample has no alignment of its own.
        """
        decoded = _decoded.decoded_samples(
            self.decode_fn(self.samples), self.alignments
        )
        if self.references is not None and len(self.references) != len(decoded):
            raise ValueError(
                "`references` must hold one string per decoded sample (or "
                "one list of strings, for several references). Received: "
                f"len(references)={len(self.references)} for "
                f"{len(decoded)} samples returned by `decode_fn`"
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
            hypotheses = [sample.hypothesis for sample in decoded]
            for metric_name, metric_fn in self._metric_fns.items():
                scalars[f"{self.name}/{metric_name}"] = float(
                    metric_fn(hypotheses, self.references)
                )
        layer_names = list(decoded[0].layers)
        for layer_name in layer_names:
            suffix = "" if layer_name is None else f"/{layer_name}"
            scalars[f"{self.name}/entropy{suffix}"] = (
                _summary_scalars.mean_entropy(decoded, layer_name)
            )
        for layer_name in layer_names:
            suffix = "" if layer_name is None else f"/{layer_name}"
            mean, best = _summary_scalars.layer_correctness(decoded, layer_name)
            if mean is not None:
                scalars[f"{self.name}/attention_correctness{suffix}"] = mean
            if best is not None:
                tag = f"{self.name}/attention_correctness_best_head{suffix}"
                scalars[tag] = best
        scalars.update(
            _summary_scalars.value_means(decoded, self.name, self._metric_fns)
        )
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
                for tag, image in self._images(index, sample):
                    tf.summary.image(tag, image[None], max_outputs=1)
            tf.summary.text(
                f"{self.name}/text",
                _summary_text.markdown_table(decoded, self.references),
            )
            for tag, value in scalars.items():
                tf.summary.scalar(tag, value)
        self._writer.flush()
        return scalars

    def _images(self, index, sample):
        """Yields `(tag, uint8 image)` of every layer and head of a sample."""
        if sample.image is not None:
            yield (
                f"{self.name}/sample_{index}",
                image_attention_to_image(
                    sample, title=f"sample {index}", dpi=self.image_dpi
                ),
            )
            return
        for layer_name, weights in sample.layers.items():
            prefix = self.name
            title = f"sample {index}"
            if layer_name is not None:
                prefix += f"/{layer_name}"
                title += f", {layer_name}"
            prefix += f"/sample_{index}"
            heads = [(None, prefix, title)]
            if weights.ndim == 3:
                heads = [
                    (head, f"{prefix}/head_{head}", f"{title}, head {head}")
                    for head in range(weights.shape[0])
                ]
            for head, tag, head_title in heads:
                yield (
                    tag,
                    attention_to_image(
                        sample.select(layer_name, head),
                        title=head_title,
                        dpi=self.image_dpi,
                        max_source_tokens=self.max_source_tokens,
                    ),
                )
