"""Add, Mix and Gain against numpy arithmetic."""

import numpy as np
import pytest
import torch

from ddsp_lab.units.mix import Add, Gain, Mix, control_to_audio_rate


def _upsample(frames, hop):
    """Frame n is the value at sample n * hop, linear in between, last frame held."""
    length = len(frames) * hop
    return np.interp(np.arange(length) / hop, np.arange(len(frames)), frames)


def _signals(batch=2, length=41, seed=0, count=2):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(batch, length, generator=g, dtype=torch.float64) for _ in range(count)]


def test_add_sums_any_number_of_signals():
    signals = _signals(count=4)
    out = Add()(*signals)
    np.testing.assert_allclose(out.numpy(), sum(s.numpy() for s in signals), atol=1e-15)
    assert torch.equal(Add().get_signal(signals[:1]), signals[0])
    controls = torch.rand(2, 5, 3), torch.rand(2, 5, 3)
    torch.testing.assert_close(Add()(*controls), controls[0] + controls[1])


def test_add_rejects_mismatched_or_bad_signals():
    a, b = _signals()
    with pytest.raises(ValueError, match=r"signals\[1\].*shape"):
        Add()(a, b[:, :-1])
    with pytest.raises(ValueError, match="empty"):
        Add()()
    with pytest.raises(TypeError, match="signals"):
        Add().get_signal(a)
    with pytest.raises(ValueError, match=r"signals\[1\]"):
        Add()(a, torch.full_like(b, float("nan")))
    with pytest.raises(ValueError, match=r"signals\[0\]"):
        Add()(a[0], b[0])


@pytest.mark.parametrize("equal_power", [False, True])
def test_mix_constant_per_item_and_audio_rate(equal_power):
    a, b = _signals()
    na, nb = a.numpy(), b.numpy()
    unit = Mix(equal_power=equal_power)

    def law(m):
        if equal_power:
            return np.cos(np.pi / 2 * m), np.sin(np.pi / 2 * m)
        return 1 - m, m

    for mix in (0.0, 1.0, 0.3):
        wa, wb = law(mix)
        np.testing.assert_allclose(unit.get_signal(a, b, mix).numpy(), wa * na + wb * nb, atol=1e-15)
    per_item = torch.tensor([0.25, 0.9], dtype=torch.float64)
    wa, wb = law(per_item.numpy()[:, None])
    np.testing.assert_allclose(unit.get_signal(a, b, per_item).numpy(), wa * na + wb * nb, atol=1e-15)
    audio_rate = torch.rand(2, 41, dtype=torch.float64)
    wa, wb = law(audio_rate.numpy())
    np.testing.assert_allclose(unit.get_signal(a, b, audio_rate).numpy(), wa * na + wb * nb, atol=1e-15)


def test_mix_frame_rate_control_is_interpolated():
    hop, frames = 8, 6
    a, b = _signals(length=hop * frames)
    mix = torch.rand(2, frames, 1, dtype=torch.float64)
    out = Mix(hop_length=hop).get_signal(a, b, mix)
    for i in range(2):
        m = _upsample(mix[i, :, 0].numpy(), hop)
        np.testing.assert_allclose(out[i].numpy(), (1 - m) * a[i].numpy() + m * b[i].numpy(), atol=1e-14)


def test_equal_power_keeps_power_of_uncorrelated_signals():
    # Orthogonal unit-power signals: the mix has power cos^2 + sin^2 = 1 at every setting.
    n = np.arange(1000)
    a = torch.tensor(np.sqrt(2) * np.sin(2 * np.pi * 5 * n / 1000))[None]
    b = torch.tensor(np.sqrt(2) * np.sin(2 * np.pi * 11 * n / 1000))[None]
    for mix in (0.0, 0.2, 0.5, 0.77, 1.0):
        power = float(Mix(equal_power=True).get_signal(a, b, mix).square().mean())
        assert abs(power - 1.0) < 1e-12
    linear = float(Mix().get_signal(a, b, 0.5).square().mean())
    assert abs(linear - 0.5) < 1e-12  # the linear law dips 3 dB in the middle


def test_mix_get_controls_and_gradcheck():
    unit = Mix(hop_length=4, equal_power=True)
    a, b = (s.requires_grad_(True) for s in _signals(length=12))
    raw = torch.tensor([-40.0, 0.0], dtype=torch.float64)[:, None, None].expand(2, 3, 1)
    controls = unit.get_controls(a, b, raw)
    np.testing.assert_allclose(controls["mix"][:, 0, 0].numpy(), [0.0, 0.5], atol=1e-12)
    mix = torch.rand(2, 3, 1, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x, y, m: unit(x, y, m), (a, b, mix))


