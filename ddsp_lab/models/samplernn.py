"""SampleRNN: a hierarchical recurrent baseline that predicts audio sample by sample.

A multi-tier SampleRNN (Mehri et al. 2017) conditioned on pitch and
loudness, trained on the same task as the DDSP voices. Samples are quantised
to 256 levels, mu-law (default) or linear (:mod:`ddsp_lab.models.mulaw`), and
the model outputs a 256-way softmax for every sample given all earlier ones.

How the tiers map (``frame_sizes=(16, 4)``, the default: three tiers):

* ``frame_sizes`` lists the frame-level tiers from the top down, each
  entry the tier's frame size in samples; every size divides the one above.
* Tier 1 (top, frame 16) steps once per 16 samples. Its step ``j`` covers
  samples ``16 j .. 16 j + 15``; it reads the previous 16 samples
  (``16 j - 16 .. 16 j - 1``) plus the conditioning at sample ``16 j``,
  updates a GRU, and a learned linear upsampling turns the GRU output into
  ``16 / 4 = 4`` vectors, one for each tier-2 frame inside its 16 samples.
* Tier 2 (frame 4) steps once per 4 samples: it reads the previous 4
  samples, the conditioning at its first sample and the tier-1 vector for
  its frame; its GRU output is upsampled to 4 vectors, one per sample.
* Tier 3 (the sample-level MLP) predicts sample ``t`` from an embedding of
  the previous 4 samples (``t - 4 .. t - 1``, a sliding window of the bottom
  frame size) plus the tier-2 vector for ``t``.

Frame tiers read samples as their quantised level in ``[-1, 1]`` (the
companded value for mu-law); the sample-level tier embeds the codes. Before
the first sample the model sees silence: the input is left-padded with one
top frame of the silence code. Pitch and loudness (scaled as in
:meth:`~ddsp_lab.models.Autoencoder.preprocess`, linearly upsampled to audio
rate) are added into every frame tier's input through a linear projection,
taken at the tier's frame starts.

Causality: every frame tier's step for the frame starting at sample ``s``
reads samples ``< s``, and the sample tier reads ``t - frame_sizes[-1] .. t - 1``,
so the prediction for sample ``t`` depends on samples ``< t`` only (and on the
conditioning at frame starts ``<= t``). The GRUs give an unbounded memory.

Lengths: any ``T = F * hop_length``. The teacher-forced pass needs a
multiple of the top frame size: other lengths are padded at the end (after
every sample that matters, the model being causal) and the logits cropped
back. Generation simply stops after sample ``T - 1``.
"""

from __future__ import annotations

from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from ..core.checks import check_audio, check_hop_length, check_sample_rate
from .mulaw import MU_LAW_CHANNELS, linear_decode, linear_encode, mu_law_decode, mu_law_encode
from .autoencoder import check_loudness_normalisation
from .wavenet import CONDITION_CHANNELS, NoiseBlocks, Sampled, audio_rate_conditioning, check_temperature, gumbel_argmax

QUANTIZATIONS = ("mu_law", "linear")

# Presets sized like the DDSP voices' "tiny" and "small" (three tiers, frame
# sizes 16 and 4, any sample rate; the constructor's defaults are "tiny"):
# tiny: 253,696 parameters; small: 1,228,944 parameters.
SIZE_PRESETS: Dict[str, Dict[str, int]] = {
    "tiny": {"hidden_size": 96, "embedding_size": 48},
    "small": {"hidden_size": 220, "embedding_size": 128},
}


