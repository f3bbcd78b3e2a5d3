"""Full-batch node classification: train on the labelled nodes, stop early on validation."""

import time

import keras
import numpy as np

from course_kit.layers.graph_ops import graph_inputs

__all__ = ["NodeClassificationResult", "graph_batch", "row_normalize", "train_node_classifier"]


def row_normalize(features):
    """Scale every row of ``features`` to sum 1 (rows of zeros stay zero), as Kipf & Welling do."""
    features = np.asarray(features, dtype=np.float32)
    sums = features.sum(axis=1, keepdims=True)
    return np.divide(features, sums, out=np.zeros_like(features), where=sums != 0)


def graph_batch(features, graph):
    """The node classifiers' input dict for one graph: a batch of size 1.

    Args:
        features: ``(N, F)`` node features.
        graph: any graph ``course_kit.layers.graph_inputs`` accepts.

    Returns:
        ``{"features": (1, N, F) float32, "edge_index": (1, 2, E) int32,
        "edge_weight": (1, E) float32}``.
    """
    features = np.asarray(features, dtype=np.float32)
    if features.ndim != 2:
        raise ValueError(f"features must be (num_nodes, num_features); got shape {features.shape}")
    edge_index, edge_weight = graph_inputs(graph, num_nodes=features.shape[0])
    return {
        "features": features[None],
        "edge_index": edge_index[None],
        "edge_weight": edge_weight[None],
    }


class NodeClassificationResult(dict):
    """What :func:`train_node_classifier` measured (a dict with attribute access)."""

    __getattr__ = dict.__getitem__


def _mask_weights(mask):
    # With "sum_over_batch_size" Keras divides by all N nodes; rescale so the loss is the mean
    # over the masked nodes, the scale the papers' weight decay is tuned against.
    mask = np.asarray(mask, dtype=bool)
    if not mask.any():
        raise ValueError("a node mask selects no node")
    return (mask * (mask.size / mask.sum())).astype(np.float32)[None]


def train_node_classifier(
    model,
    inputs,
    labels,
    train_mask,
    val_mask,
    test_mask,
    learning_rate=0.01,
    epochs=200,
    patience=10,
    stop_on="val_loss",
):
    """Train ``model`` full-batch with Adam, early stopping on the validation nodes.

    Every epoch is one step on the whole graph (``model.train_on_batch``, compiled on every
    backend) and one validation pass (``model.test_on_batch``). The training loss is the
    cross-entropy averaged over the training nodes plus the model's weight decay. With
    ``stop_on="val_loss"``, training stops when the validation loss has not improved for
    ``patience`` epochs (or after ``epochs``), and the weights of the best validation epoch are
    restored before testing, as ``keras.callbacks.EarlyStopping(restore_best_weights=True)``
    does. With ``stop_on="val_loss_or_accuracy"`` (the GAT paper's rule), the patience counter
    restarts whenever the validation loss reaches a new minimum *or* the validation accuracy a
    new maximum, and the weights kept are those of the last epoch at which both held at once
    (the first epoch's when none did). The two rules watch the losses their papers' code
    watches: the GCN rule the validation loss with the weight decay added (``val_loss``), the
    GAT rule the validation cross-entropy alone (``val_cross_entropy``). The loop is written out
    because ``fit`` rebuilds its data pipeline every epoch, which costs more than a full-batch
    step on these graphs.

    Args:
        model: a node classifier mapping :func:`graph_batch` inputs to logits ``(1, N, C)``.
        inputs: the dict from :func:`graph_batch`.
        labels: int ``(N,)`` classes.
        train_mask, val_mask, test_mask: bool ``(N,)``.
        learning_rate, epochs, patience: Adam's step size, the epoch budget, the patience.
        stop_on: ``"val_loss"`` or ``"val_loss_or_accuracy"``.

    Returns:
        A :class:`NodeClassificationResult` with ``test_accuracy``, ``val_accuracy``,
        ``train_accuracy`` (of the restored weights), ``best_epoch``, ``epochs_run``,
        ``seconds_per_epoch`` (mean over the epochs after the first, which includes
        compilation) and ``history`` (per-epoch ``loss``, ``cross_entropy``, ``accuracy`` and
        their ``val_`` counterparts; ``loss`` is the cross-entropy plus the weight decay).
    """
    if patience < 1 or epochs < 1:
        raise ValueError(f"epochs and patience must be positive; got {epochs}, {patience}")
    if stop_on not in ("val_loss", "val_loss_or_accuracy"):
        raise ValueError(f"stop_on must be 'val_loss' or 'val_loss_or_accuracy'; got {stop_on!r}")
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        weighted_metrics=[
            keras.metrics.SparseCategoricalAccuracy(name="accuracy"),
            keras.metrics.SparseCategoricalCrossentropy(from_logits=True, name="cross_entropy"),
        ],
    )
    tensors = {key: keras.ops.convert_to_tensor(value) for key, value in inputs.items()}
    targets = keras.ops.convert_to_tensor(np.asarray(labels)[None])
    train_weight = keras.ops.convert_to_tensor(_mask_weights(train_mask))
    val_weight = keras.ops.convert_to_tensor(_mask_weights(val_mask))

    logged = ("loss", "cross_entropy", "accuracy")
    history = {name: [] for key in logged for name in (key, f"val_{key}")}
    durations = []
    best_loss, best_accuracy, best_epoch, best_weights = np.inf, -np.inf, 0, None
    last_improvement = 0
    for epoch in range(1, epochs + 1):
        started = time.perf_counter()
        train_logs = model.train_on_batch(tensors, targets, train_weight, return_dict=True)
        val_logs = model.test_on_batch(tensors, targets, val_weight, return_dict=True)
        durations.append(time.perf_counter() - started)
        for key in logged:
            history[key].append(float(train_logs[key]))
            history[f"val_{key}"].append(float(val_logs[key]))
        val_accuracy = history["val_accuracy"][-1]
        val_loss = history["val_loss" if stop_on == "val_loss" else "val_cross_entropy"][-1]
        if stop_on == "val_loss":
            lower_loss, higher_accuracy = val_loss < best_loss, False
            keep = lower_loss
        else:
            lower_loss, higher_accuracy = val_loss <= best_loss, val_accuracy >= best_accuracy
            keep = (lower_loss and higher_accuracy) or best_weights is None
        if keep:
            best_epoch, best_weights = epoch, model.get_weights()
        if lower_loss or higher_accuracy:
            best_loss, best_accuracy = min(best_loss, val_loss), max(best_accuracy, val_accuracy)
            last_improvement = epoch
        elif epoch - last_improvement >= patience:
            break
    model.set_weights(best_weights)

    logits = np.asarray(model.predict_on_batch(tensors))[0]
    correct = np.argmax(logits, axis=-1) == np.asarray(labels)
    return NodeClassificationResult(
        test_accuracy=float(correct[test_mask].mean()),
        val_accuracy=float(correct[val_mask].mean()),
        train_accuracy=float(correct[train_mask].mean()),
        best_epoch=best_epoch,
        epochs_run=len(durations),
        seconds_per_epoch=float(np.mean(durations[1:] or durations)),
        history=history,
    )
