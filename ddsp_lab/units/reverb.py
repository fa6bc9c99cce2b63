"""Convolution reverbs: a learned impulse response and a parametric (RT60) one."""

from __future__ import annotations

import math
from typing import Dict, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from ..core.checks import check_positive, check_sample_rate, check_tensor
from ..core.convolution import fft_convolve
from ..core.conversions import unit_to_range
from .base import Processor
from .noise import _check_seed

# Amplitude decay exponent over one RT60: 60 dB is a factor of 1000 in amplitude.
LN_1000 = math.log(1000.0)


def _ir_samples(ir_duration_s, sample_rate: int) -> int:
    duration = check_positive(ir_duration_s, "ir_duration_s")
    samples = int(round(duration * sample_rate))
    if samples < 2:
        raise ValueError(
            f"ir_duration_s={duration} gives {samples} samples at {sample_rate} Hz; "
            "an impulse response needs at least 2 samples (the first is the dry path)"
        )
    return samples


def _check_batches(audio: torch.Tensor, *others: Tuple[str, torch.Tensor]) -> int:
    """Broadcast batch size of ``audio`` and ``[batch, ...]`` tensors (sizes equal or 1)."""
    batch = audio.shape[0]
    for name, tensor in others:
        size = tensor.shape[0]
        if size != batch and 1 not in (size, batch):
            raise ValueError(
                f"{name} has batch {size} but audio has batch {audio.shape[0]}; "
                "they must be equal or one of them must be 1"
            )
        batch = max(batch, size)
    return batch


def _mix_dry_wet(audio: torch.Tensor, wet: torch.Tensor, dry_gain, wet_gain) -> torch.Tensor:
    """``dry_gain * audio + wet_gain * wet``, the audio zero-padded to the wet length."""
    dry = F.pad(audio, (0, wet.shape[-1] - audio.shape[-1]))
    return dry_gain * dry + wet_gain * wet


class Reverb(Processor):
    """Convolution reverb with a learned (or supplied) impulse response.

    As in DDSP, the first sample of the impulse response is forced to zero so
    that the direct sound comes only from the dry path, and the output is
    ``audio + audio * ir`` (``*`` is convolution) when ``add_dry``.

    Args:
        sample_rate: audio sample rate in Hz.
        ir_duration_s: length of the learned impulse response in seconds
            (``> 0``; typically 0.5 to 3 s). ``round(ir_duration_s *
            sample_rate)`` samples, at least 2.
        trainable: hold the impulse response as an ``nn.Parameter`` ``ir``
            of shape ``[ir_samples]``, used whenever :meth:`get_controls`
            gets no ``ir``. Otherwise an impulse response must be supplied.
        add_dry: add the input to the wet signal (default ``True``).
        keep_tail: return ``T + K - 1`` samples including the reverb tail
            instead of the input length ``T`` (tail truncated, the default).
        initial_ir_std: standard deviation of the Gaussian initial impulse
            response. The DDSP default ``1e-6`` starts almost dry so the
            reverb does not mask the rest of the model early in training.

    Shapes:
        ``get_signal(audio [B, T], ir [B or 1, K]) -> [B, T]`` (or ``[B, T + K - 1]``)
    """

    def __init__(
        self,
        sample_rate: int,
        ir_duration_s: float = 1.0,
        trainable: bool = True,
        add_dry: bool = True,
        keep_tail: bool = False,
        initial_ir_std: float = 1e-6,
    ):
        super().__init__()
        self.sample_rate = check_sample_rate(sample_rate)
        self.ir_samples = _ir_samples(ir_duration_s, self.sample_rate)
        self.trainable = bool(trainable)
        self.add_dry = bool(add_dry)
        self.keep_tail = bool(keep_tail)
        if self.trainable:
            std = check_positive(initial_ir_std, "initial_ir_std", allow_zero=True)
            self.ir = nn.Parameter(torch.randn(self.ir_samples) * std)
        else:
            self.register_parameter("ir", None)

    def get_controls(self, audio: torch.Tensor, ir: Optional[torch.Tensor] = None) -> Dict[str, torch.Tensor]:
        """Pick the impulse response: ``ir`` if given, else the learned one.

        Args:
            audio: ``[B, T]`` (passed through).
            ir: optional ``[B or 1, K]`` impulse response.

        Returns:
            ``{"audio", "ir"}`` with ``ir`` ``[B or 1, K]``.
        """
        check_tensor(audio, "audio", ndim=2)
        if ir is None:
            if self.ir is None:
                raise ValueError("ir is required: this Reverb was built with trainable=False")
            ir = self.ir.unsqueeze(0)
        return {"audio": audio, "ir": ir}

    def get_signal(self, audio: torch.Tensor, ir: torch.Tensor) -> torch.Tensor:
        """Apply the reverb.

        Args:
            audio: ``[B, T]``.
            ir: ``[B, K]`` or ``[1, K]`` impulse response; its sample 0 is
                ignored (replaced by the dry path).

        Returns:
            ``[B, T]``, or ``[B, T + K - 1]`` with ``keep_tail``.
        """
        check_tensor(audio, "audio", ndim=2)
        check_tensor(ir, "ir", ndim=2)
        if audio.shape[-1] == 0:
            raise ValueError("audio is empty (0 samples)")
        if ir.shape[-1] < 2:
            raise ValueError(f"ir must have at least 2 samples (the first is the dry path), got shape {tuple(ir.shape)}")
        _check_batches(audio, ("ir", ir))
        wet_ir = torch.cat([torch.zeros_like(ir[:, :1]), ir[:, 1:]], dim=-1)
        wet = fft_convolve(audio, wet_ir, "full" if self.keep_tail else "causal")
        if not self.add_dry:
            return wet
        return _mix_dry_wet(audio.to(wet.dtype), wet, 1.0, 1.0)


