"""Early stopping as it stands, and the learning rate: what would stop the run, and when."""

from __future__ import annotations

from typing import Any, ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import RenderResult
from textual.widget import Widget

from ...config import ConfigError, EarlyStoppingConfig
from ...engine.events import EarlyStoppingState
from ..common import format as fmt

LABEL_WIDTH = 7  # "warm-up", "restore", "pending"


def es_config(values: dict[str, Any] | EarlyStoppingState) -> EarlyStoppingConfig | None:
    """The settings in a config dict or a state event; None when they do not make a valid config."""
    if isinstance(values, EarlyStoppingState):
        values = {
            "enabled": values.enabled,
            "monitor": values.monitor,
            "patience": values.patience,
            "min_delta": values.min_delta,
            "warmup_evals": values.warmup_evals,
            "restore_best": values.restore_best,
        }
    try:
        return EarlyStoppingConfig(**values)
    except (ConfigError, TypeError):
        return None


def has_validation(config: dict[str, Any]) -> bool:
    """Whether a run's config (RunStarted.config) holds out a validation set; a config without the key did."""
    split = config.get("val_split", 1)
    return not isinstance(split, (int, float)) or split > 0


def describe_changes(old: EarlyStoppingConfig | None, new: EarlyStoppingConfig) -> str:
    """What differs between two settings, in a few words: "patience 5, min Δ 0.1"."""
    parts = []
    if old is None or new.enabled != old.enabled:
        parts.append("on" if new.enabled else "off")
    if old is None or new.monitor != old.monitor:
        parts.append(f"watch test {new.monitor}")
    if old is None or new.patience != old.patience:
        parts.append(f"patience {new.patience}")
    if old is None or new.min_delta != old.min_delta:
        parts.append(f"min Δ {new.min_delta:g}")
    if old is None or new.warmup_evals != old.warmup_evals:
        parts.append(f"warm-up {new.warmup_evals}")
    if old is None or new.restore_best != old.restore_best:
        parts.append(f"restore best {'on' if new.restore_best else 'off'}")
    return ", ".join(parts) or "no change"


