"""q2_3: temperature sampling, in the assignment's convention.

Contract: ``sample_temperature(logits, tau, rng)`` draws one index from ``exp(tau * logits) /
sum exp(tau * logits)`` (tau multiplies the logits) with the NumPy generator ``rng``.

Checked with many draws per tau, for tau = 0.5 and 2, where the two conventions differ
(tau = 1 cannot tell them apart): the counts must be within total variation 0.03 of the
formula (draws that follow ``softmax(logits / tau)`` instead get the notebook's hint for
that mistake). And the draws must come from ``rng``: the same generator state gives the
same draws, the generator advances, another seed gives other draws (a sampler that uses
NumPy's global random state, or none, fails).
"""

from grader.registry import KIT_ANSWERS, Check, Question, RubricItem

from . import edit, helpers

TAUS = (0.5, 2.0)
# draws per tau for the distributions, and for the generator test (at tau = 0.5)
DRAWS, RNG_DRAWS = 20000, 200
SEED = 7

QUESTION = Question(
    "q2_3", "Temperature sampling", 2, "08_sampling.ipynb",
    checks=tuple(
        Check(f"draws follow exp(tau x) for tau = {tau:g}", 1, f"counts_{tau:g}",
              kind="distribution", reference=f"probabilities_{tau:g}", threshold=0.03,
              mistakes=(("divides_by_tau", "divides_by_tau"),))
        for tau in TAUS
    ) + (Check("draws come from the rng given: reproducible from its state, and it advances",
               1, "rng", kind="equal"),),
    rubric=(RubricItem("samples for tau in {0.5, 1, 2} compared; convention named", 3),),
    forbidden=KIT_ANSWERS,
)


def probe(namespace, context):
    """Counts of ``draws`` draws per tau, each tau from a fresh generator of the recorded
    seed; and ``rng`` = [the same seed gives the same draws, the generator advanced, another
    seed gives other draws]."""
    import numpy as np

    probes = helpers()
    sample = probes.student_object(namespace, "sample_temperature", "function")
    logits = np.asarray(context["logits"], dtype=np.float64)
    seed = int(context["seed"])

    def draw(tau, count, rng):
        picks = np.array([int(sample(logits.copy(), float(tau), rng)) for _ in range(count)])
        if picks.min() < 0 or picks.max() >= len(logits):
            raise probes.ContractError(f"sample_temperature returned an index outside "
                                       f"0..{len(logits) - 1}")
        return picks

    results = {}
    for tau in np.asarray(context["taus"]):
        picks = draw(tau, int(context["draws"]), np.random.default_rng(seed))
        results[f"counts_{tau:g}"] = np.bincount(picks, minlength=len(logits)).astype(np.int64)
    count = int(context["rng_draws"])
    rng = np.random.default_rng(seed)
    first = draw(0.5, count, rng)
    again = draw(0.5, count, np.random.default_rng(seed))
    other = draw(0.5, count, np.random.default_rng(seed + 1))
    advanced = rng.bit_generator.state != np.random.default_rng(seed).bit_generator.state
    found = [np.array_equal(first, again), advanced, not np.array_equal(first, other)]
    reasons = ("two generators in the same state gave different draws: draw with the rng "
               "given, not np.random's global functions",
               "the rng given was not used (its state did not change)",
               "generators of different seeds gave the same draws")
    context.notes += [reason for ok, reason in zip(found, reasons) if not ok]
    results["rng"] = np.array(found, dtype=np.int64)
    return results


def record(public=False):
    """Fixed logits of 5 classes (public: 6 other ones) and generator seed; the formula's
    probabilities per tau, and those of the other convention (``softmax(logits / tau)``,
    mistake ``divides_by_tau``)."""
    import numpy as np

    from course_kit.sampling import inverse_temperature_probabilities, temperature_probabilities
    from grader.references import PUBLIC_SEED_OFFSET

    if public:
        logits, seed = np.array([0.5, -1.0, 1.5, 0.3, -0.2, 1.0]), SEED + PUBLIC_SEED_OFFSET
    else:
        logits, seed = np.array([1.0, 0.2, -0.5, 2.0, 0.0]), SEED
    inputs = {"logits": logits, "taus": np.array(TAUS), "draws": np.array(DRAWS),
              "rng_draws": np.array(RNG_DRAWS), "seed": np.array(seed)}
    expected = {"rng": np.array([1, 1, 1])}
    for tau in TAUS:
        expected[f"probabilities_{tau:g}"] = inverse_temperature_probabilities(logits, tau)
        expected[f"probabilities_{tau:g}@divides_by_tau"] = temperature_probabilities(logits,
                                                                                      tau)
    return inputs, expected


_ANSWER = '''
import numpy as np


def sample_temperature(logits, tau, rng):
    scaled = tau * np.asarray(logits, dtype=float)
    p = np.exp(scaled - scaled.max())
    return rng.choice(len(p), p=p / p.sum())
'''

MUTANTS = {
    # the usual convention: tau divides the logits (recognised: the notebook's hint)
    "divides_by_tau": edit(_ANSWER, ("scaled = tau * np.asarray(logits, dtype=float)",
                                     "scaled = np.asarray(logits, dtype=float) / tau")),
    # NumPy's global random state instead of the generator given
    "global_rng": edit(_ANSWER, ("return rng.choice(len(p), p=p / p.sum())",
                                 "return np.random.choice(len(p), p=p / p.sum())")),
    # the most likely index every time
    "argmax": edit(_ANSWER, ("return rng.choice(len(p), p=p / p.sum())",
                             "return int(np.argmax(p))")),
    # a new generator of a fixed seed at every call: the same index every time
    "reseeded_every_call": edit(_ANSWER, ("return rng.choice(", "return np.random.default_rng("
                                                                 "0).choice(")),
}

ALTERNATIVES = {
    # inverse transform: one uniform from rng, searched in the cumulative distribution
    "inverse_cdf": '''
import numpy as np


def sample_temperature(logits, tau, rng):
    weights = np.exp(tau * (np.asarray(logits, dtype=float) - np.max(logits)))
    cumulative = np.cumsum(weights / weights.sum())
    index = int(np.searchsorted(cumulative, rng.random(), side="right"))
    return min(index, len(cumulative) - 1)
''',
    # the Gumbel-max trick: argmax of tau * logits plus Gumbel noise drawn from rng
    "gumbel_max": '''
import numpy as np


def sample_temperature(logits, tau, rng):
    scaled = tau * np.asarray(logits, dtype=float)
    return int(np.argmax(scaled + rng.gumbel(size=scaled.shape)))
''',
}
