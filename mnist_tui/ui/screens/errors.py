"""The error browser: the misclassified test digits of an evaluation, its confusion matrix and per-class accuracy.

Opened with ``m`` from the live screen (the latest evaluation; training goes on underneath) and by
``mnist-tui inspect RUN_DIR`` (a finished run's best weights). It shows one ``EvaluationSnapshot``; when the
app hands it a newer one (``offer``) it says so and ``r`` switches to it, keeping the filters. The list is
the misclassified digits worst loss first, filtered by true and predicted label (``t``/``T``, ``p``/``P``,
``x`` clears, or a cell of the confusion matrix). Narrow screens show the digits or the matrix (``v``
switches); wide ones both. Given weights (a ``WeightsSource``: the run's, or the live run's latest), an
``Inference`` worker maps what the model looks at in the digit shown, for its predicted and its true class.
"""

from __future__ import annotations

import math
from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.reactive import reactive
from textual.screen import ModalScreen
from textual.widgets import Footer, Label, OptionList
from textual.widgets.option_list import Option

from ...engine.events import EvaluationSnapshot, Misclassified
from ..common import format as fmt
from ..common.inference import DigitRequest, Inference, WeightsSource
from ..widgets.class_accuracy import ClassAccuracy
from ..widgets.confusion import ConfusionMatrix
from ..widgets.error_detail import ErrorDetail


