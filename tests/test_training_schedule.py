"""Schedules and EMA: pure arithmetic, no training."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from genae.training import EMA, Phase, ProgressiveSchedule, SingleResolution


def make_schedule(**overrides):
    kwargs = dict(images_per_phase=100, fade_images=40, batch_sizes={4: 64, 8: 32, 16: 16}, lrs=1e-3)
    kwargs.update(overrides)
    return ProgressiveSchedule(4, 16, **kwargs)


def test_progressive_phases_alpha_and_per_phase_values():
    schedule = make_schedule(lrs={4: 3e-3, 8: 2e-3, 16: 1e-3})
    assert schedule.resolutions == [4, 8, 16]
    assert schedule.num_phases == 3
    assert schedule.total_images == 300
    assert schedule.phase_at(0) == Phase(0, 4, 1.0, 64, 3e-3, False)
    assert schedule.phase_at(99) == Phase(0, 4, 1.0, 64, 3e-3, False)  # phase 0 never fades
    assert schedule.phase_at(100) == Phase(1, 8, 0.0, 32, 2e-3, True)
    assert schedule.phase_at(110) == Phase(1, 8, 0.25, 32, 2e-3, True)
    assert schedule.phase_at(139) == Phase(1, 8, 39 / 40, 32, 2e-3, True)
    assert schedule.phase_at(140) == Phase(1, 8, 1.0, 32, 2e-3, False)
    assert schedule.phase_at(220) == Phase(2, 16, 0.5, 16, 1e-3, True)
    # the last phase continues indefinitely
    assert schedule.phase_at(10_000) == Phase(2, 16, 1.0, 16, 1e-3, False)


def test_progressive_without_fade_and_single_phase():
    assert make_schedule(fade_images=0).phase_at(100) == Phase(1, 8, 1.0, 32, 1e-3, False)
    single = ProgressiveSchedule(8, 8, images_per_phase=10, fade_images=5, batch_sizes=4, lrs=0.1)
    assert single.resolutions == [8]
    assert single.phase_at(1000) == Phase(0, 8, 1.0, 4, 0.1, False)


def test_overridden_replaces_batch_size_and_lr_everywhere():
    schedule = make_schedule().overridden(batch_size=8, lr=0.5)
    assert {schedule.phase_at(i).batch_size for i in (0, 150, 250)} == {8}
    assert {schedule.phase_at(i).lr for i in (0, 150, 250)} == {0.5}
    assert schedule.phase_at(110).alpha == 0.25
    assert SingleResolution(16, 4, 0.1).overridden(lr=0.2).phase_at(0) == Phase(0, 16, 1.0, 4, 0.2, False)


def test_resolution_keys_may_be_json_strings():
    schedule = make_schedule(batch_sizes={"4": 64, "8": 32, "16": 16})
    assert schedule.batch_sizes == {4: 64, 8: 32, 16: 16}


def test_single_resolution_is_constant():
    schedule = SingleResolution(32, 16, 2e-3)
    assert schedule.resolutions == [32] and schedule.total_images is None
    assert schedule.phase_at(0) == schedule.phase_at(123_456) == Phase(0, 32, 1.0, 16, 2e-3, False)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"images_per_phase": 0}, "images_per_phase"),
        ({"fade_images": 101}, "fade_images"),
        ({"fade_images": -1}, "fade_images"),
        ({"batch_sizes": {4: 8, 8: 8}}, "batch_sizes"),  # 16 missing
        ({"batch_sizes": {4: 8, 8: 8, 16: 8, 32: 8}}, "batch_sizes"),  # 32 is not visited
        ({"batch_sizes": 0}, "batch_sizes"),
        ({"batch_sizes": 2.5}, "batch_sizes"),
        ({"lrs": -1.0}, "lrs"),
        ({"lrs": float("nan")}, "lrs"),
        ({"lrs": {4: 1.0}}, "lrs"),
    ],
)
def test_progressive_rejects_bad_arguments(overrides, message):
    with pytest.raises(ValueError, match=message):
        make_schedule(**overrides)


@pytest.mark.parametrize(
    ("start", "final", "message"), [(3, 16, "start_resolution"), (4, 24, "final_resolution"), (16, 8, "must be >=")]
)
def test_progressive_rejects_bad_resolutions(start, final, message):
    with pytest.raises(ValueError, match=message):
        ProgressiveSchedule(start, final, images_per_phase=10, fade_images=0, batch_sizes=4, lrs=0.1)


def test_bad_images_seen_and_single_resolution_arguments():
    with pytest.raises(ValueError, match="images_seen"):
        make_schedule().phase_at(-1)
    with pytest.raises(ValueError, match="resolution"):
        SingleResolution(20, 8, 0.1)
    with pytest.raises(ValueError, match="batch_size"):
        SingleResolution(16, 0, 0.1)
    with pytest.raises(ValueError, match="lr"):
        SingleResolution(16, 8, 0)


class TwoParts(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.BatchNorm1d(2)  # a parameter pair and running-stat buffers
        self.b = nn.Linear(2, 2)


def test_ema_averages_parameters_and_copies_buffers():
    model = TwoParts()
    ema = EMA(model, {"a": 0.75})
    start = model.a.weight.detach().clone()
    with torch.no_grad():
        model.a.weight.fill_(2.0)
        model.a.running_mean.fill_(5.0)
    ema.update(model)
    shadow = ema.shadow["a"]
    torch.testing.assert_close(shadow["weight"], 0.75 * start + 0.25 * 2.0, rtol=0, atol=1e-7)
    torch.testing.assert_close(shadow["running_mean"], torch.full((2,), 5.0))
    ema.update(model)
    torch.testing.assert_close(shadow["weight"], 0.75**2 * start + (1 - 0.75**2) * 2.0, rtol=0, atol=1e-7)
    assert "b" not in ema.shadow


def test_ema_swapped_restores_and_apply_to_overwrites():
    model = TwoParts()
    ema = EMA(model, {"a": 0.5, "b": 0.5})
    original = {k: v.clone() for k, v in model.state_dict().items()}
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)
    ema.update(model)
    trained = {k: v.clone() for k, v in model.state_dict().items()}
    with ema.swapped(model):
        torch.testing.assert_close(model.b.weight, original["b.weight"] + 0.5)
    for key, value in model.state_dict().items():
        assert torch.equal(value, trained[key])
    ema.apply_to(model)
    torch.testing.assert_close(model.b.bias, original["b.bias"] + 0.5)


def test_ema_state_round_trip_and_errors():
    model = TwoParts()
    ema = EMA(model, {"b": 0.9})
    with torch.no_grad():
        model.b.weight.add_(1.0)
    ema.update(model)
    other = EMA(TwoParts(), {"b": 0.9})
    other.load_state_dict(ema.state_dict())
    assert torch.equal(other.shadow["b"]["weight"], ema.shadow["b"]["weight"])
    with pytest.raises(ValueError, match="averages"):
        EMA(TwoParts(), {"a": 0.9}).load_state_dict(ema.state_dict())
    with pytest.raises(ValueError, match="no submodule 'c'"):
        EMA(model, {"c": 0.9})
    with pytest.raises(ValueError, match=r"decays\['b'\]"):
        EMA(model, {"b": 1.0})


def test_data_order_epochs_remainders_and_shards():
    from genae.training.batches import DataOrder, ShardedBatches

    order = DataOrder(10, seed=3)
    first, second = order.take(4), order.take(4)
    assert sorted(torch.cat([first, second]).tolist()) == sorted(order.permutation(0)[:8].tolist())
    third = order.take(4)  # only 2 left in epoch 0: they are skipped and epoch 1 begins
    assert (order.epoch, order.offset) == (1, 4)
    assert torch.equal(third, order.permutation(1)[:4])
    assert not torch.equal(order.permutation(0), order.permutation(1))
    with pytest.raises(ValueError, match="larger than the dataset"):
        order.take(11)

    schedule = ProgressiveSchedule(4, 8, images_per_phase=4, fade_images=0, batch_sizes={4: 4, 8: 2}, lrs=0.1)
    shards = [iter(ShardedBatches(DataOrder(10, seed=3), schedule, 0, rank, 2)) for rank in range(2)]
    reference = DataOrder(10, seed=3)
    for batch_size in (4, 2, 2, 2):  # phase 0 for 4 images, then batches of 2
        expected = reference.take(batch_size).tolist()
        got = [next(shard) for shard in shards]
        assert got == [expected[0::2], expected[1::2]]
