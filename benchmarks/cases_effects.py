"""Benchmark cases of the effects (FIR filter, biquad, state-variable filter,
reverbs, mix) and the loss, each with a straightforward baseline computing the
same output.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from cases_common import (
    audio,
    direct_causal_convolution,
    framewise_fir_loop,
    rand,
    register,
    sweep,
    workload,
)


def _upsample(controls: torch.Tensor) -> torch.Tensor:
    from ddsp_lab.core.upsample import upsample_linear

    return upsample_linear(controls, workload().hop)


# FIRFilter --------------------------------------------------------------------------


def _fir_inputs(device, batch, frames):
    signal = audio(device, batch, frames, seed=71, grad=True)
    magnitudes = rand(batch, frames, workload().bands, device=device, seed=72, grad=True)
    return signal, magnitudes


@register("fir")
def fir_ours(device, batch, frames):
    """FIRFilter, 65 bands, Hann crossfade between frames."""
    from ddsp_lab import FIRFilter

    current = workload()
    effect = FIRFilter(current.sample_rate, current.hop, current.bands)
    signal, magnitudes = _fir_inputs(device, batch, frames)
    return (lambda: effect.get_signal(signal, magnitudes)), [signal, magnitudes]


@register("fir_loop")
def fir_loop(device, batch, frames):
    """A Python loop over frames, one FFT convolution per frame."""
    from ddsp_lab.core.convolution import frequency_response_to_fir

    signal, magnitudes = _fir_inputs(device, batch, frames)

    def run():
        responses = frequency_response_to_fir(magnitudes)
        return framewise_fir_loop(signal, responses, workload().hop, (responses.shape[-1] - 1) // 2)

    return run, [signal, magnitudes]


# Biquad and StateVariableFilter ------------------------------------------------------


def _filter_inputs(device, batch, frames):
    """Noise through a lowpass whose cutoff sweeps 200 Hz - 4 kHz, q 0.7-4 per item."""
    signal = audio(device, batch, frames, seed=81, grad=True)
    cutoff = sweep(device, batch, frames, 200.0, 4000.0, seed=82).detach().requires_grad_(True)
    q = rand(batch, 1, 1, device=device, seed=83, low=0.7, high=4.0).expand(batch, frames, 1)
    return signal, cutoff, q.detach().clone().requires_grad_(True)


@register("biquad")
def biquad_ours(device, batch, frames):
    """Biquad lowpass with per-sample coefficients (chunked scan), float64 inside (its default)."""
    from ddsp_lab import Biquad

    current = workload()
    effect = Biquad(current.sample_rate, "lowpass", hop_length=current.hop)
    signal, cutoff, q = _filter_inputs(device, batch, frames)
    return (lambda: effect.get_signal(signal, cutoff, q)), [signal, cutoff, q]


@register("biquad_loop", kind="loop")
def biquad_loop(device, batch, frames):
    """Direct form I, one Python iteration per sample, in float64 like ddsp_lab's default.

    The coefficients come from the same vectorised cookbook formulas; the
    recursion is the loop.
    """
    from ddsp_lab.core.iir import biquad_coefficients

    current = workload()
    signal, cutoff, q = _filter_inputs(device, batch, frames)

    def run():
        cutoff_hz = torch.clamp(_upsample(cutoff)[..., 0], max=0.49 * current.sample_rate)
        b, a = biquad_coefficients(cutoff_hz.double(), _upsample(q)[..., 0].double(), current.sample_rate, "lowpass")
        x = signal.double()
        b0, b1, b2 = (column.unbind(1) for column in b.unbind(2))
        a1, a2 = (column.unbind(1) for column in a.unbind(2))
        x1 = x2 = y1 = y2 = x.new_zeros(batch)
        outputs = []
        for n, xn in enumerate(x.unbind(1)):
            y = b0[n] * xn + b1[n] * x1 + b2[n] * x2 - a1[n] * y1 - a2[n] * y2
            outputs.append(y)
            x1, x2, y1, y2 = xn, x1, y, y1
        return torch.stack(outputs, dim=1).to(signal.dtype)

    return run, [signal, cutoff, q]


@register("svf")
def svf_ours(device, batch, frames):
    """StateVariableFilter lowpass (chunked scan)."""
    from ddsp_lab import StateVariableFilter

    current = workload()
    effect = StateVariableFilter(current.sample_rate, "lowpass", hop_length=current.hop)
    signal, cutoff, q = _filter_inputs(device, batch, frames)
    return (lambda: effect.get_signal(signal, cutoff, q)), [signal, cutoff, q]


@register("svf_loop", kind="loop")
def svf_loop(device, batch, frames):
    """Zavalishin's TPT state-variable filter, one Python iteration per sample."""
    current = workload()
    signal, cutoff, q = _filter_inputs(device, batch, frames)

    def run():
        cutoff_hz = torch.clamp(_upsample(cutoff)[..., 0], max=0.49 * current.sample_rate)
        gains = torch.tan(cutoff_hz * (math.pi / current.sample_rate)).unbind(1)
        dampings = (1.0 / _upsample(q)[..., 0]).unbind(1)
        s1 = s2 = signal.new_zeros(batch)
        outputs = []
        for n, x in enumerate(signal.unbind(1)):
            g, damping = gains[n], dampings[n]
            highpass = (x - (damping + g) * s1 - s2) / (1.0 + damping * g + g * g)
            bandpass = g * highpass + s1
            lowpass = g * bandpass + s2
            s1, s2 = 2.0 * bandpass - s1, 2.0 * lowpass - s2
            outputs.append(lowpass)
        return torch.stack(outputs, dim=1)

    return run, [signal, cutoff, q]


