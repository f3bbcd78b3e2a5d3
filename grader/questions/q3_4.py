"""q3_4: applications of graph neural networks (free text only, marked by hand)."""

from grader.registry import Question, RubricItem

QUESTION = Question(
    "q3_4", "Applications of graph neural networks", 3, "11_graphs_and_sequences.ipynb",
    rubric=(RubricItem("two real-world applications, each with what nodes and edges are", 3),),
)
MUTANTS: dict = {}
ALTERNATIVES: dict = {}
