"""Small models built from the kit's layers."""

from course_kit.models.sequence import ENCODINGS, SequenceClassifier, make_cell
from course_kit.models.text import TextGenerationModel, load_pretrained_text_model

__all__ = [
    "ENCODINGS",
    "SequenceClassifier",
    "TextGenerationModel",
    "load_pretrained_text_model",
    "make_cell",
]
