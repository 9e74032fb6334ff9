"""Runs every lesson on a tiny synthetic Fashion-MNIST and checks what it prints and writes.

    python -m pytest

No network and no real data are needed: a fixture writes small IDX files (the
real Fashion-MNIST file format, read by torchvision's own reader) whose images
carry one clear pattern per class, so training has something to learn. Each
lesson runs as a subprocess in a temporary folder, so nothing lands in the repo.
Starting Python and importing torch takes a few seconds per run, so the runs the
selected tests need (each test names them with @pytest.mark.uses) start together
on a thread pool, and each test waits for the runs it reads.
"""

import os
import re
import signal
import struct
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pytest
import torch

from common import DATA_FILES, NeuralNetwork, save_atomically

REPO = Path(__file__).resolve().parent

# Sizes of the synthetic splits: enough for a few batches of 64.
n_train = 1000
n_test = 200

# Flags that make 06 learn the synthetic patterns in two short epochs.
quick_training = ["--epochs", "2", "--optimizer", "adam", "--seed", "7"]


# ---------------------------------------------------------------------------
# Synthetic data in the real file format
# ---------------------------------------------------------------------------
def write_idx(path, array):
    """Write a uint8 array as an IDX file: magic (0, 0, 0x08 = uint8, ndim), big-endian sizes, bytes."""
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


def make_split(count, rng):
    """Noisy images in which class k has a bright vertical bar at its own position."""
    labels = np.arange(count) % 10
    rng.shuffle(labels)
    images = rng.integers(0, 90, size=(count, 28, 28))
    for image, label in zip(images, labels, strict=True):
        column = 2 + 2 * label
        image[4:24, column : column + 3] = 255
    return images, labels


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    raw = root / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for prefix, count in (("train", n_train), ("t10k", n_test)):
        images, labels = make_split(count, rng)
        write_idx(raw / f"{prefix}-images-idx3-ubyte", images)
        write_idx(raw / f"{prefix}-labels-idx1-ubyte", labels)
    assert sorted(p.name for p in raw.iterdir()) == sorted(DATA_FILES)
    return root


# ---------------------------------------------------------------------------
# Running lessons
# ---------------------------------------------------------------------------
def lesson_env(home):
    env = dict(os.environ)
    env.update(
        MPLBACKEND="Agg",  # save figures, never open windows
        PYTHONDONTWRITEBYTECODE="1",  # no __pycache__ in the repo
        OMP_NUM_THREADS="1",  # runs go in parallel: one thread each
        TORCH_HOME=str(home / "torch_home"),  # no cached VGG16 download
        # An unreachable proxy: any download attempt fails fast, as it would offline.
        http_proxy="http://127.0.0.1:9",
        https_proxy="http://127.0.0.1:9",
        HTTP_PROXY="http://127.0.0.1:9",
        HTTPS_PROXY="http://127.0.0.1:9",
        no_proxy="",
        NO_PROXY="",
    )
    return env


class Run(NamedTuple):
    returncode: int
    stdout: str
    stderr: str
    cwd: Path  # the folder it ran in, where its outputs/ are


def command(script, *args):
    """The command line that runs a lesson with this Python."""
    return [sys.executable, str(REPO / script), *map(str, args)]


def run(script, *args, cwd):
    """Run a lesson with `cwd` as its working directory."""
    cwd.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(
        command(script, *args),
        cwd=cwd,
        env=lesson_env(cwd),
        capture_output=True,
        text=True,
        timeout=600,
    )
    return Run(proc.returncode, proc.stdout, proc.stderr, cwd)


def train_then_load(data_dir, cwd):
    """06 trains and saves; then 07 loads the same weights in the same folder."""
    train = run("06_train.py", "--data-dir", data_dir, *quick_training, cwd=cwd)
    load = run("07_save_load.py", "--data-dir", data_dir, cwd=cwd)
    return train, load


