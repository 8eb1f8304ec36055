"""What an evaluation gets wrong: the snapshot from logits, from the trainer, the end-of-run CSVs and inspect."""

from __future__ import annotations

import csv
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from mnist_tui.config import EarlyStoppingConfig, TrainConfig
from mnist_tui.engine import events as ev
from mnist_tui.engine.analysis import (
    CONFUSION_CSV,
    MISCLASSIFIED_CSV,
    make_snapshot,
    summarise,
    write_error_csvs,
)
from mnist_tui.engine.checkpoints import CheckpointError
from mnist_tui.cli.inspect import evaluate_run as evaluate_checkpoint
from mnist_tui.runs.rundir import RunDirectory, RunDirError

from helpers.engine import config, run_all

NAMES = tuple(str(i) for i in range(10))


def images(n: int) -> torch.Tensor:
    """Test images whose first byte is their index (mod 256), to check the right ones are picked."""
    out = torch.zeros(n, 28, 28, dtype=torch.uint8)
    out[:, 0, 0] = torch.arange(n) % 256
    out[:, 0, 1] = torch.arange(n) // 256
    return out


def index_of(image: bytes) -> int:
    return image[0] + 256 * image[1]


# Snapshots from logits ----------------------------------------------------------------------------------
def test_summarise_counts_sorts_and_matches_the_losses():
    torch.manual_seed(0)
    n = 500
    targets = torch.randint(0, 10, (n,))
    logits = torch.randn(n, 10)
    logits[torch.arange(n), targets] += 2.0  # mostly right, some wrong
    outcome = summarise(logits, targets, n_preview=7)
    pred = logits.argmax(1)
    wrong = (pred != targets).nonzero().flatten().tolist()
    assert outcome.correct == n - len(wrong) and outcome.n_misclassified == len(wrong) > 0
    assert outcome.loss == pytest.approx(F.cross_entropy(logits, targets).item(), rel=1e-5)
    assert outcome.preview == tuple(pred[:7].tolist())
    confusion = outcome.confusion
    assert sum(map(sum, confusion)) == n and sum(confusion[i][i] for i in range(10)) == outcome.correct
    for t in range(10):
        for p in range(10):
            assert confusion[t][p] == int(((targets == t) & (pred == p)).sum())

    snap = make_snapshot(outcome, images(n), iteration=50, epoch=1, class_names=NAMES)
    assert (snap.iteration, snap.epoch, snap.class_names) == (50, 1, NAMES)
    assert (snap.total, snap.correct) == (n, outcome.correct)
    entries = snap.misclassified
    assert sorted(m.index for m in entries) == wrong  # every wrong one, once
    assert [m.loss for m in entries] == sorted((m.loss for m in entries), reverse=True)  # worst first
    per_image = F.cross_entropy(logits, targets, reduction="none")
    probs = torch.softmax(logits, 1)
    for m in entries:
        assert m.true == targets[m.index] and m.predicted == pred[m.index] and m.true != m.predicted
        assert m.loss == pytest.approx(per_image[m.index].item(), abs=1e-4)
        assert m.probabilities == pytest.approx(probs[m.index].tolist(), abs=1e-4)
        assert all(p == round(p, 4) for p in m.probabilities) and math.isclose(sum(m.probabilities), 1, abs_tol=1e-3)
        assert m.confidence == max(m.probabilities)
        assert len(m.image) == 784 and index_of(m.image) == m.index  # its own image
    assert snap.class_accuracy()[3] == (sum(confusion[3]), confusion[3][3], confusion[3][3] / sum(confusion[3]))
    pairs = snap.confused_pairs(3)
    assert len(pairs) == 3 and pairs[0][2] == max(c for t, r in enumerate(confusion) for p, c in enumerate(r) if t != p)
    assert [c for _, _, c in pairs] == sorted((c for _, _, c in pairs), reverse=True)


def test_a_perfect_model_has_an_empty_list_and_a_diagonal_matrix():
    targets = torch.arange(100) % 10
    logits = F.one_hot(targets, 10).float() * 10
    snap = make_snapshot(summarise(logits, targets), images(100), iteration=1, epoch=1, class_names=NAMES)
    assert snap.misclassified == () and snap.n_misclassified == 0 and snap.accuracy == 1.0
    assert snap.confusion == tuple(tuple(10 if t == p else 0 for p in range(10)) for t in range(10))
    assert snap.confused_pairs() == ()
    assert all(acc == 1.0 for _, _, acc in snap.class_accuracy())


def test_the_list_is_capped_at_the_worst_and_counts_them_all():
    torch.manual_seed(1)
    targets = torch.zeros(300, dtype=torch.long)
    logits = torch.randn(300, 10)
    logits[:, 0] = -5.0  # all wrong
    snap = make_snapshot(summarise(logits, targets, limit=20), images(300), iteration=1, epoch=1, class_names=NAMES)
    losses = F.cross_entropy(logits, targets, reduction="none")
    assert snap.n_misclassified == 300 and len(snap.misclassified) == 20
    assert [m.index for m in snap.misclassified] == losses.topk(20).indices.tolist()


