"""Data-parallel plumbing for ``torchrun``: which process am I, and the three collectives training needs.

``torchrun --nproc_per_node=W script.py`` starts W copies of the same program with the environment
variables ``RANK`` (0..W−1), ``LOCAL_RANK`` and ``WORLD_SIZE`` = W. Each copy (a *rank*) holds a full
replica of the model and trains on its share of every batch; after ``backward`` PyTorch's
``DistributedDataParallel`` averages the gradients over ranks, so every replica takes the same step
(Li et al. 2020, "PyTorch Distributed: Experiences on Accelerating Data Parallel Training").
:func:`labkit.train.fit` uses this module when it runs under ``torchrun``; the same calls are safe,
and do nothing, in an ordinary single process.
"""
from __future__ import annotations

import atexit
import contextlib
import datetime
import os

import torch
import torch.distributed as dist

__all__ = ["STRATEGIES", "launched", "active", "world", "rank", "is_main", "use_ddp", "init_process_group",
           "all_reduce_mean", "mean_over_ranks", "gather", "gather_with_grad", "scale_local_grad", "shard_batch",
           "shard_loader", "share_seed", "broadcast_int", "wrap", "unwrap", "is_wrapped", "average_grads", "check_replicas"]

#: ``fit(strategy=...)``: "auto" uses DDP exactly when started by torchrun with W > 1, "ddp" insists on
#: it, "single" never uses it (each rank then trains its own model on all the data).
STRATEGIES = ("auto", "ddp", "single")


def launched() -> bool:
    """True when this process is one of several started by ``torchrun`` (``WORLD_SIZE`` > 1)."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def active() -> bool:
    """True when a process group of more than one rank is initialised: collectives are real."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def world() -> int:
    """The number of ranks W: the process group's size, else ``WORLD_SIZE``, else 1."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_world_size()
    return int(os.environ.get("WORLD_SIZE", "1"))


def rank() -> int:
    """This process's rank r in 0..W−1 (0 in a single process)."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank()
    return int(os.environ.get("RANK", "0"))


def is_main() -> bool:
    """True on rank 0, the one rank that shows progress, logs and writes files."""
    return rank() == 0


def use_ddp(strategy: str) -> bool:
    """Whether ``fit(strategy=...)`` trains data-parallel here; "ddp" outside torchrun is a ValueError."""
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy must be one of {', '.join(map(repr, STRATEGIES))}, got {strategy!r}")
    multi = launched() or active()
    if strategy == "ddp" and not multi:
        raise ValueError("strategy='ddp' needs several processes, but WORLD_SIZE is not > 1: start the program "
                         "with torchrun, e.g. torchrun --standalone --nproc_per_node=2 -m labkit clip ... "
                         "(or use strategy='auto' or 'single' in one process)")
    return strategy != "single" and multi


def init_process_group(device=None, timeout_s: float = 600.0) -> torch.device:
    """Join the ``torchrun`` process group (once) and return this rank's device.

    The backend is NCCL on CUDA (GPU-to-GPU all-reduce) and Gloo on the CPU. On CUDA each rank
    takes the GPU ``LOCAL_RANK`` (``torch.cuda.set_device``), so call this before tensors are put on
    ``"cuda"`` when several GPUs are used: the CLI does it first thing. The rendezvous comes from
    torchrun's environment (``MASTER_ADDR``, ``MASTER_PORT``, ``RANK``, ``WORLD_SIZE``); a rank that
    waits more than ``timeout_s`` for the others fails instead of hanging. Already initialised (by
    this function or by the user): nothing is changed. A group started here is destroyed at exit.
    """
    if not dist.is_available():
        raise ValueError("this PyTorch build has no torch.distributed: data-parallel training is unavailable")
    device = torch.device(device) if device is not None else torch.device("cpu")
    if device.type == "cuda":
        local = int(os.environ.get("LOCAL_RANK", "0"))
        if local >= torch.cuda.device_count():
            raise ValueError(f"LOCAL_RANK={local} but this node has {torch.cuda.device_count()} GPU(s): "
                             "start at most one process per GPU (torchrun --nproc_per_node)")
        torch.cuda.set_device(local)
        device = torch.device("cuda", local)
    if not dist.is_initialized():
        if not launched():
            raise ValueError("no process group to join: WORLD_SIZE is not > 1 (start the program with torchrun)")
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo",
                                timeout=datetime.timedelta(seconds=timeout_s))
        atexit.register(_destroy)
    return device


