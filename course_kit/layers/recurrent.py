"""Recurrent cells written from raw weights, named after the curriculum's equations.

Every cell here is a Keras 3 layer that computes one time step. Wrap it in
``keras.layers.RNN`` to run over a sequence (``return_sequences``, ``return_state`` and
``go_backwards`` work as for Keras' own cells) or in ``keras.layers.Bidirectional``.

Conventions shared by all cells (the contract the notebooks and the grader rely on):

- Weights are stored *input-major*: a matrix that the equations write as ``W_hx x_t`` (a
  column vector ``x_t``) is the variable ``W_hx`` of shape ``(input_dim, units)`` and is
  applied as ``x_t @ W_hx`` to a batch of row vectors ``(batch, input_dim)``. Recurrent
  matrices have shape ``(units, units)``, biases ``(units,)``.
- Each weight is an attribute of the cell with its math name (``cell.W_hx``), and its
  variable carries the same name (``cell.W_hx.name == "W_hx"``).
- ``call(inputs, states)`` takes ``inputs`` of shape ``(batch, input_dim)`` (floating point)
  and ``states``, a list of ``(batch, units)`` tensors (``[h]`` for the vanilla RNN and the
  GRU, ``[h, c]`` for both LSTMs); it returns ``(h_t, new_states)``.
- Input weights use ``kernel_initializer`` (Glorot uniform by default; ``"he_normal"`` is the
  Kaiming-normal initialisation of the 2020 settings), recurrent weights
  ``recurrent_initializer`` (Glorot uniform by default), biases ``bias_initializer`` (zeros).
"""

import keras
from keras import ops

__all__ = ["GRUCell", "LSTMCell", "PeepholeLSTMCell", "VanillaRNNCell"]


class _RecurrentCell(keras.layers.Layer):
    """What every cell shares: argument checks, initialisers, state handling and config."""

    #: Number of ``(batch, units)`` tensors in the state (1: ``[h]``, 2: ``[h, c]``).
    num_states = 1

    def __init__(
        self,
        units,
        kernel_initializer="glorot_uniform",
        recurrent_initializer="glorot_uniform",
        bias_initializer="zeros",
        **kwargs,
    ):
        if isinstance(units, bool) or not isinstance(units, int) or units <= 0:
            raise ValueError(f"units must be a positive integer, got units={units!r}")
        super().__init__(**kwargs)
        self.units = units
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.recurrent_initializer = keras.initializers.get(recurrent_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)

    @property
    def state_size(self):
        return self.units if self.num_states == 1 else [self.units] * self.num_states

    @property
    def output_size(self):
        return self.units

    def _input_dim(self, input_shape):
        """The feature size of a ``(batch, input_dim)`` step input, checked."""
        if len(input_shape) != 2:
            raise ValueError(
                f"{type(self).__name__} expects inputs of rank 2 (batch, input_dim) per time "
                f"step, i.e. rank 3 (batch, time, input_dim) inside keras.layers.RNN; got an "
                f"input of shape {tuple(input_shape)}"
            )
        if input_shape[-1] is None:
            raise ValueError(f"{type(self).__name__} needs a known input_dim, got {input_shape}")
        return input_shape[-1]

    def _input_weight(self, name, input_dim):
        return self.add_weight(
            shape=(input_dim, self.units), initializer=self.kernel_initializer, name=name
        )

    def _recurrent_weight(self, name):
        return self.add_weight(
            shape=(self.units, self.units), initializer=self.recurrent_initializer, name=name
        )

    def _bias(self, name):
        return self.add_weight(shape=(self.units,), initializer=self.bias_initializer, name=name)

    def _check_step(self, inputs, states):
        """Turn ``states`` into a list and reject integer inputs and mis-shaped states."""
        if "int" in keras.backend.standardize_dtype(inputs.dtype):
            raise ValueError(
                f"{type(self).__name__} got integer inputs (dtype {inputs.dtype}); embed or "
                f"one-hot encode symbols first (keras.layers.Embedding or ops.one_hot)"
            )
        if not isinstance(states, (list, tuple)):
            states = [states]
        if len(states) != self.num_states:
            raise ValueError(
                f"{type(self).__name__} expects {self.num_states} state tensor(s), got "
                f"{len(states)}"
            )
        for state in states:
            if len(state.shape) != 2 or state.shape[-1] not in (None, self.units):
                raise ValueError(
                    f"{type(self).__name__} expects states of shape (batch, {self.units}), got "
                    f"a state of shape {tuple(state.shape)}"
                )
        return list(states)

    def get_initial_state(self, batch_size=None):
        return [
            ops.zeros((batch_size, self.units), dtype=self.compute_dtype)
            for _ in range(self.num_states)
        ]

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "units": self.units,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "recurrent_initializer": keras.initializers.serialize(self.recurrent_initializer),
                "bias_initializer": keras.initializers.serialize(self.bias_initializer),
            }
        )
        return config


