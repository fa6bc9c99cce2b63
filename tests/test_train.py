"""Training: loss goes down, exact resume, DistributedDataParallel, damaged checkpoints, the run folder."""

import csv
import math
import os
import re
import shutil
import signal
import socket
import time
import warnings
from pathlib import Path

import pytest
import soundfile as sf
import torch

from ddsp_lab.features import compute_loudness
from ddsp_lab.io import load_audio
from ddsp_lab.models import Config, build_model
from ddsp_lab.workflows.train import (
    BatchSchedule,
    CheckpointError,
    SpectralLoss,
    collate_items,
    load_checkpoint,
    load_run,
    load_trained_model,
    train,
)

DATA = Path(__file__).parent / "data"
RATE, HOP = 16000, 64
CROP_FRAMES = 100  # 0.4 s
# The test recordings are single notes, pitch-corrected to equal temperament:
# their nominal pitch stands in for CREPE's f0.
NOTES = {"violin_A4": 440.0, "flute_C5": 523.2511, "trumpet_F4": 349.2282, "cello_C3": 130.8128}


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    # The machine's two cores are shared: one thread avoids OpenMP contention on tiny
    # tensors. Module scope: bitwise comparisons need every run on the same thread count.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _recordings():
    recordings = []
    for name, f0 in NOTES.items():
        audio, _ = load_audio(DATA / f"{name}.flac", sample_rate=RATE)
        frames = audio.shape[-1] // HOP
        audio = audio[0, : frames * HOP]
        recordings.append((audio, torch.full((frames,), f0), compute_loudness(audio, RATE, hop_length=HOP)))
    return recordings


