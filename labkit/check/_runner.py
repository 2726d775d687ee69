"""The machinery behind :mod:`labkit.check`: run a student's function on cases, compare with the
package, and write a report that says what is wrong (shape, value at an input, gradient, NaN,
an exception, or a stub that is not implemented yet)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

import torch

ATOL, RTOL = 1e-5, 1e-4
MAX_SHOWN = 4  # kinds of failure written out in full; the rest are counted
NOT_IMPLEMENTED = "not implemented yet: the function still raises NotImplementedError"


class CheckFailed(AssertionError):
    """Raised by a checker called with ``strict=True`` when the function fails (for autograding)."""


class _NotImplemented(Exception):
    """The student's function still raises NotImplementedError: stop checking."""


@dataclass
class CheckResult:
    """What a checker found: ``passed``, ``checks`` (how many were made) and ``failures`` (one text
    each). ``bool(result)`` is ``passed``; ``print(result)`` shows the report."""
    name: str
    checks: int = 0
    failures: list = field(default_factory=list)
    kinds: list = field(default_factory=list, repr=False)  # one per failure: same kind, shown once
    _printed: bool = field(default=False, repr=False)

    @property
    def passed(self) -> bool:
        return not self.failures

    def __bool__(self) -> bool:
        return self.passed

    def __str__(self) -> str:
        if self.passed:
            return f"✓ {self.name}: passed {self.checks} checks"
        groups: dict = {}
        for kind, text in zip(self.kinds, self.failures):
            groups.setdefault(kind, []).append(text)
        lines = [f"✗ {self.name}: {len(self.failures)} of {max(self.checks, 1)} checks failed"]
        for texts in list(groups.values())[:MAX_SHOWN]:
            more = f"\n(the same on {len(texts) - 1} more input{'s' * (len(texts) > 2)})" if len(texts) > 1 else ""
            lines.append("  - " + (texts[0] + more).replace("\n", "\n    "))
        if len(groups) > MAX_SHOWN:
            lines.append(f"  ... and {len(groups) - MAX_SHOWN} other kinds of failure")
        return "\n".join(lines)

    def _ipython_display_(self) -> None:  # the checker printed already: show nothing twice
        if not self._printed:
            print(self)
        self._printed = False

    def fail(self, text: str, kind: str = "") -> None:
        self.checks += 1
        self.failures.append(text)
        self.kinds.append(kind or text.split("\n")[0])

    def ok(self) -> None:
        self.checks += 1


@dataclass
class Case:
    """One input: ``args`` passed by keyword order, a ``label`` for the report, and the names of
    the tensor arguments whose gradient is compared (``grad``)."""
    label: str
    args: dict
    grad: Sequence[str] = ()


def show(value, limit: int = 12) -> str:
    """A short text of an input or output: small tensors in full (4 significant digits)."""
    if isinstance(value, torch.Tensor):
        v = value.detach()
        if v.numel() <= limit:
            if v.is_floating_point():
                return str([round(float(a), 4) for a in v.flatten()] if v.ndim == 1 else
                           [[round(float(a), 4) for a in row] for row in v.reshape(len(v), -1)]
                           if v.ndim == 2 else round(float(v), 6) if v.ndim == 0 else v.tolist())
            return str(v.tolist())
        return f"tensor of shape {tuple(v.shape)}"
    if isinstance(value, float):
        return f"{value:.6g}"
    return repr(value)


def show_args(args: dict) -> str:
    return ", ".join(f"{k}={show(v)}" for k, v in args.items())


def _clone(args: dict, grad: Sequence[str]) -> dict:
    out = {}
    for k, v in args.items():
        if isinstance(v, torch.Tensor):
            v = v.detach().clone()
            if k in grad:
                v.requires_grad_(True)
        out[k] = v
    return out


def call(result: CheckResult, fn: Callable, case: Case, grad: bool = False):
    """Run ``fn`` on a fresh copy of the case; (output, the copied inputs), or None after a failure."""
    args = _clone(case.args, case.grad if grad else ())
    try:
        return fn(*args.values()), args
    except NotImplementedError:
        raise _NotImplemented from None
    except Exception as exc:  # noqa: BLE001 - any error is the student's to see
        result.fail(f"raised {type(exc).__name__}: {exc}\n  on {case.label}: {show_args(case.args)}",
                    f"raised {type(exc).__name__}")
        return None


def as_tensor(out):
    """The output as a float64 tensor (numbers, numpy arrays and tensors accepted), or None."""
    if out is None:
        return None
    try:
        t = out if isinstance(out, torch.Tensor) else torch.as_tensor(out)
    except (TypeError, ValueError, RuntimeError):
        return None
    return t.detach().double()


def close(a: torch.Tensor, b: torch.Tensor, atol: float = ATOL, rtol: float = RTOL) -> bool:
    return a.shape == b.shape and bool(torch.isclose(a.double(), b.double(), rtol=rtol, atol=atol,
                                                     equal_nan=True).all())


def _first_difference(got, expected, args, atol, rtol) -> str:
    """For an element-wise function: the first element that differs, with its own inputs."""
    bad = ~torch.isclose(got, expected, rtol=rtol, atol=atol, equal_nan=True)
    i = int(torch.nonzero(bad.flatten())[0])
    own = {k: (v.detach().flatten()[i] if isinstance(v, torch.Tensor) and v.shape == expected.shape else v)
           for k, v in args.items()}
    return (f"at {show_args(own)} (element {i}):\n  expected {float(expected.flatten()[i]):.6g}, "
            f"got {float(got.flatten()[i]):.6g}")


