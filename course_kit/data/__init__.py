"""Datasets of the course: toy sequence tasks, book corpora, citation graphs, example graphs.

All data ship with the package (see ``files/SOURCES.md``); nothing is downloaded.
"""

from course_kit.data.bundled import CorruptDataError
from course_kit.data.citation import CITATION_GRAPHS, CitationGraph, load_citation
from course_kit.data.graphs import EXAMPLE_GRAPHS, example_graph
from course_kit.data.sequences import (
    TASKS,
    BaumSweet,
    BinaryPalindrome,
    DigitPalindrome,
    RandomCombinations,
    SequenceTask,
    is_baum_sweet,
    make_task,
)
from course_kit.data.text import BOOKS, CharCorpus, list_books, load_corpus, strip_gutenberg

__all__ = [
    "BOOKS",
    "CITATION_GRAPHS",
    "EXAMPLE_GRAPHS",
    "TASKS",
    "BaumSweet",
    "BinaryPalindrome",
    "CharCorpus",
    "CitationGraph",
    "CorruptDataError",
    "DigitPalindrome",
    "RandomCombinations",
    "SequenceTask",
    "example_graph",
    "is_baum_sweet",
    "list_books",
    "load_citation",
    "load_corpus",
    "make_task",
    "strip_gutenberg",
]
