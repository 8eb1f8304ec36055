"""A shared GPU box: the device panel lists every GPU on one line, the run's marked and highlighted; a GPU
that cannot be read shows N/A."""

from __future__ import annotations

import dataclasses

from helpers.scripted import DemoRun
from helpers.ui import SIZE, STATS, make_app, run_async, wait_for

from mnist_tui.runs.devstats import DeviceStats, GpuReading
from mnist_tui.ui.widgets.device_panel import TRAINING_MARK

GIB = 2**30
BOX = dataclasses.replace(
    STATS,
    gpus=(
        GpuReading(0, "NVIDIA H100", 95.0, 70 * GIB, 80 * GIB, other_processes=2),
        GpuReading(1, "NVIDIA H100", 87.0, 3 * GIB, 80 * GIB, other_processes=0, training=True),
        GpuReading(2),
    ),
)


@run_async
async def test_every_gpu_on_one_line_the_runs_highlighted():
    app = make_app(DemoRun(hold_at=10, device="cuda:1", device_name="NVIDIA H100"), stats_reader=lambda device: BOX)
    async with app.run_test(size=(120, 50)) as pilot:
        await wait_for(pilot, lambda: app.device_panel.stats is not None)
        rows = dict(app.device_panel.visible_rows(0))
        assert rows[" gpu0"] == "95% · 70 GiB of 80 GiB · 2 others"
        assert rows[f"{TRAINING_MARK}gpu1"] == "87% · 3 GiB of 80 GiB · 0 others"
        assert rows[" gpu2"] == "N/A · N/A of N/A · N/A"
        await pilot.pause()
        panel = app.device_panel
        strips = panel.render_lines(panel.region.reset_offset)
        highlight = panel.get_component_rich_style("device-panel--training")
        ours = next(strip for strip in strips if f"{TRAINING_MARK}gpu1" in strip.text)
        other = next(strip for strip in strips if " gpu0" in strip.text)

        def bold(strip, word):
            return {bool(seg.style and seg.style.bold) for seg in strip if word in seg.text}

        assert highlight.bold and bold(ours, "gpu1") == bold(ours, "87%") == {True}
        assert bold(other, "gpu0") == {False}


@run_async
async def test_one_gpu_needs_no_list():
    one = DeviceStats(gpus=(GpuReading(0, "NVIDIA H100", 50.0, GIB, 80 * GIB, 0, training=True),))
    app = make_app(DemoRun(hold_at=10, device="cuda:0"), stats_reader=lambda device: one)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.device_panel.stats is not None)
        assert not any("gpu" in label for label, _ in app.device_panel.visible_rows(0))
