"""Distributed training on CPU (gloo): DDP and FSDP2 ``fully_shard`` of kt modules train exactly as
one process does on the whole batch."""

from __future__ import annotations

import datetime
import os
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

import keraslike_torch as kt

STEPS, BATCH = 3, 8


def _model() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(
        kt.Bidirectional(kt.LSTM(6, input_size=4, return_sequences=True, recurrent_activation="hard_sigmoid")),
        kt.GRU(5, input_size=12),
    ).double()


def _data() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    return torch.randn(BATCH, 7, 4, generator=g, dtype=torch.float64), torch.randn(BATCH, 5, generator=g,
                                                                                   dtype=torch.float64)


def _train(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> None:
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    for _ in range(STEPS):
        opt.zero_grad()
        torch.nn.functional.mse_loss(model(x), y).backward()
        opt.step()


def _worker(rank: int, world: int, init_file: str, mode: str, out_dir: str) -> None:
    # a bounded rendezvous: a worker that cannot meet the other fails the test instead of hanging it
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world,
                            timeout=datetime.timedelta(seconds=120))
    try:
        model = _model()
        x, y = _data()
        half = slice(rank * BATCH // world, (rank + 1) * BATCH // world)
        if mode == "ddp":
            wrapped: torch.nn.Module = torch.nn.parallel.DistributedDataParallel(model)
            _train(wrapped, x[half], y[half])
            state = model.state_dict()
        else:
            from torch.distributed.fsdp import fully_shard

            for layer in model:
                fully_shard(layer)
            fully_shard(model)
            _train(model, x[half], y[half])
            state = {k: v.full_tensor() if hasattr(v, "full_tensor") else v for k, v in model.state_dict().items()}
        if rank == 0:
            torch.save({k: v.detach().clone() for k, v in state.items()}, os.path.join(out_dir, "state.pt"))
        dist.barrier()  # both reach the end before either tears down (seen: rank 0 stuck in destroy)
    finally:
        dist.destroy_process_group()


@pytest.mark.parametrize("mode", ["ddp", "fsdp2"])
def test_two_processes_equal_one(mode: str, tmp_path: Path) -> None:
    ctx = mp.start_processes(_worker, args=(2, str(tmp_path / "init"), mode, str(tmp_path)), nprocs=2,
                             join=False, start_method="spawn")
    deadline = datetime.datetime.now() + datetime.timedelta(seconds=240)
    while not ctx.join(timeout=5):  # raises when a worker fails
        if datetime.datetime.now() > deadline:
            for p in ctx.processes:
                p.kill()
            pytest.fail(f"{mode}: the two workers did not finish in 240 s (exit codes "
                        f"{[p.exitcode for p in ctx.processes]})")
    got = torch.load(tmp_path / "state.pt", weights_only=True)
    single = _model()
    _train(single, *_data())
    want = single.state_dict()
    assert set(got) == set(want)
    moved = 0.0
    for k, v in want.items():
        torch.testing.assert_close(got[k], v, rtol=1e-10, atol=1e-12, msg=lambda s, k=k: f"{k}: {s}")
        moved = max(moved, float((v - _model().state_dict()[k]).abs().max()))
    assert moved > 1e-3  # training really changed the weights