def _check_count(value, name: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return value


def _check_frame_sizes(frame_sizes) -> Tuple[int, ...]:
    if isinstance(frame_sizes, (str, bytes)) or not isinstance(frame_sizes, Sequence) or not frame_sizes:
        raise ValueError(
            f"frame_sizes must be a non-empty sequence of samples per frame, top tier first, got {frame_sizes!r}"
        )
    sizes = tuple(_check_count(size, f"frame_sizes[{i}]") for i, size in enumerate(frame_sizes))
    for upper, lower in zip(sizes, sizes[1:]):
        if lower >= upper or upper % lower:
            raise ValueError(
                f"frame_sizes must decrease from the top tier down, each dividing the one above, got {sizes}"
            )
    return sizes


class _FrameTier(nn.Module):
    """One frame-level tier: previous frame + conditioning (+ upper tier) -> GRU -> ``ratio`` vectors."""

    def __init__(self, frame_size: int, ratio: int, hidden_size: int, rnn_layers: int):
        super().__init__()
        self.frame_size, self.ratio, self.hidden_size = frame_size, ratio, hidden_size
        self.frame_input = nn.Linear(frame_size, hidden_size)
        self.condition = nn.Linear(CONDITION_CHANNELS, hidden_size, bias=False)
        self.rnn = nn.GRU(hidden_size, hidden_size, rnn_layers, batch_first=True)
        self.upsample = nn.Linear(hidden_size, ratio * hidden_size)

    def forward(
        self,
        frames: torch.Tensor,
        condition: torch.Tensor,
        upper: Optional[torch.Tensor],
        state: Optional[torch.Tensor] = None,
    ) -> Tuple[torch.Tensor, torch.Tensor]:
        """``frames [B, N, frame_size]``, ``condition [B, N, 2]``, ``upper [B, N, H]`` or None
        -> ``(vectors for the tier below [B, N * ratio, H], GRU state)``."""
        x = self.frame_input(frames) + self.condition(condition)
        if upper is not None:
            x = x + upper
        output, state = self.rnn(x, state)
        batch, steps = output.shape[:2]
        return self.upsample(output).reshape(batch, steps * self.ratio, self.hidden_size), state


class _SampleTier(nn.Module):
    """The sample-level MLP: embedded window of previous codes + upper vector -> logits."""

    def __init__(self, frame_size: int, levels: int, embedding_size: int, hidden_size: int):
        super().__init__()
        self.embedding = nn.Embedding(levels, embedding_size)
        self.window_input = nn.Linear(frame_size * embedding_size, hidden_size)
        self.hidden = nn.Linear(hidden_size, hidden_size)
        self.output = nn.Linear(hidden_size, levels)

    def forward(self, windows: torch.Tensor, upper: torch.Tensor) -> torch.Tensor:
        """``windows [B, N, frame_size]`` codes, ``upper [B, N, H]`` -> logits ``[B, N, levels]``."""
        x = torch.relu(self.window_input(self.embedding(windows).flatten(2)) + upper)
        return self.output(torch.relu(self.hidden(x)))


class SampleRNN(nn.Module):
    """Multi-tier SampleRNN conditioned on pitch and loudness (see the module docstring).

    Args:
        sample_rate: Hz (any); stored for the trainer and for rendering.
        hop_length: audio samples per conditioning frame.
        loudness_mean_db: loudness (dB) that maps to 0; the training data's mean.
        loudness_std_db: dB that map to 1 (``> 0``); the training data's spread.
        frame_sizes: samples per frame of each frame-level tier, top tier
            first, each dividing the one above (default ``(16, 4)``: three
            tiers with the sample-level MLP). The sample-level MLP reads the
            previous ``frame_sizes[-1]`` samples.
        hidden_size: GRU units of every frame tier and width of the
            sample-level MLP.
        embedding_size: size of the sample-level code embedding.
        rnn_layers: GRU layers per frame tier (SampleRNN: 1).
        quantization: ``"mu_law"`` or ``"linear"``, 256 levels.

    Shapes:
        ``forward(audio [B, T], f0_hz [B, F], loudness_db [B, F]) -> logits [B, T, 256]``
        with ``T = F * hop_length``.
    """

    levels = MU_LAW_CHANNELS

    def __init__(
        self,
        sample_rate: int,
        hop_length: int,
        loudness_mean_db: float = -40.0,
        loudness_std_db: float = 15.0,
        frame_sizes: Sequence[int] = (16, 4),
        hidden_size: int = 96,
        embedding_size: int = 48,
        rnn_layers: int = 1,
        quantization: str = "mu_law",
    ):
        super().__init__()
        self.sample_rate = check_sample_rate(sample_rate)
        self.hop_length = check_hop_length(hop_length)
        self.loudness_mean_db, self.loudness_std_db = check_loudness_normalisation(loudness_mean_db, loudness_std_db)
        self.frame_sizes = _check_frame_sizes(frame_sizes)
        self.hidden_size = _check_count(hidden_size, "hidden_size")
        self.embedding_size = _check_count(embedding_size, "embedding_size")
        self.rnn_layers = _check_count(rnn_layers, "rnn_layers")
        if quantization not in QUANTIZATIONS:
            raise ValueError(f"quantization must be one of {QUANTIZATIONS}, got {quantization!r}")
        self.quantization = quantization
        ratios = [upper // lower for upper, lower in zip(self.frame_sizes, self.frame_sizes[1:])]
        ratios.append(self.frame_sizes[-1])
        self.frame_tiers = nn.ModuleList(
            _FrameTier(size, ratio, self.hidden_size, self.rnn_layers) for size, ratio in zip(self.frame_sizes, ratios)
        )
        self.sample_tier = _SampleTier(self.frame_sizes[-1], self.levels, self.embedding_size, self.hidden_size)

    @classmethod
    def from_size(cls, size: str, sample_rate: int, hop_length: int, **overrides) -> "SampleRNN":
        """A SampleRNN with the :data:`SIZE_PRESETS` entry ``size`` (``"tiny"``, ``"small"``), ``overrides`` on top."""
        if size not in SIZE_PRESETS:
            raise ValueError(f"size must be one of {tuple(SIZE_PRESETS)}, got {size!r}")
        return cls(sample_rate, hop_length, **{**SIZE_PRESETS[size], **overrides})

    def parameter_count(self) -> int:
        """Number of trainable parameters."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad)

    # -- quantisation and inputs ------------------------------------------------------

    def encode(self, audio: torch.Tensor) -> torch.Tensor:
        """Codes ``[...]`` (long, ``0 .. 255``) of audio ``[...]`` in this model's quantisation."""
        return mu_law_encode(audio) if self.quantization == "mu_law" else linear_encode(audio)

    def decode(self, codes: torch.Tensor, dtype: Optional[torch.dtype] = None) -> torch.Tensor:
        """Audio ``[...]`` of codes ``[...]`` in this model's quantisation."""
        if self.quantization == "mu_law":
            return mu_law_decode(codes, dtype=dtype)
        return linear_decode(codes, dtype=dtype)

    def _level(self, codes: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        """What frame tiers read: the code's level in ``[-1, 1]`` (companded for mu-law).

        The formula of :func:`~ddsp_lab.models.mulaw.linear_decode`, without its range check
        (a device synchronisation at every frame step during generation; the codes here come
        from the encoder or the sampler, always in range).
        """
        return codes.to(dtype) * (2.0 / (self.levels - 1)) - 1.0

    def _reference(self) -> torch.Tensor:
        return self.sample_tier.output.weight

    def _condition(self, f0_hz: torch.Tensor, loudness_db: torch.Tensor) -> torch.Tensor:
        """``[B, F * hop, 2]`` conditioning on the model's device and dtype."""
        reference = self._reference()
        condition = audio_rate_conditioning(
            f0_hz, loudness_db, self.hop_length, self.loudness_mean_db, self.loudness_std_db
        )
        return condition.to(device=reference.device, dtype=reference.dtype)

    def _padded_length(self, samples: int) -> int:
        top = self.frame_sizes[0]
        return -(-samples // top) * top

    def _pad_condition(self, condition: torch.Tensor) -> torch.Tensor:
        """Hold the last value up to a multiple of the top frame size."""
        extra = self._padded_length(condition.shape[1]) - condition.shape[1]
        if extra:
            condition = torch.cat([condition, condition[:, -1:].expand(-1, extra, -1)], dim=1)
        return condition

    def _silence(self, batch: int, device) -> torch.Tensor:
        return self.encode(torch.zeros(batch, device=device))

    # -- training -----------------------------------------------------------------

    def forward(self, audio: torch.Tensor, f0_hz: torch.Tensor, loudness_db: torch.Tensor) -> torch.Tensor:
        """Teacher-forced logits: the distribution of every sample given the samples before it.

        Args:
            audio: ``[B, T]``, full scale ±1 (clamped), ``T = F * hop_length``.
            f0_hz: ``[B, F]`` or ``[B, F, 1]`` in Hz, ``>= 0``.
            loudness_db: ``[B, F]`` or ``[B, F, 1]`` in dB.

        Returns:
            ``[B, T, 256]`` logits; row ``t`` depends on samples ``< t``.
        """
        condition = self._condition(f0_hz, loudness_db)
        audio = check_audio(audio, "audio")
        batch, samples = condition.shape[:2]
        if audio.shape[1] != samples:
            raise ValueError(
                f"audio has {audio.shape[1]} samples but f0_hz/loudness_db have {samples // self.hop_length} "
                f"frames: audio must have frames * hop_length = {samples} samples"
            )
        if audio.shape[0] != batch:
            raise ValueError(f"audio has batch {audio.shape[0]} but f0_hz has batch {batch}")
        codes = self.encode(audio.to(device=condition.device, dtype=condition.dtype))
        padded_length = self._padded_length(samples)
        condition = self._pad_condition(condition)
        top = self.frame_sizes[0]
        silence = self._silence(batch, condition.device)[:, None]
        # The silence code also fills the end padding: those samples are only read by cropped outputs.
        padded = torch.cat(
            [silence.expand(-1, top), codes, silence.expand(-1, padded_length - samples)], dim=1
        )
        levels = self._level(padded, condition.dtype)
        upper = None
        for tier in self.frame_tiers:
            size = tier.frame_size
            frames = levels[:, top - size: top - size + padded_length].reshape(batch, padded_length // size, size)
            upper, _ = tier(frames, condition[:, ::size], upper)
        bottom = self.frame_sizes[-1]
        windows = padded[:, top - bottom: top + padded_length - 1].unfold(1, bottom, 1)
        return self.sample_tier(windows, upper)[:, :samples]

    def loss(self, audio: torch.Tensor, f0_hz: torch.Tensor, loudness_db: torch.Tensor) -> torch.Tensor:
        """Cross-entropy of the 256-way softmax against the quantised audio, mean per sample, in nats.

        ``log(256) = 5.55`` for a uniform guess.
        """
        return self.nll(self.forward(audio, f0_hz, loudness_db), audio)

    def nll(self, logits: torch.Tensor, audio: torch.Tensor) -> torch.Tensor:
        """:meth:`loss` from the logits of :meth:`forward` (``[B, T, 256]``) and the audio ``[B, T]``."""
        codes = self.encode(audio.to(device=logits.device, dtype=logits.dtype))
        return F.cross_entropy(logits.reshape(-1, self.levels), codes.reshape(-1))

    # -- generation -----------------------------------------------------------------

    @torch.no_grad()
    def generate(
        self,
        f0_hz: torch.Tensor,
        loudness_db: torch.Tensor,
        temperature: float = 1.0,
        progress: bool = False,
        greedy: bool = False,
        generator: Optional[torch.Generator] = None,
        return_outputs: bool = False,
    ) -> Sampled:
        """Generate audio sample by sample, carrying every tier's GRU state.

        A frame tier steps when a sample starts one of its frames; the
        sample-level MLP runs for every sample. Feeding the result to
        :meth:`forward` reproduces the logits of every step.

        Args:
            f0_hz: ``[B, F]`` or ``[B, F, 1]`` in Hz, ``>= 0``.
            loudness_db: ``[B, F]`` or ``[B, F, 1]`` in dB.
            temperature: ``> 0``; divides the logits (1: the model's distribution).
            progress: show a progress bar (tqdm, on stderr).
            greedy: take the most probable code instead of sampling (deterministic).
            generator: random generator on the model's device for reproducible sampling.
            return_outputs: also return every step's logits ``[B, T, 256]``.

        Returns:
            ``audio [B, F * hop_length]`` on the model's device and in its
            dtype, or ``(audio, logits)`` with ``return_outputs``.
        """
        condition = self._condition(f0_hz, loudness_db)
        temperature = check_temperature(temperature)
        batch, samples = condition.shape[:2]
        device, dtype = condition.device, condition.dtype
        top, bottom = self.frame_sizes[0], self.frame_sizes[-1]
        noise = None if greedy else NoiseBlocks(batch, self.levels, self.hop_length, samples, generator, device, dtype)
        # Codes so far, after one top frame of silence; a partial last top frame needs no padding
        # here, as every step reads only earlier samples.
        padded = self._silence(batch, device)[:, None].repeat(1, top + samples)
        logits_all = torch.empty(batch, samples, self.levels, device=device, dtype=dtype) if return_outputs else None
        states: List[Optional[torch.Tensor]] = [None] * len(self.frame_tiers)
        vectors: List[Optional[torch.Tensor]] = [None] * len(self.frame_tiers)
        bar = tqdm(total=samples, disable=not progress, desc="samplernn", unit="sample", dynamic_ncols=True)
        try:
            for step in range(samples):
                position = top + step
                for number, tier in enumerate(self.frame_tiers):
                    size = tier.frame_size
                    if step % size:
                        continue
                    frame = self._level(padded[:, position - size: position], dtype)[:, None]
                    upper = None
                    if number:
                        above = self.frame_sizes[number - 1]
                        index = (step % above) // size
                        upper = vectors[number - 1][:, index: index + 1]
                    vectors[number], states[number] = tier(
                        frame, condition[:, step: step + 1], upper, states[number]
                    )
                window = padded[:, None, position - bottom: position]
                upper = vectors[-1][:, step % bottom: step % bottom + 1]
                logits = self.sample_tier(window, upper)[:, 0]
                if logits_all is not None:
                    logits_all[:, step] = logits
                padded[:, position] = gumbel_argmax(logits, None if noise is None else noise.at(step), temperature)
                if (step + 1) % self.hop_length == 0:
                    bar.update(self.hop_length)
        finally:
            bar.close()
        audio = self.decode(padded[:, top:], dtype=dtype)
        return (audio, logits_all) if return_outputs else audio
