"""Autoencoders: pitch and loudness (and optionally a latent from the audio) in, audio out.

The model follows DDSP: the conditioning (fundamental frequency and loudness
per frame, and optionally a latent ``z`` from :class:`~ddsp_lab.models.MfccEncoder`)
is scaled, a decoder turns it into raw controls, the synthesiser's
``get_controls`` maps those to physical controls and its ``get_signal``
renders audio. Two voices ship:

* :class:`DDSPVoice`: RNN-FC decoder -> :class:`~ddsp_lab.units.Harmonic` plus
  :class:`~ddsp_lab.units.FilteredNoise` -> learned :class:`~ddsp_lab.units.Reverb`.
* :class:`FMVoice`: causal TCN decoder -> six-operator
  :class:`~ddsp_lab.units.FMSynth` (a DX7 algorithm, fixed frequency ratios,
  optional feedback) -> learned reverb (DDX7).
* :class:`GraphVoice`: either decoder -> any synth graph
  (:class:`~ddsp_lab.graph.Graph`): the decoder drives the graph's external
  controls, and the graph's learnable parameters are trained with it.

Like the unit generators, both voices split their work into
``get_controls(f0_hz, loudness_db, audio=None)`` and ``get_signal(**controls)``,
so controls can be inspected or edited between the two steps. Any number of
frames works; the sample rate and hop are constructor arguments.
"""

from __future__ import annotations

import abc
import copy
import math
from typing import Dict, List, Optional, Sequence, Tuple

import torch
from torch import nn

from ..core.checks import check_hop_length, check_positive, check_sample_rate, check_tensor
from ..core.conversions import hz_to_midi
from ..graph import CONTROL, Graph, Learnable, graph_from_dict
from ..units import FilteredNoise, FMSynth, Harmonic, Reverb
from .config import ModelConfig
from .decoders import RnnFcDecoder, TcnDecoder
from .encoders import MfccEncoder

# Scaled pitch is MIDI / 127: 0 Hz -> 0, MIDI 127 (12.5 kHz) -> 1, as in DDSP.
MIDI_RANGE = 127.0


def _as_frames(value, name: str) -> torch.Tensor:
    """``[B, F]`` or ``[B, F, 1]`` -> ``[B, F, 1]``, checked."""
    check_tensor(value, name, ndim=(2, 3))
    if value.dim() == 2:
        value = value.unsqueeze(-1)
    check_tensor(value, name, ndim=3, last_dim=1)
    if value.shape[1] == 0:
        raise ValueError(f"{name} has no frames (shape {tuple(value.shape)})")
    return value


def check_loudness_normalisation(loudness_mean_db, loudness_std_db) -> Tuple[float, float]:
    """Check the loudness normalisation of a model (a finite mean in dB, a deviation > 0 dB); returns floats."""
    if isinstance(loudness_mean_db, bool) or not isinstance(loudness_mean_db, (int, float)):
        raise TypeError(f"loudness_mean_db must be a number of dB, got {type(loudness_mean_db).__name__}")
    if not math.isfinite(loudness_mean_db):
        raise ValueError(f"loudness_mean_db must be finite, got {loudness_mean_db!r}")
    return float(loudness_mean_db), check_positive(loudness_std_db, "loudness_std_db")


def scale_conditioning(
    f0_hz: torch.Tensor, loudness_db: torch.Tensor, loudness_mean_db: float, loudness_std_db: float
) -> Tuple[torch.Tensor, torch.Tensor]:
    """Scaled pitch ``hz_to_midi(f0_hz) / 127`` (0 Hz -> 0) and normalised loudness, ``[B, F, 1]`` each.

    The conditioning every model here receives (voices and neural baselines alike).

    Args:
        f0_hz: ``[B, F]`` or ``[B, F, 1]`` fundamental in Hz, ``>= 0``.
        loudness_db: ``[B, F]`` or ``[B, F, 1]`` loudness in dB; ``loudness_mean_db``
            maps to 0 and ``loudness_std_db`` dB to 1.
    """
    f0_hz = _as_frames(f0_hz, "f0_hz")
    loudness_db = _as_frames(loudness_db, "loudness_db")
    if f0_hz.shape[:2] != loudness_db.shape[:2]:
        raise ValueError(
            f"f0_hz has batch/frames {tuple(f0_hz.shape[:2])} but loudness_db has "
            f"{tuple(loudness_db.shape[:2])}; they must describe the same frames"
        )
    if bool((f0_hz < 0).any()):
        raise ValueError(f"f0_hz must be >= 0, got a minimum of {float(f0_hz.min()):.6g}")
    pitch = hz_to_midi(f0_hz) / MIDI_RANGE
    loudness = (loudness_db.to(pitch.dtype) - loudness_mean_db) / loudness_std_db
    return pitch, loudness


