"""Data-parallel training across processes started by ``torchrun``.

Gradients are averaged by hand (one flat all-reduce per optimiser step) rather than through
``DistributedDataParallel``: a recipe may step several optimisers on several losses in any order, and a
manual all-reduce of exactly the parameters an optimiser steps is correct for all of them.
"""

from __future__ import annotations

import atexit
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor, nn


@dataclass(frozen=True)
class World:
    """This process's place among the training processes (a single process is a world of one)."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.size > 1


def launched_by_torchrun() -> bool:
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def setup_world(ddp: bool | str, device: torch.device) -> tuple[World, torch.device]:
    """Join (or start) the process group when asked to; return the world and this rank's device.

    ``ddp="auto"`` joins when ``torchrun`` set ``WORLD_SIZE`` > 1. The backend is gloo for CPU and nccl for
    CUDA; a bare ``cuda`` device becomes ``cuda:LOCAL_RANK``.
    """
    if ddp not in (True, False, "auto"):
        raise ValueError(f"ddp: expected True, False or 'auto', got {ddp!r}")
    wanted = launched_by_torchrun() if ddp == "auto" else bool(ddp)
    if not wanted:
        return World(), device
    if not dist.is_initialized():
        missing = [k for k in ("WORLD_SIZE", "RANK", "MASTER_ADDR", "MASTER_PORT") if k not in os.environ]
        if missing:
            raise RuntimeError(
                f"ddp=True needs the environment torchrun sets ({', '.join(missing)} missing); "
                "launch with `torchrun --nproc_per_node N ...`"
            )
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
        atexit.register(_destroy_process_group)  # we started it, so we end it (torch warns otherwise)
    local_rank = int(os.environ.get("LOCAL_RANK", dist.get_rank()))
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    return World(dist.get_rank(), dist.get_world_size(), local_rank), device


def _destroy_process_group() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


@torch.no_grad()
def broadcast_module(module: nn.Module, world: World) -> None:
    """Give every rank rank 0's parameters and buffers."""
    if not world.distributed:
        return
    for tensor in module.state_dict().values():
        dist.broadcast(tensor, src=0)


@torch.no_grad()
def average_buffers(module: nn.Module, world: World) -> None:
    """Replace every floating-point buffer (batch-norm running statistics) by its mean over ranks.

    Each rank's batch norms track statistics of its own share of the batch, so without this the saved model
    would carry rank 0's share only; the mean over ranks is the statistic of the whole batch (exactly for
    running means, up to the between-rank spread for running variances). Called at every checkpoint, on
    every rank, so a resumed run continues from the same buffers as the run that wrote the checkpoint.
    """
    if not world.distributed:
        return
    for buffer in module.buffers():
        if buffer.is_floating_point():
            dist.all_reduce(buffer)
            buffer /= world.size


@torch.no_grad()
def average_gradients(parameters: Sequence[Tensor], world: World) -> None:
    """Average ``.grad`` over ranks in one flat all-reduce.

    A parameter without a gradient on every rank keeps ``grad = None`` (optimisers skip it, as they would
    in a single process); one with a gradient on some ranks counts zeros for the others.
    """
    if not world.distributed or not parameters:
        return
    device = parameters[0].device
    has_grad = torch.tensor([p.grad is not None for p in parameters], dtype=torch.float32, device=device)
    flat = torch.cat(
        [(p.grad if p.grad is not None else torch.zeros_like(p)).reshape(-1).float() for p in parameters]
    )
    dist.all_reduce(has_grad)
    dist.all_reduce(flat)
    flat /= world.size
    offset = 0
    for parameter, count in zip(parameters, has_grad.tolist()):
        size = parameter.numel()
        if count > 0:
            chunk = flat[offset : offset + size].view_as(parameter).to(parameter.dtype)
            if parameter.grad is None:
                parameter.grad = chunk.clone()
            else:
                parameter.grad.copy_(chunk)
        offset += size


def average_scalars(values: dict[str, float], world: World, device: torch.device) -> dict[str, float]:
    """Mean of each named scalar over ranks (every rank must pass the same names)."""
    if not world.distributed:
        return values
    names = sorted(values)
    stacked = torch.tensor([float(values[n]) for n in names], dtype=torch.float64, device=device)
    dist.all_reduce(stacked)
    means = dict(zip(names, (stacked / world.size).tolist()))
    return {name: means[name] for name in values}  # the recipe's order, for readable logs


def gather_objects(obj: Any, world: World) -> list[Any]:
    """Every rank's ``obj``, in rank order (on every rank)."""
    if not world.distributed:
        return [obj]
    out: list[Any] = [None] * world.size
    dist.all_gather_object(out, obj)
    return out


def barrier(world: World) -> None:
    if world.distributed:
        dist.barrier()


def parameters_of(optimizer: torch.optim.Optimizer) -> list[Tensor]:
    return [p for group in optimizer.param_groups for p in group["params"]]

