"""What the lessons share: their settings, the Fashion-MNIST data, the network of 06 and 07, and
clear errors. Code you paste into your own project needs nothing from here."""

import argparse
import difflib
import importlib.machinery
import math
import os
import re
import shutil
import sys
import tempfile
import textwrap
from pathlib import Path
from typing import Any, NoReturn

import torch
from torch import nn

DATA_SOURCE = "https://github.com/zalandoresearch/fashion-mnist"  # the official files


class NeuralNetwork(nn.Module):
    """Lesson 04's classifier: 784 -> 512 -> 512 -> 10 with ReLUs, the tutorial's names."""

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
        x = self.flatten(x)  # (N, 1, 28, 28) -> (N, 784)
        return self.linear_relu_stack(x)  # (N, 10) logits


def main_file() -> Path | None:
    """The script being run (`python 06_train.py`, or a script of yours in any folder). None in a
    notebook's kernel (no __file__) or an editor's console (sys.argv[0] is another file)."""
    file = getattr(sys.modules["__main__"], "__file__", None)
    if file is None or Path(file).resolve() != Path(sys.argv[0]).resolve():
        return None
    return Path(file).resolve()


def is_lesson(file: Path) -> bool:
    """True for a lesson (01_tensors.py ... 07_save_load.py) beside this file."""
    return file.parent == Path(__file__).resolve().parent and file.match("0[1-7]_*.py")


class Stop(Exception):
    """A clear error in a notebook: IPython (Jupyter, VS Code) shows its text alone."""

    def _render_traceback_(self) -> list[str]:  # IPython's hook for an exception's display
        return [str(self)]


def fail(message: str, **try_settings: Any) -> NoReturn:
    """Stop with `error: <message>` and the settings to try: as flags when run as a script
    (exit status 1, no traceback), as values of the settings cell in a notebook."""
    if try_settings and main_file() is not None:
        flags = [f"--{name.replace('_', '-')} {value}" for name, value in try_settings.items()]
        message += f" Run again with {' '.join(flags)}."
    elif try_settings:
        values = [f"{name}={value!r}" for name, value in try_settings.items()]
        message += f" Set {', '.join(values)} in the settings cell, then run it and every cell"
        message += " below it."
    text = textwrap.fill(f"error: {message}", 100, break_long_words=False, break_on_hyphens=False)
    if main_file() is not None:
        raise SystemExit(text)
    raise Stop(text)


def reason(err: BaseException) -> str:
    """`ErrorType: the lines of its message that name the cause` (or all, cut to 300
    characters), without terminal colour codes."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(err))  # terminal colour codes, as torch.load adds
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    causes = ("WeightsUnpickler error", "Missing key", "Unexpected key", "size mismatch")
    telling = [line for line in lines if line.startswith(causes)] or lines
    text = " ".join(telling)
    if len(text) > 300:
        text = text[:297] + "..."
    return f"{type(err).__name__}: {text}"


# The settings' checks. Each takes the text of a flag (or of a default) and returns its value,
# or raises ArgumentTypeError, which argparse shows as `argument --flag: <message>`.
def whole_number(text: str, low: int = 1, high: int | None = None) -> int:
    """A whole number from `low` (up to `high`, if given)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, got {text!r}") from None
    if high is None and value < low:
        raise argparse.ArgumentTypeError(f"must be at least {low}, got {text!r}")
    if high is not None and not low <= value <= high:
        raise argparse.ArgumentTypeError(f"must be from {low} to {high}, got {text!r}")
    return value


def worker_count(text: str) -> int:
    """0 (load in the main process) up to the number of CPU cores."""
    return whole_number(text, 0, os.cpu_count() or 1)


