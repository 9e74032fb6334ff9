"""What the lessons share: settings, data, the network of 06 and 07, clear errors, exercise checks."""

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
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

import torch
from torch import nn

DATA_SOURCE = "https://github.com/zalandoresearch/fashion-mnist"  # the official Fashion-MNIST files


class NeuralNetwork(nn.Module):
    """Lesson 04's classifier, 784 -> 512 -> 512 -> 10 with ReLUs, with the tutorial's attribute names."""

    def __init__(self) -> None:
        super().__init__()
        self.flatten = nn.Flatten()
        self.linear_relu_stack = nn.Sequential(
            nn.Linear(28 * 28, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(), nn.Linear(512, 10)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear_relu_stack(self.flatten(x))  # (N, 1, 28, 28) -> (N, 784) -> (N, 10) logits


def as_script() -> bool:
    """True for `python 06_train.py`; False in a notebook's kernel (no __file__) or an editor's console."""
    file = Path(getattr(sys.modules["__main__"], "__file__", None) or "/").resolve()
    return file.parent == Path(__file__).resolve().parent and file == Path(sys.argv[0]).resolve()


class Stop(Exception):
    """A clear error in a notebook: IPython (Jupyter, VS Code) shows its text alone, no traceback."""

    def _render_traceback_(self) -> list[str]:  # IPython's hook for an exception's own display
        return [str(self)]


def fail(message: str, **try_settings: Any) -> NoReturn:
    """Stop with `error: <message>` and what to try: flags in a script (exit 1), values in a notebook."""
    flags = {
        "--" + k.replace("_", "-"): f"{v:g}" if isinstance(v, float) else v for k, v in try_settings.items()
    }
    if flags and as_script():
        message += f" Run again with {' '.join(f'{flag} {value}' for flag, value in flags.items())}."
    elif try_settings:
        message += f" Set {', '.join(f'{k}={v!r}' for k, v in try_settings.items())} in the settings cell"
        message += ", then run it and every cell below it."
    text = textwrap.fill(f"error: {message}", 100, break_long_words=False, break_on_hyphens=False)
    raise SystemExit(text) if as_script() else Stop(text)


def reason(err: BaseException) -> str:
    """`ErrorType: the telling part of its message`, on one line, without terminal colour codes."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(err))
    found = re.search(r"Unsupported (global: GLOBAL [\w.]+|operand \d+)", text)  # torch.load(weights_only)
    return f"{type(err).__name__}: {found.group(0) if found else ' '.join(text.split())[:400]}"


# Settings: each check raises ArgumentTypeError, which argparse shows as `argument --flag: ...`
def number(low: float, high: float | None = None, kind: type = int) -> Callable[[str], Any]:
    """A check for a whole number (or a `kind`) from `low` (above it, for a float) up to `high`."""

    def check(text: str) -> Any:
        value = kind(text)  # a ValueError here: argparse says "invalid whole number value: '1.5'"
        if kind is float and low < value < float("inf") or kind is int and low <= value <= (high or value):
            return value
        limits = f"at least {low}" if high is None else f"from {low} to {high}"
        limits = f"a finite number above {low}" if kind is float else limits
        raise argparse.ArgumentTypeError(f"must be {limits}, got {text!r}")

    check.__name__ = "whole number" if kind is int else "number"  # the name argparse shows
    return check


def device_name(text: str) -> torch.device:
    """A device of this machine: cpu, cuda, cuda:1, mps, ..."""
    kind = torch.accelerator.current_accelerator().type if torch.accelerator.is_available() else "cpu"
    devices = sorted({"cpu", kind, *(f"{kind}:{i}" for i in range(torch.accelerator.device_count()))})
    if text not in devices:  # e.g. "gpu", or "cuda" where there is none
        raise argparse.ArgumentTypeError(f"{text!r} is not a device of this machine: {', '.join(devices)}")
    return torch.device(text)


def output_folder(text: str) -> Path:
    """A folder the lesson can write to, made now: better to find out before a long run."""
    try:
        (folder := Path(text).expanduser()).mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=folder).close()
        return folder
    except OSError as err:
        raise argparse.ArgumentTypeError(f"{text} cannot be written ({reason(err)})") from None


def weights_file(text: str) -> Path:
    """A file holding a state_dict of NeuralNetwork, as 06_train.py saves it."""
    try:
        NeuralNetwork().load_state_dict(torch.load(path := Path(text).expanduser(), "cpu", weights_only=True))
        return path
    except Exception as err:
        raise argparse.ArgumentTypeError(
            f"{text} is not a state_dict of NeuralNetwork saved by torch.save ({reason(err)}). Pass one that "
            "06_train.py saved (a checkpoint holds it under a key: torch.load(path)['model_state_dict'])"
        ) from None


# name -> (check, or the allowed values; help). A lesson picks the settings it uses, with defaults.
SETTINGS: dict[str, tuple[Any, str]] = {
    "device": (device_name, "cpu, cuda, cuda:1, mps, ... (default: the accelerator if any, else cpu)"),
    "seed": (int, "random seed: the same seed prints the same numbers"),
    "data_dir": (lambda text: Path(text).expanduser(), "the folder that holds FashionMNIST/raw/"),
    "subset": (number(1), "use only the first N samples of each split (default: all)"),
    "num_workers": (number(0, os.cpu_count() or 1), "DataLoader worker processes, at most the CPU cores"),
    "output_dir": (output_folder, "where figures and weights are written"),
    "epochs": (number(1), "passes over the training set"),
    "batch_size": (number(1), "training samples per step"),
    "lr": (number(0, kind=float), "learning rate: how far each step moves the parameters"),
    "optimizer": (("sgd", "adam"), "sgd (as in the tutorial) or adam"),
    "weights": (weights_file, "a state_dict file (default: model_weights.pth in the output folder)"),
    "pretrained": (bool, "download VGG16's ImageNet weights (528 MiB) and save them as the tutorial does"),
}


def parse_settings(**defaults: Any) -> argparse.Namespace:
    """`defaults`, overridden by flags in a script (`python 06_train.py --epochs 3`), each checked;
    `device` becomes a torch.device and `data_dir` a folder with Fashion-MNIST (downloaded if missing)."""
    script, main = as_script(), sys.modules["__main__"]
    if script and getattr(main, "__spec__", None) is None:
        # DataLoader workers under spawn or forkserver import the main script again; not this one (lesson 02)
        main.__spec__ = importlib.machinery.ModuleSpec("__main__", None)
    parser = argparse.ArgumentParser(allow_abbrev=False, exit_on_error=script)  # --epoch is no --epochs
    flags = {name: "--" + name.replace("_", "-") for name in defaults}
    for name, default in defaults.items():
        kind, text = SETTINGS[name]
        text += "" if "default:" in text else f" (default: {'off' if default is False else default})"
        how = {"choices": kind} if isinstance(kind, tuple) else {"type": kind} if kind is not bool else {}
        parser.add_argument(flags[name], help=text, **how or {"action": "store_true", "default": default})
    args, unknown = parser.parse_known_args(None if script else [])  # a kernel's argv holds its own flags
    if unknown:
        close = [f"; did you mean {f}?" for f in difflib.get_close_matches(unknown[0], flags.values(), 1)]
        parser.error(f"unrecognized arguments: {' '.join(unknown)}{''.join(close)}")
    unset = [name for name, value in defaults.items() if getattr(args, name) is None and value is not None]
    try:  # the defaults of the settings not given as flags, checked the same way
        parser.parse_args([f"{flags[name]}={defaults[name]}" for name in unset], namespace=args)
    except argparse.ArgumentError as err:  # only in a notebook: a value edited in the settings cell
        name = next(name for name, flag in flags.items() if flag == err.argument_name)
        fail(f"setting {name}={defaults[name]!r}: {err.message}. Change it in the settings cell.")
    if "data_dir" in defaults:
        args.data_dir = prepare_data(args.data_dir)
    if "device" in defaults:
        if args.device is None:  # the current PyTorch way; older code asked torch.cuda, then mps
            found = torch.accelerator.is_available()
            args.device = torch.accelerator.current_accelerator() if found else torch.device("cpu")
        print(f"Using {args.device} device")
    return args


def prepare_data(root: Path) -> Path:
    """Make sure <root>/FashionMNIST/raw/ holds Fashion-MNIST (downloaded if missing), or stop."""
    from torchvision import datasets  # here: it adds seconds to the lessons without data

    full, raw = root.resolve(), root / "FashionMNIST" / "raw"
    above = {"FashionMNIST": full.parent, "raw": full.parent.parent}.get(full.name)  # a folder inside it?
    if above and any(above.glob("F*/raw/t*")) and not raw.is_dir():
        fail(f"{root} is inside the data set: name the folder that holds FashionMNIST/.", data_dir=str(above))
    if all((raw / name).with_suffix("").is_file() for name, _ in datasets.FashionMNIST.resources):
        return root  # torchvision's own test: the four files, unzipped
    made = [folder for folder in (raw, *raw.parents) if not folder.exists()]
    try:
        for train in (True, False):
            datasets.FashionMNIST(root=root, train=train, download=True)
        return root
    except Exception as err:
        shutil.rmtree(made[-1]) if made else None  # the first folder this attempt made, and all in it
        message = f"could not get Fashion-MNIST into {raw.resolve()} ({reason(err)})."
    if any(Path("data").glob("F*/raw/t*")):  # the default folder holds it
        fail(f"{message} But {Path('data').absolute()} holds it.", data_dir="data")
    files = ", ".join(name for name, _ in datasets.FashionMNIST.resources)
    message += f" Without internet, download its four files ({files}) from {DATA_SOURCE} and put them"
    message += " there, as they are or unzipped (a damaged one: delete it)."
    message += " If they are in /x/FashionMNIST/raw/:"
    fail(message, data_dir="/x")


def save_figure(fig: Any, path: Path) -> None:
    """Save a figure as a PNG file, print its path, and show it in a notebook or a window, if any."""
    import matplotlib.pyplot as plt

    fig.savefig(path, dpi=100, bbox_inches="tight")
    print(f"Saved figure: {path}")
    if plt.get_backend().lower() != "agg":  # Agg: no screen (a server, CI), so nothing to show
        plt.show()
    plt.close(fig)


def check_exercise(name: str, function: Callable, *cases: tuple[tuple, Any]) -> None:
    """Print `Exercise <name>: not tried yet` (the stub returns ...), `correct` or `not yet: <why>`. In
    each case (arguments, expected), `function(*arguments)` must return `expected` (by assert_close; any
    float dtype for a float), raise it (an exception class), or pass it (a function of the result and the
    arguments, raising AssertionError("why") otherwise)."""
    place, verdict = (function.__code__.co_filename, function.__name__), "correct"  # the learner's code
    try:
        for arguments, expected in cases:
            try:
                result = function(*arguments)
            except Exception as err:
                if isinstance(expected, type) and isinstance(err, expected):
                    continue
                mine = [f for f in traceback.extract_tb(err.__traceback__) if (f.filename, f.name) == place]
                where = f"line {mine[-1].lineno}, `{mine[-1].line}`," if mine else "it"
                if isinstance(expected, type):
                    where = f"for {arguments[0]}, where it should raise {expected.__name__}, {where}"
                raise AssertionError(f"{where} raised {reason(err)}") from None
            if result is ...:
                return print(f"Exercise {name}: not tried yet")
            if result is None:
                raise AssertionError("it returned None: did you forget `return`?")
            if isinstance(expected, type):  # a result where it should raise
                should = f"for {arguments[0]}, it should raise {expected.__name__}"
                raise AssertionError(f"{should}; it returned {result!r:.40}")
            if isinstance(expected, int | float):  # a number: a 0-d tensor will do; the answer is not shown
                result = result.item() if getattr(result, "shape", None) == () else result
                if isinstance(result, int | float) and not math.isclose(result, expected, rel_tol=1e-6):
                    raise AssertionError(f"it returned {result}, which is not right")
            if callable(expected):
                expected(result, *arguments)
            else:
                floats = [getattr(x, "is_floating_point", bool)() for x in (result, expected)]
                torch.testing.assert_close(result, expected, check_dtype=not all(floats))  # any float will do
    except AssertionError as err:
        lines = [line.strip() for line in str(err).splitlines() if line.strip()]
        keep = [line for line in lines[2:] if line.startswith(("Greatest abs", "The failure"))]
        verdict = "not yet: " + " ".join(lines[:2] + keep)
    except Exception as err:  # raised while judging what it returned; by assert_close, for a wrong type
        kinds, item = re.findall(r"<class '([\w.]+)'>", str(err)), re.search(r"for (item .+)", str(err))
        wrong = f"{item[1] if item else 'it'} has type {kinds[0]}; expected {kinds[1]}" if kinds[1:] else ""
        verdict = f"not yet: {wrong or f'using what it returned raised {reason(err)}'}"
    print(f"Exercise {name}: {verdict}")