# Reverb and ParametricReverb ---------------------------------------------------------


def _room_response(device, taps):
    """Exponentially decaying noise (RT60 0.6 s), ``[taps]``, a leaf."""
    current = workload()
    time_s = torch.arange(taps, device=device, dtype=current.dtype) / current.sample_rate
    noise = rand(taps, device=device, seed=91, low=-1.0, high=1.0)
    decaying = noise * torch.exp(-math.log(1000.0) * time_s / 0.6) * 0.05
    return decaying.detach().requires_grad_(True)


@register("reverb", kind="reverb")
def reverb_ours(device, batch, frames):
    """Reverb with a learned 1 s impulse response (FFT convolution)."""
    from ddsp_lab import Reverb

    current = workload()
    reverb = Reverb(current.sample_rate, current.reverb_ir_seconds).to(device=device, dtype=current.dtype)
    with torch.no_grad():
        reverb.ir.copy_(_room_response(device, reverb.ir_samples))
    signal = audio(device, batch, frames, seed=92, grad=True)
    return (lambda: reverb(signal)), [reverb.ir, signal]


@register("reverb_direct", kind="reverb")
def reverb_direct(device, batch, frames):
    """The same reverb as a direct convolution: ``conv1d`` with the flipped impulse response."""
    current = workload()
    ir = _room_response(device, int(round(current.reverb_ir_seconds * current.sample_rate)))
    signal = audio(device, batch, frames, seed=92, grad=True)

    def run():
        wet_ir = torch.cat([ir.new_zeros(1), ir[1:]])
        return signal + direct_causal_convolution(signal, wet_ir.unsqueeze(0))

    return run, [ir, signal]


def _parametric_reverb(device):
    from ddsp_lab import ParametricReverb

    current = workload()
    reverb = ParametricReverb(current.sample_rate, current.reverb_ir_seconds, decay_s=0.8, damping=0.4, mix=0.3)
    return reverb.to(device=device, dtype=current.dtype)


@register("parametric_reverb", kind="reverb")
def parametric_reverb_ours(device, batch, frames):
    """ParametricReverb (decay, damping, mix learned), FFT convolution."""
    reverb = _parametric_reverb(device)
    signal = audio(device, batch, frames, seed=93, grad=True)
    return (lambda: reverb(signal)), [reverb.raw_decay, reverb.raw_damping, reverb.raw_mix, signal]


@register("parametric_reverb_direct", kind="reverb")
def parametric_reverb_direct(device, batch, frames):
    """The same impulse response applied by a direct convolution (``conv1d``)."""
    reverb = _parametric_reverb(device)
    signal = audio(device, batch, frames, seed=93, grad=True)

    def run():
        controls = reverb.get_controls(signal)
        ir = reverb.impulse_response(controls["decay_s"], controls["damping"], like=signal)
        mix = controls["mix"]
        return (1.0 - mix) * signal + mix * direct_causal_convolution(signal, ir)

    return run, [reverb.raw_decay, reverb.raw_damping, reverb.raw_mix, signal]


# Mix --------------------------------------------------------------------------------


def _mix_inputs(device, batch, frames):
    first = audio(device, batch, frames, seed=101, grad=True)
    second = audio(device, batch, frames, seed=102, grad=True)
    amount = rand(batch, frames, 1, device=device, seed=103, grad=True)
    return first, second, amount


@register("mix")
def mix_ours(device, batch, frames):
    """Mix: linear crossfade driven by a frame-rate control."""
    from ddsp_lab import Mix

    mixer = Mix(hop_length=workload().hop)
    first, second, amount = _mix_inputs(device, batch, frames)
    return (lambda: mixer.get_signal(first, second, amount)), [first, second, amount]


@register("mix_interpolate")
def mix_interpolate(device, batch, frames):
    """The control upsampled with ``F.interpolate`` (last frame held), then ``a + m (b - a)``."""
    hop = workload().hop
    first, second, amount = _mix_inputs(device, batch, frames)

    def run():
        held = torch.cat([amount, amount[:, -1:]], dim=1).transpose(1, 2)
        curve = F.interpolate(held, size=frames * hop + 1, mode="linear", align_corners=True)[:, 0, :-1]
        return first + curve * (second - first)

    return run, [first, second, amount]


# Loss -------------------------------------------------------------------------------

_FFT_SIZES = (2048, 1024, 512, 256, 128, 64)


def _loss_inputs(device, batch, frames):
    pred = audio(device, batch, frames, seed=4, grad=True)
    target = audio(device, batch, frames, seed=5)
    return pred, target


@register("loss")
def loss_ours(device, batch, frames):
    """MultiScaleSpectralLoss, FFT 2048..64, hop n/4, linear + log L1."""
    from ddsp_lab import MultiScaleSpectralLoss

    loss = MultiScaleSpectralLoss(_FFT_SIZES).to(device)
    pred, target = _loss_inputs(device, batch, frames)
    return (lambda: loss(pred, target)), [pred]


@register("loss_naive")
def loss_naive(device, batch, frames):
    """A loop of ``torch.stft`` per resolution (zero padded like ddsp_lab), L1 on linear and log magnitudes."""
    pred, target = _loss_inputs(device, batch, frames)
    windows = {n: torch.hann_window(n, device=device, dtype=pred.dtype) for n in _FFT_SIZES}

    def run():
        total = 0.0
        for n, window in windows.items():

            def magnitude(x):
                return torch.stft(x, n, n // 4, window=window, pad_mode="constant", return_complex=True).abs()

            p, t = magnitude(pred), magnitude(target)
            total = total + (p - t).abs().mean() + (torch.log(p + 1e-7) - torch.log(t + 1e-7)).abs().mean()
        return total

    return run, [pred]
