"""Workload, case registry and input helpers shared by the benchmark case modules.

A case is a function ``case(device, frames=None) -> (run, leaves)``: ``run()``
computes one output (audio, a control signal or a loss) and ``leaves`` are the
tensors whose gradients a forward+backward pass computes. Cases are
registered in :data:`CASES` under a key, together with the size they run at
(:data:`SIZES`), so that times can be normalised per second of audio.

Sizes come from the current :class:`Workload` (:func:`workload`), which
:func:`configure` switches between workload H and the quick smoke-test
workload. ``frames`` overrides the length of one call (tests render ours and
the baseline on the same short input to check that they agree).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Callable, Dict, Optional, Tuple

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class Workload:
    """Sizes of one benchmark run.

    Attributes:
        name: shown in the table header.
        batch: batch items of most cases.
        frames: control frames per item (``frames * hop`` samples).
        sample_rate: Hz.
        hop: samples per control frame.
        harmonics: partials of the additive synths.
        bands: magnitudes per frame of the time-varying FIR filters.
        loop_frames: input length, in frames, of the per-sample Python-loop
            baselines (too slow for the full length; their times are
            normalised per second of audio like every other row).
        reverb_batch: batch of both reverb cases (the direct-convolution
            baseline is too slow for the full batch).
        reverb_ir_seconds: impulse response length of the reverbs, seconds.
        dtype: dtype of every input.
    """

    name: str
    batch: int
    frames: int
    sample_rate: int = 16000
    hop: int = 64
    harmonics: int = 100
    bands: int = 65
    loop_frames: int = 64
    reverb_batch: int = 1
    reverb_ir_seconds: float = 1.0
    dtype: torch.dtype = torch.float32

    @property
    def seconds(self) -> float:
        """Duration of one item, seconds."""
        return self.frames * self.hop / self.sample_rate

    def size(self, kind: str) -> Tuple[int, int]:
        """``(batch, frames)`` of a case of this kind: ``"main"``, ``"loop"`` or ``"reverb"``."""
        if kind == "main":
            return self.batch, self.frames
        if kind == "loop":
            return self.batch, self.loop_frames
        if kind == "reverb":
            return self.reverb_batch, self.frames
        raise ValueError(f"unknown case size kind {kind!r}")


#: Workload H of the design notes: batch 16 x 4 s at 16 kHz, hop 64, 100
#: harmonics, 65 noise bands. Per-sample loops run on 64 frames (0.256 s);
#: the reverbs on 1 item (their direct convolution's backward pass takes
#: about 15 s per 4 s item on a 2-thread CPU).
FULL = Workload(name="H", batch=16, frames=1000)

#: Smoke test: batch 2 x 1 s, 16-frame loop baselines, 0.25 s reverbs.
QUICK = Workload(name="quick", batch=2, frames=250, loop_frames=16, reverb_batch=1, reverb_ir_seconds=0.25)

_current = FULL

CASES: Dict[str, Callable] = {}
SIZES: Dict[str, str] = {}


def configure(quick: bool = False, dtype: Optional[torch.dtype] = None) -> Workload:
    """Select the workload for the cases built from now on and return it."""
    global _current
    chosen = QUICK if quick else FULL
    if dtype is not None:
        chosen = replace(chosen, dtype=dtype)
    _current = chosen
    return chosen


def workload() -> Workload:
    """The workload selected by :func:`configure` (workload H by default)."""
    return _current


def register(key: str, kind: str = "main"):
    """Register ``build(device, batch, frames)`` as case ``key`` of size ``kind``.

    The registered case is ``case(device, frames=None)``: batch and frames
    come from the current workload, ``frames`` overrides the length.
    """

    def decorate(build):
        def case(device, frames: Optional[int] = None):
            batch, default_frames = workload().size(kind)
            return build(device, batch, default_frames if frames is None else frames)

        case.__name__ = build.__name__
        case.__doc__ = build.__doc__
        if key in CASES:
            raise ValueError(f"benchmark case {key!r} registered twice")
        CASES[key] = case
        SIZES[key] = kind
        return build

    return decorate


def audio_seconds(key: str) -> float:
    """Seconds of audio one call of case ``key`` processes (batch x duration)."""
    current = workload()
    batch, frames = current.size(SIZES[key])
    return batch * frames * current.hop / current.sample_rate


def describe_size(key: str) -> str:
    """``"16 x 4 s"``: batch and duration of case ``key``."""
    current = workload()
    batch, frames = current.size(SIZES[key])
    return f"{batch} x {frames * current.hop / current.sample_rate:g} s"


# Inputs ------------------------------------------------------------------------------


def rand(*shape, device, seed: int, low: float = 0.0, high: float = 1.0, grad: bool = False) -> torch.Tensor:
    """Uniform values on ``[low, high)`` from a seeded CPU generator, in the workload dtype.

    The same shape and seed give the same values, so a case and its
    baseline see identical inputs.
    """
    generator = torch.Generator(device="cpu").manual_seed(seed)
    values = torch.rand(*shape, generator=generator, dtype=torch.float64) * (high - low) + low
    return values.to(device=device, dtype=workload().dtype).requires_grad_(grad)


def vibrato_f0(device, batch: int, frames: int, low: float, high: float, seed: int = 1) -> torch.Tensor:
    """One note per item between ``low`` and ``high`` Hz with 5 Hz, 1 % vibrato: ``[B, F, 1]``."""
    current = workload()
    base = rand(batch, 1, 1, device=device, seed=seed, low=low, high=high)
    seconds = frames * current.hop / current.sample_rate
    time = torch.linspace(0.0, 2.0 * math.pi * 5.0 * seconds, frames, device=device, dtype=current.dtype)
    return (base * (1.0 + 0.01 * torch.sin(time))[None, :, None]).clamp(max=high)


def sweep(device, batch: int, frames: int, low: float, high: float, seed: int) -> torch.Tensor:
    """A control gliding between ``low`` and ``high`` (log scale), a different phase per item: ``[B, F, 1]``."""
    current = workload()
    phase = rand(batch, 1, 1, device=device, seed=seed, high=2.0 * math.pi)
    position = torch.linspace(0.0, 2.0 * math.pi, frames, device=device, dtype=current.dtype)[None, :, None]
    unit = 0.5 + 0.5 * torch.sin(position + phase)
    return low * (high / low) ** unit


def audio(device, batch: int, frames: int, seed: int, grad: bool = False) -> torch.Tensor:
    """Uniform noise on ``[-1, 1)`` standing in for audio: ``[B, F * hop]``."""
    return rand(batch, frames * workload().hop, device=device, seed=seed, low=-1.0, high=1.0, grad=grad)


# Straightforward building blocks shared by baselines ----------------------------------


def framewise_fir_loop(signal: torch.Tensor, impulse_responses: torch.Tensor, hop: int, delay: int) -> torch.Tensor:
    """Time-varying FIR filtering as a Python loop over frames, one FFT convolution each.

    Segment ``n`` is the signal under a Hann window of ``2 * hop`` samples
    centred on sample ``n * hop`` (the last frame's filter also serves the
    closing half window); it is convolved with frame ``n``'s impulse
    response through ``torch.fft``. The convolved segments are then
    overlap-added at their positions in one ``F.fold`` call, and ``delay``
    samples are dropped from the start (the linear-phase delay). This is the
    computation of :func:`ddsp_lab.core.convolution.time_varying_convolve`
    with ``crossfade="hann"``, frame by frame instead of batched.

    Adding each segment into an output tensor inside the loop
    (``out[:, a:b] += y``) would read more naturally, but autograd then
    copies the whole output once per frame in the backward pass, a cost that
    grows with frames x samples; overlap-adding once keeps the baseline
    linear in length.

    Args:
        signal: ``[B, F * hop]``.
        impulse_responses: ``[B, F, K]``.
    """
    batch, frames, taps = impulse_responses.shape
    window = torch.hann_window(2 * hop, periodic=True, device=signal.device, dtype=signal.dtype)
    padded = F.pad(signal, (hop, hop))
    convolved_length = 2 * hop + taps - 1
    n_fft = 1 << (convolved_length - 1).bit_length()
    convolved = []
    for n in range(frames + 1):
        segment = padded[:, n * hop: n * hop + 2 * hop] * window
        response = impulse_responses[:, min(n, frames - 1)]
        spectrum = torch.fft.rfft(segment, n_fft) * torch.fft.rfft(response, n_fft)
        convolved.append(torch.fft.irfft(spectrum, n_fft)[:, :convolved_length])
    total_length = frames * hop + convolved_length
    out = F.fold(
        torch.stack(convolved, dim=2), output_size=(1, total_length), kernel_size=(1, convolved_length), stride=(1, hop)
    ).reshape(batch, total_length)
    start = hop + delay
    return out[:, start: start + frames * hop]


def direct_causal_convolution(signal: torch.Tensor, impulse_response: torch.Tensor) -> torch.Tensor:
    """``y[t] = sum_k h[k] x[t - k]`` for ``t < T`` with ``conv1d`` and the flipped response.

    Args:
        signal: ``[B, T]``.
        impulse_response: ``[1, K]`` shared by the batch.
    """
    taps = impulse_response.shape[-1]
    padded = F.pad(signal.unsqueeze(1), (taps - 1, 0))
    return F.conv1d(padded, impulse_response.flip(-1).reshape(1, 1, taps))[:, 0]
