"""The translation models' loss and metric, which skip target padding."""

import keras
from keras import ops


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
