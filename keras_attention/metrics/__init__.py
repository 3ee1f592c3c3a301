"""Metrics of attention weights and decoded text."""

from keras_attention.metrics.attention_correctness import attention_correctness
from keras_attention.metrics.caption_scores import caption_scores
from keras_attention.metrics.summary_scores import repetition_rate
from keras_attention.metrics.summary_scores import summary_scores
from keras_attention.metrics.text_scores import text_scores

__all__ = [
    "attention_correctness",
    "caption_scores",
    "repetition_rate",
    "summary_scores",
    "text_scores",
]
