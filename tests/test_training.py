"""The Trainer on the toy model: exact resume, checkpoints, NaN stops, logs, grids, growing, export."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from torch.utils.data import TensorDataset

import genae
from genae.testing.toy_recipe import ToyRecipe
from genae.training import Trainer, TrainingDiverged
from genae.training import checkpoint as checkpoint_module
from genae.training.checkpoint import CheckpointError, load_checkpoint

RESOLUTION = 16


@pytest.fixture(scope="module")
def data() -> TensorDataset:
    generator = torch.Generator().manual_seed(123)
    return TensorDataset(torch.rand(40, 1, RESOLUTION, RESOLUTION, generator=generator) * 2 - 1)


def make_trainer(name, data, out_dir, recipe_class=ToyRecipe, options=None, **kwargs) -> Trainer:
    torch.manual_seed(0)
    model = genae.create(name, resolution=RESOLUTION, width=8)
    recipe = recipe_class(model, **(options or {}))
    defaults = dict(log_every=1, grid_every=None, checkpoint_every=None, progress=False)
    return Trainer(model, recipe, data, out_dir=out_dir, **{**defaults, **kwargs})


def read_metrics(out_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (out_dir / "metrics.jsonl").read_text().splitlines()]


def losses_of(records: list[dict]) -> list[tuple[int, dict]]:
    return [(r["step"], r["losses"]) for r in records]


GROWING = {"grow_images_per_phase": 16}  # phases 4, 8, 16 px: two steps of 8 images each


@pytest.mark.parametrize(
    ("options", "workers", "log_every", "precision"),
    [({}, 0, 1, "fp32"), (GROWING, 0, 2, "fp32"), (GROWING, 2, 1, "fp32"), (GROWING, 0, 1, "bf16")],
    ids=["single", "growing-log-every-2", "workers", "bf16"],
)
def test_resume_reproduces_the_uninterrupted_run_exactly(toy_name, data, tmp_path, options, workers, log_every,
                                                         precision, monkeypatch):
    # bf16 is allowed on CPUs without bf16 units too (emulated-AVX2 pass): what is tested is exactness, not speed.
    monkeypatch.setattr(genae.precision, "bf16_support", lambda device: genae.precision.Bf16Support(True, "test"))
    straight = make_trainer(toy_name, data, tmp_path / "a", options=options, steps=8, log_every=log_every,
                            precision=precision)
    straight.fit()
    # 3 + 5 steps: the break falls mid-epoch (5 batches per epoch), mid log window when logging every 2
    # steps, and, when growing, mid-fade of phase 1.
    kwargs = dict(options=options, num_workers=workers, log_every=log_every, precision=precision)
    make_trainer(toy_name, data, tmp_path / "b", steps=3, **kwargs).fit()
    resumed = make_trainer(toy_name, data, tmp_path / "b", steps=8, **kwargs)
    resumed.fit(resume=True)
    assert losses_of(read_metrics(tmp_path / "b")) == losses_of(read_metrics(tmp_path / "a"))
    for key, value in straight.model.state_dict().items():
        assert torch.equal(value, resumed.model.state_dict()[key]), key
    for key, value in straight.ema.shadow["decoder"].items():
        assert torch.equal(value, resumed.ema.shadow["decoder"][key]), key
    if options:
        assert [p.index for p in resumed.recipe.phases_started] == [1, 2]  # re-announced after resume


def test_growing_run_feeds_phase_resolution_lr_and_alpha(toy_name, data, tmp_path):
    seen = []

    class Recording(ToyRecipe):
        def build_optimizers(self):
            self.built = super().build_optimizers()
            return self.built

        def train_step(self, images, ctx):
            group_lr = self.built["model"].param_groups[0]["lr"]
            seen.append((images.shape[-1], ctx.phase.alpha, images.shape[0], group_lr, ctx.images_seen))
            return super().train_step(images, ctx)

    options = {**GROWING, "lr": 1e-3}
    trainer = make_trainer(toy_name, data, tmp_path, recipe_class=Recording, options=options, steps=6)
    trainer.fit()
    assert [s[0] for s in seen] == [4, 4, 8, 8, 16, 16]
    assert [s[1] for s in seen] == [1.0, 1.0, 0.0, 1.0, 0.0, 1.0]  # fade_images = 8: one step of fading
    assert {s[2] for s in seen} == {8} and {s[3] for s in seen} == {1e-3}
    assert [s[4] for s in seen] == [0, 8, 16, 24, 32, 40]
    assert [p.resolution for p in trainer.recipe.phases_started] == [4, 8, 16]
    records = read_metrics(tmp_path)
    assert [(r["phase"], r["resolution"], r["alpha"]) for r in records] == [
        (0, 4, 1.0), (0, 4, 1.0), (1, 8, 0.0), (1, 8, 1.0), (2, 16, 0.0), (2, 16, 1.0)
    ]


def test_metrics_log_grids_and_export(toy_name, data, tmp_path):
    trainer = make_trainer(toy_name, data, tmp_path, total_images=48, log_every=2, grid_every=3)
    result = trainer.fit()
    assert (result.steps, result.images_seen) == (6, 48)
    records = read_metrics(tmp_path)
    assert [r["step"] for r in records] == [2, 4, 6]
    assert [r["images_seen"] for r in records] == [16, 32, 48]
    for record in records:
        assert set(record) >= {"step", "images_seen", "phase", "alpha", "losses", "images_per_s", "resolution"}
        assert set(record["losses"]) == {"reconstruction", "latent"}
        assert record["images_per_s"] > 0
    assert sorted(p.name for p in (tmp_path / "grids").iterdir()) == ["step00000003.png", "step00000006.png"]
    from PIL import Image

    with Image.open(tmp_path / "grids" / "step00000006.png") as grid:  # 3 rows of 8 images, scaled x4
        assert grid.size == (8 * 64 + 9 * 2 * 4, 3 * 64 + 4 * 2 * 4)
    loaded = genae.load(tmp_path / "model")
    assert loaded.card["images_seen"] == 48 and "TensorDataset" in loaded.card["dataset"]
    # exported weights are the EMA weights of the decoder and the raw weights of the encoder
    with trainer.ema.swapped(trainer.model):
        expected = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    for key, value in loaded.state_dict().items():
        assert torch.equal(value, expected[key]), key
    assert not torch.equal(loaded.decoder.to_image.weight, trainer.model.decoder.to_image.weight)


def test_crash_while_saving_keeps_the_previous_checkpoint(toy_name, data, tmp_path, monkeypatch):
    trainer = make_trainer(toy_name, data, tmp_path, steps=4, checkpoint_every=2)
    trainer.fit()
    assert load_checkpoint(tmp_path)["step"] == 4
    assert load_checkpoint(tmp_path)["model"].keys() == trainer.model.state_dict().keys()

    def crashing_save(obj, handle):
        handle.write(b"half a checkpoint")
        raise OSError("write failed")

    monkeypatch.setattr(checkpoint_module.torch, "save", crashing_save)
    trainer.step = 99
    with pytest.raises(OSError, match="write failed"):
        trainer.save_checkpoint()
    monkeypatch.undo()
    assert load_checkpoint(tmp_path)["step"] == 4
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_file()) == [
        "checkpoint.prev.pt", "checkpoint.pt", "metrics.jsonl"
    ]
    # a torn checkpoint.pt (e.g. a copy cut short) falls back to the previous one, with a warning
    (tmp_path / "checkpoint.pt").write_bytes(b"garbage")
    with pytest.warns(RuntimeWarning, match="checkpoint.prev.pt"):
        assert load_checkpoint(tmp_path)["step"] == 2
    (tmp_path / "checkpoint.prev.pt").unlink()
    with pytest.raises(CheckpointError, match="no usable checkpoint"):
        load_checkpoint(tmp_path)


class DivergingRecipe(ToyRecipe):
    """Multiplies the loss by NaN at step 5: real NaN gradients then poison the weights."""

    def train_step(self, images, ctx):
        if ctx.step == 4:
            z = self.model.encoder(images)
            loss = (self.model.decoder(z) - images).pow(2).mean() * float("nan")
            ctx.optimize("model", loss)
            return {"reconstruction": 0.5, "latent": loss.item()}
        return super().train_step(images, ctx)


def test_nan_stops_with_a_clear_message_and_keeps_the_last_good_checkpoint(toy_name, data, tmp_path):
    trainer = make_trainer(toy_name, data, tmp_path, recipe_class=DivergingRecipe, steps=10, checkpoint_every=2)
    with pytest.raises(TrainingDiverged, match=r"'latent' is nan at step 5 .*checkpoint.pt \(step 4\)"):
        trainer.fit()
    assert any(not torch.isfinite(p).all() for p in trainer.model.parameters())  # the run really diverged
    state = load_checkpoint(tmp_path)
    assert state["step"] == 4
    assert all(torch.isfinite(v).all() for v in state["model"].values())
    assert [r["step"] for r in read_metrics(tmp_path)] == [1, 2, 3, 4]


def test_fit_refuses_to_overwrite_and_resume_needs_a_matching_model(toy_name, data, tmp_path):
    make_trainer(toy_name, data, tmp_path, steps=2).fit()
    with pytest.raises(FileExistsError, match="resume"):
        make_trainer(toy_name, data, tmp_path, steps=4).fit()
    torch.manual_seed(0)
    other = genae.create(toy_name, resolution=RESOLUTION, width=4)
    trainer = Trainer(other, ToyRecipe(other), data, out_dir=tmp_path, steps=4, progress=False)
    with pytest.raises(ValueError, match="width"):
        trainer.fit(resume=True)
    with pytest.raises(CheckpointError):
        make_trainer(toy_name, data, tmp_path / "empty", steps=2).fit(resume=True)


def test_interrupted_log_lines_past_the_checkpoint_are_dropped_on_resume(toy_name, data, tmp_path):
    make_trainer(toy_name, data, tmp_path, steps=3).fit()
    with open(tmp_path / "metrics.jsonl", "a") as handle:  # a crash after logging step 4, before saving
        handle.write(json.dumps({"step": 4, "losses": {}}) + "\n")
    make_trainer(toy_name, data, tmp_path, steps=5).fit(resume=True)
    assert [r["step"] for r in read_metrics(tmp_path)] == [1, 2, 3, 4, 5]
    assert all(r["losses"] for r in read_metrics(tmp_path))


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"steps": 2, "total_images": 16}, ValueError, "not both"),
        ({}, ValueError, "total_images or steps"),
        ({"steps": 0}, ValueError, "steps"),
        ({"steps": 2, "precision": "fp16"}, ValueError, "CUDA"),
        ({"steps": 2, "precision": "half"}, ValueError, "precision"),
        ({"steps": 2, "grad_clip": -1.0}, ValueError, "grad_clip"),
        ({"steps": 2, "log_every": 0}, ValueError, "log_every"),
        ({"steps": 2, "ddp": "yes"}, ValueError, "ddp"),
        ({"steps": 2, "ddp": True}, RuntimeError, "torchrun"),
        ({"steps": 2, "batch_size": 64}, ValueError, "larger than the dataset"),
    ],
)
def test_bad_trainer_arguments_are_named(toy_name, data, tmp_path, kwargs, error, message, monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    with pytest.raises(error, match=message):
        make_trainer(toy_name, data, tmp_path, **kwargs).fit()


def test_wrong_image_shape_and_unregistered_model(toy_name, tmp_path):
    wrong = TensorDataset(torch.zeros(16, 3, RESOLUTION, RESOLUTION))
    with pytest.raises(ValueError, match=r"\(3, 16, 16\).*\(1, 16, 16\)"):
        make_trainer(toy_name, wrong, tmp_path, steps=1).fit()
    from genae.testing.toy import ToyAutoencoder, ToyConfig

    bare = ToyAutoencoder(ToyConfig())
    with pytest.raises(ValueError, match="genae.create"):
        Trainer(bare, ToyRecipe(bare), wrong, out_dir=tmp_path, steps=1)


@pytest.mark.parametrize("scaled", [False, True], ids=["plain", "loss-scaled"])
def test_gradient_clipping_bounds_the_update(toy_name, data, tmp_path, scaled):
    class PlainSGD(ToyRecipe):
        def build_optimizers(self):
            return {"model": torch.optim.SGD(self.model.parameters(), lr=1.0)}

    trainer = make_trainer(
        toy_name, data, tmp_path, recipe_class=PlainSGD, options={"lr": 1.0, "ema_decay": None},
        steps=1, grad_clip=1e-3,
    )
    if scaled:  # the CUDA AMP code path, exercised with a CPU scaler: clipping must see unscaled gradients
        trainer.scalers["model"] = torch.amp.GradScaler("cpu", init_scale=1024.0)
    before = torch.cat([p.detach().flatten().clone() for p in trainer.model.parameters()])
    trainer.fit()
    after = torch.cat([p.detach().flatten() for p in trainer.model.parameters()])
    # SGD with lr 1 moves the weights by exactly the clipped gradient
    assert math.isclose(float((after - before).norm()), 1e-3, rel_tol=1e-3)


class GlobalRandomRecipe(ToyRecipe):
    """Draws from the global torch RNG both while training and while drawing grids."""

    def train_step(self, images, ctx):
        return super().train_step(images + 0.1 * torch.randn_like(images), ctx)

    def preview(self, images, latents, phase):
        return super().preview((images + 0.1 * torch.randn_like(images)).clamp(-1, 1), latents, phase)


def test_grids_and_checkpoints_do_not_change_training(toy_name, data, tmp_path):
    quiet = make_trainer(toy_name, data, tmp_path / "quiet", recipe_class=GlobalRandomRecipe, steps=4)
    quiet.fit()
    busy = make_trainer(
        toy_name, data, tmp_path / "busy", recipe_class=GlobalRandomRecipe, steps=4, grid_every=1, checkpoint_every=1
    )
    busy.fit()
    assert len(list((tmp_path / "busy" / "grids").iterdir())) == 4
    assert losses_of(read_metrics(tmp_path / "busy")) == losses_of(read_metrics(tmp_path / "quiet"))


def test_bf16_precision_trains_on_cpu_and_is_recorded(toy_name, data, tmp_path, monkeypatch):
    # What is tested is the recording, not speed: allow bf16 on CPUs without bf16 units (emulated-AVX2 pass).
    monkeypatch.setattr(genae.precision, "bf16_support", lambda device: genae.precision.Bf16Support(True, "test"))
    seen = []

    class RecordingRecipe(ToyRecipe):
        def train_step(self, images, ctx):
            with ctx.autocast():
                seen.append(torch.nn.functional.linear(images.flatten(1)[:, :4], torch.ones(2, 4)).dtype)
            return super().train_step(images, ctx)

    result = make_trainer(toy_name, data, tmp_path, recipe_class=RecordingRecipe, steps=2, precision="bf16").fit()
    assert seen == [torch.bfloat16, torch.bfloat16]
    card = genae.load(result.model_dir).card
    assert "on cpu (bf16)" in card["training"]
    assert all(p.dtype == torch.float32 for p in genae.load(result.model_dir).parameters())


def test_cpu_optimisers_step_all_tensors_at_once_with_the_same_updates(toy_name, data, tmp_path):
    class OneTensorAtATime(ToyRecipe):  # the recipe's explicit choice is kept
        def build_optimizers(self):
            optimizers = super().build_optimizers()
            for group in optimizers["model"].param_groups:
                group["foreach"] = False
            return optimizers

    default = make_trainer(toy_name, data, tmp_path / "default", steps=6)
    single = make_trainer(toy_name, data, tmp_path / "single", recipe_class=OneTensorAtATime, steps=6)
    assert [g["foreach"] for g in default.optimizers["model"].param_groups] == [True]
    assert [g["foreach"] for g in single.optimizers["model"].param_groups] == [False]
    default.fit()
    single.fit()
    for key, value in default.model.state_dict().items():
        torch.testing.assert_close(value, single.model.state_dict()[key], rtol=1e-6, atol=1e-7, msg=key)
