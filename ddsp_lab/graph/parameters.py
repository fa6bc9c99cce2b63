"""Node parameters: fixed, learnable, or bound to an external control.

Every parameter of a graph node is one of

* :class:`Fixed`: a constant in physical units (Hz, seconds, dB, linear gain);
* :class:`Learnable`: a value inside a ``(low, high)`` range with a
  ``"linear"`` or ``"log"`` curve. It is *stored normalised*, as an
  ``nn.Parameter`` ``u`` in ``[0, 1]``, and *shown* in physical units
  ``unit_to_range(u, low, high, curve)``. Gradient descent therefore moves
  every parameter in the same scale-free units (a step of 0.01 is 1 % of its
  range, whether the range is in Hz or in seconds), and
  :meth:`Learnable.project_` clamps ``u`` back into ``[0, 1]`` after a step;
* :class:`External`: bound to a named control given at render time: note
  events (``"f0_hz"``, ``"velocity"``, ``"gate"``, see
  :func:`~ddsp_lab.graph.notes.notes_to_controls`) or a network's outputs.
  With a ``range`` the control is taken as normalised (``[0, 1]``, e.g. a
  sigmoid output) and mapped onto the range; without one it is used as given,
  in physical units.

Node constructors accept plain values as shorthand: a number or a sequence of
numbers is a :class:`Fixed`, a string is an :class:`External` of that name.

A node declares what each parameter accepts with a :class:`ParameterSpec`
(rate, channels, unit, allowed domain, default).
"""

from __future__ import annotations

import abc
import math
from dataclasses import dataclass
from typing import Any, Dict, Optional, Sequence, Tuple, Union

import torch
from torch import nn

from ..core.checks import check_tensor
from ..core.conversions import unit_to_range
from .errors import GraphError
from .ports import CONTROL, NOTE, Port, check_rate, rate_shape

CURVES: Tuple[str, ...] = ("linear", "log")

Number = Union[int, float]
ParameterLike = Union["Parameter", Number, Sequence[Number], str]


def _as_values(value, where: str) -> Tuple[Tuple[float, ...], bool]:
    """``(values, is_vector)`` from a number or a non-empty sequence of finite numbers."""
    if isinstance(value, torch.Tensor):
        if value.dim() > 1:
            raise GraphError(
                f"{where}: a parameter value must be a number or a 1-D sequence, got shape {tuple(value.shape)}"
            )
        is_vector = value.dim() == 1
        value = value.detach().cpu().tolist() if is_vector else float(value)
    if isinstance(value, bool):
        raise GraphError(f"{where}: a parameter value must be a number, got bool")
    if isinstance(value, (int, float)):
        values, is_vector = (float(value),), False
    elif isinstance(value, (list, tuple)):
        if len(value) == 0:
            raise GraphError(f"{where}: a parameter value sequence must not be empty")
        if any(isinstance(v, bool) or not isinstance(v, (int, float)) for v in value):
            raise GraphError(f"{where}: a parameter value sequence must hold numbers only, got {value!r}")
        values, is_vector = tuple(float(v) for v in value), True
    else:
        raise GraphError(f"{where}: a parameter value must be a number or a sequence of numbers, got {value!r}")
    if not all(math.isfinite(v) for v in values):
        raise GraphError(f"{where}: parameter values must be finite, got {value!r}")
    return values, is_vector


def _check_range(value_range, curve: str, where: str) -> Tuple[float, float]:
    if curve not in CURVES:
        raise GraphError(f"{where}: curve must be one of {CURVES}, got {curve!r}")
    if not isinstance(value_range, (list, tuple)) or len(value_range) != 2:
        raise GraphError(f"{where}: range must be a (low, high) pair, got {value_range!r}")
    if any(isinstance(v, bool) or not isinstance(v, (int, float)) for v in value_range):
        raise GraphError(f"{where}: range must hold two numbers, got {value_range!r}")
    low, high = float(value_range[0]), float(value_range[1])
    if not (math.isfinite(low) and math.isfinite(high) and low < high):
        raise GraphError(f"{where}: range must be finite with low < high, got {value_range!r}")
    if curve == "log" and low <= 0:
        raise GraphError(f"{where}: a log curve needs a positive range, got {value_range!r}")
    return low, high