# BEGIN ANSWER q1_2
@keras.saving.register_keras_serializable(package="course_kit")
class VanillaRNNCell(_RecurrentCell):
    """One step of the vanilla (Elman) RNN.

    ``h_t = tanh(W_hx x_t + W_hh h_{t-1} + b_h)``

    Weights (input-major, see the module docstring):

    - ``W_hx``: ``(input_dim, units)``, applied as ``x_t @ W_hx``;
    - ``W_hh``: ``(units, units)``, applied as ``h_{t-1} @ W_hh``;
    - ``b_h``: ``(units,)``.

    The output layer of the equations (``p_t = W_ph h_t + b_p``) is not part of the cell: it is
    the ``Dense`` layer of the model that reads ``h_T``.

    Args:
        units: positive int, size of ``h``.
        kernel_initializer, recurrent_initializer, bias_initializer: Keras initialisers for
            ``W_hx``, ``W_hh`` and ``b_h``.

    Call arguments:
        inputs: ``(batch, input_dim)`` float.
        states: ``[h_{t-1}]``, each ``(batch, units)``.

    Returns:
        ``(h_t, [h_t])``.

    Matches ``keras.layers.SimpleRNN`` with ``kernel = W_hx``, ``recurrent_kernel = W_hh``,
    ``bias = b_h``.
    """

    def build(self, input_shape):
        input_dim = self._input_dim(input_shape)
        self.W_hx = self._input_weight("W_hx", input_dim)
        self.W_hh = self._recurrent_weight("W_hh")
        self.b_h = self._bias("b_h")

    def call(self, inputs, states):
        (h_prev,) = self._check_step(inputs, states)
        h = ops.tanh(inputs @ self.W_hx + h_prev @ self.W_hh + self.b_h)
        return h, [h]
# END ANSWER


