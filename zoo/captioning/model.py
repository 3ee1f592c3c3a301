"""Show, Attend and Tell (Xu et al. 2015): the zoo's image captioner.

Built from `keras_attention`'s public API: the image becomes a grid of L
annotation vectors `a_i` (a small CNN over pixels, a `keras.applications`
backbone, or precomputed feature maps); an LSTM decoder starts from MLPs
of the mean annotation (section 3.1.2) and at every step attends over the
annotations with `BahdanauAttention` from its previous state, the context
gated by `beta_t = sigmoid(f_beta(h_{t-1}))` (section 4.2.1) and fed into
the LSTM; the deep output layer (equation 7) predicts the next word from
the previous word, the new state and the context. Soft attention trains by
backpropagation with the doubly stochastic regularization (equation 14);
hard attention samples a location per step and adds the REINFORCE term
(section 4.1).
"""

import keras
from keras import ops

from keras_attention.layers import AttentionRNN
from keras_attention.layers import BahdanauAttention
from keras_attention.layers import DeepOutput
from keras_attention.layers import HardAttentionLoss
from keras_attention.losses import doubly_stochastic_penalty
from zoo.best_hypothesis import best_hypothesis
from zoo.captioning.vocabulary import END_ID
from zoo.captioning.vocabulary import PAD_ID
from zoo.captioning.vocabulary import START_ID
from zoo.length_limit import decode_within_limit

ATTENTION_KINDS = ("soft", "hard")
PIXELS = "pixels"
FEATURES = "features"


@keras.saving.register_keras_serializable(package="keras_attention_zoo")
class PixelEncoder(keras.layers.Layer):
    """A small CNN from raw pixels to a grid of annotation vectors.

    For images without a pretrained backbone (the generated scenes): every
    level is a 3x3 convolution with ReLU and a 2x2 max pooling, so a
    64-pixel image gives an 8x8 grid whose cells each see a 22-pixel
    neighbourhood: local enough that attending to a cell means looking at
    what is there (a further convolution on the grid made the attention
    of trained models land off the named objects). Two channels holding
    the pixel's row and column (in [-1, 1]) are appended to the input
    (CoordConv, Liu et al. 2018), so that an annotation vector also says
    where on the image it is: a caption that relates two objects ("to the
    left of") needs their places.

    Args:
        filters: channels of each level.

    Call arguments:
        images: float `[batch, height, width, 3]` pixels in 0..255.

    Returns:
        `[batch, height / 2**levels, width / 2**levels, filters[-1]]`.
    """

    def __init__(self, filters=(16, 32, 64), **kwargs):
        super().__init__(**kwargs)
        self.filters = tuple(filters)
        self.convolutions = [
            keras.layers.Conv2D(
                channels,
                3,
                padding="same",
                activation="relu",
                dtype=self.dtype_policy,
                name=f"conv_{level}",
            )
            for level, channels in enumerate(self.filters)
        ]
        self.pooling = keras.layers.MaxPooling2D(2, dtype=self.dtype_policy)

    def build(self, images_shape):
        shape = tuple(images_shape[:-1]) + (images_shape[-1] + 2,)
        for convolution in self.convolutions:
            convolution.build(shape)
            shape = convolution.compute_output_shape(shape)
            shape = self.pooling.compute_output_shape(shape)

    def call(self, images):
        images = ops.cast(images, self.compute_dtype) / 127.5 - 1.0
        batch, height, width = (ops.shape(images)[i] for i in range(3))
        rows = ops.linspace(-1.0, 1.0, height)
        columns = ops.linspace(-1.0, 1.0, width)
        coordinates = ops.stack(
            [
                ops.broadcast_to(rows[:, None], (height, width)),
                ops.broadcast_to(columns[None, :], (height, width)),
            ],
            axis=-1,
        )
        coordinates = ops.broadcast_to(
            ops.cast(coordinates, images.dtype)[None], (batch, height, width, 2)
        )
        hidden = ops.concatenate([images, coordinates], axis=-1)
        for convolution in self.convolutions:
            hidden = self.pooling(convolution(hidden))
        return hidden

    def get_config(self):
        return {**super().get_config(), "filters": list(self.filters)}


