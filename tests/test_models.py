"""Models: decoders, encoder, the DDSP and FM voices, and the training config."""

import json
import math

import numpy as np
import pytest
import torch

from ddsp_lab.graph import External, Graph, Learnable, graph_to_dict, nodes
from ddsp_lab.models import (
    Config,
    DDSPVoice,
    FMVoice,
    GraphVoice,
    LossConfig,
    MfccEncoder,
    ModelConfig,
    RnnFcDecoder,
    TcnDecoder,
    build_model,
)


@pytest.fixture(autouse=True)
def one_thread():
    # The machine's two cores are shared: one thread avoids OpenMP contention on tiny tensors.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _conditioning(batch, frames, sizes, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return [torch.randn(batch, frames, size, generator=generator) for size in sizes]


# -- decoders -------------------------------------------------------------------


@pytest.mark.parametrize("frames", [1, 7, 40])
def test_rnn_fc_decoder_shapes_any_length(frames):
    decoder = RnnFcDecoder((1, 1, 3), {"amplitude": 1, "harmonic_distribution": 5}, 8, 6, 2)
    outputs = decoder(_conditioning(2, frames, (1, 1, 3)))
    assert list(outputs) == ["amplitude", "harmonic_distribution"]
    assert outputs["amplitude"].shape == (2, frames, 1)
    assert outputs["harmonic_distribution"].shape == (2, frames, 5)


@pytest.mark.parametrize("make", [
    lambda: RnnFcDecoder((1, 1), {"out": 3}, 8, 8, 2),
    lambda: TcnDecoder((1, 1), {"out": 3}, 8, 3, 3),
])
def test_decoders_are_causal(make):
    torch.manual_seed(0)
    decoder = make().double()
    inputs = [x.double() for x in _conditioning(1, 30, (1, 1))]
    changed = [x.clone() for x in inputs]
    changed[1][:, 12] += 1.0
    before, after = decoder(inputs)["out"], decoder(changed)["out"]
    # Frames before the change see identical inputs and identical arithmetic.
    assert torch.equal(before[:, :12], after[:, :12])
    assert (before[:, 12] - after[:, 12]).abs().max() > 1e-3


def test_tcn_receptive_field():
    torch.manual_seed(0)
    decoder = TcnDecoder((1,), {"out": 2}, 6, 3, 3, dilation_base=2).double()
    field = decoder.receptive_field
    assert field == 1 + 2 * 2 * (1 + 2 + 4)
    x = torch.randn(1, field + 10, 1, dtype=torch.float64)
    changed = x.clone()
    changed[:, 0] += 1.0
    before, after = decoder([x])["out"], decoder([changed])["out"]
    assert (before[:, field - 1] - after[:, field - 1]).abs().max() > 1e-6
    assert torch.equal(before[:, field:], after[:, field:])


