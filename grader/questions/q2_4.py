"""q2_4 (bonus): sentence completion from a prompt.

Contract: ``complete(model, prompt, length)`` feeds the prompt ids through ``model.step`` to
warm the state, then appends ``length`` greedy tokens; returns prompt plus continuation as
one id sequence. The reference is ``course_kit.sampling.greedy_ids`` from the prompt.
"""

from grader.registry import KIT_ANSWERS, Check, Question, RubricItem

from . import edit, helpers

QUESTION = Question(
    "q2_4", "Sentence completion (bonus)", 2, "08_sampling.ipynb", bonus=True,
    checks=(Check("prompt kept, state warmed on it, greedy continuation", 2, "completion",
                  kind="equal"),),
    rubric=(RubricItem("completions of a few prompts shown and discussed", 1),),
    forbidden=KIT_ANSWERS,
)


def probe(namespace, context):
    probes = helpers()
    complete = probes.student_object(namespace, "complete", "function")
    model = probes.toy_model(context)
    prompt = probes.ids(context["prompt"])
    return {"completion": probes.ids(complete(model, prompt.copy(), int(context["length"])))}


def record(public=False):
    """Seed 24: a toy model of 5 characters; the prompt 1 4 0 3 and 12 more tokens (public: 6
    characters, the prompt 5 1 3 and 10 more)."""
    import numpy as np

    from course_kit.sampling import greedy_ids
    from grader.probes import Context, toy_model, toy_model_inputs
    from grader.references import seeded

    vocab_size, prompt, length = (6, [5, 1, 3], 10) if public else (5, [1, 4, 0, 3], 12)
    inputs = toy_model_inputs(seeded(24, public), vocab_size)
    model = toy_model(Context(inputs))
    inputs.update(prompt=np.array(prompt), length=np.array(length))
    return inputs, {"completion": greedy_ids(model, prompt, len(prompt) + length)}


_ANSWER = '''
import numpy as np


def complete(model, prompt, length):
    state = model.initial_state(1)
    for token in prompt[:-1]:
        _, state = model.step([token], state)
    tokens = list(prompt)
    for _ in range(length):
        logits, state = model.step([tokens[-1]], state)
        tokens.append(int(np.argmax(logits[0])))
    return tokens
'''

MUTANTS = {
    # only the last prompt token seen: the state is not warmed on the prompt
    "state_not_warmed": edit(_ANSWER, ("    for token in prompt[:-1]:\n"
                                       "        _, state = model.step([token], state)\n", "")),
    # the last prompt token fed twice
    "last_token_twice": edit(_ANSWER, ("for token in prompt[:-1]:", "for token in prompt:")),
    # the continuation without the prompt
    "prompt_dropped": edit(_ANSWER, ("    return tokens", "    return tokens[len(prompt):]")),
    # one token short
    "one_short": edit(_ANSWER, ("for _ in range(length):", "for _ in range(length - 1):")),
}

ALTERNATIVES = {
    # one loop over prompt and continuation alike, the logits kept from each step
    "one_loop": '''
import numpy as np


def complete(model, prompt, length):
    prompt = [int(t) for t in np.asarray(prompt).ravel()]
    out, state, logits = [], model.initial_state(1), None
    while len(out) < len(prompt) + length:
        position = len(out)
        token = prompt[position] if position < len(prompt) else int(np.argmax(logits[0]))
        out.append(token)
        logits, state = model.step([token], state)
    return np.array(out)
''',
}
