"""q2_5 (bonus): beam search.

Contract: ``beam_search(model, first_token, length, beam_width)`` keeps, at every step, the
``beam_width`` partial sequences of highest cumulative log-probability (``model.step`` as in
:class:`course_kit.checks.ToyCharModel`) and returns the best ``length``-token sequence
starting with ``first_token`` it ends with.

Checked with beams that prune (widths 2 and 3), each on its own toy model, chosen by
``record`` so that a real beam search (``course_kit.sampling.beam_search_ids``) differs from
every mutant of this module: exhaustive search, greedy search, pruning by the last step's
log-probability, and scoring by raw logits.
"""

from grader.registry import KIT_ANSWERS, Check, Question, RubricItem

from . import edit, helpers

WIDTHS = (2, 3)
FIRST_TOKEN, LENGTH = 1, 5

QUESTION = Question(
    "q2_5", "Beam search and top-k (bonus)", 2, "08_sampling.ipynb", bonus=True,
    checks=(Check("beam search of widths 2 and 3 (that prune) finds what a beam search "
                  "finds", 2, "beam", kind="equal"),),
    rubric=(RubricItem("beam search / top-k samples compared with greedy", 1),),
    forbidden=KIT_ANSWERS,
)


def probe(namespace, context):
    """``beam``: one row per width, the sequence the student's search returns on that
    width's model (-1 where it is not ``length`` tokens long)."""
    import numpy as np

    probes = helpers()
    search = probes.student_object(namespace, "beam_search", "function")
    length = int(context["length"])
    rows = []
    for width in np.asarray(context["widths"]):
        model = probes.toy_model(context, prefix=f"width_{width}_model_")
        found = probes.ids(search(model, int(context["first_token"]), length, int(width)))
        if found.shape != (length,):
            context.notes.append(f"beam_search returned {found.size} tokens at width {width}, "
                                 f"expected {length}")
            found = np.full(length, -1)
        rows.append(found)
    return {"beam": np.stack(rows)}


def _separates(model, width, mutants):
    """Whether beam search at ``width`` on ``model`` differs from greedy search, from
    exhaustive search and from every mutant function."""
    import numpy as np

    from course_kit.sampling import beam_search_ids, exhaustive_best_ids, greedy_ids

    beam = beam_search_ids(model, FIRST_TOKEN, LENGTH, width)
    others = [greedy_ids(model, [FIRST_TOKEN], LENGTH),
              exhaustive_best_ids(model, FIRST_TOKEN, LENGTH)]
    others += [np.asarray(function(model, FIRST_TOKEN, LENGTH, width)).reshape(-1)
               for function in mutants]
    return all(not np.array_equal(beam, other) for other in others)


def record(public=False):
    """For each width, the first toy model (seeds 250, 251, ...; public: 1250, 1251, ...) on
    which a real beam search differs from greedy search, exhaustive search and every mutant;
    the reference is the real beam search."""
    import numpy as np

    from course_kit.checks import ToyCharModel
    from course_kit.sampling import beam_search_ids
    from grader.references import PUBLIC_SEED_OFFSET

    mutants = []
    for source in MUTANTS.values():
        namespace = {}
        exec(compile(source, "<mutant>", "exec"), namespace)
        mutants.append(namespace["beam_search"])
    inputs = {"widths": np.array(WIDTHS), "first_token": np.array(FIRST_TOKEN),
              "length": np.array(LENGTH)}
    rows = []
    for width in WIDTHS:
        first_seed = 250 + (PUBLIC_SEED_OFFSET if public else 0)
        for seed in range(first_seed, first_seed + 1000):
            weights = ToyCharModel.random_weights(np.random.default_rng(seed))
            model = ToyCharModel(*weights)
            if _separates(model, width, mutants):
                break
        else:
            raise RuntimeError(f"q2_5: no toy model separates the mutants at width {width}")
        for name, weight in zip(("embedding", "recurrent", "readout"), weights):
            inputs[f"width_{width}_model_{name}"] = weight
        rows.append(beam_search_ids(model, FIRST_TOKEN, LENGTH, width))
    return inputs, {"beam": np.stack(rows)}


_ANSWER = '''
import numpy as np


def beam_search(model, first_token, length, beam_width):
    beams = [([first_token], model.initial_state(1), 0.0)]
    while len(beams[0][0]) < length:
        candidates = []
        for tokens, state, score in beams:
            logits, new_state = model.step([tokens[-1]], state)
            log_probs = logits[0] - np.logaddexp.reduce(logits[0])
            candidates += [(tokens + [k], new_state, score + log_probs[k])
                           for k in range(len(log_probs))]
        beams = sorted(candidates, key=lambda c: -c[2])[:beam_width]
    return beams[0][0]
'''

MUTANTS = {
    # every sequence kept: the exhaustive search the question's old check asked for
    "exhaustive": edit(_ANSWER, ("beams = sorted(candidates, key=lambda c: -c[2])[:beam_width]",
                                 "beams = sorted(candidates, key=lambda c: -c[2])")),
    # one beam: greedy search
    "greedy": edit(_ANSWER, ("[:beam_width]", "[:1]")),
    # the beams pruned by the last token's log-probability, not the sequence's
    "prunes_by_last_step": edit(
        _ANSWER, ("for tokens, state, score in beams", "for tokens, state, score, *_ in beams"),
        ("score + log_probs[k])", "score + log_probs[k], log_probs[k])"),
        ("key=lambda c: -c[2])[:beam_width]", "key=lambda c: -c[3])[:beam_width]"),
        ("return beams[0][0]", "return max(beams, key=lambda c: c[2])[0]")),
    # raw logits summed instead of log-probabilities
    "raw_logits": edit(_ANSWER, ("log_probs = logits[0] - np.logaddexp.reduce(logits[0])",
                                 "log_probs = logits[0]")),
}

ALTERNATIVES = {
    # heapq.nlargest over (score, tokens, state), log-softmax written out
    "heapq_nlargest": '''
import heapq

import numpy as np


def beam_search(model, first_token, length, beam_width):
    beams = [(0.0, [first_token], model.initial_state(1))]
    for _ in range(length - 1):
        expanded = []
        for score, tokens, state in beams:
            logits, state_after = model.step([tokens[-1]], state)
            z = np.asarray(logits[0], dtype=float)
            log_probs = z - z.max() - np.log(np.exp(z - z.max()).sum())
            for token, log_prob in enumerate(log_probs):
                expanded.append((score + log_prob, tokens + [token], state_after))
        beams = heapq.nlargest(beam_width, expanded, key=lambda beam: beam[0])
    return max(beams, key=lambda beam: beam[0])[1]
''',
}
