"""Multi-process scoring like the official torchrun launch: videos split by rank, sums all-reduced.

The official evaluator does this on CUDA with NCCL (`names[rank::world]`, all_reduce of the
three float32 sums, rank 0 reports). vcc does the same, and uses gloo on the CPU so the
arithmetic can be checked without GPUs. The all-reduced sums add per-rank partial sums, so
the last bits may differ from a single-process run, exactly as they do officially.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch

__all__ = ["Distributed"]


@dataclass(frozen=True)
class Distributed:
    rank: int
    world: int
    local_rank: int

    @classmethod
    def from_env(cls) -> Distributed | None:
        """The torchrun environment, or None for a single process."""
        world = int(os.environ.get("WORLD_SIZE", "1"))
        if world <= 1:
            return None
        return cls(int(os.environ.get("RANK", "0")), world, int(os.environ.get("LOCAL_RANK", "0")))

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def device(self, device: torch.device) -> torch.device:
        return torch.device("cuda", self.local_rank) if device.type == "cuda" else device

    def init(self, device: torch.device) -> None:
        import torch.distributed as dist

        if not dist.is_initialized():
            if device.type == "cuda":
                torch.cuda.set_device(device)
                dist.init_process_group(backend="nccl", device_id=device)
            else:
                dist.init_process_group(backend="gloo")

    def share(self, items: list[Any]) -> list[Any]:
        """This rank's share of `items`: items[rank::world], as the official split."""
        return items[self.rank :: self.world]

    def all_reduce_sum(self, *tensors: torch.Tensor) -> None:
        import torch.distributed as dist

        for t in tensors:
            dist.all_reduce(t, op=dist.ReduceOp.SUM)

    def gather(self, obj: Any) -> list[Any]:
        import torch.distributed as dist

        out: list[Any] = [None] * self.world
        dist.all_gather_object(out, obj)
        return out

    def close(self) -> None:
        import torch.distributed as dist

        if dist.is_initialized():
            dist.barrier()
            dist.destroy_process_group()