def _diagnose(got, case: Case, expected, mistakes, atol, rtol) -> str:
    """Name the likely mistake: a known wrong variant that gives the same output, or a sum / sign slip."""
    for wrong, hint in mistakes:
        try:
            alt = as_tensor(wrong(*_clone(case.args, ()).values()))
        except Exception:  # noqa: BLE001 - a variant may not apply to this input
            continue
        if alt is not None and close(got, alt, atol, rtol) and not close(alt, expected, atol, rtol):
            return "\n  hint: " + hint
    if got.shape == expected.shape and expected.numel() == 1 and float(expected) != 0:
        ratio = float(got) / float(expected)
        b = next((len(v) for v in case.args.values() if isinstance(v, torch.Tensor) and v.ndim >= 1), 1)
        if b > 1 and abs(ratio - b) < 1e-3 * b:
            return "\n  hint: this is the batch SUM; labkit's losses return the batch mean"
        if abs(ratio + 1) < 1e-4:
            return "\n  hint: the sign is flipped"
    return ""


def compare(name: str, fn: Callable, reference: Callable, cases: Sequence[Case], *,
            mistakes: Sequence[tuple[Callable, str]] = (), elementwise: bool = False,
            atol: float = ATOL, rtol: float = RTOL, grad_hint: str = "") -> CheckResult:
    """Check ``fn`` against ``reference`` on every case: it runs, returns the right shape, is finite
    where the reference is, has the right value and (for ``case.grad``) the right gradient."""
    result = CheckResult(name)
    if not callable(fn):
        result.fail(f"expected a function, got {type(fn).__name__}")
        return result
    try:
        for case in cases:
            _one_case(result, fn, reference, case, mistakes, elementwise, atol, rtol, grad_hint)
    except _NotImplemented:
        result.failures.insert(0, NOT_IMPLEMENTED)
        result.kinds.insert(0, NOT_IMPLEMENTED)
        result.checks += 1
    return result


def _one_case(result, fn, reference, case, mistakes, elementwise, atol, rtol, grad_hint):
    ref_args = _clone(case.args, case.grad)
    ref_out = reference(*ref_args.values())
    expected = ref_out.detach().double() if isinstance(ref_out, torch.Tensor) else torch.tensor(float(ref_out))
    ran = call(result, fn, case, grad=bool(case.grad))
    if ran is None:
        return
    out, args = ran
    got = as_tensor(out)
    where = f"on {case.label}: {show_args(case.args)}"
    if got is None:
        what = "None (is there a `return`?)" if out is None else type(out).__name__
        result.fail(f"returned {what}, not a number or tensor\n  {where}")
        return
    result.ok()
    if got.shape != expected.shape:
        hint = ""
        if expected.ndim == 0 and got.ndim == 1:
            hint = "\n  hint: return the batch mean (a scalar): is `.mean()` missing?"
        result.fail(f"wrong shape: expected {tuple(expected.shape) or 'a scalar, shape ()'}, "
                    f"got {tuple(got.shape)}\n  {where}{hint}", "shape")
        return
    result.ok()
    finite_ref = torch.isfinite(expected)
    if not bool(torch.isfinite(got)[finite_ref].all()):
        kind = "NaN" if bool(torch.isnan(got[finite_ref]).any()) else "an infinite value"
        result.fail(f"{kind} where the package gives {show(expected)}\n  {where}"
                    + _diagnose(got, case, expected, mistakes, atol, rtol), "finite")
        return
    result.ok()
    if not close(got, expected, atol, rtol):
        if elementwise and got.ndim:
            detail = f"on {case.label}, " + _first_difference(got, expected, case.args, atol, rtol)
        else:
            detail = f"{where}\n  expected {show(expected)}, got {show(got)}"
        hint = _diagnose(got, case, expected, mistakes, atol, rtol)
        result.fail(f"wrong value {detail}" + hint, "value" + hint)
        return
    result.ok()
    if case.grad:
        _gradient(result, out, ref_out, args, ref_args, case, where, atol, rtol, grad_hint)


def _gradient(result, out, ref_out, args, ref_args, case, where, atol, rtol, hint):
    if not isinstance(out, torch.Tensor) or not out.requires_grad:
        result.fail(f"no gradient reaches {', '.join(case.grad)}: the result is cut off from the inputs "
                    f"(.item(), .detach(), numpy or a new tensor?)\n  {where}", "no gradient")
        return
    ref_grads = torch.autograd.grad(ref_out.sum(), [ref_args[k] for k in case.grad], allow_unused=True)
    grads = torch.autograd.grad(out.sum(), [args[k] for k in case.grad], allow_unused=True)
    for k, g, r in zip(case.grad, grads, ref_grads):
        r = torch.zeros_like(ref_args[k]) if r is None else r
        g = torch.zeros_like(args[k]) if g is None else g
        if not close(g.double(), r.double(), atol * 10, rtol * 10):
            err = float((g.double() - r.double()).abs().max())
            result.fail(f"wrong gradient with respect to {k} (largest difference {err:.3g}) although the "
                        f"value is right\n  {where}\n  hint: " + (hint or "is something the loss depends on "
                        "detached (.detach(), torch.no_grad, a value copied out)?"), "gradient")
            return
    result.ok()
