"""Text processing of the zoo (TensorFlow Text): tokenizer and pipelines."""

from zoo.text.alignment import token_alignment
from zoo.text.pipeline import make_translation_dataset
from zoo.text.pipeline import tokenize_to_numpy
from zoo.text.wordpiece_tokenizer import WordPieceTokenizer

__all__ = [
    "WordPieceTokenizer",
    "make_translation_dataset",
    "token_alignment",
    "tokenize_to_numpy",
]
