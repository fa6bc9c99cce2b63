"""Block-by-block rendering of a trained DDSP voice with explicit state.

:class:`StreamingDDSPVoice` renders a :class:`~ddsp_lab.models.DDSPVoice`
one block of control frames at a time, for real-time hosts and for inputs of
any length. Everything that outlives a block is carried in a state dict: the
decoder's GRU state, the phase of the fundamental, the last two control
frames, the last hop of noise, the overlap-add tail of the noise filter and
the reverb tail. The module is TorchScript-compatible
(``torch.jit.script(StreamingDDSPVoice(voice))``), which is how
``ddsp-lab export`` writes it.

Latency: the one-pass renderer interpolates controls towards the next frame,
gates a harmonic by its neighbours' frequencies and filters noise with a
centred (linear-phase) FIR, so a sample depends on control frames slightly
after it. The stream therefore emits the one-pass output delayed by
:attr:`StreamingDDSPVoice.latency_samples` (two hops, 8 ms at 16 kHz with
hop 64, for the default noise filter), and within that alignment it equals
the one-pass output up to float rounding, for any block size down to one
frame: ``streamed[latency:] == offline[:-latency]``.

Noise: :meth:`StreamingDDSPVoice.forward` draws uniform noise with
``torch.rand``; :meth:`StreamingDDSPVoice.process` takes the noise as an
argument, which is how the equality with the one-pass render is checked.
"""


import math
from typing import Dict, List, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from ..core.conversions import exp_sigmoid
from ..core.convolution import fast_fft_length
from .autoencoder import MIDI_RANGE, DDSPVoice



def _exp_sigmoid(x: torch.Tensor) -> torch.Tensor:
    """:func:`~ddsp_lab.core.exp_sigmoid` with its defaults, spelled out for TorchScript (2.3025... = ln 10)."""
    return 2.0 * torch.sigmoid(x) ** 2.302585092994046 + 1e-7


def _fft_convolve_full(signal: torch.Tensor, kernel_spectrum: torch.Tensor, n_fft: int, length: int) -> torch.Tensor:
    """First ``length`` samples of the linear convolution of ``signal`` with the kernel whose rfft is given."""
    return torch.fft.irfft(torch.fft.rfft(signal, n_fft) * kernel_spectrum, n_fft)[..., :length]