class EarlyStoppingPanel(Widget):
    """Renders the early-stopping state and the learning rate the app passes down; it computes nothing.

    Before the first ``EarlyStoppingState`` it shows the settings of the run's config. When the panel is
    short, rows with the highest priority numbers are left out first (as in the device panel).
    """

    DEFAULT_CSS = """
    EarlyStoppingPanel > .early-stopping--label { color: $text-muted; }
    EarlyStoppingPanel > .early-stopping--value { color: $text; }
    EarlyStoppingPanel > .early-stopping--dim { color: $text-muted; }
    EarlyStoppingPanel > .early-stopping--bar-done { color: $primary; }
    EarlyStoppingPanel > .early-stopping--bar-todo { color: $surface-lighten-2; }
    EarlyStoppingPanel > .early-stopping--warning { color: $text-warning; }
    EarlyStoppingPanel > .early-stopping--note { color: $text-accent; }
    """

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "early-stopping--label",
        "early-stopping--value",
        "early-stopping--dim",
        "early-stopping--bar-done",
        "early-stopping--bar-todo",
        "early-stopping--warning",
        "early-stopping--note",
    }

    def __init__(self, *, name: str | None = None, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.settings: EarlyStoppingConfig | None = None  # the settings in force
        self.state: EarlyStoppingState | None = None
        self.pending: EarlyStoppingConfig | None = None  # sent, applied at the next evaluation
        self.lr: float | None = None
        self.pending_lr: str | None = None  # "1e-03" or "×0.1", applied from the next step
        self.schedule = "constant"
        self.plateau: tuple[int, float] | None = None  # (patience, factor) when the plateau schedule is on
        self.plateau_note: str | None = None  # what the plateau schedule last did
        self.finished: tuple[str, int | None, str] | None = None  # (reason, stopped_early_at, weights)
        self.keys_live = False  # e and l apply now: say so under the panel
        self.validation = True  # the run holds out a validation set (else nothing is decided on it)

    def on_mount(self) -> None:
        self._update_title()

    # What the app sets ---------------------------------------------------------------------------------
    def set_run_config(self, config: dict[str, Any]) -> None:
        """The run's config (RunStarted.config): the settings to show until the first state arrives."""
        es = config.get("early_stopping")
        self.validation = has_validation(config)
        if isinstance(es, dict) and self.state is None:
            self.settings = es_config(es)
        if isinstance(config.get("lr"), (int, float)) and self.lr is None:
            self.lr = float(config["lr"])
        self.schedule = str(config.get("schedule") or "constant")
        if config.get("lr_plateau"):
            self.plateau = (int(config.get("plateau_patience") or 0), float(config.get("plateau_factor") or 0.0))
        self._changed()

    def set_state(self, state: EarlyStoppingState) -> None:
        self.state = state
        self.settings = es_config(state) or self.settings
        self._changed()

    def set_settings(self, changes: dict[str, Any], source: str, iteration: int) -> None:
        """A SettingsChanged event: new early-stopping settings or a new learning rate, applied now."""
        if isinstance(changes.get("early_stopping"), dict):
            self.settings = es_config(changes["early_stopping"]) or self.settings
            if self.pending is not None and self.pending == self.settings:
                self.pending = None
        if isinstance(changes.get("lr"), (int, float)):
            self.lr = float(changes["lr"])
            if source == "plateau":
                self.plateau_note = f"cut to {fmt.learning_rate(self.lr)} @ iter {iteration:,}"
            else:
                self.pending_lr = None
                self.schedule = "constant"  # the user's lr holds from now on
        self._changed()

    def set_lr(self, lr: float) -> None:
        """The learning rate of the latest steps (StepMetrics.lr)."""
        if lr != self.lr:
            self.lr = lr
            self._changed()

    def set_pending(self, config: EarlyStoppingConfig) -> None:
        """Settings sent to the trainer, shown as pending until it applies them."""
        self.pending = config
        self._changed()

    def set_pending_lr(self, text: str) -> None:
        self.pending_lr = text
        self._changed()

    def set_finished(self, reason: str, stopped_early_at: int | None, weights: str) -> None:
        self.finished = (reason, stopped_early_at, weights)
        self.pending, self.pending_lr = None, None
        self._changed()

    def show_keys(self, live: bool) -> None:
        """Whether e and l apply now (the footer may be too narrow to show them)."""
        self.keys_live = live
        self.border_subtitle = "e settings · l lr" if live else ""

    def current_settings(self) -> EarlyStoppingConfig:
        """The settings a form should start from: the pending ones, else those in force."""
        return self.pending or self.settings or EarlyStoppingConfig()

    # Drawing -------------------------------------------------------------------------------------------
    def _changed(self) -> None:
        self._update_title()
        self.refresh()

    def _update_title(self) -> None:
        on = self.settings is not None and self.settings.enabled and self.validation
        self.border_title = "Early stopping" if self.settings is None else f"Early stopping · {'ON' if on else 'OFF'}"
        self.set_class(self.settings is not None and not on, "-off")

    def _style(self, name: str):
        return self.get_component_rich_style(f"early-stopping--{name}")

    def rows(self, width: int = 0) -> list[tuple[int, str, Text]]:
        """(priority, label, value) rows in display order; ``width`` is the panel's content width."""
        if not self.validation:
            return self._rows_without_validation()
        s = self.settings or EarlyStoppingConfig()
        st = self.state
        dim, warning, note = self._style("dim"), self._style("warning"), self._style("note")
        accuracy = s.monitor == "accuracy"
        rows: list[tuple[int, str, Text]] = []

        short = "acc" if accuracy else "loss"
        if st is not None and st.best is not None:
            best = f"{st.best:.2f}%" if accuracy else f"{st.best:.4f}"
            where = f" @ {st.best_iteration:,}" if st.best_iteration is not None else ""
            rows.append((0, "best", Text(f"{short} {best}{where}")))
        else:
            rows.append((0, "best", Text(f"{short} N/A: no evaluation yet", dim)))

        wait = st.wait if st is not None else 0
        counts = f"{wait}/{s.patience}"
        bar_width = max(3, min(20, (width or 36) - LABEL_WIDTH - 1 - len(counts) - 1))
        filled = round(bar_width * min(wait, s.patience) / s.patience)
        remaining = st.remaining if st is not None else None
        near = s.enabled and remaining is not None and remaining <= max(1, s.patience // 5)  # a stop is close
        value = Text(counts + " ", dim if not s.enabled else (warning if near else None))
        value.append("━" * filled, self._style("bar-done") if s.enabled else dim)
        value.append("━" * (bar_width - filled), self._style("bar-todo"))
        rows.append((0, "wait", value))

        rows.append((0, "stop", self._stop_text(s, st, dim, warning)))

        rows.append((0, "lr", self._lr_text()))

        if self.pending is not None:
            changes = describe_changes(self.settings, self.pending)
            rows.append((1, "pending", Text(f"{changes} at next eval", note)))
        if self.pending_lr is not None:
            rows.append((1, "pending", Text(f"lr {self.pending_lr} from next step", note)))
        if self.plateau_note is not None:
            rows.append((1, "plateau", Text(f"lr {self.plateau_note}", note)))
        elif self.plateau is not None:
            patience, factor = self.plateau
            rows.append((3, "plateau", Text(f"lr ×{factor:g} after {patience} evals w/o gain", dim)))

        delta = f"{s.min_delta:g} pts" if accuracy else f"{s.min_delta:g}"
        rows.append((2, "watch", Text(f"val {short} · min Δ {delta}")))
        done = f" · {min(st.evals, s.warmup_evals)} done" if st is not None and s.warmup_evals else ""
        rows.append((3, "warm-up", Text(f"{s.warmup_evals} evals{done}")))
        if self.finished is not None:
            rows.append((1, "weights", Text(self.finished[2])))
        else:
            kept = "on: keeps the best weights" if s.restore_best else "off: keeps the last weights"
            rows.append((3, "restore", Text(kept)))
        return rows

    def _lr_text(self) -> Text:
        lr = Text(fmt.learning_rate(self.lr))
        if self.schedule != "constant":
            lr.append(f" · {self.schedule}", self._style("dim"))
        return lr

    def _rows_without_validation(self) -> list[tuple[int, str, Text]]:
        """A run with no validation set (--val-split 0) decides nothing: no best, no wait, no early stop; its
        test evaluations only report. Say that instead of a best and a wait that can never move."""
        dim, note = self._style("dim"), self._style("note")
        rows: list[tuple[int, str, Text]] = [
            (0, "decides", Text("nothing: no validation set (--val-split 0)", dim)),
            (0, "stop", Text(f"run ended: {self.finished[0].replace('_', ' ')}", dim) if self.finished
             else Text("at its end: nothing to stop it early", dim)),
            (0, "lr", self._lr_text()),
        ]
        if self.pending_lr is not None:
            rows.append((1, "pending", Text(f"lr {self.pending_lr} from next step", note)))
        if self.plateau_note is not None:
            rows.append((1, "plateau", Text(f"lr {self.plateau_note}", note)))
        weights = self.finished[2] if self.finished else "the last (test evaluations only report)"
        rows.append((1, "weights", Text(weights)))
        return rows

    def _stop_text(self, s: EarlyStoppingConfig, st: EarlyStoppingState | None, dim, warning) -> Text:
        if self.finished is not None:
            reason, stopped_at, _ = self.finished
            if stopped_at is not None:
                return Text(f"stopped early at iter {stopped_at:,}", warning)
            return Text(f"run ended: {reason.replace('_', ' ')}", dim)
        if not s.enabled:
            return Text("off: the run will not stop early", dim)
        evals = st.evals if st is not None else 0
        if evals < s.warmup_evals:
            left = s.warmup_evals - evals
            return Text(f"warm-up: {left} eval{'s' if left != 1 else ''} left")
        remaining = st.remaining if st is not None and st.remaining is not None else s.patience
        if remaining <= 0:
            return Text("at the next eval without gain", warning)
        return Text(f"in {remaining} eval{'s' if remaining != 1 else ''} if no gain", None)

    def visible_rows(self, height: int, width: int = 0) -> list[tuple[str, Text]]:
        rows = self.rows(width)
        if height > 0 and len(rows) > height:
            keep = sorted(range(len(rows)), key=lambda i: (rows[i][0], i))[:height]
            rows = [rows[i] for i in sorted(keep)]
        return [(label, value) for _, label, value in rows]

    def render(self) -> RenderResult:
        if self.settings is None and self.state is None:
            return Text("waiting for the run to start…", self._style("dim"))
        table = Table.grid(padding=(0, 1), expand=True)
        table.add_column(style=self._style("label"), no_wrap=True, min_width=LABEL_WIDTH)
        table.add_column(style=self._style("value"), no_wrap=True, overflow="ellipsis", ratio=1)
        region = self.content_region
        for label, value in self.visible_rows(region.height, region.width):
            table.add_row(label, value)
        return table
