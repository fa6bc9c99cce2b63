"""Benchmark cases of the sound sources: additive synths, oscillator, wavetable,
filtered noise, Karplus-Strong string and ADSR envelope, each with a
straightforward baseline computing the same signal.
"""

from __future__ import annotations

import math

import torch

from cases_common import (
    framewise_fir_loop,
    rand,
    register,
    sweep,
    vibrato_f0,
    workload,
)


def _upsample(controls: torch.Tensor) -> torch.Tensor:
    from ddsp_lab.core.upsample import upsample_linear

    return upsample_linear(controls, workload().hop)


def _exclusive_phase(frequency_hz: torch.Tensor) -> torch.Tensor:
    """Running phase in radians starting at 0: cumulative sum of the increments before each sample."""
    increments = frequency_hz * (2.0 * math.pi / workload().sample_rate)
    return torch.cumsum(increments, dim=1) - increments


# Harmonic ---------------------------------------------------------------------------


def _harmonic_inputs(device, batch, frames, low, high):
    f0 = vibrato_f0(device, batch, frames, low, high)
    amp = rand(batch, frames, 1, device=device, seed=2, grad=True)
    dist = rand(batch, frames, workload().harmonics, device=device, seed=3, grad=True)
    return f0, amp, dist


def _harmonic_ours(device, batch, frames, low, high):
    from ddsp_lab import Harmonic

    synth = Harmonic(workload().sample_rate, workload().hop)
    f0, amp, dist = _harmonic_inputs(device, batch, frames, low, high)
    return (lambda: synth.get_signal(f0, amp, dist)), [amp, dist]


def _harmonic_naive(device, batch, frames, low, high):
    """Amplitudes upsampled to audio rate, cumulative-sum phase, sin per partial, sum."""
    f0, amp, dist = _harmonic_inputs(device, batch, frames, low, high)
    current = workload()
    numbers = torch.arange(1, current.harmonics + 1, device=device, dtype=current.dtype)

    def run():
        amps = _upsample(amp * dist * (f0 * numbers < current.sample_rate / 2))
        phase = _exclusive_phase(_upsample(f0))
        return (amps * torch.sin(phase * numbers)).sum(-1)

    return run, [amp, dist]


@register("harmonic")
def harmonic_ours(device, batch, frames):
    """Harmonic, 100 harmonics, f0 100-1000 Hz."""
    return _harmonic_ours(device, batch, frames, 100.0, 1000.0)


@register("harmonic_naive")
def harmonic_naive(device, batch, frames):
    """Straightforward harmonic synth, f0 100-1000 Hz."""
    return _harmonic_naive(device, batch, frames, 100.0, 1000.0)


@register("harmonic_low")
def harmonic_low_ours(device, batch, frames):
    """Harmonic, f0 40-78 Hz: all 100 harmonics below Nyquist."""
    return _harmonic_ours(device, batch, frames, 40.0, 78.0)


@register("harmonic_low_naive")
def harmonic_low_naive(device, batch, frames):
    """Straightforward harmonic synth, f0 40-78 Hz."""
    return _harmonic_naive(device, batch, frames, 40.0, 78.0)


# Sinusoidal -------------------------------------------------------------------------


def _sinusoidal_inputs(device, batch, frames):
    """100 free partials between 30 Hz and 7 kHz, each gliding by up to 3 %."""
    partials = workload().harmonics
    base = rand(batch, 1, partials, device=device, seed=11, low=30.0, high=7000.0)
    glide = sweep(device, batch, frames, 0.97, 1.03, seed=12)
    frequencies = (base * glide).detach().requires_grad_(True)
    amplitudes = rand(batch, frames, partials, device=device, seed=13, high=0.02, grad=True)
    return frequencies, amplitudes


@register("sinusoidal")
def sinusoidal_ours(device, batch, frames):
    """Sinusoidal with 100 free partials."""
    from ddsp_lab import Sinusoidal

    synth = Sinusoidal(workload().sample_rate, workload().hop)
    frequencies, amplitudes = _sinusoidal_inputs(device, batch, frames)
    return (lambda: synth.get_signal(frequencies, amplitudes)), [frequencies, amplitudes]


