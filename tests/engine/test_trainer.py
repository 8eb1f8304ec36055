"""The training engine on small synthetic data read by the real loader."""

from __future__ import annotations

import json

import pytest
import torch

from mnist_tui.config import MODEL_NAMES, TrainConfig
from mnist_tui.engine import events as ev
from mnist_tui.engine.checkpoints import CheckpointError, load_checkpoint, save_checkpoint
from mnist_tui.engine.control import Control
from mnist_tui.engine.models import MODELS, TutorialNet, count_parameters
from mnist_tui.runs.rundir import RunDirectory
from mnist_tui.runs.start import make_trainer
from helpers.engine import DEADLINE, Consumer, WatchedControl, config, of, run_all, state_is


def describe(module: torch.nn.Module) -> str:
    name = type(module).__name__
    if isinstance(module, torch.nn.Conv2d):
        return f"{name}({module.in_channels},{module.out_channels},{module.kernel_size[0]},{module.stride[0]},{module.padding[0]})"
    if isinstance(module, torch.nn.MaxPool2d):
        return f"{name}({module.kernel_size},{module.stride})"
    if isinstance(module, torch.nn.BatchNorm2d):
        return f"{name}({module.num_features})"
    if isinstance(module, torch.nn.Linear):
        return f"{name}({module.in_features},{module.out_features})"
    if isinstance(module, torch.nn.Dropout):
        return f"{name}({module.p})"
    return name


def test_tutorial_network_layer_for_layer():
    net = TutorialNet()
    assert [describe(m) for m in net.features] == (
        "Conv2d(1,5,3,1,1) ReLU Conv2d(5,10,3,1,1) MaxPool2d(2,2) ReLU BatchNorm2d(10) "
        "Conv2d(10,20,3,1,1) ReLU BatchNorm2d(20) Conv2d(20,40,3,1,1) MaxPool2d(2,2) ReLU BatchNorm2d(40)"
    ).split()
    assert [describe(m) for m in net.classifier] == (
        "Linear(1960,200) ReLU Dropout(0.5) Linear(200,500) ReLU Linear(500,10)"
    ).split()
    assert net(torch.zeros(3, 1, 28, 28)).shape == (3, 10)
    assert count_parameters(net) == 507_420


def test_model_names_match_the_registry():
    assert set(MODEL_NAMES) == set(MODELS)


def test_default_config_is_the_tutorial_recipe():
    cfg = TrainConfig()
    assert (cfg.model, cfg.batch_size, cfg.lr, cfg.weight_decay, cfg.epochs, cfg.eval_every) == (
        "tutorial",
        100,
        3e-4,
        1e-3,
        10,
        50,
    )


