"""Shared plumbing for the lessons: settings and device, the data, the network of 06 and 07,
figures and the exercise checker. Nothing a lesson is *about* lives here: read the lessons
first and come here to look things up."""

import argparse
import importlib.machinery
import os
import re
import sys
import tempfile
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

import torch
from torch import nn

DATA_SOURCE = "https://github.com/zalandoresearch/fashion-mnist"  # the official Fashion-MNIST files


def fail(message: str) -> NoReturn:
    """Stop with one paragraph on stderr, `error: ...`, and exit status 1 (no traceback)."""
    raise SystemExit(textwrap.fill(f"error: {message}", 100, break_long_words=False, break_on_hyphens=False))


def reason(err: BaseException) -> str:
    """`ErrorType: the telling part of its message`, on one line, without terminal colour codes."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(err))
    found = re.search(r"Unsupported (global: GLOBAL [\w.]+|operand \d+)", text)  # torch.load(weights_only)
    text = found.group(0) if found else " ".join(text.split())
    return f"{type(err).__name__}: {text[:300]}"


class NeuralNetwork(nn.Module):
    """The notes' classifier, built step by step in lesson 04: 784 -> 512 -> 512 -> 10 with ReLUs.
    Its attribute names are the notes' own, so the notes' state_dicts load into it and back."""

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
        return self.linear_relu_stack(x)


# Settings: flags on the command line, edited defaults in a notebook. Each check raises
# ArgumentTypeError, which argparse prints as `argument --flag: <message>`.
def positive_int(text: str) -> int:
    """A whole number of at least 1."""
    if text.isdigit() and int(text) >= 1:
        return int(text)
    raise argparse.ArgumentTypeError(f"must be a whole number of at least 1, got {text!r}")


def worker_count(text: str) -> int:
    """DataLoader workers: 0 up to the number of CPU cores (each worker is a whole process)."""
    if text.isdigit() and int(text) <= (os.cpu_count() or 1):
        return int(text)
    raise argparse.ArgumentTypeError(
        f"must be from 0 to {os.cpu_count()} (this machine's CPU cores), got {text!r}: "
        "each worker is a separate process with its own memory"
    )


def learning_rate(text: str) -> float:
    """A number above 0, such as 0.001 or 1e-3."""
    if re.fullmatch(r"(\d+\.?\d*|\.\d+)(e[-+]?\d+)?", text, re.IGNORECASE) and float(text) > 0:
        return float(text)
    raise argparse.ArgumentTypeError(f"must be a number above 0, got {text!r}")


def optimizer_name(text: str) -> str:
    """sgd or adam."""
    if text in ("sgd", "adam"):
        return text
    raise argparse.ArgumentTypeError(f"must be sgd or adam, got {text!r}")


def device_name(text: str) -> torch.device:
    """A device of this machine: cpu, cuda, cuda:1, mps, ..."""
    try:
        device = torch.device(text)
    except RuntimeError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a device name; use cpu, cuda, mps, ...") from None
    found = torch.accelerator.current_accelerator() if torch.accelerator.is_available() else None
    count = torch.accelerator.device_count() if found else 0
    if device.type != "cpu" and (found is None or found.type != device.type or (device.index or 0) >= count):
        there = f"cpu and {count} {found.type} device(s)" if found else "only the cpu"
        raise argparse.ArgumentTypeError(
            f"{text} is not available on this machine (it has {there}); "
            "leave the setting out to use the best device there is"
        )
    return device


def output_folder(text: str) -> Path:
    """A folder the lesson can write to, made now: better to find out before a long run."""
    folder = Path(text).expanduser()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=folder).close()
    except OSError as err:
        raise argparse.ArgumentTypeError(
            f"{folder} cannot be written ({reason(err)}); make it a writable folder, or choose another"
        ) from None
    return folder


def weights_file(text: str) -> Path:
    """A file holding a state_dict of NeuralNetwork, as 06_train.py saves it."""
    path = Path(text).expanduser()
    try:
        state_dict = torch.load(path, map_location="cpu", weights_only=True)
        if isinstance(state_dict, dict) and "model_state_dict" in state_dict:
            problem = (
                f"it is a checkpoint (keys: {', '.join(map(str, state_dict))}) whose weights are under "
                "'model_state_dict': load them with torch.load(path, weights_only=True)['model_state_dict']"
            )
        else:
            NeuralNetwork().load_state_dict(state_dict)
            return path
    except Exception as err:
        problem = f"{reason(err)}. Pass a file that 06_train.py saved; a whole model saved with "
        problem += "torch.save(model) is refused by weights_only=True (see lesson 07)"
    raise argparse.ArgumentTypeError(f"{path} is not a state_dict of NeuralNetwork: {problem}")


# name -> (type, help). Each lesson picks the settings it uses and gives their defaults.
SETTINGS: dict[str, tuple[Callable[[str], Any], str]] = {
    "device": (device_name, "cpu, cuda, cuda:1, mps, ... (default: the accelerator if any, else cpu)"),
    "seed": (int, "random seed: the same seed prints the same numbers"),
    "data_dir": (lambda text: Path(text).expanduser(), "the folder that holds FashionMNIST/raw/"),
    "subset": (positive_int, "use only the first N samples of each split (default: all)"),
    "num_workers": (worker_count, "DataLoader worker processes; 0 loads in the main process"),
    "output_dir": (output_folder, "where figures and weights are written"),
    "epochs": (positive_int, "passes over the training set"),
    "batch_size": (positive_int, "training samples per step"),
    "lr": (learning_rate, "learning rate: how far each step moves the parameters"),
    "optimizer": (optimizer_name, "sgd (as in the notes) or adam"),
    "weights": (weights_file, "a state_dict file (default: model_weights.pth in the output folder)"),
    "pretrained": (bool, "download VGG16's ImageNet weights (528 MB) instead of an untrained VGG16"),
}


def parse_settings(**defaults: Any) -> argparse.Namespace:
    """The lesson's settings: `defaults`, overridden by flags when the lesson runs as a script
    (`python 06_train.py --epochs 3`). In a notebook no flags are read (sys.argv holds the
    kernel's own): edit the defaults. Each value is checked; `device` becomes a torch.device."""
    main = sys.modules["__main__"]  # a lesson run as a script is a file beside this one, and is sys.argv[0]
    file = Path(getattr(main, "__file__", None) or "/").resolve()  # (a notebook kernel has no __file__)
    as_script = file.parent == Path(__file__).resolve().parent and file == Path(sys.argv[0]).resolve()
    if as_script and getattr(main, "__spec__", None) is None:
        # DataLoader workers started by "spawn" or "forkserver" (Windows, macOS, Linux from Python
        # 3.14) import the main script again: for a top-level lesson, all of it. A spec named
        # __main__ tells them not to. Your own scripts use `if __name__ == "__main__":` instead.
        main.__spec__ = importlib.machinery.ModuleSpec("__main__", None)
    parser = argparse.ArgumentParser(allow_abbrev=False)  # --epoch is a typo, not --epochs
    for name, default in defaults.items():
        kind, text = SETTINGS[name]
        shown = "" if "default:" in text else f" (default: {'off' if default is False else default})"
        flag = "--" + name.replace("_", "-")
        if kind is bool:
            parser.add_argument(flag, action="store_true", default=None, help=text + shown)
        else:
            parser.add_argument(flag, type=kind, help=text + shown)
    args = parser.parse_args(None if as_script else [])
    for name, default in defaults.items():  # a setting not given as a flag: check its default
        kind = SETTINGS[name][0]
        if getattr(args, name) is None and default is not None:
            try:
                setattr(args, name, default if kind is bool else kind(str(default)))
            except argparse.ArgumentTypeError as err:
                fail(f"setting {name}={default!r}: {err}. Change it in the settings cell.")
    if "device" in defaults:
        if args.device is None:  # the current PyTorch way; older code asked torch.cuda, then mps
            found = torch.accelerator.is_available()
            args.device = torch.accelerator.current_accelerator() if found else torch.device("cpu")
        print(f"Using {args.device} device")
    return args


# Data, figures, exercises
def prepare_data(data_dir: Path) -> Path:
    """Make sure Fashion-MNIST is in <data_dir>/FashionMNIST/raw/, downloading it if missing, so
    that the lesson's own datasets.FashionMNIST(root=data_dir) finds it; else say what to do."""
    from torchvision import datasets  # here: it adds seconds to the lessons without data

    root = Path(data_dir).expanduser()
    raw = root / "FashionMNIST" / "raw"
    if root.resolve().name in ("raw", "FashionMNIST") and not raw.is_dir():
        above = root.resolve().parent.parent if root.resolve().name == "raw" else root.resolve().parent
        fail(
            f"--data-dir {root} names the folder that holds the files, but it must name the folder "
            f"above FashionMNIST/raw/, where torchvision looks for them: pass --data-dir {above}."
        )
    try:
        for train in (True, False):
            datasets.FashionMNIST(root=root, train=train, download=True)
    except Exception as err:
        files = ", ".join(name for name, _ in datasets.FashionMNIST.resources)
        fail(
            f"could not get Fashion-MNIST into {raw.resolve()} ({reason(err)}). Without internet, download "
            f"its four files ({files}) from {DATA_SOURCE} and put them there (as they are, or unzipped); "
            "or pass --data-dir with the folder that holds FashionMNIST/raw/ (for /x/FashionMNIST/raw/, "
            "--data-dir /x). A damaged file: delete it, and run again."
        )
    return root


def save_figure(fig: Any, path: Path) -> None:
    """Save a figure as a PNG file and print its path; show it in a notebook, or a window if any.
    Without a screen (a server, CI) matplotlib picks its file-only Agg backend: nothing waits."""
    import matplotlib
    import matplotlib.pyplot as plt

    fig.savefig(path, dpi=100, bbox_inches="tight")
    print(f"Saved figure: {path}")
    if matplotlib.get_backend().lower() not in {"agg", "pdf", "ps", "svg", "cairo", "template"}:
        plt.show()
    plt.close(fig)


def check_exercise(name: str, attempt: Callable[[], Any], expected: Any) -> None:
    """Print one line: `Exercise <name>: not tried yet`, `correct` or `not yet: <what is wrong>`.
    `attempt()` runs the learner's code: None (or Nones) while the stub is unchanged. `expected`
    is the right value (compared by torch.testing.assert_close), or a function that raises
    AssertionError("what is wrong") when the result is not right."""
    try:
        result = attempt()
        untouched = result is None or (isinstance(result, tuple) and all(item is None for item in result))
        if not untouched:
            expected(result) if callable(expected) else torch.testing.assert_close(result, expected)
        verdict = "not tried yet" if untouched else "correct"
    except AssertionError as err:
        lines = [line.strip() for line in str(err).splitlines() if line.strip()]
        lines = lines[:2] + [line for line in lines[2:] if line.startswith(("Greatest abs", "The failure"))]
        verdict = "not yet: " + " ".join(lines)
    except Exception as err:
        verdict = f"not yet: it raised {reason(err)}"
    print(f"Exercise {name}: {verdict}")