def _delay(line: torch.Tensor, audio: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """Push ``audio [B, T]`` through the delay line ``line [B, D]``: ``(delayed [B, T], new line [B, D])``."""
    joined = torch.cat([line, audio], dim=1)
    return joined[:, : audio.shape[1]], joined[:, audio.shape[1]:]


class StreamingDDSPVoice(nn.Module):
    """A :class:`~ddsp_lab.models.DDSPVoice` rendered block by block (see the module docstring).

    The streaming voice shares the trained voice's decoder weights and
    copies its reverb impulse response, so it follows later changes to the
    decoder but not to the reverb; build it from the finished model.

    Args:
        voice: a DDSP voice without a latent encoder (``z_size == 0``), with
            the default ``exp_sigmoid`` scalings, the Hann crossfade of the
            noise filter and a Hann FIR window (what :func:`~ddsp_lab.models.build_model`
            makes).

    Shapes:
        ``forward(f0_hz [B, F], loudness_db [B, F], state) -> (audio [B, F * hop_length], state)``,
        any ``F >= 1`` per call; the state comes from :meth:`initial_state`.

    Example::

        stream = StreamingDDSPVoice(voice).eval()
        state = stream.initial_state(1)
        for f0_block, loudness_block in blocks:
            audio, state = stream(f0_block, loudness_block, state)
    """

    sample_rate: int
    hop_length: int
    latency_samples: int
    n_harmonics: int
    has_noise: bool
    has_reverb: bool
    noise_delay: int
    noise_ir_length: int
    noise_period: int
    noise_fft_size: int
    reverb_length: int
    gru_size: int
    loudness_mean_db: float
    loudness_std_db: float
    noise_bias: float
    midi_range: float

    def __init__(self, voice: DDSPVoice):
        super().__init__()
        if not isinstance(voice, DDSPVoice):
            raise TypeError(
                f"streaming rendering supports DDSP voices (ddsp_lab.models.DDSPVoice), got {type(voice).__name__}"
            )
        if voice.encoder is not None:
            raise ValueError(
                "this voice encodes a latent z from the target audio (z_size > 0), which a stream of "
                "pitch and loudness does not provide; export a voice trained with z_size 0"
            )
        if voice.harmonic.scale_fn is not exp_sigmoid or not voice.harmonic.normalize_below_nyquist:
            raise ValueError(
                "streaming needs the harmonic part's default scaling (exp_sigmoid, normalised below Nyquist)"
            )
        decoder = voice.decoder
        self.input_mlps = decoder.input_mlps
        self.gru = decoder.gru
        self.output_mlp = decoder.output_mlp
        self.projection = decoder.projection
        self.sample_rate = voice.sample_rate
        self.hop_length = voice.hop_length
        self.n_harmonics = voice.n_harmonics
        self.gru_size = decoder.gru.hidden_size
        self.loudness_mean_db = voice.loudness_mean_db
        self.loudness_std_db = voice.loudness_std_db
        self.midi_range = MIDI_RANGE
        hop = self.hop_length

        # Within-frame constants of the sinusoid bank (see ddsp_lab.core.sinusoids).
        j = torch.arange(hop, dtype=torch.float64)
        self.register_buffer("ramp", (j / hop).float())
        self.register_buffer("linear", (2.0 * math.pi * j / self.sample_rate).float())
        self.register_buffer("quadratic", (2.0 * math.pi * j * (j - 1) / (2.0 * hop * self.sample_rate)).float())
        self.register_buffer("harmonic_numbers", torch.arange(1, self.n_harmonics + 1, dtype=torch.float32))

        noise = voice.noise
        self.has_noise = noise is not None
        self.noise_bias = 0.0
        self.noise_delay = 0
        self.noise_ir_length = 1
        self.noise_period = 2
        self.noise_fft_size = 1
        lags = torch.zeros(1, dtype=torch.long)
        fir_window = torch.ones(1)
        if noise is not None:
            if noise.scale_fn is not exp_sigmoid or noise.crossfade != "hann" or noise.window != "hann":
                raise ValueError(
                    "streaming needs the noise filter's defaults (exp_sigmoid, Hann window, Hann crossfade)"
                )
            self.noise_bias = noise.initial_bias
            self.noise_ir_length = noise.ir_length
            self.noise_delay = (noise.ir_length - 1) // 2
            self.noise_period = 2 * (noise.n_bands - 1)
            self.noise_fft_size = fast_fft_length(2 * hop + noise.ir_length - 1)
            # The taps of ddsp_lab.core.convolution.frequency_response_to_fir.
            lags = (torch.arange(noise.ir_length) - self.noise_delay) % self.noise_period
            fir_window = torch.hann_window(noise.ir_length + 2, periodic=False, dtype=torch.float64)[1:-1].float()
        self.register_buffer("noise_lags", lags)
        self.register_buffer("fir_window", fir_window)
        self.register_buffer("segment_window", torch.hann_window(2 * hop, periodic=True))

        # A harmonic sample needs the next two frames (interpolation, Nyquist gate), a noise
        # sample the frames covering its filter's look-ahead; the earlier part waits in a delay line.
        self.latency_samples = max(2 * hop, hop + self.noise_delay) if self.has_noise else 2 * hop

        self.has_reverb = voice.reverb is not None
        wet = torch.zeros(2)
        if voice.reverb is not None:
            ir = voice.reverb.get_controls(torch.zeros(1, 1))["ir"].detach().float().reshape(-1)
            wet = torch.cat([torch.zeros(1), ir[1:]])
        self.reverb_length = int(wet.numel())
        self.register_buffer("wet_ir", wet)

    @torch.jit.export
    def initial_state(self, batch_size: int = 1) -> Dict[str, torch.Tensor]:
        """The state before the first block: silence, phase 0, empty filters.

        Args:
            batch_size: signals rendered side by side.

        Returns:
            a dict of tensors on the module's device; pass it to the first
            call and the returned state to the next.
        """
        device = self.ramp.device
        hop = self.hop_length
        harmonic_delay = self.latency_samples - 2 * hop
        noise_delay = self.latency_samples - hop - self.noise_delay if self.has_noise else 0
        state: Dict[str, torch.Tensor] = {
            "frames": torch.zeros(1, device=device, dtype=torch.long),
            "gru": torch.zeros(1, batch_size, self.gru_size, device=device),
            "phase": torch.zeros(batch_size, 1, device=device, dtype=torch.float64),
        }
        widths = {
            "f0_previous": 1, "f0_last": 1, "amplitudes_previous": self.n_harmonics,
            "amplitudes_last": self.n_harmonics, "harmonic_delay": harmonic_delay, "noise_previous": hop,
            "noise_tail": hop + self.noise_ir_length - 1, "noise_delay": noise_delay,
            "reverb_tail": self.reverb_length - 1,
        }
        for name, width in widths.items():
            state[name] = torch.zeros(batch_size, width, device=device)
        return state

    def _decode(self, f0_hz: torch.Tensor, loudness_db: torch.Tensor, gru_state: torch.Tensor):
        """Raw decoder outputs ``[B, F, C]`` and the GRU state after the block."""
        midi = 12.0 * torch.log2(torch.clamp(f0_hz, min=1e-5) / 440.0) + 69.0
        pitch = torch.where(f0_hz > 0, torch.clamp(midi, min=0.0), torch.zeros_like(midi)) / self.midi_range
        loudness = (loudness_db - self.loudness_mean_db) / self.loudness_std_db
        inputs = [pitch.unsqueeze(-1), loudness.unsqueeze(-1)]
        hidden: List[torch.Tensor] = []
        for index, stack in enumerate(self.input_mlps):
            hidden.append(stack(inputs[index]))
        recurrent, gru_state = self.gru(torch.cat(hidden, dim=-1), gru_state)
        hidden.append(recurrent)
        return self.projection(self.output_mlp(torch.cat(hidden, dim=-1))), gru_state

    def _harmonic(self, f0_hz: torch.Tensor, raw_amplitude: torch.Tensor, raw_distribution: torch.Tensor,
                  state: Dict[str, torch.Tensor], first: bool) -> Tuple[torch.Tensor, Dict[str, torch.Tensor]]:
        """Harmonic audio of the frames two behind the newest, ``[B, F * hop]``."""
        nyquist = self.sample_rate / 2.0
        frequencies = f0_hz.unsqueeze(-1) * self.harmonic_numbers
        distribution = _exp_sigmoid(raw_distribution) * (frequencies < nyquist).to(raw_distribution.dtype)
        distribution = distribution / torch.clamp(distribution.sum(dim=-1, keepdim=True), min=1e-7)
        amplitudes = _exp_sigmoid(raw_amplitude) * distribution
        # Frames: previous (amplitudes already gated), last (not yet gated), then the new ones.
        f0_all = torch.cat([state["f0_previous"], state["f0_last"], f0_hz], dim=1)
        below = (f0_all.unsqueeze(-1) * self.harmonic_numbers).abs() < nyquist
        below = below.to(amplitudes.dtype)
        frames = f0_hz.shape[1]
        gate = below[:, :-2] * below[:, 1:-1] * below[:, 2:]
        gated = torch.cat([state["amplitudes_last"].unsqueeze(1), amplitudes], dim=1)[:, :frames] * gate[:, :frames]
        gated = torch.cat([state["amplitudes_previous"].unsqueeze(1), gated], dim=1)

        # Phase of the fundamental at the start of each frame (float64, as in frame_start_phases).
        f = f0_all.to(torch.float64)
        advance = (self.hop_length * f[:, :-1] + (f[:, 1:] - f[:, :-1]) * ((self.hop_length - 1) / 2.0)) \
            * (2.0 * math.pi / self.sample_rate)
        phases = torch.cat([state["phase"], state["phase"] + torch.cumsum(advance, dim=1)], dim=1)
        if first:
            # The stream starts at the third of these frames (the first two stand in for the past).
            phases = phases - phases[:, 2:3]
        phases = torch.remainder(phases, 2.0 * math.pi)
        partial_phases = torch.remainder(phases.unsqueeze(-1) * self.harmonic_numbers.to(torch.float64), 2.0 * math.pi)

        freq0 = f0_all[:, :frames].unsqueeze(-1) * self.harmonic_numbers
        freq1 = f0_all[:, 1:frames + 1].unsqueeze(-1) * self.harmonic_numbers
        amp0, amp1 = gated[:, :frames], gated[:, 1:frames + 1]
        audible = (torch.minimum(freq0.abs(), freq1.abs()) < nyquist).to(amp0.dtype)
        amp0, amp1 = amp0 * audible, amp1 * audible
        phase = partial_phases[:, :frames].to(freq0.dtype).unsqueeze(2) \
            + self.linear[:, None] * freq0.unsqueeze(2) + self.quadratic[:, None] * (freq1 - freq0).unsqueeze(2)
        sines = torch.sin(phase)  # [B, F, hop, H]
        audio = (sines * amp0.unsqueeze(2)).sum(-1) + self.ramp * (sines * (amp1 - amp0).unsqueeze(2)).sum(-1)

        state["f0_previous"] = f0_all[:, frames:frames + 1]
        state["f0_last"] = f0_all[:, frames + 1:]
        state["amplitudes_previous"] = gated[:, frames]
        state["amplitudes_last"] = amplitudes[:, -1]
        state["phase"] = phases[:, frames:frames + 1]
        return audio.reshape(audio.shape[0], -1), state

    def _noise(self, raw_magnitudes: torch.Tensor, noise: torch.Tensor,
               state: Dict[str, torch.Tensor]) -> Tuple[torch.Tensor, Dict[str, torch.Tensor]]:
        """Filtered noise, ``[B, F * hop]``, starting ``hop + delay`` samples before the new frames."""
        hop = self.hop_length
        batch, frames = raw_magnitudes.shape[0], raw_magnitudes.shape[1]
        magnitudes = _exp_sigmoid(raw_magnitudes + self.noise_bias)
        taps = torch.fft.irfft(magnitudes, self.noise_period).index_select(-1, self.noise_lags) * self.fir_window
        segments = torch.cat([state["noise_previous"], noise], dim=1).unfold(-1, 2 * hop, hop) * self.segment_window
        length = 2 * hop + self.noise_ir_length - 1
        spectrum = torch.fft.rfft(segments, self.noise_fft_size) * torch.fft.rfft(taps, self.noise_fft_size)
        convolved = torch.fft.irfft(spectrum, self.noise_fft_size)[..., :length]
        total = (frames - 1) * hop + length
        summed = F.fold(convolved.transpose(1, 2), output_size=(1, total), kernel_size=(1, length),
                        stride=(1, hop)).reshape(batch, total)
        tail = state["noise_tail"]
        summed = torch.cat([summed[:, : tail.shape[1]] + tail, summed[:, tail.shape[1]:]], dim=1)
        state["noise_tail"] = summed[:, frames * hop:]
        state["noise_previous"] = noise[:, -hop:]
        return summed[:, : frames * hop], state

    def _reverb(self, dry: torch.Tensor,
                state: Dict[str, torch.Tensor]) -> Tuple[torch.Tensor, Dict[str, torch.Tensor]]:
        """``dry + dry * wet_ir`` (causal convolution), with the tail carried to the next block."""
        samples = dry.shape[1]
        length = samples + self.reverb_length - 1
        n_fft = 1
        while n_fft < length:
            n_fft *= 2
        wet = _fft_convolve_full(dry, torch.fft.rfft(self.wet_ir, n_fft), n_fft, length)
        tail = state["reverb_tail"]
        wet = torch.cat([wet[:, : tail.shape[1]] + tail, wet[:, tail.shape[1]:]], dim=1)
        state["reverb_tail"] = wet[:, samples:]
        return dry + wet[:, :samples], state

    @torch.jit.export
    def process(self, f0_hz: torch.Tensor, loudness_db: torch.Tensor, noise: torch.Tensor,
                state: Dict[str, torch.Tensor]) -> Tuple[torch.Tensor, Dict[str, torch.Tensor]]:
        """Render one block with the given noise.

        Args:
            f0_hz: ``[B, F]`` fundamental in Hz (0 where unvoiced), ``F >= 1``.
            loudness_db: ``[B, F]`` loudness in dB
                (:func:`~ddsp_lab.features.compute_loudness`).
            noise: ``[B, F * hop_length]`` excitation of the noise part,
                uniform on ``[-1, 1)`` (ignored by a voice without noise).
            state: from :meth:`initial_state` or the previous call.

        Returns:
            ``(audio [B, F * hop_length], state)``: the one-pass output
            delayed by :attr:`latency_samples`.
        """
        if f0_hz.dim() != 2 or loudness_db.shape != f0_hz.shape or f0_hz.shape[1] < 1:
            raise ValueError("f0_hz and loudness_db must both be [batch, frames] with frames >= 1")
        frames = f0_hz.shape[1]
        if noise.shape[0] != f0_hz.shape[0] or noise.shape[-1] != frames * self.hop_length:
            raise ValueError("noise must be [batch, frames * hop_length]")
        if state["gru"].shape[1] != f0_hz.shape[0]:
            raise ValueError("the state was made for another batch size; call initial_state(batch_size)")
        state = dict(state)
        f0_hz = f0_hz.float()
        first = bool(state["frames"][0] == 0)
        raw, state["gru"] = self._decode(f0_hz, loudness_db.float(), state["gru"])
        harmonics = 1 + self.n_harmonics
        audio, state = self._harmonic(f0_hz, raw[..., :1], raw[..., 1:harmonics], state, first)
        # Frames before the start of the stream render to nothing.
        start = (state["frames"] - 2) * self.hop_length
        positions = start + torch.arange(audio.shape[1], device=audio.device)
        audio = audio * (positions >= 0).to(audio.dtype)
        audio, state["harmonic_delay"] = _delay(state["harmonic_delay"], audio)
        if self.has_noise:
            filtered, state = self._noise(raw[..., harmonics:], noise.float(), state)
            positions = positions + self.hop_length - self.noise_delay
            filtered = filtered * (positions >= 0).to(filtered.dtype)
            filtered, state["noise_delay"] = _delay(state["noise_delay"], filtered)
            audio = audio + filtered
        if self.has_reverb:
            audio, state = self._reverb(audio, state)
        state["frames"] = state["frames"] + frames
        return audio, state

    def forward(self, f0_hz: torch.Tensor, loudness_db: torch.Tensor,
                state: Dict[str, torch.Tensor]) -> Tuple[torch.Tensor, Dict[str, torch.Tensor]]:
        """Render one block, drawing the noise: see :meth:`process`."""
        noise = 2.0 * torch.rand(f0_hz.shape[0], f0_hz.shape[1] * self.hop_length, device=f0_hz.device) - 1.0
        return self.process(f0_hz, loudness_db, noise, state)
