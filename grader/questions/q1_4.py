"""q1_4: the update rules of SGD with momentum, RMSProp and Adam, in NumPy.

Contract (as ``course_kit.training.optimizers``): classes ``SGD(learning_rate, momentum)``,
``RMSProp(learning_rate, rho, epsilon)`` and ``Adam(learning_rate, beta_1, beta_2,
epsilon)``, each with ``step(weights, gradients)`` returning the updated weights and keeping
its own state (velocity, mean square, m, v, t). The reference is Keras' optimizer with the
same settings, step by step.

Each optimiser gets its own gradients, whose three columns have very different sizes: about
1e4, 1 and a tiny one (1e-8 for SGD and RMSProp, 2e-4 for Adam). Where the gradient is
tiny, epsilon decides the step: RMSProp's epsilon belongs inside the square root (as in
Keras), Adam's outside. Adam runs with ``beta_2 = 0.9``, where its bias correction matters
at every step; there the textbook form ``m_hat / (sqrt(v_hat) + eps)`` and Keras' form
(epsilon not bias-corrected) agree to 2e-5, inside the tolerance, while epsilon inside the
square root or a missing bias correction is off by 1e-2.
"""

from grader.registry import KIT_ANSWERS, OPTIMIZER_LIBRARIES, Check, Question, RubricItem

from . import edit, helpers

QUESTION = Question(
    "q1_4", "Optimisers: momentum, RMSProp, Adam", 1, "03_optimizers.ipynb",
    checks=(
        Check("SGD with momentum, step by step", 2, "momentum", rtol=1e-5, atol=1e-6),
        Check("RMSProp, step by step", 2, "rmsprop", rtol=1e-5, atol=1e-6),
        Check("Adam, step by step", 2, "adam", rtol=1e-5, atol=1e-4),
    ),
    rubric=(RubricItem("why adaptive and momentum methods beat plain SGD", 3),),
    forbidden=KIT_ANSWERS + OPTIMIZER_LIBRARIES,
)

LEARNING_RATE = 0.01
# output: (the student's class, the Keras class, the settings both get)
SETTINGS = {
    "momentum": ("SGD", "SGD", {"learning_rate": LEARNING_RATE, "momentum": 0.9}),
    "rmsprop": ("RMSProp", "RMSprop", {"learning_rate": LEARNING_RATE, "rho": 0.9,
                                       "epsilon": 1e-7}),
    "adam": ("Adam", "Adam", {"learning_rate": LEARNING_RATE, "beta_1": 0.9, "beta_2": 0.9,
                              "epsilon": 1e-7}),
}
# The size of each column of the recorded gradients, per optimiser.
SCALES = {"momentum": (1e4, 1.0, 1e-8), "rmsprop": (1e4, 1.0, 1e-8),
          "adam": (1e4, 1.0, 2e-4)}


def probe(namespace, context):
    """Run each optimiser on its recorded gradients from the recorded weights; returns the
    weights after every step, ``(steps, 3)`` per optimiser."""
    import numpy as np

    probes = helpers()
    param0 = np.asarray(context["param"], dtype=np.float64)
    results = {}
    for output, (name, _, arguments) in SETTINGS.items():
        try:
            optimizer = probes.student_object(namespace, name, "class")(**arguments)
            context.inspect(optimizer)
            param, trajectory = param0.copy(), []
            for grad in np.asarray(context[f"grads_{output}"], dtype=np.float64):
                param = np.asarray(optimizer.step(param, grad.copy()), dtype=np.float64)
                trajectory.append(param)
            results[output] = np.stack(trajectory)
        except Exception as error:  # one broken rule must not cost the other two
            context.notes.append(f"{name}: {type(error).__name__}: {error}")
    return results


def record(public=False):
    """Seed 14: the weights, then 6 steps (public: 8) of gradients per optimiser; Keras'
    optimisers on a float64 variable."""
    import keras
    import numpy as np

    from grader.references import seeded

    rng = seeded(14, public)
    steps = 8 if public else 6
    inputs = {"param": rng.normal(size=(3,))}
    for output, scales in SCALES.items():
        inputs[f"grads_{output}"] = rng.normal(size=(steps, 3)) * np.array(scales)
    expected = {}
    for output, (_, keras_name, arguments) in SETTINGS.items():
        optimizer = getattr(keras.optimizers, keras_name)(**arguments)
        variable = keras.Variable(inputs["param"], dtype="float64")
        trajectory = []
        for grad in inputs[f"grads_{output}"]:
            optimizer.apply([keras.ops.convert_to_tensor(grad, dtype="float64")], [variable])
            trajectory.append(np.asarray(keras.ops.convert_to_numpy(variable)))
        expected[output] = np.stack(trajectory)
    return inputs, expected


