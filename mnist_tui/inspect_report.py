"""``mnist-tui inspect`` without the app: what a run's weights get wrong, as rich tables."""

from __future__ import annotations

from rich.table import Table

from .engine.events import EvaluationSnapshot


def _name(snapshot: EvaluationSnapshot, label: int) -> str:
    names = snapshot.class_names
    return names[label] if 0 <= label < len(names) else str(label)


def error_tables(snapshot: EvaluationSnapshot, top: int = 10) -> list[Table]:
    """Per-class accuracy, and the most confused pairs (true label, predicted label, count)."""
    accuracy = snapshot.accuracy
    overall = "N/A" if accuracy is None else f"{accuracy:.2%}"
    where = f" ({snapshot.weights})" if snapshot.weights else ""
    classes = Table(
        title=f"Test accuracy {overall} at iteration {snapshot.iteration:,}{where}: "
        f"{snapshot.n_misclassified:,} of {snapshot.total:,} misclassified"
    )
    classes.add_column("class")
    classes.add_column("test images", justify="right")
    classes.add_column("right", justify="right")
    classes.add_column("wrong", justify="right")
    classes.add_column("accuracy", justify="right")
    for label, (count, right, acc) in enumerate(snapshot.class_accuracy()):
        shown = "N/A" if acc is None else f"{acc:.2%}"
        classes.add_row(_name(snapshot, label), f"{count:,}", f"{right:,}", f"{count - right:,}", shown)
    pairs = Table(title="Most confused pairs")
    pairs.add_column("true")
    pairs.add_column("predicted")
    pairs.add_column("count", justify="right")
    pairs.add_column("of the true class", justify="right")
    totals = [sum(row) for row in snapshot.confusion]
    for true, predicted, count in snapshot.confused_pairs(top):
        pairs.add_row(_name(snapshot, true), _name(snapshot, predicted), f"{count:,}", f"{count / totals[true]:.2%}")
    if not snapshot.n_misclassified:
        pairs.add_row("none", "", "0", "")
    return [classes, pairs]
