"""Plotting helpers for attention weights."""

from keras_attention.visualization.plot_attention import attention_to_image
from keras_attention.visualization.plot_attention import plot_attention
from keras_attention.visualization.plot_image_attention import (
    image_attention_to_image,
)
from keras_attention.visualization.plot_image_attention import (
    plot_image_attention,
)

__all__ = [
    "attention_to_image",
    "image_attention_to_image",
    "plot_attention",
    "plot_image_attention",
]