def interrupt_training(data_dir, cwd):
    """Start a long 06 run over an existing weights file, press Ctrl-C once training has begun."""
    weights = cwd / "outputs" / "model_weights.pth"
    weights.parent.mkdir(parents=True)
    save_atomically({"earlier": torch.ones(3)}, weights)
    before = weights.read_bytes()
    env = lesson_env(cwd) | {"PYTHONUNBUFFERED": "1"}  # see "Epoch 1" as soon as it is printed
    args = command("06_train.py", "--data-dir", data_dir, "--epochs", 1000)
    proc = subprocess.Popen(args, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for line in proc.stdout:
        if line.startswith("Epoch 1"):
            proc.send_signal(signal.SIGINT)
            break
    try:
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        proc.kill()  # no-op once it has exited; stops it if Ctrl-C did not
    return Run(proc.returncode, stdout, stderr, cwd), before, weights.read_bytes()


def lesson(script, *args):
    """A job that runs `script` with `args` in the folder it is given."""
    return lambda cwd: run(script, *args, cwd=cwd)


@pytest.fixture(scope="session")
def runs(request, data_dir, tmp_path_factory):
    """The lesson runs the selected tests read (their `uses` marks), all started at once.

    Returns name -> future of the run's result, so `pytest -k 05` starts only lesson 05.
    """
    needed = {
        name for item in request.session.items for mark in item.iter_markers("uses") for name in mark.args
    }
    d = ["--data-dir", data_dir]
    jobs = {  # the longest first
        "06+07": lambda cwd: train_then_load(data_dir, cwd),
        "06 again": lesson("06_train.py", *d, *quick_training),
        "02 workers": lesson("02_data.py", *d, "--num-workers", "2"),
        "02": lesson("02_data.py", *d),
        "03": lesson("03_transforms.py", *d),
        # In a folder without 06's weights, and offline: two cases in one run.
        "07 fresh, pretrained": lesson("07_save_load.py", *d, "--pretrained"),
        "06 no data": lesson("06_train.py", "--data-dir", "nothing_here"),
        "06 misplaced data": lesson("06_train.py", "--data-dir", data_dir / "FashionMNIST" / "raw"),
        "01": lesson("01_tensors.py"),
        "01 seed 1": lesson("01_tensors.py", "--seed", "1"),
        "04": lesson("04_model.py"),
        "05": lesson("05_autograd.py"),
        "04 device cuda:99": lesson("04_model.py", "--device", "cuda:99"),
        "04 device gpu": lesson("04_model.py", "--device", "gpu"),
    }
    if sys.platform != "win32":
        jobs["06 interrupted"] = lambda cwd: interrupt_training(data_dir, cwd)
    for flag, value in BAD_FLAGS:
        jobs[f"06 {flag} {value}"] = lesson("06_train.py", *d, flag, value)
    for kind in BAD_WEIGHTS:
        jobs[f"07 {kind}"] = lambda cwd, kind=kind: run_with_bad_weights(kind, data_dir, cwd)
    assert needed <= jobs.keys(), f"tests use runs that are not defined: {needed - jobs.keys()}"
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        # Started in the background (as CI may do), this process ignores Ctrl-C, and
        # children inherit that. A handled signal resets to the default in a child,
        # which Python turns into KeyboardInterrupt: what "06 interrupted" needs.
        signal.signal(signal.SIGINT, signal.default_int_handler)
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        yield {
            name: pool.submit(job, tmp_path_factory.mktemp("run"))
            for name, job in jobs.items()
            if name in needed
        }


def ok(proc):
    """Assert a lesson ran cleanly; return its stdout."""
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    assert "Traceback" not in proc.stderr
    assert "Warning" not in proc.stderr, proc.stderr  # e.g. matplotlib's "cannot show the figure"
    return proc.stdout


def clean_error(proc, exit_code=1):
    """Assert a lesson failed with a message and no traceback; return stderr."""
    assert proc.returncode == exit_code, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc.stderr


def assert_png(path):
    assert path.is_file(), f"{path} was not written"
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG file"
    assert path.stat().st_size > 2000, f"{path} looks empty"


def printed_accuracy(stdout, label):
    match = re.search(rf"{label}: ([\d.]+)%", stdout)
    assert match, f"no '{label}: N%' line in:\n{stdout}"
    return float(match.group(1))


# ---------------------------------------------------------------------------
# 01-05
# ---------------------------------------------------------------------------
@pytest.mark.uses("01")
def test_01_tensors(runs):
    out = ok(runs["01"].result())
    assert re.search(r"Using \w+ device", out)  # cpu here; cuda or mps on a learner's machine
    assert "torch.cat(dim=1) shape: torch.Size([4, 12])" in out
    assert "torch.stack(dim=0) shape: torch.Size([3, 4, 4])" in out
    assert "Sum: 12.0 <class 'float'>" in out
    assert "modified by an inplace operation" in out
    assert out.count("n: [2. 2. 2. 2. 2.]") == 2  # NumPy sees the tensor's change, both ways
    assert "All tensor checks passed." in out


@pytest.mark.uses("02")
def test_02_data(runs):
    proc = runs["02"].result()
    out = ok(proc)
    assert f"Training samples: {n_train}" in out and f"Test samples: {n_test}" in out
    assert "One sample: image (1, 28, 28) torch.float32" in out
    assert "Feature batch shape: torch.Size([64, 1, 28, 28])" in out
    assert "Labels batch shape: torch.Size([64])" in out
    assert "all 16 images and labels equal the originals" in out
    assert re.search(r"row 1: image file .*missing\.png does not exist", out)
    for name in ("02_samples.png", "02_first_image.png"):
        assert f"Saved figure: outputs/{name}" in out
        assert_png(proc.cwd / "outputs" / name)
    custom = proc.cwd / "outputs" / "02_custom_dataset"
    assert len(list((custom / "images").glob("*.png"))) == 16
    assert len((custom / "annotations.csv").read_text().splitlines()) == 16


@pytest.mark.uses("02 workers")
def test_02_with_worker_processes(runs):
    out = ok(runs["02 workers"].result())
    assert "Feature batch shape: torch.Size([64, 1, 28, 28])" in out


@pytest.mark.uses("03")
def test_03_transforms(runs):
    out = ok(runs["03"].result())
    assert "ToTensor: shape (1, 28, 28), dtype torch.float32" in out
    assert "one-hot targets torch.Size([64, 10])" in out
    assert "Pickling the notes' lambda fails" in out
    assert re.search(r"ToTensor vs v2 on 100 images: same shape True", out)


@pytest.mark.uses("04")
def test_04_model(runs):
    out = ok(runs["04"].result())
    assert "Logits shape: torch.Size([1, 10])" in out
    assert re.search(r"Predicted class: tensor\(\[\d\]\)", out)
    assert "After nn.Flatten: torch.Size([3, 784])" in out
    assert "After nn.Linear(784, 20): torch.Size([3, 20])" in out
    assert "After nn.Sequential: torch.Size([3, 10])" in out
    assert "Layer: linear_relu_stack.0.weight | Size: torch.Size([512, 784])" in out
    assert "Total parameters: 669,706" in out


@pytest.mark.uses("05")
def test_05_autograd(runs):
    out = ok(runs["05"].result())
    assert "d(x^2 + y^3)/dx = 6.0, d/dy = 12.0" in out
    assert "x.grad after z.backward(): 32.0" in out
    assert "x.grad after y.backward() as well: 36.0" in out
    assert "Gradient function for z = AddBackward0" in out
    assert "All gradient checks passed." in out


@pytest.mark.uses("01", "01 seed 1")
def test_another_seed_other_numbers(runs):
    # The seed really drives the random numbers (06 checks that the same seed repeats).
    assert ok(runs["01"].result()) != ok(runs["01 seed 1"].result())


# ---------------------------------------------------------------------------
# 06-07
# ---------------------------------------------------------------------------
@pytest.mark.uses("06+07")
def test_06_learns_and_saves(runs):
    train, _ = runs["06+07"].result()
    out = ok(train)
    assert "Epoch 2\n" in out and "Epoch 3\n" not in out
    assert re.search(r"loss: \d\.\d{6}  \[   64/ 1000\]", out)
    assert printed_accuracy(out, "Final test accuracy") > 60  # chance is 10%
    assert re.search(r"Time: [\d.]+ s for 2 epochs \([\d,]+ training samples/s", out)
    assert "Saved weights: outputs/model_weights.pth" in out
    assert "Saved figure: outputs/06_learning_curves.png" in out
    assert_png(train.cwd / "outputs" / "06_learning_curves.png")
    # The weights are a state_dict that loads into a fresh network, as the notes' would.
    state_dict = torch.load(train.cwd / "outputs" / "model_weights.pth", weights_only=True)
    NeuralNetwork().load_state_dict(state_dict)
    assert [p.name for p in (train.cwd / "outputs").iterdir() if p.name.startswith(".")] == []


@pytest.mark.uses("06+07", "06 again")
def test_06_same_seed_same_output(runs):
    first, _ = runs["06+07"].result()
    second = runs["06 again"].result()

    def without_timing(proc):
        return [line for line in ok(proc).splitlines() if not line.startswith("Time:")]

    assert len(without_timing(first)) > 10
    assert without_timing(first) == without_timing(second)


@pytest.mark.uses("06+07")
def test_07_loads_what_06_saved(runs):
    train, load = runs["06+07"].result()
    out = ok(load)
    assert "Loaded weights from outputs/model_weights.pth" in out
    assert printed_accuracy(out, "Test accuracy of these weights") == printed_accuracy(
        ok(train), "Final test accuracy"
    )
    assert "A fresh NeuralNetwork with the loaded state_dict gives identical outputs." in out
    assert "refuses it: UnpicklingError" in out
    assert "VGG16 (untrained): 138,357,544 parameters" in out
    assert "train mode: two calls differ: True; eval mode: calls agree: True" in out
    assert_png(load.cwd / "outputs" / "07_predictions.png")
    for name in ("07_state_dict.pth", "07_whole_model.pth"):
        assert (load.cwd / "outputs" / name).is_file()


@pytest.mark.uses("07 fresh, pretrained")
def test_07_without_weights_continues(runs):
    proc = runs["07 fresh, pretrained"].result()
    assert "No outputs/model_weights.pth yet: run `python 06_train.py`" in proc.stdout
    assert printed_accuracy(proc.stdout, "Test accuracy of these weights") < 40
    assert "With weights_only=False it loads and gives identical outputs" in proc.stdout


@pytest.mark.uses("07 fresh, pretrained")
def test_07_pretrained_offline_is_a_clear_error(runs):
    err = clean_error(runs["07 fresh, pretrained"].result())
    assert "could not download VGG16's ImageNet weights" in err
    assert "without --pretrained" in err


BAD_WEIGHTS = ("missing", "truncated", "text", "other network")


def run_with_bad_weights(kind, data_dir, cwd):
    cwd.mkdir(parents=True, exist_ok=True)
    path = cwd / f"{kind.replace(' ', '_')}.pth"
    if kind == "truncated":
        save_atomically(NeuralNetwork().state_dict(), path)
        path.write_bytes(path.read_bytes()[:5000])
    elif kind == "text":
        path.write_text("these are not weights\n")
    elif kind == "other network":
        save_atomically(torch.nn.Linear(3, 2).state_dict(), path)
    return path, run("07_save_load.py", "--data-dir", data_dir, "--weights", path, cwd=cwd)


@pytest.mark.uses(*(f"07 {kind}" for kind in BAD_WEIGHTS))
@pytest.mark.parametrize("kind", BAD_WEIGHTS)
def test_07_bad_weights_file_is_a_clear_error(runs, kind):
    path, proc = runs[f"07 {kind}"].result()
    err = clean_error(proc)
    assert str(path) in err
    assert "06_train.py" in err  # says how to get a good file
    assert len(err.strip().splitlines()) == 1  # one paragraph


# ---------------------------------------------------------------------------
# Errors a learner can hit
# ---------------------------------------------------------------------------
@pytest.mark.uses("06 no data")
def test_missing_data_without_network_is_a_clear_error(runs):
    err = clean_error(runs["06 no data"].result())
    assert "could not get Fashion-MNIST" in err
    for name in DATA_FILES:
        assert name in err
    assert str(Path("nothing_here") / "FashionMNIST" / "raw") in err


@pytest.mark.uses("06 misplaced data")
def test_data_dir_naming_the_files_folder_is_a_clear_error(runs, data_dir):
    err = clean_error(runs["06 misplaced data"].result())
    assert f"pass --data-dir {data_dir.resolve()}" in err


@pytest.mark.uses("06 interrupted")
@pytest.mark.skipif(
    sys.platform == "win32", reason="Ctrl-C cannot be sent to a child process this way on Windows"
)
def test_interrupted_training_keeps_the_saved_weights(runs):
    proc, before, after = runs["06 interrupted"].result()
    err = clean_error(proc)
    assert "training interrupted during epoch" in err
    assert "Saved weights" not in proc.stdout
    assert after == before  # the earlier file is untouched, not half-written


BAD_FLAGS = (("--epochs", "0"), ("--lr", "-0.1"))


@pytest.mark.uses(*(f"06 {flag} {value}" for flag, value in BAD_FLAGS))
@pytest.mark.parametrize("flag, value", BAD_FLAGS)
def test_bad_flag_value_is_an_argparse_error(runs, flag, value):
    err = clean_error(runs[f"06 {flag} {value}"].result(), exit_code=2)
    assert err.startswith("usage: ")
    assert f"argument {flag}" in err


@pytest.mark.uses("04 device cuda:99")
def test_unavailable_device_is_a_clear_error(runs):
    err = clean_error(runs["04 device cuda:99"].result())
    assert "--device cuda:99 is not available on this machine" in err


@pytest.mark.uses("04 device gpu")
def test_unknown_device_name_is_an_argparse_error(runs):
    err = clean_error(runs["04 device gpu"].result(), exit_code=2)
    assert "argument --device: 'gpu' is not a device name" in err


# ---------------------------------------------------------------------------
# Plumbing
# ---------------------------------------------------------------------------
class NotesNetwork(torch.nn.Module):
    """The class exactly as the notes define it, to check that weights move both ways."""

    def __init__(self):
        super().__init__()
        self.flatten = torch.nn.Flatten()
        self.linear_relu_stack = torch.nn.Sequential(
            torch.nn.Linear(28 * 28, 512),
            torch.nn.ReLU(),
            torch.nn.Linear(512, 512),
            torch.nn.ReLU(),
            torch.nn.Linear(512, 10),
        )

    def forward(self, x):
        return self.linear_relu_stack(self.flatten(x))


def test_weights_load_between_the_notes_class_and_ours():
    x = torch.rand(4, 1, 28, 28)
    notes, ours = NotesNetwork(), NeuralNetwork()
    assert not torch.equal(ours(x), notes(x))  # different random weights at first
    ours.load_state_dict(notes.state_dict())  # notes -> ours
    assert torch.equal(ours(x), notes(x))
    ours, notes = NeuralNetwork(), NotesNetwork()
    notes.load_state_dict(ours.state_dict())  # ours -> notes
    assert torch.equal(notes(x), ours(x))


def test_save_atomically_keeps_the_old_file_when_writing_fails(tmp_path, monkeypatch):
    path = tmp_path / "model_weights.pth"
    save_atomically({"w": torch.ones(2)}, path)

    def broken_save(obj, f):
        Path(f).write_bytes(b"half a file")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(OSError):
        save_atomically({"w": torch.zeros(2)}, path)
    assert torch.equal(torch.load(path, weights_only=True)["w"], torch.ones(2))
    assert [p.name for p in tmp_path.iterdir()] == ["model_weights.pth"]  # no temp file left