def test_event_order_metrics_and_run_directory(synthetic_dir, tmp_path):
    # Three epochs: on the 550 digits left after the validation split the net learns past chance in the third.
    cfg = config(synthetic_dir, tmp_path / "run", epochs=3)
    events = run_all(cfg)
    kinds = [e.kind for e in events]
    assert events[0] == ev.StateChanged(ev.RunState.LOADING, "starting torch")
    assert kinds.index("run_started") < kinds.index("previews") < kinds.index("step")
    assert isinstance(events[-1], ev.RunFinished) and events[-1].reason == ev.Reason.COMPLETED

    started = of(events, ev.RunStarted)[0]
    assert (started.train_size, started.test_size, started.steps_per_epoch, started.total_steps) == (550, 200, 11, 33)
    assert started.val_size == 50 and started.val_digest  # a twelfth of the 600 held out for validation
    assert started.device == "cpu" and started.class_names == tuple(str(i) for i in range(10))

    # Every step's loss is reported exactly once, in order.
    steps = of(events, ev.StepMetrics)
    reported = [i for s in steps for i in range(s.iteration - len(s.losses) + 1, s.iteration + 1)]
    assert reported == list(range(1, 34))
    # Validation every eval_every iterations and at each epoch end (11, 22, 33); the test set at each epoch end.
    all_evals = of(events, ev.Evaluation)
    evals = [e for e in all_evals if e.split == ev.VALIDATION]
    assert [e.iteration for e in evals] == [4, 8, 11, 12, 16, 20, 22, 24, 28, 32, 33]
    tests = [e for e in all_evals if e.split == ev.TEST and e.weights_from is None]
    assert [e.iteration for e in tests] == [11, 22, 33]
    assert all(e.total == 50 for e in evals) and all(e.total == 200 for e in tests)
    assert all(len(e.preview_predictions) == 16 for e in all_evals)  # the preview strip: test digits, always
    assert evals[-1].accuracy > 0.5 and tests[-1].accuracy > 0.5  # chance is 0.1
    best = max(evals, key=lambda e: e.accuracy)
    assert evals[-1].best_accuracy == best.accuracy and evals[-1].best_iteration == best.iteration
    assert all(e.best_accuracy == best.accuracy for e in all_evals if e.iteration >= best.iteration)
    finished = events[-1]
    assert (finished.best_accuracy, finished.best_iteration) == (best.accuracy, best.iteration)
    # restore_best is on by default: the run ends with the best weights, and the test set reports them last.
    assert finished.weights == f"best from iteration {best.iteration}"
    assert finished.validation_accuracy == best.accuracy
    final = all_evals[-1]
    assert final.split == ev.TEST and final.weights_from == (None if best.iteration == 33 else best.iteration)
    assert finished.final_accuracy == final.accuracy

    run = RunDirectory(tmp_path / "run")
    # The config as it ran: on a CPU, with the threads the run chose for itself (kept on resume).
    threads = [e for e in events if isinstance(e, ev.RunStarted)][0].threads
    assert run.read_config() == cfg.replace(run_dir=str(run.path), threads=threads)
    lines = [json.loads(l) for l in (run.path / "metrics.jsonl").read_text().splitlines()]
    recorded = [e for e in events if e.record]  # the error snapshots are published, not written
    assert "evaluation_snapshot" in kinds and "evaluation_snapshot" not in [e.kind for e in recorded]
    assert [l["event"] for l in lines] == [e.kind for e in recorded]
    assert all(isinstance(l["t"], float) for l in lines)
    assert [l["t"] for l in lines] == sorted(l["t"] for l in lines)
    assert list(run.read_events()) == recorded  # the file round-trips to the same events
    summary = run.read_summary()
    assert summary["status"] == "finished" and summary["reason"] == "completed"
    assert "final_accuracy" not in summary and "best_accuracy" not in summary  # each figure names its set
    assert summary["final_test_accuracy"] == finished.final_accuracy
    assert summary["validation_accuracy"] == summary["best_validation_accuracy"] == best.accuracy
    assert summary["best_iteration"] == best.iteration
    assert summary["iteration"] == 33 and summary["epoch"] == 3 and summary["device"] == "cpu"
    assert isinstance(summary["wall_seconds"], float)  # recorded (its value is a benchmark's business)
    for tag in ("last", "best"):
        state = load_checkpoint(run.path / "checkpoints" / f"{tag}.pt")
        assert set(state) >= {"model", "optimizer", "rng", "loop", "config", "version"}
    assert load_checkpoint(run.last_checkpoint)["loop"]["iteration"] == 33


def test_seeded_cpu_runs_are_reproducible(synthetic_dir, tmp_path):
    a = run_all(config(synthetic_dir, tmp_path / "a", epochs=1))
    b = run_all(config(synthetic_dir, tmp_path / "b", epochs=1))
    losses = lambda evs: [l for s in of(evs, ev.StepMetrics) for l in s.losses]  # noqa: E731
    assert losses(a) == losses(b)
    evaluations = lambda evs: [(e.split, e.iteration, e.loss) for e in of(evs, ev.Evaluation)]  # noqa: E731
    assert {split for split, _, _ in evaluations(a)} == {ev.VALIDATION, ev.TEST}
    assert evaluations(a) == evaluations(b)
    c = run_all(config(synthetic_dir, tmp_path / "c", epochs=1, seed=4))
    assert losses(c) != losses(a)


def test_evaluation_uses_eval_mode_and_changes_nothing(synthetic_dir, tmp_path):
    """Evaluating twice in a row gives the same result: no dropout, no batch-norm update from test images."""
    from mnist_tui.engine.preprocess import normalise
    from mnist_tui.engine.evaluation import evaluate as _evaluate

    net = TutorialNet().eval()
    x = normalise(torch.randint(0, 255, (300, 28, 28), dtype=torch.uint8))
    y = torch.randint(0, 10, (300,))
    before = {k: v.clone() for k, v in net.state_dict().items()}
    first = _evaluate(net, x, y, 128, 16)
    assert first == _evaluate(net, x, y, 128, 16)
    other = _evaluate(net, x, y, 1000, 16)  # batch size changes only the float rounding
    assert (other.correct, other.preview, other.confusion) == (first.correct, first.preview, first.confusion)
    assert other.loss == pytest.approx(first.loss, rel=1e-5)
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())


