"""Several processes through torchrun (DistributedDataParallel): which one this is, and the few
collectives the loop needs. One process (no torchrun) is rank 0 of 1 and calls no collective."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import timedelta

import torch

# how long a process waits at a collective for the others: rank 0 validates (minutes on REDS4 or a
# long --val clip) while the others wait at their next step
COLLECTIVE_TIMEOUT = timedelta(hours=1)


@dataclass(frozen=True)
class Processes:
    rank: int
    world: int
    local_rank: int
    control: object = field(default=None, compare=False)  # a gloo group for flags: no GPU sync

    @property
    def leader(self) -> bool:
        """Rank 0: the one that validates, logs and saves."""
        return self.rank == 0


def join(device: str) -> Processes:
    """This process's place under torchrun (its environment), the process group joined: NCCL
    between GPUs, gloo on CPUs. (0, 1, 0) without torchrun."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if world == 1:
        return Processes(0, 1, 0)
    if not torch.distributed.is_initialized():
        backend = "nccl" if device.startswith("cuda") else "gloo"
        torch.distributed.init_process_group(backend, timeout=COLLECTIVE_TIMEOUT)
    control = torch.distributed.new_group(backend="gloo", timeout=COLLECTIVE_TIMEOUT)
    return Processes(torch.distributed.get_rank(), world, local_rank, control)


def leave(processes: Processes) -> None:
    if processes.world > 1 and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()


def gather(processes: Processes, value) -> list:
    """Every rank's `value`, in rank order, on every rank."""
    if processes.world == 1:
        return [value]
    values = [None] * processes.world
    torch.distributed.all_gather_object(values, value)
    return values


def from_rank(processes: Processes, value, source: int):
    """Rank `source`'s `value` on every rank (what it read from a file only its machine holds)."""
    if processes.world == 1:
        return value
    box = [value]
    torch.distributed.broadcast_object_list(box, src=source)
    return box[0]


def any_rank(processes: Processes, flag: bool) -> bool:
    """Whether `flag` is true on any rank (a stop asked of one process stops them all); through the
    CPU group, so that asking does not wait for the GPU's queued work."""
    if processes.world == 1:
        return flag
    value = torch.tensor([int(flag)])
    torch.distributed.all_reduce(value, op=torch.distributed.ReduceOp.MAX, group=processes.control)
    return bool(value.item())
