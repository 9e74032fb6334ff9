"""Runs every lesson the ways learners do, on a tiny synthetic Fashion-MNIST, and checks
what it prints and writes.

    python -m pytest

- Cell by cell: a lesson's `# %%` cells run in order in one namespace, each twice in a
  row, with a Jupyter kernel's sys.argv, as VS Code, PyCharm or a notebook runs them.
- As a script: `python 0X_lesson.py --flags`, in this process (runpy), so that torch is
  imported once for the whole suite.
- As a separate process, where only that shows the behaviour: Ctrl-C, DataLoader
  workers under the spawn start method, a closed pipe.

No network and no real data are needed: a fixture writes small IDX files (the real
Fashion-MNIST file format, read by torchvision's own reader) whose images carry one
clear pattern per class, so training has something to learn. Every run happens in a
temporary folder, so nothing lands in the repository.
"""

import atexit
import errno
import gzip
import io
import multiprocessing
import os
import re
import runpy
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch

os.environ["MPLBACKEND"] = "Agg"  # figures are saved, never shown, here and in subprocesses
# Some runs go on in separate processes while the others run here: one thread each
# keeps them from fighting over the cores.
os.environ["OMP_NUM_THREADS"] = "1"
torch.set_num_threads(1)
import common  # noqa: E402  (after MPLBACKEND, which common's matplotlib import reads)

REPO = Path(__file__).resolve().parent
LESSONS = sorted(path.name for path in REPO.glob("0[1-7]_*.py"))

# Sizes of the synthetic splits: enough for a few batches of 64.
n_train = 1000
n_test = 200

# Flags that make 06 learn the synthetic patterns in two short epochs.
quick_training = ["--epochs", "2", "--optimizer", "adam", "--seed", "7"]

# What sys.argv holds in a Jupyter kernel: the kernel's own flags, not the lesson's.
KERNEL_ARGV = ["/usr/lib/python3/site-packages/ipykernel_launcher.py", "-f", "/tmp/kernel-1a2b.json"]

