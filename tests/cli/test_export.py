"""``mnist-tui export``: a CSV of every evaluation, TensorBoard event files, and one line with exit code 2 for bad
input (including TensorBoard not installed)."""

from __future__ import annotations

import csv
import io
import sys
from pathlib import Path

import pytest

from mnist_tui.cli import main

from helpers.cli import mnist_tui
from helpers.compared import finished_runs, metrics_lines


@pytest.fixture
def runs(tmp_path_factory, synthetic_dir, tmp_path) -> list[Path]:
    return finished_runs(tmp_path_factory, synthetic_dir, tmp_path / "sweep")


def expected_rows(run_dir: Path) -> list[dict]:
    """What metrics.jsonl says of each evaluation, and the lr of the steps before it."""
    rows, lr = [], None
    for line in metrics_lines(run_dir):
        if line["event"] == "step":
            lr = line["lr"]
        elif line["event"] == "run_started":
            per_epoch = line["steps_per_epoch"]
        elif line["event"] == "evaluation":
            rows.append({
                "run": str(run_dir), "set": line["split"], "iteration": line["iteration"],
                "epoch": round(line["iteration"] / per_epoch, 6), "loss": line["loss"], "accuracy": line["accuracy"],
                "lr": lr, "wall_time": line["t"],
            })  # fmt: skip
    return rows


def read_csv(text: str) -> list[dict]:
    rows = list(csv.DictReader(io.StringIO(text)))
    for row in rows:
        row["iteration"] = int(row["iteration"])
        for key in ("epoch", "loss", "accuracy", "lr", "wall_time"):
            row[key] = float(row[key])
    return rows


def test_csv_has_one_row_per_evaluation_of_every_run(runs, tmp_path):
    out = tmp_path / "evals.csv"
    result = mnist_tui("export", str(runs[0].parent), "--csv", str(out))
    assert result.returncode == 0, result.stderr
    text = out.read_text()
    assert text.splitlines()[0] == "run,set,iteration,epoch,loss,accuracy,lr,wall_time"
    assert read_csv(text) == expected_rows(runs[0]) + expected_rows(runs[1])
    assert {row["set"] for row in read_csv(text)} == {"validation", "test"}
    assert f"to {out}" in result.stdout and result.stderr == ""


def test_csv_to_standard_output(runs):
    result = mnist_tui("export", str(runs[1]), "--csv", "-")
    assert result.returncode == 0, result.stderr
    assert read_csv(result.stdout) == expected_rows(runs[1])