def _destroy() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def all_reduce_mean(values: torch.Tensor) -> torch.Tensor:
    """The mean over ranks, (1/W) Σ_r values_r, returned on every rank (a copy; the input is kept).
    Used for the epoch's metrics so that every rank's History holds the same numbers."""
    out = values.detach().clone()
    if active():
        dist.all_reduce(out, op=dist.ReduceOp.SUM)
        out /= world()
    return out


def mean_over_ranks(record: dict) -> dict:
    """Each float of ``record`` replaced by its mean over ranks, in one all-reduce (float64), so
    that the History of every rank holds the same numbers."""
    keys = list(record)
    values = torch.tensor([float(record[k]) for k in keys], dtype=torch.float64, device=_comm_device())
    return dict(zip(keys, all_reduce_mean(values).tolist()))


def _comm_device() -> torch.device:
    """Where a tensor made for a collective must live: NCCL moves only CUDA tensors, Gloo CPU ones."""
    if active() and dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def check_replicas(model: torch.nn.Module) -> None:
    """Raise if the ranks' copies of ``model`` differ (compared through Σ of every parameter, float64).

    DDP keeps the replicas equal only when the loss function calls the wrapper (``model(...)``):
    a loss that reaches the bare model (a method of it, or ``unwrap(model)``) trains each replica on
    its own share, silently. Every rank gets the same averaged gradient, so equal replicas have
    bit-for-bit equal sums.
    """
    if not active():
        return
    total = sum((p.detach().double().sum() for p in model.parameters()), torch.zeros((), dtype=torch.float64))
    sums = gather(total.reshape(1).to(_comm_device()))
    if not bool((sums == sums[0]).all()):
        raise RuntimeError("the model's copies differ between the data-parallel ranks: the loss function must "
                           "call model(...), the DistributedDataParallel wrapper's forward, for every module it "
                           "trains (see DualEncoder.forward(raw=True) for a model with several entry points)")


def broadcast_int(value: int) -> int:
    """Rank 0's ``value`` on every rank (e.g. a random seed that must be shared)."""
    if not active():
        return value
    t = torch.tensor([value], dtype=torch.int64, device=_comm_device())
    dist.broadcast(t, src=0)
    return int(t)


def gather(tensor: torch.Tensor) -> torch.Tensor:
    """Concatenate every rank's ``tensor`` along dim 0, in rank order, without gradient.
    Every rank must pass the same shape (the loader's equal shards guarantee it)."""
    if not active():
        return tensor.detach()
    parts = [torch.empty_like(tensor) for _ in range(world())]
    dist.all_gather(parts, tensor.detach().contiguous())
    return torch.cat(parts)


def gather_with_grad(tensor: torch.Tensor) -> torch.Tensor:
    """[z_0; z_1; …; z_{W−1}]: every rank's ``tensor`` in rank order, where this rank's own slice is
    the input itself, so the gradient of anything computed from the result flows back into it.

    The other ranks' slices are constants here. A contrastive loss L of the global batch computed
    from the gathered embeddings then gives this rank exactly ∂L/∂z_r, the same gradient its
    examples get when the whole batch sits on one device (CLIP's negatives are the global batch;
    the same idea as open_clip's ``gather_features`` with ``local_loss=False``). No gradient is
    sent between ranks; see :func:`scale_local_grad` for the factor DDP's averaging then needs.
    """
    if not active():
        return tensor
    parts = list(gather(tensor).chunk(world()))
    parts[rank()] = tensor
    return torch.cat(parts)


