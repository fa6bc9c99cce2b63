"""WaveNet: an autoregressive baseline that predicts audio sample by sample.

The unstructured counterpart of the DDSP voices, trained on the same task:
render audio from frame-rate fundamental frequency and loudness. The network
(van den Oord et al. 2016) is a stack of dilated causal convolutions with
gated ``tanh * sigmoid`` units, residual and skip connections and local
conditioning; it outputs, for every sample, a distribution over its value
given all earlier samples:

* ``output="mu_law"`` (default): a 256-way softmax over mu-law codes
  (:func:`~ddsp_lab.models.mulaw.mu_law_encode`), the input being an
  embedding of the previous sample's code;
* ``output="logistic"``: a discretised mixture of logistics over
  ``logistic_bins`` levels of ``[-1, 1]`` (16-bit by default), as in
  PixelCNN++ and Parallel WaveNet, the input being the previous sample's value.

Conditioning: scaled pitch ``hz_to_midi(f0_hz) / 127`` (0 Hz -> 0) and
normalised loudness ``(loudness_db - loudness_mean_db) / loudness_std_db``,
exactly as :meth:`~ddsp_lab.models.Autoencoder.preprocess`, are upsampled to
audio rate with :func:`~ddsp_lab.core.upsample_linear` and enter every layer
through its own 1x1 projection (local conditioning). Frame ``n`` is the value
at sample ``n * hop_length``, so sample ``t`` sees frames ``t // hop_length``
and ``t // hop_length + 1``: the conditioning is given in full before
generation starts, so looking one frame ahead costs nothing.

Causality: the prediction for sample ``t`` depends on samples
``t - receptive_field .. t - 1`` (the input is the audio shifted right by one
sample, silence first) and on the conditioning at sample ``t``.

Generation: :meth:`WaveNet.generate` runs the network one sample at a time
with a queue of past inputs per layer ("Fast Wavenet Generation", Paine et
al. 2016), so each sample costs one column of every convolution;
:meth:`WaveNet.generate_naive` recomputes the whole receptive field for every
sample (the reference for speed and for correctness).
"""

from __future__ import annotations

import math
from typing import Dict, Optional, Tuple, Union

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from ..core.checks import check_audio, check_hop_length, check_positive, check_sample_rate
from ..core.upsample import upsample_linear
from .autoencoder import check_loudness_normalisation, scale_conditioning
from .mulaw import MU_LAW_CHANNELS, linear_decode, linear_encode, mu_law_decode, mu_law_encode

OUTPUTS = ("mu_law", "logistic")
CONDITION_CHANNELS = 2
LOGISTIC_BINS = 65536

# Presets sized like the DDSP voices' "tiny" and "small" (mu-law output, any
# sample rate; the constructor's defaults are "tiny"):
# tiny: 250,368 parameters, 2 stacks of 10 layers, receptive field 2047 samples (128 ms at 16 kHz).
# small: 1,235,600 parameters, 3 stacks of 10 layers, receptive field 3070 samples (192 ms at 16 kHz).
SIZE_PRESETS: Dict[str, Dict[str, int]] = {
    "tiny": {"residual_channels": 32, "skip_channels": 128, "layers": 10, "stacks": 2},
    "small": {"residual_channels": 64, "skip_channels": 240, "layers": 10, "stacks": 3},
}

Sampled = Union[torch.Tensor, Tuple[torch.Tensor, torch.Tensor]]