def _to_unit(value: float, low: float, high: float, curve: str) -> float:
    """Inverse of ``unit_to_range`` for one Python float (float64 arithmetic)."""
    if curve == "log":
        return math.log(value / low) / math.log(high / low)
    return (value - low) / (high - low)


def _from_unit(unit: float, low: float, high: float, curve: str) -> float:
    """``unit_to_range`` for one Python float (float64 arithmetic)."""
    if curve == "log":
        return low * (high / low) ** unit
    return low + (high - low) * unit


@dataclass(frozen=True)
class ParameterSpec:
    """What a node parameter accepts.

    Attributes:
        name: parameter (and port) name.
        rate: ``"control"`` (``[B, F, C]``, may vary over time and be
            modulated) or ``"note"`` (one value per note, ``[B, 1, C]``).
        channels: ``C``; a scalar value or a 1-channel control broadcasts.
        unit: physical unit shown to users (``"Hz"``, ``"s"``, ``""``...).
        minimum, maximum: allowed domain of fixed values and learnable
            ranges (``exclusive_minimum`` makes the minimum itself invalid).
        default: the parameter used when the node is built without one:
            a number, a sequence, or a string (an external control name).
        description: one line shown in summaries.
    """

    name: str
    rate: str = CONTROL
    channels: int = 1
    unit: str = ""
    minimum: float = -math.inf
    maximum: float = math.inf
    exclusive_minimum: bool = False
    default: Any = 0.0
    description: str = ""

    def __post_init__(self):
        check_rate(self.rate, f"rate of parameter {self.name!r}", (CONTROL, NOTE))

    def port(self) -> Port:
        """The parameter seen as an input port (parameters can be driven by connections)."""
        return Port(self.name, self.rate, self.channels, optional=True, description=self.description)

    def domain_text(self) -> str:
        """The allowed domain, e.g. ``"> 0"`` or ``"[0, 1]"``."""
        low, high = self.minimum, self.maximum
        if math.isinf(low) and math.isinf(high):
            return "any value"
        if math.isinf(high):
            return f"{'>' if self.exclusive_minimum else '>='} {low:g}"
        left = "(" if self.exclusive_minimum else "["
        return f"{left}{low:g}, {high:g}]"

    def contains(self, value: float) -> bool:
        """Whether ``value`` lies in the domain."""
        above = value > self.minimum if self.exclusive_minimum else value >= self.minimum
        return above and value <= self.maximum

    def check_values(self, values: Sequence[float], where: str) -> None:
        """Raise a ``GraphError`` unless every value lies in the domain."""
        bad = [v for v in values if not self.contains(v)]
        if bad:
            raise GraphError(f"{where} must be {self.domain_text()} {self.unit}".rstrip() + f", got {bad[0]:g}")


class Parameter(nn.Module, abc.ABC):
    """Base class of :class:`Fixed`, :class:`Learnable` and :class:`External`."""

    kind: str = ""

    def __init__(self):
        super().__init__()
        self._owned = False

    def claim(self, where: str) -> None:
        """Mark the parameter as used by one node parameter (a Parameter object is never shared)."""
        if self._owned:
            raise GraphError(
                f"{where}: this {type(self).__name__} object already belongs to another node parameter; "
                "create one Parameter per node parameter"
            )
        self._owned = True

    @property
    def channels(self) -> Optional[int]:
        """Number of values held (1 for a scalar), ``None`` for an external control."""
        return None

    def check(self, spec: ParameterSpec, where: str) -> None:
        """Check the parameter against the spec's channels and domain."""
        channels = self.channels
        if channels is not None and channels not in (1, spec.channels):
            raise GraphError(f"{where} takes {spec.channels} value(s) (or one for all), got {channels}")

    @abc.abstractmethod
    def resolve(self, context, spec: ParameterSpec, where: str) -> torch.Tensor:
        """The physical value as a tensor broadcastable to ``[B, F, C]`` (``[B, 1, C]`` for note rate)."""

    def physical_value(self):
        """Physical value: a float, a list of floats, or ``None`` for an external control."""
        return None

    @abc.abstractmethod
    def to_dict(self) -> Dict[str, Any]:
        """JSON-ready description (see :mod:`ddsp_lab.graph.presets`)."""

    @abc.abstractmethod
    def describe(self, unit: str = "") -> str:
        """Short text for summaries, e.g. ``"1200 Hz"``."""


