"""Keras callbacks for inspecting attention models during training."""

from keras_attention.callbacks.attention_summary import AttentionSummary

__all__ = ["AttentionSummary"]
