"""The `best` preset's parts: augmentation on the device, EMA weights, exact resume, previews, TTA, ensembles.

Small synthetic data (tests/synthetic.py) read by the real loader; no timed assertions.
"""

from __future__ import annotations

import json

import pytest
import torch

from mnist_tui.cli import main
from mnist_tui.config import ConfigError, TrainConfig, preset_config
from mnist_tui.engine import events as ev
from mnist_tui.engine.augment import BACKGROUND, TTA_VIEWS, Ema, affine, random_affine, tta_probabilities
from mnist_tui.engine.checkpoints import load_checkpoint
from mnist_tui.engine.control import Control
from mnist_tui.cli.ensemble import members
from mnist_tui.engine.ensemble import evaluate_runs
from mnist_tui.engine.models import build_model, count_parameters
from mnist_tui.runs.start import make_trainer


def best_config(synthetic_dir, run_dir, **kw) -> TrainConfig:
    """The best preset, shrunk to the synthetic data: the fast net, a few short epochs, an evaluation every 4 steps."""
    values = {
        "dataset": str(synthetic_dir),
        "model": "fast",
        "epochs": 2,
        "batch_size": 50,
        "eval_every": 4,
        "device": "cpu",
        "seed": 5,
        "ema": 0.9,
        "metrics_interval": 0.0,
        "run_dir": str(run_dir),
    }
    values.update(kw)
    return preset_config("best", **values)


def run_all(cfg: TrainConfig, control: Control | None = None) -> list[ev.Event]:
    return list(make_trainer(cfg, control).run())


def of(events, cls):
    return [e for e in events if isinstance(e, cls)]


def losses(events) -> list[float]:
    return [loss for step in of(events, ev.StepMetrics) for loss in step.losses]


def digits(n: int = 8) -> torch.Tensor:
    """Blank images (the normalised background) with one bright 3x3 blob at (6, 6): easy to follow."""
    x = torch.full((n, 1, 28, 28), BACKGROUND)
    x[:, :, 5:8, 5:8] = 1.0
    return x.contiguous(memory_format=torch.channels_last)


def centre_of_mass(x: torch.Tensor) -> torch.Tensor:
    """[N, 2] (row, column) of the ink of each image."""
    ink = (x[:, 0] - BACKGROUND).clamp(min=0)
    rows = torch.arange(28.0)
    total = ink.sum((1, 2))
    return torch.stack([(ink.sum(2) * rows).sum(1) / total, (ink.sum(1) * rows).sum(1) / total], 1)


# The preset ------------------------------------------------------------------------------------------------
def test_best_preset_keeps_its_final_weights_and_the_other_presets_are_untouched():
    best = preset_config("best")
    assert best.model == "best" and best.ema > 0 and best.aug_rotate > 0 and best.aug_scale > 0 and best.aug_shift > 0
    assert not best.early_stopping.enabled and not best.early_stopping.restore_best
    assert 200_000 <= count_parameters(build_model("best")) <= 1_500_000
    for name in ("tutorial", "fast"):  # what they computed before: no augmentation, no weight average
        cfg = preset_config(name)
        assert (cfg.aug_rotate, cfg.aug_scale, cfg.aug_shift, cfg.ema) == (0, 0, 0, 0)


@pytest.mark.parametrize(
    "flag, value", [("aug_rotate", -1.0), ("aug_scale", 1.0), ("aug_shift", 20.0), ("ema", 1.0), ("ema", -0.5)]
)
def test_out_of_range_options_name_their_flag(flag, value):
    with pytest.raises(ConfigError, match=f"--{flag.replace('_', '-')} "):
        TrainConfig(**{flag: value})


def test_cli_flags_override_the_preset(capsys):
    from mnist_tui.cli.train import config_from_args
    from mnist_tui.cli.train import parser as train_parser

    args = train_parser().parse_args(["--preset", "best", "--aug-rotate", "0", "--ema", "0.99"])
    cfg = config_from_args(args)
    assert (cfg.aug_rotate, cfg.aug_scale, cfg.ema, cfg.model) == (0.0, 0.1, 0.99, "best")
    with pytest.raises(SystemExit) as exit_:
        main(["--preset", "best", "--aug-scale", "2"])
    assert exit_.value.code == 2
    assert capsys.readouterr().err.strip().count("\n") == 0