# An unreachable proxy: any download attempt fails at once, as it would offline.
OFFLINE = {name: "http://127.0.0.1:9" for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY")}


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
def synthetic_data(tmp_path_factory):
    """A folder holding FashionMNIST/raw/ with the four synthetic IDX files."""
    root = tmp_path_factory.mktemp("data")
    raw = root / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for prefix, count in (("train", n_train), ("t10k", n_test)):
        images, labels = make_split(count, rng)
        write_idx(raw / f"{prefix}-images-idx3-ubyte", images)
        write_idx(raw / f"{prefix}-labels-idx1-ubyte", labels)
    assert sorted(p.name for p in raw.iterdir()) == sorted(common.DATA_FILES)
    return root


@pytest.fixture
def workdir(tmp_path, monkeypatch, synthetic_data):
    """An empty folder to run lessons in, holding the synthetic data where the default looks: data/.

    In memory (Linux's /dev/shm) when there is room, since lesson 07 writes VGG16's 528 MB
    (twice, cell by cell): seconds faster than a disk.
    """
    shm = Path("/dev/shm")
    in_memory = shm.is_dir() and os.access(shm, os.W_OK) and shutil.disk_usage(shm).free > 4e9
    folder = Path(tempfile.mkdtemp(dir=shm, prefix="pytorch-basics-")) if in_memory else tmp_path
    shutil.copytree(synthetic_data, folder / "data")
    monkeypatch.chdir(folder)
    for name, value in OFFLINE.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("TORCH_HOME", str(folder / "torch_home"))  # no cached VGG16 download
    yield folder
    if in_memory:
        shutil.rmtree(folder, ignore_errors=True)


# ---------------------------------------------------------------------------
# Running lessons
# ---------------------------------------------------------------------------
def cells(script):
    """The lesson's `# %%` cells, in order, each padded to keep the file's line numbers."""
    text = (REPO / script).read_text(encoding="utf-8")
    chunks = re.split(r"(?m)^(?=# %%)", text)
    starts = np.cumsum([0] + [chunk.count("\n") for chunk in chunks[:-1]])
    return ["\n" * start + chunk for start, chunk in zip(starts, chunks, strict=True)]


def run_cells(script, monkeypatch, capsys, edit=None, stop_before=None):
    """Run the lesson as a notebook would: its cells in order, in one namespace, each twice.

    `edit` (old, new) changes the settings line first, as a learner would; `stop_before`
    stops at the first cell that contains it. Returns (namespace, everything printed).
    """
    monkeypatch.setattr(sys, "argv", KERNEL_ARGV)
    namespace = {"__name__": "__main__"}  # a kernel's namespace has no __file__
    for cell in cells(script):
        if stop_before and stop_before in cell:
            break
        if edit and edit[0] in cell:
            cell = cell.replace(*edit)
        code = compile(cell, str(REPO / script), "exec")
        exec(code, namespace)
        exec(code, namespace)  # running a cell again right away must work too
    return namespace, capsys.readouterr().out


def run_script(script, *args, capsys, monkeypatch):
    """`python script args`, in this process; returns (exit code, stdout, stderr)."""
    monkeypatch.setattr(sys, "argv", [str(REPO / script), *map(str, args)])
    monkeypatch.setattr(sys, "excepthook", sys.excepthook)  # put back what the lesson changes:
    old_sigpipe = signal.getsignal(signal.SIGPIPE) if hasattr(signal, "SIGPIPE") else None
    try:
        runpy.run_path(str(REPO / script), run_name="__main__")
        code = 0
    except SystemExit as exit:
        code = exit.code
    finally:
        if old_sigpipe is not None:
            signal.signal(signal.SIGPIPE, old_sigpipe)
        atexit.unregister(common._free_globals)  # the lesson's namespace can go now
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def script(workdir, capsys, monkeypatch):
    """run_script bound to this test's folder."""
    return lambda name, *args: run_script(name, *args, capsys=capsys, monkeypatch=monkeypatch)


def clean_error(result, exit_code=1):
    """Assert a lesson stopped with one paragraph and no traceback; return that paragraph."""
    code, out, err = result
    assert code == exit_code, f"exit {code}\n{out[-2000:]}\n{err[-2000:]}"
    assert "Traceback" not in err
    assert "\x1b[" not in err  # no raw terminal colour codes
    assert len(err.strip().splitlines()) == 1 or exit_code == 2, err  # argparse adds a usage line
    return err


def assert_png(path):
    assert path.is_file(), f"{path} was not written"
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG file"
    assert path.stat().st_size > 2000, f"{path} looks empty"


def printed_accuracy(text, label):
    match = re.search(rf"{label}: ([\d.]+)%", text)
    assert match, f"no '{label}: N%' line in:\n{text}"
    return float(match.group(1))


# ---------------------------------------------------------------------------
# Every lesson, cell by cell, as in a notebook
# ---------------------------------------------------------------------------
def test_lessons_have_top_level_cells():
    for lesson in LESSONS:
        text = (REPO / lesson).read_text(encoding="utf-8")
        assert re.search(r"(?m)^# %% Settings|^# %% Hyperparameters", text), lesson
        assert re.search(r"(?m)^# %% Further reading", text), lesson
        assert not re.search(r"(?m)^[ \t]+# %%", text), f"{lesson} has an indented cell marker"
        assert "def main(" not in text, lesson
        # jupytext reads a comment that starts with a shell command (cat, cd, ls ...) as an
        # escaped IPython magic and turns it back into code in the notebook.
        shell = r"(?m)^(# |#)*(cat|cd|cp|mv|rm|rmdir|mkdir|copy|ddir|echo|ls|ldir|ren)($|\s$|\s[^=,])"
        assert not re.search(shell, text), f"{lesson}: a comment jupytext would turn into a shell command"


def test_01_cells(workdir, monkeypatch, capsys):
    ns, out = run_cells("01_tensors.py", monkeypatch, capsys)
    assert re.search(r"Using \w+ device", out)  # cpu here; cuda or mps on a learner's machine
    assert "torch.cat(dim=1) shape: torch.Size([4, 12])" in out
    assert "torch.stack(dim=0) shape: torch.Size([3, 4, 4])" in out
    assert "Sum: 12.0 <class 'float'>" in out
    assert "out= of shape (3,) was resized to (4, 4), warning: True" in out
    assert "out= of dtype int64 raises" in out
    assert "modified by an inplace operation" in out
    assert out.count("n: [2. 2. 2. 2. 2.]") == 4  # NumPy sees the tensor's change, both ways, twice
    assert ns["count"] > 1200
    assert out.count("All tensor checks passed.") == 2


def test_02_cells(workdir, monkeypatch, capsys):
    ns, out = run_cells("02_data.py", monkeypatch, capsys)
    assert f"Training samples: {n_train}" in out and f"Test samples: {n_test}" in out
    assert "One sample: image (1, 28, 28) torch.float32" in out
    assert "Feature batch shape: torch.Size([64, 1, 28, 28])" in out
    assert "Labels batch shape: torch.Size([64]), dtype: torch.int64" in out
    assert "all 16 images and labels equal the originals" in out
    assert ns["first_epoch"] != ns["second_epoch"]
    for name in ("02_samples.png", "02_first_image.png"):
        assert f"Saved figure: {Path('outputs', name)}" in out
        assert_png(workdir / "outputs" / name)
    custom = workdir / "outputs" / "02_custom_dataset"
    assert len(list((custom / "images").glob("*.png"))) == 16
    assert len((custom / "annotations.csv").read_text().splitlines()) == 16


def test_03_cells(workdir, monkeypatch, capsys):
    ns, out = run_cells("03_transforms.py", monkeypatch, capsys)
    assert "ToTensor: shape (1, 28, 28), dtype torch.float32" in out
    assert ns["images"].min() >= 0 and ns["mean"] > 0.1  # rescaled, not standardized
    assert "one-hot targets torch.Size([64, 10])" in out
    assert "Pickling the notes' Lambda(lambda ...) fails" in out
    assert "ToTensor vs v2 on 100 images: same shape True" in out


def test_04_cells(workdir, monkeypatch, capsys):
    ns, out = run_cells("04_model.py", monkeypatch, capsys)
    assert "Logits shape: torch.Size([1, 10])" in out
    assert re.search(r"Predicted class: tensor\(\[\d\](, device='\w+(:\d+)?')?\)", out)
    assert "After nn.Flatten: torch.Size([3, 784])" in out
    assert "After nn.Linear(784, 20): torch.Size([3, 20])" in out
    assert "After nn.Sequential: torch.Size([3, 10])" in out
    assert "Layer: linear_relu_stack.0.weight | Size: torch.Size([512, 784]) | param[:2]: (2, 784)" in out
    assert "Total parameters: 669,706" in out
    # 04 defines the class that 06 and 07 import from common.py: the same layers and names.
    theirs, ours = ns["NeuralNetwork"](), common.NeuralNetwork()
    assert str(theirs) == str(ours)
    assert {k: v.shape for k, v in theirs.state_dict().items()} == {
        k: v.shape for k, v in ours.state_dict().items()
    }
    ours.load_state_dict(theirs.state_dict())
    x = torch.rand(2, 1, 28, 28)
    assert torch.equal(ours(x), theirs(x))


def test_05_cells(workdir, monkeypatch, capsys):
    ns, out = run_cells("05_autograd.py", monkeypatch, capsys)
    assert "d(x^2 + y^3)/dx = 6.0, d/dy = 12.0" in out
    assert "x.grad after z.backward(): 32.0" in out
    assert "x.grad after y.backward() as well: 36.0" in out
    assert re.search(r"Gradient function for z = <AddBackward0", out)
    assert "w.grad_fn = None" in out
    assert "A second loss.backward(): Trying to backward through the graph a second time" in out
    assert "After optimizer.zero_grad(): inp.grad is None" in out
    assert "A v of the wrong shape: Mismatch in shape" in out
    assert out.count("All gradient checks passed.") == 2


def test_06_then_07_cells(workdir, monkeypatch, capsys):
    # A learner edits the settings line: fewer epochs, and adam, which learns the bars fast.
    edit = (
        'epochs=10, batch_size=64, lr=1e-3, optimizer="sgd"',
        'epochs=3, batch_size=64, lr=1e-3, optimizer="adam"',
    )
    ns, out = run_cells("06_train.py", monkeypatch, capsys, edit=edit)
    assert "epochs: 3, batch size: 64, optimizer: adam" in out
    assert out.count("Epoch 3\n") == 2 and "Epoch 4\n" not in out  # the loop cell ran twice
    assert ns["accuracies"][-1] > 0.6  # chance is 10%
    assert "Saved weights: " in out
    assert_png(workdir / "outputs" / "06_learning_curves.png")
    trained = ns["accuracies"][-1]

    ns, out = run_cells("07_save_load.py", monkeypatch, capsys)
    assert f"Loaded weights from {Path('outputs', 'model_weights.pth')}" in out
    assert printed_accuracy(out, "Test accuracy of these weights") == round(100 * trained, 1)
    assert re.search(r'Predicted: "[\w -]+", Actual: "[\w -]+"', out)
    assert "A fresh NeuralNetwork with the loaded state_dict gives identical outputs." in out
    assert "the weights equal training without a break: True" in out
    assert "(a fresh optimizer): the weights differ: True" in out
    assert "refuses a whole model: UnpicklingError" in out
    assert "VGG16 (untrained): 138,357,544 parameters" in out
    assert "The copy loaded from the file holds equal weights in memory of its own." in out
    assert "train mode: two calls differ: True; eval mode: calls agree, and agree with" in out
    assert_png(workdir / "outputs" / "07_predictions.png")
    for name in ("07_state_dict.pth", "07_checkpoint.pth", "07_whole_model.pth", "07_vgg16_weights.pth"):
        assert (workdir / "outputs" / name).is_file()


def test_a_bad_setting_in_a_notebook_is_a_clear_error(workdir, monkeypatch, capsys):
    with pytest.raises(SystemExit):
        run_cells("06_train.py", monkeypatch, capsys, edit=("epochs=10", "epochs=0"))
    assert "setting epochs=0: must be at least 1" in capsys.readouterr().err


# ---------------------------------------------------------------------------
# As scripts, with flags
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("lesson", ["01_tensors.py", "04_model.py", "05_autograd.py"])
def test_lessons_without_data_run_as_scripts(script, lesson):
    code, out, err = script(lesson, "--seed", "1")
    assert code == 0, err
    assert "Traceback" not in err and "Warning" not in err


def test_02_and_03_as_scripts_with_workers_and_subset(script):
    code, out, err = script("02_data.py", "--num-workers", "2", "--subset", "300")
    assert code == 0, err
    assert "Training samples: 300" in out and "Test samples: 200" in out
    assert "subset 300 is more than the 200 samples of this split: using all of them." in out
    assert out.count("Training samples:") == 1
    assert "Worker processes loading batches: 2 (num_workers=2)" in out
    code, out, err = script("03_transforms.py", "--num-workers", "2")
    assert code == 0, err
    assert "one-hot targets torch.Size([64, 10])" in out


def test_06_as_a_script_learns_saves_and_repeats(script, workdir):
    runs = [script("06_train.py", "--data-dir", "data", *quick_training) for _ in range(2)]
    code, out, err = runs[0]
    assert code == 0, err
    assert "Epoch 2\n" in out and "Epoch 3\n" not in out
    assert re.search(r"loss: \d\.\d{6}  \[   64/ 1000\]", out)
    assert printed_accuracy(out, "Final test accuracy") > 60  # chance is 10%
    assert re.search(r"Test loss: 2\.\d{3} untrained -> 0\.\d{3} after 2 epochs", out)
    assert re.search(r"Time: [\d.]+ s for 2 epochs \([\d,]+ training samples/s", out)
    assert f"Saved weights: {Path('outputs', 'model_weights.pth')}" in out
    assert_png(workdir / "outputs" / "06_learning_curves.png")
    state_dict = torch.load(workdir / "outputs" / "model_weights.pth", weights_only=True)
    common.NeuralNetwork().load_state_dict(state_dict)  # a state_dict that fits the network
    assert [p.name for p in (workdir / "outputs").iterdir() if p.name.startswith(".")] == []

    def without_timing(text):
        return [line for line in text.splitlines() if not line.startswith("Time:")]

    assert without_timing(runs[0][1]) == without_timing(runs[1][1])  # same seed, same numbers


def test_07_without_weights_continues_untrained(workdir, monkeypatch, capsys):
    _, out = run_cells("07_save_load.py", monkeypatch, capsys, stop_before="# %% Some test images")
    assert "No outputs/model_weights.pth yet: run `python 06_train.py`" in out.replace(os.sep, "/")
    assert printed_accuracy(out, "Test accuracy of these weights") < 40


def test_unknown_flag_is_an_argparse_error(script):
    err = clean_error(script("06_train.py", "--epoch", "3"), exit_code=2)
    assert "unrecognized arguments: --epoch 3" in err


def test_help_on_a_terminal_that_cannot_show_chinese(script, monkeypatch):
    ascii_out = io.TextIOWrapper(io.BytesIO(), encoding="ascii")
    monkeypatch.setattr(sys, "stdout", ascii_out)
    code, _, err = script("04_model.py", "--help")
    assert code == 0, err
    ascii_out.seek(0)
    text = ascii_out.read()
    assert "04 \\xb7 Build the neural network \\u6784\\u5efa" in text and "--device DEVICE" in text


# ---------------------------------------------------------------------------
# Bad input: one paragraph, exit 1 (argparse: exit 2), no traceback, nothing lost
# ---------------------------------------------------------------------------
BAD_FLAGS = [
    ("--epochs", "0", "must be at least 1"),
    ("--lr", "-0.1", "must be above 0"),
    ("--lr", "1e308", "must be above 0 and at most 3.4e38"),
    ("--seed", str(2**64), "must be from 0 to 2**64 - 1"),
    ("--device", "gpu", "'gpu' is not a device name"),
]


@pytest.mark.parametrize("flag, value, message", BAD_FLAGS)
def test_bad_flag_value_is_an_argparse_error(script, flag, value, message):
    err = clean_error(script("06_train.py", flag, value), exit_code=2)
    assert err.startswith("usage: ") and f"argument {flag}: {message}" in err


def test_too_many_workers_is_refused_before_any_start(script):
    err = clean_error(script("02_data.py", "--num-workers", "99999"), exit_code=2)
    assert f"must be from 0 to {os.cpu_count()}" in err


def test_unavailable_device_is_a_clear_error(script):
    err = clean_error(script("04_model.py", "--device", "cuda:99"))
    assert "--device cuda:99 is not available on this machine" in err


def test_missing_data_offline_is_a_clear_error(script):
    err = clean_error(script("06_train.py", "--data-dir", "nothing_here"))
    assert "could not download Fashion-MNIST" in err and "run again with internet access" in err
    for name in common.DATA_FILES:
        assert name in err
    assert str(Path("nothing_here") / "FashionMNIST" / "raw") in err


@pytest.mark.parametrize("where", ["raw", "FashionMNIST"])
def test_data_dir_naming_a_folder_below_is_a_clear_error(script, workdir, where):
    folder = workdir / "data" / "FashionMNIST"
    folder = folder / "raw" if where == "raw" else folder
    err = clean_error(script("06_train.py", "--data-dir", folder))
    assert f"pass --data-dir {(workdir / 'data').resolve()}" in err
    assert not (folder / "FashionMNIST").exists()  # nothing created where it does not belong


def test_data_dir_naming_a_file_is_a_clear_error(script, workdir):
    (workdir / "notes.txt").write_text("not data")
    err = clean_error(script("06_train.py", "--data-dir", "notes.txt"))
    assert "is a file, not a folder" in err


def test_data_dir_with_a_tilde_means_the_home_folder(script, workdir, monkeypatch):
    monkeypatch.setenv("HOME", str(workdir))
    monkeypatch.setenv("USERPROFILE", str(workdir))  # Windows
    code, out, err = script("03_transforms.py", "--data-dir=~/data", "--subset", "64")
    assert code == 0, err
    assert not (workdir / "~").exists()


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root can write anywhere")
def test_read_only_data_dir_without_data_is_a_clear_error(script, workdir):
    folder = workdir / "read_only"
    folder.mkdir(mode=0o500)
    err = clean_error(script("06_train.py", "--data-dir", folder))
    assert "cannot be written" in err and "Pass --data-dir with a folder you can write to" in err


def idx_damage(raw, kind):
    if kind == "truncated images":
        path = raw / "train-images-idx3-ubyte"
        path.write_bytes(path.read_bytes()[:-100])
    elif kind == "fewer labels":
        labels = np.frombuffer((raw / "train-labels-idx1-ubyte").read_bytes()[8:], dtype=np.uint8)
        write_idx(raw / "train-labels-idx1-ubyte", labels[:-1])
    elif kind == "label 200":
        labels = np.frombuffer((raw / "t10k-labels-idx1-ubyte").read_bytes()[8:], dtype=np.uint8).copy()
        labels[5] = 200
        write_idx(raw / "t10k-labels-idx1-ubyte", labels)
    elif kind == "recompressed gz":
        for name in common.DATA_FILES:
            (raw / f"{name}.gz").write_bytes(gzip.compress((raw / name).read_bytes(), mtime=0))
            (raw / name).unlink()


DAMAGE = {
    "truncated images": "could not read the Fashion-MNIST files",
    "fewer labels": f"holds {n_train - 1} labels but",
    "label 200": "holds the label 200, but Fashion-MNIST's labels are 0 to 9",
    "recompressed gz": "do not match the official release's checksums",
}


@pytest.mark.parametrize("kind", DAMAGE)
def test_damaged_or_inconsistent_data_is_a_clear_error(script, workdir, kind):
    idx_damage(workdir / "data" / "FashionMNIST" / "raw", kind)
    for lesson in ("02_data.py", "06_train.py"):
        err = clean_error(script(lesson, "--subset", "100"))  # checked whole, even for a subset
        assert DAMAGE[kind] in err


@pytest.mark.parametrize("lesson", ["02_data.py", "06_train.py", "07_save_load.py"])
def test_outputs_that_is_a_file_is_a_clear_error(script, workdir, lesson):
    (workdir / "outputs").write_text("a file where the folder should be")
    err = clean_error(script(lesson, "--subset", "100"))
    assert "is a file, not a folder" in err
    assert (workdir / "outputs").read_text().startswith("a file")


@pytest.mark.parametrize("lr", ["1e30", "1e5"])
def test_a_diverged_run_keeps_the_saved_weights(script, workdir, lr):
    weights = workdir / "outputs" / "model_weights.pth"
    weights.parent.mkdir()
    common.save_atomically(common.NeuralNetwork().state_dict(), weights)
    before = weights.read_bytes()
    err = clean_error(script("06_train.py", "--lr", lr, "--epochs", "2"))
    assert "training diverged" in err and "learning rate" in err and "too high" in err
    assert weights.read_bytes() == before


def test_nan_weights_are_never_saved(workdir, capsys):
    weights = workdir / "good.pth"
    common.save_atomically({"w": torch.ones(2)}, weights)
    with pytest.raises(SystemExit):
        common.save_weights({"w": torch.tensor([1.0, float("nan")])}, weights)
    assert "NaN or infinite" in capsys.readouterr().err
    assert torch.equal(torch.load(weights, weights_only=True)["w"], torch.ones(2))


def bad_weights(path, kind):
    if kind == "missing":
        return
    if kind == "truncated":
        common.save_atomically(common.NeuralNetwork().state_dict(), path)
        path.write_bytes(path.read_bytes()[:5000])
    elif kind == "text":
        path.write_text("these are not weights\n")
    elif kind == "whole model":
        torch.save(common.NeuralNetwork(), path)
    elif kind == "other network":
        common.save_atomically(torch.nn.Linear(3, 2).state_dict(), path)


BAD_WEIGHTS = {
    "missing": "no such file",
    "truncated": "is not a readable PyTorch weights file",
    "text": "is not a readable PyTorch weights file",
    "whole model": "holds a pickled Python object (common.NeuralNetwork), such as a whole model",
    "other network": "missing keys: linear_relu_stack.0.weight",
}


@pytest.mark.parametrize("kind", BAD_WEIGHTS)
def test_07_bad_weights_file_is_a_clear_error(script, workdir, kind):
    path = workdir / f"{kind.replace(' ', '_')}.pth"
    bad_weights(path, kind)
    err = clean_error(script("07_save_load.py", "--weights", path))
    assert str(path) in err and BAD_WEIGHTS[kind] in err
    if kind == "other network":
        assert "unexpected keys: weight, bias" in err


def test_07_pretrained_offline_stops_before_the_work(script):
    err = clean_error(script("07_save_load.py", "--pretrained"))
    assert "could not download VGG16's ImageNet weights" in err and "without --pretrained" in err


# ---------------------------------------------------------------------------
# In a separate process
# ---------------------------------------------------------------------------
# Runs that need a process of their own: test name -> the arguments to python.
# The -c wrappers run `python <lesson> <flags>` with one twist each.
FORCE_SPAWN = (  # as on Windows and macOS: DataLoader workers start as fresh processes
    "import multiprocessing, runpy, sys; multiprocessing.set_start_method('spawn'); "
    "sys.argv = sys.argv[1:]; runpy.run_path(sys.argv[0], run_name='__main__')"
)
CTRL_C_IN_EPOCH_1 = (  # presses Ctrl-C (sends SIGINT) as soon as "Epoch 1" is printed
    "import os, runpy, signal, sys\n"
    "signal.signal(signal.SIGINT, signal.default_int_handler)  # as in a terminal, even if CI ignores it\n"
    "class Watch:\n"
    "    def __init__(self, out): self.out = out\n"
    "    def write(self, text):\n"
    "        self.out.write(text)\n"
    "        if text.startswith('Epoch 1'): self.out.flush(); os.kill(os.getpid(), signal.SIGINT)\n"
    "    def __getattr__(self, name): return getattr(self.out, name)\n"
    "sys.stdout = Watch(sys.stdout)\n"
    "sys.argv = sys.argv[1:]; runpy.run_path(sys.argv[0], run_name='__main__')"
)
SEPARATE = {  # a word of the test's name -> (the -c wrapper or None, lesson, flags)
    "spawn": (FORCE_SPAWN, "02_data.py", ["--num-workers", "1", "--subset", "300"]),
    "ctrl_c": (CTRL_C_IN_EPOCH_1, "06_train.py", ["--epochs", "1000"]),
    "piping": (None, "01_tensors.py", []),  # read by the test like `| head -1`
}


def python(*args, cwd, **kwargs):
    """Popen of this Python with the lesson folder importable, as `python lesson.py` has it."""
    env = os.environ | OFFLINE | {"PYTHONUNBUFFERED": "1", "PYTHONDONTWRITEBYTECODE": "1"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return subprocess.Popen([sys.executable, *map(str, args)], cwd=cwd, env=env, text=True, **kwargs)


@pytest.fixture(scope="session", autouse=True)
def separate(request, synthetic_data, tmp_path_factory):
    """Lesson runs that need a process of their own, started when the session starts.

    Each takes seconds of imports, which then overlap with the tests that run in this
    process. Only the runs of selected tests start. Returns word -> (Popen, its folder).
    """
    selected = " ".join(item.name for item in request.session.items)
    started = {}
    for word, (wrapper, lesson, flags) in SEPARATE.items():
        if word not in selected or (word == "piping" and not hasattr(signal, "SIGPIPE")):
            continue
        cwd = tmp_path_factory.mktemp(word)
        shutil.copytree(synthetic_data, cwd / "data")
        if word == "ctrl_c":  # a good weights file that the interrupted run must not touch
            (cwd / "outputs").mkdir()
            common.save_atomically(common.NeuralNetwork().state_dict(), cwd / "outputs" / "model_weights.pth")
        args = ["-c", wrapper] if wrapper else []
        proc = python(*args, REPO / lesson, *flags, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        started[word] = proc, cwd
    yield started
    for proc, _ in started.values():
        proc.kill()  # no-op once it has exited


def test_workers_under_spawn_do_not_rerun_the_lesson(separate):
    # A spawned worker is a fresh Python that would import the main script again: the
    # lesson must run once, its worker load batches, and no traceback appear.
    proc, _ = separate["spawn"]
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0 and "Traceback" not in err, err
    assert out.count("Training samples: 300") == 1  # printed once: the worker did not re-run it
    assert "Worker processes loading batches: 1 (num_workers=1)" in out
    assert "Feature batch shape: torch.Size([64, 1, 28, 28])" in out


@pytest.mark.skipif(sys.platform == "win32", reason="no SIGINT to send on Windows")
def test_ctrl_c_during_training_keeps_the_saved_weights(separate):
    proc, cwd = separate["ctrl_c"]
    weights = cwd / "outputs" / "model_weights.pth"
    before = weights.read_bytes()
    out, err = proc.communicate(timeout=300)
    # Python ends by its own SIGINT after Ctrl-C, as a shell expects (exit status 130 there).
    assert proc.returncode == -signal.SIGINT and "Traceback" not in err, err
    assert err.startswith("error: interrupted (Ctrl-C)") and len(err.strip().splitlines()) == 1
    assert "Epoch 1" in out and "Saved weights" not in out
    assert weights.read_bytes() == before


@pytest.mark.skipif(not hasattr(signal, "SIGPIPE"), reason="no SIGPIPE on Windows")
def test_piping_into_head_ends_quietly(separate):
    proc, _ = separate["piping"]
    first = proc.stdout.readline()  # like `python 01_tensors.py | head -1`
    proc.stdout.close()
    err = proc.stderr.read()
    proc.wait(timeout=300)
    assert first.startswith("Using ") and "Traceback" not in err and "BrokenPipeError" not in err, err


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
    notes, ours = NotesNetwork(), common.NeuralNetwork()
    assert not torch.equal(ours(x), notes(x))  # different random weights at first
    ours.load_state_dict(notes.state_dict())  # notes -> ours
    assert torch.equal(ours(x), notes(x))
    ours, notes = common.NeuralNetwork(), NotesNetwork()
    notes.load_state_dict(ours.state_dict())  # ours -> notes
    assert torch.equal(notes(x), ours(x))


def test_save_atomically_keeps_the_old_file_when_writing_fails(tmp_path, monkeypatch):
    path = tmp_path / "model_weights.pth"
    common.save_atomically({"w": torch.ones(2)}, path)

    def broken_save(obj, f):
        Path(f).write_bytes(b"half a file")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(OSError):
        common.save_atomically({"w": torch.zeros(2)}, path)
    assert torch.equal(torch.load(path, weights_only=True)["w"], torch.ones(2))
    assert [p.name for p in tmp_path.iterdir()] == ["model_weights.pth"]  # no temp file left


def save_many(path, value, count):
    for _ in range(count):
        common.save_atomically({"w": torch.full((20_000,), float(value))}, path)


def test_concurrent_saves_never_mix_two_files(tmp_path):
    path = tmp_path / "model_weights.pth"
    common.save_atomically({"w": torch.zeros(20_000)}, path)
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
    writers = [context.Process(target=save_many, args=(path, value, 150)) for value in (1, 2)]
    for writer in writers:
        writer.start()
    seen = set()
    while any(writer.is_alive() for writer in writers):
        w = torch.load(path, weights_only=True)["w"]
        assert (w == w[0]).all(), "a file mixing two saves"
        seen.add(w[0].item())
    for writer in writers:
        writer.join()
        assert writer.exitcode == 0
    assert seen <= {0.0, 1.0, 2.0} and len(seen) >= 2
    assert [p.name for p in tmp_path.iterdir()] == ["model_weights.pth"]
