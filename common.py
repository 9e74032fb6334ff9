"""Shared plumbing for the lessons: settings, device, seeding, the data check, the
network of lessons 06 and 07, figures and safe saving.

Nothing a lesson is *about* lives here: read the numbered scripts first and come
here to look things up. Most of this file turns mistakes a learner can make (no
internet, a misplaced data folder, a bad flag, a damaged file) into one paragraph
that says what went wrong and what to do, instead of a traceback.
"""

import argparse
import atexit
import contextlib
import errno
import gc
import importlib.machinery
import io
import math
import os
import pickle
import random
import re
import signal
import sys
import tempfile
from pathlib import Path
from typing import Any, NoReturn

import torch
from torch import nn
from torch.utils.data import Dataset, Subset, TensorDataset

# Everything the lessons write (figures, weights) goes below this folder of the
# working directory; the data set goes to data_dir. Both are in .gitignore.
OUTPUT_DIR = Path("outputs")

# The trained weights that 06_train.py writes and 07_save_load.py reads.
WEIGHTS_PATH = OUTPUT_DIR / "model_weights.pth"

# Fashion-MNIST's label -> name, as in the notes' labels_map.
CLASSES = (
    "T-Shirt",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle Boot",
)

# The four files torchvision reads, in <data_dir>/FashionMNIST/raw/, with their sizes
# in bytes in the official release (60,000 training and 10,000 test images).
DATA_FILES = {
    "train-images-idx3-ubyte": 47_040_016,
    "train-labels-idx1-ubyte": 60_008,
    "t10k-images-idx3-ubyte": 7_840_016,
    "t10k-labels-idx1-ubyte": 10_008,
}


# ---------------------------------------------------------------------------
# Errors a learner can fix
# ---------------------------------------------------------------------------
def fail(message: str) -> NoReturn:
    """Print one paragraph saying what went wrong and what to do, then exit with status 1."""
    print(f"error: {message}", file=sys.stderr)
    sys.exit(1)


def reason(err: BaseException, line: int = 0) -> str:
    """`ErrorType: one line of its message` (the first by default), without terminal colour codes."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(err))
    lines = [part.strip() for part in text.splitlines() if part.strip()]
    return f"{type(err).__name__}: {lines[line][:200]}" if lines else type(err).__name__


# ---------------------------------------------------------------------------
# Settings: the same names, types and help in every lesson
# ---------------------------------------------------------------------------
def _whole_number(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None


def positive_int(text: str) -> int:
    """A whole number of at least 1."""
    value = _whole_number(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def seed_value(text: str) -> int:
    """A whole number that torch.manual_seed accepts: 0 up to 2**64 - 1."""
    value = _whole_number(text)
    if not 0 <= value < 2**64:
        raise argparse.ArgumentTypeError(f"must be from 0 to 2**64 - 1, got {value}")
    return value


def worker_count(text: str) -> int:
    """DataLoader workers: from 0 up to the number of CPU cores.

    Each worker is a whole process with its own copy of the dataset; far more
    workers than cores only costs memory (thousands of them exhaust it).
    """
    value = _whole_number(text)
    cores = os.cpu_count() or 1
    if not 0 <= value <= cores:
        raise argparse.ArgumentTypeError(
            f"must be from 0 to {cores} (this machine's CPU cores), got {value}; "
            "each worker is a separate process with its own memory"
        )
    return value


def learning_rate(text: str) -> float:
    """A number above 0 that a float32 parameter update can use (at most about 3.4e38)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 < value <= torch.finfo(torch.float32).max:
        raise argparse.ArgumentTypeError(
            f"must be above 0 and at most 3.4e38 (float32's largest), got {text}"
        )
    return value


def device_name(text: str) -> str:
    """A name torch.device() accepts, such as cpu, cuda, cuda:1 or mps."""
    try:
        torch.device(text)
    except RuntimeError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a device name; use cpu, cuda, cuda:1, mps, xpu, ..."
        ) from None
    return text