class ErrorsScreen(ModalScreen[None]):
    """Browse one evaluation's errors. The app sets the snapshot; the screen only filters and shows it."""

    BINDINGS: ClassVar[list[Binding]] = [
        Binding("escape,m,q", "close", "Back", tooltip="Back to the run"),
        Binding("j", "move(1)", "Down", show=False),
        Binding("k", "move(-1)", "Up", show=False),
        Binding("t", "cycle('true', 1)", "True", tooltip="Filter by the next true label (T: previous)"),
        Binding("T", "cycle('true', -1)", "Previous true label", show=False),
        Binding("p", "cycle('predicted', 1)", "Predicted", tooltip="Filter by the next predicted label (P: previous)"),
        Binding("P", "cycle('predicted', -1)", "Previous predicted label", show=False),
        Binding("x", "clear_filters", "Clear", tooltip="Show every misclassified digit"),
        Binding("v", "switch_view", "View", tooltip="Show the confusion matrix or the digits"),
        Binding("r", "refresh_snapshot", "Refresh", tooltip="Show the newest evaluation"),
        Binding("w", "write_csvs", "CSV", tooltip="Write misclassified.csv and confusion.csv into the run"),
        Binding(
            "o", "other_set", "Other set",
            tooltip="The test set's mistakes or the validation set's (dimmed until the other set has been evaluated)",
        ),  # fmt: skip
    ]

    filter_true: reactive[int | None] = reactive(None, init=False)
    filter_predicted: reactive[int | None] = reactive(None, init=False)
    view: reactive[str] = reactive("digits", bindings=True, init=False)  # "digits" | "matrix"

    def __init__(
        self,
        snapshot: EvaluationSnapshot,
        *,
        run_dir: str | None = None,
        live: bool = True,
        weights: WeightsSource | None = None,
    ) -> None:
        super().__init__()
        self.inference = Inference(weights, self.post_message) if weights is not None else None
        self.maps_shown = 0  # attribution maps shown (tests wait on it)
        self.snapshot = snapshot
        self.newer: EvaluationSnapshot | None = None  # offered by the app while the run goes on
        self.other: EvaluationSnapshot | None = None  # the latest of the other set (validation or test)
        self.run_dir = run_dir
        self.live = live  # the run may still produce newer evaluations
        self.shown: tuple[Misclassified, ...] = ()  # the filtered list, worst loss first
        self._by_id: dict[str, Misclassified] = {}  # option id (the test index) -> entry
        self.current: Misclassified | None = None
        self._ready = False

    # Layout ----------------------------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        self.title_label = Label("", id="errors-title")
        self.filter_label = Label("", id="errors-filter")
        self.newer_label = Label("", id="errors-newer")
        self.error_list = OptionList(id="errors-list")
        self.detail = ErrorDetail(id="errors-detail")
        self.matrix = ConfusionMatrix(id="errors-confusion")
        self.class_accuracy = ClassAccuracy(id="errors-classes")
        self.body = Horizontal(id="errors-body", classes="-show-digits")
        with Vertical(id="errors"):
            yield self.title_label
            with Horizontal(id="errors-status"):
                yield self.filter_label
                yield self.newer_label
            with self.body:
                with Horizontal(id="errors-digits"):
                    yield self.error_list
                    yield self.detail
                with Horizontal(id="errors-matrix"):
                    yield self.matrix
                    yield self.class_accuracy
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.error_list.border_title = "Misclassified"
        if self.inference is not None:
            self.run_worker(self.inference.run, thread=True, name="inference", group="inference", exit_on_error=False)
        self._ready = True
        self._load(self.snapshot)
        self.error_list.focus()

    def on_unmount(self) -> None:
        if self.inference is not None:
            self.inference.close()

    def on_resize(self) -> None:
        self.call_after_refresh(self.refresh_bindings)  # v applies only while one view shows at a time

    # What the app sets -----------------------------------------------------------------------------------
    def offer(self, snapshot: EvaluationSnapshot) -> None:
        """A newer evaluation arrived: say so; ``r`` shows it (one of the other set: ``o`` switches to it)."""
        if snapshot is self.snapshot:
            return
        if snapshot.split != self.snapshot.split:
            self.other = snapshot
            self.refresh_bindings()
            return
        self.newer = snapshot
        self._show_newer()
        self.refresh_bindings()

    def end_of_run(self) -> None:
        """The run has ended: no newer evaluation will come after the one offered last."""
        self.live = False
        self._show_newer()

    # Filtering -------------------------------------------------------------------------------------------
    def matches(self, entry: Misclassified) -> bool:
        return (self.filter_true is None or entry.true == self.filter_true) and (
            self.filter_predicted is None or entry.predicted == self.filter_predicted
        )

    def set_filters(self, true: int | None, predicted: int | None) -> None:
        self.filter_true, self.filter_predicted = true, predicted  # the watchers refill the list

    def watch_filter_true(self) -> None:
        self._fill()

    def watch_filter_predicted(self) -> None:
        self._fill()

    def watch_view(self, view: str) -> None:
        self.body.set_class(view == "digits", "-show-digits")
        self.body.set_class(view == "matrix", "-show-matrix")
        (self.error_list if view == "digits" else self.matrix).focus()

    # Messages from the widgets -----------------------------------------------------------------------------
    @on(OptionList.OptionHighlighted, "#errors-list")
    def _highlighted(self, message: OptionList.OptionHighlighted) -> None:
        entry = self._by_id.get(message.option_id or "")
        if entry is not None:
            self._show_entry(entry, message.option_index)

    @on(ConfusionMatrix.CellChosen)
    def _cell_chosen(self, message: ConfusionMatrix.CellChosen) -> None:
        # A diagonal cell (digits the model gets right) shows every mistake on that true label.
        self.set_filters(message.true, None if message.true == message.predicted else message.predicted)
        if not self.has_class("-wide"):
            self.view = "digits"
        self.error_list.focus()

    # Actions ---------------------------------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "switch_view":
            return not self.has_class("-wide")
        if action == "refresh_snapshot":
            return self.newer is not None
        if action == "write_csvs":
            return self.run_dir is not None and self.snapshot.split == "test"  # the run's CSVs are of the test set
        if action == "other_set":  # shown, dimmed, until there is one: a key that is never seen is never found
            return True if self.other is not None else None
        if action == "clear_filters":
            return self.filter_true is not None or self.filter_predicted is not None
        if action == "move":
            return self.view == "digits" or self.has_class("-wide")
        return True

    def action_close(self) -> None:
        self.dismiss(None)

    def action_move(self, step: int) -> None:
        if step > 0:
            self.error_list.action_cursor_down()
        else:
            self.error_list.action_cursor_up()

    def action_cycle(self, which: str, step: int) -> None:
        n = len(self.snapshot.confusion)
        values: list[int | None] = [None, *range(n)]
        current = self.filter_true if which == "true" else self.filter_predicted
        value = values[(values.index(current) + step) % len(values)] if current in values else None
        if which == "true":
            self.filter_true = value
        else:
            self.filter_predicted = value
        if self.view != "digits" and not self.has_class("-wide"):
            self.view = "digits"

    def action_clear_filters(self) -> None:
        self.set_filters(None, None)

    def action_switch_view(self) -> None:
        self.view = "matrix" if self.view == "digits" else "digits"

    def action_refresh_snapshot(self) -> None:
        if self.newer is not None:
            snapshot, self.newer = self.newer, None
            self._load(snapshot)
            self.refresh_bindings()

    def action_other_set(self) -> None:
        if self.other is not None:
            (shown, self.other), self.newer = (self.other, self.snapshot), None
            self._load(shown)
            self.refresh_bindings()

    def action_write_csvs(self) -> None:
        if self.run_dir is None:
            return
        from ...engine.analysis import write_error_csvs  # torch: already loaded by whoever made the snapshot

        try:
            misclassified, confusion = write_error_csvs(self.run_dir, self.snapshot)
        except OSError as exc:
            self.notify(f"Could not write the CSVs: {exc.strerror or exc}", severity="error")
            return
        self.notify(
            f"{misclassified}\n{confusion}", title=f"Wrote the errors at iteration {self.snapshot.iteration:,}"
        )

    # Showing -----------------------------------------------------------------------------------------------
    def label_of(self, label: int | None) -> str:
        """A label as the list and the filters show it: the digit, or the class number for long names."""
        return "any" if label is None else fmt.class_label(self.snapshot.class_names, label, width=2)

    def _load(self, snapshot: EvaluationSnapshot) -> None:
        self.snapshot = snapshot
        s = snapshot
        accuracy = s.accuracy
        right = "N/A" if accuracy is None else f"{accuracy:.2%}"
        weights = f" · {s.weights}" if s.weights else ""
        self.title_label.update(
            f"{s.split.capitalize()} errors at iteration {s.iteration:,} (epoch {s.epoch}) · {right} right, "
            f"{s.n_misclassified:,} of {s.total:,} wrong{weights}"
        )
        self.matrix.set_confusion(s.confusion, s.class_names)
        self.class_accuracy.set_figures(s.class_accuracy(), s.confused_pairs(5), s.class_names)
        self._show_newer()
        self._fill()

    def _fill(self) -> None:
        """Refill the list from the snapshot and the filters, keeping the digit shown if it is still in it."""
        if not self._ready:  # filters set before the screen is mounted apply when it loads
            return
        keep = self.current.index if self.current is not None else None
        self.shown = tuple(sorted((m for m in self.snapshot.misclassified if self.matches(m)), key=lambda m: -m.loss))
        self._by_id = {str(m.index): m for m in self.shown}
        options = [Option(self._option_text(m), id=key) for key, m in self._by_id.items()]
        self.error_list.set_options(options)
        self._update_filter_label()
        self.refresh_bindings()
        if not self.shown:
            self.current = None
            self.detail.set_entry(None, self.snapshot.class_names, empty_text=self._empty_text())
            return
        position = next((i for i, m in enumerate(self.shown) if m.index == keep), 0)
        self.error_list.highlighted = position
        self._show_entry(self.shown[position], position)

    def _show_entry(self, entry: Misclassified, position: int) -> None:
        self.current = entry
        self.detail.set_entry(
            entry, self.snapshot.class_names, f"{position + 1:,} of {len(self.shown):,}", split=self.snapshot.split
        )
        if self.inference is not None:
            self.inference.submit(DigitRequest(entry.index, entry.image, (entry.predicted, entry.true)))

    # What the model looks at (from the inference worker) ---------------------------------------------------
    def on_inference_answer(self, message: Inference.Answer) -> None:
        request = message.request
        if not isinstance(request, DigitRequest) or self.current is None or request.key != self.current.index:
            return  # an answer about a digit no longer shown
        self.maps_shown += 1
        of = f"weights of iteration {message.iteration:,}" if message.iteration else ""
        self.detail.set_maps(message.maps, of)

    def on_inference_weights_failed(self, message: Inference.WeightsFailed) -> None:
        self.detail.set_maps_note(f"no maps: {message.message}")

    def _option_text(self, m: Misclassified) -> Text:
        confidence = math.floor(100 * m.confidence)  # 99.6% is not 100%
        return Text(f"{self.label_of(m.true):>2}→{self.label_of(m.predicted):<2} {confidence:3d}% {m.loss:5.2f}")

    def _filter_text(self) -> str:
        parts = []
        if self.filter_true is not None:
            parts.append(f"true {self.label_of(self.filter_true)}")
        if self.filter_predicted is not None:
            parts.append(f"predicted {self.label_of(self.filter_predicted)}")
        return " and ".join(parts)

    def _update_filter_label(self) -> None:
        s = self.snapshot
        kept = len(s.misclassified)
        of = f"{kept:,}" if kept == s.n_misclassified else f"the {kept:,} worst of {s.n_misclassified:,}"
        self.filter_label.update(
            f"true {self.label_of(self.filter_true)} · predicted {self.label_of(self.filter_predicted)} · "
            f"showing {len(self.shown):,} of {of}"
        )
        self.error_list.border_subtitle = f"{len(self.shown):,} shown"

    def _empty_text(self) -> str:
        s = self.snapshot
        if not s.n_misclassified:
            return f"No misclassified digits: all {s.total:,} {s.split} digits are right at iteration {s.iteration:,}."
        return f"No misclassified digits with {self._filter_text()}. x clears the filters."

    def _show_newer(self) -> None:
        if self.newer is not None:
            text = f"newer: iteration {self.newer.iteration:,}"
            if self.newer.weights:
                text += f" ({self.newer.weights})"
            self.newer_label.update(f"{text} · r refreshes")
            self.newer_label.set_class(True, "-newer")
        else:
            self.newer_label.update("training goes on" if self.live else "")
            self.newer_label.set_class(False, "-newer")