@register("sinusoidal_naive")
def sinusoidal_naive(device, batch, frames):
    """Frequencies and amplitudes upsampled to audio rate, cumulative-sum phase per partial, sin, sum."""
    frequencies, amplitudes = _sinusoidal_inputs(device, batch, frames)

    def run():
        phase = _exclusive_phase(_upsample(frequencies))
        return (_upsample(amplitudes) * torch.sin(phase)).sum(-1)

    return run, [frequencies, amplitudes]


# Oscillator -------------------------------------------------------------------------


def _oscillator_inputs(device, batch, frames):
    f0 = vibrato_f0(device, batch, frames, 100.0, 1000.0)
    amplitude = rand(batch, frames, 1, device=device, seed=21, low=0.2, high=1.0, grad=True)
    return f0, amplitude


@register("oscillator")
def oscillator_ours(device, batch, frames):
    """Band-limited saw oscillator, f0 100-1000 Hz."""
    from ddsp_lab import Oscillator

    oscillator = Oscillator(workload().sample_rate, workload().hop, waveform="saw")
    f0, amplitude = _oscillator_inputs(device, batch, frames)
    return (lambda: oscillator.get_signal(f0, amplitude)), [amplitude]


@register("oscillator_naive")
def oscillator_naive(device, batch, frames):
    """Additive saw materialising ``[B, T, H]``.

    ``H`` is the number of harmonics below Nyquist at the lowest f0 (what
    ddsp_lab computes too); every harmonic is masked at audio rate where it
    reaches Nyquist.
    """
    f0, amplitude = _oscillator_inputs(device, batch, frames)
    current = workload()
    nyquist = current.sample_rate / 2.0

    def run():
        count = int(nyquist / float(f0.min()))
        numbers = torch.arange(1, count + 1, device=device, dtype=current.dtype)
        signs = torch.where(numbers % 2 == 1, 1.0, -1.0)
        coefficients = (2.0 / math.pi) * signs / numbers
        frequency = _upsample(f0)  # [B, T, 1]
        phase = _exclusive_phase(frequency)
        gains = _upsample(amplitude) * coefficients * (frequency * numbers < nyquist)
        return (gains * torch.sin(phase * numbers)).sum(-1)

    return run, [amplitude]


# Wavetable --------------------------------------------------------------------------


def _wavetables(device, size: int = 2048) -> torch.Tensor:
    """Two single cycles: a 64-harmonic saw and a 32-partial square, ``[2, size]``."""
    cycle = torch.arange(size, dtype=torch.float64) * (2.0 * math.pi / size)
    saw = sum(((-1.0) ** (k + 1)) * torch.sin(k * cycle) / k for k in range(1, 65)) * (2.0 / math.pi)
    square = sum(torch.sin(k * cycle) / k for k in range(1, 64, 2)) * (4.0 / math.pi)
    return torch.stack([saw, square]).to(device=device, dtype=workload().dtype)


def _wavetable_inputs(device, batch, frames):
    f0 = vibrato_f0(device, batch, frames, 100.0, 1000.0)
    amplitude = rand(batch, frames, 1, device=device, seed=31, low=0.2, high=1.0, grad=True)
    position = sweep(device, batch, frames, 0.01, 0.99, seed=32).detach().requires_grad_(True)
    return f0, amplitude, position


@register("wavetable")
def wavetable_ours(device, batch, frames):
    """Mip-mapped wavetable, 2 tables of 2048 samples, crossfade sweeping."""
    from ddsp_lab import Wavetable

    synth = Wavetable(workload().sample_rate, workload().hop, wavetables=_wavetables(device).cpu()).to(
        device=device, dtype=workload().dtype
    )
    f0, amplitude, position = _wavetable_inputs(device, batch, frames)
    return (lambda: synth.get_signal(f0, amplitude, position)), [amplitude, position]


@register("wavetable_naive")
def wavetable_naive(device, batch, frames):
    """Audio-rate phase, linear interpolation into each (un-mipmapped) table, crossfade.

    No band-limiting: this is the lookup alone, less work than ddsp_lab's
    mip-mapped read (which aliases nowhere).
    """
    tables = _wavetables(device)
    size = tables.shape[1]
    f0, amplitude, position = _wavetable_inputs(device, batch, frames)

    def run():
        frequency = _upsample(f0)[..., 0]
        cycles = torch.remainder(_exclusive_phase(frequency) / (2.0 * math.pi), 1.0)
        read = cycles * size
        index0 = torch.floor(read.detach()).long() % size
        index1 = (index0 + 1) % size
        fraction = read - torch.floor(read.detach())

        def lookup(table):
            return table[index0] + (table[index1] - table[index0]) * fraction

        mix = _upsample(position)[..., 0]
        return _upsample(amplitude)[..., 0] * ((1.0 - mix) * lookup(tables[0]) + mix * lookup(tables[1]))

    return run, [amplitude, position]