def optimizer_name(text: str) -> str:
    if text not in ("sgd", "adam"):
        raise argparse.ArgumentTypeError(f"must be sgd or adam, got {text!r}")
    return text


def user_path(text: str) -> Path:
    """A path, with a leading ~ expanded to the home folder (shells leave --flag=~/x alone)."""
    return Path(text).expanduser()


# name -> (type, help). Lessons pick the ones they use and give their defaults.
SETTINGS = {
    "device": (device_name, "where tensors live: cpu, cuda, cuda:1, mps, ... (None: the accelerator if any)"),
    "seed": (seed_value, "random seed; the same seed prints the same numbers"),
    "data_dir": (user_path, "folder that holds FashionMNIST/raw/; downloaded there if missing"),
    "subset": (positive_int, "use only the first N samples of each split, for quick runs (None: all)"),
    "num_workers": (worker_count, "DataLoader worker processes; 0 loads in the main process"),
    "epochs": (positive_int, "passes over the training set"),
    "batch_size": (positive_int, "training batch size"),
    "lr": (learning_rate, "learning rate: how far each step moves the parameters"),
    "optimizer": (optimizer_name, "sgd (as in the notes) or adam"),
    "weights": (user_path, f"state_dict file to load (None: {WEIGHTS_PATH}, if 06_train.py wrote it)"),
    "pretrained": (bool, "download VGG16's ImageNet weights (528 MB) instead of building it untrained"),
}


def parse_settings(**defaults: Any) -> argparse.Namespace:
    """The lesson's settings: `defaults`, overridden by command-line flags when run as a script.

    `python 06_train.py --epochs 3` sets epochs=3 (`--help` lists the flags). In a
    notebook, an editor's cell runner or a pasted cell, no flags are read (sys.argv
    then holds the kernel's own arguments): edit the defaults in the call instead.
    Either way, each value is checked the same way.
    """
    caller = sys._getframe(1).f_globals
    as_script = _run_as_script(caller)
    if as_script:
        _prepare_script(caller)
    parser = argparse.ArgumentParser(
        description=caller.get("__doc__") if as_script else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        allow_abbrev=False,  # --epoch is a typo, not --epochs
    )
    for name, default in defaults.items():
        kind, text = SETTINGS[name]
        flag = "--" + name.replace("_", "-")
        if kind is bool:
            parser.add_argument(flag, action="store_true", default=default, help=f"{text} (default: off)")
        else:
            parser.add_argument(flag, type=kind, default=default, help=f"{text} (default: {default})")
    if as_script:
        return parser.parse_args()
    args = parser.parse_args([])
    for name, value in vars(args).items():  # argparse checks only flags given as text
        kind = SETTINGS[name][0]
        if value is not None and kind is not bool:
            try:
                setattr(args, name, kind(str(value)))
            except argparse.ArgumentTypeError as err:
                fail(f"setting {name}={value!r}: {err}. Change it in the settings cell.")
    return args


def _run_as_script(caller: dict) -> bool:
    """True for `python 0X_lesson.py`; False in a notebook kernel, which has no __file__."""
    file = caller.get("__file__")
    if caller.get("__name__") != "__main__" or not file or not sys.argv:
        return False
    return Path(sys.argv[0]).resolve() == Path(file).resolve()


def _prepare_script(caller: dict) -> None:
    """What a command-line lesson needs and a notebook does not."""
    # Ctrl-C: one line instead of a traceback. Files are saved whole or not at all
    # (save_atomically), so whatever was saved before is intact.
    sys.excepthook = _report_interrupt
    # `python 01_tensors.py | head` closes the pipe early: end quietly, as other
    # command-line tools do, instead of with a BrokenPipeError.
    if hasattr(signal, "SIGPIPE"):
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    # A terminal that cannot show the Chinese titles shows \u escapes instead of crashing.
    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")
    # DataLoader worker processes started with "spawn" or "forkserver" (Windows, macOS,
    # Linux from Python 3.14) import the main script again from the top, which for
    # these top-level lessons would run the whole lesson once per worker. A __spec__
    # named __main__ tells multiprocessing not to re-import the script (as for
    # `python -m package`). So what a worker receives, the dataset and its transforms,
    # must come from an importable module: torchvision's, or a .py file of yours.
    # Your own scripts use `if __name__ == "__main__":` instead (see 02_data.py).
    if caller.get("__spec__") is None:
        caller["__spec__"] = importlib.machinery.ModuleSpec("__main__", None)
    # Python's shutdown briefly takes about 100 MB more (torch's libraries unloading).
    # Free the lesson's data and model first, so that this does not come on top of them.
    atexit.register(_free_globals, caller)