class Autoencoder(nn.Module, abc.ABC):
    """Base class of the voices: conditioning -> (encoder) -> decoder -> synthesiser.

    Subclasses set :attr:`decoder` (outputs named after their synthesiser's
    raw controls) and implement :meth:`get_controls` and :meth:`get_signal`.

    Conditioning, frame by frame:

    * pitch: ``hz_to_midi(f0_hz) / 127`` (0 Hz -> 0),
    * loudness: ``(loudness_db - loudness_mean_db) / loudness_std_db``,
    * ``z``: the encoder's latent of the target audio (only when ``z_size > 0``).

    Args:
        sample_rate: Hz (any).
        hop_length: audio samples per frame.
        loudness_mean_db: loudness (dB, as :func:`~ddsp_lab.features.compute_loudness`
            measures it) that maps to 0; the training data's mean is a good choice.
        loudness_std_db: dB that map to 1 (``> 0``); the training data's
            standard deviation is a good choice.
        z_size: channels of the latent; 0 for no encoder.
        n_mfcc, n_mels, encoder_gru_size: encoder settings (see
            :class:`~ddsp_lab.models.MfccEncoder`), used when ``z_size > 0``.
    """

    decoder: nn.Module

    def __init__(
        self,
        sample_rate: int,
        hop_length: int,
        loudness_mean_db: float = -40.0,
        loudness_std_db: float = 15.0,
        z_size: int = 0,
        n_mfcc: int = 30,
        n_mels: int = 128,
        encoder_gru_size: int = 512,
    ):
        super().__init__()
        self.sample_rate = check_sample_rate(sample_rate)
        self.hop_length = check_hop_length(hop_length)
        self.loudness_mean_db, self.loudness_std_db = check_loudness_normalisation(loudness_mean_db, loudness_std_db)
        if isinstance(z_size, bool) or not isinstance(z_size, int) or z_size < 0:
            raise ValueError(f"z_size must be an integer >= 0 (0: no encoder), got {z_size!r}")
        self.z_size = z_size
        self.encoder: Optional[MfccEncoder] = None
        if z_size:
            self.encoder = MfccEncoder(
                self.sample_rate, self.hop_length, z_size=z_size, n_mfcc=n_mfcc, n_mels=n_mels,
                gru_size=encoder_gru_size,
            )

    @property
    def input_sizes(self) -> Tuple[int, ...]:
        """Channels of the decoder's inputs: pitch, loudness and, with an encoder, ``z``."""
        return (1, 1, self.z_size) if self.z_size else (1, 1)

    def preprocess(self, f0_hz: torch.Tensor, loudness_db: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """Scaled pitch and normalised loudness, ``[B, F, 1]`` each (see the class).

        Args:
            f0_hz: ``[B, F]`` or ``[B, F, 1]`` fundamental in Hz, ``>= 0``.
            loudness_db: ``[B, F]`` or ``[B, F, 1]`` loudness in dB.
        """
        return scale_conditioning(f0_hz, loudness_db, self.loudness_mean_db, self.loudness_std_db)

    def conditioning(
        self, f0_hz: torch.Tensor, loudness_db: torch.Tensor, audio: Optional[torch.Tensor] = None
    ) -> List[torch.Tensor]:
        """The decoder's inputs ``[pitch, loudness(, z)]``, each ``[B, F, C]``.

        Args:
            f0_hz, loudness_db: as in :meth:`preprocess`.
            audio: ``[B, F * hop_length]``, required when the model has an
                encoder (the latent is computed from it), ignored otherwise.
        """
        pitch, loudness = self.preprocess(f0_hz, loudness_db)
        inputs = [pitch, loudness]
        if self.encoder is not None:
            if audio is None:
                raise ValueError(
                    f"audio is required: this model encodes a latent z ({self.z_size} channels) from the audio"
                )
            z = self.encoder(audio.to(pitch.dtype), frames=pitch.shape[1])
            if z.shape[0] != pitch.shape[0]:
                raise ValueError(f"audio has batch {z.shape[0]} but f0_hz has batch {pitch.shape[0]}")
            inputs.append(z)
        return inputs

    def decode(
        self, f0_hz: torch.Tensor, loudness_db: torch.Tensor, audio: Optional[torch.Tensor] = None
    ) -> Dict[str, torch.Tensor]:
        """Raw (unbounded) decoder outputs ``{name: [B, F, C]}``."""
        return self.decoder(self.conditioning(f0_hz, loudness_db, audio))

    @abc.abstractmethod
    def get_controls(
        self, f0_hz: torch.Tensor, loudness_db: torch.Tensor, audio: Optional[torch.Tensor] = None
    ) -> Dict[str, torch.Tensor]:
        """Physical synthesiser controls (the keyword arguments of :meth:`get_signal`)."""

    @abc.abstractmethod
    def get_signal(self, **controls: torch.Tensor) -> torch.Tensor:
        """Render audio ``[B, F * hop_length]`` from physical controls."""

    def forward(
        self, f0_hz: torch.Tensor, loudness_db: torch.Tensor, audio: Optional[torch.Tensor] = None
    ) -> torch.Tensor:
        """Audio ``[B, F * hop_length]`` from ``f0_hz`` and ``loudness_db`` (``[B, F]`` or ``[B, F, 1]``).

        ``audio`` (the target, ``[B, F * hop_length]``) is needed only by
        models with an encoder.
        """
        return self.get_signal(**self.get_controls(f0_hz, loudness_db, audio))

    def project_parameters(self) -> None:
        """Bring constrained parameters back into their domain after an optimiser step (default: nothing)."""

    def parameter_counts(self) -> Dict[str, int]:
        """Trainable parameters: ``{"total", "decoder", "encoder", "synth"}``.

        ``synth`` counts the synthesiser's own parameters: the reverb impulse
        response and, when learned, the FM feedback setting.
        """
        def count(module: Optional[nn.Module]) -> int:
            if module is None:
                return 0
            return sum(p.numel() for p in module.parameters() if p.requires_grad)

        total = count(self)
        decoder, encoder = count(self.decoder), count(self.encoder)
        return {"total": total, "decoder": decoder, "encoder": encoder, "synth": total - decoder - encoder}


class DDSPVoice(Autoencoder):
    """The DDSP voice: RNN-FC decoder, harmonic oscillator plus filtered noise, learned reverb.

    The decoder (:class:`~ddsp_lab.models.RnnFcDecoder`) outputs raw
    ``amplitude [B, F, 1]``, ``harmonic_distribution [B, F, n_harmonics]`` and
    ``noise_magnitudes [B, F, n_noise_bands]``;
    :meth:`~ddsp_lab.units.Harmonic.get_controls` and
    :meth:`~ddsp_lab.units.FilteredNoise.get_controls` map them to a positive
    amplitude, a distribution that sums to 1 over the harmonics below Nyquist,
    and noise band gains (``exp_sigmoid``; the noise starts near silence, so
    the harmonic part is learned first). The harmonic and noise signals are
    summed and go through a :class:`~ddsp_lab.units.Reverb` whose impulse
    response is learned (it starts almost dry).

    Args:
        sample_rate: Hz (any).
        hop_length: audio samples per frame.
        n_harmonics: harmonics of the oscillator (DDSP solo instrument: 60);
            those at or above Nyquist are silent.
        n_noise_bands: noise filter bands from 0 Hz to Nyquist (DDSP: 65);
            0 for no noise (a purely harmonic voice), else ``>= 2``.
        reverb_seconds: length of the learned impulse response in seconds
            (typically 0.5 to 3); ``None`` or 0 for no reverb.
        hidden_size, gru_size, mlp_layers: decoder sizes (DDSP: 512, 512, 3).
        loudness_mean_db, loudness_std_db, z_size, n_mfcc, n_mels,
            encoder_gru_size: see :class:`Autoencoder`.

    Shapes:
        ``forward(f0_hz [B, F], loudness_db [B, F], audio [B, F * hop] or None) -> [B, F * hop_length]``
    """

    def __init__(
        self,
        sample_rate: int,
        hop_length: int,
        n_harmonics: int = 60,
        n_noise_bands: int = 65,
        reverb_seconds: Optional[float] = 1.0,
        hidden_size: int = 512,
        gru_size: int = 512,
        mlp_layers: int = 3,
        loudness_mean_db: float = -40.0,
        loudness_std_db: float = 15.0,
        z_size: int = 0,
        n_mfcc: int = 30,
        n_mels: int = 128,
        encoder_gru_size: int = 512,
    ):
        super().__init__(
            sample_rate, hop_length, loudness_mean_db, loudness_std_db, z_size, n_mfcc, n_mels, encoder_gru_size
        )
        if isinstance(n_harmonics, bool) or not isinstance(n_harmonics, int) or n_harmonics < 1:
            raise ValueError(f"n_harmonics must be a positive integer, got {n_harmonics!r}")
        if isinstance(n_noise_bands, bool) or not isinstance(n_noise_bands, int) or n_noise_bands < 0 \
                or n_noise_bands == 1:
            raise ValueError(f"n_noise_bands must be 0 (no noise) or an integer >= 2, got {n_noise_bands!r}")
        self.n_harmonics = n_harmonics
        self.n_noise_bands = n_noise_bands
        self.harmonic = Harmonic(self.sample_rate, self.hop_length)
        self.noise = FilteredNoise(self.sample_rate, self.hop_length, n_noise_bands) if n_noise_bands else None
        self.reverb = Reverb(self.sample_rate, reverb_seconds) if reverb_seconds else None
        outputs = {"amplitude": 1, "harmonic_distribution": n_harmonics}
        if n_noise_bands:
            outputs["noise_magnitudes"] = n_noise_bands
        self.decoder = RnnFcDecoder(self.input_sizes, outputs, hidden_size, gru_size, mlp_layers)

    def get_controls(
        self, f0_hz: torch.Tensor, loudness_db: torch.Tensor, audio: Optional[torch.Tensor] = None
    ) -> Dict[str, torch.Tensor]:
        """Physical controls from the conditioning.

        Returns:
            ``{"f0_hz" [B, F, 1] (Hz), "amplitude" [B, F, 1] (linear),
            "harmonic_distribution" [B, F, n_harmonics] (sums to 1 below Nyquist),
            "noise_magnitudes" [B, F, n_noise_bands] (linear gains; absent without noise)}``.
        """
        raw = self.decode(f0_hz, loudness_db, audio)
        f0_hz = _as_frames(f0_hz, "f0_hz").to(raw["amplitude"].dtype)
        controls = self.harmonic.get_controls(f0_hz, raw["amplitude"], raw["harmonic_distribution"])
        if self.noise is not None:
            controls["noise_magnitudes"] = self.noise.get_controls(raw["noise_magnitudes"])["magnitudes"]
        return controls

    def get_signal(
        self,
        f0_hz: torch.Tensor,
        amplitude: torch.Tensor,
        harmonic_distribution: torch.Tensor,
        noise_magnitudes: Optional[torch.Tensor] = None,
    ) -> torch.Tensor:
        """Harmonic plus filtered noise, through the reverb: ``[B, F * hop_length]``.

        Args:
            f0_hz: ``[B, F, 1]`` Hz, ``>= 0``.
            amplitude: ``[B, F, 1]`` linear amplitude, ``>= 0``.
            harmonic_distribution: ``[B, F, n_harmonics]``.
            noise_magnitudes: ``[B, F, n_noise_bands]`` gains ``>= 0``; required
                when the voice has noise, not accepted otherwise.
        """
        audio = self.harmonic.get_signal(f0_hz, amplitude, harmonic_distribution)
        if self.noise is not None:
            if noise_magnitudes is None:
                raise ValueError("noise_magnitudes is required: this voice has a noise part")
            audio = audio + self.noise.get_signal(noise_magnitudes)
        elif noise_magnitudes is not None:
            raise ValueError("noise_magnitudes was given but this voice has no noise part (n_noise_bands=0)")
        if self.reverb is not None:
            audio = self.reverb(audio)
        return audio


class FMVoice(Autoencoder):
    """The DDX7 voice: causal TCN decoder, six FM operators, learned reverb.

    The decoder (:class:`~ddsp_lab.models.TcnDecoder`) outputs raw
    ``levels [B, F, 6]``; :meth:`~ddsp_lab.units.FMSynth.get_controls` maps
    them to operator output levels in ``[0, max_level]`` (a sigmoid). The
    operators run at fixed frequency ratios of ``f0`` in the routing of a DX7
    algorithm, the feedback operator with a fixed (or learned) DX7 feedback
    setting. The sum of the carriers is scaled by
    ``1 / (carriers * max_level)`` so the dry output stays within ±1, then a
    :class:`~ddsp_lab.units.Reverb` with a learned impulse response follows.
    FM is not band-limited: see :class:`~ddsp_lab.units.FMSynth` on aliasing.

    Args:
        sample_rate: Hz (any).
        hop_length: audio samples per frame.
        algorithm: DX7 algorithm 1..32 (default 1: OP2 -> OP1 and
            OP6 -> OP5 -> OP4 -> OP3, carriers OP1 and OP3, feedback on OP6).
        ratios: frequency ratio of each operator to ``f0`` (``> 0``);
            default ``(1, 1, 1, 1, 3, 14)``, DDX7's string patch.
        feedback: DX7 feedback setting of the algorithm's feedback operator,
            ``[0, 7]``; 0 is off.
        learnable_feedback: learn the feedback setting (clamped to ``[0, 7]``).
        max_level: largest operator level (2.0 is the DX7's full scale, a peak
            modulation index of ``4*pi`` rad).
        reverb_seconds: learned impulse response length in seconds; ``None``
            or 0 for no reverb.
        channels, blocks, kernel_size: decoder sizes (DDX7: 128, 5, 3).
        loudness_mean_db, loudness_std_db, z_size, n_mfcc, n_mels,
            encoder_gru_size: see :class:`Autoencoder`.

    Shapes:
        ``forward(f0_hz [B, F], loudness_db [B, F], audio [B, F * hop] or None) -> [B, F * hop_length]``
    """

    def __init__(
        self,
        sample_rate: int,
        hop_length: int,
        algorithm: int = 1,
        ratios: Sequence[float] = (1.0, 1.0, 1.0, 1.0, 3.0, 14.0),
        feedback: float = 0.0,
        learnable_feedback: bool = False,
        max_level: float = 2.0,
        reverb_seconds: Optional[float] = 1.0,
        channels: int = 128,
        blocks: int = 5,
        kernel_size: int = 3,
        loudness_mean_db: float = -40.0,
        loudness_std_db: float = 15.0,
        z_size: int = 0,
        n_mfcc: int = 30,
        n_mels: int = 128,
        encoder_gru_size: int = 512,
    ):
        super().__init__(
            sample_rate, hop_length, loudness_mean_db, loudness_std_db, z_size, n_mfcc, n_mels, encoder_gru_size
        )
        self.fm = FMSynth(
            self.sample_rate, self.hop_length, algorithm=algorithm, ratios=tuple(ratios), feedback=feedback,
            learnable_feedback=learnable_feedback, max_level=max_level,
        )
        self.fm.output_gain = 1.0 / (float(self.fm.carriers.sum()) * self.fm.max_level)
        self.reverb = Reverb(self.sample_rate, reverb_seconds) if reverb_seconds else None
        self.decoder = TcnDecoder(self.input_sizes, {"levels": self.fm.num_operators}, channels, blocks, kernel_size)

    def get_controls(
        self, f0_hz: torch.Tensor, loudness_db: torch.Tensor, audio: Optional[torch.Tensor] = None
    ) -> Dict[str, torch.Tensor]:
        """Physical controls: ``{"f0_hz" [B, F, 1] (Hz), "levels" [B, F, 6] (in [0, max_level])}``."""
        raw = self.decode(f0_hz, loudness_db, audio)
        f0_hz = _as_frames(f0_hz, "f0_hz").to(raw["levels"].dtype)
        return self.fm.get_controls(f0_hz, raw["levels"])

    def get_signal(self, f0_hz: torch.Tensor, levels: torch.Tensor) -> torch.Tensor:
        """The operators through the reverb: ``[B, F * hop_length]``.

        Args:
            f0_hz: ``[B, F, 1]`` Hz, ``>= 0``.
            levels: ``[B, F, 6]`` operator levels ``g`` (peak index ``2*pi*g`` rad).
        """
        audio = self.fm.get_signal(f0_hz, levels)
        if self.reverb is not None:
            audio = self.reverb(audio)
        return audio


# Controls a GraphVoice feeds from the conditioning instead of the decoder.
CONDITIONING_CONTROLS = ("f0_hz", "loudness_db")


def network_controls(graph: Graph) -> Dict[str, int]:
    """The external controls of ``graph`` a decoder must provide, with their channels.

    Every control the graph reads except ``"f0_hz"`` and ``"loudness_db"``
    (which come from the conditioning). A control used by several parameters
    gets the largest channel count among them (a one-channel control
    broadcasts).

    Raises:
        ValueError: a control feeds an audio ``Input``, or a note-rate
            parameter (one value per note: a decoder outputs one per frame),
            or parameters with different channel counts above one.
    """
    sizes: Dict[str, int] = {}
    for control, users in graph.required_controls().items():
        if control in CONDITIONING_CONTROLS:
            continue
        channels = set()
        for user in users:
            node_name, parameter = user.split(".", 1)
            node = graph.node(node_name)
            specs = node.parameter_specs()
            if parameter not in specs:
                raise ValueError(f"graph control {control!r} feeds {user}, an input a decoder cannot drive")
            spec = specs[parameter]
            if spec.rate != CONTROL:
                raise ValueError(
                    f"graph control {control!r} feeds the note-rate parameter {user} (one value per note); a "
                    "decoder drives frame-rate parameters only"
                )
            channels.add(spec.channels)
        wide = {count for count in channels if count > 1}
        if len(wide) > 1:
            raise ValueError(f"graph control {control!r} feeds parameters of {sorted(wide)} channels")
        sizes[control] = max(channels)
    return sizes


class GraphVoice(Autoencoder):
    """A synth graph played by a decoder: any graph with external or learnable parameters is a voice.

    The graph's external controls ``"f0_hz"`` (Hz) and ``"loudness_db"`` (dB)
    receive the conditioning, ``[B, F, 1]`` each; every other external control
    it reads (see :func:`network_controls`) is a decoder output squashed by a
    sigmoid into ``[0, 1]``, which an :class:`~ddsp_lab.graph.External` with a
    ``range`` maps onto its physical range (give every network-driven control
    a range: without one the parameter receives the ``[0, 1]`` value as it
    is). The graph's :class:`~ddsp_lab.graph.Learnable` parameters train along
    with the decoder.

    Args:
        graph: the synthesiser; its sample rate and hop are the voice's.
        decoder: ``"rnn"`` (:class:`~ddsp_lab.models.RnnFcDecoder`) or
            ``"tcn"`` (:class:`~ddsp_lab.models.TcnDecoder`).
        hidden_size, gru_size, mlp_layers: RNN decoder sizes.
        channels, blocks, kernel_size: TCN decoder sizes.
        loudness_mean_db, loudness_std_db, z_size, n_mfcc, n_mels,
            encoder_gru_size: see :class:`Autoencoder`.

    Shapes:
        ``forward(f0_hz [B, F], loudness_db [B, F], audio [B, F * hop] or None) -> [B, F * hop_length]``
    """

    def __init__(
        self,
        graph: Graph,
        decoder: str = "rnn",
        hidden_size: int = 512,
        gru_size: int = 512,
        mlp_layers: int = 3,
        channels: int = 128,
        blocks: int = 5,
        kernel_size: int = 3,
        loudness_mean_db: float = -40.0,
        loudness_std_db: float = 15.0,
        z_size: int = 0,
        n_mfcc: int = 30,
        n_mels: int = 128,
        encoder_gru_size: int = 512,
    ):
        if not isinstance(graph, Graph):
            raise TypeError(f"graph must be a ddsp_lab.graph.Graph, got {type(graph).__name__}")
        super().__init__(
            graph.sample_rate, graph.hop_length, loudness_mean_db, loudness_std_db, z_size, n_mfcc, n_mels,
            encoder_gru_size,
        )
        graph.validate()
        self.graph = graph
        self.control_sizes = network_controls(graph)
        if not self.control_sizes:
            raise ValueError(
                "the graph reads no external control besides f0_hz and loudness_db, so a decoder has nothing "
                "to drive; bind parameters to External controls"
            )
        if decoder == "rnn":
            self.decoder = RnnFcDecoder(self.input_sizes, self.control_sizes, hidden_size, gru_size, mlp_layers)
        elif decoder == "tcn":
            self.decoder = TcnDecoder(self.input_sizes, self.control_sizes, channels, blocks, kernel_size)
        else:
            raise ValueError(f"decoder must be 'rnn' or 'tcn', got {decoder!r}")

    def get_controls(
        self, f0_hz: torch.Tensor, loudness_db: torch.Tensor, audio: Optional[torch.Tensor] = None
    ) -> Dict[str, torch.Tensor]:
        """The graph's controls: ``"f0_hz"``, ``"loudness_db"`` ``[B, F, 1]`` and each decoder output in ``[0, 1]``."""
        raw = self.decode(f0_hz, loudness_db, audio)
        dtype = next(iter(raw.values())).dtype
        controls = {name: torch.sigmoid(value) for name, value in raw.items()}
        controls["f0_hz"] = _as_frames(f0_hz, "f0_hz").to(dtype)
        controls["loudness_db"] = _as_frames(loudness_db, "loudness_db").to(dtype)
        return controls

    def get_signal(self, **controls: torch.Tensor) -> torch.Tensor:
        """Render the graph: ``[B, F * hop_length]`` with ``F`` the frames of ``f0_hz``."""
        if "f0_hz" not in controls:
            raise ValueError("controls must include f0_hz [B, F, 1]")
        missing = [name for name in self.control_sizes if name not in controls]
        if missing:
            raise ValueError(f"controls lack {missing}, which the graph reads")
        return self.graph(controls, num_frames=controls["f0_hz"].shape[1])

    def project_parameters(self) -> None:
        """Clamp the graph's learnable parameters into their ranges (after an optimiser step)."""
        for module in self.graph.modules():
            if isinstance(module, Learnable):
                module.project_()


def build_model(config: ModelConfig) -> nn.Module:
    """The voice (an :class:`Autoencoder`) or neural baseline a :class:`~ddsp_lab.models.ModelConfig` describes.

    ``config.sample_rate`` and ``config.hop_length`` must be set (training
    fills them in from the dataset); size fields left at ``None`` come from
    ``config.size``. The loudness normalisation defaults to -40 dB mean and
    15 dB deviation when the config leaves it open.
    """
    if not isinstance(config, ModelConfig):
        raise TypeError(f"config must be a ModelConfig, got {type(config).__name__}")
    config.validate()
    if config.sample_rate is None or config.hop_length is None:
        raise ValueError(
            "config.sample_rate and config.hop_length must be set to build a model "
            "(training takes them from the dataset)"
        )
    loudness = dict(
        loudness_mean_db=-40.0 if config.loudness_mean_db is None else config.loudness_mean_db,
        loudness_std_db=15.0 if config.loudness_std_db is None else config.loudness_std_db,
    )
    if config.synth == "wavenet":
        from .wavenet import WaveNet

        return WaveNet.from_size(config.size, config.sample_rate, config.hop_length, output=config.wavenet_output,
                                 **loudness)
    if config.synth == "samplernn":
        from .samplernn import SampleRNN

        return SampleRNN.from_size(config.size, config.sample_rate, config.hop_length, **loudness)
    sizes = config.architecture()
    common = dict(
        **loudness,
        z_size=config.z_size,
        n_mfcc=config.n_mfcc,
        n_mels=config.n_mels,
        encoder_gru_size=sizes["encoder_gru_size"],
    )
    reverb_seconds = config.reverb_seconds if config.reverb else None
    if config.synth == "graph":
        graph = graph_from_dict(copy.deepcopy(config.graph), sample_rate=config.sample_rate)
        if graph.hop_length != config.hop_length:
            raise ValueError(
                f"the graph preset renders frames of {graph.hop_length} samples at {config.sample_rate} Hz but "
                f"model.hop_length is {config.hop_length}; give the preset the data's frame duration"
            )
        return GraphVoice(
            graph, decoder=config.graph_decoder, hidden_size=sizes["hidden_size"], gru_size=sizes["gru_size"],
            mlp_layers=sizes["mlp_layers"], channels=sizes["tcn_channels"], blocks=sizes["tcn_blocks"],
            kernel_size=config.tcn_kernel_size, **common,
        )
    if config.synth == "ddsp":
        return DDSPVoice(
            config.sample_rate, config.hop_length, n_harmonics=config.n_harmonics,
            n_noise_bands=config.n_noise_bands, reverb_seconds=reverb_seconds, hidden_size=sizes["hidden_size"],
            gru_size=sizes["gru_size"], mlp_layers=sizes["mlp_layers"], **common,
        )
    return FMVoice(
        config.sample_rate, config.hop_length, algorithm=config.fm_algorithm, ratios=config.fm_ratios,
        feedback=config.fm_feedback, learnable_feedback=config.fm_learnable_feedback,
        max_level=config.fm_max_level, reverb_seconds=reverb_seconds, channels=sizes["tcn_channels"],
        blocks=sizes["tcn_blocks"], kernel_size=config.tcn_kernel_size, **common,
    )