def _format_values(values, unit: str = "") -> str:
    if isinstance(values, list):
        if len(values) > 4:
            text = f"[{values[0]:.4g}, {values[1]:.4g}, ..., {values[-1]:.4g}] ({len(values)} values)"
        else:
            text = "[" + ", ".join(f"{v:.4g}" for v in values) + "]"
    else:
        text = f"{values:.6g}"
    return f"{text} {unit}".rstrip()


class Fixed(Parameter):
    """A constant parameter in physical units.

    Args:
        value: a number, or a sequence of numbers (one per channel).
    """

    kind = "fixed"

    def __init__(self, value: Union[Number, Sequence[Number]]):
        super().__init__()
        self.values, self.is_vector = _as_values(value, "Fixed")

    @property
    def channels(self) -> int:
        return len(self.values)

    def check(self, spec: ParameterSpec, where: str) -> None:
        super().check(spec, where)
        spec.check_values(self.values, where)

    def resolve(self, context, spec: ParameterSpec, where: str) -> torch.Tensor:
        return torch.tensor(self.values, dtype=context.dtype, device=context.device).reshape(1, 1, -1)

    def physical_value(self):
        return list(self.values) if self.is_vector else self.values[0]

    def to_dict(self) -> Dict[str, Any]:
        return {"kind": self.kind, "value": self.physical_value()}

    def describe(self, unit: str = "") -> str:
        return _format_values(self.physical_value(), unit)


class Learnable(Parameter):
    """A parameter fitted by gradient descent, stored normalised in ``[0, 1]``.

    The physical value is ``unit_to_range(u, low, high, curve)`` with ``u``
    the ``nn.Parameter`` :attr:`normalized` (clamped to ``[0, 1]`` when
    used). A ``"log"`` curve suits frequencies and times (equal steps of
    ``u`` are equal ratios).

    Args:
        value: initial physical value (a number, or a sequence with one value
            per channel), inside ``range``.
        range: ``(low, high)`` in physical units, ``low < high`` (``low > 0``
            for ``"log"``).
        curve: ``"linear"`` or ``"log"``.
    """

    kind = "learnable"

    def __init__(self, value: Union[Number, Sequence[Number]], range: Tuple[float, float], curve: str = "linear"):
        super().__init__()
        self.low, self.high = _check_range(range, curve, "Learnable")
        self.curve = curve
        values, self.is_vector = _as_values(value, "Learnable")
        outside = [v for v in values if not self.low <= v <= self.high]
        if outside:
            raise GraphError(f"Learnable value {outside[0]:g} lies outside its range [{self.low:g}, {self.high:g}]")
        units = [min(max(_to_unit(v, self.low, self.high, curve), 0.0), 1.0) for v in values]
        self.normalized = nn.Parameter(torch.tensor(units, dtype=torch.get_default_dtype()))

    @property
    def range(self) -> Tuple[float, float]:
        """``(low, high)`` in physical units."""
        return (self.low, self.high)

    @property
    def channels(self) -> int:
        return self.normalized.numel()

    def check(self, spec: ParameterSpec, where: str) -> None:
        super().check(spec, where)
        spec.check_values((self.low, self.high), f"{where} (range)")

    def resolve(self, context, spec: ParameterSpec, where: str) -> torch.Tensor:
        unit = torch.clamp(self.normalized, 0.0, 1.0).to(device=context.device, dtype=context.dtype)
        return unit_to_range(unit, self.low, self.high, self.curve).reshape(1, 1, -1)

    def physical_value(self):
        values = [_from_unit(u, self.low, self.high, self.curve) for u in self.normalized_values()]
        return values if self.is_vector else values[0]

    @property
    def value(self):
        """The physical value (a float, or a list for a vector parameter)."""
        return self.physical_value()

    def normalized_values(self) -> list:
        """The stored values ``u`` (clamped to ``[0, 1]``) as Python floats."""
        return [min(max(float(u), 0.0), 1.0) for u in self.normalized.detach().cpu().reshape(-1)]

    def set_value(self, value: Union[Number, Sequence[Number]]) -> None:
        """Set the physical value (inside the range); not tracked by autograd."""
        values, _ = _as_values(value, "Learnable.set_value")
        if len(values) not in (1, self.channels):
            raise GraphError(f"Learnable.set_value needs 1 or {self.channels} values, got {len(values)}")
        outside = [v for v in values if not self.low <= v <= self.high]
        if outside:
            raise GraphError(f"value {outside[0]:g} lies outside the range [{self.low:g}, {self.high:g}]")
        units = [_to_unit(v, self.low, self.high, self.curve) for v in values]
        self.set_normalized(units if len(units) == self.channels else units * self.channels)

    def set_normalized(self, units: Union[Number, Sequence[Number]]) -> None:
        """Set the stored normalised values directly (each in ``[0, 1]``)."""
        values, _ = _as_values(units, "Learnable.set_normalized")
        if len(values) != self.channels or any(not 0.0 <= u <= 1.0 for u in values):
            raise GraphError(f"normalised values must be {self.channels} numbers in [0, 1], got {units!r}")
        with torch.no_grad():
            self.normalized.copy_(torch.tensor(values, dtype=self.normalized.dtype))

    def project_(self) -> None:
        """Clamp the stored values into ``[0, 1]`` in place (call after an optimiser step)."""
        with torch.no_grad():
            self.normalized.clamp_(0.0, 1.0)

    def to_dict(self) -> Dict[str, Any]:
        units = self.normalized_values()
        return {
            "kind": self.kind,
            "value": self.physical_value(),
            "range": [self.low, self.high],
            "curve": self.curve,
            "normalized": units if self.is_vector else units[0],
        }

    def describe(self, unit: str = "") -> str:
        return _format_values(self.physical_value(), unit)


