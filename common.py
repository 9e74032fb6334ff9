"""Shared plumbing for the lessons: flags, device, seeding, data, the network, figures, files.

Only what several lessons need lives here. Everything a lesson is *about* stays in
the lesson itself, so read the numbered scripts first and come here to look things up.
"""

import argparse
import contextlib
import io
import os
import random
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

import torch
from torch import nn
from torch.utils.data import Dataset, Subset, TensorDataset

# Everything the lessons write (figures, weights) goes below this folder of the
# working directory; the data set goes to --data-dir. Both are in .gitignore.
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

# The four files torchvision reads, in <data-dir>/FashionMNIST/raw/.
DATA_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)


# ---------------------------------------------------------------------------
# Errors a learner can fix
# ---------------------------------------------------------------------------
def fail(message: str) -> NoReturn:
    """Print one paragraph saying what went wrong and how to fix it, then exit with status 1.

    Used for mistakes a learner can fix (missing data, bad files, no GPU), where a
    traceback would only hide the message.
    """
    print(f"error: {message}", file=sys.stderr)
    sys.exit(1)


def reason(err: BaseException, line: int = 0) -> str:
    """`ErrorType: one line of its message` (the first by default), short enough for `fail`."""
    lines = [text.strip() for text in str(err).splitlines() if text.strip()]
    return f"{type(err).__name__}: {lines[line][:200]}" if lines else type(err).__name__


