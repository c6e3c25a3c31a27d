"""What the notebooks' tests share: calling student code so that a failure teaches, comparing tensors.

Every graded notebook's read-only test-helper cell imports these::

    from utils.testing import assert_close, call, likely_mistake

- :func:`call` runs student code. An exception raised *inside* it (a shape mismatch deep in
  PyTorch, a typo) becomes an ``AssertionError`` that says which call failed, with the shapes that
  went in, the original error and the likely causes for that TODO; it is chained (``raise ... from``),
  so the traceback still ends at the student's line.
- :func:`assert_close` compares a result with the expected one and says what differs: the shape,
  NaN, or the largest difference, followed by a hint.
- :func:`likely_mistake` names the known mistake whose (wrong) result the student's result equals.

None of this is part of an answer: it is the course's test framework, like ``pytest`` is.
"""
from __future__ import annotations

from typing import Any, Callable, Mapping

import torch

ATOL, RTOL = 1e-5, 1e-4  # float32 round-off, on a CPU and on a GPU


def describe(value: Any) -> str:
    """A short description of an argument: tensors by shape and dtype, containers element-wise."""
    if isinstance(value, torch.Tensor):
        return f"tensor{tuple(value.shape)} {str(value.dtype).replace('torch.', '')}"
    if isinstance(value, (tuple, list)) and len(value) <= 6:
        inner = ", ".join(describe(v) for v in value)
        return f"({inner},)" if isinstance(value, tuple) and len(value) == 1 else (
            f"({inner})" if isinstance(value, tuple) else f"[{inner}]")
    if isinstance(value, torch.nn.Module):
        return f"<{type(value).__name__}>"
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def call_signature(fn: Callable, args: tuple, kwargs: Mapping[str, Any]) -> str:
    """``MultiHeadAttention.forward(query=tensor(2, 5, 32) float32, ...)``-like text of a call."""
    if isinstance(fn, torch.nn.Module):
        name = f"{type(fn).__name__}(...)"
    else:
        name = getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or type(fn).__name__
    parts = [describe(a) for a in args] + [f"{k}={describe(v)}" for k, v in kwargs.items()]
    return f"{name}({', '.join(parts)})"


def call(fn: Callable, *args, hint: str = "", **kwargs):
    """``fn(*args, **kwargs)``; an exception raised inside it fails the test with a teaching message.

    Parameters
    ----------
    fn : callable
        The student's function, class (to construct it) or module (to run its forward).
    hint : str, optional
        The likely causes of an error in this call, for this TODO.

    Raises
    ------
    AssertionError
        "calling <fn>(<shapes>) raised <error>" + the hint, chained to the original exception.
    """
    try:
        return fn(*args, **kwargs)
    except Exception as error:  # an AssertionError inside student code gets the same treatment
        message = f"calling {call_signature(fn, args, kwargs)} raised {type(error).__name__}: {error}"
        if hint:
            message += f"\nLikely cause: {hint}"
        raise AssertionError(message) from error


def assert_close(actual, expected: torch.Tensor, what: str, hint: str = "", atol: float = ATOL,
                 rtol: float = RTOL) -> None:
    """Assert that ``actual`` equals ``expected`` up to float32 round-off; explain what differs if not."""
    assert isinstance(actual, torch.Tensor), f"{what}: expected a torch.Tensor, got {type(actual).__name__}. {hint}"
    assert tuple(actual.shape) == tuple(expected.shape), (
        f"{what}: got shape {tuple(actual.shape)}, expected {tuple(expected.shape)}. {hint}")
    actual = actual.detach().to(device=expected.device, dtype=expected.dtype)
    expected = expected.detach()
    assert not (torch.isnan(actual).any() and not torch.isnan(expected).any()), (
        f"{what}: contains NaN where the expected result has none. {hint}")
    worst = (actual - expected).abs().max().item() if actual.numel() else 0.0
    assert torch.allclose(actual, expected, atol=atol, rtol=rtol, equal_nan=True), (
        f"{what}: differs from the expected result by up to {worst:.3g} "
        f"(tolerance {atol:g} + {rtol:g}*|expected|). {hint}")


def likely_mistake(actual, candidates: Mapping[str, torch.Tensor], atol: float = ATOL, rtol: float = RTOL) -> str:
    """The hint of the first known wrong result that ``actual`` equals, else ``''``."""
    for hint, wrong in candidates.items():
        if (isinstance(actual, torch.Tensor) and actual.shape == wrong.shape
                and torch.allclose(actual.detach().to(wrong), wrong, atol=atol, rtol=rtol)):
            return hint
    return ""
