"""Training configuration: model, loss and training settings, saved as readable JSON.

A :class:`Config` has three sections, each a dataclass with documented
defaults (see ``docs/training.md`` for the full reference):

* :class:`ModelConfig`: which voice (``"ddsp"`` or ``"fm"``), its size
  (``"tiny"``, ``"small"``, ``"full"``), sample rate and hop, synthesiser
  settings, loudness normalisation;
* :class:`LossConfig`: the multi-scale spectral loss;
* :class:`TrainingConfig`: optimiser, schedule, batch, intervals, seed.

A JSON file may give any subset of the settings; the rest keep their
defaults. Keys starting with ``_`` are ignored, so ``"_comment": "..."``
annotates a file. An unknown key is an error that names it (a typo would
otherwise be silently ignored).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from typing import Any, Dict, List, Mapping, Optional, Union

from ..io import write_text_atomic

PathLike = Union[str, os.PathLike]

SYNTHS = ("ddsp", "fm", "graph", "wavenet", "samplernn")
# Unstructured autoregressive baselines: trained on the likelihood of the audio, not a spectral loss.
AUTOREGRESSIVE_SYNTHS = ("wavenet", "samplernn")
BASELINE_SIZES = ("tiny", "small")
WAVENET_OUTPUTS = ("mu_law", "logistic")
GRAPH_DECODERS = ("rnn", "tcn")
SIZES = ("tiny", "small", "full")
CONFIG_FORMAT = "ddsp_lab.train_config"
CONFIG_VERSION = 1

# Decoder (and encoder) sizes of each preset. Parameter counts at 16 kHz with
# the default 1 s reverb, no latent, are in docs/training.md.
SIZE_PRESETS: Dict[str, Dict[str, Dict[str, int]]] = {
    "ddsp": {
        "tiny": {"hidden_size": 112, "gru_size": 112, "mlp_layers": 3, "encoder_gru_size": 64},
        "small": {"hidden_size": 256, "gru_size": 256, "mlp_layers": 3, "encoder_gru_size": 128},
        "full": {"hidden_size": 512, "gru_size": 512, "mlp_layers": 3, "encoder_gru_size": 512},
    },
    "fm": {
        "tiny": {"tcn_channels": 80, "tcn_blocks": 6, "encoder_gru_size": 64},
        "small": {"tcn_channels": 176, "tcn_blocks": 6, "encoder_gru_size": 128},
        "full": {"tcn_channels": 368, "tcn_blocks": 6, "encoder_gru_size": 512},
    },
}
_SIZE_FIELDS = ("hidden_size", "gru_size", "mlp_layers", "tcn_channels", "tcn_blocks", "encoder_gru_size")

# The DDSP loss resolutions at 16 kHz; other rates scale them (see LossConfig).
REFERENCE_FFT_SIZES = (2048, 1024, 512, 256, 128, 64)
REFERENCE_SAMPLE_RATE = 16000


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _require(condition: bool, name: str, expected: str, value) -> None:
    if not condition:
        raise ValueError(f"{name} must be {expected}, got {value!r}")


def _int_at_least(value, name: str, minimum: int) -> None:
    _require(_is_int(value) and value >= minimum, name, f"an integer >= {minimum}", value)


def _optional_int_at_least(value, name: str, minimum: int) -> None:
    if value is not None:
        _int_at_least(value, name, minimum)


def _positive(value, name: str, allow_zero: bool = False) -> None:
    ok = _is_number(value) and (value >= 0 if allow_zero else value > 0)
    _require(ok, name, "a finite number " + (">= 0" if allow_zero else "> 0"), value)


@dataclasses.dataclass
class ModelConfig:
    """The voice: synthesiser, size, rates and synthesiser settings.

    Attributes:
        synth: ``"ddsp"`` (harmonic plus filtered noise plus reverb, RNN-FC
            decoder), ``"fm"`` (six FM operators plus reverb, TCN decoder),
            ``"graph"`` (the synth graph ``graph``, see :class:`~ddsp_lab.models.GraphVoice`),
            or a neural baseline: ``"wavenet"`` (:class:`~ddsp_lab.models.WaveNet`)
            or ``"samplernn"`` (:class:`~ddsp_lab.models.SampleRNN`), trained on
            the likelihood of the audio.
        size: ``"tiny"`` (about 0.25 M parameters), ``"small"`` (about
            1.2 M) or ``"full"`` (about 5 M, DDSP's decoder; not for the
            baselines); sets every size field left at ``None`` (the baselines
            use their own presets).
        sample_rate: Hz; ``None`` takes the dataset's. Any rate works.
        hop_length: samples per frame; ``None`` takes the dataset's.
        hidden_size: DDSP MLP width (``None``: from ``size``).
        gru_size: DDSP decoder GRU units (``None``: from ``size``).
        mlp_layers: layers per DDSP MLP (``None``: from ``size``).
        tcn_channels: FM decoder channels (``None``: from ``size``).
        tcn_blocks: FM decoder residual blocks (``None``: from ``size``).
        tcn_kernel_size: FM decoder convolution taps, ``>= 2``.
        encoder_gru_size: latent encoder GRU units (``None``: from ``size``).
        z_size: channels of the latent ``z`` from MFCCs; 0 (default) for no
            encoder: the model hears only pitch and loudness.
        n_mfcc: MFCCs per frame for the encoder.
        n_mels: mel bands the MFCCs come from.
        n_harmonics: harmonics of the DDSP voice.
        n_noise_bands: noise bands of the DDSP voice (0: no noise, else ``>= 2``).
        reverb: learn a reverb impulse response.
        reverb_seconds: its length in seconds (``> 0``; the impulse response
            has ``reverb_seconds * sample_rate`` learned samples).
        fm_algorithm: DX7 algorithm 1..32 of the FM voice.
        fm_ratios: frequency ratio of each of the six operators to f0 (``> 0``).
        fm_feedback: DX7 feedback setting of the algorithm's feedback operator, 0..7.
        fm_learnable_feedback: learn the feedback setting.
        fm_max_level: largest operator level (2.0: the DX7's full scale).
        loudness_mean_db: loudness that the model's loudness input maps to 0
            (``None``: the training data's mean, filled in when training starts).
        loudness_std_db: dB that map to 1 (``None``: the training data's
            standard deviation).
        f0_hz_median: median f0 in Hz of the training data's confident
            frames (``None``: measured when training starts); timbre transfer
            shifts a melody by octaves towards it.
        graph: the synth graph of ``synth: "graph"``, a preset dict as
            :func:`~ddsp_lab.graph.graph_to_dict` writes it; in a config file
            also the path of a preset ``.json`` (relative to the config file),
            which loading replaces by its contents so that a saved config
            is self-contained. The preset is rebuilt at ``sample_rate`` and
            must then have the data's hop.
        graph_decoder: ``"rnn"`` (the DDSP decoder and its sizes) or
            ``"tcn"`` (the FM voice's decoder and its sizes) for a graph.
        wavenet_output: ``"mu_law"`` (256-way softmax) or ``"logistic"``
            (discretised mixture of logistics) for ``synth: "wavenet"``.
    """

    synth: str = "ddsp"
    size: str = "small"
    sample_rate: Optional[int] = None
    hop_length: Optional[int] = None
    hidden_size: Optional[int] = None
    gru_size: Optional[int] = None
    mlp_layers: Optional[int] = None
    tcn_channels: Optional[int] = None
    tcn_blocks: Optional[int] = None
    tcn_kernel_size: int = 3
    encoder_gru_size: Optional[int] = None
    z_size: int = 0
    n_mfcc: int = 30
    n_mels: int = 128
    n_harmonics: int = 60
    n_noise_bands: int = 65
    reverb: bool = True
    reverb_seconds: float = 1.0
    fm_algorithm: int = 1
    fm_ratios: List[float] = dataclasses.field(default_factory=lambda: [1.0, 1.0, 1.0, 1.0, 3.0, 14.0])
    fm_feedback: float = 0.0
    fm_learnable_feedback: bool = False
    fm_max_level: float = 2.0
    loudness_mean_db: Optional[float] = None
    loudness_std_db: Optional[float] = None
    f0_hz_median: Optional[float] = None
    graph: Optional[Dict[str, Any]] = None
    graph_decoder: str = "rnn"
    wavenet_output: str = "mu_law"

    def validate(self) -> "ModelConfig":
        """Check every field; raise ``ValueError`` naming the first bad one. Returns ``self``."""
        _require(self.synth in SYNTHS, "model.synth", f"one of {SYNTHS}", self.synth)
        _require(self.size in SIZES, "model.size", f"one of {SIZES}", self.size)
        _optional_int_at_least(self.sample_rate, "model.sample_rate", 1)
        _optional_int_at_least(self.hop_length, "model.hop_length", 1)
        for name in _SIZE_FIELDS:
            _optional_int_at_least(getattr(self, name), f"model.{name}", 1)
        _int_at_least(self.tcn_kernel_size, "model.tcn_kernel_size", 2)
        _int_at_least(self.z_size, "model.z_size", 0)
        _int_at_least(self.n_mfcc, "model.n_mfcc", 1)
        _int_at_least(self.n_mels, "model.n_mels", 1)
        _require(self.n_mfcc <= self.n_mels, "model.n_mfcc", f"<= model.n_mels ({self.n_mels})", self.n_mfcc)
        _int_at_least(self.n_harmonics, "model.n_harmonics", 1)
        _require(_is_int(self.n_noise_bands) and (self.n_noise_bands == 0 or self.n_noise_bands >= 2),
                 "model.n_noise_bands", "0 (no noise) or an integer >= 2", self.n_noise_bands)
        _require(isinstance(self.reverb, bool), "model.reverb", "true or false", self.reverb)
        _positive(self.reverb_seconds, "model.reverb_seconds")
        _require(_is_int(self.fm_algorithm) and 1 <= self.fm_algorithm <= 32, "model.fm_algorithm",
                 "a DX7 algorithm number 1..32", self.fm_algorithm)
        _require(isinstance(self.fm_ratios, (list, tuple)) and len(self.fm_ratios) == 6
                 and all(_is_number(r) and r > 0 for r in self.fm_ratios),
                 "model.fm_ratios", "a list of 6 numbers > 0", self.fm_ratios)
        _require(_is_number(self.fm_feedback) and 0 <= self.fm_feedback <= 7, "model.fm_feedback",
                 "a DX7 feedback setting in [0, 7]", self.fm_feedback)
        _require(isinstance(self.fm_learnable_feedback, bool), "model.fm_learnable_feedback", "true or false",
                 self.fm_learnable_feedback)
        _positive(self.fm_max_level, "model.fm_max_level")
        if self.loudness_mean_db is not None:
            _require(_is_number(self.loudness_mean_db), "model.loudness_mean_db", "a finite number of dB or null",
                     self.loudness_mean_db)
        if self.loudness_std_db is not None:
            _positive(self.loudness_std_db, "model.loudness_std_db")
        if self.f0_hz_median is not None:
            _positive(self.f0_hz_median, "model.f0_hz_median")
        _require(self.graph is None or isinstance(self.graph, dict), "model.graph",
                 "null or a graph preset (a JSON object or the path of a preset file)", self.graph)
        _require(self.synth != "graph" or self.graph is not None, "model.graph", 'set when synth is "graph"',
                 self.graph)
        _require(self.synth not in AUTOREGRESSIVE_SYNTHS or self.size in BASELINE_SIZES, "model.size",
                 f"one of {BASELINE_SIZES} for the {self.synth} baseline", self.size)
        _require(self.wavenet_output in WAVENET_OUTPUTS, "model.wavenet_output", f"one of {WAVENET_OUTPUTS}",
                 self.wavenet_output)
        _require(self.graph_decoder in GRAPH_DECODERS, "model.graph_decoder", f"one of {GRAPH_DECODERS}",
                 self.graph_decoder)
        return self

    @property
    def autoregressive(self) -> bool:
        """True for the neural baselines (WaveNet, SampleRNN), which train on the audio's likelihood."""
        return self.synth in AUTOREGRESSIVE_SYNTHS

    @property
    def decoder_family(self) -> str:
        """``"ddsp"`` when the voice uses the RNN-FC decoder, ``"fm"`` for the TCN."""
        if self.synth == "graph":
            return "ddsp" if self.graph_decoder == "rnn" else "fm"
        return self.synth

    def architecture(self) -> Dict[str, int]:
        """The network sizes in effect: the ``size`` preset with any explicit size field on top."""
        family = self.decoder_family
        other = "fm" if family == "ddsp" else "ddsp"
        sizes = {**SIZE_PRESETS[other][self.size], **SIZE_PRESETS[family][self.size]}
        for name in _SIZE_FIELDS:
            if getattr(self, name) is not None:
                sizes[name] = getattr(self, name)
        return sizes


@dataclasses.dataclass
class LossConfig:
    """The multi-scale spectral loss (:class:`~ddsp_lab.MultiScaleSpectralLoss`), one term per FFT size.

    Attributes:
        fft_sizes: FFT sizes in samples; ``None`` (default) takes DDSP's
            2048, 1024, 512, 256, 128, 64 at 16 kHz and scales them by the
            power of two nearest to ``sample_rate / 16000`` (44.1 kHz:
            4096 .. 128), so they cover about the same durations.
        overlap: frame overlap (0.75: hop = FFT size / 4).
        linear_weight: weight of the L1 distance of magnitudes.
        log_weight: weight of the L1 distance of log magnitudes.
        log_floor_db: floor of the log-magnitude term in dB relative to the
            peak bin of a full-scale sine at each FFT size
            (``eps = n_fft / 4 * 10 ** (log_floor_db / 20)``). Bins far below it
            count as equal whatever their level, so inaudible differences in
            near-silent bins (recording noise floors, partials a
            band-limited synthesiser leaves out) do not dominate the loss, as
            they do with a fixed tiny ``eps``. Default -80 dB; see
            ``docs/training.md``.
    """

    fft_sizes: Optional[List[int]] = None
    overlap: float = 0.75
    linear_weight: float = 1.0
    log_weight: float = 1.0
    log_floor_db: float = -80.0

    def validate(self) -> "LossConfig":
        """Check every field; raise ``ValueError`` naming the first bad one. Returns ``self``."""
        if self.fft_sizes is not None:
            _require(isinstance(self.fft_sizes, (list, tuple)) and len(self.fft_sizes) > 0
                     and all(_is_int(n) and n >= 4 for n in self.fft_sizes),
                     "loss.fft_sizes", "null or a non-empty list of integers >= 4", self.fft_sizes)
        _require(_is_number(self.overlap) and 0 <= self.overlap < 1, "loss.overlap", "a number in [0, 1)",
                 self.overlap)
        _positive(self.linear_weight, "loss.linear_weight", allow_zero=True)
        _positive(self.log_weight, "loss.log_weight", allow_zero=True)
        _require(self.linear_weight + self.log_weight > 0, "loss.linear_weight + loss.log_weight", "> 0",
                 self.linear_weight + self.log_weight)
        _require(_is_number(self.log_floor_db) and self.log_floor_db < 0, "loss.log_floor_db",
                 "a finite negative number of dB", self.log_floor_db)
        return self

    def resolved_fft_sizes(self, sample_rate: int) -> List[int]:
        """The FFT sizes in effect at ``sample_rate`` Hz (see :attr:`fft_sizes`)."""
        if self.fft_sizes is not None:
            return [int(n) for n in self.fft_sizes]
        factor = 2.0 ** round(math.log2(sample_rate / REFERENCE_SAMPLE_RATE))
        return [max(4, int(n * factor)) for n in REFERENCE_FFT_SIZES]

    def log_eps(self, n_fft: int) -> float:
        """The ``eps`` of the log term at FFT size ``n_fft`` (see :attr:`log_floor_db`)."""
        return n_fft / 4.0 * 10.0 ** (self.log_floor_db / 20.0)


@dataclasses.dataclass
class TrainingConfig:
    """Optimisation, schedule, data and bookkeeping.

    Attributes:
        steps: optimiser steps in all (a resumed run continues to this count).
        batch_size: examples per step, over all processes (a multiple of the
            number of processes).
        example_seconds: length of the training items in seconds, cropped from
            the prepared examples at random; ``None`` uses whole examples.
            Only applies to a prepared dataset folder.
        learning_rate: Adam's initial learning rate.
        lr_decay_rate: factor on the learning rate every ``lr_decay_steps``
            steps (applied smoothly: ``lr * rate ** (step / decay_steps)``).
        lr_decay_steps: steps per decay factor.
        adam_betas: Adam's ``(beta1, beta2)``.
        adam_eps: Adam's ``eps``.
        grad_clip_norm: clip the global gradient norm to this (``> 0``).
        checkpoint_interval: steps between checkpoints (one is also written at the end).
        keep_checkpoints: newest checkpoints kept (older ones are deleted
            once a newer one has been written and read back), ``>= 1``.
        validation_interval: steps between validations; 0 for none.
        validation_batches: validation batches per validation (``None``: the
            whole validation split).
        validation_examples: validation items rendered to WAV and plotted.
        log_interval: steps per row of the training log (averages over the rows' steps).
        num_workers: ``DataLoader`` worker processes (0: load in the training process).
        seed: seeds the model's initialisation, the data order, random crops
            and the synthesiser noise.
    """

    steps: int = 30000
    batch_size: int = 16
    example_seconds: Optional[float] = None
    learning_rate: float = 1e-3
    lr_decay_rate: float = 0.98
    lr_decay_steps: int = 10000
    adam_betas: List[float] = dataclasses.field(default_factory=lambda: [0.9, 0.999])
    adam_eps: float = 1e-8
    grad_clip_norm: float = 3.0
    checkpoint_interval: int = 1000
    keep_checkpoints: int = 3
    validation_interval: int = 1000
    validation_batches: Optional[int] = 16
    validation_examples: int = 3
    log_interval: int = 10
    num_workers: int = 0
    seed: int = 0

    def validate(self) -> "TrainingConfig":
        """Check every field; raise ``ValueError`` naming the first bad one. Returns ``self``."""
        _int_at_least(self.steps, "training.steps", 1)
        _int_at_least(self.batch_size, "training.batch_size", 1)
        if self.example_seconds is not None:
            _positive(self.example_seconds, "training.example_seconds")
        _positive(self.learning_rate, "training.learning_rate")
        _require(_is_number(self.lr_decay_rate) and 0 < self.lr_decay_rate <= 1, "training.lr_decay_rate",
                 "a number in (0, 1]", self.lr_decay_rate)
        _int_at_least(self.lr_decay_steps, "training.lr_decay_steps", 1)
        _require(isinstance(self.adam_betas, (list, tuple)) and len(self.adam_betas) == 2
                 and all(_is_number(b) and 0 <= b < 1 for b in self.adam_betas),
                 "training.adam_betas", "two numbers in [0, 1)", self.adam_betas)
        _positive(self.adam_eps, "training.adam_eps")
        _positive(self.grad_clip_norm, "training.grad_clip_norm")
        _int_at_least(self.checkpoint_interval, "training.checkpoint_interval", 1)
        _int_at_least(self.keep_checkpoints, "training.keep_checkpoints", 1)
        _int_at_least(self.validation_interval, "training.validation_interval", 0)
        _optional_int_at_least(self.validation_batches, "training.validation_batches", 1)
        _int_at_least(self.validation_examples, "training.validation_examples", 0)
        _int_at_least(self.log_interval, "training.log_interval", 1)
        _int_at_least(self.num_workers, "training.num_workers", 0)
        _int_at_least(self.seed, "training.seed", 0)
        return self


_SECTIONS = {"model": ModelConfig, "loss": LossConfig, "training": TrainingConfig}


def _read_graph_preset(path: PathLike, base_dir: Optional[PathLike]) -> Dict[str, Any]:
    """The JSON object of a graph preset file (a relative path is taken from ``base_dir``)."""
    path = os.fspath(path)
    if base_dir is not None and not os.path.isabs(path):
        path = os.path.join(os.fspath(base_dir), path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"model.graph: graph preset not found: {path}")
    with open(path, encoding="utf-8") as handle:
        try:
            data = json.load(handle)
        except json.JSONDecodeError as error:
            raise ValueError(
                f"model.graph: {path} is not valid JSON: {error.msg} at line {error.lineno} column {error.colno}"
            ) from error
    if not isinstance(data, dict):
        raise ValueError(f"model.graph: {path} does not hold a graph preset (a JSON object)")
    return data


def _section_from_dict(cls, values: Mapping[str, Any], section: str):
    if not isinstance(values, Mapping):
        raise ValueError(f"config section {section!r} must be a JSON object, got {type(values).__name__}")
    known = {field.name for field in dataclasses.fields(cls)}
    arguments = {}
    for key, value in values.items():
        if key.startswith("_"):
            continue
        if key not in known:
            raise ValueError(f"unknown setting {section}.{key} (known: {', '.join(sorted(known))})")
        arguments[key] = value
    return cls(**arguments)


@dataclasses.dataclass
class Config:
    """All training settings: ``model``, ``loss`` and ``training`` sections.

    ``Config.preset("fm", "tiny")`` is a starting point; ``Config.load(path)``
    reads a JSON file, ``config.save(path)`` writes one (atomically).
    """

    model: ModelConfig = dataclasses.field(default_factory=ModelConfig)
    loss: LossConfig = dataclasses.field(default_factory=LossConfig)
    training: TrainingConfig = dataclasses.field(default_factory=TrainingConfig)

    @classmethod
    def preset(cls, synth: str = "ddsp", size: str = "small") -> "Config":
        """The defaults for a voice: ``synth`` is ``"ddsp"`` or ``"fm"``, ``size`` one of :data:`SIZES`."""
        config = cls(model=ModelConfig(synth=synth, size=size))
        return config.validate()

    def validate(self) -> "Config":
        """Check every section (``ValueError`` naming the bad setting). Returns ``self``."""
        for name, cls in _SECTIONS.items():
            section = getattr(self, name)
            if not isinstance(section, cls):
                raise TypeError(f"config.{name} must be a {cls.__name__}, got {type(section).__name__}")
            section.validate()
        return self

    def to_dict(self) -> Dict[str, Any]:
        """A JSON-ready dict ``{"format", "version", "model", "loss", "training"}``."""
        result: Dict[str, Any] = {"format": CONFIG_FORMAT, "version": CONFIG_VERSION}
        for name in _SECTIONS:
            result[name] = {
                key: list(value) if isinstance(value, tuple) else value
                for key, value in dataclasses.asdict(getattr(self, name)).items()
            }
        return result

    @classmethod
    def from_dict(cls, values: Mapping[str, Any], base_dir: Optional[PathLike] = None) -> "Config":
        """Build and validate a config from a dict such as :meth:`to_dict` returns (any subset of settings).

        Args:
            values: the settings.
            base_dir: folder that a ``model.graph`` preset path is relative
                to (default: the working directory).

        Raises:
            ValueError: unknown sections or settings, a newer format version,
                a setting out of range, or a graph preset file that is not JSON.
            FileNotFoundError: a graph preset file that does not exist.
        """
        if not isinstance(values, Mapping):
            raise ValueError(f"a config must be a JSON object, got {type(values).__name__}")
        if values.get("format", CONFIG_FORMAT) != CONFIG_FORMAT:
            raise ValueError(f"not a training config: format is {values.get('format')!r}, expected {CONFIG_FORMAT!r}")
        version = values.get("version", CONFIG_VERSION)
        if not _is_int(version) or version > CONFIG_VERSION:
            raise ValueError(
                f"config version {version!r} is newer than this ddsp_lab understands ({CONFIG_VERSION})"
            )
        sections = {}
        for key, value in values.items():
            if key.startswith("_") or key in ("format", "version"):
                continue
            if key not in _SECTIONS:
                raise ValueError(f"unknown config section {key!r} (known: {', '.join(_SECTIONS)})")
            sections[key] = _section_from_dict(_SECTIONS[key], value, key)
        model = sections.get("model")
        if model is not None and isinstance(model.graph, (str, os.PathLike)):
            model.graph = _read_graph_preset(model.graph, base_dir)
        return cls(**sections).validate()

    @classmethod
    def load(cls, path: PathLike) -> "Config":
        """Read a JSON config file (see :meth:`from_dict`).

        Raises:
            FileNotFoundError: no such file.
            ValueError: not valid JSON (with line and column) or bad settings
                (the message names the file).
        """
        path = os.fspath(path)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"config file not found: {path}")
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
        try:
            values = json.loads(text)
        except json.JSONDecodeError as error:
            raise ValueError(f"{path} is not valid JSON: {error.msg} at line {error.lineno} column {error.colno}")
        try:
            return cls.from_dict(values, base_dir=os.path.dirname(os.path.abspath(path)))
        except (ValueError, TypeError) as error:
            raise ValueError(f"{path}: {error}") from error

    def save(self, path: PathLike) -> str:
        """Write the config as indented JSON, atomically (temporary file then rename). Returns ``path``."""
        path = os.fspath(path)
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        return write_text_atomic(path, self.to_json())

    def to_json(self) -> str:
        """The config as JSON text: one setting per line, lists kept on one line."""
        lines = []
        for key, value in self.to_dict().items():
            if isinstance(value, dict):
                inner = [
                    f"    {json.dumps(name)}: "
                    + (json.dumps(setting, indent=2).replace("\n", "\n    ") if isinstance(setting, dict)
                       else json.dumps(setting))
                    for name, setting in value.items()
                ]
                lines.append(f"  {json.dumps(key)}: {{\n" + ",\n".join(inner) + "\n  }")
            else:
                lines.append(f"  {json.dumps(key)}: {json.dumps(value)}")
        return "{\n" + ",\n".join(lines) + "\n}\n"

    def copy(self) -> "Config":
        """An independent copy."""
        return Config.from_dict(self.to_dict())