def test_pause_resume_and_stop_from_another_thread(synthetic_dir, tmp_path):
    """Pause holds the trainer between two steps until resume; stop ends the run as a graceful stop does."""
    control = WatchedControl()
    run = Consumer(make_trainer(config(synthetic_dir, tmp_path / "run", epochs=50, eval_every=1000), control).run())
    run.wait_for(lambda e: isinstance(e, ev.StepMetrics), "a step")
    control.pause()
    paused = run.wait_for(state_is(ev.RunState.PAUSED), "the pause")
    assert control.trainer_waiting.wait(DEADLINE)  # paused: the trainer blocks until a command comes
    assert len(run.events) == paused + 1  # and does nothing after saying so
    control.resume()
    resumed = run.wait_for(state_is(ev.RunState.RUNNING), "the resume", after=paused)
    assert resumed == paused + 1, run.events[paused:resumed + 1]
    run.wait_for(lambda e: isinstance(e, ev.StepMetrics), "a step after the resume", after=resumed)
    control.stop()
    seen = run.join()

    states = [e.state for e in seen if isinstance(e, ev.StateChanged)]
    assert states[-1] == ev.RunState.STOPPING
    finished = seen[-1]
    assert isinstance(finished, ev.RunFinished) and finished.reason == ev.Reason.STOPPED
    # Every step was reported once, in order, across the pause: none lost, none done twice.
    steps = of(seen, ev.StepMetrics)
    reported = [i for s in steps for i in range(s.iteration - len(s.losses) + 1, s.iteration + 1)]
    assert reported == list(range(1, finished.iteration + 1))
    # A graceful stop evaluates and saves at the step it reached.
    last_eval = of(seen, ev.Evaluation)[-1]
    assert last_eval.iteration == finished.iteration
    assert of(seen, ev.CheckpointSaved)[-1].tag == "last"
    assert load_checkpoint(tmp_path / "run" / "checkpoints" / "last.pt")["loop"]["iteration"] == finished.iteration


def test_stop_while_paused_ends_the_run(synthetic_dir, tmp_path):
    """A stop wakes a paused trainer, and the run ends where it was."""
    control = WatchedControl()
    control.pause()
    run = Consumer(make_trainer(config(synthetic_dir, tmp_path / "run"), control).run())
    assert control.trainer_waiting.wait(DEADLINE)  # paused before its first step
    control.stop()  # wakes it
    events = run.join()
    assert events[-1].reason == ev.Reason.STOPPED and events[-1].iteration == 0


def test_save_now_works_while_paused(synthetic_dir, tmp_path):
    """Save now writes a checkpoint while paused, and the run stays paused."""
    control = WatchedControl()
    control.pause()
    run = Consumer(make_trainer(config(synthetic_dir, tmp_path / "run"), control).run())
    assert control.trainer_waiting.wait(DEADLINE)
    control.save_now()
    run.wait_for(lambda e: isinstance(e, ev.CheckpointSaved), "the checkpoint")
    control.stop()
    events = run.join()
    states = [e.state for e in events if isinstance(e, ev.StateChanged)]
    first_save = next(e for e in events if isinstance(e, ev.CheckpointSaved))
    assert first_save.tag == "last" and first_save.iteration == 0
    assert ev.RunState.RUNNING not in states[states.index(ev.RunState.PAUSED):]  # saved without resuming


def test_save_now_writes_last_checkpoint_mid_epoch(synthetic_dir, tmp_path):
    control = Control()
    control.save_now()
    events = run_all(config(synthetic_dir, tmp_path / "run", epochs=1), control)
    saved = of(events, ev.CheckpointSaved)
    assert saved[0].tag == "last" and saved[0].iteration == 1


def test_resume_at_an_epoch_boundary_ends_like_an_uninterrupted_run(synthetic_dir, tmp_path):
    whole = run_all(config(synthetic_dir, tmp_path / "whole"))
    first = run_all(config(synthetic_dir, tmp_path / "part", max_steps=11))  # epoch 1: 550 digits, batch 50
    assert first[-1].iteration == 11
    cfg_path = tmp_path / "part" / "config.json"
    saved = json.loads(cfg_path.read_text())
    saved["max_steps"] = None
    cfg_path.write_text(json.dumps(saved))
    resumed = list(make_trainer(None, resume=tmp_path / "part").run())
    started = of(resumed, ev.RunStarted)[0]
    assert started.start_iteration == 11
    assert started.val_digest == of(whole, ev.RunStarted)[0].val_digest  # the same digits held out
    evaluations = lambda evs: [(e.split, e.iteration, e.loss) for e in evs]  # noqa: E731
    after = [e for e in of(whole, ev.Evaluation) if e.iteration > 11]
    assert evaluations(of(resumed, ev.Evaluation)) == evaluations(after)
    for key in ("final_accuracy", "best_accuracy", "best_iteration", "validation_accuracy", "weights"):
        assert getattr(resumed[-1], key) == getattr(whole[-1], key), key
    assert RunDirectory(tmp_path / "part").read_summary()["iteration"] == 22