_ANSWER = '''
import numpy as np


class SGD:
    def __init__(self, learning_rate=0.01, momentum=0.0):
        self.learning_rate, self.momentum, self.velocity = learning_rate, momentum, 0.0

    def step(self, weights, gradients):
        self.velocity = self.momentum * self.velocity - self.learning_rate * gradients
        return weights + self.velocity


class RMSProp:
    def __init__(self, learning_rate=0.001, rho=0.9, epsilon=1e-7):
        self.learning_rate, self.rho, self.epsilon = learning_rate, rho, epsilon
        self.mean_square = 0.0

    def step(self, weights, gradients):
        self.mean_square = self.rho * self.mean_square + (1 - self.rho) * gradients**2
        return weights - self.learning_rate * gradients / np.sqrt(self.mean_square + self.epsilon)


class Adam:
    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7):
        self.learning_rate, self.beta_1, self.beta_2 = learning_rate, beta_1, beta_2
        self.epsilon = epsilon
        self.m = self.v = 0.0
        self.t = 0

    def step(self, weights, gradients):
        self.t += 1
        self.m = self.beta_1 * self.m + (1 - self.beta_1) * gradients
        self.v = self.beta_2 * self.v + (1 - self.beta_2) * gradients**2
        m_hat, v_hat = self.m / (1 - self.beta_1**self.t), self.v / (1 - self.beta_2**self.t)
        return weights - self.learning_rate * m_hat / (np.sqrt(v_hat) + self.epsilon)
'''

_RMSPROP_STEP = ("weights - self.learning_rate * gradients / np.sqrt(self.mean_square + "
                 "self.epsilon)")
_ADAM_STEP = "weights - self.learning_rate * m_hat / (np.sqrt(v_hat) + self.epsilon)"

MUTANTS = {
    # Adam's epsilon inside the square root
    "adam_epsilon_inside_sqrt": edit(_ANSWER, (
        _ADAM_STEP, "weights - self.learning_rate * m_hat / np.sqrt(v_hat + self.epsilon)")),
    # Adam without bias correction
    "adam_no_bias_correction": edit(_ANSWER, (
        "m_hat, v_hat = self.m / (1 - self.beta_1**self.t), self.v / (1 - self.beta_2**self.t)",
        "m_hat, v_hat = self.m, self.v")),
    # RMSProp's epsilon outside the square root (PyTorch's convention, not Keras')
    "rmsprop_epsilon_outside_sqrt": edit(_ANSWER, (
        _RMSPROP_STEP, "weights - self.learning_rate * gradients / (np.sqrt(self.mean_square) "
                       "+ self.epsilon)")),
    # momentum as an average of the gradients: v = mu v + (1 - mu) g, w = w - lr v
    "momentum_as_average": edit(_ANSWER, (
        "self.velocity = self.momentum * self.velocity - self.learning_rate * gradients\n"
        "        return weights + self.velocity",
        "self.velocity = self.momentum * self.velocity + (1 - self.momentum) * gradients\n"
        "        return weights - self.learning_rate * self.velocity")),
    # the velocity's sign flipped: v = mu v + lr g, w = w + v climbs the loss
    "momentum_wrong_sign": edit(_ANSWER, (
        "self.momentum * self.velocity - self.learning_rate * gradients",
        "self.momentum * self.velocity + self.learning_rate * gradients")),
}

ALTERNATIVES = {
    # other algebra: PyTorch's momentum (v = mu v + g, w = w - lr v), RMSProp by a
    # reciprocal square root, and Keras' Adam (bias corrections folded into the step size)
    "other_algebra": '''
import numpy as np


class SGD:
    def __init__(self, learning_rate, momentum):
        self.lr, self.mu = learning_rate, momentum
        self.buffer = None

    def step(self, weights, gradients):
        self.buffer = gradients if self.buffer is None else self.mu * self.buffer + gradients
        return weights - self.lr * self.buffer


class RMSProp:
    def __init__(self, learning_rate, rho, epsilon):
        self.lr, self.rho, self.eps = learning_rate, rho, epsilon
        self.square = None

    def step(self, weights, gradients):
        if self.square is None:
            self.square = np.zeros_like(gradients)
        self.square += (1.0 - self.rho) * (gradients * gradients - self.square)
        return weights - self.lr * gradients * np.reciprocal(np.sqrt(self.square + self.eps))


class Adam:
    def __init__(self, learning_rate, beta_1, beta_2, epsilon):
        self.lr, self.beta_1, self.beta_2, self.eps = learning_rate, beta_1, beta_2, epsilon
        self.m, self.v, self.t = 0.0, 0.0, 0

    def step(self, weights, gradients):
        self.t += 1
        self.m = self.m + (1 - self.beta_1) * (gradients - self.m)
        self.v = self.v + (1 - self.beta_2) * (gradients**2 - self.v)
        alpha = self.lr * np.sqrt(1 - self.beta_2**self.t) / (1 - self.beta_1**self.t)
        return weights - alpha * self.m / (np.sqrt(self.v) + self.eps)
''',
}