# ---------------------------------------------------------------------------
# Flags: defined once here, so they mean the same in every lesson
# ---------------------------------------------------------------------------
def _whole_number(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None


def positive_int(text: str) -> int:
    """argparse type: an integer > 0."""
    value = _whole_number(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def non_negative_int(text: str) -> int:
    """argparse type: an integer >= 0."""
    value = _whole_number(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return value


def positive_float(text: str) -> float:
    """argparse type: a finite number > 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a number above 0, got {text}")
    return value


def device_name(text: str) -> str:
    """argparse type: a string torch.device() accepts, such as cpu, cuda, cuda:1 or mps."""
    try:
        torch.device(text)
    except RuntimeError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a device name; use cpu, cuda, cuda:1, mps, xpu, ..."
        ) from None
    return text


def make_parser(doc: str, *, data: bool = False, workers: bool = False) -> argparse.ArgumentParser:
    """An ArgumentParser with the flags every lesson shares.

    Every lesson gets --device and --seed; lessons that read Fashion-MNIST
    (data=True) also get --data-dir and --subset, and lessons that teach the
    DataLoader (workers=True) get --num-workers. `doc`, the lesson's docstring,
    heads the --help text.
    """
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--device",
        type=device_name,
        default=None,
        help="where tensors live: cpu, cuda, mps, ... (default: the accelerator if there is one, else cpu)",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=0,
        help="random seed; the same seed prints the same numbers (default: 0)",
    )
    if data:
        parser.add_argument(
            "--data-dir",
            type=Path,
            default=Path("data"),
            help="folder holding FashionMNIST/raw/; downloaded there if missing (default: data)",
        )
        parser.add_argument(
            "--subset",
            type=positive_int,
            default=None,
            help="use only the first N samples of each split, for quick runs (default: all)",
        )
    if workers:
        parser.add_argument(
            "--num-workers",
            type=non_negative_int,
            default=0,
            help="DataLoader worker processes; 0 loads in the main process (default: 0)",
        )
    return parser


# ---------------------------------------------------------------------------
# Device and seeding
# ---------------------------------------------------------------------------
def get_device(requested: str | None = None) -> torch.device:
    """The device to compute on, printed as `Using <device> device`.

    `requested` (the --device flag) wins when given; otherwise the current
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
                "Leave --device out to pick the best available device, or pass --device cpu."
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
# The network of lessons 04, 06 and 07
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


# ---------------------------------------------------------------------------
# Fashion-MNIST
# ---------------------------------------------------------------------------
def fashion_mnist(
    data_dir: Path,
    train: bool,
    transform: Callable | None = None,
    target_transform: Callable | None = None,
    subset: int | None = None,
) -> Dataset:
    """torchvision's FashionMNIST split, downloaded into `data_dir` if missing.

    This is the notes' `datasets.FashionMNIST(root=..., train=..., download=True,
    transform=...)`, plus `subset` (keep the first N samples) and a clear message
    instead of a traceback when the files cannot be found, downloaded or read.
    """
    from torchvision import datasets  # imported here: it adds seconds to lessons without data

    raw = Path(data_dir) / "FashionMNIST" / "raw"
    if not all((raw / name).is_file() for name in DATA_FILES):
        _refuse_misplaced_files(Path(data_dir))
        print(f"Fashion-MNIST is not in {raw}; downloading it (about 30 MB)...")
    log = io.StringIO()
    try:
        # torchvision prints every mirror it tries; keep that for the message.
        with contextlib.redirect_stdout(log):
            dataset = datasets.FashionMNIST(
                root=data_dir,
                train=train,
                download=True,
                transform=transform,
                target_transform=target_transform,
            )
    except Exception as err:  # network errors, a read-only folder, damaged files
        _explain_data_error(raw, err, log.getvalue())
    if subset is not None and subset < len(dataset):
        dataset = Subset(dataset, range(subset))
    return dataset


def fashion_mnist_uint8(data_dir: Path, train: bool, subset: int | None = None) -> TensorDataset:
    """A Fashion-MNIST split as a TensorDataset of (uint8 image (1, 28, 28), label) pairs.

    torchvision's FashionMNIST already holds the whole split in memory as one
    uint8 tensor (`.data`, shape (N, 28, 28)); its __getitem__ turns each image
    into a PIL image and ToTensor turns it back into a float tensor, one sample at
    a time. Indexing the tensor directly skips that round trip. The images stay
    uint8 (a quarter of the memory of float32); convert a whole batch with
    `x.float() / 255` on the device, which gives exactly what ToTensor gives.
    """
    split = fashion_mnist(data_dir, train)
    images = split.data.unsqueeze(1)  # (N, 28, 28) -> (N, 1, 28, 28), a view, no copy
    labels = split.targets  # (N,) int64
    if subset is not None:
        images, labels = images[:subset], labels[:subset]
    return TensorDataset(images, labels)


def _refuse_misplaced_files(data_dir: Path) -> None:
    """Stop before downloading when --data-dir names the folder of the files themselves."""
    if not (data_dir / DATA_FILES[0]).is_file():
        return
    folder = data_dir.resolve()
    if folder.parts[-2:] == ("FashionMNIST", "raw"):
        advice = f"pass --data-dir {folder.parent.parent}"
    else:
        advice = f"move the four files into {data_dir / 'FashionMNIST' / 'raw'}"
    fail(
        f"--data-dir {data_dir} holds the Fashion-MNIST files themselves, but it should name "
        f"the folder above FashionMNIST/raw/, where torchvision looks for them: {advice}."
    )


def _explain_data_error(raw: Path, err: Exception, log: str) -> NoReturn:
    missing = [name for name in DATA_FILES if not (raw / name).is_file()]
    if missing:
        # torchvision's message lists every mirror; its last line is the last failure.
        tried = [line.split()[-1] for line in log.splitlines() if line.startswith("Downloading")]
        where = f"from {tried[0]}, " if tried else ""
        fail(
            f"could not get Fashion-MNIST ({where}{reason(err, line=-1)}). "
            f"Either run again with internet access, or put the four files "
            f"{', '.join(DATA_FILES)} (or their .gz downloads) into {raw.resolve()} "
            f"by hand, or pass --data-dir with a folder that holds FashionMNIST/raw/."
        )
    fail(
        f"could not read the Fashion-MNIST files in {raw.resolve()} "
        f"({reason(err, line=-1)}). "
        f"A file is probably damaged or incomplete: delete that folder and run again "
        f"to download fresh copies, or copy the four files there from a good source."
    )


# ---------------------------------------------------------------------------
# Files: figures and weights
# ---------------------------------------------------------------------------
def save_figure(fig: Any, name: str) -> Path:
    """Save a matplotlib figure as outputs/<name>.png, print its path, show it if there is a screen.

    Without a screen (a server, CI, or MPLBACKEND=Agg, which the tests set)
    matplotlib picks its file-only Agg backend by itself; then the figure is only
    saved, so the run never blocks on a window or warns that it cannot show one.
    """
    import matplotlib.pyplot as plt

    OUTPUT_DIR.mkdir(parents=True, exist_ok=True)
    path = OUTPUT_DIR / f"{name}.png"
    fig.savefig(path, dpi=100, bbox_inches="tight")
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
    """torch.save(obj, path), but never leave a half-written file at `path`.

    The object is written to a temporary file beside `path`, which then replaces
    `path` in one step (os.replace). If the run is interrupted or the disk is
    full, the old file, if any, is still there and intact.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        torch.save(obj, tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
