"""Every reader of a run's files survives any line: nested too deeply for json.loads, of the wrong type, not an
object, far too long; a metrics file of any length is read in bounded memory; what comes from a path or a file
is printed with its control characters escaped. Real run directories (the compared runs), the real CLI."""

from __future__ import annotations

import json
import shutil
import socket
import threading
import tracemalloc
from pathlib import Path

import pytest

from mnist_tui.engine import events as ev
from mnist_tui.runs.catalogue import MetricsFollower, list_runs, read_run
from mnist_tui.runs.client import RemoteRun
from mnist_tui.runs.series import MAX_TRAIN_POINTS, RunSeries, TrainLoss
from mnist_tui.runs.untrusted import MAX_LINE_BYTES, printable

from helpers.cli import mnist_tui
from helpers.compared import finished_runs

DEEP = b"[" * 100_000 + b"]" * 100_000 + b"\n"  # json.loads raises RecursionError on it


@pytest.fixture
def runs(tmp_path_factory, synthetic_dir, tmp_path) -> list[Path]:
    return finished_runs(tmp_path_factory, synthetic_dir, tmp_path / "sweep")


def append(run: Path, *lines: bytes) -> None:
    with open(run / "metrics.jsonl", "ab") as f:
        f.write(b"".join(lines))


def test_a_line_nested_too_deeply_is_a_damaged_line_for_every_reader(runs, tmp_path):
    damaged = runs[1]
    # in the middle (compare, export read it) and near the end (runs reads the tail)
    lines = (damaged / "metrics.jsonl").read_bytes().splitlines(keepends=True)
    (damaged / "metrics.jsonl").write_bytes(b"".join(lines[:3]) + DEEP + b"".join(lines[3:]) + DEEP)

    assert read_run(damaged).state == "finished"
    assert len(list_runs([runs[0].parent])) == 2
    events = MetricsFollower(damaged).read()
    assert len(events) == len(lines) and isinstance(events[-1][1], ev.RunFinished)

    listed = mnist_tui("runs", "--headless", str(runs[0].parent))
    assert listed.returncode == 0 and "Traceback" not in listed.stderr, listed.stderr
    assert "2 runs" in listed.stdout and str(runs[0]) in listed.stdout and str(damaged) in listed.stdout
    compared = mnist_tui("compare", "--headless", str(runs[0].parent))
    assert compared.returncode == 0 and compared.stderr == "", compared.stderr
    assert "completed" in compared.stdout.split("│ b ")[1]
    exported = mnist_tui("export", str(runs[0].parent), "--csv", str(tmp_path / "out.csv"))
    assert exported.returncode == 0 and "Traceback" not in exported.stderr, exported.stderr
    assert sum(1 for line in (tmp_path / "out.csv").read_text().splitlines() if "/b," in line) > 0


def test_a_summary_nested_too_deeply_is_a_damaged_run_that_hides_no_other(runs):
    (runs[1] / "summary.json").write_bytes(DEEP)
    listed = mnist_tui("runs", "--headless", str(runs[0].parent))
    assert listed.returncode == 0 and "Traceback" not in listed.stderr, listed.stderr
    assert "2 runs" in listed.stdout and "damaged" in listed.stdout


def test_a_run_finished_with_figures_of_the_wrong_types_still_compares(runs):
    line = json.loads((runs[1] / "metrics.jsonl").read_text().splitlines()[-1])
    assert line["event"] == "run_finished"
    line.update(final_accuracy="abc", validation_accuracy=[1], elapsed="x", device=5, message=7)
    append(runs[1], json.dumps(line).encode() + b"\n")
    series = RunSeries(runs[1])
    series.update()
    assert series.finished is not None  # its figures of the wrong types are left out: the latest evaluations'
    assert series.test_accuracy == series.latest(ev.TEST) and series.validation_accuracy == series.latest(ev.VALIDATION)
    assert series.device == "cpu"  # the run_started's
    result = mnist_tui("compare", "--headless", str(runs[0]), str(runs[1]))
    assert result.returncode == 0 and result.stderr == "", result.stderr


