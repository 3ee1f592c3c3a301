"""Abstractive summarization (See et al. 2017) for the zoo.

Importing the package registers the summarizer with Keras, so
`keras.saving.load_model` reads a saved summarizer.
"""

from zoo.summarization.model import Summarizer

__all__ = ["Summarizer"]