def test_a_class_missing_from_the_test_set_has_no_accuracy():
    targets = torch.tensor([0, 1, 1, 2])
    logits = F.one_hot(torch.tensor([0, 1, 2, 2]), 10).float() * 5
    snap = make_snapshot(summarise(logits, targets), images(4), iteration=1, epoch=1, class_names=NAMES)
    rows = snap.class_accuracy()
    assert rows[1] == (2, 1, 0.5) and rows[9] == (0, 0, None)
    assert snap.confused_pairs() == ((1, 2, 1),)


def test_the_snapshot_round_trips_through_a_dict_and_is_not_recorded(tmp_path):
    targets = torch.arange(50) % 10
    logits = torch.randn(50, 10, generator=torch.Generator().manual_seed(2))
    snap = make_snapshot(summarise(logits, targets), images(50), iteration=7, epoch=2, class_names=NAMES, weights="w")
    assert ev.event_from_dict(snap.to_dict()) == snap
    assert not ev.EvaluationSnapshot.record and ev.Evaluation.record
    run = RunDirectory(tmp_path / "run")
    run.create(TrainConfig(), fresh=True)
    run.record(snap)
    run.record(ev.Log("kept"))
    run.close()
    assert [e.kind for e in run.read_events()] == ["log"]


def test_csvs_hold_the_list_and_the_matrix(tmp_path):
    targets = torch.arange(200) % 10
    logits = torch.randn(200, 10, generator=torch.Generator().manual_seed(3))
    snap = make_snapshot(summarise(logits, targets), images(200), iteration=1, epoch=1, class_names=NAMES)
    misclassified, confusion = write_error_csvs(tmp_path, snap)
    assert (misclassified.name, confusion.name) == (MISCLASSIFIED_CSV, CONFUSION_CSV)
    rows = list(csv.DictReader(misclassified.open()))
    assert list(rows[0]) == ["index", "true", "predicted", "confidence", "loss", *(f"p{c}" for c in range(10))]
    assert [int(r["index"]) for r in rows] == [m.index for m in snap.misclassified]
    first, m = rows[0], snap.misclassified[0]
    assert (int(first["true"]), int(first["predicted"])) == (m.true, m.predicted)
    assert float(first["confidence"]) == m.confidence and float(first["loss"]) == m.loss
    assert [float(first[f"p{c}"]) for c in range(10)] == list(m.probabilities)
    matrix = list(csv.reader(confusion.open()))
    assert matrix[0] == ["true\\predicted", *NAMES]
    assert [[int(c) for c in row[1:]] for row in matrix[1:]] == [list(r) for r in snap.confusion]
    assert not list(tmp_path.glob(".*.tmp"))  # written atomically, nothing left behind


# From the trainer --------------------------------------------------------------------------------------
def train(synthetic_dir: Path, run_dir: Path, **changes) -> list[ev.Event]:
    return run_all(config(synthetic_dir, run_dir, **{"eval_every": 6, **changes}))


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory, synthetic_dir) -> tuple[Path, list[ev.Event]]:
    run_dir = tmp_path_factory.mktemp("errors") / "run"
    return run_dir, train(synthetic_dir, run_dir)


def test_each_evaluation_publishes_a_snapshot_that_matches_it(finished_run, synthetic_dir):
    run_dir, events = finished_run
    assert isinstance(events[-1], ev.RunFinished) and events[-1].reason == ev.Reason.COMPLETED
    from mnist_tui.engine import data

    arrays = data.load_arrays(data.resolve(str(synthetic_dir)))
    # A validation digit's index is its position in the training set (the 50 held out of 600); a test digit's
    # its position in the test set.
    pictures = {ev.VALIDATION: (arrays.train_images, 50), ev.TEST: (arrays.test_images, 200)}
    pairs = [(e, events[i + 1]) for i, e in enumerate(events) if isinstance(e, ev.Evaluation)]
    assert len(pairs) >= 4
    assert {e.split for e, _ in pairs} == {ev.VALIDATION, ev.TEST}
    for evaluation, snap in pairs:
        assert isinstance(snap, ev.EvaluationSnapshot)  # right after its Evaluation
        images_of_set, size = pictures[evaluation.split]
        assert snap.split == evaluation.split
        assert snap.iteration == evaluation.iteration and snap.total == evaluation.total == size
        assert snap.correct == evaluation.correct and snap.n_misclassified == size - evaluation.correct
        assert len(snap.misclassified) == snap.n_misclassified
        assert snap.loss == pytest.approx(evaluation.loss)
        assert [m.loss for m in snap.misclassified] == sorted((m.loss for m in snap.misclassified), reverse=True)
        assert all(m.image == images_of_set[m.index].numpy().tobytes() for m in snap.misclassified)
        restored = evaluation.weights_from
        assert snap.weights == ("" if restored is None else f"best from iteration {restored}")
    lines = (run_dir / "metrics.jsonl").read_text()
    assert "evaluation_snapshot" not in lines


