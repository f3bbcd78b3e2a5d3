"""The course kit's autograder: release student notebooks, record references, grade.

Command line: ``python -m grader {release,record,grade,merge-manual,gradescope-bundle,demo}``;
in Python, :func:`grader.grade.grade`. The grading model (confined student processes that
return arrays; references and scoring only in the grader's process) is described in
:mod:`grader.sandbox`.
"""

# Before any grader module imports Keras: keeps TensorFlow's start-up lines off the terminal.
import course_kit  # noqa: F401, E402