def _check_count(value, name: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return value


def audio_rate_conditioning(
    f0_hz: torch.Tensor,
    loudness_db: torch.Tensor,
    hop_length: int,
    loudness_mean_db: float,
    loudness_std_db: float,
) -> torch.Tensor:
    """Scaled pitch and normalised loudness, linearly upsampled to audio rate.

    Pitch is ``hz_to_midi(f0_hz) / 127`` (0 Hz -> 0), loudness is
    ``(loudness_db - loudness_mean_db) / loudness_std_db``, both as in
    :meth:`~ddsp_lab.models.Autoencoder.preprocess`; frame ``n`` lands on
    sample ``n * hop_length`` (:func:`~ddsp_lab.core.upsample_linear`).

    Args:
        f0_hz: ``[B, F]`` or ``[B, F, 1]`` fundamental in Hz, ``>= 0``.
        loudness_db: ``[B, F]`` or ``[B, F, 1]`` loudness in dB.
        hop_length: samples per frame.
        loudness_mean_db: dB that map to 0.
        loudness_std_db: dB that map to 1.

    Returns:
        ``[B, F * hop_length, 2]``: channel 0 pitch, channel 1 loudness.
    """
    pitch, loudness = scale_conditioning(f0_hz, loudness_db, loudness_mean_db, loudness_std_db)
    return upsample_linear(torch.cat([pitch, loudness], dim=-1), hop_length)


def check_temperature(temperature) -> float:
    """A sampling temperature: a finite number ``> 0`` (1: the model's distribution)."""
    return check_positive(temperature, "temperature")


class NoiseBlocks:
    """Uniform noise for sampling, drawn one block of steps at a time.

    Incremental and naive generation draw the same blocks in the same order,
    so with the same ``generator`` seed they make the same random choices.
    """

    def __init__(self, batch: int, width: int, block: int, total: int, generator, device, dtype):
        self.shape = (batch, width)
        self.block, self.total = block, total
        self.generator, self.device, self.dtype = generator, device, dtype
        self.noise: Optional[torch.Tensor] = None

    def at(self, step: int) -> torch.Tensor:
        """Noise ``[B, width]`` in ``(0, 1)`` for ``step``."""
        offset = step % self.block
        if offset == 0:
            size = min(self.block, self.total - step)
            noise = torch.rand(
                (self.shape[0], size, self.shape[1]), generator=self.generator, device=self.device, dtype=self.dtype
            )
            self.noise = noise.clamp_(min=torch.finfo(self.dtype).tiny)
        return self.noise[:, offset]


def gumbel_argmax(logits: torch.Tensor, uniform: Optional[torch.Tensor], temperature: float) -> torch.Tensor:
    """Index drawn from ``softmax(logits / temperature)`` (Gumbel-max), or the argmax when ``uniform`` is None.

    Args:
        logits: ``[B, C]``.
        uniform: ``[B, C]`` noise in ``(0, 1)``, or None for the most probable index.
        temperature: ``> 0``.

    Returns:
        ``[B]`` long indices.
    """
    if uniform is None:
        return logits.argmax(dim=-1)
    return (logits / temperature - torch.log(-torch.log(uniform))).argmax(dim=-1)


class _ResidualLayer(nn.Module):
    """One gated residual layer: dilated causal conv + conditioning -> tanh * sigmoid -> residual, skip."""

    def __init__(self, residual_channels: int, skip_channels: int, kernel_size: int, dilation: int):
        super().__init__()
        self.residual_channels = residual_channels
        self.dilation = dilation
        self.left_padding = dilation * (kernel_size - 1)
        self.dilated = nn.Conv1d(residual_channels, 2 * residual_channels, kernel_size, dilation=dilation)
        self.condition = nn.Conv1d(CONDITION_CHANNELS, 2 * residual_channels, 1)
        # Residual and skip projections of the gated units share one 1x1 convolution.
        self.output = nn.Conv1d(residual_channels, residual_channels + skip_channels, 1)

    def forward(self, hidden: torch.Tensor, condition: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """``hidden [B, R, T]``, ``condition [B, 2, T]`` -> ``(next hidden [B, R, T], skip [B, S, T])``."""
        z = self.dilated(F.pad(hidden, (self.left_padding, 0))) + self.condition(condition)
        filters, gates = z.chunk(2, dim=1)
        out = self.output(torch.tanh(filters) * torch.sigmoid(gates))
        return hidden + out[:, : self.residual_channels], out[:, self.residual_channels:]


class WaveNet(nn.Module):
    """WaveNet conditioned on pitch and loudness (see the module docstring).

    Architecture: the previous sample (a learned embedding of its mu-law
    code, or a 1x1 projection of its value for the logistic output) makes
    ``residual_channels`` channels; ``stacks`` stacks of ``layers`` gated
    residual layers follow, layer ``i`` of a stack a causal convolution of
    ``kernel_size`` taps dilated by ``2 ** i`` (1, 2, ..., 512 for 10
    layers), plus a 1x1 projection of the conditioning, then
    ``tanh(filter) * sigmoid(gate)``, then a 1x1 convolution to a residual
    (added to the layer's input) and a skip (summed over all layers); the
    output head is ReLU, 1x1 convolution to ``skip_channels``, ReLU, 1x1
    convolution to the output channels.

    Args:
        sample_rate: Hz (any); stored for the trainer and for rendering.
        hop_length: audio samples per conditioning frame.
        loudness_mean_db: loudness (dB) that maps to 0; the training data's mean.
        loudness_std_db: dB that map to 1 (``> 0``); the training data's spread.
        residual_channels: channels of the residual stream (WaveNet: 32 to 512).
        skip_channels: channels of the skip sum and output head.
        layers: layers per stack (``>= 1``); dilations ``1 .. 2 ** (layers - 1)``.
        stacks: repetitions of the dilation pattern (``>= 1``).
        kernel_size: taps of every dilated convolution (``>= 2``; WaveNet: 2).
        output: ``"mu_law"`` (256-way softmax) or ``"logistic"``
            (discretised mixture of logistics).
        mixtures: logistic components (``output="logistic"`` only; PixelCNN++: 10).
        logistic_bins: levels of ``[-1, 1]`` the logistic output is
            discretised to (65536: 16-bit audio).

    Shapes:
        ``forward(audio [B, T], f0_hz [B, F], loudness_db [B, F]) -> [B, T, C]`` with
        ``T = F * hop_length`` and ``C = 256`` (mu-law) or ``3 * mixtures``
        (logistic: mixture logits, means, log scales).
    """

    def __init__(
        self,
        sample_rate: int,
        hop_length: int,
        loudness_mean_db: float = -40.0,
        loudness_std_db: float = 15.0,
        residual_channels: int = 32,
        skip_channels: int = 128,
        layers: int = 10,
        stacks: int = 2,
        kernel_size: int = 2,
        output: str = "mu_law",
        mixtures: int = 10,
        logistic_bins: int = LOGISTIC_BINS,
    ):
        super().__init__()
        self.sample_rate = check_sample_rate(sample_rate)
        self.hop_length = check_hop_length(hop_length)
        self.loudness_mean_db, self.loudness_std_db = check_loudness_normalisation(loudness_mean_db, loudness_std_db)
        self.residual_channels = _check_count(residual_channels, "residual_channels")
        self.skip_channels = _check_count(skip_channels, "skip_channels")
        self.layers_per_stack = _check_count(layers, "layers")
        self.stacks = _check_count(stacks, "stacks")
        self.kernel_size = _check_count(kernel_size, "kernel_size", minimum=2)
        if output not in OUTPUTS:
            raise ValueError(f"output must be one of {OUTPUTS}, got {output!r}")
        self.output = output
        self.mixtures = _check_count(mixtures, "mixtures")
        self.logistic_bins = _check_count(logistic_bins, "logistic_bins", minimum=2)
        # A component may put nearly all its mass into one bin: scales down to
        # 1/16 of a bin width (central bin mass tanh(4) = 0.9993).
        self.log_scale_min = math.log(2.0 / (self.logistic_bins - 1) / 16.0)

        residual = self.residual_channels
        if output == "mu_law":
            self.input_embedding = nn.Embedding(MU_LAW_CHANNELS, residual)
            self.input_projection = None
            self.output_channels = MU_LAW_CHANNELS
        else:
            self.input_embedding = None
            self.input_projection = nn.Conv1d(1, residual, 1)
            self.output_channels = 3 * self.mixtures
        dilations = [2 ** i for _ in range(self.stacks) for i in range(self.layers_per_stack)]
        self.layers = nn.ModuleList(
            _ResidualLayer(residual, self.skip_channels, self.kernel_size, d) for d in dilations
        )
        self.output_hidden = nn.Conv1d(self.skip_channels, self.skip_channels, 1)
        self.output_projection = nn.Conv1d(self.skip_channels, self.output_channels, 1)

    @classmethod
    def from_size(cls, size: str, sample_rate: int, hop_length: int, **overrides) -> "WaveNet":
        """A WaveNet with the :data:`SIZE_PRESETS` entry ``size`` (``"tiny"`` or ``"small"``), ``overrides`` on top."""
        if size not in SIZE_PRESETS:
            raise ValueError(f"size must be one of {tuple(SIZE_PRESETS)}, got {size!r}")
        return cls(sample_rate, hop_length, **{**SIZE_PRESETS[size], **overrides})

    @property
    def receptive_field(self) -> int:
        """Past samples a prediction depends on: ``(kernel_size - 1) * stacks * (2 ** layers - 1) + 1``."""
        return sum(layer.left_padding for layer in self.layers) + 1

    def parameter_count(self) -> int:
        """Number of trainable parameters."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad)

    # -- inputs -------------------------------------------------------------------

    def _reference(self) -> torch.Tensor:
        return self.output_projection.weight

    def _condition(self, f0_hz: torch.Tensor, loudness_db: torch.Tensor) -> torch.Tensor:
        """``[B, F * hop, 2]`` conditioning on the model's device and dtype."""
        reference = self._reference()
        condition = audio_rate_conditioning(
            f0_hz, loudness_db, self.hop_length, self.loudness_mean_db, self.loudness_std_db
        )
        return condition.to(device=reference.device, dtype=reference.dtype)

    def _check_audio(self, audio: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
        audio = check_audio(audio, "audio")
        batch, samples = condition.shape[:2]
        if audio.shape[1] != samples:
            raise ValueError(
                f"audio has {audio.shape[1]} samples but f0_hz/loudness_db have {samples // self.hop_length} "
                f"frames: audio must have frames * hop_length = {samples} samples"
            )
        if audio.shape[0] != batch:
            raise ValueError(f"audio has batch {audio.shape[0]} but f0_hz has batch {batch}")
        return audio.to(device=condition.device, dtype=condition.dtype)

    def _encode(self, audio: torch.Tensor) -> torch.Tensor:
        """What the network reads for each sample: mu-law codes (long) or clamped values."""
        if self.output == "mu_law":
            return mu_law_encode(audio)
        return audio.clamp(-1.0, 1.0)

    def _start_value(self, batch: int, like: torch.Tensor) -> torch.Tensor:
        """The input before the first sample: silence, ``[B]``."""
        silence = torch.zeros(batch, device=like.device, dtype=like.dtype)
        return self._encode(silence)

    def _shifted(self, audio: torch.Tensor) -> torch.Tensor:
        """Network inputs ``[B, T]``: input ``t`` is sample ``t - 1`` (silence for ``t = 0``)."""
        encoded = self._encode(audio)
        start = self._start_value(audio.shape[0], audio)
        return torch.cat([start[:, None], encoded[:, :-1]], dim=1)

    def _first_hidden(self, inputs: torch.Tensor) -> torch.Tensor:
        """Inputs ``[B, T]`` -> residual stream ``[B, R, T]``."""
        if self.input_embedding is not None:
            return self.input_embedding(inputs).transpose(1, 2)
        return self.input_projection(inputs[:, None, :])

    def _network(self, inputs: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
        """Inputs ``[B, T]`` and conditioning ``[B, 2, T]`` -> outputs ``[B, C, T]``."""
        hidden = self._first_hidden(inputs)
        skip = None
        for layer in self.layers:
            hidden, layer_skip = layer(hidden, condition)
            skip = layer_skip if skip is None else skip + layer_skip
        return self.output_projection(torch.relu(self.output_hidden(torch.relu(skip))))

    # -- training -----------------------------------------------------------------

    def forward(self, audio: torch.Tensor, f0_hz: torch.Tensor, loudness_db: torch.Tensor) -> torch.Tensor:
        """Teacher-forced outputs: the prediction for every sample from the samples before it.

        Args:
            audio: ``[B, T]``, full scale ±1 (clamped), ``T = F * hop_length``.
            f0_hz: ``[B, F]`` or ``[B, F, 1]`` in Hz, ``>= 0``.
            loudness_db: ``[B, F]`` or ``[B, F, 1]`` in dB.

        Returns:
            ``[B, T, C]``: row ``t`` predicts sample ``t`` from samples
            ``< t`` and the conditioning at ``t``; mu-law logits (``C = 256``)
            or mixture parameters (``C = 3 * mixtures``: logits, means, log
            scales, in that order).
        """
        condition = self._condition(f0_hz, loudness_db)
        audio = self._check_audio(audio, condition)
        return self._network(self._shifted(audio), condition.transpose(1, 2)).transpose(1, 2)

    def loss(self, audio: torch.Tensor, f0_hz: torch.Tensor, loudness_db: torch.Tensor) -> torch.Tensor:
        """Negative log-likelihood of ``audio``, mean per sample, in nats.

        Mu-law: cross-entropy of the 256-way softmax against the mu-law codes
        (``log(256) = 5.55`` for a uniform guess). Logistic: the discretised
        mixture NLL over ``logistic_bins`` levels (:func:`logistic_mixture_nll`).
        The two are not comparable with each other (different alphabets).
        """
        return self.nll(self.forward(audio, f0_hz, loudness_db), audio)

    def nll(self, outputs: torch.Tensor, audio: torch.Tensor) -> torch.Tensor:
        """:meth:`loss` from the outputs of :meth:`forward` (``[B, T, C]``) and the audio ``[B, T]``."""
        audio = audio.to(device=outputs.device, dtype=outputs.dtype)
        if self.output == "mu_law":
            return F.cross_entropy(outputs.reshape(-1, self.output_channels), mu_law_encode(audio).reshape(-1))
        return logistic_mixture_nll(outputs, audio, self.logistic_bins, self.log_scale_min).mean()

    # -- generation -----------------------------------------------------------------

    def _sample(self, outputs: torch.Tensor, uniform: Optional[torch.Tensor], temperature: float) -> torch.Tensor:
        """One step's outputs ``[B, C]`` -> the drawn sample ``[B]`` as the network reads it (code or value)."""
        if self.output == "mu_law":
            return gumbel_argmax(outputs, uniform, temperature)
        return sample_logistic_mixture(outputs, uniform, temperature, self.logistic_bins, self.log_scale_min)

    def _to_audio(self, generated: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        """Drawn samples ``[B, T]`` (codes or values) -> audio ``[B, T]``."""
        return mu_law_decode(generated, dtype=dtype) if self.output == "mu_law" else generated

    def _prepare_generation(self, f0_hz, loudness_db, temperature, greedy, generator):
        condition = self._condition(f0_hz, loudness_db)
        temperature = check_temperature(temperature)
        batch, samples = condition.shape[:2]
        width = self.output_channels if self.output == "mu_law" else self.mixtures + 1
        noise = None
        if not greedy:
            noise = NoiseBlocks(
                batch, width, self.hop_length, samples, generator, condition.device, condition.dtype
            )
        return condition, temperature, noise

    @staticmethod
    def _progress_bar(total: int, progress: bool, description: str):
        return tqdm(total=total, disable=not progress, desc=description, unit="sample", dynamic_ncols=True)

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
        """Generate audio sample by sample with cached activations (fast WaveNet generation).

        Every layer keeps a ring buffer of its last ``(kernel_size - 1) *
        dilation + 1`` inputs, so a step computes one column of each
        convolution from the buffered past and the new input: the cost per
        sample does not depend on the receptive field. The conditioning
        projections of all layers are computed one frame (``hop_length``
        samples) at a time, and the skip projections of all layers in one
        product per sample. Inputs are moved to the model's device and dtype.
        The outputs equal those of :meth:`generate_naive` up to float
        rounding (so the same ``generator`` seed gives the same samples unless
        rounding flips a near tie), and feeding the generated audio to
        :meth:`forward` reproduces the outputs of every step.

        Args:
            f0_hz: ``[B, F]`` or ``[B, F, 1]`` in Hz, ``>= 0``.
            loudness_db: ``[B, F]`` or ``[B, F, 1]`` in dB.
            temperature: ``> 0``; divides the logits (and scales the
                logistic components); 1 samples the model's distribution.
            progress: show a progress bar (tqdm, on stderr).
            greedy: take the most probable code (mu-law) or the mean of the
                most probable component (logistic) instead of sampling:
                deterministic, used to check generation against the other paths.
            generator: random generator on the model's device for reproducible sampling.
            return_outputs: also return every step's outputs ``[B, T, C]``
                (what :meth:`forward` returns for the generated audio).

        Returns:
            ``audio [B, F * hop_length]`` in the model's dtype, or
            ``(audio, outputs)`` with ``return_outputs``.
        """
        condition, temperature, noise = self._prepare_generation(f0_hz, loudness_db, temperature, greedy, generator)
        batch, samples = condition.shape[:2]
        device, dtype = condition.device, condition.dtype
        residual, hop, taps = self.residual_channels, self.hop_length, self.kernel_size - 1
        count = len(self.layers)

        # The residual stream is kept without the residual biases: layer l's stored input is
        # h_l - c_l with c_l the sum of the residual biases of the layers below it. Every update
        # is then a single addmm written straight into the next layer's buffer, and the
        # dilated convolution's response to c_l, a constant, joins the layer's bias. Before
        # the first sample the forward pass pads h_l with zeros, so the buffers start at -c_l.
        conv_weights, residual_weights, buffers, step_biases = [], [], [], []
        offset_bias = torch.zeros(residual, device=device, dtype=dtype)
        for layer in self.layers:
            weight = layer.dilated.weight  # [2R, R, K]; tap k multiplies the input (K - 1 - k) * d samples back
            conv_weights.append(weight.permute(2, 1, 0).reshape(self.kernel_size * residual, 2 * residual))
            step_biases.append(layer.condition.bias + layer.dilated.bias + weight.sum(dim=2) @ offset_bias)
            # One slot more than the taps need, so the newest input never overwrites the oldest.
            buffer = torch.empty(taps * layer.dilation + 1, batch, residual, device=device, dtype=dtype)
            buffers.append(buffer.copy_((-offset_bias).expand_as(buffer)))
            residual_weights.append(layer.output.weight[:residual, :, 0].t())
            offset_bias = offset_bias + layer.output.bias[:residual]
        # Conditioning of all layers, computed one frame at a time.
        condition_weight = torch.cat([layer.condition.weight[:, :, 0] for layer in self.layers], dim=0).t()
        condition_bias = torch.cat(step_biases)
        # Skips of all layers in one product over the gated units of every layer.
        skip_weight = torch.cat([layer.output.weight[residual:, :, 0].t() for layer in self.layers], dim=0)
        skip_bias = sum(layer.output.bias[residual:] for layer in self.layers)
        hidden_weight, hidden_bias = self.output_hidden.weight[:, :, 0].t(), self.output_hidden.bias
        head_weight, head_bias = self.output_projection.weight[:, :, 0].t(), self.output_projection.bias
        if self.input_projection is not None:
            input_weight = self.input_projection.weight[:, :, 0].t()
            input_bias = self.input_projection.bias

        gated = torch.empty(batch, count * residual, device=device, dtype=dtype)
        gated_slots = [gated[:, n * residual: (n + 1) * residual] for n in range(count)]
        previous = self._start_value(batch, condition[:, 0, 0])
        generated = torch.empty(batch, samples, device=device, dtype=previous.dtype)
        outputs_all = (
            torch.empty(batch, samples, self.output_channels, device=device, dtype=dtype) if return_outputs else None
        )
        per_layer = 2 * residual
        plan = [(n, layer.dilation, buffers[n], buffers[n].shape[0]) for n, layer in enumerate(self.layers)]
        bar = self._progress_bar(samples, progress, "wavenet")
        try:
            for step in range(samples):
                offset = step % hop
                if offset == 0:
                    block = condition[:, step: step + hop]
                    layer_conditions = torch.matmul(block, condition_weight) + condition_bias
                    bar.update(block.shape[1])
                step_condition = layer_conditions[:, offset]
                first = buffers[0][step % buffers[0].shape[0]]
                if self.input_embedding is not None:
                    torch.index_select(self.input_embedding.weight, 0, previous, out=first)
                else:
                    torch.addmm(input_bias, previous[:, None], input_weight, out=first)
                for number, dilation, buffer, size in plan:
                    current = buffer[step % size]
                    past = [buffer[(step - k * dilation) % size] for k in range(taps, 0, -1)]
                    stacked = torch.cat(past + [current], dim=1)
                    z = torch.addmm(
                        step_condition[:, number * per_layer: (number + 1) * per_layer], stacked, conv_weights[number]
                    )
                    torch.mul(torch.tanh(z[:, :residual]), torch.sigmoid(z[:, residual:]), out=gated_slots[number])
                    if number + 1 < count:
                        following = buffers[number + 1]
                        torch.addmm(
                            current, gated_slots[number], residual_weights[number],
                            out=following[step % following.shape[0]],
                        )
                skip = torch.addmm(skip_bias, gated, skip_weight)
                hidden_out = torch.relu(torch.addmm(hidden_bias, torch.relu(skip), hidden_weight))
                outputs = torch.addmm(head_bias, hidden_out, head_weight)
                if outputs_all is not None:
                    outputs_all[:, step] = outputs
                previous = self._sample(outputs, None if noise is None else noise.at(step), temperature)
                generated[:, step] = previous
        finally:
            bar.close()
        audio = self._to_audio(generated, dtype)
        return (audio, outputs_all) if return_outputs else audio

    @torch.no_grad()
    def generate_naive(
        self,
        f0_hz: torch.Tensor,
        loudness_db: torch.Tensor,
        temperature: float = 1.0,
        progress: bool = False,
        greedy: bool = False,
        generator: Optional[torch.Generator] = None,
        return_outputs: bool = False,
    ) -> Sampled:
        """Generate by running the whole network over the receptive field for every sample.

        The straightforward (slow) way, kept as the reference for
        :meth:`generate`; same arguments and result.
        """
        condition, temperature, noise = self._prepare_generation(f0_hz, loudness_db, temperature, greedy, generator)
        batch, samples = condition.shape[:2]
        condition = condition.transpose(1, 2)
        start = self._start_value(batch, condition[:, 0, 0])
        inputs = torch.empty(batch, samples, device=condition.device, dtype=start.dtype)
        inputs[:, 0] = start
        generated = torch.empty(batch, samples, device=condition.device, dtype=start.dtype)
        outputs_all = (
            torch.empty(batch, samples, self.output_channels, device=condition.device, dtype=condition.dtype)
            if return_outputs else None
        )
        field = self.receptive_field
        bar = self._progress_bar(samples, progress, "wavenet (naive)")
        try:
            for step in range(samples):
                first = max(0, step - field + 1)
                outputs = self._network(inputs[:, first: step + 1], condition[:, :, first: step + 1])[:, :, -1]
                if outputs_all is not None:
                    outputs_all[:, step] = outputs
                generated[:, step] = self._sample(outputs, None if noise is None else noise.at(step), temperature)
                if step + 1 < samples:
                    inputs[:, step + 1] = generated[:, step]
                bar.update(1)
        finally:
            bar.close()
        audio = self._to_audio(generated, condition.dtype)
        return (audio, outputs_all) if return_outputs else audio


# -- discretised mixture of logistics ------------------------------------------------


def _split_mixture(params: torch.Tensor, log_scale_min: float) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    logits, means, log_scales = params.chunk(3, dim=-1)
    return logits, means, log_scales.clamp(min=log_scale_min)


def logistic_mixture_nll(
    params: torch.Tensor, audio: torch.Tensor, bins: int = LOGISTIC_BINS, log_scale_min: float = -16.0
) -> torch.Tensor:
    """Negative log-likelihood of audio under a discretised mixture of logistics (PixelCNN++).

    The value ``x`` is first rounded to the nearest of ``bins`` levels of
    ``[-1, 1]`` (bin width ``w = 2 / (bins - 1)``); its probability is
    ``sum_k pi_k [sigmoid((x + w/2 - mu_k) / s_k) - sigmoid((x - w/2 - mu_k) / s_k)]``,
    with the lowest and highest bins extended to minus and plus infinity so
    the bins hold all the mass. Where a bin's mass is below ``1e-5`` (float32
    cancellation territory) the density at the bin centre times ``w`` is used
    instead.

    Args:
        params: ``[..., 3 * M]``: mixture logits, means, log scales (clamped
            at ``log_scale_min``).
        audio: ``[...]`` values, clamped to ``[-1, 1]``.
        bins: quantisation levels (``>= 2``).
        log_scale_min: smallest log scale.

    Returns:
        ``[...]`` NLL in nats, finite.
    """
    logits, means, log_scales = _split_mixture(params, log_scale_min)
    codes = linear_encode(audio, bins)
    x = linear_decode(codes, bins, dtype=params.dtype).unsqueeze(-1)
    half_bin = 1.0 / (bins - 1)
    inverse_scale = torch.exp(-log_scales)
    centred = x - means
    upper = inverse_scale * (centred + half_bin)
    lower = inverse_scale * (centred - half_bin)
    log_cdf_upper = upper - F.softplus(upper)  # log sigmoid(upper), for the lowest bin
    log_survival_lower = -F.softplus(lower)  # log (1 - sigmoid(lower)), for the highest bin
    mass = torch.sigmoid(upper) - torch.sigmoid(lower)
    middle = inverse_scale * centred
    log_density = middle - log_scales - 2.0 * F.softplus(middle)
    log_mass = torch.where(
        mass > 1e-5, torch.log(mass.clamp(min=1e-12)), log_density + math.log(2.0 * half_bin)
    )
    codes = codes.unsqueeze(-1)
    log_mass = torch.where(codes == bins - 1, log_survival_lower, log_mass)
    log_mass = torch.where(codes == 0, log_cdf_upper, log_mass)
    return -torch.logsumexp(log_mass + torch.log_softmax(logits, dim=-1), dim=-1)


def sample_logistic_mixture(
    params: torch.Tensor,
    uniform: Optional[torch.Tensor],
    temperature: float = 1.0,
    bins: int = LOGISTIC_BINS,
    log_scale_min: float = -16.0,
) -> torch.Tensor:
    """Draw from a discretised mixture of logistics (see :func:`logistic_mixture_nll`).

    A component is picked with Gumbel-max over ``logits / temperature``, a
    value drawn from it with its scale multiplied by ``temperature``, and the
    result clamped to ``[-1, 1]`` and rounded to the nearest of ``bins`` levels.

    Args:
        params: ``[B, 3 * M]``.
        uniform: ``[B, M + 1]`` noise in ``(0, 1)`` (M for the component, one
            for the value), or None for the mean of the most probable component.
        temperature: ``> 0``.
        bins, log_scale_min: as in :func:`logistic_mixture_nll`.

    Returns:
        ``[B]`` values in ``[-1, 1]``.
    """
    logits, means, log_scales = _split_mixture(params, log_scale_min)
    mixtures = logits.shape[-1]
    if uniform is None:
        component = logits.argmax(dim=-1, keepdim=True)
        value = means.gather(-1, component)[:, 0]
    else:
        component = gumbel_argmax(logits, uniform[:, :mixtures], temperature)[:, None]
        u = uniform[:, mixtures].clamp(max=1.0 - torch.finfo(uniform.dtype).eps)
        scale = torch.exp(log_scales.gather(-1, component)[:, 0]) * temperature
        value = means.gather(-1, component)[:, 0] + scale * (torch.log(u) - torch.log1p(-u))
    # linear_decode(linear_encode(value)) without their input checks, which would cost a device
    # synchronisation per generated sample.
    steps = bins - 1
    return torch.floor((value.clamp(-1.0, 1.0) + 1.0) * (steps / 2.0) + 0.5).clamp(0, steps) * (2.0 / steps) - 1.0