def test_mix_rejects_bad_input():
    a, b = _signals()
    with pytest.raises(ValueError, match=r"mix must lie in \[0, 1\]"):
        Mix().get_signal(a, b, 1.2)
    with pytest.raises(ValueError, match="hop_length"):
        Mix().get_signal(a, b, torch.rand(2, 41, 1))
    with pytest.raises(ValueError, match="samples"):
        Mix(hop_length=4).get_signal(a, b, torch.rand(2, 10, 1, dtype=torch.float64))
    with pytest.raises(ValueError, match="signal_b"):
        Mix().get_signal(a, b[:, :-1], 0.5)
    with pytest.raises(ValueError, match="mix"):
        Mix().get_signal(a, b, torch.rand(3, dtype=torch.float64))
    with pytest.raises(ValueError, match="mix"):
        Mix().get_signal(a, b, float("nan"))
    with pytest.raises(ValueError, match="signal_a"):
        Mix().get_signal(a[0], b, 0.5)


def test_gain_fixed_db_and_linear():
    (a,) = _signals(count=1)
    np.testing.assert_allclose(Gain(-20.0).get_signal(a).numpy(), 0.1 * a.numpy(), rtol=1e-12)
    np.testing.assert_allclose(Gain(-0.5, unit="linear").get_signal(a).numpy(), -0.5 * a.numpy(), rtol=1e-15)
    np.testing.assert_allclose(Gain().get_signal(a).numpy(), a.numpy(), rtol=1e-15)
    assert len(list(Gain(6.0).parameters())) == 0  # fixed gains are buffers


def test_gain_learnable_gets_gradient():
    (a,) = _signals(count=1)
    unit = Gain(6.0, learnable=True)
    assert [p.shape for p in unit.parameters()] == [torch.Size([])]
    (unit(a).square().sum()).backward()
    # d/dg of sum((10^(g/20) a)^2) = 2 * ln(10) / 20 * 10^(g/10) * sum(a^2)
    expected = 2 * np.log(10) / 20 * 10 ** 0.6 * float(a.square().sum())
    np.testing.assert_allclose(float(unit.gain.grad), expected, rtol=1e-5)


def test_gain_frame_rate_db_control():
    hop, frames = 5, 7
    (a,) = _signals(length=hop * frames, count=1)
    gain_db = torch.linspace(-30, 6, frames, dtype=torch.float64).reshape(1, frames, 1).expand(2, frames, 1)
    out = Gain(hop_length=hop).get_signal(a, gain_db)
    expected = 10 ** (_upsample(gain_db[0, :, 0].numpy(), hop) / 20)[None] * a.numpy()
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-12)
    unit = Gain(hop_length=hop)
    raw = torch.zeros(2, frames, 1, dtype=torch.float64, requires_grad=True)
    controls = unit.get_controls(a, raw)
    np.testing.assert_allclose(controls["gain"].detach().numpy(), -24.0)  # middle of (-60, 12) dB
    assert torch.autograd.gradcheck(lambda r: unit(a, r), (raw,))


def test_finite_gradients_at_edge_values():
    a, b = (s.requires_grad_(True) for s in _signals())
    mix = torch.tensor([0.0, 1.0], dtype=torch.float64, requires_grad=True)
    gain = torch.tensor([-200.0, 0.0], dtype=torch.float64, requires_grad=True)
    out = Gain().get_signal(Mix(equal_power=True).get_signal(a, b, mix), gain)
    (out.sum() + Add()(a, b).sum()).backward()
    for value in (a, b, mix, gain):
        assert torch.isfinite(value.grad).all()
    silent = torch.zeros(1, 10, requires_grad=True)
    Gain(learnable=True)(silent).sum().backward()
    assert torch.isfinite(silent.grad).all()


def test_shapes_batch_one_odd_length():
    a, b = _signals(batch=1, length=17)
    assert Add()(a, b).shape == (1, 17)
    assert Mix().get_signal(a, b, 0.5).shape == (1, 17)
    assert Gain(3.0).get_signal(a).shape == (1, 17)
    assert control_to_audio_rate(torch.tensor(0.5), "x", a).shape == (1, 1)


def test_gain_rejects_bad_input():
    (a,) = _signals(count=1)
    with pytest.raises(ValueError, match="unit"):
        Gain(unit="bel")
    with pytest.raises(ValueError, match="gain"):
        Gain(float("inf"))
    with pytest.raises(ValueError, match="gain"):
        Gain().get_signal(a, torch.zeros(2, 40))
    with pytest.raises(ValueError, match="audio"):
        Gain().get_signal(torch.full((2, 3), float("nan")))
    with pytest.raises(ValueError, match="hop_length"):
        Gain(hop_length=0)
    with pytest.raises(ValueError, match="control_range"):
        Gain(control_range=(1.0, -1.0))