def learning_rate(text: str) -> float:
    """A finite number above 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, got {text!r}") from None
    if not 0 < value < math.inf:
        raise argparse.ArgumentTypeError(f"must be a finite number above 0, got {text!r}")
    return value


def device_name(text: str) -> torch.device:
    """A device of this machine: cpu, cuda, cuda:1, mps, ..."""
    devices = ["cpu"]
    if torch.accelerator.is_available():
        kind = torch.accelerator.current_accelerator().type
        devices.append(kind)
        devices += [f"{kind}:{index}" for index in range(torch.accelerator.device_count())]
    if text not in devices:  # e.g. "gpu", or "cuda" where there is none
        message = f"{text!r} is not a device of this machine: {', '.join(devices)}"
        raise argparse.ArgumentTypeError(message)
    return torch.device(text)


def data_folder(text: str) -> Path:
    """A folder (made later if missing), not a file."""
    folder = Path(text).expanduser()
    existing = next(path for path in [folder, *folder.parents] if path.exists())
    if not existing.is_dir():
        message = f"{existing} is a file: name the folder that holds FashionMNIST/raw/"
        raise argparse.ArgumentTypeError(message)
    return folder


def output_folder(text: str) -> Path:
    """A folder the lesson can write to, made now: better to find out before a long run."""
    folder = Path(text).expanduser()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=folder).close()
    except OSError as err:
        raise argparse.ArgumentTypeError(f"{text} cannot be written ({reason(err)})") from None
    return folder


def weights_file(text: str) -> Path:
    """A file holding a state_dict of NeuralNetwork, as 06_train.py saves it."""
    path = Path(text).expanduser()
    try:
        state_dict = torch.load(path, map_location="cpu", weights_only=True)
        NeuralNetwork().load_state_dict(state_dict)
    except Exception as err:
        message = f"{text} is not a state_dict of NeuralNetwork saved by torch.save"
        message += f" ({reason(err)}). Pass one that 06_train.py saved (a checkpoint holds"
        message += " it under a key: torch.load(path)['model_state_dict'])"
        raise argparse.ArgumentTypeError(message) from None
    return path


# name -> (its check, or its allowed values; its help). A lesson picks the ones it uses.
SETTINGS: dict[str, tuple[Any, str]] = {
    "device": (device_name, "cpu, cuda, cuda:1, mps, ... (default: the accelerator, else cpu)"),
    "seed": (int, "random seed: on a CPU the same seed gives the same results, timings aside"),
    "data_dir": (data_folder, "the folder that holds FashionMNIST/raw/"),
    "subset": (whole_number, "use only the first N samples of the data (default: all)"),
    "num_workers": (worker_count, "DataLoader worker processes, at most the CPU cores"),
    "output_dir": (output_folder, "where figures and weights are written"),
    "epochs": (whole_number, "passes over the training set"),
    "batch_size": (whole_number, "training samples per step"),
    "lr": (learning_rate, "learning rate: how far each step moves the parameters"),
    "optimizer": (("sgd", "adam"), "sgd (as in the tutorial) or adam"),
    "weights": (weights_file, "a state_dict file (default: model_weights.pth in --output-dir)"),
    "pretrained": (bool, "download VGG16's ImageNet weights (528 MiB) and save them"),
}


def flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def add_setting(parser: argparse.ArgumentParser, name: str, default: Any) -> None:
    """One flag. Its default is checked later, the same way as a value given as a flag."""
    check, help_text = SETTINGS[name]
    if "default:" not in help_text:
        help_text += f" (default: {default})"
    if check is bool:
        parser.add_argument(flag(name), action="store_true", default=default, help=help_text)
    elif isinstance(check, tuple):
        parser.add_argument(flag(name), choices=check, help=help_text)
    else:
        parser.add_argument(flag(name), type=check, help=help_text)


def parse_settings(**defaults: Any) -> argparse.Namespace:
    """The settings, from `defaults` and, when run as a script, its flags, each checked;
    `device` becomes a torch.device, `data_dir` a folder that holds Fashion-MNIST."""
    unknown = sorted(set(defaults) - set(SETTINGS))
    if unknown:
        fail(f"no setting is called {unknown[0]!r}; the settings are {', '.join(SETTINGS)}.")
    script = main_file()
    if script is not None and is_lesson(script):
        # Under spawn or forkserver, DataLoader workers would import the lesson again, running
        # it from the top; with this spec they do not (lesson 02 shows why your scripts want
        # `if __name__ == "__main__":` instead).
        sys.modules["__main__"].__spec__ = importlib.machinery.ModuleSpec("__main__", None)
    # exit_on_error=False: a bad default gets our message below, a bad flag argparse's own
    parser = argparse.ArgumentParser(allow_abbrev=False, exit_on_error=False)
    for name, default in defaults.items():
        add_setting(parser, name, default)
    if script is None:  # a notebook's kernel: sys.argv holds the kernel's flags, not ours
        args = parser.parse_args([])
    else:
        try:
            args, extra = parser.parse_known_args()
        except argparse.ArgumentError as err:  # a bad flag: usage, the error, exit status 2
            parser.error(str(err))
        if extra:
            close = difflib.get_close_matches(extra[0], [flag(name) for name in defaults], 1)
            hint = f"; did you mean {close[0]}?" if close else ""
            parser.error(f"unrecognized arguments: {' '.join(extra)}{hint}")
    for name, default in defaults.items():
        if getattr(args, name) is None and default is not None:
            setattr(args, name, checked_default(parser, name, default))
    if "data_dir" in defaults:
        args.data_dir = prepare_data(args.data_dir)
    if "device" in defaults:
        if args.device is None:  # the current way; older code asked torch.cuda, then mps
            if torch.accelerator.is_available():
                args.device = torch.accelerator.current_accelerator()
            else:
                args.device = torch.device("cpu")
        print(f"Using {args.device} device")
    return args


def checked_default(parser: argparse.ArgumentParser, name: str, default: Any) -> Any:
    """A default, checked as if it were given as a flag: an edit in a notebook's settings cell
    gets the same message as a bad flag."""
    try:
        return getattr(parser.parse_args([f"{flag(name)}={default}"]), name)
    except argparse.ArgumentError as err:
        fail(f"setting {name}={default!r}: {err.message}. Change it in the settings cell.")


def prepare_data(root: Path) -> Path:
    """Make sure <root>/FashionMNIST/raw/ holds Fashion-MNIST (downloaded if missing), or stop."""
    from torchvision import datasets  # here: importing it costs the lessons without data time

    raw = root / "FashionMNIST" / "raw"
    full = root.resolve()
    if full.name in ("FashionMNIST", "raw") and not raw.is_dir():  # a folder inside the data?
        holder = full.parent if full.name == "FashionMNIST" else full.parent.parent
        if any(holder.glob("FashionMNIST/raw/t*")):
            message = f"{root} is inside the data set: name the folder that holds FashionMNIST/."
            fail(message, data_dir=str(holder))
    files = [name for name, _ in datasets.FashionMNIST.resources]
    if all((raw / name).with_suffix("").is_file() for name in files):
        return root  # torchvision's own test: the four files, unzipped
    made = [folder for folder in [raw, *raw.parents] if not folder.exists()]
    try:
        datasets.FashionMNIST(root=root, train=True, download=True)
        datasets.FashionMNIST(root=root, train=False, download=True)
        return root
    except Exception as err:
        if made:  # remove the first folder this attempt made, and all in it
            shutil.rmtree(made[-1], ignore_errors=True)
        message = f"could not get Fashion-MNIST into {raw.resolve()} ({reason(err)})."
    if any(Path("data").glob("FashionMNIST/raw/t*")):  # the default folder holds it
        fail(f"{message} But {Path('data').absolute()} holds it.", data_dir="data")
    message += f" Without internet, download its four files ({', '.join(files)}) from"
    message += f" {DATA_SOURCE} and put them there, as they are or unzipped (a damaged one:"
    message += " delete it). If they are in /x/FashionMNIST/raw/:"
    fail(message, data_dir="/x")


def save_figure(fig: Any, path: Path) -> None:
    """Save a figure as a PNG file, print its path, and show it in a notebook or a window."""
    import matplotlib.pyplot as plt

    fig.savefig(path, dpi=100, bbox_inches="tight")
    print(f"Saved figure: {path}")
    if plt.get_backend().lower() != "agg":  # Agg: no screen (a server, CI), nothing to show
        plt.show()
    plt.close(fig)