def _free_globals(namespace: dict) -> None:
    for name in [name for name in namespace if not name.startswith("__")]:
        del namespace[name]
    gc.collect()


def _report_interrupt(kind, value, tb) -> None:
    if issubclass(kind, KeyboardInterrupt):
        print(
            "error: interrupted (Ctrl-C). Files are saved whole or not at all, so anything saved "
            "before is intact; nothing from the interrupted step was saved. Run again to redo it.",
            file=sys.stderr,
        )
    else:
        sys.__excepthook__(kind, value, tb)


# ---------------------------------------------------------------------------
# Device and seeding
# ---------------------------------------------------------------------------
def get_device(requested: str | None = None) -> torch.device:
    """The device to compute on, printed as `Using <device> device`.

    `requested` (the device setting) wins when given; otherwise the current
    accelerator (CUDA, MPS, XPU, ...) if one is available, else the CPU. This is
    the current PyTorch way; older code checked torch.cuda.is_available() and
    torch.backends.mps.is_available() one by one.
    """
    if requested is None:
        if torch.accelerator.is_available():
            device = torch.accelerator.current_accelerator()
        else:
            device = torch.device("cpu")
    else:
        device = torch.device(requested)
        if device.type != "cpu" and not _is_available(device):
            found = "cpu"
            if torch.accelerator.is_available():
                found += f" and {torch.accelerator.device_count()} "
                found += f"{torch.accelerator.current_accelerator().type} device(s)"
            fail(
                f"--device {requested} is not available on this machine (found: {found}). "
                "Leave it out (no --device flag, or device=None in the settings cell) to pick "
                "the best available device, or use cpu."
            )
    print(f"Using {device} device")
    return device


def _is_available(device: torch.device) -> bool:
    if not torch.accelerator.is_available():
        return False
    if torch.accelerator.current_accelerator().type != device.type:
        return False
    return device.index is None or device.index < torch.accelerator.device_count()


def seed_everything(seed: int) -> None:
    """Seed Python's and PyTorch's random generators (all devices), so runs repeat."""
    random.seed(seed)
    torch.manual_seed(seed)


# ---------------------------------------------------------------------------
# Fashion-MNIST: the data check
# ---------------------------------------------------------------------------
def prepare_data(data_dir: Path) -> Path:
    """Make sure Fashion-MNIST is in <data_dir>/FashionMNIST/raw/ and readable; return data_dir.

    Downloads it if missing. Afterwards the lesson's own
    `datasets.FashionMNIST(root=data_dir, train=..., download=True)` finds the files
    and reads them. Every way this can fail (offline, a misplaced or read-only
    folder, damaged or inconsistent files) ends in one paragraph saying what to do.
    """
    root = Path(data_dir).expanduser()
    if root.exists() and not root.is_dir():
        fail(f"--data-dir {root} is a file, not a folder. Pass the folder that holds FashionMNIST/raw/.")
    _refuse_misplaced_files(root)
    raw = root / "FashionMNIST" / "raw"
    if not all((raw / name).is_file() for name in DATA_FILES):
        print(f"Fashion-MNIST is not in {raw}; downloading it (about 30 MB)...")
        _download(root, raw)
    for train in (True, False):
        _check_split(root, raw, train)
    return root