# FilteredNoise ----------------------------------------------------------------------

_NOISE_SEED = 7


def _noise_magnitudes(device, batch, frames):
    return rand(batch, frames, workload().bands, device=device, seed=41, grad=True)


@register("filtered_noise")
def filtered_noise_ours(device, batch, frames):
    """FilteredNoise, 65 bands, Hann crossfade between frames."""
    from ddsp_lab import FilteredNoise

    current = workload()
    synth = FilteredNoise(current.sample_rate, current.hop, n_bands=current.bands, seed=_NOISE_SEED)
    magnitudes = _noise_magnitudes(device, batch, frames)
    return (lambda: synth.get_signal(magnitudes)), [magnitudes]


@register("filtered_noise_loop")
def filtered_noise_loop(device, batch, frames):
    """The same noise filtered frame by frame in a Python loop (one FFT convolution per frame)."""
    from ddsp_lab.core.convolution import frequency_response_to_fir

    current = workload()
    magnitudes = _noise_magnitudes(device, batch, frames)

    def run():
        generator = torch.Generator(device=device).manual_seed(_NOISE_SEED)
        shape = (batch, frames * current.hop)
        noise = 2.0 * torch.rand(shape, generator=generator, device=device, dtype=current.dtype) - 1.0
        responses = frequency_response_to_fir(magnitudes)
        return framewise_fir_loop(noise, responses, current.hop, (responses.shape[-1] - 1) // 2)

    return run, [magnitudes]


# KarplusStrong ----------------------------------------------------------------------


def _string_inputs(device, batch, frames):
    """One pluck per item: f0 80-600 Hz, decay 0.5-3 s, brightness 0.2-0.9, one-period noise burst."""
    current = workload()
    samples = frames * current.hop
    f0 = rand(batch, 1, device=device, seed=51, low=80.0, high=600.0)
    decay = rand(batch, 1, device=device, seed=52, low=0.5, high=3.0, grad=True)
    brightness = rand(batch, 1, device=device, seed=53, low=0.2, high=0.9, grad=True)
    period = current.sample_rate / f0
    noise = rand(batch, samples, device=device, seed=54, low=-1.0, high=1.0)
    burst = noise * (torch.arange(samples, device=device, dtype=current.dtype) < period)
    return f0, decay, brightness, burst.detach().requires_grad_(True)


@register("karplus", kind="main")
def karplus_ours(device, batch, frames):
    """KarplusStrong rendered in closed form through the FFT."""
    from ddsp_lab import KarplusStrong

    string = KarplusStrong(workload().sample_rate)
    f0, decay, brightness, excitation = _string_inputs(device, batch, frames)
    return (lambda: string.get_signal(f0, decay, brightness, excitation)), [decay, brightness, excitation]


@register("karplus_loop", kind="loop")
def karplus_loop(device, batch, frames):
    """Per-sample recursion through a delay line (a ring buffer read with ``gather``).

    ``y[n] = x[n] + g * lowpass(allpass(y[n - N]))`` with the same loop
    coefficients as ddsp_lab (their design is a handful of ``[B, 1]``
    operations, shared by both).
    """
    from ddsp_lab.units.karplus import loop_coefficients

    current = workload()
    f0, decay, brightness, excitation = _string_inputs(device, batch, frames)
    samples = excitation.shape[1]

    def run():
        design = loop_coefficients(f0.double(), decay.double(), brightness.double(), current.sample_rate)
        delay = design["delay"]
        c, g = design["allpass"].to(current.dtype), design["gain"].to(current.dtype)
        b0, b1 = (design["lowpass"][:, i: i + 1].to(current.dtype) for i in range(2))
        length = int(delay.max()) + 2
        reads = (torch.arange(samples, device=device) - delay) % length  # [B, T]
        slots = torch.arange(length, device=device)
        ring = excitation.new_zeros(batch, length)
        previous_read = previous_allpass = excitation.new_zeros(batch, 1)
        inputs = excitation.unbind(1)
        outputs = []
        for n in range(samples):
            delayed = ring.gather(1, reads[:, n: n + 1])
            allpass = c * delayed + previous_read - c * previous_allpass
            y = inputs[n].unsqueeze(1) + g * (b0 * allpass + b1 * previous_allpass)
            ring = ring.index_copy(1, slots[n % length: n % length + 1], y)
            outputs.append(y)
            previous_read, previous_allpass = delayed, allpass
        return torch.cat(outputs, dim=1)

    return run, [decay, brightness, excitation]


# ADSR -------------------------------------------------------------------------------


def _adsr_inputs(device, batch, frames):
    """Gates with notes of 0.2-0.8 s and gaps of 0.05-0.5 s (retriggers inside releases), per-item times."""
    current = workload()
    frame_rate = current.sample_rate / current.hop
    generator = torch.Generator().manual_seed(61)
    gate = torch.zeros(batch, frames, 1, dtype=torch.float64)

    def uniform(low, high):
        return low + (high - low) * torch.rand(1, generator=generator).item()

    for item in range(batch):
        frame = int(uniform(0.0, 0.1) * frame_rate)
        while frame < frames:
            length = max(1, int(uniform(0.2, 0.8) * frame_rate))
            gate[item, frame: frame + length] = 1.0
            frame += length + max(1, int(uniform(0.05, 0.5) * frame_rate))
    gate = gate.to(device=device, dtype=current.dtype)
    attack = rand(batch, 1, device=device, seed=62, low=0.01, high=0.1, grad=True)
    decay = rand(batch, 1, device=device, seed=63, low=0.05, high=0.3, grad=True)
    sustain = rand(batch, 1, device=device, seed=64, low=0.3, high=0.8, grad=True)
    release = rand(batch, 1, device=device, seed=65, low=0.1, high=0.6, grad=True)
    return gate, attack, decay, sustain, release


@register("adsr")
def adsr_ours(device, batch, frames):
    """ADSR at audio rate in closed form."""
    from ddsp_lab import ADSR

    envelope = ADSR(workload().sample_rate, workload().hop, rate="audio")
    gate, attack, decay, sustain, release = _adsr_inputs(device, batch, frames)
    return (lambda: envelope.get_signal(gate, attack, decay, sustain, release)), [attack, decay, sustain, release]


@register("adsr_loop")
def adsr_loop(device, batch, frames):
    """A state machine stepping frame by frame, each frame's ``hop`` samples at once.

    Linear segments, peak 1, attack from the current level on retrigger:
    the same envelope as ddsp_lab's default ADSR.
    """
    current = workload()
    hop, sample_rate = current.hop, current.sample_rate
    gate, attack, decay, sustain, release = _adsr_inputs(device, batch, frames)
    offsets = torch.arange(hop, device=device, dtype=current.dtype)

    def held(seconds, start):
        rising = start + (1.0 - start) * torch.clamp(seconds / attack, 0.0, 1.0)
        falling = 1.0 + (sustain - 1.0) * torch.clamp((seconds - attack) / decay, 0.0, 1.0)
        return torch.where(seconds < attack, rising, falling)

    def released(seconds, level):
        return level * (1.0 - torch.clamp(seconds / release, 0.0, 1.0))

    def run():
        zeros = attack.new_zeros(batch, 1)
        on_time = off_time = start = off_level = zeros
        started = previous = torch.zeros(batch, 1, dtype=torch.bool, device=device)
        pieces = []
        for n in range(frames):
            now = float(n * hop)
            on = gate[:, n] > 0.5
            note_on, note_off = on & ~previous, ~on & previous
            reached = torch.where(started, released((now - off_time) / sample_rate, off_level), zeros)
            start = torch.where(note_on, reached, start)
            on_time = torch.where(note_on, torch.full_like(on_time, now), on_time)
            started = started | note_on
            off_level = torch.where(note_off, held((now - on_time) / sample_rate, start), off_level)
            off_time = torch.where(note_off, torch.full_like(off_time, now), off_time)
            times = now + offsets
            level = torch.where(
                on,
                held((times - on_time) / sample_rate, start),
                released((times - off_time) / sample_rate, off_level),
            )
            pieces.append(torch.where(started, level, zeros))
            previous = on
        return torch.cat(pieces, dim=1)

    return run, [attack, decay, sustain, release]