def test_help_lists_every_preset_with_its_accuracy_and_time(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    for name in ("tutorial", "fast", "best"):
        assert f"  {name} " in out
    assert "99.7" in out and "ensemble" in out


# Augmentation ----------------------------------------------------------------------------------------------
def test_augmentation_keeps_shape_dtype_and_layout_and_differs_per_image():
    x = digits()
    out = random_affine(x, torch.Generator().manual_seed(0), degrees=10, scale=0.1, shift=2.5)
    assert out.shape == x.shape and out.dtype == x.dtype
    assert out.is_contiguous(memory_format=torch.channels_last)
    assert not torch.equal(out, x)
    flat = out.flatten(1)
    assert all(not torch.equal(flat[0], flat[i]) for i in range(1, len(flat)))  # one draw per image
    assert out.min() >= BACKGROUND - 1e-5 and out.max() <= 1 + 1e-5  # what falls in is background


def test_augmentation_is_deterministic_under_a_seed():
    x = digits()
    a = random_affine(x, torch.Generator().manual_seed(3), degrees=10, scale=0.1, shift=2)
    b = random_affine(x, torch.Generator().manual_seed(3), degrees=10, scale=0.1, shift=2)
    c = random_affine(x, torch.Generator().manual_seed(4), degrees=10, scale=0.1, shift=2)
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_zero_ranges_are_the_identity_and_draw_nothing():
    x = digits()
    gen = torch.Generator().manual_seed(0)
    state = gen.get_state()
    assert random_affine(x, gen) is x
    assert torch.equal(gen.get_state(), state)
    assert torch.allclose(affine(x, 0.0, 1.0, 0.0, 0.0), x, atol=1e-4)  # the identity transform, computed


def test_no_flips_the_ink_stays_near_where_it_was():
    x = digits(64)
    out = random_affine(x, torch.Generator().manual_seed(1), degrees=10, scale=0.1, shift=2.5)
    before, after = centre_of_mass(x), centre_of_mass(out)
    # A mirror image would put the blob at column or row 21, fifteen pixels away; these stay within a few.
    assert (after - before).abs().max() < 5


def test_a_shift_moves_the_ink_by_that_many_pixels():
    x = digits(1)
    moved = affine(x, 0.0, 1.0, 2.0, 1.0)
    assert torch.allclose(centre_of_mass(moved) - centre_of_mass(x), torch.tensor([[1.0, 2.0]]), atol=1e-3)


# EMA -------------------------------------------------------------------------------------------------------
def test_ema_averages_parameters_and_batch_norm_buffers():
    torch.manual_seed(0)
    model = build_model("fast")
    ema = Ema(model, decay=0.5)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    for _ in range(3):
        loss = model(torch.randn(8, 1, 28, 28)).logsumexp(1).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        ema.update()
    raw, avg = model.state_dict(), ema.module.state_dict()
    assert ema.updates == 3
    assert not torch.equal(raw["0.weight"], avg["0.weight"])
    assert not torch.equal(raw["1.running_mean"], avg["1.running_mean"])  # buffers are averaged too
    assert torch.equal(raw["1.num_batches_tracked"], avg["1.num_batches_tracked"])  # counts are copied


def test_the_ema_weights_are_what_is_evaluated_saved_and_reported(synthetic_dir, tmp_path):
    events = run_all(best_config(synthetic_dir, tmp_path / "run"))
    finished = events[-1]
    assert finished.reason == ev.Reason.COMPLETED and finished.weights == "last"
    checkpoint = load_checkpoint(tmp_path / "run" / "checkpoints" / "last.pt")
    assert checkpoint["ema"]["updates"] == finished.iteration
    trained = checkpoint["ema"]["training_model"]
    assert any(not torch.equal(checkpoint["model"][k], trained[k]) for k in trained)
    # The saved "model" (the average) gives the accuracy the run reported, and the raw weights do not.
    result = evaluate_runs(members([tmp_path / "run"]), device="cpu")
    last = of(events, ev.Evaluation)[-1]
    assert last.split == ev.TEST  # the preset holds out no validation set (--val-split 0): nothing to decide
    assert result.accuracies[0] == finished.final_accuracy == last.accuracy


def test_without_ema_the_checkpoint_holds_the_trained_weights(synthetic_dir, tmp_path):
    events = run_all(best_config(synthetic_dir, tmp_path / "run", ema=0.0, epochs=1))
    checkpoint = load_checkpoint(tmp_path / "run" / "checkpoints" / "last.pt")
    assert checkpoint["ema"] is None
    assert evaluate_runs(members([tmp_path / "run"]), device="cpu").accuracies[0] == events[-1].final_accuracy


# Resume ----------------------------------------------------------------------------------------------------
def test_resume_of_an_augmented_ema_run_is_exact(synthetic_dir, tmp_path):
    whole = run_all(best_config(synthetic_dir, tmp_path / "whole"))
    control = Control()
    part = []
    for event in make_trainer(best_config(synthetic_dir, tmp_path / "part"), control).run():
        part.append(event)
        if isinstance(event, ev.StepMetrics) and event.iteration == 7:
            control.stop()  # seen before step 8: the run stops mid-epoch, between two evaluations
    assert part[-1].reason == ev.Reason.STOPPED and part[-1].iteration == 7
    resumed = list(make_trainer(None, resume=tmp_path / "part").run())
    assert losses(part) == losses(whole)[:7]
    assert losses(resumed) == losses(whole)[7:]  # the same augmented images, step for step
    assert resumed[-1].final_accuracy == whole[-1].final_accuracy
    assert resumed[-1].iteration == whole[-1].iteration
    a = load_checkpoint(tmp_path / "whole" / "checkpoints" / "last.pt")
    b = load_checkpoint(tmp_path / "part" / "checkpoints" / "last.pt")
    for key in a["model"]:
        assert torch.equal(a["model"][key], b["model"][key]), key
    for key in a["ema"]["training_model"]:
        assert torch.equal(a["ema"]["training_model"][key], b["ema"]["training_model"][key]), key
    assert a["ema"]["updates"] == b["ema"]["updates"]
    assert torch.equal(a["rng"]["augment"], b["rng"]["augment"])


# Previews --------------------------------------------------------------------------------------------------
def test_previews_show_the_augmented_digits_at_the_start_and_each_epoch(synthetic_dir, tmp_path):
    events = run_all(best_config(synthetic_dir, tmp_path / "run", epochs=3))
    previews = of(events, ev.Previews)
    plain, augmented = previews[0], previews[1:]
    assert plain.train_note == "" and plain.test_images
    assert [p.train_note for p in augmented] == [f"augmented, as fed in epoch {e}" for e in (1, 2, 3)]
    for p in augmented:
        assert p.test_images == () and p.train_labels == plain.train_labels
        assert len(p.train_images) == len(plain.train_images)
        assert all(len(img) == 28 * 28 for img in p.train_images)
        assert p.train_images != plain.train_images
    assert augmented[0].train_images != augmented[1].train_images  # fresh each epoch
    # Written to metrics.jsonl and read back like every event.
    lines = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    notes = [ev.event_from_dict(line).train_note for line in lines if line["event"] == "previews"]
    assert notes == [p.train_note for p in previews]


def test_without_augmentation_there_is_one_plain_preview(synthetic_dir, tmp_path):
    cfg = best_config(synthetic_dir, tmp_path / "run", aug_rotate=0.0, aug_scale=0.0, aug_shift=0.0, epochs=1)
    previews = of(run_all(cfg), ev.Previews)
    assert len(previews) == 1 and previews[0].train_note == ""


def test_the_app_takes_augmented_previews_without_clearing_the_test_strip():
    import asyncio

    from helpers.ui import make_app, wait_for

    from helpers.scripted import DemoRun

    demo = DemoRun(hold_at=45)
    blob = bytes(range(256)) * 3 + bytes(16)

    def source(control):
        sent = False
        for event in demo(control):
            yield event
            if isinstance(event, ev.Evaluation) and not sent:
                sent = True
                yield ev.Previews((blob,) * 5, (1,) * 5, (), (), train_note="augmented, as fed in epoch 2")

    async def scenario():
        app = make_app(source)
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_for(pilot, lambda: app.train_digits.note != "")
            await wait_for(pilot, lambda: bool(app.predictions.predictions))
            assert app.train_digits.images == (blob,) * 5
            assert "augmented, as fed in epoch 2" in str(app.train_digits.border_subtitle)
            assert len(app.predictions.images) == demo.n_test_previews  # the test strip kept its digits
            app.control.stop()

    asyncio.run(asyncio.wait_for(scenario(), timeout=60))


# TTA and ensembles -----------------------------------------------------------------------------------------
def test_tta_gives_probabilities_of_the_right_shape():
    torch.manual_seed(0)
    model = build_model("fast").eval()
    x = digits(10)
    probs = tta_probabilities(model, x, batch=4)
    assert probs.shape == (10, 10)
    assert torch.allclose(probs.sum(1), torch.ones(10), atol=1e-5)
    single = tta_probabilities(model, x, batch=4, views=TTA_VIEWS[:1])
    with torch.inference_mode():
        assert torch.allclose(single, torch.softmax(model(x), 1), atol=1e-6)


@pytest.fixture(scope="module")
def two_runs(synthetic_dir, tmp_path_factory):
    base = tmp_path_factory.mktemp("ensemble")
    runs = []
    for seed in (1, 2):
        cfg = best_config(synthetic_dir, base / f"seed-{seed}", seed=seed, epochs=1)
        finished = run_all(cfg)[-1]
        assert finished.reason == ev.Reason.COMPLETED
        runs.append((base / f"seed-{seed}", finished.final_accuracy))
    return runs


def test_ensemble_command_prints_each_run_and_the_combined_accuracy(two_runs, capsys):
    assert main(["ensemble", *(str(r) for r, _ in two_runs), "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    for run, accuracy in two_runs:
        assert str(run) in out and f"{accuracy:.2%}" in out
    assert "ensemble of 2 (mean softmax)" in out and "no test-time augmentation" in out


def test_ensemble_with_tta_runs(two_runs, capsys):
    assert main(["ensemble", str(two_runs[0][0]), "--tta", "--device", "cpu"]) == 0
    assert f"test-time augmentation, {len(TTA_VIEWS)} views" in capsys.readouterr().out


@pytest.mark.parametrize("bad", ["missing", "empty"])
def test_ensemble_of_a_bad_run_dir_is_one_line_and_exit_code_2(two_runs, tmp_path, capsys, bad):
    path = tmp_path / bad
    if bad == "empty":
        path.mkdir()
    with pytest.raises(SystemExit) as exit_:
        main(["ensemble", str(two_runs[0][0]), str(path), "--device", "cpu"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("mnist-tui: error: ") and err.count("\n") == 1 and str(path) in err