# BEGIN ANSWER q1_6
@keras.saving.register_keras_serializable(package="course_kit")
class LSTMCell(_RecurrentCell):
    """One step of the LSTM of the curriculum (no peepholes).

    ::

        g = tanh(W_gx x + W_gh h_{t-1} + b_g)        cell input
        i = sigmoid(W_ix x + W_ih h_{t-1} + b_i)     input gate
        f = sigmoid(W_fx x + W_fh h_{t-1} + b_f)     forget gate
        o = sigmoid(W_ox x + W_oh h_{t-1} + b_o)     output gate
        c_t = g * i + c_{t-1} * f
        h_t = tanh(c_t) * o

    Weights (input-major): ``W_gx, W_ix, W_fx, W_ox`` of shape ``(input_dim, units)``;
    ``W_gh, W_ih, W_fh, W_oh`` of shape ``(units, units)``; ``b_g, b_i, b_f, b_o`` of shape
    ``(units,)``. Each is an attribute with that name. Each gate is its own pair of matrix
    products: concatenating the four kernels inside the step (one larger product) measured
    slower on TensorFlow and JAX on CPU.

    Args:
        units: positive int, size of ``h`` and ``c``.
        kernel_initializer, recurrent_initializer, bias_initializer: Keras initialisers for
            the ``*x``, ``*h`` and ``b_*`` weights.

    Call arguments:
        inputs: ``(batch, input_dim)`` float.
        states: ``[h_{t-1}, c_{t-1}]``, each ``(batch, units)``.

    Returns:
        ``(h_t, [h_t, c_t])``.

    Matches ``keras.layers.LSTM`` (whose kernel holds the gates in the order i, f, c, o) with
    ``kernel = [W_ix | W_fx | W_gx | W_ox]``, ``recurrent_kernel = [W_ih | W_fh | W_gh | W_oh]``
    and ``bias = [b_i | b_f | b_g | b_o]`` (``unit_forget_bias`` off or the bias copied).
    """

    num_states = 2

    def build(self, input_shape):
        input_dim = self._input_dim(input_shape)
        for gate in "gifo":
            setattr(self, f"W_{gate}x", self._input_weight(f"W_{gate}x", input_dim))
            setattr(self, f"W_{gate}h", self._recurrent_weight(f"W_{gate}h"))
            setattr(self, f"b_{gate}", self._bias(f"b_{gate}"))

    def call(self, inputs, states):
        h_prev, c_prev = self._check_step(inputs, states)
        g = ops.tanh(inputs @ self.W_gx + h_prev @ self.W_gh + self.b_g)
        i = ops.sigmoid(inputs @ self.W_ix + h_prev @ self.W_ih + self.b_i)
        f = ops.sigmoid(inputs @ self.W_fx + h_prev @ self.W_fh + self.b_f)
        o = ops.sigmoid(inputs @ self.W_ox + h_prev @ self.W_oh + self.b_o)
        c = g * i + c_prev * f
        h = ops.tanh(c) * o
        return h, [h, c]
# END ANSWER


# BEGIN ANSWER q1_9
@keras.saving.register_keras_serializable(package="course_kit")
class PeepholeLSTMCell(_RecurrentCell):
    """One step of the peephole LSTM of the 2020 assignment.

    The gates read the previous *cell state* ``c_{t-1}`` instead of ``h_{t-1}``, and the cell
    input uses a sigmoid and sees only ``x``::

        f = sigmoid(W_fx x + W_fh c_{t-1} + b_f)
        i = sigmoid(W_ix x + W_ih c_{t-1} + b_i)
        o = sigmoid(W_ox x + W_oh c_{t-1} + b_o)
        c_t = sigmoid(W_cx x + b_c) * i + c_{t-1} * f
        h_t = tanh(c_t) * o

    Weights (input-major): ``W_fx, W_ix, W_ox, W_cx`` of shape ``(input_dim, units)``;
    ``W_fh, W_ih, W_oh`` of shape ``(units, units)`` (despite the ``h`` in their names, which
    follows the assignment, they multiply ``c_{t-1}``); ``b_f, b_i, b_o, b_c`` of shape
    ``(units,)``.

    Args:
        units: positive int, size of ``h`` and ``c``.
        kernel_initializer, recurrent_initializer, bias_initializer: Keras initialisers for
            the ``*x``, ``*h`` and ``b_*`` weights.

    Call arguments:
        inputs: ``(batch, input_dim)`` float.
        states: ``[h_{t-1}, c_{t-1}]``, each ``(batch, units)``; ``h_{t-1}`` is carried only
            so that the cell has the same state layout as ``LSTMCell``.

    Returns:
        ``(h_t, [h_t, c_t])``.
    """

    num_states = 2

    def build(self, input_shape):
        input_dim = self._input_dim(input_shape)
        for gate in "fio":
            setattr(self, f"W_{gate}x", self._input_weight(f"W_{gate}x", input_dim))
            setattr(self, f"W_{gate}h", self._recurrent_weight(f"W_{gate}h"))
            setattr(self, f"b_{gate}", self._bias(f"b_{gate}"))
        self.W_cx = self._input_weight("W_cx", input_dim)
        self.b_c = self._bias("b_c")

    def call(self, inputs, states):
        _, c_prev = self._check_step(inputs, states)
        f = ops.sigmoid(inputs @ self.W_fx + c_prev @ self.W_fh + self.b_f)
        i = ops.sigmoid(inputs @ self.W_ix + c_prev @ self.W_ih + self.b_i)
        o = ops.sigmoid(inputs @ self.W_ox + c_prev @ self.W_oh + self.b_o)
        c = ops.sigmoid(inputs @ self.W_cx + self.b_c) * i + c_prev * f
        h = ops.tanh(c) * o
        return h, [h, c]