def test_a_line_far_too_long_is_skipped_without_holding_it(runs):
    long_line = b'{"event":"step","losses":[' + b"1," * (MAX_LINE_BYTES // 2) + b'1]}\n'
    before = len(MetricsFollower(runs[1]).read())
    append(runs[1], long_line, json.dumps({"event": "state", "state": "running", "message": "x"}).encode() + b"\n")
    follower = MetricsFollower(runs[1])
    tracemalloc.start()
    try:
        events = follower.read()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(events) == before + 1 and isinstance(events[-1][1], ev.StateChanged)
    assert peak < 3 * MAX_LINE_BYTES  # the long line is read a bounded piece at a time


def test_a_long_metrics_file_is_read_in_bounded_memory(runs):
    """Steps stream into a bounded curve: averaged in pairs once it is full, never one point a step."""
    run = runs[1]
    step = {"event": "step", "epoch": 1, "epoch_step": 1, "lr": 1e-3, "images_per_second": 1.0, "elapsed": 1.0}
    lines = []
    for i in range(20, 60_020, 20):  # 3,000 lines of 20 steps each: 60,000 steps
        lines.append(json.dumps({**step, "iteration": i, "losses": [1.0] * 20, "t": float(i)}).encode() + b"\n")
    body = b"".join(lines) * 8  # 480,000 steps (the iterations repeat: a resumed run's would not, no matter)
    append(run, body)
    series = RunSeries(run)
    tracemalloc.start()
    try:
        series.update()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(series.train) <= MAX_TRAIN_POINTS and len(series.lrs) <= 20_000
    assert series.train.stride >= 16 and all(loss == 1.0 for loss in series.train.losses[-100:])
    assert peak < len(body) / 2, (peak, len(body))  # the file is not held, nor an event a line
    assert series.ending == "completed"


def test_train_loss_keeps_its_shape_when_it_halves():
    train = TrainLoss(max_points=8)
    for i in range(1, 65):
        train.append(i, i / 10, float(i), float(i))
    assert len(train) < 8 and train.stride == 16
    assert list(train.losses) == list(train.iterations)  # means of consecutive steps, in order
    assert list(train.iterations) == sorted(train.iterations) and train.iterations[-1] == pytest.approx(56.5)


def test_attach_skips_lines_that_are_not_objects(tmp_path):
    """A line ``5`` or ``"hello world"`` from the run's socket is skipped: the viewer goes on."""
    path = str(tmp_path / "s")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(1)
    event = ev.StateChanged(ev.RunState.RUNNING, "going on")
    finished = ev.RunFinished.failure("done")

    def serve() -> None:
        conn, _ = server.accept()
        with conn:
            conn.recv(100)  # the subscribe
            conn.sendall(b'5\n"hello world"\n{"hello": 3}\n[1]\nnull\n' + DEEP)
            conn.sendall(json.dumps({"hello": {"pid": 1, "paused": False}}).encode() + b"\n")
            for e in (event, finished):
                conn.sendall(json.dumps({"event": e.to_dict()}).encode() + b"\n")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    remote = RemoteRun(path)
    try:
        got = list(remote.events())
    finally:
        remote.close()
        server.close()
    thread.join(5)
    assert [type(e) for e in got] == [ev.StateChanged, ev.RunFinished] and got[-1].message == "done"
    assert remote.hello == {"pid": 1, "paused": False}


ESCAPE = "run\x1b[2J\x1b]0;owned\x07"


def test_paths_and_contents_are_printed_with_control_characters_escaped(runs, tmp_path):
    root = tmp_path / "listed"
    root.mkdir()
    hostile = root / ESCAPE
    shutil.copytree(runs[0], hostile)
    summary = json.loads((hostile / "summary.json").read_text())
    summary["status"] = "done\x1b[31m"
    (hostile / "summary.json").write_text(json.dumps(summary))
    for args in (("runs", "--headless", str(root)), ("compare", "--headless", str(root), str(runs[1]))):
        result = mnist_tui(*args)
        assert result.returncode == 0, result.stderr
        shown = result.stdout.replace("\n", "").replace("│", "").replace(" ", "")
        assert "\x1b" not in result.stdout + result.stderr and "\x07" not in result.stdout
        assert printable(ESCAPE).replace(" ", "") in shown, result.stdout
    assert printable(ESCAPE) == "run\\x1b[2J\\x1b]0;owned\\x07"
    assert printable("plain/path ünïcode") == "plain/path ünïcode"


def test_the_ensemble_lines_escape_the_runs_paths():
    from mnist_tui.console.tables import ensemble_lines
    from mnist_tui.engine.ensemble import EnsembleResult

    result = EnsembleResult(
        runs=(f"/r/{ESCAPE}", "/r/b"), weights=(f"/r/{ESCAPE}/best.pt", "/r/b/last.pt"), accuracies=(0.9, 0.8),
        combined=0.95, correct=(9, 8), combined_correct=19, total=10, dataset="mnist", tta_views=1,
    )  # fmt: skip
    text = "\n".join(ensemble_lines(result))
    assert "\x1b" not in text and "\x07" not in text and f"/r/{printable(ESCAPE)}" in text
