"""The CUDA-graph training step (engine/graphs.py), exercised on CPU wherever its logic allows.

Recording and replaying a graph needs a GPU (benchmarks/gpu_check.sh covers that on one); what does not
is tested here: when graphs are used, the warm-up before recording leaving no trace, the fallback when
recording fails, and checkpoints moving between GPU and CPU runs.
"""

from __future__ import annotations

import json

import pytest
import torch
from helpers.engine import config, of, run_all

from mnist_tui.cli.train import config_from_args
from mnist_tui.cli.train import parser as train_parser
from mnist_tui.config import ConfigError, TrainConfig
from mnist_tui.engine import events as ev
from mnist_tui.engine import speed as speed_mod
from mnist_tui.engine.checkpoints import load_checkpoint, save_checkpoint
from mnist_tui.engine.device import use_cuda_graphs
from mnist_tui.engine.graphs import GraphedStep
from mnist_tui.engine.models import build_model
from mnist_tui.runs.rundir import RunDirectory
from mnist_tui.runs.start import make_trainer

CPU, GPU = torch.device("cpu"), torch.device("cuda", 0)


def test_graphs_are_on_for_cuda_without_compile_and_say_why_not_when_asked_for():
    assert use_cuda_graphs(GPU, "auto", "off") == (True, None)
    assert use_cuda_graphs(GPU, "on", "off") == (True, None)
    assert use_cuda_graphs(GPU, "off", "off") == (False, None)
    assert use_cuda_graphs(GPU, "auto", "reduce-overhead") == (False, None)
    assert use_cuda_graphs(CPU, "auto", "off") == (False, None)
    on, note = use_cuda_graphs(CPU, "on", "off")
    assert not on and note == "--cuda-graphs on: no CUDA graphs on cpu; training without them"
    on, note = use_cuda_graphs(GPU, "on", "default")
    assert not on and note == "--cuda-graphs on: not with --compile default; training without them"


def test_cuda_graphs_option_from_the_command_line_and_refused_by_name():
    assert config_from_args(train_parser().parse_args(["--cuda-graphs", "off"])).cuda_graphs == "off"
    assert TrainConfig().cuda_graphs == "auto"
    with pytest.raises(ConfigError, match="--cuda-graphs must be one of auto, on, off, got 'yes'"):
        TrainConfig(cuda_graphs="yes")


def _batch(seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(16, 1, 28, 28, generator=g), torch.randint(0, 10, (16,), generator=g)


def _losses(model, optimizer, n: int) -> list[float]:
    out = []
    for i in range(n):
        x, y = _batch(100 + i)
        optimizer.zero_grad(set_to_none=True)
        loss = torch.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
        out.append(loss.item())
    return out


@pytest.mark.parametrize("model_name", ["tutorial", "fast"])  # dropout (the RNG); batch norm (its buffers)
@pytest.mark.parametrize("trained_before", [False, True])  # Adam without state yet, and with
def test_the_warm_up_before_recording_leaves_no_trace(model_name, trained_before, monkeypatch):
    """The warm-up trains for real; a failed recording after it must leave the run as it found it."""

    def setup():
        torch.manual_seed(0)
        model = build_model(model_name)
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, weight_decay=1e-3)
        if trained_before:
            _losses(model, optimizer, 2)
        return model, optimizer

    model, optimizer = setup()
    reference = _losses(model, optimizer, 3)

    def no_graph():
        raise RuntimeError("no CUDA graphs here")

    monkeypatch.setattr(torch.cuda, "CUDAGraph", no_graph)
    model, optimizer = setup()
    steps = []

    def step(x, y):
        steps.append(1)
        loss = torch.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
        return loss.detach()

    with pytest.raises(RuntimeError, match="no CUDA graphs here"):
        GraphedStep(step, _batch(7), model, optimizer)
    assert len(steps) == 3  # the warm-up ran, and changed weights, statistics, Adam and the RNG
    assert all(p.grad is None for p in model.parameters())
    assert _losses(model, optimizer, 3) == reference


def test_a_failed_recording_falls_back_to_eager_with_a_log_line_and_the_same_run(synthetic_dir, tmp_path, monkeypatch):
    """The warm-up runs (it changes batch-norm statistics), then the recording fails: the fallback path."""
    kw = dict(model="fast", batch_size=64, epochs=2, eval_every=5)  # 550 digits: a short last batch per epoch
    plain = run_all(config(synthetic_dir, tmp_path / "plain", **kw))

    def no_graph():
        raise RuntimeError("no CUDA graphs here\nmore detail")

    monkeypatch.setattr(torch.cuda, "CUDAGraph", no_graph)
    monkeypatch.setattr(speed_mod, "use_cuda_graphs", lambda device, mode, compile_mode: (True, None))
    fell_back = run_all(config(synthetic_dir, tmp_path / "graphs", **kw))
    (line,) = [e for e in of(fell_back, ev.Log) if "CUDA graph" in e.message]
    assert line.level == "warning"
    assert line.message == "CUDA graph recording failed (RuntimeError: no CUDA graphs here); training without it"

    def losses(events):
        return [loss for s in of(events, ev.StepMetrics) for loss in s.losses]

    assert fell_back[-1].reason == ev.Reason.COMPLETED
    assert losses(fell_back) == losses(plain)
    def evaluations(events):
        return [(e.split, e.iteration, e.loss) for e in of(events, ev.Evaluation)]

    assert {split for split, _, _ in evaluations(plain)} == {ev.VALIDATION, ev.TEST}
    assert evaluations(fell_back) == evaluations(plain)


def test_running_out_of_memory_while_recording_is_the_runs_out_of_memory_error(synthetic_dir, tmp_path, monkeypatch):
    def out_of_memory(*args, **kwargs):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 392.00 MiB.")

    monkeypatch.setattr(speed_mod, "use_cuda_graphs", lambda device, mode, compile_mode: (True, None))
    monkeypatch.setattr(speed_mod, "GraphedStep", out_of_memory)
    events = run_all(config(synthetic_dir, tmp_path / "run"))
    assert [e for e in of(events, ev.Log) if "CUDA graph" in e.message] == []
    finished = events[-1]
    assert finished.reason == ev.Reason.FAILED and finished.bad_input
    assert finished.message.startswith("cpu ran out of memory at iteration 0: try a smaller --batch-size")


def test_a_checkpoint_from_a_gpu_run_resumes_on_a_cpu(synthetic_dir, tmp_path):
    """A GPU run saves a fused Adam: resumed on a CPU it trains on, the same."""
    whole = run_all(config(synthetic_dir, tmp_path / "whole"))
    run_all(config(synthetic_dir, tmp_path / "part", max_steps=11))  # the end of epoch 1 (550 digits, batch 50)
    run = RunDirectory(tmp_path / "part")
    checkpoint = load_checkpoint(run.last_checkpoint)
    for group in checkpoint["optimizer"]["param_groups"]:  # as configure_adam leaves it on a GPU
        group["fused"] = True
    save_checkpoint(run.last_checkpoint, checkpoint)
    saved = json.loads((run.path / "config.json").read_text())
    saved["max_steps"] = None
    (run.path / "config.json").write_text(json.dumps(saved))
    resumed = list(make_trainer(None, resume=run.path).run())
    assert resumed[-1].reason == ev.Reason.COMPLETED
    after = [e for e in of(whole, ev.Evaluation) if e.iteration > 11]
    assert [(e.split, e.iteration) for e in of(resumed, ev.Evaluation)] == [(e.split, e.iteration) for e in after]
    assert [e.loss for e in of(resumed, ev.Evaluation)] == pytest.approx([e.loss for e in after], rel=1e-5)
