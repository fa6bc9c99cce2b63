"""Sound sources: oscillators, a phase-modulation operator, additive, noise, plucked string."""

from __future__ import annotations

import math
from typing import Dict, Optional

import torch

from ...core.phase import TWO_PI, accumulate_phase, wrap_phase
from ...units.harmonic import Harmonic as HarmonicUnit
from ...units.harmonic import remove_above_nyquist
from ...units.karplus import KarplusStrong as KarplusStrongUnit
from ...units.noise import NOISE_DISTRIBUTIONS
from ...units.noise import FilteredNoise as FilteredNoiseUnit
from ...units.noise import Noise as NoiseUnit
from ...units.oscillators import WAVEFORMS
from ...units.oscillators import Oscillator as OscillatorUnit
from ..errors import GraphError
from ..node import Node, register_node
from ..parameters import ParameterSpec
from ..ports import AUDIO, NOTE, Port
from ._common import audio_rate, check_channels, check_choice, check_seed


def _f0_spec(rate: str = "control") -> ParameterSpec:
    return ParameterSpec("f0_hz", rate, unit="Hz", minimum=0.0, default="f0_hz",
                         description="fundamental frequency (default: the note's pitch)")


def _amplitude_spec(default: float = 1.0) -> ParameterSpec:
    return ParameterSpec("amplitude", default=default, description="linear amplitude")


@register_node
class Oscillator(Node):
    """Band-limited sine, saw, square or triangle oscillator (additive, alias-free).

    Wraps :class:`ddsp_lab.units.Oscillator`.

    Args:
        waveform: ``"sine"``, ``"saw"``, ``"square"``, ``"triangle"`` or
            ``"mix"`` (then ``waveform_mix`` blends the four).
        max_harmonics: highest harmonic computed (default: enough to fill
            the band for ``f0 >= 20`` Hz).
        f0_hz: Hz ``>= 0`` (default: control ``"f0_hz"``).
        amplitude: linear peak amplitude (default 1).
        waveform_mix: ``[4]`` weights of sine, saw, square, triangle
            (``"mix"`` only; default pure sine).

    Ports:
        out: audio.
    """

    def __init__(self, waveform: str = "saw", max_harmonics: Optional[int] = None, f0_hz=None, amplitude=None,
                 waveform_mix=None):
        check_choice(waveform, "waveform", WAVEFORMS + ("mix",))
        if max_harmonics is not None:
            check_channels(max_harmonics, "max_harmonics")
        parameters = {"f0_hz": f0_hz, "amplitude": amplitude}
        if waveform == "mix":
            parameters["waveform_mix"] = waveform_mix
        elif waveform_mix is not None:
            raise GraphError(f'waveform_mix is only used with waveform="mix", not {waveform!r}')
        super().__init__({"waveform": waveform, "max_harmonics": max_harmonics}, parameters)

    def parameter_specs(self) -> Dict[str, ParameterSpec]:
        specs = {"f0_hz": _f0_spec(), "amplitude": _amplitude_spec()}
        if self.options["waveform"] == "mix":
            specs["waveform_mix"] = ParameterSpec("waveform_mix", channels=len(WAVEFORMS), minimum=0.0,
                                                  default=[1.0, 0.0, 0.0, 0.0],
                                                  description="weights of sine, saw, square, triangle")
        return specs

    def _build(self):
        self.unit = OscillatorUnit(self.sample_rate, self.hop_length, waveform=self.options["waveform"],
                                   max_harmonics=self.options["max_harmonics"], scale_fn=None)

    def render(self, inputs, params, context):
        return {"out": self.unit.get_signal(params["f0_hz"], params["amplitude"], params.get("waveform_mix"))}


