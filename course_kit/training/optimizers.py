"""Update rules of SGD with momentum, RMSProp and Adam in NumPy (question q1_4), with the
same defaults and arithmetic as ``keras.optimizers``, and an ill-conditioned quadratic on
which to compare their paths."""

import numpy as np

__all__ = ["SGD", "Adam", "IllConditionedQuadratic", "RMSProp", "optimize"]


class _Optimizer:
    """Applies an update rule to one array or a list of arrays, keeping per-array state."""

    def __init__(self, learning_rate):
        if not learning_rate > 0:
            raise ValueError(f"learning_rate must be positive, got {learning_rate!r}")
        self.learning_rate = learning_rate
        self.iterations = 0
        self._slots = None

    def step(self, weights, gradients):
        """Return the updated weights (same structure as ``weights``: array or list)."""
        single = not isinstance(weights, (list, tuple))
        weights = (
            [np.asarray(weights, dtype=np.float64)]
            if single
            else [np.asarray(w, dtype=np.float64) for w in weights]
        )
        gradients = (
            [np.asarray(gradients, dtype=np.float64)]
            if single
            else [np.asarray(g, dtype=np.float64) for g in gradients]
        )
        if len(weights) != len(gradients):
            raise ValueError(f"got {len(weights)} weights but {len(gradients)} gradients")
        if self._slots is None:
            self._slots = [self._new_slots(w) for w in weights]
        self.iterations += 1
        updated = [self._update(w, g, s) for w, g, s in zip(weights, gradients, self._slots)]
        return updated[0] if single else updated


# BEGIN ANSWER q1_4
class SGD(_Optimizer):
    """``v = momentum * v - lr * g``; ``w = w + v`` (plain SGD when ``momentum`` is 0)."""

    def __init__(self, learning_rate=0.01, momentum=0.0):
        super().__init__(learning_rate)
        self.momentum = momentum

    def _new_slots(self, weight):
        return {"velocity": np.zeros_like(weight)}

    def _update(self, weight, gradient, slots):
        slots["velocity"] = self.momentum * slots["velocity"] - self.learning_rate * gradient
        return weight + slots["velocity"]


class RMSProp(_Optimizer):
    """``s = rho * s + (1 - rho) * g^2``; ``w = w - lr * g / sqrt(s + epsilon)``.

    Dividing by the running root-mean-square of each coordinate's gradient gives every
    coordinate a step of similar size, however steep or flat its direction is.
    """

    def __init__(self, learning_rate=0.001, rho=0.9, epsilon=1e-7):
        super().__init__(learning_rate)
        self.rho = rho
        self.epsilon = epsilon

    def _new_slots(self, weight):
        return {"mean_square": np.zeros_like(weight)}

    def _update(self, weight, gradient, slots):
        slots["mean_square"] = self.rho * slots["mean_square"] + (1 - self.rho) * gradient**2
        return weight - self.learning_rate * gradient / np.sqrt(slots["mean_square"] + self.epsilon)


class Adam(_Optimizer):
    """Momentum on the gradient and RMSProp scaling, with bias correction::

    m = beta_1 m + (1 - beta_1) g;   v = beta_2 v + (1 - beta_2) g^2
    w = w - lr * sqrt(1 - beta_2^t) / (1 - beta_1^t) * m / (sqrt(v) + epsilon)
    """

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7):
        super().__init__(learning_rate)
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon

    def _new_slots(self, weight):
        return {"m": np.zeros_like(weight), "v": np.zeros_like(weight)}

    def _update(self, weight, gradient, slots):
        t = self.iterations
        slots["m"] = self.beta_1 * slots["m"] + (1 - self.beta_1) * gradient
        slots["v"] = self.beta_2 * slots["v"] + (1 - self.beta_2) * gradient**2
        step_size = self.learning_rate * np.sqrt(1 - self.beta_2**t) / (1 - self.beta_1**t)
        return weight - step_size * slots["m"] / (np.sqrt(slots["v"]) + self.epsilon)
# END ANSWER


class IllConditionedQuadratic:
    """``f(w) = (curvatures[0] w_0^2 + curvatures[1] w_1^2) / 2``, minimum 0 at the origin.

    With curvatures (1, 50) the valley is 50 times steeper across than along: a learning rate
    small enough not to diverge across it crawls along it.
    """

    def __init__(self, curvatures=(1.0, 50.0)):
        self.curvatures = np.asarray(curvatures, dtype=np.float64)
        if self.curvatures.shape != (2,) or np.any(self.curvatures <= 0):
            raise ValueError(f"curvatures must be two positive numbers, got {curvatures!r}")

    def value(self, w):
        w = np.asarray(w, dtype=np.float64)
        return 0.5 * np.sum(self.curvatures * w**2, axis=-1)

    def gradient(self, w):
        return self.curvatures * np.asarray(w, dtype=np.float64)


def optimize(optimizer, objective, start, steps):
    """The path ``(steps + 1, 2)`` of ``optimizer`` on ``objective`` from ``start``."""
    path = [np.asarray(start, dtype=np.float64)]
    for _ in range(steps):
        path.append(optimizer.step(path[-1], objective.gradient(path[-1])))
    return np.stack(path)
