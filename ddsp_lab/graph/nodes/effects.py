"""Effect nodes: resonant filters, reverb and a one-zero loop filter."""

from __future__ import annotations

import math
from typing import Dict

import torch

from ...core.iir import BIQUAD_GAIN_MODES, BIQUAD_MODES, SVF_OUTPUTS
from ...units.filters import Biquad as BiquadUnit
from ...units.filters import StateVariableFilter as SVFUnit
from ...units.reverb import ParametricReverb
from ..parameters import ParameterSpec
from ..node import Node, register_node
from ..ports import AUDIO, NOTE, Port
from ._common import audio_rate, check_choice, check_seed, held_value
from ..errors import GraphError


def _cutoff_and_q(cutoff_default: float) -> Dict[str, ParameterSpec]:
    return {
        "cutoff_hz": ParameterSpec("cutoff_hz", unit="Hz", minimum=0.0, exclusive_minimum=True,
                                   default=cutoff_default, description="cutoff (centre) frequency"),
        "q": ParameterSpec("q", minimum=0.0, exclusive_minimum=True, default=0.707,
                           description="resonance (0.707 is Butterworth)"),
    }


@register_node
class StateVariableFilter(Node):
    """Resonant state-variable filter with time-varying cutoff and resonance.

    Wraps :class:`ddsp_lab.units.StateVariableFilter` (stable under fast
    cutoff modulation). Cutoffs above ``0.49 * sample_rate`` are clamped.

    Args:
        output: ``"lowpass"``, ``"bandpass"`` or ``"highpass"``.
        cutoff_hz: Hz ``> 0`` (default 1000).
        q: resonance ``> 0`` (default 0.707).

    Ports:
        in: audio. out: filtered audio.
    """

    def __init__(self, output: str = "lowpass", cutoff_hz=None, q=None):
        check_choice(output, "output", SVF_OUTPUTS)
        super().__init__({"output": output}, {"cutoff_hz": cutoff_hz, "q": q})

    def parameter_specs(self) -> Dict[str, ParameterSpec]:
        return _cutoff_and_q(1000.0)

    def input_ports(self) -> Dict[str, Port]:
        return {"in": Port("in", AUDIO)}

    def _build(self):
        self.unit = SVFUnit(self.sample_rate, output=self.options["output"], hop_length=self.hop_length)

    def render(self, inputs, params, context):
        return {"out": self.unit.get_signal(inputs["in"], held_value(params["cutoff_hz"]), held_value(params["q"]))}


@register_node
class Biquad(Node):
    """RBJ biquad filter (lowpass, highpass, bandpass, notch, allpass, peaking, shelves).

    Wraps :class:`ddsp_lab.units.Biquad`.

    Args:
        mode: one of the RBJ modes.
        cutoff_hz: Hz ``> 0`` (default 1000).
        q: ``> 0`` (default 0.707).
        gain_db: dB, for ``"peaking"``, ``"lowshelf"`` and ``"highshelf"`` only
            (default 0).

    Ports:
        in: audio. out: filtered audio.
    """

    def __init__(self, mode: str = "lowpass", cutoff_hz=None, q=None, gain_db=None):
        check_choice(mode, "mode", BIQUAD_MODES)
        parameters = {"cutoff_hz": cutoff_hz, "q": q}
        if mode in BIQUAD_GAIN_MODES:
            parameters["gain_db"] = gain_db
        elif gain_db is not None:
            raise GraphError(f"gain_db only applies to Biquad modes {BIQUAD_GAIN_MODES}, not {mode!r}")
        super().__init__({"mode": mode}, parameters)

    def parameter_specs(self) -> Dict[str, ParameterSpec]:
        specs = _cutoff_and_q(1000.0)
        if self.options["mode"] in BIQUAD_GAIN_MODES:
            specs["gain_db"] = ParameterSpec("gain_db", unit="dB", default=0.0, description="shelf or peak gain")
        return specs

    def input_ports(self) -> Dict[str, Port]:
        return {"in": Port("in", AUDIO)}

    def _build(self):
        self.unit = BiquadUnit(self.sample_rate, mode=self.options["mode"], hop_length=self.hop_length)

    def render(self, inputs, params, context):
        gain = params.get("gain_db")
        return {"out": self.unit.get_signal(inputs["in"], held_value(params["cutoff_hz"]), held_value(params["q"]),
                                            None if gain is None else held_value(gain))}


