"""Translation models of the zoo."""

from zoo.translation.bahdanau import BahdanauTranslator
from zoo.translation.export import export_saved_model
from zoo.translation.luong import LuongTranslator
from zoo.translation.seq2seq import Seq2Seq
from zoo.translation.transformer import TransformerTranslator

ARCHITECTURES = {
    "bahdanau": BahdanauTranslator,
    "luong": LuongTranslator,
    "transformer": TransformerTranslator,
}

__all__ = [
    "ARCHITECTURES",
    "BahdanauTranslator",
    "LuongTranslator",
    "Seq2Seq",
    "TransformerTranslator",
    "export_saved_model",
]