def test_the_run_writes_the_csvs_of_its_final_weights(finished_run):
    run_dir, events = finished_run
    final = [e for e in events if isinstance(e, ev.EvaluationSnapshot)][-1]
    finished = events[-1]
    assert final.split == ev.TEST  # the CSVs are of the test set
    assert final.accuracy == finished.final_accuracy  # the weights the run ends with (best, restored)
    rows = list(csv.DictReader((run_dir / MISCLASSIFIED_CSV).open()))
    assert [int(r["index"]) for r in rows] == [m.index for m in final.misclassified]
    matrix = list(csv.reader((run_dir / CONFUSION_CSV).open()))
    assert [[int(c) for c in row[1:]] for row in matrix[1:]] == [list(r) for r in final.confusion]
    assert any(isinstance(e, ev.Log) and MISCLASSIFIED_CSV in e.message for e in events)


def test_inspect_opens_the_final_weights_of_a_run_that_kept_them(synthetic_dir, tmp_path):
    """Without restore-best (the fast and best presets) the run ends on last.pt, though best.pt exists."""
    run_dir = tmp_path / "run"
    cfg = config(synthetic_dir, run_dir, early_stopping=EarlyStoppingConfig(enabled=False, restore_best=False))
    finished = run_all(cfg)[-1]
    assert (run_dir / "checkpoints" / "best.pt").exists()
    snap = evaluate_checkpoint(run_dir, device="cpu")
    assert snap.weights == "checkpoints/last.pt" and snap.accuracy == finished.final_accuracy


def test_inspect_evaluates_the_best_checkpoint_like_the_run_did(finished_run, tmp_path):
    run_dir, events = finished_run
    finished = events[-1]
    snapshots = [e for e in events if isinstance(e, ev.EvaluationSnapshot)]
    # On the validation set it sees what the run saw when it chose these weights as the best.
    snap = evaluate_checkpoint(run_dir, device="cpu", split=ev.VALIDATION)
    assert snap.weights == "checkpoints/best.pt" and snap.iteration == finished.best_iteration
    assert snap.split == ev.VALIDATION and snap.accuracy == finished.best_accuracy == finished.validation_accuracy
    best = next(e for e in snapshots if e.split == ev.VALIDATION and e.iteration == finished.best_iteration)
    assert snap.confusion == best.confusion and [m.index for m in snap.misclassified] == [
        m.index for m in best.misclassified
    ]
    # On the test set (the default) it sees what the run reported of the weights it ended with: these.
    snap = evaluate_checkpoint(run_dir, device="cpu")
    assert snap.weights == "checkpoints/best.pt" and snap.iteration == finished.best_iteration
    assert snap.split == ev.TEST and snap.accuracy == finished.final_accuracy
    final = snapshots[-1]
    assert final.split == ev.TEST and final.weights == finished.weights
    assert snap.confusion == final.confusion and [m.index for m in snap.misclassified] == [
        m.index for m in final.misclassified
    ]
    # Without a best.pt it falls back to last.pt.
    copy = tmp_path / "copy"
    shutil.copytree(run_dir, copy)
    (copy / "checkpoints" / "best.pt").unlink()
    assert evaluate_checkpoint(copy, device="cpu").weights == "checkpoints/last.pt"
    (copy / "checkpoints" / "last.pt").unlink()
    with pytest.raises(CheckpointError, match="no checkpoint"):
        evaluate_checkpoint(copy, device="cpu")
    with pytest.raises(RunDirError, match="no such run directory"):
        evaluate_checkpoint(tmp_path / "nowhere")
    (tmp_path / "empty" / "checkpoints").mkdir(parents=True)
    shutil.copy(run_dir / "checkpoints" / "last.pt", tmp_path / "empty" / "checkpoints")
    with pytest.raises(RunDirError, match="config.json"):
        evaluate_checkpoint(tmp_path / "empty")


def mnist_tui(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "mnist_tui", *args], capture_output=True, text=True, env=dict(os.environ), timeout=240
    )


def test_inspect_command_headless_prints_tables_and_writes_the_csvs(finished_run, tmp_path):
    run_dir, events = finished_run
    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy)
    for name in (MISCLASSIFIED_CSV, CONFUSION_CSV):
        (copy / name).unlink()
    result = mnist_tui("inspect", str(copy))  # stdout is a pipe: headless
    assert result.returncode == 0, result.stderr
    assert "Most confused pairs" in result.stdout and "accuracy" in result.stdout
    assert f"at iteration {events[-1].best_iteration}" in result.stdout
    assert (copy / MISCLASSIFIED_CSV).exists() and (copy / CONFUSION_CSV).exists()


@pytest.mark.parametrize("where", ["missing", "not-a-run"])
def test_inspect_command_on_a_bad_directory_exits_2_with_one_line(tmp_path, where):
    path = tmp_path / where
    if where == "not-a-run":
        path.mkdir()
    result = mnist_tui("inspect", str(path))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("mnist-tui: error: "), result.stderr
    assert "Traceback" not in result.stderr
