"""Modulation sources and shapers: envelopes, LFOs, and scale-and-offset."""

from __future__ import annotations

import math
from typing import Dict

from ...units.envelopes import ADSR as ADSRUnit
from ...units.oscillators import LFO as LFOUnit
from ...units.oscillators import LFO_WAVEFORMS
from ..errors import GraphError
from ..parameters import ParameterSpec
from ..node import Node, register_node
from ..ports import AUDIO, CONTROL, NOTE, Port
from ._common import audio_rate, check_channels, check_choice, check_seed, check_signal_rate


def _check_curve(curve):
    values = list(curve) if isinstance(curve, (list, tuple)) else [curve]
    if len(values) not in (1, 3) or any(
        isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) for v in values
    ):
        raise GraphError(f"curve must be a number or an (attack, decay, release) triple of numbers, got {curve!r}")
    return values[0] if len(values) == 1 else values


@register_node
class ADSR(Node):
    """Attack-decay-sustain-release envelope of the ``gate`` control.

    Wraps :class:`ddsp_lab.units.ADSR`. By default the gate comes from note
    events (the external control ``"gate"``). Times and levels are per note.

    Args:
        rate: output rate, ``"control"`` (``[B, F, 1]``, to modulate
            parameters) or ``"audio"`` (``[B, T]``, to multiply audio).
        curve: 0 for linear segments, a number ``k`` or an (attack, decay,
            release) triple for exponential ones (``k > 0`` fast start).
        retrigger: ``"current"`` or ``"zero"`` (see the unit).
        gate: ``[B, F, 1]`` gate, on where ``> 0.5`` (default: control ``"gate"``).
        attack_s: seconds ``> 0`` (default 0.01).
        decay_s: seconds ``> 0`` (default 0.2).
        sustain: fraction of ``peak`` in ``[0, 1]`` (default 0.7).
        release_s: seconds ``> 0`` (default 0.2).
        peak: level at the end of the attack, ``>= 0`` (default 1).

    Ports:
        out: the envelope at ``rate``.
    """

    def __init__(
        self,
        rate: str = CONTROL,
        curve=0.0,
        retrigger: str = "current",
        gate=None,
        attack_s=None,
        decay_s=None,
        sustain=None,
        release_s=None,
        peak=None,
    ):
        check_signal_rate(rate)
        curve = _check_curve(curve)
        check_choice(retrigger, "retrigger", ("current", "zero"))
        super().__init__(
            {"rate": rate, "curve": curve, "retrigger": retrigger},
            {"gate": gate, "attack_s": attack_s, "decay_s": decay_s, "sustain": sustain,
             "release_s": release_s, "peak": peak},
        )

    def parameter_specs(self) -> Dict[str, ParameterSpec]:
        def seconds(name, default, text):
            return ParameterSpec(name, NOTE, unit="s", minimum=0.0, exclusive_minimum=True, default=default,
                                 description=text)

        return {
            "gate": ParameterSpec("gate", default="gate", description="note on where > 0.5"),
            "attack_s": seconds("attack_s", 0.01, "note-on to peak"),
            "decay_s": seconds("decay_s", 0.2, "peak to sustain level"),
            "sustain": ParameterSpec("sustain", NOTE, minimum=0.0, maximum=1.0, default=0.7,
                                     description="fraction of peak held while the gate is on"),
            "release_s": seconds("release_s", 0.2, "note-off to silence"),
            "peak": ParameterSpec("peak", NOTE, minimum=0.0, default=1.0, description="level after the attack"),
        }

    def output_ports(self) -> Dict[str, Port]:
        return {"out": Port("out", self.options["rate"])}

    def _build(self):
        unit_rate = "frame" if self.options["rate"] == CONTROL else "audio"
        self.unit = ADSRUnit(self.sample_rate, self.hop_length, rate=unit_rate, curve=self.options["curve"],
                             retrigger=self.options["retrigger"])

    def render(self, inputs, params, context):
        envelope = self.unit.get_signal(
            params["gate"], params["attack_s"], params["decay_s"], params["sustain"], params["release_s"],
            params["peak"],
        )
        return {"out": envelope}