def is_official_release(data_dir: Path) -> bool:
    """True when the four files have the official release's sizes (60,000 + 10,000 images)."""
    raw = Path(data_dir).expanduser() / "FashionMNIST" / "raw"
    return all(
        (raw / name).is_file() and (raw / name).stat().st_size == size for name, size in DATA_FILES.items()
    )


def _refuse_misplaced_files(root: Path) -> None:
    """Stop before downloading when data_dir names the raw/ or FashionMNIST/ folder itself."""
    folder = root.resolve()
    if any((root / f"{name}{gz}").is_file() for name in DATA_FILES for gz in ("", ".gz")):
        if folder.parts[-2:] == ("FashionMNIST", "raw"):
            advice = f"pass --data-dir {folder.parent.parent}"
        else:
            advice = f"move the files into {folder / 'FashionMNIST' / 'raw'}, or pass its parent folder"
    elif (root / "raw").is_dir() and not (root / "FashionMNIST").exists():
        advice = f"pass --data-dir {folder.parent}"
    else:
        return
    fail(
        f"--data-dir {root} holds the Fashion-MNIST files, but it should name the folder above "
        f"FashionMNIST/raw/, where torchvision looks for them: {advice}."
    )


def _download(root: Path, raw: Path) -> None:
    from torchvision import datasets  # imported here: it adds seconds to lessons without data

    log = io.StringIO()
    try:
        with contextlib.redirect_stdout(log):  # torchvision prints every mirror it tries
            for train in (True, False):
                datasets.FashionMNIST(root=root, train=train, download=True)
    except Exception as err:
        missing = ", ".join(name for name in DATA_FILES if not (raw / name).is_file())
        by_hand = (
            f"put the four files {', '.join(DATA_FILES)} (uncompressed, or their .gz downloads) "
            f"into {raw.resolve()} by hand, or pass --data-dir with a folder that holds FashionMNIST/raw/"
        )
        if isinstance(err, OSError) and err.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            fail(
                f"could not download Fashion-MNIST into {root.resolve()}: that folder cannot be written "
                f"({reason(err)}). Pass --data-dir with a folder you can write to, or {by_hand}."
            )
        if any((raw / f"{name}.gz").is_file() for name in DATA_FILES if not (raw / name).is_file()):
            fail(
                f"the .gz files in {raw.resolve()} do not match the official release's checksums "
                f"(recompressed or damaged?), so torchvision tried to download them again and could not "
                f"({reason(err, line=-1)}). Decompress them yourself (for example `gunzip -k *.gz` in that "
                f"folder) so that {missing} are there, or replace them with the original downloads."
            )
        tried = [line.split()[-1] for line in log.getvalue().splitlines() if line.startswith("Downloading")]
        where = f"from {tried[0]}, " if tried else ""
        fail(
            f"could not download Fashion-MNIST ({where}{reason(err, line=-1)}); missing: {missing}. "
            f"Either run again with internet access, or {by_hand}."
        )


def _check_split(root: Path, raw: Path, train: bool) -> None:
    """Read one split with torchvision's own reader; fail clearly if it is damaged or inconsistent."""
    from torchvision import datasets

    prefix = "train" if train else "t10k"
    images, labels = raw / f"{prefix}-images-idx3-ubyte", raw / f"{prefix}-labels-idx1-ubyte"
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            split = datasets.FashionMNIST(root=root, train=train, download=True)
    except Exception as err:
        fail(
            f"could not read the Fashion-MNIST files in {raw.resolve()} ({reason(err, line=-1)}). "
            f"A file is probably damaged or incomplete: delete that folder and run again "
            f"to download fresh copies, or copy the four files there from a good source."
        )
    problem = None
    if split.data.shape[1:] != (28, 28):
        problem = f"{images} holds images of {tuple(split.data.shape[1:])} pixels, not 28x28"
    elif len(split.data) != len(split.targets):
        problem = f"{labels} holds {len(split.targets)} labels but {images} holds {len(split.data)} images"
    elif len(split.targets) and not 0 <= int(split.targets.min()) <= int(split.targets.max()) <= 9:
        bad = int(split.targets.max() if split.targets.max() > 9 else split.targets.min())
        problem = f"{labels} holds the label {bad}, but Fashion-MNIST's labels are 0 to 9"
    if problem:
        fail(
            f"{problem}. The files do not belong together or one is damaged: replace the four files "
            f"in {raw.resolve()} with the official ones (delete the folder to download them again)."
        )


