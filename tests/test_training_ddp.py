"""Data-parallel training through ``torchrun``: 2 CPU processes with the gloo backend."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest
import torch
from torch.utils.data import TensorDataset

import genae
from genae.testing.toy_recipe import ToyRecipe, register_toy
from genae.training import Trainer

SCRIPT = textwrap.dedent(
    """
    import os, sys
    import torch
    from torch.utils.data import TensorDataset
    import genae
    from genae.testing.toy_recipe import ToyRecipe, register_toy
    from genae.training import Trainer

    out = sys.argv[1]
    rank = int(os.environ["RANK"])
    data = TensorDataset(torch.rand(32, 1, 8, 8, generator=torch.Generator().manual_seed(1)) * 2 - 1)
    torch.manual_seed(100 + rank)  # different initial weights per rank: the trainer must broadcast rank 0's
    if rank == 0:
        torch.manual_seed(0)
    model = genae.create(register_toy(), resolution=8, width=8)
    recipe = ToyRecipe(model, latent_noise=0.0, batch_size=8)
    trainer = Trainer(model, recipe, data, out_dir=out, steps=6, log_every=1, grid_every=None,
                      checkpoint_every=3, progress=False)
    result = trainer.fit()
    assert trainer.world.size == 2 and trainer.world.rank == rank
    torch.save({k: v.clone() for k, v in model.state_dict().items()}, os.path.join(out, f"rank{rank}.pt"))
    """
)


def test_torchrun_two_gloo_processes_match_one_process(tmp_path):
    script = tmp_path / "train_ddp.py"
    script.write_text(SCRIPT)
    out = tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop("WORLD_SIZE", None)
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               str(script), str(out)]
    completed = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr[-4000:]

    rank0 = torch.load(out / "rank0.pt", weights_only=True)
    rank1 = torch.load(out / "rank1.pt", weights_only=True)
    for key, value in rank0.items():
        assert torch.equal(value, rank1[key]), f"{key} differs across ranks"

    # One process on the same global batches gives the same training (up to float summation order).
    data = TensorDataset(torch.rand(32, 1, 8, 8, generator=torch.Generator().manual_seed(1)) * 2 - 1)
    torch.manual_seed(0)
    model = genae.create(register_toy(), resolution=8, width=8)
    single = Trainer(model, ToyRecipe(model, latent_noise=0.0, batch_size=8), data, out_dir=tmp_path / "one",
                     steps=6, log_every=1, grid_every=None, checkpoint_every=None, progress=False, ddp=False)
    single.fit()
    for key, value in model.state_dict().items():
        torch.testing.assert_close(rank0[key], value, rtol=1e-4, atol=1e-5, msg=key)

    def losses(folder):
        return [json.loads(line)["losses"] for line in (folder / "metrics.jsonl").read_text().splitlines()]

    ddp_losses, single_losses = losses(out), losses(tmp_path / "one")
    assert len(ddp_losses) == 6  # only rank 0 wrote the log
    for a, b in zip(ddp_losses, single_losses):
        assert a.keys() == b.keys()
        for name in a:
            assert a[name] == pytest.approx(b[name], rel=1e-4, abs=1e-6)
    state = torch.load(out / "checkpoint.pt", weights_only=True)
    assert state["world_size"] == 2 and len(state["rng"]) == 2 and state["step"] == 6
    assert genae.load(out / "model").card["training"].count("2 process(es)") == 1