# END ANSWER


# BEGIN ANSWER q1_9
@keras.saving.register_keras_serializable(package="course_kit")
class GRUCell(_RecurrentCell):
    """One step of the GRU of the 2020 assignment (variant A).

    The assignment writes ``z = sigmoid(W_z [h_{t-1}, x])``, ``r = sigmoid(W_r [h_{t-1}, x])``,
    ``h~ = tanh(W [r * h_{t-1}, x])``, ``h_t = (1 - z) * h_{t-1} + z * h~``. Each matrix
    acting on a concatenation ``[h, x]`` is split into its ``h`` and ``x`` blocks, and a bias
    is added::

        z = sigmoid(W_zx x + W_zh h_{t-1} + b_z)           update gate
        r = sigmoid(W_rx x + W_rh h_{t-1} + b_r)           reset gate
        h~ = tanh(W_x x + W_h (r * h_{t-1}) + b)           candidate
        h_t = (1 - z) * h_{t-1} + z * h~

    so ``W_z = [W_zh^T, W_zx^T]`` (and likewise ``W_r``, ``W``) in the assignment's
    column-vector notation. Weights (input-major): ``W_zx, W_rx, W_x`` of shape
    ``(input_dim, units)``; ``W_zh, W_rh, W_h`` of shape ``(units, units)``; ``b_z, b_r, b``
    of shape ``(units,)``.

    Args:
        units: positive int, size of ``h``.
        kernel_initializer, recurrent_initializer, bias_initializer: Keras initialisers for
            the ``*x``, ``*h`` and bias weights.

    Call arguments:
        inputs: ``(batch, input_dim)`` float.
        states: ``[h_{t-1}]``, ``(batch, units)``.

    Returns:
        ``(h_t, [h_t])``.

    Matches ``keras.layers.GRU(reset_after=False)`` (kernel gate order z, r, h), whose update
    gate is the complement of this one (Keras: ``h_t = z * h_{t-1} + (1 - z) * h~``): copy
    ``W_zx = -kernel_z``, ``W_zh = -recurrent_kernel_z``, ``b_z = -bias_z`` and the other
    blocks unchanged.
    """

    def build(self, input_shape):
        input_dim = self._input_dim(input_shape)
        self.W_zx = self._input_weight("W_zx", input_dim)
        self.W_zh = self._recurrent_weight("W_zh")
        self.b_z = self._bias("b_z")
        self.W_rx = self._input_weight("W_rx", input_dim)
        self.W_rh = self._recurrent_weight("W_rh")
        self.b_r = self._bias("b_r")
        self.W_x = self._input_weight("W_x", input_dim)
        self.W_h = self._recurrent_weight("W_h")
        self.b = self._bias("b")

    def call(self, inputs, states):
        (h_prev,) = self._check_step(inputs, states)
        z = ops.sigmoid(inputs @ self.W_zx + h_prev @ self.W_zh + self.b_z)
        r = ops.sigmoid(inputs @ self.W_rx + h_prev @ self.W_rh + self.b_r)
        candidate = ops.tanh(inputs @ self.W_x + (r * h_prev) @ self.W_h + self.b)
        h = (1.0 - z) * h_prev + z * candidate
        return h, [h]
# END ANSWER