def keep_first(dataset: Dataset, n: int | None) -> Dataset:
    """The first `n` samples of `dataset` (the subset setting), or all of them when n is None."""
    if n is None:
        return dataset
    if n >= len(dataset):
        if n > len(dataset):
            print(f"subset {n} is more than the {len(dataset)} samples of this split: using all of them.")
        return dataset
    if isinstance(dataset, TensorDataset):  # stays a TensorDataset, with its .tensors
        return TensorDataset(*(tensor[:n] for tensor in dataset.tensors))
    return Subset(dataset, range(n))


# ---------------------------------------------------------------------------
# The network of lessons 06 and 07 (lesson 04 builds it step by step)
# ---------------------------------------------------------------------------
class NeuralNetwork(nn.Module):
    """The notes' classifier: flatten a 28x28 image, then 784 -> 512 -> 512 -> 10 with ReLUs.

    The attribute names (`flatten`, `linear_relu_stack`) are the notes' own, so a
    state_dict saved by the notes' code loads into this class and the other way round.
    """

    def __init__(self) -> None:
        super().__init__()
        self.flatten = nn.Flatten()
        self.linear_relu_stack = nn.Sequential(
            nn.Linear(28 * 28, 512),
            nn.ReLU(),
            nn.Linear(512, 512),
            nn.ReLU(),
            nn.Linear(512, 10),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 1, 28, 28) or (N, 28, 28) images -> (N, 10) logits, one raw score per class."""
        x = self.flatten(x)  # (N, 1, 28, 28) -> (N, 784)
        logits = self.linear_relu_stack(x)
        return logits


def check_finite_loss(loss: float, epoch: int, lr: float) -> None:
    """Stop training with a clear message once the loss is NaN or infinite (it diverged)."""
    if not math.isfinite(loss):
        fail(
            f"the training loss became {loss} in epoch {epoch}: training diverged, because the "
            f"learning rate {lr:g} is too high for this model. Run again with a smaller --lr "
            f"(the notes use 1e-3). Nothing was saved; {WEIGHTS_PATH}, if any, is unchanged."
        )


# ---------------------------------------------------------------------------
# Files: the outputs folder, figures, weights
# ---------------------------------------------------------------------------
def check_output_dir(folder: Path = OUTPUT_DIR) -> Path:
    """Create `folder` and make sure files can be written there, before any long work; return it."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as err:
        what = "is a file, not a folder" if folder.exists() and not folder.is_dir() else "cannot be written"
        fail(
            f"the output folder {folder.resolve()} {what} ({reason(err)}). The lessons save their "
            f"figures and weights there: make it a writable folder, or run from another folder."
        )
    return folder


def save_figure(fig: Any, name: str) -> Path:
    """Save a matplotlib figure as outputs/<name>.png, print its path, and show it where possible.

    In a notebook the figure also shows inline. Without a screen (a server, CI, or
    MPLBACKEND=Agg, which the tests set) matplotlib picks its file-only Agg backend
    by itself; then the figure is only saved and nothing blocks on a window.
    """
    import matplotlib.pyplot as plt

    path = check_output_dir() / f"{name}.png"
    try:
        fig.savefig(path, dpi=100, bbox_inches="tight")
    except OSError as err:
        fail(f"could not write {path} ({reason(err)}); check the folder and the free disk space.")
    print(f"Saved figure: {path}")
    if _can_show():
        plt.show()
    plt.close(fig)
    return path


