"""Block streaming of DDSP voices and the TorchScript export."""

import json
import warnings

import pytest
import torch

from ddsp_lab.models import DDSPVoice, FMVoice
from ddsp_lab.models.streaming import StreamingDDSPVoice
from ddsp_lab.workflows.export import export_streaming, load_streaming

RATE, HOP = 16000, 64


pytestmark = pytest.mark.usefixtures("one_thread")


def _voice(seed=0, **kwargs):
    torch.manual_seed(seed)
    settings = dict(hidden_size=32, gru_size=32, n_harmonics=40, reverb_seconds=0.1)
    settings.update(kwargs)
    voice = DDSPVoice(RATE, HOP, **settings).eval()
    with torch.no_grad():
        if voice.reverb is not None:
            voice.reverb.ir.normal_(0.0, 0.02)
        # Louder noise and more varied harmonics than at initialisation, so every part is audible.
        voice.decoder.projection.weight.mul_(4.0)
        voice.decoder.projection.bias.add_(2.0)
    return voice


def _controls(frames, batch=1):
    """A glide over three octaves (high harmonics cross Nyquist), a rest and a loudness swell."""
    f0 = 200.0 * 2.0 ** torch.linspace(0.0, 3.0, frames).repeat(batch, 1)
    f0[:, frames // 3: frames // 3 + 7] = 0.0
    loudness = -35.0 + 12.0 * torch.sin(torch.linspace(0.0, 7.0, frames)).repeat(batch, 1)
    return f0, loudness


def _offline_and_noise(voice, f0, loudness):
    """The one-pass render and the noise it drew (the voice draws nothing else)."""
    torch.manual_seed(11)
    with torch.no_grad():
        offline = voice(f0, loudness)
    torch.manual_seed(11)
    noise = 2.0 * torch.rand(f0.shape[0], f0.shape[1] * HOP) - 1.0
    return offline, noise


def _stream(module, f0, loudness, noise, block):
    state = module.initial_state(f0.shape[0])
    pieces = []
    with torch.no_grad():
        for start in range(0, f0.shape[1], block):
            end = min(f0.shape[1], start + block)
            audio, state = module.process(f0[:, start:end], loudness[:, start:end],
                                          noise[:, start * HOP:end * HOP], state)
            pieces.append(audio)
    return torch.cat(pieces, dim=1)


@pytest.mark.parametrize("block", [1, 4, 37])
def test_stream_equals_one_pass_render(block):
    voice = _voice()
    f0, loudness = _controls(150, batch=2)
    offline, noise = _offline_and_noise(voice, f0, loudness)
    stream = StreamingDDSPVoice(voice)
    streamed = _stream(stream, f0, loudness, noise, block)
    latency = stream.latency_samples
    assert latency == 2 * HOP
    assert streamed.shape == offline.shape
    assert float(offline.abs().max()) > 0.05
    assert torch.allclose(streamed[:, latency:], offline[:, :-latency], atol=1e-4, rtol=0)
    assert float(streamed[:, :latency].abs().max()) < 1e-6


def test_scripted_stream_equals_eager_stream():
    voice = _voice(seed=3)
    f0, loudness = _controls(60)
    offline, noise = _offline_and_noise(voice, f0, loudness)
    eager = _stream(StreamingDDSPVoice(voice), f0, loudness, noise, block=4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # torch.jit.script's own notice
        module = torch.jit.script(StreamingDDSPVoice(voice))
    scripted = _stream(module, f0, loudness, noise, block=4)
    assert torch.allclose(eager, scripted, atol=1e-6, rtol=0)


@pytest.mark.parametrize("settings", [dict(n_noise_bands=0), dict(reverb_seconds=None), dict(n_noise_bands=17)])
def test_stream_without_noise_or_reverb_or_with_a_short_filter(settings):
    voice = _voice(seed=5, **settings)
    f0, loudness = _controls(80)
    offline, noise = _offline_and_noise(voice, f0, loudness)
    stream = StreamingDDSPVoice(voice)
    streamed = _stream(stream, f0, loudness, noise, block=3)
    latency = stream.latency_samples
    assert torch.allclose(streamed[:, latency:], offline[:, :-latency], atol=1e-4, rtol=0)


def test_forward_draws_its_own_noise_and_keeps_the_harmonic_part():
    voice = _voice(seed=2, n_noise_bands=0)
    stream = StreamingDDSPVoice(voice)
    f0, loudness = _controls(20)
    with torch.no_grad():
        drawn, _ = stream(f0, loudness, stream.initial_state(1))
        given, _ = stream.process(f0, loudness, torch.zeros(1, 20 * HOP), stream.initial_state(1))
    assert torch.equal(drawn, given)


def test_streaming_rejects_what_it_cannot_stream():
    with pytest.raises(ValueError, match="z_size"):
        StreamingDDSPVoice(_voice(z_size=4))
    with pytest.raises(TypeError, match="DDSP"):
        StreamingDDSPVoice(FMVoice(RATE, HOP, channels=8, blocks=1))
    stream = StreamingDDSPVoice(_voice())
    state = stream.initial_state(2)
    f0, loudness = _controls(4)
    with pytest.raises(ValueError, match="batch size"):
        stream.process(f0, loudness, torch.zeros(1, 4 * HOP), state)
    with pytest.raises(ValueError, match="noise"):
        stream.process(f0, loudness, torch.zeros(1, 3 * HOP), stream.initial_state(1))


def test_export_writes_a_loadable_streaming_file(tmp_path):
    voice = _voice(seed=7)
    path, metadata = export_streaming(voice, tmp_path / "out" / "voice.ts")
    module, stored = load_streaming(path)
    assert stored == json.loads(json.dumps(metadata))
    assert (stored["sample_rate"], stored["hop_length"], stored["latency_samples"]) == (RATE, HOP, 2 * HOP)
    f0, loudness = _controls(64)
    offline, noise = _offline_and_noise(voice, f0, loudness)
    streamed = _stream(module, f0, loudness, noise, block=1)
    assert torch.allclose(streamed[:, 2 * HOP:], offline[:, :-2 * HOP], atol=1e-4, rtol=0)