@register_node
class SineOperator(Node):
    """A sine operator for FM and phase modulation (the DX7's building block).

    ``out[t] = amplitude[t] * sin(phase[t] + phase_mod[t])`` with the phase
    accumulated (in float64, wrapped) from the instantaneous frequency
    ``f0_hz * ratio + detune_hz + freq_mod[t]``. Feed one operator's output
    into another's ``phase_mod`` for classic (Yamaha) FM: the modulator's
    amplitude is then the modulation index in radians. ``freq_mod`` is true
    frequency modulation in Hz. The output is not band-limited: sidebands
    above Nyquist alias as in hardware FM, so keep ``index * modulator
    frequency`` well below Nyquist or raise the sample rate. Renders in
    blocks, so an operator can feed back on itself through a
    :class:`~ddsp_lab.graph.nodes.Delay`.

    Args:
        f0_hz: Hz ``>= 0`` (default: control ``"f0_hz"``).
        ratio: frequency multiplier ``>= 0`` (default 1).
        detune_hz: added frequency in Hz (default 0).
        amplitude: linear amplitude, or modulation index in radians when
            driving another operator's ``phase_mod`` (default 1).

    Ports:
        phase_mod (optional): audio, radians added to the phase.
        freq_mod (optional): audio, Hz added to the frequency.
        out: audio.
    """

    supports_blocks = True

    def __init__(self, f0_hz=None, ratio=None, detune_hz=None, amplitude=None):
        super().__init__({}, {"f0_hz": f0_hz, "ratio": ratio, "detune_hz": detune_hz, "amplitude": amplitude})

    def parameter_specs(self) -> Dict[str, ParameterSpec]:
        return {
            "f0_hz": _f0_spec(),
            "ratio": ParameterSpec("ratio", minimum=0.0, default=1.0, description="multiplies f0_hz"),
            "detune_hz": ParameterSpec("detune_hz", unit="Hz", default=0.0, description="added to f0_hz * ratio"),
            "amplitude": _amplitude_spec(),
        }

    def input_ports(self) -> Dict[str, Port]:
        return {
            "phase_mod": Port("phase_mod", AUDIO, optional=True, description="radians added to the phase"),
            "freq_mod": Port("freq_mod", AUDIO, optional=True, description="Hz added to the frequency"),
        }

    @staticmethod
    def _frequency(params, inputs, hop_length):
        control = params["f0_hz"] * params["ratio"] + params["detune_hz"]
        frequency = audio_rate(control, hop_length) if hop_length else control[..., 0]
        if "freq_mod" in inputs:
            frequency = frequency + inputs["freq_mod"]
        return frequency

    def render(self, inputs, params, context):
        frequency = self._frequency(params, inputs, self.hop_length)
        phase = accumulate_phase(frequency, self.sample_rate)
        if "phase_mod" in inputs:
            phase = phase + inputs["phase_mod"]
        return {"out": audio_rate(params["amplitude"], self.hop_length) * torch.sin(phase)}

    def initial_state(self, context):
        return torch.zeros(context.batch, 1, device=context.device, dtype=torch.float64)

    def render_block(self, inputs, params, state, context):
        # In a block, control parameters already arrive at audio rate.
        frequency = self._frequency(params, inputs, None)
        increments = frequency.to(torch.float64) * (TWO_PI / self.sample_rate)
        running = torch.cumsum(increments, dim=1)
        phase = wrap_phase(state + running - increments).to(frequency.dtype)
        if "phase_mod" in inputs:
            phase = phase + inputs["phase_mod"]
        next_state = wrap_phase(state + running[:, -1:])
        return {"out": params["amplitude"][..., 0] * torch.sin(phase)}, next_state


