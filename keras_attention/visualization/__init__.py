"""Plotting helpers for attention weights.

`AttentionSample` holds one decoded sample and its attention, validated
once; the plotting functions take one (or its arrays as arguments).
"""

from keras_attention.visualization.attention_sample import AttentionSample
from keras_attention.visualization.plot_attention import attention_to_image
from keras_attention.visualization.plot_attention import plot_attention
from keras_attention.visualization.plot_image_attention import (
    image_attention_to_image,
)
from keras_attention.visualization.plot_image_attention import (
    plot_image_attention,
)

__all__ = [
    "AttentionSample",
    "attention_to_image",
    "image_attention_to_image",
    "plot_attention",
    "plot_image_attention",
]
