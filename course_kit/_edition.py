"""Which edition of the kit this is: ``"full"`` here in the repository (every answer
written); ``python -m grader release`` writes ``"student"`` into the student edition."""

EDITION = "full"
SOURCE_DIGEST = None