@register_node
class Reverb(Node):
    """Parametric reverb: decay time (RT60), high-frequency damping and wet/dry mix.

    Wraps :class:`ddsp_lab.units.ParametricReverb` (fixed noise impulse
    response from ``seed``, so renders are reproducible and its controls are
    smooth to fit). The output keeps the input length.

    Args:
        ir_duration_s: impulse-response length in seconds; keep it above the
            longest decay used.
        seed: seed of the impulse-response noise.
        decay_s: RT60 in seconds ``> 0`` (default 0.8), per note.
        damping: ``[0, 1]`` (default 0.3), per note.
        mix: wet fraction in ``[0, 1]`` (default 0.2), per note.

    Ports:
        in: audio. out: audio.
    """

    def __init__(self, ir_duration_s: float = 1.0, seed: int = 0, decay_s=None, damping=None, mix=None):
        if isinstance(ir_duration_s, bool) or not isinstance(ir_duration_s, (int, float)) or not (
            math.isfinite(ir_duration_s) and ir_duration_s > 0
        ):
            raise GraphError(f"ir_duration_s must be a positive number of seconds, got {ir_duration_s!r}")
        if check_seed(seed) is None:
            raise GraphError("Reverb seed must be a non-negative integer")
        super().__init__({"ir_duration_s": float(ir_duration_s), "seed": seed},
                         {"decay_s": decay_s, "damping": damping, "mix": mix})

    def parameter_specs(self) -> Dict[str, ParameterSpec]:
        return {
            "decay_s": ParameterSpec("decay_s", NOTE, unit="s", minimum=0.0, exclusive_minimum=True, default=0.8,
                                     description="RT60"),
            "damping": ParameterSpec("damping", NOTE, minimum=0.0, maximum=1.0, default=0.3,
                                     description="high-frequency damping"),
            "mix": ParameterSpec("mix", NOTE, minimum=0.0, maximum=1.0, default=0.2, description="wet fraction"),
        }

    def input_ports(self) -> Dict[str, Port]:
        return {"in": Port("in", AUDIO)}

    def _build(self):
        self.unit = ParametricReverb(self.sample_rate, ir_duration_s=self.options["ir_duration_s"],
                                     trainable=False, seed=self.options["seed"])

    def render(self, inputs, params, context):
        audio = inputs["in"]
        return {"out": self.unit.get_signal(audio, params["decay_s"][..., 0], params["damping"][..., 0],
                                            params["mix"][..., 0])}


@register_node
class OneZero(Node):
    """Two-tap low-pass ``y[n] = b0 x[n] + b1 x[n - 1]``, the Karplus-Strong loop filter.

    ``b0 = (1 + brightness) / 2`` and ``b1 = 1 - b0``: brightness 0 is the
    classic two-point average (gain ``cos(pi f / sample_rate)``), 1 passes
    the signal unchanged. Renders in blocks, so it can sit in a feedback loop.

    Args:
        brightness: ``[0, 1]`` (default 0.5), control rate.

    Ports:
        in: audio. out: audio.
    """

    supports_blocks = True

    def __init__(self, brightness=None):
        super().__init__({}, {"brightness": brightness})

    def parameter_specs(self) -> Dict[str, ParameterSpec]:
        return {"brightness": ParameterSpec("brightness", minimum=0.0, maximum=1.0, default=0.5,
                                            description="0 averages two samples, 1 passes through")}

    def input_ports(self) -> Dict[str, Port]:
        return {"in": Port("in", AUDIO)}

    @staticmethod
    def _filter(signal, previous, brightness):
        b0 = 0.5 * (1.0 + brightness)
        delayed = torch.cat([previous, signal[:, :-1]], dim=1)
        return b0 * signal + (1.0 - b0) * delayed

    def render(self, inputs, params, context):
        signal = inputs["in"]
        brightness = audio_rate(params["brightness"], self.hop_length)
        return {"out": self._filter(signal, torch.zeros_like(signal[:, :1]), brightness)}

    def initial_state(self, context):
        return torch.zeros(context.batch, 1, device=context.device, dtype=context.dtype)

    def render_block(self, inputs, params, state, context):
        signal = inputs["in"]
        return {"out": self._filter(signal, state, params["brightness"][..., 0])}, signal[:, -1:]


__all__ = ["StateVariableFilter", "Biquad", "Reverb", "OneZero"]