@register_node
class Harmonic(Node):
    """Additive harmonic oscillator (the DDSP synthesiser).

    Wraps :class:`ddsp_lab.units.Harmonic`. Harmonic ``k`` has frequency
    ``k * f0_hz`` and amplitude ``amplitude * harmonic_distribution[k-1]``;
    with ``normalize`` the distribution is divided by its sum over the
    harmonics below Nyquist, so ``amplitude`` is the total amplitude heard.

    Args:
        n_harmonics: number of harmonics ``H``.
        normalize: normalise the distribution (the DDSP convention).
        f0_hz: Hz ``>= 0`` (default: control ``"f0_hz"``).
        amplitude: linear amplitude (default 0.5).
        harmonic_distribution: ``[H]`` values ``>= 0`` (default ``1 / k``,
            a sawtooth's spectrum).

    Ports:
        out: audio.
    """

    def __init__(self, n_harmonics: int = 40, normalize: bool = True, f0_hz=None, amplitude=None,
                 harmonic_distribution=None):
        check_channels(n_harmonics, "n_harmonics")
        if not isinstance(normalize, bool):
            raise GraphError(f"normalize must be True or False, got {normalize!r}")
        super().__init__({"n_harmonics": n_harmonics, "normalize": normalize},
                         {"f0_hz": f0_hz, "amplitude": amplitude, "harmonic_distribution": harmonic_distribution})

    def parameter_specs(self) -> Dict[str, ParameterSpec]:
        count = self.options["n_harmonics"]
        return {
            "f0_hz": _f0_spec(),
            "amplitude": _amplitude_spec(0.5),
            "harmonic_distribution": ParameterSpec(
                "harmonic_distribution", channels=count, minimum=0.0,
                default=[1.0 / k for k in range(1, count + 1)], description="relative amplitude of each harmonic"),
        }

    def _build(self):
        self.unit = HarmonicUnit(self.sample_rate, self.hop_length, scale_fn=None)

    def render(self, inputs, params, context):
        f0, distribution = params["f0_hz"], params["harmonic_distribution"]
        if self.options["normalize"]:
            numbers = torch.arange(1, distribution.shape[-1] + 1, device=f0.device, dtype=f0.dtype)
            distribution = remove_above_nyquist(distribution, f0 * numbers, self.sample_rate)
            distribution = distribution / torch.clamp(distribution.sum(dim=-1, keepdim=True), min=1e-7)
        return {"out": self.unit.get_signal(f0, params["amplitude"], distribution)}


@register_node
class Noise(Node):
    """White noise with a control-rate amplitude (reproducible with a seed).

    Wraps :class:`ddsp_lab.units.Noise`.

    Args:
        distribution: ``"uniform"`` (on ``[-1, 1)``) or ``"normal"``.
        seed: every render draws the same noise (``None``: fresh noise each
            render, which a preset then cannot reproduce).
        amplitude: linear amplitude ``>= 0`` (default 0.1).

    Ports:
        out: audio.
    """

    def __init__(self, distribution: str = "uniform", seed: Optional[int] = 0, amplitude=None):
        check_choice(distribution, "distribution", NOISE_DISTRIBUTIONS)
        check_seed(seed)
        super().__init__({"distribution": distribution, "seed": seed}, {"amplitude": amplitude})

    def parameter_specs(self) -> Dict[str, ParameterSpec]:
        return {"amplitude": ParameterSpec("amplitude", minimum=0.0, default=0.1, description="linear amplitude")}

    def _build(self):
        self.unit = NoiseUnit(self.sample_rate, self.hop_length, distribution=self.options["distribution"],
                              seed=self.options["seed"], scale_fn=None)

    def render(self, inputs, params, context):
        return {"out": self.unit.get_signal(params["amplitude"])}


@register_node
class FilteredNoise(Node):
    """DDSP filtered noise: noise through a time-varying filter of band magnitudes.

    Wraps :class:`ddsp_lab.units.FilteredNoise`. Band ``k`` of ``n_bands``
    sits at ``k * sample_rate / (2 * (n_bands - 1))`` Hz.

    Args:
        n_bands: number of bands (``>= 2``).
        seed: seed of the noise (``None``: fresh noise every render).
        magnitudes: ``[n_bands]`` linear gains ``>= 0`` (default 0.05 each).

    Ports:
        out: audio.
    """

    def __init__(self, n_bands: int = 32, seed: Optional[int] = 0, magnitudes=None):
        check_channels(n_bands, "n_bands")
        if n_bands < 2:
            raise GraphError(f"n_bands must be >= 2, got {n_bands}")
        check_seed(seed)
        super().__init__({"n_bands": n_bands, "seed": seed}, {"magnitudes": magnitudes})

    def parameter_specs(self) -> Dict[str, ParameterSpec]:
        return {"magnitudes": ParameterSpec("magnitudes", channels=self.options["n_bands"], minimum=0.0,
                                            default=0.05, description="gain of each band")}

    def _build(self):
        self.unit = FilteredNoiseUnit(self.sample_rate, self.hop_length, n_bands=self.options["n_bands"],
                                      scale_fn=None, initial_bias=0.0, seed=self.options["seed"])

    def render(self, inputs, params, context):
        return {"out": self.unit.get_signal(params["magnitudes"])}


