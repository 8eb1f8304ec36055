"""The device panel: what the run trains on, how hard it works, how fast it goes and when it will be done.

A new reading or a new speed repaints only the rows whose text changed: the terminal is sent those lines, not
the panel (the rows are fixed while their labels are, so a changed value never moves another row).
"""

from __future__ import annotations

from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import RenderResult
from textual.geometry import Region
from textual.widget import Widget

from ...runs.devstats import DeviceStats
from ..common import format as fmt

TRAINING_MARK = "▸"  # before the label of the GPU the run trains on


class DevicePanel(Widget):
    """Renders the device the run reported, the latest ``DeviceStats`` and the throughput the app passes down."""

    DEFAULT_CSS = """
    DevicePanel > .device-panel--label { color: $text-muted; }
    DevicePanel > .device-panel--value { color: $text; }
    DevicePanel > .device-panel--dim { color: $text-muted; }
    DevicePanel > .device-panel--training { color: $accent; text-style: bold; }
    """

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "device-panel--label",
        "device-panel--value",
        "device-panel--dim",
        "device-panel--training",
    }

    def __init__(self, *, name: str | None = None, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.device: str | None = None
        self.device_name = ""
        self.torch_version: str | None = None
        self.cuda_version: str | None = None
        self.stats: DeviceStats | None = None
        self.images_per_second: float | None = None
        self.remaining_steps: int | None = None
        self.batch_size: int | None = None
        self.eta_given: float | None = None  # the time left as the caller reckons it (evaluations to come included)
        self.last_rate: float | None = None  # the latest speed the run reported (kept when it ends)
        self.ended: str | None = None  # how the run ended ("completed"): readings are no longer about it
        self._drawn: list[tuple[str, str]] | None = None  # the rows the last render drew

    def on_mount(self) -> None:
        self.border_title = "Device"

    # What the app sets ---------------------------------------------------------------------------------
    def set_device(self, device: str, device_name: str, torch_version: str, cuda_version: str | None) -> None:
        self.device, self.device_name = device, device_name
        self.torch_version, self.cuda_version = torch_version, cuda_version
        self.border_title = f"Device · {device}"
        self.refresh(layout=True)

    def set_stats(self, stats: DeviceStats) -> None:
        self.stats = stats
        self.repaint_changed()

    def set_throughput(
        self,
        images_per_second: float | None,
        remaining_steps: int | None,
        batch_size: int | None,
        *,
        eta_seconds: float | None = None,
    ) -> None:
        """The speed to show (the screen steadies it: runs/throughput.py) and the steps left; ``eta_seconds``
        when the caller knows the time left better than steps x batch / speed."""
        self.images_per_second = images_per_second
        self.eta_given = eta_seconds
        if images_per_second is not None:
            self.last_rate = images_per_second
        self.remaining_steps = remaining_steps
        self.batch_size = batch_size
        self.repaint_changed()

    def set_ended(self, reason: str) -> None:
        """The run ended (``reason``): show what it trained on and that nothing is live any more."""
        self.ended = reason
        self.border_title = f"Device · {self.device} · ended" if self.device else "Device · ended"
        self.refresh(layout=True)

    def repaint_changed(self) -> None:
        """Repaint the rows whose text changed since the last render; all of the panel if the rows did."""
        drawn = self._drawn
        rows = self.visible_rows(self.content_region.height) if self.device is not None else None
        if drawn is None or rows is None or [label for label, _ in rows] != [label for label, _ in drawn]:
            self.refresh()
            return
        width = self.content_region.width
        for y, (before, now) in enumerate(zip(drawn, rows)):
            if before != now:
                self.refresh(Region(0, y, width, 1))

    @property
    def eta_seconds(self) -> float | None:
        if self.eta_given is not None:
            return self.eta_given
        return fmt.eta(self.remaining_steps, self.batch_size, self.images_per_second)

    # Drawing -------------------------------------------------------------------------------------------
    @property
    def kind(self) -> str:
        if self.device is None:
            return "unknown"
        return self.device.split(":", 1)[0]

    def rows(self) -> list[tuple[int, str, str]]:
        """(priority, label, value) rows in display order; every unknown value reads N/A.

        When the panel is short, rows with the highest priority numbers are left out first.
        """
        s = self.stats or DeviceStats()
        kind = self.kind
        name = {"cuda": "GPU", "mps": "GPU", "cpu": "CPU"}.get(kind, "device")
        cuda = fmt.NA if self.cuda_version is None else self.cuda_version
        rows = [
            (0, name, self.device_name or self.device or fmt.NA),
            (4, "torch", f"{self.torch_version or fmt.NA} · CUDA {cuda}"),
        ]
        if self.ended is not None:  # what it ran on and how fast; the machine's readings are not the run's now
            rows.append((0, "run", f"{self.ended.replace('_', ' ')}: not live"))
            if self.last_rate is not None:
                rows.append((1, "speed", f"{fmt.rate(self.last_rate)} at the end"))
            return rows
        if kind == "cuda":
            temperature = fmt.number(s.temperature, ".0f", "°C")
            rows.append((1, "util", f"{fmt.percent(s.gpu_utilization)} · {temperature}"))
            power = fmt.number(s.power, ".0f", " W")
            if s.power_limit is not None:
                power += f" of {fmt.number(s.power_limit, '.0f', ' W')}"
            rows.append((3, "power", power))
            rows.append((1, "memory", f"{fmt.size(s.torch_allocated)} alloc · {fmt.size(s.torch_reserved)} resv"))
            rows.append((2, "device", f"{fmt.size(s.gpu_memory_used)} of {fmt.size(s.gpu_memory_total)} used"))
            rows.extend(self.gpu_rows())
        elif kind == "mps":
            rows.append((1, "memory", f"{fmt.size(s.torch_allocated)} used · {fmt.size(s.torch_reserved)} driver"))
        threads = fmt.count(s.torch_threads)
        if s.cpu_count is not None:
            threads += f" of {s.cpu_count} CPUs"
        rows.append((2 if kind == "cpu" else 5, "threads", threads))
        rows.append(
            (
                1 if kind == "cpu" else 4,
                "load",
                f"{fmt.percent(s.cpu_percent)} · proc {fmt.percent(s.process_cpu_percent)}",
            )
        )
        rows.append(
            (
                1 if kind == "cpu" else 3,
                "RAM",
                f"{fmt.size(s.process_rss)} · {fmt.size(s.system_memory_used)} of {fmt.size(s.system_memory_total)}",
            )
        )
        rows.append((0, "speed", f"{fmt.rate(self.images_per_second)} · ETA {fmt.duration(self.eta_seconds)}"))
        return rows

    def gpu_rows(self) -> list[tuple[int, str, str]]:
        """One row for each GPU of a machine with several, the run's marked ▸ (and highlighted): utilisation,
        memory used of total, and how many other processes use it. Unread values are N/A."""
        gpus = self.stats.gpus if self.stats else ()
        if len(gpus) < 2:
            return []
        rows = []
        for gpu in gpus:
            others = fmt.NA if gpu.other_processes is None else f"{gpu.other_processes} other"
            if gpu.other_processes is not None and gpu.other_processes != 1:
                others += "s"
            memory = f"{fmt.size(gpu.memory_used)} of {fmt.size(gpu.memory_total)}"
            mark = TRAINING_MARK if gpu.training else " "
            rows.append(
                (
                    2 if gpu.training else 3,
                    f"{mark}gpu{gpu.index}",
                    f"{fmt.percent(gpu.utilization)} · {memory} · {others}",
                )
            )
        return rows

    def visible_rows(self, height: int) -> list[tuple[str, str]]:
        rows = self.rows()
        if height > 0 and len(rows) > height:
            keep = sorted(range(len(rows)), key=lambda i: (rows[i][0], i))[:height]
            rows = [rows[i] for i in sorted(keep)]
        return [(label, value) for _, label, value in rows]

    def render(self) -> RenderResult:
        if self.device is None:
            self._drawn = None
            return Text("waiting for the trainer to pick a device…", self.get_component_rich_style("device-panel--dim"))
        table = Table.grid(padding=(0, 1), expand=True)
        table.add_column(style=self.get_component_rich_style("device-panel--label"), no_wrap=True)
        table.add_column(
            style=self.get_component_rich_style("device-panel--value"), no_wrap=True, overflow="ellipsis", ratio=1
        )
        self._drawn = self.visible_rows(self.content_region.height)
        training = self.get_component_rich_style("device-panel--training")
        for label, value in self._drawn:
            table.add_row(label, value, style=training if label.startswith(TRAINING_MARK) else None)
        return table
