"""q2_2: greedy generation.

Contract: ``greedy_sample(model, first_token, length)`` returns ``length`` token ids starting
with ``first_token``, each next token the argmax of ``model.step`` (see
:class:`course_kit.checks.ToyCharModel`), keeping the recurrent state between characters.
Called twice to check that it is deterministic. The reference is
``course_kit.sampling.greedy_ids``.
"""

from grader.registry import KIT_ANSWERS, Check, Question, RubricItem

from . import edit, helpers

QUESTION = Question(
    "q2_2", "Greedy generation", 2, "07_text_generation.ipynb",
    checks=(
        Check("greedy sample shorter than T, deterministic", 1, "greedy_5", kind="equal"),
        Check("greedy sample longer than T, deterministic", 2, "greedy_40", kind="equal"),
    ),
    rubric=(RubricItem("samples at 1/3, 2/3, 3/3 of training, lengths around T, "
                       "discussed", 3),),
    forbidden=KIT_ANSWERS,
)


def probe(namespace, context):
    import numpy as np

    probes = helpers()
    sample = probes.student_object(namespace, "greedy_sample", "function")
    model = probes.toy_model(context)
    results = {}
    for length in np.asarray(context["lengths"]):
        first = [probes.ids(sample(model, int(context["first_token"]), int(length)))
                 for _ in range(2)]
        if not np.array_equal(first[0], first[1]):
            context.notes.append(f"greedy_sample gave two different results for length {length}")
            first[0] = np.full_like(first[0], -1)
        results[f"greedy_{length}"] = first[0]
    return results


def record(public=False):
    """Seed 22: a toy model of 5 characters and 6 units; lengths 5 and 40 from token 2 (public:
    6 characters, 7 units, from token 4)."""
    import numpy as np

    from course_kit.sampling import greedy_ids
    from grader.probes import Context, toy_model, toy_model_inputs
    from grader.references import seeded

    vocab_size, units, first_token = (6, 7, 4) if public else (5, 6, 2)
    inputs = toy_model_inputs(seeded(22, public), vocab_size, units)
    model = toy_model(Context(inputs))
    inputs.update(first_token=np.array(first_token), lengths=np.array([5, 40]))
    expected = {f"greedy_{n}": greedy_ids(model, [first_token], n) for n in (5, 40)}
    return inputs, expected


_ANSWER = '''
import numpy as np


def greedy_sample(model, first_token, length):
    tokens, state = [first_token], model.initial_state(1)
    while len(tokens) < length:
        logits, state = model.step([tokens[-1]], state)
        tokens.append(int(np.argmax(logits[0])))
    return tokens
'''

MUTANTS = {
    # a fresh state for every character: no memory of the text so far
    "state_not_carried": edit(_ANSWER, ("logits, state = model.step([tokens[-1]], state)",
                                        "logits, _ = model.step([tokens[-1]], "
                                        "model.initial_state(1))")),
    # the first token left out of the result
    "first_token_dropped": edit(_ANSWER, ("    return tokens", "    return tokens[1:]")),
    # one token too many
    "one_too_many": edit(_ANSWER, ("while len(tokens) < length", "while len(tokens) <= length")),
    # a random draw instead of the argmax
    "samples_instead": edit(_ANSWER, (
        "tokens.append(int(np.argmax(logits[0])))",
        "p = np.exp(logits[0] - logits[0].max())\n"
        "        tokens.append(int(np.random.default_rng().choice(len(p), p=p / p.sum())))")),
}

ALTERNATIVES = {
    # a preallocated array filled in a for loop, argmax of the probabilities
    "for_loop_over_probabilities": '''
import numpy as np


def greedy_sample(model, first_token, length):
    out = np.empty(length, dtype=int)
    out[0] = first_token
    state = model.initial_state(1)
    for position in range(1, length):
        logits, state = model.step(out[position - 1:position], state)
        probabilities = np.exp(logits - np.max(logits, axis=-1, keepdims=True))
        probabilities /= probabilities.sum(axis=-1, keepdims=True)
        out[position] = np.argmax(probabilities[0])
    return out
''',
}