def _can_show() -> bool:
    import matplotlib

    backend = matplotlib.get_backend().lower()
    return backend not in {"agg", "cairo", "pdf", "pgf", "ps", "svg", "template"}


def save_atomically(obj: Any, path: Path) -> None:
    """torch.save(obj, path), but never leave a half-written or mixed file at `path`.

    The object goes to a temporary file of its own beside `path`, which then
    replaces `path` in one step (os.replace). If the run is interrupted, the disk is
    full, or another process saves to the same path at the same time, `path` holds
    one complete file: the old one or a new one.
    """
    path = Path(path)
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(handle)
    try:
        torch.save(obj, tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_weights(state_dict: dict, path: Path = WEIGHTS_PATH) -> None:
    """Save a model's state_dict atomically; refuse NaN or infinite weights; fail clearly."""
    if not all(torch.isfinite(tensor).all() for tensor in state_dict.values()):
        fail(
            f"the weights hold NaN or infinite values: training diverged (try a smaller --lr). "
            f"They were not saved, so {path}, if any, is unchanged."
        )
    try:
        save_atomically(state_dict, path)
    except (OSError, RuntimeError) as err:  # torch.save reports a full disk as RuntimeError
        fail(
            f"could not write {path} ({reason(err)}); check that the folder is writable and the "
            f"disk has space, then run again. An older file there is unchanged."
        )
    print(f"Saved weights: {path}")


def check_state_dict_file(path: Path, model: nn.Module) -> None:
    """Fail clearly unless torch.load(path, weights_only=True) gives a state_dict that fits `model`."""
    path = Path(path)
    if not path.is_file():
        fail(
            f"--weights {path}: no such file. Train and save one with `python 06_train.py`, "
            f"or pass the path of a file it wrote."
        )
    try:
        state_dict = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        found = re.search(r"GLOBAL ([\w.]+)", str(err))
        what = f"a pickled Python object ({found.group(1)})" if found else "pickled Python objects"
        fail(
            f"{path} holds {what}, such as a whole model saved with torch.save(model), not a state_dict. "
            f"Load it with weights_only=False only if you trust where it came from, then save "
            f"model.state_dict() instead; or pass a file written by 06_train.py."
        )
    except Exception as err:
        fail(
            f"{path} is not a readable PyTorch weights file ({reason(err)}). It may be truncated "
            f"or another kind of file: run `python 06_train.py` to write a fresh one."
        )
    if not isinstance(state_dict, dict):
        fail(f"{path} holds a {type(state_dict).__name__}, not a state_dict: pass a file 06_train.py wrote.")
    expected = model.state_dict()
    missing = [key for key in expected if key not in state_dict]
    unexpected = [key for key in state_dict if key not in expected]
    wrong = [
        key
        for key in expected
        if key in state_dict and getattr(state_dict[key], "shape", None) != expected[key].shape
    ]
    if missing or unexpected or wrong:
        problems = {"missing keys": missing, "unexpected keys": unexpected, "wrong shapes": wrong}
        parts = [
            f"{label}: {', '.join(keys[:4])}{' ...' if len(keys) > 4 else ''}"
            for label, keys in problems.items()
            if keys
        ]
        fail(
            f"{path} holds the state_dict of another network ({'; '.join(parts)}). "
            f"Pass a file written by 06_train.py for this lesson's NeuralNetwork."
        )


def fetch_pretrained_vgg16() -> None:
    """Download VGG16's ImageNet weights (528 MB) into torch's cache now, or fail clearly.

    Called before the long part of a lesson, so that being offline is reported at once;
    afterwards models.vgg16(weights="IMAGENET1K_V1") loads them from the cache.
    """
    from torchvision.models import VGG16_Weights

    try:
        VGG16_Weights.IMAGENET1K_V1.get_state_dict(progress=True)
    except Exception as err:  # offline, a proxy, a full disk ...
        fail(
            f"could not download VGG16's ImageNet weights ({reason(err)}). Run without "
            f"--pretrained to use an untrained VGG16, or run again with internet access."
        )