@register_node
class LFO(Node):
    """Low-frequency oscillator: ``offset + depth * wave``, a control signal.

    Wraps :class:`ddsp_lab.units.LFO`. ``depth`` and ``offset`` carry the
    unit of whatever the LFO drives, so ``LFO(rate_hz=5, depth=200,
    offset=1000)`` into a filter's ``cutoff_hz`` sweeps 800 .. 1200 Hz; into a
    parameter with ``mode="add"`` it modulates around that parameter's value.

    Args:
        waveform: ``"sine"``, ``"triangle"``, ``"saw"``, ``"square"`` or
            ``"sample_and_hold"``.
        seed: seed of the sample-and-hold values.
        rate_hz: Hz ``>= 0`` (default 5).
        depth: peak deviation (default 1).
        offset: centre value (default 0).

    Ports:
        out: control ``[B, F, 1]``.
    """

    def __init__(self, waveform: str = "sine", seed: int = 0, rate_hz=None, depth=None, offset=None):
        check_choice(waveform, "waveform", LFO_WAVEFORMS)
        if check_seed(seed) is None:
            raise GraphError("LFO seed must be a non-negative integer")
        super().__init__({"waveform": waveform, "seed": seed},
                         {"rate_hz": rate_hz, "depth": depth, "offset": offset})

    def parameter_specs(self) -> Dict[str, ParameterSpec]:
        return {
            "rate_hz": ParameterSpec("rate_hz", unit="Hz", minimum=0.0, default=5.0, description="LFO frequency"),
            "depth": ParameterSpec("depth", default=1.0, description="peak deviation from offset"),
            "offset": ParameterSpec("offset", default=0.0, description="centre value"),
        }

    def output_ports(self) -> Dict[str, Port]:
        return {"out": Port("out", CONTROL)}

    def _build(self):
        self.unit = LFOUnit(self.sample_rate, self.hop_length, waveform=self.options["waveform"],
                            seed=self.options["seed"])

    def render(self, inputs, params, context):
        return {"out": self.unit.get_signal(params["rate_hz"], params["depth"], params["offset"])}


@register_node
class ScaleOffset(Node):
    """``out = offset + scale * in``: map a modulation source onto a parameter's range.

    For example an envelope in ``[0, 1]`` through ``ScaleOffset(scale=3000,
    offset=200)`` sweeps a cutoff from 200 Hz to 3.2 kHz. Both may be learnable
    or modulated themselves.

    Args:
        rate: ``"control"`` or ``"audio"`` (then ``scale`` and ``offset`` are
            upsampled linearly).
        channels: channels of a control-rate signal.
        scale: multiplier (default 1).
        offset: added value (default 0).

    Ports:
        in: signal at ``rate``. out: the mapped signal.
    """

    supports_blocks = True

    def __init__(self, rate: str = CONTROL, channels: int = 1, scale=None, offset=None):
        check_signal_rate(rate)
        check_channels(channels)
        if rate == AUDIO and channels != 1:
            raise GraphError("an audio-rate ScaleOffset has one channel")
        super().__init__({"rate": rate, "channels": channels}, {"scale": scale, "offset": offset})

    def parameter_specs(self) -> Dict[str, ParameterSpec]:
        return {
            "scale": ParameterSpec("scale", default=1.0, description="multiplier"),
            "offset": ParameterSpec("offset", default=0.0, description="added after scaling"),
        }

    def _port(self, name):
        return Port(name, self.options["rate"], self.options["channels"])

    def input_ports(self) -> Dict[str, Port]:
        return {"in": self._port("in")}

    def output_ports(self) -> Dict[str, Port]:
        return {"out": self._port("out")}

    def render(self, inputs, params, context):
        scale, offset = params["scale"], params["offset"]
        if self.options["rate"] == AUDIO:
            scale, offset = audio_rate(scale, self.hop_length), audio_rate(offset, self.hop_length)
        return {"out": offset + scale * inputs["in"]}

    def render_block(self, inputs, params, state, context):
        scale, offset = params["scale"], params["offset"]
        if self.options["rate"] == AUDIO:
            scale, offset = scale[..., 0], offset[..., 0]
        return {"out": offset + scale * inputs["in"]}, state


__all__ = ["ADSR", "LFO", "ScaleOffset"]