def test_decoder_bad_input():
    decoder = RnnFcDecoder((1, 1), {"out": 2}, 4, 4, 1)
    with pytest.raises(ValueError, match="inputs must be a sequence of 2"):
        decoder(_conditioning(1, 5, (1,)))
    with pytest.raises(ValueError, match=r"inputs\[1\] must have size 1"):
        decoder(_conditioning(1, 5, (1, 2)))
    bad = _conditioning(1, 5, (1, 1))
    bad[0][0, 2, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        decoder(bad)
    with pytest.raises(ValueError, match="hidden_size"):
        RnnFcDecoder((1,), {"out": 1}, 0)
    with pytest.raises(ValueError, match="kernel_size"):
        TcnDecoder((1,), {"out": 1}, 4, 2, kernel_size=1)


# -- parameter counts --------------------------------------------------------


def _ddsp_count(h, g, layers, outputs, inputs=2):
    """Closed form: per-input MLPs, GRU, output MLP (LayerNorm has 2 h), projection."""
    def mlp(first):
        return first * h + h + 2 * h + (layers - 1) * (h * h + 3 * h)

    gru = 3 * (inputs * h * g + g * g + 2 * g)
    return inputs * mlp(1) + gru + mlp(inputs * h + g) + h * outputs + outputs


def _tcn_count(c, blocks, kernel, outputs, inputs=2):
    block = 2 * (kernel * c * c + c + 2 * c)
    return inputs * c + c + blocks * block + c * outputs + outputs


@pytest.mark.parametrize("synth,size,expected", [
    ("ddsp", "tiny", 259950), ("ddsp", "small", 1236990), ("ddsp", "full", 4817150),
    ("fm", "tiny", 250006), ("fm", "small", 1139062), ("fm", "full", 4907830),
])
def test_preset_parameter_counts(synth, size, expected):
    config = ModelConfig(synth=synth, size=size, sample_rate=16000, hop_length=64)
    counts = build_model(config).parameter_counts()
    sizes = config.architecture()
    reverb = 16000  # 1 s learned impulse response at 16 kHz
    if synth == "ddsp":
        decoder = _ddsp_count(sizes["hidden_size"], sizes["gru_size"], sizes["mlp_layers"], 1 + 60 + 65)
    else:
        decoder = _tcn_count(sizes["tcn_channels"], sizes["tcn_blocks"], 3, 6)
    assert counts == {"total": decoder + reverb, "decoder": decoder, "encoder": 0, "synth": reverb}
    # The numbers published in docs/training.md.
    assert counts["total"] == expected


# -- voices ------------------------------------------------------------------


def _set_projection(decoder_projection, bias):
    """Make the decoder output a constant: zero weights, the given bias."""
    with torch.no_grad():
        decoder_projection.weight.zero_()
        decoder_projection.bias.copy_(torch.as_tensor(bias, dtype=decoder_projection.bias.dtype))


def test_preprocess_scales_pitch_and_loudness():
    voice = DDSPVoice(16000, 64, n_harmonics=4, n_noise_bands=0, reverb_seconds=None, hidden_size=4,
                      gru_size=4, mlp_layers=1, loudness_mean_db=-30.0, loudness_std_db=10.0)
    pitch, loudness = voice.preprocess(torch.tensor([[440.0, 0.0, 880.0]]), torch.tensor([[-30.0, -50.0, -10.0]]))
    assert pitch.shape == loudness.shape == (1, 3, 1)
    assert torch.allclose(pitch[0, :, 0], torch.tensor([69.0, 0.0, 81.0]) / 127.0, atol=1e-6)
    assert torch.allclose(loudness[0, :, 0], torch.tensor([0.0, -2.0, 2.0]))


def test_ddsp_voice_renders_what_its_decoder_says():
    sr, hop, frames, harmonics = 16000, 64, 20, 8
    voice = DDSPVoice(sr, hop, n_harmonics=harmonics, n_noise_bands=0, reverb_seconds=None, hidden_size=4,
                      gru_size=4, mlp_layers=1).double()
    # amplitude: exp_sigmoid(0) = 2 * 0.5 ** ln(10) + 1e-7; only harmonic 2 (the others
    # at exp_sigmoid(-40) ~ 1e-7, a relative weight of 1e-7 after normalisation).
    amplitude = 2.0 * 0.5 ** math.log(10.0) + 1e-7
    bias = [0.0] + [-40.0] * harmonics
    bias[2] = 5.0
    _set_projection(voice.decoder.projection, bias)
    f0 = torch.full((1, frames), 300.0, dtype=torch.float64)
    with torch.no_grad():
        audio = voice(f0, torch.full((1, frames), -20.0, dtype=torch.float64))
    t = np.arange(frames * hop) / sr
    expected = amplitude * np.sin(2 * np.pi * 600.0 * t)
    assert audio.shape == (1, frames * hop)
    # The other 7 harmonics weigh 1e-7 / exp_sigmoid(5) ~ 5e-8 each after
    # normalisation: at most 7 * 5e-8 * 0.41 ~ 1.5e-7 of deviation (float64 otherwise).
    assert np.abs(audio[0].numpy() - expected).max() < 1e-6


def test_fm_voice_renders_what_its_decoder_says():
    sr, hop, frames = 16000, 64, 20
    voice = FMVoice(sr, hop, algorithm=1, reverb_seconds=None, channels=4, blocks=1).double()
    # Carriers of algorithm 1 are OP1 and OP3; the modulators are silenced
    # (sigmoid(-40) ~ 4e-18: a modulation index of ~3e-17 rad).
    _set_projection(voice.decoder.output_projection, [1.0, -40.0, 1.0, -40.0, -40.0, -40.0])
    f0 = torch.full((1, frames), 250.0, dtype=torch.float64)
    with torch.no_grad():
        audio = voice(f0, torch.full((1, frames), -20.0, dtype=torch.float64))
    level = 2.0 / (1.0 + math.exp(-1.0))
    t = np.arange(frames * hop) / sr
    # Two carriers at ratio 1, scaled by 1 / (carriers * max_level) = 1 / 4.
    expected = 2.0 * level * np.sin(2 * np.pi * 250.0 * t) / 4.0
    assert np.abs(audio[0].numpy() - expected).max() < 1e-9


@pytest.mark.parametrize("synth", ["ddsp", "fm"])
@pytest.mark.parametrize("sr,hop,frames", [(16000, 64, 1), (22050, 128, 13), (44100, 441, 7)])
def test_voices_any_rate_and_length(synth, sr, hop, frames):
    torch.manual_seed(0)
    model = build_model(ModelConfig(synth=synth, size="tiny", sample_rate=sr, hop_length=hop, z_size=4,
                                    reverb_seconds=0.05))
    f0 = torch.linspace(100.0, 900.0, frames)[None]
    loudness = torch.linspace(-60.0, -10.0, frames)[None]
    target = 0.1 * torch.randn(1, frames * hop)
    audio = model(f0, loudness, target)
    assert audio.shape == (1, frames * hop)
    assert bool(torch.isfinite(audio).all())
    controls = model.get_controls(f0, loudness, target)
    if synth == "ddsp":
        assert set(controls) == {"f0_hz", "amplitude", "harmonic_distribution", "noise_magnitudes"}
        sums = controls["harmonic_distribution"].sum(-1)
        assert torch.allclose(sums, torch.ones_like(sums), atol=1e-5)
        assert bool((controls["noise_magnitudes"] >= 0).all())
    else:
        assert set(controls) == {"f0_hz", "levels"}
        assert bool(((controls["levels"] >= 0) & (controls["levels"] <= 2.0)).all())


def test_harmonics_above_nyquist_are_silent():
    voice = DDSPVoice(8000, 32, n_harmonics=10, n_noise_bands=0, reverb_seconds=None, hidden_size=4,
                      gru_size=4, mlp_layers=1)
    controls = voice.get_controls(torch.full((1, 5), 1000.0), torch.full((1, 5), -20.0))
    # 4 kHz Nyquist: harmonics 4..10 (4 kHz and above) carry nothing.
    assert torch.equal(controls["harmonic_distribution"][..., 3:], torch.zeros(1, 5, 7))


@pytest.mark.parametrize("synth", ["ddsp", "fm"])
def test_gradcheck_through_voice(synth):
    torch.manual_seed(0)
    config = ModelConfig(synth=synth, size="tiny", sample_rate=8000, hop_length=8, hidden_size=3, gru_size=3,
                         mlp_layers=1, tcn_channels=3, tcn_blocks=1, n_harmonics=4, n_noise_bands=0,
                         reverb_seconds=0.002)
    model = build_model(config).double()
    with torch.no_grad():
        model.reverb.ir.normal_(0.0, 0.1)
    f0 = torch.tensor([[200.0, 220.0, 260.0, 240.0]], dtype=torch.float64)
    loudness = torch.tensor([[-30.0, -20.0, -25.0, -40.0]], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x: model(f0, x), (loudness,), eps=1e-6, atol=1e-6)


@pytest.mark.parametrize("synth", ["ddsp", "fm"])
def test_finite_gradients_at_silence_and_zero_f0(synth):
    from ddsp_lab.workflows.train import SpectralLoss

    torch.manual_seed(0)
    model = build_model(ModelConfig(synth=synth, size="tiny", sample_rate=16000, hop_length=64, z_size=4,
                                    reverb_seconds=0.05))
    frames = 12
    f0 = torch.zeros(2, frames)
    loudness = torch.full((2, frames), -120.0)
    target = torch.zeros(2, frames * 64)
    loss, _ = SpectralLoss(LossConfig(), 16000)(model(f0, loudness, target), target)
    loss.backward()
    assert math.isfinite(float(loss.detach()))
    for name, parameter in model.named_parameters():
        assert parameter.grad is not None and bool(torch.isfinite(parameter.grad).all()), name


def test_voice_bad_input():
    voice = DDSPVoice(16000, 64, n_harmonics=4, n_noise_bands=0, reverb_seconds=None, hidden_size=4, gru_size=4,
                      mlp_layers=1)
    good = torch.full((1, 5), 300.0)
    with pytest.raises(ValueError, match="f0_hz must be >= 0"):
        voice(torch.full((1, 5), -1.0), good)
    with pytest.raises(ValueError, match="loudness_db contains NaN"):
        voice(good, torch.full((1, 5), float("nan")))
    with pytest.raises(ValueError, match="f0_hz must have 2 or 3 dimensions"):
        voice(torch.full((5,), 300.0), good)
    with pytest.raises(ValueError, match="same frames"):
        voice(good, torch.full((1, 6), -20.0))
    with pytest.raises(ValueError, match="no noise part"):
        voice.get_signal(torch.full((1, 5, 1), 300.0), torch.ones(1, 5, 1), torch.ones(1, 5, 4) / 4,
                         noise_magnitudes=torch.ones(1, 5, 3))
    with pytest.raises(ValueError, match="n_noise_bands"):
        DDSPVoice(16000, 64, n_noise_bands=1)
    with pytest.raises(ValueError, match="loudness_std_db"):
        DDSPVoice(16000, 64, loudness_std_db=0.0)
    encoded = DDSPVoice(16000, 64, n_harmonics=4, n_noise_bands=0, reverb_seconds=None, hidden_size=4,
                        gru_size=4, mlp_layers=1, z_size=2, encoder_gru_size=4)
    with pytest.raises(ValueError, match="audio is required"):
        encoded(good, good)
    with pytest.raises(ValueError, match="frames \\* hop_length = 320 samples"):
        encoded(good, good, torch.zeros(1, 64 * 7))


def test_encoder_latent_shape_and_window():
    encoder = MfccEncoder(16000, 64, z_size=3, gru_size=5)
    assert encoder.n_fft == 1024
    assert MfccEncoder(44100, 256, gru_size=4).n_fft == 2822  # 64 ms at 44.1 kHz, even
    z = encoder(0.1 * torch.randn(2, 64 * 9))
    assert z.shape == (2, 9, 3)


def _harmonic_graph(sample_rate=16000, hop=64, harmonics=6, gain=None):
    graph = Graph(sample_rate, hop, name="harmonic voice")
    graph.add("harmonic", nodes.Harmonic(
        n_harmonics=harmonics, amplitude=External("amplitude", range=(0.0, 1.0)),
        harmonic_distribution=External("harmonics", range=(0.0, 1.0))))
    graph.add("vca", nodes.VCA(gain=gain if gain is not None else 1.0))
    graph.connect("harmonic", "vca")
    graph.set_output("vca.out")
    return graph


def test_graph_voice_drives_the_graph_controls():
    sr, hop, frames = 16000, 64, 20
    voice = GraphVoice(_harmonic_graph(sr, hop), hidden_size=4, gru_size=4, mlp_layers=1).double()
    assert voice.control_sizes == {"amplitude": 1, "harmonics": 6}
    # sigmoid(0) = 0.5 -> amplitude 0.5 on its (0, 1) range; harmonic 3 only (the
    # others at sigmoid(-40) ~ 4e-18 of the range, negligible after normalisation).
    bias = [0.0] + [-40.0] * 6
    bias[3] = 40.0
    _set_projection(voice.decoder.projection, bias)
    with torch.no_grad():
        audio = voice(torch.full((1, frames), 200.0, dtype=torch.float64),
                      torch.full((1, frames), -20.0, dtype=torch.float64))
    t = np.arange(frames * hop) / sr
    assert np.abs(audio[0].numpy() - 0.5 * np.sin(2 * np.pi * 600.0 * t)).max() < 1e-9


def test_graph_voice_trains_the_graph_parameters():
    gain = Learnable(0.5, (0.0, 2.0))
    voice = GraphVoice(_harmonic_graph(gain=gain), decoder="tcn", channels=4, blocks=1)
    audio = voice(torch.full((2, 9), 300.0), torch.full((2, 9), -20.0))
    audio.square().mean().backward()
    assert gain.normalized.grad is not None and float(gain.normalized.grad.abs().sum()) > 0
    assert voice.parameter_counts()["synth"] == 1
    with torch.no_grad():
        gain.normalized.fill_(1.5)
    voice.project_parameters()
    assert float(gain.normalized.detach()) == 1.0


def test_graph_voice_errors():
    graph = Graph(16000, 64)
    graph.add("osc", nodes.Oscillator(waveform="sine"))
    graph.set_output("osc.out")
    with pytest.raises(ValueError, match="nothing to drive"):
        GraphVoice(graph)
    with pytest.raises(ValueError, match="decoder must be 'rnn' or 'tcn'"):
        GraphVoice(_harmonic_graph(), decoder="lstm")


def test_graph_config_from_a_preset_file(tmp_path):
    (tmp_path / "voice.json").write_text(json.dumps(graph_to_dict(_harmonic_graph(hop=64))))
    (tmp_path / "config.json").write_text(json.dumps(
        {"model": {"synth": "graph", "graph": "voice.json", "graph_decoder": "tcn", "size": "tiny"}}))
    config = Config.load(tmp_path / "config.json")
    assert config.model.graph["format"] == "ddsp_lab.graph"  # the preset itself, not its path
    assert config.model.architecture()["tcn_channels"] == 80
    assert Config.load(config.save(tmp_path / "saved.json")) == config
    config.model.sample_rate, config.model.hop_length = 16000, 64
    model = build_model(config.model)
    assert isinstance(model, GraphVoice) and model.control_sizes == {"amplitude": 1, "harmonics": 6}
    config.model.hop_length = 128
    with pytest.raises(ValueError, match="frames of 64 samples at 16000 Hz but model.hop_length is 128"):
        build_model(config.model)
    with pytest.raises(ValueError, match='model.graph must be set when synth is "graph"'):
        Config.from_dict({"model": {"synth": "graph"}})
    with pytest.raises(FileNotFoundError, match="graph preset not found"):
        Config.from_dict({"model": {"synth": "graph", "graph": "missing.json"}}, base_dir=tmp_path)


# -- config ------------------------------------------------------------------


def test_config_round_trip(tmp_path):
    config = Config.preset("fm", "full")
    config.model.sample_rate = 22050
    config.model.fm_ratios = [1.0, 2.0, 1.0, 1.0, 3.0, 7.0]
    config.training.batch_size = 8
    path = config.save(tmp_path / "config.json")
    text = open(path).read()
    assert '"synth": "fm"' in text and "\n  " in text  # indented, readable
    assert Config.load(path) == config


def test_config_partial_file_and_comments(tmp_path):
    path = tmp_path / "partial.json"
    path.write_text(json.dumps({"_comment": "a note", "model": {"size": "tiny", "_why": "fast"},
                                "training": {"steps": 10}}))
    config = Config.load(path)
    assert config.model.size == "tiny" and config.training.steps == 10
    assert config.training.batch_size == 16 and config.loss == LossConfig()


@pytest.mark.parametrize("values,message", [
    ({"model": {"hiden_size": 3}}, "unknown setting model.hiden_size"),
    ({"modle": {}}, "unknown config section 'modle'"),
    ({"model": {"size": "huge"}}, "model.size must be one of"),
    ({"model": {"n_noise_bands": 1}}, "model.n_noise_bands"),
    ({"model": {"fm_algorithm": 33}}, "model.fm_algorithm"),
    ({"model": {"fm_ratios": [1, 1, 1]}}, "model.fm_ratios"),
    ({"loss": {"log_floor_db": 10}}, "loss.log_floor_db"),
    ({"training": {"batch_size": 0}}, "training.batch_size"),
    ({"training": {"lr_decay_rate": 1.5}}, "training.lr_decay_rate"),
    ({"version": 99}, "newer"),
])
def test_config_errors_name_the_setting(values, message):
    with pytest.raises(ValueError, match=message):
        Config.from_dict(values)


def test_config_file_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        Config.load(tmp_path / "missing.json")
    broken = tmp_path / "broken.json"
    broken.write_text('{"model": {"size": "tiny",}}')
    with pytest.raises(ValueError, match="broken.json is not valid JSON: .* line 1"):
        Config.load(broken)


def test_architecture_overrides_and_loss_scaling():
    config = ModelConfig(size="tiny", gru_size=33)
    assert config.architecture()["gru_size"] == 33
    assert config.architecture()["hidden_size"] == 112
    loss = LossConfig()
    assert loss.resolved_fft_sizes(16000) == [2048, 1024, 512, 256, 128, 64]
    assert loss.resolved_fft_sizes(44100) == [4096, 2048, 1024, 512, 256, 128]
    assert loss.resolved_fft_sizes(8000) == [1024, 512, 256, 128, 64, 32]
    # -80 dB below a full-scale sine's peak bin (n / 4 with a Hann window).
    assert math.isclose(loss.log_eps(2048), 512 * 1e-4)