class NoteCrops(torch.utils.data.Dataset):
    """Crops of the test recordings with features, as a prepared dataset serves them.

    Training crops start at a random frame drawn from torch's global
    generator (like ``PreparedDataset``), so the tests also cover the seeding
    of the data; validation crops start at fixed frames.
    """

    sample_rate, hop_length = RATE, HOP

    def __init__(self, random_crop=True, copies=2, trigger=None):
        self.recordings = _recordings()
        self.random_crop = random_crop
        self.copies = copies
        self.trigger = trigger  # (item count, callable): fires once when that many items were read
        self.reads = 0

    def __len__(self):
        return len(self.recordings) * self.copies

    def __getitem__(self, index):
        self.reads += 1
        if self.trigger is not None and self.reads == self.trigger[0]:
            self.trigger[1]()
        audio, f0, loudness = self.recordings[index % len(self.recordings)]
        spare = f0.shape[0] - CROP_FRAMES
        start = int(torch.randint(0, spare + 1, ())) if self.random_crop else (index // len(self.recordings)) * spare
        stop = start + CROP_FRAMES
        return {"audio": audio[start * HOP: stop * HOP], "f0_hz": f0[start:stop],
                "loudness_db": loudness[start:stop], "confidence": torch.ones(CROP_FRAMES)}


def _config(synth="ddsp", steps=6, **training):
    config = Config.preset(synth, "tiny")
    config.model.n_harmonics = 30
    config.model.reverb_seconds = 0.1
    config.model.loudness_mean_db, config.model.loudness_std_db = -30.0, 10.0
    config.model.f0_hz_median = 220.0
    values = dict(steps=steps, batch_size=4, checkpoint_interval=2, validation_interval=0, log_interval=1)
    values.update(training)
    for name, value in values.items():
        setattr(config.training, name, value)
    return config


def _same_parameters(first, second):
    a, b = first.state_dict(), second.state_dict()
    return a.keys() == b.keys() and all(torch.equal(a[key], b[key]) for key in a)


def _read_csv(path):
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


# -- a few steps lower the loss ----------------------------------------------------


def _evaluate(model, config, batch, seed=123):
    loss_fn = SpectralLoss(config.loss, RATE)
    with torch.random.fork_rng(devices=[]), torch.no_grad():
        torch.manual_seed(seed)  # the same noise for both evaluations
        return float(loss_fn(model(batch["f0_hz"], batch["loudness_db"]), batch["audio"])[0])


@pytest.mark.parametrize("synth", ["ddsp", "fm"])
def test_a_few_steps_lower_the_loss(tmp_path, synth):
    config = _config(synth, steps=10, learning_rate=3e-3)
    validation = NoteCrops(random_crop=False)
    result = train((NoteCrops(), validation), tmp_path / "run", config, progress=False)
    batch = collate_items([validation[i] for i in range(len(validation))], HOP)
    torch.manual_seed(config.training.seed)
    untrained = build_model(result.config.model)  # the initial model of the run
    before, after = _evaluate(untrained, result.config, batch), _evaluate(result.model, result.config, batch)
    # Held-out crops, same noise, so the comparison is deterministic. Measured here: ten
    # steps take the loss from 12.6 to 7.0 (DDSP) and from 21.2 to 9.4 (FM); demanding a
    # tenth off leaves room for other hardware while a model that does not learn fails.
    assert after < 0.9 * before, (before, after)
    rows = _read_csv(tmp_path / "run" / "train_log.csv")
    assert [int(row["step"]) for row in rows] == list(range(1, 11))
    assert float(rows[-1]["loss"]) < float(rows[0]["loss"])


# -- resume --------------------------------------------------------------------


def test_interrupted_and_resumed_run_matches_uninterrupted(tmp_path):
    whole = train((NoteCrops(), None), tmp_path / "whole", _config(), progress=False)

    # Stopped by max_steps after 3 steps (between checkpoints), then resumed without a config.
    first = train((NoteCrops(), None), tmp_path / "split", _config(), progress=False, max_steps=3)
    assert (first.step, first.interrupted) == (3, False)
    rest = train((NoteCrops(), None), tmp_path / "split", None, progress=False)
    assert (rest.resumed_from, rest.step) == (3, 6)
    # Every step derives its randomness from (seed, step): bitwise equal on the CPU.
    assert _same_parameters(whole.model, rest.model)
    def logged(run):  # every column but the timing
        return [{k: v for k, v in row.items() if k != "seconds_per_step"} for row in _read_csv(run / "train_log.csv")]

    assert logged(tmp_path / "split") == logged(tmp_path / "whole")

    # Stopped by Ctrl-C while step 4 loads its data: the step finishes, a checkpoint is written.
    interrupt = (13, lambda: os.kill(os.getpid(), signal.SIGINT))  # item 13 is the first of step 4
    handler = signal.getsignal(signal.SIGINT)
    stopped = train((NoteCrops(trigger=interrupt), None), tmp_path / "ctrl_c", _config(), progress=False)
    assert (stopped.step, stopped.interrupted) == (4, True)
    assert load_checkpoint(tmp_path / "ctrl_c" / "last.pt")["step"] == 4
    resumed = train((NoteCrops(), None), tmp_path / "ctrl_c", _config(), progress=False)
    assert (resumed.resumed_from, resumed.step, resumed.interrupted) == (4, 6, False)
    assert _same_parameters(whole.model, resumed.model)
    assert signal.getsignal(signal.SIGINT) is handler


def test_worker_processes_load_the_same_data(tmp_path):
    # Each item's random crop is seeded by its place in the data stream, not by the process that loads it.
    here = train((NoteCrops(), None), tmp_path / "main", _config(steps=3), progress=False)
    workers = train((NoteCrops(), None), tmp_path / "workers", _config(steps=3, num_workers=2), progress=False)
    assert _same_parameters(here.model, workers.model)


def test_run_folder_contents(tmp_path):
    config = _config(steps=4, validation_interval=2, validation_examples=2, keep_checkpoints=1)
    config.model.loudness_mean_db = config.model.loudness_std_db = None  # estimated from the data
    result = train((NoteCrops(), NoteCrops(random_crop=False)), tmp_path, config, progress=False)
    assert sorted(os.listdir(tmp_path / "checkpoints")) == ["step_000004.pt"]
    assert Config.load(tmp_path / "config.json") == result.config
    assert result.config.model.sample_rate == RATE and result.config.model.loudness_std_db > 1.0
    for step in (2, 4):
        folder = tmp_path / "validation" / f"step_{step:06d}"
        assert sorted(os.listdir(folder)) == [
            "example_0_model.wav", "example_0_target.wav", "example_1_model.wav", "example_1_target.wav",
            "spectrograms.png",
        ]
    rows = _read_csv(tmp_path / "validation_log.csv")
    assert [row["step"] for row in rows] == ["2", "4"]
    assert math.isclose(float(rows[-1]["validation_loss"]), result.validation_loss, rel_tol=1e-6)
    terms = [float(rows[-1][f"validation_loss_{n}"]) for n in (2048, 1024, 512, 256, 128, 64)]
    assert math.isclose(sum(terms), result.validation_loss, rel_tol=1e-5)
    # The checkpoint restores the trained model exactly.
    assert _same_parameters(load_trained_model(tmp_path), result.model)
    # A finished run called again does nothing more.
    again = train((NoteCrops(), None), tmp_path, None, progress=False)
    assert (again.resumed_from, again.step, again.history) == (4, 4, [])


# -- damaged checkpoints -------------------------------------------------------


@pytest.fixture(scope="module")
def four_steps(tmp_path_factory, one_thread):
    """A finished 4-step run (checkpoints at steps 2 and 4) and the 6-step model it should continue to."""
    root = tmp_path_factory.mktemp("checkpoints")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        train((NoteCrops(), None), root / "run", _config(steps=4), progress=False)
    reference = train((NoteCrops(), None), root / "reference", _config(steps=6), progress=False)
    return root / "run", reference.model


def _copy_run(source, tmp_path):
    destination = tmp_path / "run"
    shutil.copytree(source, destination)
    return destination


def _truncate(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def test_damaged_newest_checkpoint_falls_back(tmp_path, four_steps):
    source, reference = four_steps
    run = _copy_run(source, tmp_path)
    _truncate(run / "checkpoints" / "step_000004.pt")
    _truncate(run / "last.pt")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = train((NoteCrops(), None), run, _config(steps=6), progress=False)
    messages = [str(warning.message) for warning in caught]
    for name in ("checkpoints/step_000004.pt", "run/last.pt"):
        pattern = rf"{re.escape(name)} cannot be read .* resuming from .*step_000002\.pt \(step 2\)"
        assert sum(bool(re.search(pattern, message, re.DOTALL)) for message in messages) == 1, messages
    assert result.resumed_from == 2 and result.step == 6
    # The older checkpoint survived, the damaged one was rewritten when step 4 came round again.
    assert load_checkpoint(run / "checkpoints" / "step_000004.pt")["step"] == 4
    assert _same_parameters(result.model, reference)


def test_intact_last_copy_is_used_when_the_step_file_is_damaged(tmp_path, four_steps):
    run = _copy_run(four_steps[0], tmp_path)
    _truncate(run / "checkpoints" / "step_000004.pt")
    with pytest.warns(UserWarning, match="step_000004.pt cannot be read"):
        result = train((NoteCrops(), None), run, _config(steps=6), progress=False)
    assert result.resumed_from == 4
    assert _same_parameters(result.model, four_steps[1])


def test_corrupted_contents_are_detected(tmp_path, four_steps):
    run = _copy_run(four_steps[0], tmp_path)
    path = run / "checkpoints" / "step_000004.pt"
    payload = torch.load(path, weights_only=True)
    name = next(iter(payload["model"]))
    payload["model"][name].view(-1)[0] += 1.0  # a flipped value: torch.load cannot notice
    torch.save(payload, path)
    with pytest.raises(CheckpointError, match="does not match its stored SHA-256 digest"):
        load_checkpoint(path)
    (run / "junk.pt").write_bytes(b"not a checkpoint at all")
    with pytest.raises(CheckpointError, match="junk.pt cannot be read"):
        load_checkpoint(run / "junk.pt")
    torch.save({"weights": torch.zeros(2)}, run / "other.pt")
    with pytest.raises(CheckpointError, match="not a ddsp_lab training checkpoint"):
        load_checkpoint(run / "other.pt")


def test_every_checkpoint_damaged_is_a_clear_error_and_deletes_nothing(tmp_path, four_steps):
    run = _copy_run(four_steps[0], tmp_path)
    files = [run / "checkpoints" / "step_000002.pt", run / "checkpoints" / "step_000004.pt", run / "last.pt"]
    for path in files:
        _truncate(path)
    sizes = [path.stat().st_size for path in files]
    with pytest.warns(UserWarning), pytest.raises(CheckpointError, match="no intact checkpoint .* Nothing was deleted"):
        train((NoteCrops(), None), run, _config(steps=6), progress=False)
    assert [path.stat().st_size for path in files] == sizes


def test_resume_refusals(tmp_path, four_steps):
    run = _copy_run(four_steps[0], tmp_path)
    with pytest.raises(ValueError, match="holds checkpoints of an earlier run and resume is off"):
        train((NoteCrops(), None), run, _config(steps=6), progress=False, resume=False)
    changed = _config(steps=6)
    changed.model.n_harmonics = 31
    changed.training.learning_rate = 0.01
    with pytest.raises(ValueError, match=r"model\.n_harmonics: 30 in the checkpoint, 31 now.*training\.learning_rate"):
        train((NoteCrops(), None), run, changed, progress=False)


def test_a_graph_voice_trains_and_reloads(tmp_path):
    from ddsp_lab.graph import External, Graph, Learnable, graph_to_dict, nodes

    graph = Graph(RATE, HOP, name="harmonic plus noise")
    graph.add("harmonic", nodes.Harmonic(n_harmonics=20, amplitude=External("amplitude", range=(0.0, 0.5)),
                                         harmonic_distribution=External("harmonics", range=(0.0, 1.0))))
    graph.add("noise", nodes.FilteredNoise(n_bands=17, magnitudes=External("noise", range=(1e-5, 0.05), curve="log")))
    graph.add("mix", nodes.Mixer(inputs=2, gain1=Learnable(0.5, (0.0, 1.0))))
    graph.connect("harmonic", "mix.in0")
    graph.connect("noise", "mix.in1")
    graph.set_output("mix.out")
    config = _config(steps=2)
    config.model.synth, config.model.graph = "graph", graph_to_dict(graph)
    result = train((NoteCrops(), None), tmp_path, config, progress=False)
    assert result.model.control_sizes == {"amplitude": 1, "harmonics": 20, "noise": 17}
    trained_gain = result.model.graph.node("mix").node_parameters["gain1"].normalized
    assert float(trained_gain.detach()) != 0.5  # the graph's own parameter moved with the decoder
    assert _same_parameters(load_trained_model(tmp_path), result.model)


# -- data ----------------------------------------------------------------------


def test_batch_schedule_is_the_same_global_batch_for_any_world_size():
    single = BatchSchedule(7, 4, seed=3)
    pair = [BatchSchedule(7, 4, seed=3, rank=rank, world_size=2) for rank in range(2)]
    for step in range(5):
        assert pair[0].local_batch(step) + pair[1].local_batch(step) == single.global_batch(step)
    # Every epoch is a permutation: the first 7 positions (steps 0, 1 minus one) cover the dataset.
    stream = [index for step in range(7) for index, _ in single.global_batch(step)]
    for epoch in range(4):
        assert sorted(stream[7 * epoch: 7 * epoch + 7]) == list(range(7))
    assert stream[:7] != stream[7:14]  # epochs are shuffled differently
    assert list(BatchSchedule(7, 4, seed=3, start_step=2, end_step=4)) == [single.global_batch(2),
                                                                           single.global_batch(3)]
    assert BatchSchedule(7, 4, seed=4).global_batch(0) != single.global_batch(0)
    with pytest.raises(ValueError, match="multiple of the number of processes"):
        BatchSchedule(7, 3, seed=0, world_size=2)


def test_collate_errors():
    item = {"audio": torch.zeros(4 * HOP), "f0_hz": torch.zeros(4), "loudness_db": torch.zeros(4)}
    assert collate_items([item, item], HOP)["audio"].shape == (2, 4 * HOP)
    with pytest.raises(ValueError, match="lacks \\['loudness_db'\\]"):
        collate_items([{"audio": item["audio"], "f0_hz": item["f0_hz"]}], HOP)
    with pytest.raises(ValueError, match="audio has 255 samples but 4 frames of 64 samples need 256"):
        collate_items([dict(item, audio=torch.zeros(255))], HOP)
    short = {"audio": torch.zeros(3 * HOP), "f0_hz": torch.zeros(3), "loudness_db": torch.zeros(3)}
    with pytest.raises(ValueError, match="same number of frames"):
        collate_items([item, short], HOP)
    with pytest.raises(TypeError, match="must be dicts"):
        collate_items([torch.zeros(3)], HOP)


def test_config_and_data_must_agree(tmp_path):
    config = _config()
    config.model.sample_rate = 22050
    with pytest.raises(ValueError, match="model.sample_rate is 22050 in the config but the dataset"):
        train((NoteCrops(), None), tmp_path, config, progress=False)
    with pytest.raises(FileNotFoundError, match="dataset folder not found"):
        train(tmp_path / "missing", tmp_path / "run", _config(), progress=False)
    assert not (tmp_path / "run").exists()


def test_train_from_a_prepared_folder(tmp_path):
    from ddsp_lab.data import prepare_dataset

    audio = tmp_path / "audio"
    audio.mkdir()
    for name in NOTES:
        shutil.copy(DATA / f"{name}.flac", audio / f"{name}.flac")
    prepare_dataset(audio, tmp_path / "dataset", sample_rate=RATE, hop_length=HOP, example_seconds=0.5,
                    crepe_model="tiny", mfcc_coefficients=None, validation_files=["*cello*"], progress=False)
    config = _config(steps=2, example_seconds=0.25, validation_interval=2, validation_batches=1)
    config.model.f0_hz_median = None  # measured from the data: the training notes are F4, A4 and C5
    result = train(tmp_path / "dataset", tmp_path / "run", config, progress=False)
    assert result.step == 2 and result.validation_loss is not None
    recorded = load_checkpoint(tmp_path / "run" / "last.pt")["config"]["model"]["f0_hz_median"]
    assert 349.2 * 0.97 < recorded < 523.3 * 1.03
    assert (tmp_path / "run" / "validation" / "step_000002" / "spectrograms.png").is_file()


# -- DistributedDataParallel -----------------------------------------------------


def _ddp_config():
    config = _config(steps=2)
    # No noise: each process draws its own, so only noise-free voices give equal gradients.
    config.model.n_noise_bands = 0
    config.model.z_size = 4
    return config


def _ddp_worker(rank, world_size, port, folder):
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel

    from ddsp_lab.workflows.train import _SeededItems

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world_size)
    try:
        config = _ddp_config()
        dataset = NoteCrops()
        schedule = BatchSchedule(len(dataset), config.training.batch_size, config.training.seed, rank, world_size)
        items = _SeededItems(dataset)
        batch = collate_items([items[key] for key in schedule.local_batch(0)], HOP)
        config.model.sample_rate, config.model.hop_length = RATE, HOP
        torch.manual_seed(0)
        model = build_model(config.model).double()
        network = DistributedDataParallel(model)
        audio = batch["audio"].double()
        loss, _ = SpectralLoss(config.loss, RATE)(network(batch["f0_hz"].double(), batch["loudness_db"].double(),
                                                          audio), audio)
        loss.backward()
        torch.save({name: p.grad for name, p in model.named_parameters()}, os.path.join(folder, f"grads_{rank}.pt"))

        result = train((NoteCrops(), None), os.path.join(folder, f"run_{rank}"), _ddp_config(), progress=False)
        torch.save({"state": result.model.state_dict(), "history": result.history},
                   os.path.join(folder, f"train_{rank}.pt"))
    finally:
        dist.destroy_process_group()


def _free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_two_process_ddp_matches_one_process(tmp_path):
    import torch.multiprocessing as mp

    context = mp.start_processes(_ddp_worker, args=(2, _free_port(), str(tmp_path)), nprocs=2, join=False,
                                 start_method="spawn")
    deadline = time.monotonic() + 120
    while not context.join(timeout=1):
        if time.monotonic() > deadline:
            for process in context.processes:
                process.terminate()
            pytest.fail("the two DDP processes did not finish within 120 s")

    # The same global batch in one process, float64.
    config = _ddp_config()
    dataset = NoteCrops()
    from ddsp_lab.workflows.train import _SeededItems

    items = _SeededItems(dataset)
    schedule = BatchSchedule(len(dataset), config.training.batch_size, config.training.seed)
    batch = collate_items([items[key] for key in schedule.global_batch(0)], HOP)
    config.model.sample_rate, config.model.hop_length = RATE, HOP
    torch.manual_seed(0)
    model = build_model(config.model).double()
    audio = batch["audio"].double()

    def gradients(rows):
        model.zero_grad()
        loss, _ = SpectralLoss(config.loss, RATE)(model(batch["f0_hz"][rows].double(),
                                                        batch["loudness_db"][rows].double(), audio[rows]), audio[rows])
        loss.backward()
        return {name: p.grad.clone() for name, p in model.named_parameters()}

    single = gradients(slice(None))
    first_half = gradients(slice(0, 2))
    ranks = [torch.load(tmp_path / f"grads_{rank}.pt", weights_only=True) for rank in range(2)]
    scale = max(float(g.abs().max()) for g in single.values())
    # The two computations are the same sums in another order, in float64: reordering
    # n <= 1e5 terms moves a result by at most ~n * 1.1e-16 relative to the largest
    # terms, i.e. ~1e-11 of the gradient scale; 1e-9 leaves a wide margin and is far
    # below any real discrepancy (half the batch alone differs by ~1e-1 of the scale).
    tolerance = 1e-9 * scale
    for name, expected in single.items():
        assert torch.equal(ranks[0][name], ranks[1][name]), name  # DDP gives every rank the same gradient
        assert (ranks[0][name] - expected).abs().max() <= tolerance, name
    assert max(float((first_half[n] - single[n]).abs().max()) for n in single) > 1e3 * tolerance

    # train() under DDP: the same first loss as one process, parameters kept in sync, files from rank 0 only.
    reference = train((NoteCrops(), None), tmp_path / "single", _ddp_config(), progress=False)
    runs = [torch.load(tmp_path / f"train_{rank}.pt", weights_only=True) for rank in range(2)]
    # Step 1 runs the same initial model on the same global batch; float32 sums of
    # ~1e5 terms in another order differ by ~log2(n) * 6e-8 ~ 1e-6 relative.
    assert math.isclose(runs[0]["history"][0]["loss"], reference.history[0]["loss"], rel_tol=1e-5)
    # The logged gradient norm is the global one (every rank holds the averaged gradient), not a sum over ranks.
    assert math.isclose(runs[0]["history"][0]["grad_norm"], reference.history[0]["grad_norm"], rel_tol=1e-4)
    assert all(torch.equal(runs[0]["state"][k], runs[1]["state"][k]) for k in runs[0]["state"])
    assert (tmp_path / "run_0" / "last.pt").is_file()
    assert not (tmp_path / "run_1").exists()


# -- neural baselines --------------------------------------------------------------


@pytest.mark.parametrize("synth", ["wavenet", "samplernn"])
def test_baselines_train_on_their_likelihood_through_the_same_loop(tmp_path, synth):
    config = _config(synth, steps=3, checkpoint_interval=3, validation_interval=3, validation_examples=1,
                     batch_size=2)
    datasets = (NoteCrops(), NoteCrops(random_crop=False, copies=1))
    result = train(datasets, tmp_path / "run", config, progress=False)
    assert result.step == 3 and result.validation_loss is not None
    rows = _read_csv(tmp_path / "run" / "train_log.csv")
    # Negative log-likelihood in nats per sample: at most log(256) = 5.55 for an untrained softmax
    # over mu-law codes (a little more while the initial output is not uniform), no spectral terms.
    assert list(rows[0]) == ["step", "loss", "grad_norm", "learning_rate", "seconds_per_step"]
    assert 0.0 < float(rows[0]["loss"]) < 7.0
    # Validation generates the first example sample by sample and writes it next to the target.
    folder = tmp_path / "run" / "validation" / "step_000003"
    model_audio, target_audio = folder / "example_0_model.wav", folder / "example_0_target.wav"
    assert model_audio.is_file() and target_audio.is_file()
    assert sf.info(model_audio).frames == sf.info(target_audio).frames == CROP_FRAMES * HOP
    payload = load_checkpoint(tmp_path / "run" / "last.pt")
    assert payload["config"]["model"]["synth"] == synth
    assert type(load_run(tmp_path / "run")[3]).__name__ == {"wavenet": "WaveNet", "samplernn": "SampleRNN"}[synth]


def test_baselines_have_no_full_size():
    config = _config("wavenet")
    config.model.size = "full"
    with pytest.raises(ValueError, match="model.size"):
        config.validate()


def test_time_budget_ends_the_run_with_a_checkpoint(tmp_path):
    result = train((NoteCrops(), None), tmp_path / "run", _config(steps=50, checkpoint_interval=100),
                   progress=False, max_seconds=1e-3)
    # The budget is spent during the first step, which is the last; it is saved like a planned end.
    assert (result.step, result.steps, result.interrupted) == (1, 1, False)
    assert load_checkpoint(tmp_path / "run" / "last.pt")["step"] == 1
    with pytest.raises(ValueError, match="max_seconds"):
        train((NoteCrops(), None), tmp_path / "other", _config(), progress=False, max_seconds=0)