@register_node
class KarplusStrong(Node):
    """Plucked string (exactly tuned Karplus-Strong loop, rendered in closed form).

    Wraps :class:`ddsp_lab.units.KarplusStrong`: one pluck per batch item,
    at the item's first note-on (first frame where ``gate > 0.5``), excited
    by a noise burst of ``burst_periods`` periods, or by the ``excitation``
    input when it is connected (then used as given, from sample 0).

    Args:
        burst_periods: length of the noise burst in periods of ``f0``.
        seed: seed of the noise burst.
        f0_hz: Hz, ``0 < f0 <= sample_rate / 4``, per note (default: control ``"f0_hz"``).
        decay_s: 60 dB decay of the fundamental at brightness 1, seconds (default 1.5).
        brightness: loop low-pass in ``[0, 1]`` (default 0.5).
        gate: note gate ``[B, F, 1]`` (default: control ``"gate"``).

    Ports:
        excitation (optional): audio fed into the string.
        out: audio.
    """

    def __init__(self, burst_periods: float = 1.0, seed: int = 0, f0_hz=None, decay_s=None, brightness=None,
                 gate=None):
        if isinstance(burst_periods, bool) or not isinstance(burst_periods, (int, float)) or not (
            math.isfinite(burst_periods) and burst_periods > 0
        ):
            raise GraphError(f"burst_periods must be a positive number, got {burst_periods!r}")
        if check_seed(seed) is None:
            raise GraphError("KarplusStrong seed must be a non-negative integer")
        super().__init__({"burst_periods": float(burst_periods), "seed": seed},
                         {"f0_hz": f0_hz, "decay_s": decay_s, "brightness": brightness, "gate": gate})

    def parameter_specs(self) -> Dict[str, ParameterSpec]:
        f0 = _f0_spec(NOTE)
        return {
            "f0_hz": ParameterSpec("f0_hz", NOTE, unit="Hz", minimum=0.0, exclusive_minimum=True, default="f0_hz",
                                   description=f0.description),
            "decay_s": ParameterSpec("decay_s", NOTE, unit="s", minimum=0.0, exclusive_minimum=True, default=1.5,
                                     description="60 dB decay time"),
            "brightness": ParameterSpec("brightness", NOTE, minimum=0.0, maximum=1.0, default=0.5,
                                        description="0 darkest, 1 no loop low-pass"),
            "gate": ParameterSpec("gate", default="gate", description="the pluck starts at the first note-on"),
        }

    def input_ports(self) -> Dict[str, Port]:
        return {"excitation": Port("excitation", AUDIO, optional=True, description="signal fed into the string")}

    def _build(self):
        self.unit = KarplusStrongUnit(self.sample_rate, burst_periods=self.options["burst_periods"],
                                      seed=self.options["seed"])

    def render(self, inputs, params, context):
        f0 = params["f0_hz"][..., 0]
        decay, brightness = params["decay_s"][..., 0], params["brightness"][..., 0]
        samples = context.samples
        excitation = inputs.get("excitation")
        if excitation is None:
            burst = self.unit.noise_excitation(f0, samples, batch=context.batch, like=f0)
            on = params["gate"][..., 0] > 0.5
            # The burst starts at each item's first note-on; an item without one stays silent.
            onset = torch.where(on.any(dim=1), on.to(torch.int64).argmax(dim=1), torch.full_like(on[:, 0], -1,
                                                                                               dtype=torch.int64))
            start = (onset * self.hop_length).unsqueeze(1)
            index = torch.arange(samples, device=f0.device).unsqueeze(0) - start
            valid = (index >= 0) & (start >= 0)
            excitation = torch.where(valid, torch.gather(burst, 1, index.clamp(min=0)), torch.zeros_like(burst))
        return {"out": self.unit.get_signal(f0, decay, brightness, excitation=excitation, num_samples=samples)}


__all__ = ["Oscillator", "SineOperator", "Harmonic", "Noise", "FilteredNoise", "KarplusStrong"]