def _logit(p: float) -> float:
    return math.log(p / (1.0 - p))


def _column(value, name: str, like: torch.Tensor, low: float, high: float, open_low: bool) -> torch.Tensor:
    """A per-example control as ``[B or 1, 1]`` in ``like``'s dtype/device, range-checked."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = torch.tensor([[float(value)]], device=like.device, dtype=like.dtype)
    check_tensor(value, name, ndim=2, last_dim=1)
    if value.numel() and bool(((value <= low) if open_low else (value < low)).any() | (value > high).any()):
        bracket = "(" if open_low else "["
        raise ValueError(
            f"{name} must be in {bracket}{low}, {high}], got values from "
            f"{float(value.min()):.6g} to {float(value.max()):.6g}"
        )
    return value.to(like.dtype)


class ParametricReverb(Processor):
    """Reverb from a few physical controls: decay time (RT60), damping, wet/dry mix.

    The impulse response is fixed Gaussian noise (drawn once from ``seed``,
    so gradients with respect to the controls are meaningful) split into
    octave bands, each band decaying exponentially:

    ``ir[t] = sum_b noise_b[t] * 10 ** (-3 * t / (sample_rate * rt60_b))``

    so its energy falls by 60 dB after ``rt60_b`` seconds, with

    ``rt60_b = decay_s * (1 - damping * centre_b / nyquist)``

    where band ``b`` is centred on ``nyquist / sqrt(2) / 2 ** (n_bands - 1 - b)``
    Hz (one octave apart, the top one at about 0.71 Nyquist) and
    neighbouring bands crossfade linearly in log-frequency, so the decay time
    changes smoothly with frequency. ``damping = 0`` decays all frequencies
    alike; ``damping = 1`` makes the top octave die about 3.4 times faster
    than the lows (air and wall absorption). The
    first sample is zeroed (the direct sound is the dry path) and the
    impulse response is scaled to unit energy so ``mix`` alone sets the
    wet level: ``out = (1 - mix) * audio + mix * (audio * ir)``.

    Args:
        sample_rate: audio sample rate in Hz.
        ir_duration_s: impulse response length in seconds (``> 0``). Keep it
            above the longest RT60 you use (decays longer than it are cut).
        decay_s: initial RT60 in seconds, inside ``decay_range_s``.
        damping: initial high-frequency damping in ``[0, 1]``.
        mix: initial wet/dry mix in ``[0, 1]`` (0 dry, 1 wet only).
        trainable: hold the three controls as trainable ``nn.Parameter``
            (in the raw, unbounded form that :meth:`get_controls` maps);
            otherwise they are fixed buffers. Either way they are used
            whenever :meth:`get_controls` is not given raw controls.
        decay_range_s: ``(low, high)`` seconds, ``0 < low < high``: the range
            :meth:`get_controls` maps raw decay values onto (log curve).
        n_damping_bands: number of octave bands for damping (``>= 1``; the
            lowest band reaches down to 0 Hz, so 8 bands resolve the decay
            down to Nyquist / 181, about 130 Hz at 48 kHz).
        seed: seed of the fixed noise (non-negative int).
        keep_tail: return ``T + K - 1`` samples including the tail instead
            of the input length ``T``.

    Shapes:
        ``get_signal(audio [B, T], decay_s [B, 1], damping [B, 1], mix [B, 1]) -> [B, T]``
        (controls of batch 1 or Python floats broadcast).
    """

    def __init__(
        self,
        sample_rate: int,
        ir_duration_s: float = 1.0,
        decay_s: float = 0.5,
        damping: float = 0.3,
        mix: float = 0.25,
        trainable: bool = True,
        decay_range_s: Tuple[float, float] = (0.05, 5.0),
        n_damping_bands: int = 8,
        seed: int = 0,
        keep_tail: bool = False,
    ):
        super().__init__()
        self.sample_rate = check_sample_rate(sample_rate)
        self.ir_samples = _ir_samples(ir_duration_s, self.sample_rate)
        low, high = (check_positive(v, "decay_range_s") for v in decay_range_s)
        if not low < high:
            raise ValueError(f"decay_range_s must be (low, high) with 0 < low < high, got {decay_range_s}")
        self.decay_range_s = (low, high)
        if isinstance(n_damping_bands, bool) or not isinstance(n_damping_bands, int) or n_damping_bands < 1:
            raise ValueError(f"n_damping_bands must be an int >= 1, got {n_damping_bands!r}")
        self.seed = _check_seed(seed if seed is not None else 0)
        self.keep_tail = bool(keep_tail)
        self.trainable = bool(trainable)

        decay_s = check_positive(decay_s, "decay_s")
        if not low <= decay_s <= high:
            raise ValueError(f"decay_s must be within decay_range_s {self.decay_range_s}, got {decay_s}")
        for name, value in (("damping", damping), ("mix", mix)):
            value = check_positive(value, name, allow_zero=True)
            if value > 1:
                raise ValueError(f"{name} must be in [0, 1], got {value}")
        # The sigmoid never reaches its ends: keep the initial raw values finite.
        edge = 1e-4
        position = math.log(decay_s / low) / math.log(high / low)
        raw = {
            "raw_decay": _logit(min(max(position, edge), 1 - edge)),
            "raw_damping": _logit(min(max(float(damping), edge), 1 - edge)),
            "raw_mix": _logit(min(max(float(mix), edge), 1 - edge)),
        }
        for name, value in raw.items():
            tensor = torch.full((1, 1), value)
            if self.trainable:
                setattr(self, name, nn.Parameter(tensor))
            else:
                self.register_buffer(name, tensor)

        noise_bands, centres = self._make_noise_bands(n_damping_bands)
        # Regenerated from the seed on construction, so not saved in state_dict.
        self.register_buffer("noise_bands", noise_bands, persistent=False)
        # Plain floats: the decay times are built in the controls' own dtype.
        self.band_centres_hz = tuple(float(c) for c in centres)

    def _make_noise_bands(self, n_bands: int) -> Tuple[torch.Tensor, torch.Tensor]:
        """Fixed noise split into overlapping octave bands that sum back to it exactly.

        Band ``b`` is centred on ``nyquist * 2 ** (b - n_bands + 1) / sqrt(2)``
        Hz. Between two neighbouring centres the spectrum is shared by the two
        bands with weights linear in log-frequency (so the decay time glides
        from one band's to the next instead of stepping at band edges); below
        the lowest centre (down to 0 Hz) and above the highest (up to Nyquist)
        one band takes everything.

        Returns ``([n_bands, ir_samples], [n_bands])``: band signals (float32)
        and band centre frequencies in Hz (float64).
        """
        generator = torch.Generator().manual_seed(self.seed)
        noise = torch.randn(self.ir_samples, generator=generator, dtype=torch.float64)
        spectrum = torch.fft.rfft(noise)
        bin_hz = torch.fft.rfftfreq(self.ir_samples, d=1.0 / self.sample_rate, dtype=torch.float64)
        nyquist = self.sample_rate / 2.0
        centres = nyquist / math.sqrt(2.0) * 2.0 ** -torch.arange(n_bands - 1, -1, -1, dtype=torch.float64)
        # Fractional band index of every bin: linear in octaves between centres.
        position = torch.log2(torch.clamp(bin_hz, min=centres[0].item()) / centres[0])
        position = torch.clamp(position, max=n_bands - 1.0)
        index = torch.arange(n_bands, dtype=torch.float64)[:, None]
        weights = torch.clamp(1.0 - (position[None] - index).abs(), min=0.0)
        bands = torch.fft.irfft(spectrum[None] * weights, self.ir_samples)
        return bands.float(), centres

    def get_controls(
        self,
        audio: torch.Tensor,
        decay: Optional[torch.Tensor] = None,
        damping: Optional[torch.Tensor] = None,
        mix: Optional[torch.Tensor] = None,
    ) -> Dict[str, torch.Tensor]:
        """Map raw (unbounded) controls to physical ones.

        Each raw control is ``[B or 1, 1]``; an omitted one comes from the
        module's own (trainable or fixed) value.

        * ``decay_s = low * (high / low) ** sigmoid(decay)`` over ``decay_range_s``,
        * ``damping = sigmoid(damping)``, ``mix = sigmoid(mix)``.

        Returns:
            ``{"audio", "decay_s", "damping", "mix"}``.
        """
        check_tensor(audio, "audio", ndim=2)
        raws = {}
        for name, value, own in (
            ("decay", decay, self.raw_decay),
            ("damping", damping, self.raw_damping),
            ("mix", mix, self.raw_mix),
        ):
            if value is None:
                value = own
            else:
                check_tensor(value, name, ndim=2, last_dim=1)
            raws[name] = value
        low, high = self.decay_range_s
        decay_s = unit_to_range(torch.sigmoid(raws["decay"]), low, high, curve="log")
        return {
            "audio": audio,
            "decay_s": decay_s,
            "damping": torch.sigmoid(raws["damping"]),
            "mix": torch.sigmoid(raws["mix"]),
        }

    def band_decay_times_s(self, decay_s: torch.Tensor, damping: torch.Tensor) -> torch.Tensor:
        """RT60 of every damping band in seconds: ``[B, 1], [B, 1] -> [B, n_damping_bands]``."""
        nyquist = self.sample_rate / 2.0
        relative_frequency = torch.tensor(
            [c / nyquist for c in self.band_centres_hz], device=decay_s.device, dtype=decay_s.dtype
        )
        return decay_s * (1.0 - damping * relative_frequency)

    def impulse_response(self, decay_s, damping, like: Optional[torch.Tensor] = None) -> torch.Tensor:
        """The unit-energy wet impulse response.

        Args:
            decay_s: ``[B, 1]`` RT60 in seconds (``> 0``) or a float.
            damping: ``[B, 1]`` in ``[0, 1]`` or a float.
            like: tensor whose dtype and device the result takes (default:
                ``decay_s`` when it is a tensor, else the noise buffer).

        Returns:
            ``[B, ir_samples]`` with sample 0 equal to 0.
        """
        if like is None:
            like = decay_s if isinstance(decay_s, torch.Tensor) else self.noise_bands
        decay_s = _column(decay_s, "decay_s", like, 0.0, math.inf, open_low=True)
        damping = _column(damping, "damping", like, 0.0, 1.0, open_low=False)
        noise = self.noise_bands.to(device=like.device, dtype=like.dtype)
        rt60 = self.band_decay_times_s(decay_s, damping)
        time_s = torch.arange(self.ir_samples, device=like.device, dtype=like.dtype) / self.sample_rate
        envelopes = torch.exp(-LN_1000 * time_s / rt60.unsqueeze(-1))
        ir = torch.einsum("bnk,nk->bk", envelopes, noise)
        ir = torch.cat([torch.zeros_like(ir[:, :1]), ir[:, 1:]], dim=-1)
        # The clamp keeps the gradient finite should the tail ever underflow to silence.
        energy = torch.clamp((ir * ir).sum(dim=-1, keepdim=True), min=1e-20)
        return ir / torch.sqrt(energy)

    def get_signal(self, audio: torch.Tensor, decay_s, damping, mix) -> torch.Tensor:
        """Apply the reverb.

        Args:
            audio: ``[B, T]``.
            decay_s: ``[B or 1, 1]`` RT60 in seconds, ``> 0`` (or a float).
            damping: ``[B or 1, 1]`` in ``[0, 1]`` (or a float).
            mix: ``[B or 1, 1]`` wet fraction in ``[0, 1]`` (or a float).

        Returns:
            ``[B, T]``, or ``[B, T + K - 1]`` with ``keep_tail``.
        """
        check_tensor(audio, "audio", ndim=2)
        if audio.shape[-1] == 0:
            raise ValueError("audio is empty (0 samples)")
        mix = _column(mix, "mix", audio, 0.0, 1.0, open_low=False)
        ir = self.impulse_response(decay_s, damping, like=audio)
        _check_batches(audio, ("decay_s/damping", ir), ("mix", mix))
        wet = fft_convolve(audio, ir, "full" if self.keep_tail else "causal")
        return _mix_dry_wet(audio, wet, 1.0 - mix, mix)
