"""Small models built from the kit's layers."""

from course_kit.models.sequence import ENCODINGS
from course_kit.models.sequence import SequenceClassifier
from course_kit.models.sequence import make_cell
from course_kit.models.text import TextGenerationModel
from course_kit.models.text import load_pretrained_text_model