def test_resume_mid_epoch_continues_the_same_shuffle(synthetic_dir, tmp_path):
    whole = run_all(config(synthetic_dir, tmp_path / "whole", epochs=1))
    run_all(config(synthetic_dir, tmp_path / "part", epochs=1, max_steps=5))
    cfg_path = tmp_path / "part" / "config.json"
    saved = json.loads(cfg_path.read_text())
    saved["max_steps"] = None
    cfg_path.write_text(json.dumps(saved))
    resumed = list(make_trainer(None, resume=tmp_path / "part").run())
    losses = lambda evs: [l for s in of(evs, ev.StepMetrics) for l in s.losses]  # noqa: E731
    assert losses(resumed) == losses(whole)[5:]
    # The evaluation the stop made at step 5 fed no best and no early stopping: the run ends the same.
    for key in ("final_accuracy", "best_accuracy", "best_iteration", "validation_accuracy", "weights"):
        assert getattr(resumed[-1], key) == getattr(whole[-1], key), key
    es = lambda evs: of(evs, ev.EarlyStoppingState)[-1]  # noqa: E731
    assert (es(resumed).wait, es(resumed).evals, es(resumed).best) == (es(whole).wait, es(whole).evals, es(whole).best)


def test_a_one_cycle_run_lengthened_before_resume_runs_on_at_its_final_lr(synthetic_dir, tmp_path):
    part = run_all(config(synthetic_dir, tmp_path / "part", schedule="onecycle", max_steps=12))
    cfg_path = tmp_path / "part" / "config.json"
    saved = json.loads(cfg_path.read_text())
    saved["max_steps"] = None  # 22 steps in all (2 epochs of 11 after the validation split), planned for 12
    cfg_path.write_text(json.dumps(saved))
    resumed = list(make_trainer(None, resume=tmp_path / "part").run())
    assert resumed[-1].reason == ev.Reason.COMPLETED and resumed[-1].iteration == 22
    (line,) = [e for e in of(resumed, ev.Log) if "schedule was planned" in e.message]
    assert line.level == "warning" and "planned for 12 steps" in line.message
    final_lr = of(part, ev.StepMetrics)[-1].lr  # where the 12-step schedule ended, far below its peak
    assert final_lr < 2e-3 / 10
    assert {s.lr for s in of(resumed, ev.StepMetrics)} == {final_lr}


def test_existing_run_directory_is_not_overwritten(synthetic_dir, tmp_path):
    run_all(config(synthetic_dir, tmp_path / "run", max_steps=2))
    before = (tmp_path / "run" / "metrics.jsonl").read_bytes()
    events = run_all(config(synthetic_dir, tmp_path / "run", max_steps=2))
    assert events[-1].reason == ev.Reason.FAILED and events[-1].bad_input
    assert "already holds a run" in events[-1].message
    assert (tmp_path / "run" / "metrics.jsonl").read_bytes() == before


def test_absent_device_fails_cleanly_without_a_run_directory(synthetic_dir, tmp_path):
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    events = run_all(config(synthetic_dir, tmp_path / "run", device="cuda"))
    assert events[-1].reason == ev.Reason.FAILED and events[-1].bad_input
    assert "CUDA is not available" in events[-1].message
    assert not (tmp_path / "run").exists()


def test_diverging_run_ends_with_reason_diverged(synthetic_dir, tmp_path):
    events = run_all(config(synthetic_dir, tmp_path / "run", lr=1e6, epochs=3))
    assert events[-1].reason == ev.Reason.DIVERGED
    assert RunDirectory(tmp_path / "run").read_summary()["reason"] == "diverged"


def test_checkpoint_round_trip_and_damage(tmp_path):
    net = TutorialNet()
    path = save_checkpoint(tmp_path / "c.pt", {"model": net.state_dict(), "loop": {"iteration": 7}})
    state = load_checkpoint(path)
    other = TutorialNet()
    other.load_state_dict(state["model"])
    assert all(torch.equal(a, b) for a, b in zip(net.state_dict().values(), other.state_dict().values()))
    assert not list(tmp_path.glob(".*tmp"))

    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(path.read_bytes()[:1000])
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a checkpoint at all")
    foreign = tmp_path / "foreign.pt"
    torch.save({"state_dict": {}}, foreign)
    for bad in (truncated, garbage, foreign, tmp_path / "missing.pt"):
        with pytest.raises(CheckpointError) as info:
            load_checkpoint(bad)
        assert str(bad) in str(info.value) and "\n" not in str(info.value)


def test_a_failed_save_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    path = save_checkpoint(tmp_path / "last.pt", {"loop": {"iteration": 1}})

    def broken_save(obj, f):
        f.write(b"partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(OSError):
        save_checkpoint(path, {"loop": {"iteration": 2}})
    monkeypatch.undo()
    assert load_checkpoint(path)["loop"]["iteration"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]
