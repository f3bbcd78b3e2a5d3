"""Parameter counts of the Part 1 models (question q1_5)."""

__all__ = ["count_lstm_parameters"]


# BEGIN ANSWER q1_5
def count_lstm_parameters(d, n, c):
    """Trainable parameters of an LSTM cell with ``d`` inputs and ``n`` units plus a dense
    output layer over ``c`` classes: ``4 (d n + n^2 + n) + n c + c``.

    Each of the four gates (g, i, f, o) has an input matrix ``(d, n)``, a recurrent matrix
    ``(n, n)`` and a bias ``(n,)``; the output layer has ``W_ph`` ``(n, c)`` and ``b_p``
    ``(c,)``.
    """
    for name, value in (("d", d), ("n", n), ("c", c)):
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise ValueError(f"{name} must be a positive integer, got {name}={value!r}")
    return 4 * (d * n + n * n + n) + n * c + c
# END ANSWER