def test_tensorboard_event_files_hold_the_same_figures(runs, tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    board = tmp_path / "board"
    assert main(["export", str(runs[0]), str(runs[1]), "--tensorboard", str(board)]) == 0
    for run_dir in runs:
        events = EventAccumulator(str(board / run_dir.name))
        events.Reload()
        expected = expected_rows(run_dir)
        for split in ("validation", "test"):
            mine = [r for r in expected if r["set"] == split]
            accuracy = events.Scalars(f"accuracy/{split}")
            assert [(s.step, s.value) for s in accuracy] == [
                (r["iteration"], pytest.approx(r["accuracy"], rel=1e-6)) for r in mine
            ]
            assert [s.value for s in events.Scalars(f"loss/{split}")] == [
                pytest.approx(r["loss"], rel=1e-6) for r in mine
            ]
            walls = [s.wall_time for s in accuracy]
            wall = [pytest.approx(r["wall_time"] - mine[0]["wall_time"], abs=1e-3) for r in mine]  # seconds since 1970
            assert [b - walls[0] for b in walls] == wall
        losses = [loss for line in metrics_lines(run_dir) if line["event"] == "step" for loss in line["losses"]]
        assert [s.value for s in events.Scalars("loss/train")] == [pytest.approx(v, rel=1e-6) for v in losses]
        assert [s.step for s in events.Scalars("loss/train")] == list(range(1, 13))
        assert events.Scalars("lr")
    # A second export into the same place would show every point twice in TensorBoard: refused.
    with pytest.raises(SystemExit) as exit_info:
        main(["export", str(runs[0]), "--tensorboard", str(board)])
    assert exit_info.value.code == 2


def test_without_tensorboard_installed_one_line_names_the_extra(runs, tmp_path, monkeypatch, capsys):
    pytest.importorskip("torch")
    for name in [m for m in sys.modules if m == "torch.utils.tensorboard" or m.startswith("torch.utils.tensorboard.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "tensorboard", None)  # as if it were not installed: importing it fails
    out, board = tmp_path / "evals.csv", tmp_path / "board"
    with pytest.raises(SystemExit) as exit_info:
        main(["export", str(runs[0]), "--csv", str(out), "--tensorboard", str(board)])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and 'pip install "mnist-tui[tensorboard]"' in err, err
    assert not out.exists() and not board.exists()  # nothing written: the check comes first


@pytest.mark.parametrize(
    "args, message",
    [
        (["{empty}", "--csv", "{out}"], "holds no run"),
        (["{missing}", "--csv", "{out}"], "no such directory"),
        (["{run}"], "say where to export"),
        (["{run}", "--csv", "{missing}/x.csv"], "its directory does not exist"),
        (["{run}", "--tensorboard", "{file}"], "not a directory"),
    ],
)
def test_bad_input_is_one_line_and_exit_code_2(runs, tmp_path, args, message):
    (tmp_path / "empty").mkdir()
    (tmp_path / "file").write_text("")
    places = {"empty": tmp_path / "empty", "missing": tmp_path / "missing", "run": runs[0],
              "out": tmp_path / "out.csv", "file": tmp_path / "file"}  # fmt: skip
    result = mnist_tui("export", *(a.format(**places) for a in args))
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and message in result.stderr, result.stderr
    assert not (tmp_path / "out.csv").exists()


# Where the export goes: where the user meant, and nowhere else ------------------------------------------------
from helpers.other_user import as_user, other_user, shared_dir  # noqa: E402,F401 (shared_dir: a fixture)


def refused(result, *phrases: str) -> None:
    assert result.returncode == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and all(p in lines[0] for p in phrases), result.stderr


def tree(path: Path) -> dict[str, bytes | None]:
    return {str(p.relative_to(path)): p.read_bytes() if p.is_file() else None for p in sorted(path.rglob("*"))}


def test_nothing_is_written_into_a_run_directory(runs, tmp_path):
    """Before, --csv RUN/metrics.jsonl replaced the run's metrics with the CSV (the run then read as failed)."""
    sweep = runs[0].parent
    before = tree(sweep)
    for args in (
        ["--csv", str(runs[0] / "metrics.jsonl")],
        ["--csv", str(runs[0] / "checkpoints" / "evals.csv")],
        ["--csv", str(runs[1] / "new" / ".." / "evals.csv")],
        ["--tensorboard", str(runs[0])],
        ["--tensorboard", str(runs[0] / "checkpoints" / "board")],
        ["--tensorboard", str(sweep)],  # each run's event files would go into the run's own directory
    ):
        refused(mnist_tui("export", str(sweep), *args), "would write into the run directory")
    assert tree(sweep) == before
    assert mnist_tui("export", str(sweep), "--csv", str(sweep / "evals.csv")).returncode == 0  # beside the runs


def test_what_is_not_a_regular_file_is_never_replaced(runs, tmp_path):
    """Before, a FIFO, a character device or a link to /proc/self/fd/1 named by --csv was replaced by a regular
    file (as root, --csv /dev/null replaced /dev/null)."""
    import os
    import stat

    fifo, link, directory = tmp_path / "fifo", tmp_path / "stdout", tmp_path / "dir.csv"
    os.mkfifo(fifo)
    link.symlink_to("/proc/self/fd/1")
    directory.mkdir()
    targets = {fifo: "a FIFO", link: "a symbolic link", directory: "a directory"}
    try:
        os.mknod(tmp_path / "null", 0o666 | stat.S_IFCHR, os.makedev(1, 3))  # as /dev/null
        targets[tmp_path / "null"] = "a character device"
    except PermissionError:
        pass  # only root makes device files: the others still show it
    for target, kind in targets.items():
        refused(mnist_tui("export", str(runs[0]), "--csv", str(target)), f"{kind} stands there", "'-'")
    assert stat.S_ISFIFO(fifo.lstat().st_mode) and link.is_symlink() and directory.is_dir()
    if tmp_path / "null" in targets:
        assert stat.S_ISCHR((tmp_path / "null").lstat().st_mode)
    (tmp_path / "evals.csv").write_text("an older export\n")  # a regular file is replaced, as asked
    assert mnist_tui("export", str(runs[0]), "--csv", str(tmp_path / "evals.csv")).returncode == 0
    assert (tmp_path / "evals.csv").read_text().startswith("run,set,")


def test_an_export_through_a_link_another_user_planted_is_refused(runs, tmp_path, shared_dir):
    other = other_user()
    victim = tmp_path / "ssh"
    victim.mkdir(mode=0o700)
    as_user(other, "ln", "-s", str(victim), str(shared_dir / "exports"))
    as_user(other, "ln", "-s", str(victim / "authorized_keys"), str(shared_dir / "evals.csv"))
    refused(mnist_tui("export", str(runs[0]), "--csv", str(shared_dir / "exports" / "evals.csv")), "symbolic link")
    refused(mnist_tui("export", str(runs[0]), "--tensorboard", str(shared_dir / "exports")), "symbolic link")
    refused(mnist_tui("export", str(runs[0]), "--csv", str(shared_dir / "evals.csv")), "a symbolic link stands there")
    assert list(victim.iterdir()) == [] and (shared_dir / "evals.csv").is_symlink()
