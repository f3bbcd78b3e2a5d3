"""Every question of the curriculum: title, points, notebook, graded cells, checks, rubric.

A question scores ``auto_points`` from its automatic checks (partial credit per check) and
``manual_points`` from its rubric (marked by a person and merged with ``merge-manual``).
A graded code cell has the question's id (``q1_2``); a free-text answer cell has the id with
``_answer`` appended (``q1_2_answer``).

The *probe* of a question (in :mod:`grader.probes`) runs inside the student process: it
builds the student's objects from the cells, feeds them the recorded inputs and returns
arrays. Each :class:`Check` compares one of those arrays with the recorded reference in the
grader's own process.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["Check", "NOTEBOOKS", "QUESTIONS", "Question", "RubricItem", "select"]

# The notebook that asks each question.
NOTEBOOKS = {
    "q1_1": "01_backprop_through_time.ipynb",
    "q1_2": "02_vanilla_rnn.ipynb",
    "q1_3": "02_vanilla_rnn.ipynb",
    "q1_4": "03_optimizers.ipynb",
    "q1_5": "04_lstm.ipynb",
    "q1_6": "04_lstm.ipynb",
    "q1_7": "05_gradients_over_time.ipynb",
    "q1_8": "06_lstm_variants.ipynb",
    "q1_9": "06_lstm_variants.ipynb",
    "q2_1": "07_text_generation.ipynb",
    "q2_2": "07_text_generation.ipynb",
    "q2_3": "08_sampling.ipynb",
    "q2_4": "08_sampling.ipynb",
    "q2_5": "08_sampling.ipynb",
    "q3_1": "09_gcn.ipynb",
    "q3_2": "09_gcn.ipynb",
    "q3_3": "10_gat.ipynb",
    "q3_4": "11_graphs_and_sequences.ipynb",
    "q3_5": "11_graphs_and_sequences.ipynb",
}

# What an implementation question may not use: the kit's own answers and Keras' built-in
# recurrent and dense layers (a dotted prefix matches a module, a class or anything inside).
# grader/policy.py applies these lists to the submitted source: a Keras class is also
# refused under any other path that ends in its name (keras.src..., tf.keras.layers...), a
# kit answer module under any re-export, and reflection or dynamic code is refused outright.
KIT_ANSWERS = ("course_kit.layers", "course_kit.models", "course_kit.sampling",
               "course_kit.training", "course_kit.graphs")
# Other libraries' layers (torch.nn, flax, spektral, ...) are refused by the policy itself,
# not listed here: these lists also go to the student process, where the probe looks for
# them in the student's classes, and on the torch backend every Keras layer is a
# torch.nn.Module.
KERAS_RECURRENT = ("keras.layers.SimpleRNNCell", "keras.layers.SimpleRNN", "keras.layers.LSTMCell",
                   "keras.layers.LSTM", "keras.layers.GRUCell", "keras.layers.GRU",
                   "keras.layers.RNN", "keras.layers.ConvLSTM1D", "keras.layers.ConvLSTM2D",
                   "keras.layers.ConvLSTM3D", "keras.layers.Dense", "keras.layers.EinsumDense")
KERAS_GRAPH = ("keras.layers.Dense", "keras.layers.EinsumDense", "keras.layers.Attention",
               "keras.layers.AdditiveAttention", "keras.layers.MultiHeadAttention",
               "keras.layers.GroupQueryAttention")
OPTIMIZER_LIBRARIES = ("keras.optimizers", "tensorflow.keras.optimizers", "tf_keras.optimizers",
                       "tensorflow.optimizers", "torch.optim", "optax",
                       "jax.example_libraries.optimizers")


@dataclass(frozen=True)
class Check:
    """One automatic check: compares the probe's array ``output`` with the reference.

    ``kind`` is ``"allclose"`` (shape, then ``|student - ref| <= atol + rtol * |ref|``),
    ``"equal"`` (exact, for integers and booleans), ``"accuracy"`` (the output holds
    predicted labels; the reference holds the true labels, which never leave the grader; it
    passes when the accuracy reaches ``threshold``) or ``"distribution"`` (the output holds
    counts of random draws, the reference the probabilities; it passes when their total
    variation distance is at most ``threshold``).
    """

    name: str
    points: float
    output: str
    kind: str = "allclose"
    reference: str | None = None
    rtol: float = 1e-4
    atol: float = 1e-5
    threshold: float = 0.0

    @property
    def reference_key(self) -> str:
        return self.reference or self.output


@dataclass(frozen=True)
class RubricItem:
    text: str
    points: float


@dataclass(frozen=True)
class Question:
    id: str
    title: str
    part: int
    checks: tuple[Check, ...] = ()
    rubric: tuple[RubricItem, ...] = ()
    probe: str | None = None
    forbidden: tuple[str, ...] = ()
    depends: tuple[str, ...] = ()
    bonus: bool = False
    time_factor: float = 1.0
    cells: tuple[str, ...] = field(default=())

    @property
    def notebook(self) -> str:
        return NOTEBOOKS[self.id]

    @property
    def code_cells(self) -> tuple[str, ...]:
        """Graded code cells executed for this question (its own id unless stated)."""
        return self.cells or ((self.id,) if self.checks else ())

    @property
    def answer_cells(self) -> tuple[str, ...]:
        return (f"{self.id}_answer",) if self.rubric else ()

    @property
    def auto_points(self) -> float:
        return sum(check.points for check in self.checks)

    @property
    def manual_points(self) -> float:
        return sum(item.points for item in self.rubric)

    @property
    def points(self) -> float:
        return self.auto_points + self.manual_points

    @property
    def automatic(self) -> bool:
        return bool(self.checks)


def _cell_checks(prefix_points=(1, 2, 2), rtol=1e-4, atol=1e-5):
    """Checks shared by the recurrent-cell questions: weights, outputs, gradients."""
    names, outputs, gradients = prefix_points
    return (
        Check("weight names and shapes", names, "weight_shapes", kind="equal"),
        Check("outputs over a sequence", outputs, "outputs", rtol=rtol, atol=atol),
        Check("gradients with respect to the weights", gradients, "gradients", rtol=rtol,
              atol=atol),
    )


def _prefixed(checks, label, output_prefix):
    return tuple(
        Check(f"{label}: {c.name}", c.points, f"{output_prefix}{c.output}", c.kind, None, c.rtol,
              c.atol, c.threshold)
        for c in checks
    )


QUESTIONS: dict[str, Question] = {
    q.id: q
    for q in [
        Question(
            "q1_1", "Backpropagation through time for the vanilla RNN", 1,
            checks=(
                Check("dL/dW_ph and dL/db_p", 2, "grad_output"),
                Check("dL/dW_hh", 2, "grad_W_hh"),
                Check("dL/dW_hx and dL/db_h", 2, "grad_input"),
            ),
            rubric=(
                RubricItem("dL_T/dW_ph written correctly (depends only on the last step)", 2),
                RubricItem("dL_T/dW_hh as a sum over earlier steps, with the reason", 3),
                RubricItem("vanishing and exploding gradients explained", 2),
            ),
            probe="bptt", forbidden=KIT_ANSWERS,
        ),
        Question(
            "q1_2", "Vanilla RNN cell from raw weights", 1,
            checks=_cell_checks((1, 3, 3)), probe="vanilla_rnn_cell",
            forbidden=KIT_ANSWERS + KERAS_RECURRENT,
        ),
        Question(
            "q1_3", "Palindrome accuracy against sequence length", 1,
            checks=(Check("held-out accuracy at T=5 (>= 0.9)", 4, "predictions", kind="accuracy",
                          reference="labels", threshold=0.9),),
            rubric=(
                RubricItem("plot of accuracy against T, several seeds, held-out data", 3),
                RubricItem("discussion of where and why the RNN fails", 2),
            ),
            probe="palindrome_training", time_factor=4.0,
            # train_palindrome trains the student's own VanillaRNNCell (q1_2).
            cells=("q1_2", "q1_3"),
        ),
        Question(
            "q1_4", "Optimisers: momentum, RMSProp, Adam", 1,
            checks=(
                Check("SGD with momentum, step by step", 2, "momentum", rtol=1e-5, atol=1e-6),
                Check("RMSProp, step by step", 2, "rmsprop", rtol=1e-5, atol=1e-6),
                Check("Adam, step by step", 2, "adam", rtol=1e-5, atol=1e-6),
            ),
            rubric=(RubricItem("why adaptive and momentum methods beat plain SGD", 3),),
            probe="optimizers",
            forbidden=KIT_ANSWERS + OPTIMIZER_LIBRARIES,
        ),
        Question(
            "q1_5", "LSTM gates and parameter count", 1,
            checks=(Check("count_parameters(d, n, c) on several sizes", 3, "counts",
                          kind="equal"),),
            rubric=(RubricItem("purpose of each gate and the choice of its non-linearity", 4),),
            probe="parameter_count",
        ),
        Question(
            "q1_6", "LSTM cell; LSTM against RNN on palindromes", 1,
            checks=_cell_checks((1, 3, 3)), probe="lstm_cell",
            rubric=(RubricItem("comparison of LSTM and RNN accuracy against T", 3),),
            forbidden=KIT_ANSWERS + KERAS_RECURRENT,
        ),
        Question(
            "q1_7", "Gradient magnitude over time", 1,
            checks=(Check("norm of dL/dh_t for every t", 4, "norms", rtol=1e-3, atol=1e-6),),
            rubric=(RubricItem("plot for RNN and LSTM, and its interpretation", 3),),
            probe="gradient_norms", forbidden=KIT_ANSWERS,
        ),
        Question(
            "q1_8", "LSTM with an embedding on the binary palindrome", 1,
            checks=(Check("held-out accuracy at T=10 (>= 0.99)", 3, "predictions",
                          kind="accuracy", reference="labels", threshold=0.99),),
            rubric=(RubricItem("steps to convergence at T=10 and 20, mean and std over 3 seeds, "
                               "plotted; majority baseline of about 2/3 named and explained", 3),),
            probe="binary_palindrome_training", time_factor=4.0,
        ),
        Question(
            "q1_9", "Peephole LSTM and GRU cells", 1,
            checks=_prefixed(_cell_checks((1, 2, 2)), "peephole LSTM", "peephole_")
            + _prefixed(_cell_checks((1, 1, 1)), "GRU", "gru_"),
            rubric=(RubricItem("convergence compared with the LSTM", 3),),
            probe="peephole_and_gru_cells", forbidden=KIT_ANSWERS + KERAS_RECURRENT,
        ),
        Question(
            "q2_1", "Character-level text model", 2,
            checks=(Check("logits shape (batch, T, vocab)", 2, "logits_shape", kind="equal"),),
            rubric=(
                RubricItem("model trained; loss and accuracy curves", 3),
                RubricItem("hyperparameters justified", 2),
            ),
            probe="text_model", forbidden=KIT_ANSWERS,
        ),
        Question(
            "q2_2", "Greedy generation", 2,
            checks=(
                Check("greedy sample shorter than T, deterministic", 1, "greedy_5", kind="equal"),
                Check("greedy sample longer than T, deterministic", 2, "greedy_40", kind="equal"),
            ),
            rubric=(RubricItem("samples at 1/3, 2/3, 3/3 of training, lengths around T, "
                               "discussed", 3),),
            probe="greedy", forbidden=KIT_ANSWERS,
        ),
        Question(
            "q2_3", "Temperature sampling", 2,
            checks=(
                Check("draws follow exp(tau x) for tau = 0.5", 1, "counts_0.5", kind="distribution",
                      reference="probabilities_0.5", threshold=0.03),
                Check("draws follow exp(tau x) for tau = 1", 1, "counts_1", kind="distribution",
                      reference="probabilities_1", threshold=0.03),
                Check("draws follow exp(tau x) for tau = 2", 1, "counts_2", kind="distribution",
                      reference="probabilities_2", threshold=0.03),
            ),
            rubric=(RubricItem("samples for tau in {0.5, 1, 2} compared; convention named", 3),),
            probe="temperature", forbidden=KIT_ANSWERS,
        ),
        Question(
            "q2_4", "Sentence completion (bonus)", 2, bonus=True,
            checks=(Check("prompt kept, state warmed on it, greedy continuation", 2, "completion",
                          kind="equal"),),
            rubric=(RubricItem("completions of a few prompts shown and discussed", 1),),
            probe="completion", forbidden=KIT_ANSWERS,
        ),
        Question(
            "q2_5", "Beam search and top-k (bonus)", 2, bonus=True,
            checks=(Check("beam search finds the brute-force best sequence", 2, "beam",
                          kind="equal"),),
            rubric=(RubricItem("beam search / top-k samples compared with greedy", 1),),
            probe="beam_search", forbidden=KIT_ANSWERS,
        ),
        Question(
            "q3_1", "GCN layer", 3,
            checks=(
                Check("gcn_normalize: D^-1/2 (A+I) D^-1/2", 2, "normalized", rtol=1e-6, atol=1e-8),
                Check("weight names and shapes", 1, "weight_shapes", kind="equal"),
                Check("outputs with a dense adjacency", 2, "outputs_dense"),
                Check("outputs with a sparse edge index", 2, "outputs_sparse"),
                Check("gradients with respect to the weights", 1, "gradients"),
            ),
            probe="gcn", forbidden=KIT_ANSWERS + KERAS_GRAPH,
            rubric=(
                RubricItem("message passing explained in terms of A_hat", 2),
                RubricItem("one drawback and a remedy", 2),
            ),
        ),
        Question(
            "q3_2", "A+I of the example graph; updates from C to E", 3,
            checks=(
                Check("A+I of the fall 2019 graph", 1, "a_plus_i_fall2019", kind="equal"),
                Check("A+I of the 2020 graph", 1, "a_plus_i_2020", kind="equal"),
                Check("updates from C to E, fall 2019 graph", 1, "updates_fall2019", kind="equal"),
                Check("updates from C to E, 2020 graph", 1, "updates_2020", kind="equal"),
            ),
            probe="example_graphs", forbidden=KIT_ANSWERS,
        ),
        Question(
            "q3_3", "Graph attention (GAT) layer", 3,
            checks=(
                Check("weight names and shapes", 1, "weight_shapes", kind="equal"),
                Check("outputs", 3, "outputs"),
                Check("attention: softmax over each neighbourhood", 2, "attention"),
            ),
            probe="gat", forbidden=KIT_ANSWERS + KERAS_GRAPH,
            rubric=(RubricItem("the attention update written as a formula", 2),),
        ),
        Question("q3_4", "Applications of graph neural networks", 3,
                 rubric=(RubricItem("two real-world applications, each with what nodes and "
                                    "edges are", 3),)),
        Question(
            "q3_5", "Sequences against graphs; a graph-convolutional LSTM cell", 3,
            checks=(
                Check("weight names and shapes", 1, "weight_shapes", kind="equal"),
                Check("node states over a sequence", 2, "outputs"),
                Check("gradients with respect to the weights", 2, "gradients"),
            ),
            rubric=(
                RubricItem("when to use an RNN and when a GNN", 2),
                RubricItem("a model that combines both, named and explained", 2),
            ),
            probe="graph_lstm_cell", forbidden=KIT_ANSWERS + KERAS_RECURRENT,
        ),
    ]
}


def select(only: str | None = None) -> list[Question]:
    """The questions named in a comma-separated ``only`` (all when None).

    Raises:
        ValueError: naming every unknown id.
    """
    if not only:
        return list(QUESTIONS.values())
    wanted = [item.strip() for item in only.split(",") if item.strip()]
    unknown = [item for item in wanted if item not in QUESTIONS]
    if unknown:
        raise ValueError(f"--only: unknown question id(s) {', '.join(unknown)}; known: "
                         f"{', '.join(QUESTIONS)}")
    return [QUESTIONS[item] for item in wanted]