@keras.saving.register_keras_serializable(package="keras_attention_zoo")
class ShowAttendTell(keras.Model):
    """The Show, Attend and Tell captioner with soft or hard attention.

    Call it on `(images, caption_ids)` for teacher forcing: `images` are
    float pixels `[batch, S, S, 3]` in 0..255 (`encoder="pixels"` or a
    backbone name) or feature maps `[batch, h, w, C]`
    (`encoder="features"`), `caption_ids` the decoder inputs `[batch, T]`
    (`<start>` then the words; 0 pads), or `[batch, K, T]` for `K`
    captions of each image, which encodes every image once. It returns a
    dict over the `N = batch` (or `batch * K`) captions: `"logits"`
    `[N, T, vocabulary]` (float32), `"attention"` `[N, T, L]`,
    `"log_prob"` and `"entropy"` `[N, T]` (see
    `AttentionRNN(return_sampling=True)`). `compute_loss` takes the next
    words, `[batch, T]` or `[batch, K, T]`, as targets.

    Args:
        vocabulary: the list of words, index = token id (see
            `zoo.captioning.vocabulary.build_vocabulary`).
        encoder: `"pixels"` (a small `PixelEncoder`), `"features"`
            (precomputed maps) or a `keras.applications` backbone name of
            `zoo.captioning.encoders.BACKBONES`.
        image_size: the input side in pixels (pixels or backbone).
        backbone_weights: a backbone's weights: `"imagenet"`, `None` or a
            local weights file.
        fine_tune_from: `None` (frozen backbone) or the layer name or
            index from which the backbone trains.
        pixel_filters: channels of the `PixelEncoder` levels.
        embedding_dim: size of the word embeddings (`m` of the paper).
        units: size of the LSTM (`n`).
        attention_units: hidden size of the attention MLP; default `units`.
        attention: `"soft"` or `"hard"`.
        dropout: dropout of the deep output layer.
        doubly_stochastic_weight: lambda of equation 14, applied to the
            penalty averaged over the L locations (as common
            implementations do, so that it does not grow with L).
        entropy_weight: hard attention's entropy bonus (`lambda_e`).
        context_gate: whether the context is gated by `beta_t`.
        max_caption_length: the longest caption decoded, in words.
        feature_shape: `(h, w, C)` of the feature maps
            (`encoder="features"`), checked at every call.
        **kwargs: base model arguments such as `name`.

    References:
        - [Xu et al., 2015](https://arxiv.org/abs/1502.03044), sections 3
          and 4, equations 1-14.
    """

    def __init__(
        self,
        vocabulary,
        encoder=PIXELS,
        image_size=64,
        backbone_weights=None,
        fine_tune_from=None,
        pixel_filters=(16, 32, 64),
        embedding_dim=64,
        units=256,
        attention_units=None,
        attention="soft",
        dropout=0.3,
        doubly_stochastic_weight=1.0,
        entropy_weight=0.01,
        context_gate=True,
        max_caption_length=20,
        feature_shape=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if attention not in ATTENTION_KINDS:
            raise ValueError(
                f"`attention` must be one of {ATTENTION_KINDS}. "
                f"Received: attention={attention!r}"
            )
        self.vocabulary = list(vocabulary)
        self.encoder_name = encoder
        self.image_size = image_size
        self.backbone_weights = backbone_weights
        self.fine_tune_from = fine_tune_from
        self.pixel_filters = tuple(pixel_filters)
        self.embedding_dim = embedding_dim
        self.units = units
        self.attention_units = attention_units
        self.attention_kind = attention
        self.dropout = dropout
        self.doubly_stochastic_weight = doubly_stochastic_weight
        self.entropy_weight = entropy_weight
        self.context_gate = context_gate
        self.max_caption_length = max_caption_length
        self.feature_shape = (
            None if feature_shape is None else tuple(feature_shape)
        )
        self.image_encoder = self._image_encoder()
        self.initial_hidden = keras.layers.Dense(
            units, activation="tanh", name="initial_hidden"
        )
        self.initial_memory = keras.layers.Dense(
            units, activation="tanh", name="initial_memory"
        )
        self.embedding = keras.layers.Embedding(
            len(self.vocabulary), embedding_dim, name="embedding"
        )
        self.decoder = AttentionRNN(
            keras.layers.LSTMCell(units),
            BahdanauAttention(attention_units or units),
            style="bahdanau",
            context_gate=context_gate,
            attention_sampling=attention,
            name="decoder",
        )
        self.deep_output = DeepOutput(
            len(self.vocabulary), dropout=dropout, name="deep_output"
        )
        self.hard_attention_loss = None
        if attention == "hard":
            self.hard_attention_loss = HardAttentionLoss(
                entropy_weight=entropy_weight, name="hard_attention_loss"
            )
        self.caption_loss_tracker = keras.metrics.Mean(name="caption_loss")
        self.doubly_stochastic_tracker = keras.metrics.Mean(
            name="doubly_stochastic"
        )
        self.accuracy_tracker = keras.metrics.Mean(name="accuracy")

    def _image_encoder(self):
        if self.encoder_name == FEATURES:
            return None
        if self.encoder_name == PIXELS:
            return PixelEncoder(self.pixel_filters, name="pixel_encoder")
        from zoo.captioning.encoders import build_backbone

        return build_backbone(
            self.encoder_name,
            weights=self.backbone_weights,
            image_size=self.image_size,
            trainable_from=self.fine_tune_from,
        )

    @property
    def vocabulary_size(self):
        return len(self.vocabulary)

    # Encoding.

    def annotations(self, images, training=None):
        """The annotation vectors `[batch, L, D]` of images or features."""
        self._check_images(images)
        if self.image_encoder is None:
            feature_map = ops.cast(images, self.compute_dtype)
        else:
            feature_map = self.image_encoder(images, training=training)
        if len(feature_map.shape) != 4:
            raise ValueError(
                "The image encoder must give feature maps [batch, h, w, C]. "
                f"Received: shape {tuple(feature_map.shape)}"
            )
        shape = ops.shape(feature_map)
        return ops.reshape(
            feature_map, (shape[0], shape[1] * shape[2], shape[3])
        )

    def _check_images(self, images):
        if self.image_encoder is None:
            expected = "feature maps [batch, h, w, C]"
            shape = self.feature_shape
        else:
            expected = "images [batch, height, width, 3]"
            shape = (self.image_size, self.image_size, 3)
        received = tuple(images.shape)
        if len(received) != 4 or (
            shape is not None
            and any(
                size is not None and size != want
                for size, want in zip(received[1:], shape, strict=True)
            )
        ):
            raise ValueError(
                f"`images` must be {expected} of shape (batch,) + "
                f"{shape}. Received: images.shape={received}"
            )

    def _initial_state(self, annotations):
        mean_annotation = ops.mean(annotations, axis=1)
        return [
            self.initial_hidden(mean_annotation),
            self.initial_memory(mean_annotation),
        ]

    # Teacher forcing.

    def call(self, inputs, training=None):
        images, caption_ids = inputs
        annotations = self.annotations(images, training=training)
        if len(caption_ids.shape) == 3:
            # Several captions per image: the image is encoded once.
            per_image = ops.shape(caption_ids)[1]
            annotations = ops.repeat(annotations, per_image, axis=0)
            caption_ids = ops.reshape(
                caption_ids, (-1, ops.shape(caption_ids)[-1])
            )
        embedded = self.embedding(caption_ids)
        outputs, attention, _, sampling = self.decoder(
            embedded,
            annotations,
            initial_state=self._initial_state(annotations),
            mask=ops.not_equal(caption_ids, PAD_ID),
            training=training,
            return_sampling=True,
        )
        logits = self._logits(outputs, embedded, training)
        if self.hard_attention_loss is not None:
            self._build_hard_attention_loss(sampling)
        return {
            "logits": logits,
            "attention": attention,
            "log_prob": sampling["log_prob"],
            "entropy": sampling["entropy"],
        }

    def _build_hard_attention_loss(self, sampling):
        """Builds the REINFORCE loss layer with the model, not its loss.

        Its reward baseline is a weight of the model: built by the first
        call (as Keras builds a loaded model), it is saved, loaded and
        restored on resume like any other weight.
        """
        if self.hard_attention_loss.built:
            return
        log_prob_shape = tuple(sampling["log_prob"].shape)
        self.hard_attention_loss.build(
            log_prob_shape[:1], log_prob_shape, tuple(sampling["entropy"].shape)
        )

    def _logits(self, outputs, embedded, training=None):
        hidden = outputs[..., : self.units]
        context = outputs[..., self.units :]
        logits = self.deep_output(
            hidden,
            context=context,
            previous_embedding=embedded,
            training=training,
        )
        return ops.cast(logits, "float32")

    def compute_loss(
        self, x=None, y=None, y_pred=None, sample_weight=None, training=True
    ):
        """Masked cross-entropy + doubly stochastic term (+ REINFORCE)."""
        targets = ops.cast(y, "int32")
        # `[batch, K, T]` targets: the K captions of each image, in the
        # order `call` flattened them.
        targets = ops.reshape(targets, (-1, ops.shape(targets)[-1]))
        mask = ops.cast(ops.not_equal(targets, PAD_ID), "float32")
        token_losses = keras.losses.sparse_categorical_crossentropy(
            targets, y_pred["logits"], from_logits=True
        )
        num_tokens = ops.maximum(ops.sum(mask), 1.0)
        caption_loss = ops.sum(token_losses * mask) / num_tokens
        # Padded steps repeat the last real step's attention (the loop
        # keeps their state): only the caption's own words count.
        attention = ops.cast(y_pred["attention"], "float32") * mask[..., None]
        penalty = ops.mean(doubly_stochastic_penalty(attention)) / ops.cast(
            ops.shape(attention)[-1], "float32"
        )
        loss = caption_loss + self.doubly_stochastic_weight * penalty
        if self.hard_attention_loss is not None:
            log_likelihood = -ops.sum(token_losses * mask, axis=1)
            surrogate = self.hard_attention_loss(
                log_likelihood,
                y_pred["log_prob"],
                y_pred["entropy"],
                training=training,
            )
            # On the scale of the token-averaged cross-entropy.
            tokens_per_caption = num_tokens / ops.cast(
                ops.shape(mask)[0], "float32"
            )
            loss = loss + ops.mean(surrogate) / tokens_per_caption
        correct = ops.cast(
            ops.equal(
                ops.cast(ops.argmax(y_pred["logits"], axis=-1), "int32"),
                targets,
            ),
            "float32",
        )
        self.caption_loss_tracker.update_state(caption_loss)
        self.doubly_stochastic_tracker.update_state(penalty)
        self.accuracy_tracker.update_state(ops.sum(correct * mask) / num_tokens)
        for extra in self.losses:
            loss = loss + ops.cast(ops.sum(extra), "float32")
        return loss

    # Decoding.

    def encode(self, images):
        """The decoding state of `images`: projected memory, first state."""
        annotations = self.annotations(images)
        batch_size = ops.shape(annotations)[0]
        return {
            "memory": self.decoder.precompute_memory(annotations),
            "decoder": self.decoder.get_initial_state(
                batch_size, self._initial_state(annotations)
            ),
        }

    def decode_step(self, token_ids, state):
        """One word: `(logits, state, attention)` for `keras_attention`."""
        embedded = self.embedding(token_ids)
        output, decoder_state, weights = self.decoder.step(
            embedded, state["decoder"], state["memory"]
        )
        logits = self._logits(output, embedded)
        return logits, {**state, "decoder": decoder_state}, weights

    def caption_ids(
        self, images, beam_width=1, max_length=None, length_penalty=0.0
    ):
        """Decodes captions greedily (`beam_width=1`) or with beam search.

        A caption holds at most `max_length` words, `<end>` not counted
        (`zoo.length_limit.decode_within_limit`).

        Returns:
            The dict of `keras_attention.decoding` for the best caption:
            `"sequences"` `[batch, max_length + 1]` (the last position
            `<end>` or padding), `"lengths"`, `"scores"` and `"attention"`
            `[batch, max_length + 1, L]`.
        """
        state = self.encode(images)
        batch_size = ops.shape(images)[0]
        start_ids = ops.full((batch_size,), START_ID, "int32")

        def decode(steps):
            return best_hypothesis(
                self.decode_step,
                state,
                start_ids,
                END_ID,
                steps,
                beam_width=beam_width,
                length_penalty=length_penalty,
                pad_id=PAD_ID,
            )

        return decode_within_limit(
            decode, max_length or self.max_caption_length, END_ID, PAD_ID
        )

    @classmethod
    def from_config(cls, config):
        # The saved weights replace the backbone's: a loaded model must not
        # download (or need the file of) its pretrained weights again.
        weights = config.get("backbone_weights")
        model = cls(**{**config, "backbone_weights": None})
        model.backbone_weights = weights
        return model

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "vocabulary": self.vocabulary,
                "encoder": self.encoder_name,
                "image_size": self.image_size,
                "backbone_weights": self.backbone_weights,
                "fine_tune_from": self.fine_tune_from,
                "pixel_filters": list(self.pixel_filters),
                "embedding_dim": self.embedding_dim,
                "units": self.units,
                "attention_units": self.attention_units,
                "attention": self.attention_kind,
                "dropout": self.dropout,
                "doubly_stochastic_weight": self.doubly_stochastic_weight,
                "entropy_weight": self.entropy_weight,
                "context_gate": self.context_gate,
                "max_caption_length": self.max_caption_length,
                "feature_shape": (
                    None
                    if self.feature_shape is None
                    else list(self.feature_shape)
                ),
            }
        )
        return config
