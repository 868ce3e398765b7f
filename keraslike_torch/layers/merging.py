"""Keras merge layers: Add, Subtract, Average, Multiply, Maximum, Minimum, Concatenate.

One base class, :class:`_Merge`: it checks and aligns the inputs (numpy broadcasting; inputs of
lower rank get axes inserted at position 1 first, as Keras does), folds them with the layer's
one binary operation and combines the masks. Their converters are in
:mod:`keraslike_torch.converters`.

Masks differ by generation (``keras_version``): tf-keras / Keras 1-2 AND the masks that are given
(``Concatenate``: AND over the last axis, unmasked inputs count as all-True); Keras 3 ORs them and
gives no mask if any input has none (``Concatenate``: ANY over the last axis). Keras 3
``Multiply``, ``Maximum`` and ``Minimum`` also use the masks in their forward computation.

>>> import torch
>>> from keraslike_torch.layers import Add
>>> a, b = torch.ones(1, 2, 3), torch.ones(1, 2, 3)
>>> Add(keras_version=2).compute_mask([a, b], [torch.tensor([[True, False]]), None]).tolist()
[[True, False]]
>>> print(Add(keras_version=3).compute_mask([a, b], [torch.tensor([[True, False]]), None]))
None
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ..common.config import as_bool_mask
from ._checks import ParameterFree, as_tensor

__all__ = ["Add", "Subtract", "Average", "Multiply", "Maximum", "Minimum", "Concatenate"]


class _Merge(ParameterFree):
    """Elementwise merge of a list of tensors (numpy broadcasting; inputs of lower rank get
    axes inserted at position 1 first, as Keras does), folded left to right with ``_op``.

    Call with a list, ``layer([a, b], mask=[ma, None])``, or with the tensors as positional
    arguments, ``layer(a, b)``.
    """

    supports_masking = True
    _exactly: int | None = None
    _op: Any = operator.add  # the one binary operation, (Tensor, Tensor) -> Tensor

    def _split(
        self, inputs: Any, more: tuple[Any, ...], mask: Any, training: bool | None
    ) -> tuple[list[Tensor], list[Tensor | None] | None, bool | None]:
        if isinstance(inputs, (list, tuple)):
            if len(more) > 2:
                raise TypeError(
                    f"{self.keras_class} takes (inputs, mask=None, training=None); got "
                    f"{len(more) + 1} positional arguments"
                )
            if more:
                if mask is not None:
                    raise TypeError(f"{self.keras_class} got the mask twice")
                mask = more[0]
            if len(more) > 1:
                training = more[1]
            xs = list(inputs)
        else:
            xs = [inputs, *more]
        if not xs:
            raise ValueError(f"{self.keras_class} must be called on a list of at least 1 tensor")
        if self._exactly is not None and len(xs) != self._exactly:
            raise ValueError(
                f"A {self.keras_class} layer should be called on exactly {self._exactly} inputs, "
                f"got {len(xs)}"
            )
        tensors = [self._cast(x) for x in xs]
        masks = self._check_masks(tensors, mask)
        batches = {int(t.shape[0]) for t in tensors if t.dim() > 0}
        if len(batches) > 1:
            raise ValueError(
                f"{self.keras_class} cannot merge tensors with different batch sizes: "
                f"{self._shapes(tensors)}"
            )
        return tensors, masks, training

    def _check_masks(self, inputs: Sequence[Any], mask: Any) -> list[Tensor | None] | None:
        if mask is None:
            return None
        if not isinstance(mask, (list, tuple)):
            raise ValueError(
                f"{self.keras_class} mask should be a list (one entry per input), got "
                f"{type(mask).__name__}"
            )
        if len(mask) != len(inputs):
            raise ValueError(f"{self.keras_class} got {len(inputs)} inputs but {len(mask)} masks")
        device = next((x.device for x in inputs if isinstance(x, Tensor)), None)
        return [None if m is None else as_bool_mask(m, device) for m in mask]

    @staticmethod
    def _shapes(xs: Sequence[Tensor]) -> list[tuple[int, ...]]:
        return [tuple(x.shape) for x in xs]

    def forward(
        self, inputs: Any, *more: Any, mask: Any = None, training: bool | None = None
    ) -> Tensor:
        xs, masks, _ = self._split(inputs, more, mask, training)
        ndims = [x.dim() for x in xs]
        max_ndim = max(ndims)
        if masks is not None and self.keras_version >= 3:
            # Keras 3 reads the masks attached to the tensors; an input that got axes inserted
            # (lower rank) is a new tensor without its mask.
            masks = [m if x.dim() == max_ndim else None for x, m in zip(xs, masks, strict=True)]
        else:
            masks = None
        xs = [
            x.reshape(x.shape[:1] + (1,) * (max_ndim - x.dim()) + x.shape[1:])
            if x.dim() < max_ndim
            else x
            for x in xs
        ]
        try:
            return self._merge(xs, masks)
        except RuntimeError as e:
            raise ValueError(
                f"{self.keras_class}: inputs of shapes {self._shapes(xs)} do not broadcast ({e})"
            ) from None

    def _merge(self, xs: list[Tensor], masks: list[Tensor | None] | None) -> Tensor:
        """The merged tensor; ``masks`` (Keras 3 only) matter to Multiply, Maximum, Minimum."""
        return self._fold(xs)

    def _fold(self, xs: Sequence[Tensor]) -> Tensor:
        op = type(self)._op
        out = xs[0]
        for x in xs[1:]:
            out = op(out, x)
        return out

    def compute_mask(self, inputs: Any, mask: Any = None) -> Tensor | None:
        """tf-keras (Keras 1/2): the AND of the masks given (None if none is). Keras 3: the OR of
        the masks, None if any input has none."""
        if mask is None:
            return None
        xs = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
        masks = self._check_masks(xs, mask)
        assert masks is not None
        try:
            if self.keras_version >= 3:
                if any(m is None for m in masks):
                    return None
                out = masks[0]
                for m in masks[1:]:
                    out = out | m  # type: ignore[operator]
                return out
            given = [m for m in masks if m is not None]
            if not given:
                return None
            return torch.stack(given).all(dim=0)
        except RuntimeError as e:
            raise ValueError(
                f"{self.keras_class}: masks of shapes {_mask_shapes(masks)} "
                f"cannot be combined ({e})"
            ) from None


def _mask_shapes(masks: Sequence[Tensor | None]) -> list[tuple[int, ...] | None]:
    return [None if m is None else tuple(m.shape) for m in masks]


def _broadcast_masks(xs: list[Tensor], masks: list[Tensor | None]) -> list[Tensor | None]:
    return [
        None if m is None else torch.broadcast_to(m.unsqueeze(-1), x.shape)
        for x, m in zip(xs, masks, strict=True)
    ]


class Add(_Merge):
    """Keras ``Add``: the sum of the inputs.

    >>> import torch
    >>> from keraslike_torch.layers import Add
    >>> Add()([torch.ones(1, 2), torch.ones(1, 2)]).tolist()
    [[2.0, 2.0]]
    """

    keras_class = "Add"


class Subtract(_Merge):
    """Keras ``Subtract``: ``inputs[0] - inputs[1]`` (exactly two inputs).

    >>> import torch
    >>> from keraslike_torch.layers import Subtract
    >>> Subtract()(torch.ones(1, 2), torch.ones(1, 2)).tolist()
    [[0.0, 0.0]]
    """

    keras_class = "Subtract"
    _exactly = 2
    _op = operator.sub


class Average(_Merge):
    """Keras ``Average``: the sum of the inputs divided by their number.

    >>> import torch
    >>> from keraslike_torch.layers import Average
    >>> Average()([torch.zeros(1, 2), torch.ones(1, 2)]).tolist()
    [[0.5, 0.5]]
    """

    keras_class = "Average"

    def _merge(self, xs: list[Tensor], masks: list[Tensor | None] | None) -> Tensor:
        return self._fold(xs) / len(xs)


class Multiply(_Merge):
    """Keras ``Multiply``: the elementwise product. With Keras 3 and masks, masked entries count
    as 1, and the output is zeroed where no input is valid when every input has a mask.

    >>> import torch
    >>> from keraslike_torch.layers import Multiply
    >>> Multiply()([torch.full((1, 2), 2.0), torch.full((1, 2), 3.0)]).tolist()
    [[6.0, 6.0]]
    """

    keras_class = "Multiply"
    _op = operator.mul

    def _merge(self, xs: list[Tensor], masks: list[Tensor | None] | None) -> Tensor:
        if masks is None:
            return self._fold(xs)
        bmasks = _broadcast_masks(xs, masks)
        has_output_mask = all(m is not None for m in bmasks)
        product: Tensor | None = None
        out_mask: Tensor | None = None
        for x, m in zip(xs, bmasks, strict=True):
            if m is not None:
                x = torch.where(m, x, torch.ones((), dtype=x.dtype, device=x.device))
                if has_output_mask:
                    out_mask = m if out_mask is None else out_mask | m
            product = x if product is None else product * x
        assert product is not None
        if has_output_mask and out_mask is not None:
            product = torch.where(out_mask, product, torch.zeros((), dtype=product.dtype, device=product.device))
        return product


class _MinMax(_Merge):
    def _merge(self, xs: list[Tensor], masks: list[Tensor | None] | None) -> Tensor:
        if masks is None:
            return self._fold(xs)
        op = type(self)._op
        # Keras 3's _apply_merge_op_and_or_mask, step by step
        result: Tensor | None = None
        out_mask = None
        for x, m in zip(xs, _broadcast_masks(xs, masks), strict=True):
            if result is None:
                result, out_mask = x, m
                continue
            if m is not None:
                x = torch.where(m, x, result)
            if out_mask is not None:
                result = torch.where(out_mask, result, x)
            out_mask = out_mask | m if (m is not None and out_mask is not None) else None
            result = op(result, x)
        assert result is not None
        return result


class Maximum(_MinMax):
    """Keras ``Maximum``: the elementwise maximum (NaN propagates, as in TensorFlow).

    >>> import torch
    >>> from keraslike_torch.layers import Maximum
    >>> Maximum()([torch.tensor([[1.0, 5.0]]), torch.tensor([[3.0, 2.0]])]).tolist()
    [[3.0, 5.0]]
    """

    keras_class = "Maximum"
    _op = torch.maximum


class Minimum(_MinMax):
    """Keras ``Minimum``: the elementwise minimum.

    >>> import torch
    >>> from keraslike_torch.layers import Minimum
    >>> Minimum()([torch.tensor([[1.0, 5.0]]), torch.tensor([[3.0, 2.0]])]).tolist()
    [[1.0, 2.0]]
    """

    keras_class = "Minimum"
    _op = torch.minimum


class Concatenate(_Merge):
    """Keras ``Concatenate`` along ``axis`` (counted with the batch axis, negative allowed).

    >>> import torch
    >>> from keraslike_torch.layers import Concatenate
    >>> Concatenate(axis=1)([torch.zeros(2, 3, 4), torch.zeros(2, 1, 4)]).shape
    torch.Size([2, 4, 4])
    """

    keras_class = "Concatenate"

    def __init__(
        self,
        axis: int = -1,
        *,
        keras_version: int = 3,
        name: str | None = None,
        device: Any = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__(name, keras_version, device, dtype)
        if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
            raise ValueError(f"Concatenate axis must be an integer, got {axis!r}")
        self.axis = int(axis)

    def extra_repr(self) -> str:
        return f"axis={self.axis}"

    def forward(
        self, inputs: Any, *more: Any, mask: Any = None, training: bool | None = None
    ) -> Tensor:
        xs, _, _ = self._split(inputs, more, mask, training)
        try:
            return torch.cat(xs, dim=self.axis)
        except (RuntimeError, IndexError) as e:
            raise ValueError(
                f"Concatenate(axis={self.axis}) needs inputs of equal shapes except on the "
                f"concatenation axis; got {self._shapes(xs)} ({e})"
            ) from None

    def compute_mask(self, inputs: Any, mask: Any = None) -> Tensor | None:
        """As Keras: each mask is given the input's rank (unmasked inputs: all True), the masks
        are concatenated on ``axis`` and reduced over the last axis: ALL in tf-keras (Keras 1/2),
        ANY in Keras 3."""
        if mask is None:
            return None
        xs = [as_tensor(x) for x in (inputs if isinstance(inputs, (list, tuple)) else [inputs])]
        masks = self._check_masks(xs, mask)
        assert masks is not None
        if all(m is None for m in masks):
            return None
        full = []
        for x, m in zip(xs, masks, strict=True):
            if m is None:
                full.append(torch.ones(x.shape, dtype=torch.bool, device=x.device))
            elif m.dim() < x.dim():
                m = m.unsqueeze(-1)
                full.append(torch.broadcast_to(m, x.shape) if self.keras_version >= 3 else m)
            else:
                full.append(m)
        try:
            cat = torch.cat(full, dim=self.axis)
        except (RuntimeError, IndexError) as e:
            raise ValueError(
                f"Concatenate(axis={self.axis}): masks {_mask_shapes(masks)} "
                f"of inputs {self._shapes(xs)} cannot be concatenated as Keras does ({e})"
            ) from None
        return cat.any(dim=-1) if self.keras_version >= 3 else cat.all(dim=-1)

