"""The grader's own answers as a student's code for tests: each question module's
``_ANSWER`` (a right answer) or one of its ``MUTANTS`` (a known wrong one), executed into a
namespace. One source for each answer, shared with the mutation tests."""

from grader.registry import module


def answer(qid, mutant=None):
    """The names that question ``qid``'s answer (or its mutant ``mutant``) defines."""
    source = module(qid).MUTANTS[mutant] if mutant else module(qid)._ANSWER
    namespace = {"__name__": f"answer_{qid}"}
    exec(compile(source, f"<{qid} {mutant or 'answer'}>", "exec"), namespace)
    return namespace