class External(Parameter):
    """A parameter bound to a named control given at render time.

    Args:
        control: the control's name, e.g. ``"f0_hz"``, ``"velocity"``,
            ``"gate"`` (from note events) or any name a network's output is
            passed under.
        range: optional ``(low, high)``: the control is then normalised
            (values in ``[0, 1]``, such as a sigmoid output) and mapped onto
            the range with ``curve``. Without it the control is used as given,
            in the parameter's physical unit.
        curve: ``"linear"`` or ``"log"`` (only with ``range``).

    A control may be ``[B, F, C]`` (frame rate, ``F`` the rendered frames),
    ``[B, 1, C]``, ``[B, 1]`` or ``[B]`` (one value per item); a batch of 1
    and a single channel broadcast.
    """

    kind = "external"

    def __init__(self, control: str, range: Optional[Tuple[float, float]] = None, curve: str = "linear"):
        super().__init__()
        if not isinstance(control, str) or not control:
            raise GraphError(f"External control name must be a non-empty string, got {control!r}")
        self.control = control
        self.curve = curve
        self.low = self.high = None
        if range is not None:
            self.low, self.high = _check_range(range, curve, f"External({control!r})")
        elif curve != "linear":
            raise GraphError(f"External({control!r}): a curve needs a range")

    @property
    def range(self) -> Optional[Tuple[float, float]]:
        """``(low, high)`` when the control is normalised, else ``None``."""
        return None if self.low is None else (self.low, self.high)

    def check(self, spec: ParameterSpec, where: str) -> None:
        if self.low is not None:
            spec.check_values((self.low, self.high), f"{where} (range)")

    def resolve(self, context, spec: ParameterSpec, where: str) -> torch.Tensor:
        controls = context.controls
        if self.control not in controls:
            known = ", ".join(sorted(controls)) or "none"
            raise GraphError(
                f"{where} is bound to the external control {self.control!r}, which was not given "
                f"(controls given: {known})"
            )
        value = external_control(controls[self.control], self.control, spec, context, where)
        if self.low is not None:
            if value.numel() and bool(((value < 0) | (value > 1)).any()):
                raise GraphError(
                    f"control {self.control!r} drives {where} through the range [{self.low:g}, {self.high:g}], "
                    f"so it must lie in [0, 1]; got values in [{float(value.min()):.6g}, {float(value.max()):.6g}]"
                )
            value = unit_to_range(value, self.low, self.high, self.curve)
        return value

    def to_dict(self) -> Dict[str, Any]:
        data: Dict[str, Any] = {"kind": self.kind, "control": self.control}
        if self.low is not None:
            data["range"] = [self.low, self.high]
            data["curve"] = self.curve
        return data

    def describe(self, unit: str = "") -> str:
        if self.low is None:
            return f"<- control {self.control!r}"
        return f"<- control {self.control!r} mapped onto [{self.low:g}, {self.high:g}] {unit} ({self.curve})".rstrip()


