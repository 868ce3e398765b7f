"""A bound on what one torch op may allocate while a loader runs a graph it has not seen before.

A config decides activation sizes without any weights in the file: ``Input((100000, 100000))``,
``UpSampling2D(size=(1e5, 1e5))``, ``ZeroPadding2D(1e5)`` or ``RepeatVector(2e9)`` would make the
loader's dry run (:meth:`~keraslike_torch.porting.graph.KerasModel.check_fits`, batch 1 and two
time steps) allocate gigabytes. :func:`bounded_allocations` checks every op's output size on
torch's meta device (shapes only, no memory) before the op runs, and refuses one that would
produce more than ``max_elements`` elements.

>>> import torch
>>> with bounded_allocations(1000):
...     y = torch.zeros(10, 10) + 1
>>> try:
...     with bounded_allocations(1000):
...         torch.zeros(10, 10).repeat(100, 1)
... except MemoryError as e:
...     print(str(e).split(":")[0])
aten.repeat.default would allocate 10000 elements
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten, tree_map

__all__ = ["bounded_allocations", "MAX_DRY_RUN_ELEMENTS"]

MAX_DRY_RUN_ELEMENTS = 2**28  # 1 GiB of float32 in one tensor of a batch-1, two-step dry run


def _meta(x: Any) -> Any:
    if isinstance(x, torch.Tensor):
        return torch.empty_strided(x.shape, x.stride(), dtype=x.dtype, device="meta")
    if isinstance(x, torch.device):
        return torch.device("meta")
    return x


class _Bound(TorchDispatchMode):
    def __init__(self, max_elements: int) -> None:
        super().__init__()
        self.max_elements = max_elements
        self.paused = 0

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        kwargs = kwargs or {}
        if self.paused or getattr(func, "is_view", False):  # a view allocates nothing
            return func(*args, **kwargs)
        try:
            shaped = func(*tree_map(_meta, args), **tree_map(_meta, kwargs))
        except Exception:  # no meta kernel, or a value-dependent op: its output is bounded by its inputs
            shaped = None
        if shaped is not None:
            outputs = [t for t in tree_flatten(shaped)[0] if isinstance(t, torch.Tensor)]
            n = sum(t.numel() for t in outputs)
            if n > self.max_elements:
                shapes = ", ".join(str(tuple(t.shape)) for t in outputs)
                raise MemoryError(f"{func} would allocate {n} elements: {shapes} "
                                  f"(more than the {self.max_elements} a dry run allows)")
        return func(*args, **kwargs)


@contextmanager
def bounded_allocations(max_elements: int = MAX_DRY_RUN_ELEMENTS,
                        exempt: Iterable[nn.Module] = ()) -> Iterator[None]:
    """Refuse (MemoryError) any torch op in the block whose outputs exceed ``max_elements``
    elements, before it allocates them. Inside the forward of an ``exempt`` module nothing is
    checked (a recurrent layer: thousands of small per-step ops, its outputs bounded by its
    checked sizes)."""
    bound = _Bound(max_elements)

    def pause(*_: Any) -> None:
        bound.paused += 1

    def resume(*_: Any) -> None:
        bound.paused -= 1

    hooks = []
    for m in exempt:
        hooks += [m.register_forward_pre_hook(pause), m.register_forward_hook(resume, always_call=True)]
    try:
        with bound:
            yield
    finally:
        for h in hooks:
            h.remove()
