"""Small models built from the kit's layers."""

from course_kit.models.sequence import SequenceClassifier
from course_kit.models.sequence import make_cell