def external_control(value, name: str, spec: ParameterSpec, context, where: str) -> torch.Tensor:
    """Check an external control and shape it ``[B or 1, F or 1, C or 1]`` for ``spec``.

    Note-rate parameters accept a frame-rate control only when it is constant
    over frames (one note per batch item), and take its first frame.
    """
    label = f"controls[{name!r}]"
    check_tensor(value, label, ndim=(1, 2, 3))
    if value.dim() == 1:
        value = value.reshape(-1, 1, 1)
    elif value.dim() == 2:
        if value.shape[1] != 1:
            raise GraphError(
                f"{label} has shape {tuple(value.shape)}; a 2-D control must be [B, 1] (one value per item), "
                f"frame-rate controls are [B, F, C]"
            )
        value = value.unsqueeze(-1)
    batch, frames, channels = value.shape
    if batch not in (1, context.batch):
        raise GraphError(
            f"{label} has batch {batch} but the render has batch {context.batch} (use {context.batch} or 1)"
        )
    if frames not in (1, context.frames):
        raise GraphError(f"{label} has {frames} frames but the render has {context.frames} (use {context.frames} or 1)")
    if channels not in (1, spec.channels):
        raise GraphError(f"{label} has {channels} channels but {where} takes {rate_shape(spec.rate, spec.channels)}")
    if spec.rate == NOTE and frames > 1:
        if not bool((value == value[:, :1]).all()):
            raise GraphError(
                f"{label} varies over frames, but {where} takes one value per note; render one note per "
                "batch item, or drive a control-rate parameter instead"
            )
        value = value[:, :1]
    return value.to(device=context.device, dtype=context.dtype)


def as_parameter(value: ParameterLike, where: str) -> Parameter:
    """A :class:`Parameter` from a Parameter, a number or sequence (:class:`Fixed`) or a string (:class:`External`)."""
    if isinstance(value, Parameter):
        return value
    if isinstance(value, str):
        return External(value)
    try:
        return Fixed(value)
    except GraphError as error:
        raise GraphError(f"{where}: {error}") from None


def parameter_from_dict(data, where: str) -> Parameter:
    """Rebuild a parameter from its preset entry (see :meth:`Parameter.to_dict`).

    For a learnable parameter, ``"value"`` (physical units) is authoritative;
    ``"normalized"`` restores the stored number bit for bit when it agrees
    with ``"value"`` (to a relative 1e-9), so a preset saved and loaded
    renders identical samples, and a hand-edited ``"value"`` still takes
    effect.
    """
    if not isinstance(data, dict):
        raise GraphError(f"{where} must be an object with a 'kind', got {data!r}")
    kind = data.get("kind")
    allowed = {
        "fixed": {"kind", "value", "unit"},
        "learnable": {"kind", "value", "range", "curve", "normalized", "unit"},
        "external": {"kind", "control", "range", "curve", "unit"},
    }
    if kind not in allowed:
        raise GraphError(f"{where}: 'kind' must be one of {sorted(allowed)}, got {kind!r}")
    unknown = set(data) - allowed[kind]
    if unknown:
        raise GraphError(f"{where}: unknown field(s) {sorted(unknown)} for a {kind} parameter")

    def field(key):
        if key not in data:
            raise GraphError(f"{where}: a {kind} parameter needs the field {key!r}")
        return data[key]

    try:
        if kind == "fixed":
            return Fixed(field("value"))
        if kind == "external":
            return External(field("control"), data.get("range"), data.get("curve", "linear"))
        parameter = Learnable(field("value"), field("range"), data.get("curve", "linear"))
        if "normalized" in data:
            units, _ = _as_values(data["normalized"], f"{where} normalized")
            if len(units) == parameter.channels and all(0.0 <= u <= 1.0 for u in units):
                stated, _ = _as_values(data["value"], where)
                implied = [_from_unit(u, parameter.low, parameter.high, parameter.curve) for u in units]
                if all(abs(a - b) <= 1e-9 * max(1.0, abs(a)) for a, b in zip(stated, implied)):
                    parameter.set_normalized(units)
        return parameter
    except GraphError as error:
        raise GraphError(f"{where}: {error}") from None
