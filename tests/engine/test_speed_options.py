"""The speed options of the GPU path (bf16 autocast, torch.compile), and their fallbacks, exercised on CPU."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from helpers.engine import config, of, run_all

from mnist_tui.config import ConfigError, TrainConfig
from mnist_tui.engine import events as ev
from mnist_tui.engine.device import autocast_dtype


def test_amp_auto_is_full_precision_and_bf16_only_where_supported(monkeypatch):
    cpu, gpu = torch.device("cpu"), torch.device("cuda", 0)
    assert autocast_dtype(cpu, "auto") == (None, None)
    assert autocast_dtype(cpu, "off") == (None, None)
    assert autocast_dtype(cpu, "bf16") == (torch.bfloat16, None)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "Some GPU")
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    assert autocast_dtype(gpu, "auto") == (None, None)  # bf16 made these small networks slower on an H100
    assert autocast_dtype(gpu, "bf16") == (torch.bfloat16, None)
    assert autocast_dtype(gpu, "off") == (None, None)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    assert autocast_dtype(gpu, "auto") == (None, None)
    dtype, note = autocast_dtype(gpu, "bf16")
    assert dtype is None and "Some GPU has no bf16 support" in note
    dtype, note = autocast_dtype(torch.device("mps"), "bf16")
    assert dtype is None and "mps" in note


def test_bad_speed_options_are_refused_by_name():
    with pytest.raises(ConfigError, match="--amp must be one of"):
        TrainConfig(amp="fp8")
    with pytest.raises(ConfigError, match="--compile must be one of"):
        TrainConfig(compile="fast")


def test_bf16_autocast_trains_on_cpu(synthetic_dir: Path, tmp_path: Path):
    events = run_all(config(synthetic_dir, tmp_path / "run", amp="bf16", max_steps=6, eval_every=3))
    finished = of(events, ev.RunFinished)[-1]
    assert finished.reason == ev.Reason.COMPLETED and finished.final_accuracy is not None
    assert all(torch.isfinite(torch.tensor(s.losses)).all() for s in of(events, ev.StepMetrics))


def test_a_failing_compile_falls_back_to_eager_with_a_log_line(synthetic_dir: Path, tmp_path: Path, monkeypatch):
    def no_compiler(model, mode=None):
        raise RuntimeError("Compiler: cc not found\nmore detail")

    monkeypatch.setattr(torch, "compile", no_compiler)
    events = run_all(config(synthetic_dir, tmp_path / "run", compile="reduce-overhead", max_steps=6, eval_every=3))
    assert of(events, ev.RunFinished)[-1].reason == ev.Reason.COMPLETED
    (line,) = [e for e in of(events, ev.Log) if "--compile" in e.message]
    assert line.level == "warning"
    assert line.message == (
        "--compile reduce-overhead failed (RuntimeError: Compiler: cc not found); training without it"
    )


class Wrapped(torch.nn.Module):
    """Stands in for torch.compile's result: the same parameters, called through another module."""

    def __init__(self, inner: torch.nn.Module) -> None:
        super().__init__()
        self.inner = inner
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        return self.inner(x)


def test_the_compiled_model_trains_and_its_warm_up_leaves_no_trace(synthetic_dir: Path, tmp_path: Path, monkeypatch):
    """Same seed, compiled or not: the same losses (the warm-up restores BN buffers and the RNG)."""
    plain = run_all(config(synthetic_dir, tmp_path / "plain", max_steps=8, eval_every=4))
    wrapped: list[Wrapped] = []
    monkeypatch.setattr(torch, "compile", lambda model, mode=None: wrapped.append(Wrapped(model)) or wrapped[-1])
    compiled = run_all(config(synthetic_dir, tmp_path / "compiled", compile="default", max_steps=8, eval_every=4))
    assert wrapped and wrapped[0].calls == 1 + 8  # the warm-up, then every training step
    assert [e.message for e in of(compiled, ev.Log) if "compiled the model" in e.message]

    def losses(events):
        return [loss for s in of(events, ev.StepMetrics) for loss in s.losses]

    assert losses(compiled) == losses(plain)

    def accuracies(events):
        return [(e.split, e.iteration, e.accuracy) for e in of(events, ev.Evaluation)]

    assert {split for split, _, _ in accuracies(plain)} == {ev.VALIDATION, ev.TEST}
    assert accuracies(compiled) == accuracies(plain)


def test_evaluation_folds_batch_norm_into_the_convolutions_and_computes_the_same_logits():
    from mnist_tui.engine.analysis import predict
    from mnist_tui.engine.models import build_model, fold_batch_norm

    torch.manual_seed(0)
    model = build_model("fast")
    model(torch.randn(64, 1, 28, 28))  # train mode: batch-norm statistics move away from 0 and 1
    model.eval()
    folded = fold_batch_norm(model)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in folded.modules())
    assert sum(isinstance(m, torch.nn.Conv2d) for m in folded.modules()) == 4
    x = torch.randn(300, 1, 28, 28)
    with torch.inference_mode():
        expected = model(x)
    assert torch.allclose(predict(model, x, 128), expected, atol=1e-5)
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())  # the model itself is untouched
    tutorial = build_model("tutorial").eval()
    assert fold_batch_norm(tutorial) is tutorial  # nothing to fold
    assert fold_batch_norm(model.train()) is model  # training mode: batch statistics, no folding


def test_the_fast_presets_network_pools_before_its_batch_norms_and_folds_only_where_that_is_exact():
    from mnist_tui.engine.analysis import predict
    from mnist_tui.engine.models import build_model, count_parameters, fold_batch_norm

    torch.manual_seed(0)
    quick = build_model("quick")
    assert count_parameters(quick) == count_parameters(build_model("lean"))  # the same convolutions and head
    kinds = [type(m).__name__ for m in quick]
    pools = [i for i, kind in enumerate(kinds) if kind == "MaxPool2d"]
    assert len(pools) == 2 and all(kinds[i - 1] == "Conv2d" and kinds[i + 1] == "BatchNorm2d" for i in pools)
    quick(torch.randn(64, 1, 28, 28))  # train mode: batch-norm statistics move away from 0 and 1
    quick.eval()
    folded = fold_batch_norm(quick)
    # A batch norm after a max-pool stays: its scale may be negative, and max-pool and a negative scale don't commute.
    assert sum(isinstance(m, torch.nn.BatchNorm2d) for m in folded.modules()) == 2
    x = torch.randn(300, 1, 28, 28)
    with torch.inference_mode():
        expected = quick(x)
    assert expected.shape == (300, 10)
    assert torch.allclose(predict(quick, x, 128), expected, atol=1e-5)


def test_evaluation_batch_size_per_device():
    from mnist_tui.engine.device import eval_batch_size

    assert eval_batch_size(torch.device("cpu")) == 250
    assert eval_batch_size(torch.device("cuda", 0)) == 10_000
    assert eval_batch_size(torch.device("cpu"), 64) == 64
