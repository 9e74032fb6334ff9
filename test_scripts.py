"""Runs every lesson the ways learners do and checks what it prints and writes: cell by cell
(each cell twice, in one namespace, with a Jupyter kernel's sys.argv) and as a script with flags
(in this process, with runpy, so that torch is imported once). No network and no real data: a
fixture writes a tiny Fashion-MNIST in its own IDX format, with a clear pattern per class to
learn. Every run happens in a temporary folder: nothing lands in the repository."""

import contextlib
import io
import multiprocessing
import os
import re
import runpy
import shutil
import struct
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

os.environ["MPLBACKEND"] = "Agg"  # figures are saved, never shown
import common  # noqa: E402  (after MPLBACKEND)

REPO = Path(__file__).resolve().parent
LESSONS = sorted(path.name for path in REPO.glob("0[1-7]_*.py"))
REPO_FILES = sorted(path.name for path in REPO.iterdir())
N_TRAIN, N_TEST = 1000, 200  # sizes of the synthetic splits
# What sys.argv holds in a Jupyter kernel: the kernel's own flags, not the lesson's.
KERNEL_ARGV = ["/usr/lib/python3/site-packages/ipykernel_launcher.py", "-f", "/tmp/kernel-1a2b.json"]
# An unreachable proxy: any download fails at once, as it would offline.
OFFLINE = {name: "http://127.0.0.1:9" for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY")}


@pytest.fixture(scope="session")
def synthetic_data(tmp_path_factory):
    """A folder holding FashionMNIST/raw/: noisy images in which class k has a bright bar at column 2 + 2k."""
    root = tmp_path_factory.mktemp("data")
    (root / "FashionMNIST" / "raw").mkdir(parents=True)
    rng = np.random.default_rng(0)
    for split, count in (("train", N_TRAIN), ("t10k", N_TEST)):
        labels = rng.permutation(np.arange(count) % 10)
        images = rng.integers(0, 90, size=(count, 28, 28))
        for image, label in zip(images, labels, strict=True):
            image[4:24, 2 + 2 * label : 5 + 2 * label] = 255
        for kind, array in (("images-idx3", images), ("labels-idx1", labels)):
            header = struct.pack(f">4B{array.ndim}I", 0, 0, 0x08, array.ndim, *array.shape)  # IDX, uint8
            path = root / "FashionMNIST" / "raw" / f"{split}-{kind}-ubyte"
            path.write_bytes(header + array.astype(np.uint8).tobytes())
    return root


@pytest.fixture
def workdir(tmp_path, monkeypatch, synthetic_data):
    """A folder to run lessons in, with the data in data/; in memory if it can be (07 writes 528 MB)."""
    shm = Path("/dev/shm")
    in_memory = shm.is_dir() and os.access(shm, os.W_OK) and shutil.disk_usage(shm).free > 4e9
    folder = shm / f"pytorch-basics-{os.getpid()}-{tmp_path.name}" if in_memory else tmp_path
    shutil.copytree(synthetic_data, folder / "data")
    monkeypatch.chdir(folder)
    for name, value in OFFLINE.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("TORCH_HOME", str(folder / "torch_home"))  # no cached VGG16 weights
    yield folder
    if in_memory:
        shutil.rmtree(folder, ignore_errors=True)


def cells(lesson):
    """The lesson's `# %%` cells, in order, each padded so that tracebacks show the file's line numbers."""
    text = (REPO / lesson).read_text(encoding="utf-8")
    chunks = re.split(r"(?m)^(?=# %%)", text)
    starts = np.cumsum([0] + [chunk.count("\n") for chunk in chunks[:-1]])
    return ["\n" * start + chunk for start, chunk in zip(starts, chunks, strict=True)]


def run_cells(lesson, monkeypatch, cell_list=None, edits=(), times=2):
    """Run cells as a notebook would, each `times` times, after `edits`; return (namespace, output)."""
    monkeypatch.setattr(sys, "argv", KERNEL_ARGV)
    namespace = {"__name__": "__main__"}  # a kernel's namespace has no __file__
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        for cell in cells(lesson) if cell_list is None else cell_list:
            for old, new in edits:
                cell = cell.replace(old, new)
            code = compile(cell, str(REPO / lesson), "exec")
            for _ in range(times):
                exec(code, namespace)
    return namespace, out.getvalue()


def run_script(lesson, *args, monkeypatch):
    """`python lesson args`, in this process; returns (exit status, stdout, stderr)."""
    monkeypatch.setattr(sys, "argv", [str(REPO / lesson), *map(str, args)])
    out, err, status = io.StringIO(), io.StringIO(), 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            runpy.run_path(str(REPO / lesson), run_name="__main__")
        except SystemExit as exit:  # as Python reports it: a text goes to stderr, with status 1
            status = exit.code if isinstance(exit.code, int) else 1
            print(exit.code, file=sys.stderr) if isinstance(exit.code, str) else None
    return status, out.getvalue(), err.getvalue()


def one_paragraph(err):
    """The error text, on one line, after checking that it is one paragraph with no traceback."""
    assert err.strip() and "Traceback" not in err and "\n\n" not in err.strip() and "\x1b[" not in err, err
    return " ".join(err.split())


def assert_png(path):
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 2000, path


# What a learner should see in each lesson's output (cell by cell, so each line appears twice).
PRINTED = {
    "01_tensors.py": [
        "torch.cat(dim=1) shape: torch.Size([4, 12])",
        "empty out= resized to (4, 4), silently: True",
        "b = a * 2; b.add_(1): backward works, a.grad = tensor([2., 2., 2.])",
        "n: [2. 2. 2. 2. 2.]",
    ],
    "02_data.py": [
        f"Training samples: {N_TRAIN}",
        "all 16 images and labels equal the originals",
        "Worker processes loading batches: 0 (num_workers=0)",
        "Labels batch shape: torch.Size([64]), dtype: torch.int64",
    ],
    "03_transforms.py": [
        "ToTensor: shape (1, 28, 28), dtype torch.float32, max 1.000",
        "ToTensor of a float64 array of 7s: dtype torch.float64, values [7.0]",
        "one-hot targets torch.Size([64, 10])",
    ],
    "04_model.py": [
        "After nn.Flatten: torch.Size([3, 784])",
        "Layer: linear_relu_stack.0.weight | Size: torch.Size([512, 784]) | param[:2]: (2, 784)",
        "Total parameters: 669,706",
    ],
    "05_autograd.py": [
        "w.grad_fn = None, x.grad_fn = None (leaves)",
        "x.grad after y.backward() as well: 36.0",
        "t = -2.0: graph ends in ExpBackward0",
        "has a shape of torch.Size([5, 4]).",  # the wrong-shape message, not cut mid-word
    ],
}


@pytest.mark.parametrize("lesson", sorted(PRINTED))
def test_lesson_cell_by_cell(lesson, workdir, monkeypatch):
    ns, out = run_cells(lesson, monkeypatch)
    for line in [*PRINTED[lesson], "Using ", f"Exercise {lesson[:2]}.2: not tried yet"]:
        assert out.count(line) >= 2, f"{line!r} not printed twice in:\n{out}"
    if lesson == "02_data.py":
        assert_png(workdir / "outputs" / "02_samples.png")
    if lesson == "04_model.py":  # 04's class is the one 06 and 07 import: same layers, same outputs
        theirs, ours = ns["NeuralNetwork"](), common.NeuralNetwork()
        assert str(theirs) == str(ours)
        ours.load_state_dict(theirs.state_dict())
        x = torch.rand(2, 1, 28, 28)
        assert torch.equal(ours(x), theirs(x))


def printed_accuracy(text, label):
    return float(re.search(rf"{label}: ([\d.]+)%", text).group(1))


def test_06_then_07_cell_by_cell(workdir, monkeypatch):
    # A learner edits the settings cell: 3 epochs of adam, which learns the bars fast.
    edits = [("epochs=10", "epochs=3"), ('optimizer="sgd"', 'optimizer="adam"')]
    ns, out = run_cells("06_train.py", monkeypatch, edits=edits)
    trained = ns["accuracies"][-1]
    assert "epochs: 3, batch size: 64, optimizer: adam" in out
    assert out.count("Epoch 3\n") == 2 and "Epoch 4\n" not in out  # the loop cell ran twice
    assert trained > 0.6, out  # chance is 10%
    assert "Saved weights: outputs/model_weights.pth (replacing those of an earlier run)" in out
    assert_png(workdir / "outputs" / "06_learning_curves.png")

    ns, out = run_cells("07_save_load.py", monkeypatch)
    assert printed_accuracy(out, "Test accuracy of these weights") == round(100 * trained, 1)
    for line in [
        "Loaded weights from outputs/model_weights.pth (saved ",
        "A BatchNorm1d layer's state_dict: ['weight', 'bias', 'running_mean', 'running_var'",
        "the weights equal training without a break: True",
        "(a fresh optimizer): the weights differ: True",
        "refuses a whole model: UnpicklingError",
        "VGG16 (untrained): 138,357,544 parameters",
        "07_vgg16_weights.pth: 528 MiB",
        "train mode: two calls differ: True; eval mode: calls agree, and agree with the original: True",
    ]:
        assert line in out, f"{line!r} not in:\n{out}"
    assert re.search(r'Predicted: "[\w /-]+", Actual: "[\w /-]+"', out)
    assert_png(workdir / "outputs" / "07_predictions.png")


SCRIPT_FLAGS = {  # 06 and 07 run as scripts in test_06_then_07_as_scripts
    "01_tensors.py": ["--seed", "1", "--device", "cpu"],
    "02_data.py": ["--subset", "300", "--num-workers", "1", "--output-dir", "figures"],
    "03_transforms.py": ["--subset", "300", "--data-dir=~/data"],  # ~: the home folder
    "04_model.py": ["--seed", "3"],
    "05_autograd.py": ["--device", "cpu"],
}


@pytest.mark.parametrize("lesson", sorted(SCRIPT_FLAGS))
def test_lesson_as_a_script(lesson, workdir, monkeypatch, capfd):
    # Workers start as on Windows and macOS ("spawn"), importing the script again: not the lesson.
    monkeypatch.setenv("HOME", str(workdir))
    method = multiprocessing.get_start_method(allow_none=True)
    multiprocessing.set_start_method("spawn", force=True)
    try:
        status, out, err = run_script(lesson, *SCRIPT_FLAGS[lesson], monkeypatch=monkeypatch)
    finally:
        multiprocessing.set_start_method(method, force=True)
    assert status == 0 and not err, err
    assert "Using " in out and re.search(r"Exercise \d\d\.1: not tried yet", out)
    assert "Training samples" not in capfd.readouterr().out  # what a worker printed: nothing
    if lesson == "02_data.py":
        assert "Training samples: 300" in out and "Worker processes loading batches: 1 (num_workers=1)" in out
        assert_png(workdir / "figures" / "02_first_image.png")


def test_06_then_07_as_scripts(workdir, monkeypatch):
    status, out, err = run_script("06_train.py", "--epochs", "1", "--subset", "500", monkeypatch=monkeypatch)
    assert status == 0 and not err, err
    assert "Training on 500 samples, testing on 200; epochs: 1" in out and "for 1 epoch (" in out
    trained = printed_accuracy(out, "Final test accuracy")
    shutil.move(workdir / "outputs" / "model_weights.pth", workdir / "mine.pth")
    status, out, err = run_script("07_save_load.py", "--weights", "mine.pth", monkeypatch=monkeypatch)
    assert status == 0 and not err, err
    assert printed_accuracy(out, "Test accuracy of these weights") == trained


def make_bad_files(workdir):
    """Good weights where 06 saves (a failed run must leave them as they are), and bad inputs."""
    (workdir / "outputs").mkdir()
    torch.save(common.NeuralNetwork().state_dict(), workdir / "outputs" / "model_weights.pth")
    (workdir / "a_file").write_text("a file where a folder should be")
    (workdir / "text.pth").write_text("these are not weights")
    (workdir / "picture.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(100))
    torch.save(common.NeuralNetwork(), workdir / "whole.pth")
    torch.save(torch.nn.Linear(3, 2).state_dict(), workdir / "other.pth")
    torch.save({"epoch": 1, "model_state_dict": common.NeuralNetwork().state_dict()}, workdir / "saved.pth")


BAD_INPUTS = [  # (lesson, flags, what the message says, exit status: argparse's 2 for a bad flag)
    ("06_train.py", ["--data-dir", "nothing_here"], "could not get Fashion-MNIST into", 1),
    ("06_train.py", ["--data-dir", "data/FashionMNIST/raw"], "must name the folder above", 1),
    ("03_transforms.py", ["--data-dir", "data/FashionMNIST"], "must name the folder above", 1),
    ("06_train.py", ["--epochs", "0"], "argument --epochs: must be a whole number of at least 1", 2),
    ("06_train.py", ["--lr", "-0.1"], "argument --lr: must be a number above 0", 2),
    ("06_train.py", ["--optimizer", "adamw"], "argument --optimizer: must be sgd or adam", 2),
    ("06_train.py", ["--device", "cuda:99"], "--device: cuda:99 is not available on this machine", 2),
    ("04_model.py", ["--device", "gpu"], "argument --device: 'gpu' is not a device name", 2),
    ("02_data.py", ["--num-workers", "99999"], "argument --num-workers: must be from 0 to", 2),
    ("06_train.py", ["--output-dir", "a_file"], "argument --output-dir: a_file cannot be written", 2),
    ("06_train.py", ["--lr", "1e30", "--epochs", "2"], "diverged, because the learning rate 1e+30", 1),
    ("07_save_load.py", ["--weights", "missing.pth"], "of NeuralNetwork: FileNotFoundError", 2),
    ("07_save_load.py", ["--weights", "text.pth"], "text.pth is not a state_dict of NeuralNetwork", 2),
    ("07_save_load.py", ["--weights", "picture.png"], "picture.png is not a state_dict of", 2),
    ("07_save_load.py", ["--weights", "whole.pth"], "Unsupported global: GLOBAL common.NeuralNetwork", 2),
    ("07_save_load.py", ["--weights", "other.pth"], 'Missing key(s) in state_dict: "linear_relu_stack', 2),
    ("07_save_load.py", ["--weights", "saved.pth"], "is a checkpoint (keys: epoch, model_state_dict)", 2),
]


@pytest.mark.parametrize("lesson, flags, message, status", BAD_INPUTS, ids=lambda v: str(v)[:24])
def test_bad_input_is_one_clear_paragraph(lesson, flags, message, status, workdir, monkeypatch):
    make_bad_files(workdir)
    before = (workdir / "outputs" / "model_weights.pth").read_bytes()
    result = run_script(lesson, *flags, monkeypatch=monkeypatch)
    assert result[0] == status, result
    text = one_paragraph(result[2])
    assert message in text, text
    assert (workdir / "outputs" / "model_weights.pth").read_bytes() == before  # nothing saved is lost
    if status == 2:  # a bad flag is found before any work
        assert text.startswith("usage: ") and "Epoch" not in result[1]
    if "folder above" in message:
        assert f"pass --data-dir {(workdir / 'data').resolve()}." in text
        assert not (workdir / "data" / "FashionMNIST" / "FashionMNIST").exists()  # nothing made there
    if "Fashion-MNIST into" in message:  # where to get the files, and where to put them
        assert common.DATA_SOURCE in text and "t10k-labels-idx1-ubyte.gz" in text
        assert str((workdir / "nothing_here" / "FashionMNIST" / "raw").resolve()) in text
    assert "pickled" not in text or "whole" in flags[-1]


def test_a_bad_setting_in_a_notebook_is_a_clear_error(workdir, monkeypatch):
    with pytest.raises(SystemExit) as stop:
        run_cells("06_train.py", monkeypatch, edits=[("epochs=10", "epochs=0")])
    assert one_paragraph(str(stop.value)).startswith("error: setting epochs=0: must be a whole number")


SOLUTIONS_MD = (REPO / "SOLUTIONS.md").read_text(encoding="utf-8")
SOLUTIONS = dict(re.findall(r"### Exercise (\d\d\.\d).*?```python\n(.*?)```", SOLUTIONS_MD, re.S))
WRONG = {  # a plausible wrong answer to each exercise
    "01.1": "def outer_sum(col, row): return col.T + row.T",
    "01.2": "def numpy_copy(t): return t.numpy()",
    "02.1": "def __getitem__(self, i): return v2.functional.pil_to_tensor(Image.open(self.files[i])), i",
    "02.2": "def make_loader(dataset): return DataLoader(dataset, batch_size=10, shuffle=True)",
    "03.1": "def make_normalize(images): return v2.Normalize(mean=[0.5], std=[0.5])",
    "03.2": "def one_hot_batch(y): return torch.zeros(len(y), 10).scatter_(0, y[:, None], 1.0)",
    "04.1": "def count_parameters(sizes): return sum(a * b for a, b in zip(sizes[:-1], sizes[1:]))",
    "04.2": "def deeper_model(): return nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.Linear(256, 10))",
    "05.1": "def grad_by_hand(x): return x**2 * torch.cos(x)",
    "05.2": "def mse_gradient(X, w, y): return X.T @ (X @ w - y)",
    "06.1": "def per_class_accuracy(logits, y): return (logits.argmax(1) == y).float().mean().repeat(10)",
    "06.2": "def train_step(m, f, o, X, y): (loss := f(m(X), y)).backward(); o.step(); return loss.item()",
    "07.1": "def make_checkpoint(m, o, s, epoch): return {'model': m.state_dict(), 'epoch': epoch}",
    "07.2": "def load_weights(path): return torch.load(path, weights_only=True)",
}


def with_answer(cell, answer):
    """The exercise cell with its stub (from `def` to `...  # your code`) replaced by `answer`."""
    stub = re.search(r"(?m)^( *)def \w+\(.*\n(?:(?!\1def ).*\n)*?\1    \.\.\.  # your code\n", cell)
    answer = "".join(f"{stub.group(1)}{line}\n" for line in answer.splitlines())
    return cell[: stub.start()] + answer + cell[stub.end() :]


@pytest.mark.parametrize("name", sorted(WRONG))
def test_exercise_checks_itself(name, workdir, monkeypatch):
    lesson = next(lesson for lesson in LESSONS if lesson.startswith(name[:2]))
    code = [cell for cell in cells(lesson) if "parse_settings" in cell and "# %% [markdown]" not in cell]
    (cell,) = [cell for cell in cells(lesson) if f"# Exercise {name}:" in cell]
    for answer, verdict in [
        (None, "not tried yet"),
        (SOLUTIONS[name], "correct"),
        (WRONG[name], "not yet: "),
    ]:
        attempt = cell if answer is None else with_answer(cell, answer)
        _, out = run_cells(lesson, monkeypatch, cell_list=[*code, attempt], times=1)
        assert f"Exercise {name}: {verdict}" in out, out
        assert len(out.splitlines()[-1]) < 400 and "\n" not in out.split(f"Exercise {name}: ")[1].rstrip("\n")


def test_lessons_read_as_notebooks():
    for lesson in LESSONS:
        text = (REPO / lesson).read_text(encoding="utf-8")
        assert text.startswith(f"# %% [markdown]\n# # {lesson[:2]} · "), lesson  # the cover page, a title
        assert re.search(r"(?m)^# ## Settings 设置", text) and "# ## Further reading 延伸阅读\n# - [" in text
        assert not re.search(r"(?m)^(# %% [^\[]|[ \t]+# %%|def main\()", text), lesson  # no hidden titles
        names = re.search(r"(?m)^from common import (.*)$", text).group(1).split(", ")
        assert len(names) <= 5, f"{lesson} imports {len(names)} names from common.py"
        assert 2 <= len(re.findall(r"(?m)^# Exercise \d\d\.\d:", text)) <= 3, lesson
        assert 3 <= text.count("# Predict before you run:") <= 5, lesson
        # jupytext reads a comment that starts with a shell command (cat, ls, ...) as an escaped magic
        assert not re.search(r"(?m)^# (cat|cd|cp|ls|mv|rm|mkdir|echo)( |$)", text), lesson


def test_nothing_left_in_the_repository():
    assert sorted(path.name for path in REPO.iterdir()) == REPO_FILES
