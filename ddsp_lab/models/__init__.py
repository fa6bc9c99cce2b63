"""Models: encoders, decoders and the voices that turn pitch and loudness into audio.

* :class:`DDSPVoice`: RNN-FC decoder driving a harmonic oscillator, filtered
  noise and a learned reverb (DDSP).
* :class:`FMVoice`: causal TCN decoder driving six FM operators and a learned
  reverb (DDX7).
* :class:`GraphVoice`: either decoder driving any synth graph's external
  controls, the graph's learnable parameters trained along.
* :class:`StreamingDDSPVoice`: a DDSP voice rendered block by block with
  explicit state (TorchScript-compatible; ``ddsp-lab export``).
* :class:`WaveNet`, :class:`SampleRNN`: unstructured autoregressive
  baselines on the same task (mu-law or logistic outputs, local conditioning
  on pitch and loudness, incremental generation).
* :class:`Config` (``model``, ``loss``, ``training`` sections) and
  :func:`build_model`: the readable JSON settings training uses.
"""

from .autoencoder import Autoencoder, DDSPVoice, FMVoice, GraphVoice, build_model, network_controls
from .config import SIZE_PRESETS, SIZES, SYNTHS, Config, LossConfig, ModelConfig, TrainingConfig
from .decoders import CausalConv1d, RnnFcDecoder, TcnDecoder, mlp
from .encoders import MfccEncoder
from .mulaw import linear_decode, linear_encode, mu_law_decode, mu_law_encode
from .samplernn import SampleRNN
from .streaming import StreamingDDSPVoice
from .wavenet import WaveNet

__all__ = [
    "Autoencoder", "DDSPVoice", "FMVoice", "GraphVoice", "build_model", "network_controls",
    "Config", "ModelConfig", "LossConfig", "TrainingConfig", "SIZES", "SYNTHS", "SIZE_PRESETS",
    "RnnFcDecoder", "TcnDecoder", "CausalConv1d", "mlp", "MfccEncoder", "StreamingDDSPVoice",
    "WaveNet", "SampleRNN", "mu_law_encode", "mu_law_decode", "linear_encode", "linear_decode",
]