def scale_local_grad(tensor: torch.Tensor) -> torch.Tensor:
    """``tensor`` in the forward pass; W·∂ in the backward pass: x + (W − 1)(x − stop_grad(x)).

    Apply it to this rank's embeddings before :func:`gather_with_grad` when the loss is one of the
    gathered global batch. Why: that loss L is the same number on every rank, and rank r's backward
    reaches only its own embeddings z_r, so the towers get g_r = ∂L/∂z_r · ∂z_r/∂θ. One device
    would give Σ_r g_r, but DDP averages, (1/W) Σ_r g_r: scaling the gradient that reaches z_r by W
    makes DDP's average the one-device gradient. Parameters the loss uses directly (CLIP's logit
    scale) already get the full ∂L/∂s on every rank, and DDP's average keeps it: they are not scaled.
    """
    w = world() if active() else 1
    return tensor if w == 1 else tensor + (w - 1) * (tensor - tensor.detach())


def shard_batch(batch: torch.Tensor, rank: int, world: int, fill: torch.Tensor) -> torch.Tensor:
    """Rank ``rank``'s contiguous share of one global batch of sample indices.

    A batch of b indices is first padded to a multiple of W with the leading entries of ``fill``
    (the epoch's permutation: examples already seen this epoch, as ``DistributedSampler`` pads), then
    cut into W equal parts; part r goes to rank r. Every rank thus runs the same number of steps
    with the same batch size, and when W divides b the parts partition the batch exactly.
    """
    pad = -len(batch) % world
    if pad:
        batch = torch.cat([batch, fill[:pad]])
    return batch.view(world, -1)[rank]


@contextlib.contextmanager
def unsharded_after(loader, sharded: bool = True):
    """Give ``loader`` back whole (``shard(0, 1)``) when the block ends, however it ends: a run that
    raised must not leave the caller's loader yielding one rank's share."""
    try:
        yield loader
    finally:
        if sharded:
            loader.shard(0, 1)


def shard_loader(loader):
    """Make ``loader`` yield this rank's share of every batch (``loader.shard(rank, world)``).

    Needs no process group (rank and W come from torchrun's environment), so a loader that cannot
    be sharded, or a batch that W does not divide, is refused before any rank waits for another.
    """
    if not callable(getattr(loader, "shard", None)):
        raise ValueError(f"data-parallel training needs a loader with shard(rank, world), such as labkit's "
                         f"DeviceLoader, got a {type(loader).__name__}; or pass strategy='single'")
    return loader.shard(rank(), world())


def share_seed(loader) -> None:
    """A loader made without a seed would draw a different permutation on every rank (shares would
    overlap): its generator is re-seeded with one seed drawn on rank 0 and broadcast."""
    if getattr(loader, "seed", 0) is None and getattr(loader, "generator", None) is not None:
        loader.generator.manual_seed(broadcast_int(int(torch.randint(2**62, (1,), generator=loader.generator))))


def wrap(model: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """``model`` in ``DistributedDataParallel``: rank 0's weights are copied to every rank now, and
    after each backward the gradients are averaged over ranks, ḡ = (1/W) Σ_r g_r.

    ``static_graph=True``: the set of parameters that get a gradient is learned in the first step,
    so a parameter used outside ``forward`` (CLIP's logit scale, read by the loss) or never used (the
    sigmoid bias under the softmax losses) is handled without searching the graph every step.
    A loss function must still call ``model(...)``: only the wrapper's forward arms the averaging.
    """
    from torch.nn.parallel import DistributedDataParallel

    if not any(p.requires_grad for p in model.parameters()):
        raise ValueError("the model has no trainable parameter: nothing to train data-parallel")
    ids = [device.index] if device.type == "cuda" else None
    return DistributedDataParallel(model, device_ids=ids, static_graph=True)


def average_grads(params) -> None:
    """ḡ = (1/W) Σ_r g_r in place for parameters outside the DDP model (a loss function's own, e.g. a
    learned transition matrix), which DDP does not see."""
    for p in params:
        if p.grad is not None:
            p.grad.copy_(all_reduce_mean(p.grad))


def is_wrapped(model) -> bool:
    """True for a model in ``DistributedDataParallel``: what ``fit`` hands a loss function when it
    trains data-parallel (a loss of the global batch then gathers; see :func:`gather_with_grad`)."""
    return isinstance(model, torch.nn.parallel.DistributedDataParallel)


def unwrap(model: torch.nn.Module) -> torch.nn.Module:
    """The model inside a ``DistributedDataParallel`` wrapper (the model itself otherwise)."""
    return model.module if is_wrapped(model) else model
