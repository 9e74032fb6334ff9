"""The lessons' exercise checkers. A lesson's exercise cell holds the task, the stub and one line,
`check("06.2", accumulated_step)`, which prints one line: `Exercise 06.2: not tried yet`,
`correct`, or `not yet: <why>`. Hints and solutions are in SOLUTIONS.md.

A checker is a function registered with `@checker("06.2")`. It gets the learner's answer (a
function or a class), runs it on cases it builds afresh each time through `call`, and raises
`Wrong("why")` at the first mistake; `check` turns that into the printed verdict."""

import ast
import contextlib
import importlib
import inspect
import io
import math
import numbers
import pickle
import random
import tempfile
import textwrap
import traceback
import weakref
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

# ---- core: the judge (owner: helper EX1) ----

CHECKERS: dict[str, Callable[[Any], None]] = {}
LONGEST_VERDICT = 300  # characters of the printed reason, at most


class Wrong(Exception):
    """A wrong answer. Its message says what is not right yet, and for which case."""


class NotTried(Exception):
    """The stub's `...` came back: there is no answer to judge yet."""


def checker(name: str) -> Callable[[Callable[[Any], None]], Callable[[Any], None]]:
    """Register the decorated function as the checker of exercise `name`, such as "01.1"."""

    def register(function: Callable[[Any], None]) -> Callable[[Any], None]:
        CHECKERS[name] = function
        return function

    return register


def check(name: str, answer: Any) -> None:
    """Judge `answer` (the learner's function or class) and print one line: `Exercise <name>:
    not tried yet`, `correct`, or `not yet: <why>`."""
    if name not in CHECKERS:
        known = ", ".join(sorted(CHECKERS))
        raise KeyError(f"there is no exercise {name!r}; the exercises are {known}")
    verdict = "correct"
    try:
        CHECKERS[name](answer)
    except NotTried:
        verdict = "not tried yet"
    except Wrong as wrong:
        verdict = "not yet: " + shorten(str(wrong))
    except Exception as error:  # the answer's result broke the checker, or its code ran later
        verdict = "not yet: " + shorten(
            f"{where(error, answer, 'using what it gave')} {reason(error)}"
        )
    print(f"Exercise {name}: {verdict}")


def shorten(text: str) -> str:
    """`text` on one line, cut to LONGEST_VERDICT characters."""
    text = " ".join(text.split())
    if len(text) > LONGEST_VERDICT:
        text = text[: LONGEST_VERDICT - 3] + "..."
    return text


def reason(error: BaseException) -> str:
    """`raised ErrorType: its message`, on one line, cut to 150 characters; of torch.load's
    long refusal, the line that names the cause."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    causes = [line for line in lines if line.startswith("WeightsUnpickler error")]
    message = " ".join(causes or lines)
    message = message.replace("\x1b[1m", "").replace(
        "\x1b[0m", ""
    )  # terminal bold, as torch writes
    if len(message) > 150:
        message = message[:147] + "..."
    return f"raised {type(error).__name__}: {message}"


def learner_functions(answer: Any) -> list[Callable]:
    """The plain functions the learner wrote: the answer itself, or a class's methods."""
    answer = getattr(answer, "__func__", answer)  # a bound method
    if inspect.isfunction(answer):
        return [answer]
    if inspect.isclass(answer):
        methods = []
        for value in vars(answer).values():
            value = getattr(value, "__func__", value)  # staticmethod, classmethod
            value = getattr(value, "fget", value)  # property
            if inspect.isfunction(value):
                methods.append(value)
        return methods
    return []


def where(error: BaseException, answer: Any, otherwise: str = "it") -> str:
    """`line N, `its source`,` for the learner's last line in the error's traceback, found by the
    answer's file (a notebook cell's lines are counted within the cell), or `otherwise`."""
    files = {function.__code__.co_filename for function in learner_functions(answer)}
    frames = [
        frame for frame in traceback.extract_tb(error.__traceback__) if frame.filename in files
    ]
    if not frames:
        return otherwise
    source = (frames[-1].line or "").strip()
    return f"line {frames[-1].lineno}, `{source}`,"


def returns_a_value(function: Callable) -> bool | None:
    """Whether the function's own source has a `return <value>` (not counting functions defined
    inside it); None when its source cannot be read."""
    function = getattr(function, "__func__", function)
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(function)))
    except (OSError, TypeError, SyntaxError):
        return None
    definition = tree.body[0]
    if not isinstance(definition, ast.FunctionDef | ast.AsyncFunctionDef):
        return None  # a lambda, for one
    to_visit = list(definition.body)
    while to_visit:
        node = to_visit.pop()
        if isinstance(node, ast.Return) and node.value is not None:
            is_none = isinstance(node.value, ast.Constant) and node.value.value is None
            if not is_none:
                return True
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Lambda):
            to_visit.extend(ast.iter_child_nodes(node))
    return False


def call(answer: Callable, *args: Any, case: str) -> Any:
    """`answer(*args)`, its result checked for the stub's `...` (not tried yet) and for None. An
    error raised by the learner's code becomes Wrong, naming the case and the learner's line.
    `case` says which case this is, as in "for col of shape (3, 1) and row of shape (1, 4)"."""
    try:
        result = answer(*args)
    except (Wrong, NotTried):
        raise
    except Exception as error:
        raise Wrong(f"{case}: {where(error, answer)} {reason(error)}") from None
    if result is ...:
        raise NotTried
    if result is None:
        if returns_a_value(answer) is False:
            raise Wrong("it returned None: did you forget `return`?")
        raise Wrong(f"it returned None {case}")
    return result


def raised_from(error: BaseException | None, expected: type[BaseException]) -> bool:
    """Whether `error`, or an error it was raised from (its __cause__ or __context__), is an
    `expected`: `raise ValueError("clearer") from err` counts as raising err's kind."""
    seen = []
    while error is not None and not any(error is old for old in seen):
        if isinstance(error, expected):
            return True
        seen.append(error)
        if error.__cause__ is None and error.__suppress_context__:  # `raise ... from None`
            return False  # it hid the error it replaced
        error = error.__cause__ or error.__context__
    return False


def shape_text(tensor: Any) -> str:
    """A tensor's shape as the learner writes it: (3, 1), or () for a single number."""
    sizes = tuple(tensor.shape)
    if len(sizes) == 1:
        return f"({sizes[0]},)"
    return str(sizes)


def type_name(value: Any) -> str:
    """`a Tensor`, `a list`, `None`: the name of a value's type, for a message."""
    if value is None:
        return "None"
    name = type(value).__name__
    article = "an" if name[0].lower() in "aeiou" else "a"
    return f"{article} {name}"


def expect_type(
    result: Any, kind: type | tuple[type, ...], case: str, what: str = "it", expected: str = ""
) -> None:
    """`result` must be an instance of `kind`; `expected` names it for the message."""
    if not isinstance(result, kind):
        if not expected:
            kinds = kind if isinstance(kind, tuple) else (kind,)
            expected = " or ".join(f"a {each.__name__}" for each in kinds)
        raise Wrong(f"{case}, {what} is {type_name(result)}; expected {expected}")


def as_number(value: Any) -> Any:
    """A 0-d tensor or NumPy number as the Python number it holds; anything else as it is."""
    if isinstance(value, torch.Tensor) and value.dim() == 0:
        return value.item()
    if isinstance(value, np.generic):
        return value.item()
    return value


def expect_close(
    result: Any,
    expected: Any,
    case: str,
    what: str = "it",
    rtol: float = 1.3e-6,
    atol: float = 1e-5,
) -> None:
    """`result` must equal `expected` within the tolerances of torch.testing.assert_close for
    float32. `expected` is a tensor (a float one takes any float dtype), a NumPy array, a number
    (a 0-d tensor, a NumPy number, a subclass of int or float will do), or a list or tuple of
    these, compared item by item."""
    if isinstance(expected, list | tuple):
        expect_type(result, (list, tuple), case, what, f"a {type(expected).__name__}")
        if len(result) != len(expected):
            raise Wrong(f"{case}, {what} has {len(result)} items; expected {len(expected)}")
        for index, (item, expected_item) in enumerate(zip(result, expected, strict=True)):
            expect_close(item, expected_item, case, f"{what}[{index}]", rtol, atol)
        return
    if isinstance(expected, np.ndarray):
        expect_type(result, np.ndarray, case, what, "a NumPy array (np.ndarray)")
        if expected.dtype.kind == "f" and result.dtype.kind != "f":
            raise Wrong(f"{case}, {what} has dtype {result.dtype}; expected a float dtype")
        if expected.dtype.kind != "f" and result.dtype != expected.dtype:
            raise Wrong(f"{case}, {what} has dtype {result.dtype}; expected {expected.dtype}")
        result, expected = torch.from_numpy(result), torch.from_numpy(expected)
    if isinstance(expected, torch.Tensor):
        expect_tensor_close(result, expected, case, what, rtol, atol)
        return
    number = as_number(result)
    wrong_kind = not isinstance(number, numbers.Real) or isinstance(number, bool)
    if isinstance(expected, numbers.Integral) and not isinstance(number, numbers.Integral):
        wrong_kind = True
    if wrong_kind:
        kind = "a whole number" if isinstance(expected, numbers.Integral) else "a number"
        raise Wrong(f"{case}, {what} is {number!r:.60} ({type_name(result)}); expected {kind}")
    if not np.isclose(number, expected, rtol=rtol, atol=atol):
        raise Wrong(f"{case}, {what} is {number!r}; expected {expected!r}")


def expect_tensor_close(
    result: Any, expected: torch.Tensor, case: str, what: str, rtol: float, atol: float
) -> None:
    """expect_close for a tensor: type, shape, dtype, then the first value that differs."""
    expect_type(result, torch.Tensor, case, what, "a tensor")
    if result.shape != expected.shape:
        raise Wrong(
            f"{case}, {what} has shape {shape_text(result)}; expected {shape_text(expected)}"
        )
    if expected.is_floating_point():
        if not result.is_floating_point():
            raise Wrong(f"{case}, {what} has dtype {result.dtype}; expected a float dtype")
    elif result.dtype != expected.dtype:
        raise Wrong(f"{case}, {what} has dtype {result.dtype}; expected {expected.dtype}")
    got = result.detach().cpu().double()
    want = expected.detach().cpu().double()
    close = torch.isclose(got, want, rtol=rtol, atol=atol)
    if bool(close.all()):
        return
    first = tuple(index.item() for index in (~close).nonzero()[0])
    if not first:  # a 0-d tensor
        raise Wrong(f"{case}, {what} is {got.item()!r}; expected {want.item()!r}")
    position = ", ".join(str(index) for index in first)
    count = int((~close).sum())
    raise Wrong(
        f"{case}, {what} holds {got[first].item()!r} at [{position}]; "
        f"expected {want[first].item()!r} "
        f"({count} of {close.numel()} values differ)"
    )


def snapshot(value: Any) -> Any:
    """A copy of what `value` holds, to compare with `unchanged` after the answer ran: tensors and
    arrays by value; lists, tuples and dicts item by item; a module's state_dict, training flag
    and settings such as a loss's `reduction`; an optimizer's param_groups (lr, momentum, ...)
    but not its state, which a step must change."""
    if isinstance(value, torch.Tensor):
        return value.detach().clone()
    if isinstance(value, np.ndarray):
        return value.copy()
    if isinstance(value, list | tuple):
        return type(value)(snapshot(item) for item in value)
    if isinstance(value, dict):
        return {key: snapshot(item) for key, item in value.items()}
    if isinstance(value, torch.nn.Module):
        settings = {
            key: item
            for key, item in vars(value).items()
            if not key.startswith("_") and isinstance(item, int | float | str | bool)
        }
        return {"settings": settings, "state_dict": snapshot(value.state_dict())}
    if isinstance(value, torch.optim.Optimizer):
        groups = [
            {key: item for key, item in group.items() if key != "params"}
            for group in value.param_groups
        ]
        return {"param_groups": snapshot(groups)}
    return value


def difference(before: Any, after: Any) -> str:
    """How `after` differs from the snapshot `before`, or "" when it does not."""
    if isinstance(before, torch.Tensor | np.ndarray):
        if type(after) is not type(before):
            return f" became {type_name(after)}"
        if before.shape != after.shape:
            return f" had shape {shape_text(before)}, now {shape_text(after)}"
        if before.dtype != after.dtype:
            return f" had dtype {before.dtype}, now {after.dtype}"
        if isinstance(before, np.ndarray):
            same = np.array_equal(before, after, equal_nan=before.dtype.kind in "fc")
        else:
            same = bool(torch.isclose(before, after.detach(), rtol=0, atol=0, equal_nan=True).all())
        return "" if same else " holds other values"
    if isinstance(before, list | tuple):
        if len(after) != len(before):
            return f" had {len(before)} items, now {len(after)}"
        for index, (old, new) in enumerate(zip(before, after, strict=True)):
            change = difference(old, new)
            if change:
                return f"[{index}]{change}"
        return ""
    if isinstance(before, dict):
        if list(after) != list(before):
            return f" had the keys {list(before)}, now {list(after)}"
        for key in before:
            change = difference(before[key], after[key])
            if change:
                return f"[{key!r}]{change}"
        return ""
    if before != after:
        return f" was {before!r:.40}, now {after!r:.40}"
    return ""


def unchanged(before: Any, after: Any, what: str, case: str) -> None:
    """`after` (an argument after the answer ran) must still hold what the snapshot `before`
    took: the answer must not change its arguments."""
    change = difference(before, snapshot(after))
    if change:
        raise Wrong(f"{case}, it changed {what}: {what}{change}; leave {what} unchanged")


@contextlib.contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Seed torch's, NumPy's and Python's random numbers for the block, then put back the
    learner's: an answer that draws random numbers gets the same verdict every time."""
    python_state, numpy_state = random.getstate(), np.random.get_state()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        random.seed(seed)
        np.random.seed(seed)
        try:
            yield
        finally:
            random.setstate(python_state)
            np.random.set_state(numpy_state)


def resolve(dotted: str) -> tuple[Any, str]:
    """("torch.nn.functional", "one_hot") -> (the module object, "one_hot"), for any dotted name
    of a module attribute or class attribute."""
    *path, name = dotted.split(".")
    for split in range(len(path), 0, -1):
        try:
            owner = importlib.import_module(".".join(path[:split]))
        except ImportError:
            continue
        for attribute in path[split:]:
            owner = getattr(owner, attribute)
        return owner, name
    raise ValueError(f"cannot find {dotted}")


def shown(dotted: str) -> str:
    """A forbidden name as a message says it: "building torch.nn.Linear" for its __init__."""
    if dotted.endswith(".__init__"):
        return "building " + dotted.removesuffix(".__init__")
    return dotted


@contextlib.contextmanager
def forbid(answer: Any, *dotted_names: str, why: str) -> Iterator[None]:
    """While the block runs, calling any of `dotted_names` (such as "torch.nn.functional.one_hot"
    or "torch.Tensor.backward") raises Wrong("<name> is not allowed here: <why>"), also when the
    learner's code imported the name into its own globals. Everything is restored afterwards. A
    forbidden call counts even when the learner's code catches the error."""
    used = []
    restore = []

    def forbidden(dotted: str) -> Callable:
        def refuse(*args: Any, **kwargs: Any) -> Any:
            used.append(shown(dotted))
            raise Wrong(f"{shown(dotted)} is not allowed here: {why}")

        return refuse

    try:
        for dotted in dotted_names:
            owner, name = resolve(dotted)
            original = vars(owner).get(name, getattr(owner, name))
            own = name in vars(owner)
            setattr(owner, name, forbidden(dotted))
            restore.append((owner, name, original, own))
            for function in learner_functions(answer):
                names = function.__globals__
                for key, item in list(names.items()):
                    if item is original:
                        names[key] = forbidden(dotted)
                        restore.append((names, key, item, True))
        yield
    except Exception:
        if not used:  # a forbidden call, even one whose error was caught, is the verdict
            raise
    finally:
        for owner, name, original, own in reversed(restore):
            if isinstance(owner, dict):
                owner[name] = original
            elif own:
                setattr(owner, name, original)
            else:
                delattr(owner, name)
    if used:
        raise Wrong(f"{used[0]} is not allowed here: {why}")


# ---- checkers 01-03 (owner: helper EX1) ----


def random_values(*shape: int, seed: int, scale: float = 100.0) -> torch.Tensor:
    """Seeded float32 values, negative and positive, not whole numbers, up to about `scale`."""
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=generator) * scale / 3


@checker("01.1")
def check_01_1(outer_sum: Callable) -> None:
    for n, m in [(3, 4), (1, 5), (4, 1), (1, 1), (6, 2)]:
        col = random_values(n, 1, seed=n)
        row = random_values(1, m, seed=10 + m)
        case = f"for col of shape ({n}, 1) and row of shape (1, {m})"
        expected = torch.tensor(
            [[col[i, 0].item() + row[0, j].item() for j in range(m)] for i in range(n)]
        )
        before = snapshot({"col": col, "row": row})
        result = call(outer_sum, col, row, case=case)
        unchanged(before["col"], col, "col", case)
        unchanged(before["row"], row, "row", case)
        expect_close(result, expected, case)


@checker("01.2")
def check_01_2(numpy_copy: Callable) -> None:
    cases = [  # values as nested lists, the tensor's dtype and the array's
        ([[0.5, -1.25, 3.0], [2.75, 0.0, -7.5]], torch.float32, np.float32),
        ([2**40 + 1, -7, 0, 12], torch.int64, np.int64),
        ([[[0.1, 0.2, 0.3]], [[-0.4, 0.5, 1e6]]], torch.float64, np.float64),
        ([4.5], torch.float32, np.float32),
    ]
    for values, dtype, array_dtype in cases:
        t = torch.tensor(values, dtype=dtype)
        case = f"for t of shape {shape_text(t)} and dtype {dtype}"
        expected = np.array(values, dtype=array_dtype)
        before = snapshot(t)
        array = call(numpy_copy, t, case=case)
        unchanged(before, t, "t", case)
        expect_close(array, expected, case)
        t.add_(1)  # the caller changes t afterwards
        if not np.array_equal(array, expected):
            raise Wrong(f"{case}, it changed when t changed: it shares t's memory; make a copy")


def write_image_folders(root: Path, folders: list[tuple[str, list[int]]]) -> list[tuple]:
    """Write grayscale PNGs into root/<class>/<number>.png, folders and files in the given
    (unsorted) order, each image of its own size, with no two pixels alike. Returns the samples,
    (path, pixels, class name), in the order of their sorted paths."""
    samples = []
    for name, file_numbers in folders:
        (root / name).mkdir()
        for number in file_numbers:
            height, width = number % 3 + 1, number % 4 + 2  # every image its own size
            first = (number * 37) % 256
            pixels = (torch.arange(height * width) * 29 + first) % 256
            pixels = pixels.to(torch.uint8).reshape(height, width)
            path = root / name / f"{number}.png"
            Image.fromarray(pixels.numpy()).save(path)  # a 2-D uint8 array: a grayscale PNG
            samples.append((path, pixels, name))
    return sorted(samples, key=lambda sample: sample[0])


@checker("02.1")
def check_02_1(folder_dataset: type) -> None:
    cases = [  # class folders in the order they are made, each with its files' numbers
        [("shirt", [5, 12, 3]), ("Bag", [7]), ("ankle boot", [20, 4]), ("coat", [])],
        [("trouser", [1, 0]), ("sneaker", [2, 11, 10, 9]), ("dress", [8])],
        [("pullover", [255])],
    ]
    for folders in cases:
        with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as folder:
            root = Path(folder)
            samples = write_image_folders(root, folders)
            (root / ".DS_Store").write_bytes(b"")  # a file beside the folders: no class
            names = [name for name, file_numbers in folders]
            classes = sorted(names)
            case = f"for class folders {names}"
            dataset = call(folder_dataset, folder, case=case)
            files_before = snapshot(dataset.files)
            classes_before = snapshot(dataset.classes)
            for index, (path, pixels, name) in enumerate(samples):
                item_case = f"{case}, dataset[{index}] ({name}/{path.name})"
                item = call(dataset.__getitem__, index, case=item_case)
                unchanged(files_before, dataset.files, "self.files", item_case)
                unchanged(classes_before, dataset.classes, "self.classes", item_case)
                expect_type(item, (tuple, list), item_case, "it", "an (image, label) pair")
                if len(item) != 2:
                    raise Wrong(f"{item_case}, it has {len(item)} items; expected 2: image, label")
                expect_close(item[0], pixels.unsqueeze(0), item_case, "the image")
                expect_close(item[1], classes.index(name), item_case, "the label")
                if isinstance(item[1], torch.Tensor):  # the right number, but not an int
                    raise Wrong(f"{item_case}, the label is a Tensor; expected an int (.item())")


def contents(dataset: Any) -> Any:
    """What a dataset holds: a TensorDataset's tensors, or the dataset itself (a list)."""
    if isinstance(dataset, TensorDataset):
        return dataset.tensors
    return dataset


def sample_ids(batch: Any) -> list:
    """The samples of a batch as a list: a TensorDataset's batch is a list of one tensor."""
    if isinstance(batch, list | tuple):
        batch = batch[0]
    return batch.tolist()


@checker("02.2")
def check_02_2(make_loader: Callable) -> None:
    for size, kind in [(95, "list"), (47, "TensorDataset"), (10, "TensorDataset")]:
        if kind == "list":
            dataset = list(range(100, 100 + size))
        else:
            dataset = TensorDataset(torch.arange(100, 100 + size))
        case = f"for a {kind} of {size} samples"
        before = snapshot(contents(dataset))
        with seeded(size):  # the same verdict every time
            loader = call(make_loader, dataset, case=case)
            unchanged(before, contents(dataset), "dataset", case)
            expect_type(loader, DataLoader, case, "it", "a DataLoader")
            orders = [check_one_pass(loader, size, f"{case}, pass {count}") for count in (1, 2, 3)]
        for count in (2, 3):
            if orders[count - 1] == orders[0]:
                same = f"passes 1 and {count} came in the same order"
                raise Wrong(f"{case}, {same}; expected a new order on every pass")
        left_out = [set(range(100, 100 + size)) - set(order) for order in orders]
        if size % 10 and left_out[0] == left_out[1] == left_out[2]:
            raise Wrong(f"{case}, every pass leaves out the same samples; expected others")


def check_one_pass(loader: DataLoader, size: int, case: str) -> list:
    """One pass of the loader, checked: full batches of 10 distinct samples, shuffled."""
    try:
        batches = [sample_ids(batch) for batch in loader]
    except Exception as error:
        raise Wrong(f"{case}: going through it {reason(error)}") from None
    sizes = [len(batch) for batch in batches]
    if sizes != [10] * (size // 10):
        raise Wrong(f"{case}, the batch sizes are {sizes}; expected {size // 10} batches of 10")
    order = [sample for batch in batches for sample in batch]
    if len(set(order)) < len(order):
        raise Wrong(f"{case}, some samples came twice in one pass")
    if size >= 20 and order == sorted(order):
        raise Wrong(f"{case}, the samples came in order: not shuffled")
    return order


def standardizable(count: int, height: int, width: int, seed: int) -> torch.Tensor:
    """Seeded values of shape (count, 3, height, width) whose channels each have mean 0 and
    (biased) std 1 over all images and pixels, while each image's own statistics differ."""
    generator = torch.Generator().manual_seed(seed)
    values = torch.randn(count, 3, height, width, generator=generator, dtype=torch.float64)
    values = values * torch.arange(1, count + 1, dtype=torch.float64).view(count, 1, 1, 1)
    channels = values.transpose(0, 1).reshape(3, -1)  # (3, all of one channel's values)
    centred = channels - channels.sum(1, keepdim=True) / channels.shape[1]
    unit = centred / (centred.square().sum(1, keepdim=True) / channels.shape[1]).sqrt()
    return unit.reshape(3, count, height, width).transpose(0, 1)


@checker("03.1")
def check_03_1(make_normalize: Callable) -> None:
    # here, not above: importing torchvision takes seconds, and only 03 needs it
    from torchvision.transforms import Normalize, v2

    cases = [  # shape (N, H, W), then each channel's mean and std
        ((50, 4, 4), [0.2, 0.5, 0.8], [0.1, 0.2, 0.05]),
        ((7, 2, 5), [-3.0, 100.0, 0.0], [20.0, 0.5, 1.5]),
        ((1, 3, 3), [0.9, 0.1, 0.4], [0.05, 0.1, 0.3]),
        ((20, 8, 8), [10_000.0, -2000.0, 0.5], [1.0, 4.0, 0.1]),  # means far above the stds
    ]
    for (count, height, width), means, stds in cases:
        unit = standardizable(count, height, width, seed=count)
        mean, std = torch.tensor(means).view(1, 3, 1, 1), torch.tensor(stds).view(1, 3, 1, 1)
        images = (mean + std * unit).float()
        case = f"for images of shape {shape_text(images)}"
        before = snapshot(images)
        normalize = call(make_normalize, images, case=case)
        unchanged(before, images, "images", case)
        expect_type(normalize, (v2.Normalize, Normalize), case, "it", "a v2.Normalize")
        pixels = count * height * width  # per channel; the unbiased std is a little larger
        unbiased = [value * (pixels / (pixels - 1)) ** 0.5 for value in stds]
        for what, given in (("mean", normalize.mean), ("std", normalize.std)):
            if len(given) != 3:
                values = f"{len(given)} values of {what}"
                raise Wrong(f"{case}, it has {values}; expected 3, one a channel")
        for channel in range(3):
            what = f"its mean[{channel}]"
            expect_close(normalize.mean[channel], means[channel], case, what, rtol=1e-4)
            given = as_number(normalize.std[channel])
            expect_type(given, numbers.Real, case, f"its std[{channel}]", "a number")
            if not stds[channel] * 0.9999 <= given <= unbiased[channel] * 1.0001:
                raise Wrong(
                    f"{case}, its std[{channel}] is {given!r}; expected {stds[channel]!r} "
                    f"(or {unbiased[channel]:.6g} with Bessel's correction)"
                )


@checker("03.2")
def check_03_2(one_hot_batch: Callable) -> None:
    generator = torch.Generator().manual_seed(0)
    cases = [
        torch.tensor([3, 0, 9, 3, 5]),
        torch.tensor([7]),
        torch.randint(0, 7, (12,), generator=generator),  # no label above 6
        torch.tensor([4, 4, 4]),
        torch.randint(0, 10, (40,), generator=generator),
    ]
    for labels in cases:
        case = f"for labels {labels.tolist()}"
        if len(labels) > 12:
            case = f"for {len(labels)} labels"
        expected = torch.zeros(len(labels), 10)
        for row, label in enumerate(labels.tolist()):
            expected[row, label] = 1.0
        before = snapshot(labels)
        why = "build the rows yourself (that is the exercise)"
        with forbid(one_hot_batch, "torch.nn.functional.one_hot", why=why):
            result = call(one_hot_batch, labels, case=case)
        unchanged(before, labels, "labels", case)
        expect_close(result, expected, case)


# ---- checkers 04-07 (owner: helper EX2) ----


@checker("04.1")
def check_04_1(count_parameters: Callable) -> None:
    # each case: the sizes, then the count worked out by hand, (inputs + 1) * outputs a layer
    cases = [
        ([784, 256, 64, 10], 218_058),
        ([3, 2], 8),
        ([7, 1, 9], 26),  # a layer of one output, then one of one input
        ([1, 1], 2),
        ([5, 5, 5, 5, 5, 5], 150),  # five layers
        ([4096, 4097], 16_785_409),  # more than a float32 holds exactly
        ([784, 512, 512, 10], 669_706),
        ([50_000, 50_000, 10], 2_500_550_010),  # more than an int32 holds
    ]
    building = ["torch.nn.Linear.__init__", "torch.nn.Module.__init__"]
    for sizes, expected in cases:
        case = f"for sizes {sizes}"
        given = list(sizes)
        with forbid(count_parameters, *building, why="count with a formula, without the layers"):
            result = call(count_parameters, given, case=case)
        unchanged(sizes, given, "sizes", case)
        expect_close(result, expected, case, rtol=0, atol=0)


@checker("04.2")
def check_04_2(deeper_model: Callable) -> None:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)  # the same weights each time the cell runs
        net = call(deeper_model, case="when called")
    expect_type(net, nn.Module, "when called", "what it returned", "an nn.Module")
    for module in net.modules():
        if "Dropout" in type(module).__name__:
            raise Wrong(f"it has an nn.{type(module).__name__} layer; the task's network has none")
    generator = torch.Generator().manual_seed(0)
    for samples in (5, 1):
        images = torch.randn(samples, 1, 28, 28, generator=generator) * 100  # negative and large
        low, high = images.min().item(), images.max().item()
        case = f"for images of shape ({samples}, 1, 28, 28), values from {low:.0f} to {high:.0f}"
        given = images.clone()
        output, calls = run_recording(net, given, deeper_model, case)
        if not torch.equal(given, images):
            raise Wrong(f"{case}, it changed the images it was given; leave its input as it is")
        expect_type(output, torch.Tensor, case, "its output", "a tensor")
        if output.shape != (samples, 10):
            raise Wrong(
                f"{case}, its output has shape {shape_text(output)}; expected ({samples}, 10)"
            )
        expect_deeper_layers(images, output, calls, case)


def run_recording(
    net: nn.Module, images: torch.Tensor, deeper_model: Callable, case: str
) -> tuple[Any, list]:
    """The network's output for `images`, and each layer it called, in the order the data went
    through them, with a copy of that layer's input and output."""
    calls = []

    def record(module: nn.Module, inputs: tuple, output: Any) -> None:
        if inputs and isinstance(inputs[0], torch.Tensor) and isinstance(output, torch.Tensor):
            calls.append((module, inputs[0].clone(), output.clone()))  # before an in-place ReLU

    layers = [module for module in net.modules() if not list(module.children())]
    hooks = [layer.register_forward_hook(record) for layer in layers]
    try:
        with torch.no_grad():
            output = net(images)
    except Exception as error:
        raise Wrong(
            f"{case}: {where(error, deeper_model, 'its forward pass')} {reason(error)}"
        ) from None
    finally:
        for hook in hooks:
            hook.remove()
    return output, calls


def expect_deeper_layers(
    images: torch.Tensor, output: torch.Tensor, calls: list, case: str
) -> None:
    """Linear(784, 256), ReLU, Linear(256, 128), ReLU, Linear(128, 64), ReLU, Linear(64, 10),
    judged on what each layer got and gave."""
    linear = [index for index, (module, _, _) in enumerate(calls) if isinstance(module, nn.Linear)]
    sizes = [f"{calls[index][1].shape[-1]} -> {calls[index][2].shape[-1]}" for index in linear]
    if sizes != ["784 -> 256", "256 -> 128", "128 -> 64", "64 -> 10"]:
        raise Wrong(
            f"{case}, its Linear layers, in the order the data goes through them, map "
            f"{', '.join(sizes) or 'nothing'}; expected 784 -> 256, 256 -> 128, 128 -> 64, 64 -> 10"
        )
    first, last = calls[linear[0]], calls[linear[-1]]
    flat = images.flatten(1)  # (N, 1, 28, 28) -> (N, 784)
    applied = between(calls, -1, linear[0], skip=nn.Flatten)
    if first[1].shape != flat.shape or not torch.allclose(first[1], flat):
        raise Wrong(
            f"{case}, the first Linear layer gets what {applied or 'something else'} gives; "
            "expected the flattened images themselves"
        )
    for number, (start, end) in enumerate(zip(linear[:-1], linear[1:], strict=True), 1):
        before, after = calls[start][2], calls[end][1]
        if torch.allclose(after, torch.relu(before), rtol=1e-5, atol=1e-4):
            continue
        place = f"between Linear layers {number} and {number + 1}"
        applied = between(calls, start, end)
        if applied:
            raise Wrong(f"{case}, {place} it applies {applied}; expected a ReLU alone")
        if torch.allclose(after, before):
            raise Wrong(f"{case}, {place} there is no ReLU")
        raise Wrong(f"{case}, {place} the values are not those of a ReLU, max(x, 0)")
    if not torch.allclose(output, last[2]):
        applied = between(calls, linear[-1], len(calls))
        if applied:
            raise Wrong(
                f"{case}, after the last Linear layer it applies {applied}; the network "
                "should end with that layer's outputs, the logits a loss function takes"
            )
        if torch.allclose(output, torch.relu(last[2])):
            raise Wrong(f"{case}, a ReLU follows the last Linear layer; expected none there")
        raise Wrong(f"{case}, its output is not what the last Linear layer gives")


def between(calls: list, start: int, end: int, skip: type = nn.Identity) -> str:
    """The names of the layers called after calls[start] and before calls[end], such as "ReLU6"
    or "ReLU, Dropout"; "" when there are none."""
    names = [
        type(module).__name__
        for module, _, _ in calls[start + 1 : end]
        if not isinstance(module, skip)
    ]
    return ", ".join(names)


AUTOGRAD = [
    "torch.Tensor.backward",
    "torch.autograd.backward",
    "torch.autograd.grad",
    "torch.autograd.forward_ad.make_dual",
    "torch.func.grad",
    "torch.func.jvp",
    "torch.func.vjp",
    "torch.func.jacfwd",
    "torch.func.jacrev",
]
NO_AUTOGRAD = "no automatic differentiation (backward(), torch.autograd, torch.func): by hand"


@checker("05.1")
def check_05_1(grad_by_hand: Callable) -> None:
    generator = torch.Generator().manual_seed(0)
    cases = [
        torch.tensor([-2.0, -0.5, 0.0, 1.0, 3.0]),
        torch.randn(3, 4, generator=generator) * 3,  # two dimensions
        torch.randn(2, 1, 3, generator=generator),  # a dimension of size 1
        torch.tensor([0.7]),  # a single number
        torch.tensor([-40.0, 25.5, 100.0], dtype=torch.float64),  # large values, float64
        torch.tensor(1.5),  # no dimension at all: shape ()
    ]
    for x in cases:
        case = f"for x of shape {shape_text(x)}"
        if x.numel() < 6:
            case = f"for x = {x.tolist()}"
        expected = derivative(lambda t: (t**2 * torch.sin(t)).sum(), x)
        given = x.clone()
        with forbid(grad_by_hand, *AUTOGRAD, why=NO_AUTOGRAD):
            result = call(grad_by_hand, given, case=case)
        unchanged(x, given, "x", case)
        expect_no_grad(given, "x", case)
        expect_close(result, expected, case, rtol=1e-5)


def derivative(function: Callable, *inputs: torch.Tensor) -> torch.Tensor:
    """autograd's gradient of function(*inputs) with respect to its first input."""
    leaves = [tensor.clone().requires_grad_() for tensor in inputs]
    return torch.autograd.grad(function(*leaves), leaves[0])[0]


@checker("05.2")
def check_05_2(mse_gradient: Callable) -> None:
    generator = torch.Generator().manual_seed(0)
    cases = [(8, 3), (3, 5), (5, 1), (1, 4), (4, 4)]  # (N, D): samples, then features
    for samples, features in cases:
        X = torch.randn(samples, features, generator=generator) * 3
        w = torch.randn(features, generator=generator)
        y = torch.randn(samples, generator=generator) * 10
        case = f"for X of shape ({samples}, {features})"
        expected = derivative(lambda w, X, y: ((X @ w - y) ** 2).mean(), w, X, y)
        arguments = [X.clone(), w.clone(), y.clone()]
        with forbid(mse_gradient, *AUTOGRAD, why=NO_AUTOGRAD):
            result = call(mse_gradient, *arguments, case=case)
        for name, before, after in zip("Xwy", (X, w, y), arguments, strict=True):
            unchanged(before, after, name, case)
            expect_no_grad(after, name, case)
        expect_close(result, expected, case, rtol=1e-5)


def expect_no_grad(tensor: torch.Tensor, name: str, case: str) -> None:
    """The caller's tensor must come back without requires_grad and without a .grad."""
    if tensor.requires_grad:
        raise Wrong(f"{case}, it turned on {name}.requires_grad; leave {name} unchanged")
    if tensor.grad is not None:
        raise Wrong(f"{case}, it set {name}.grad; leave {name} unchanged")


@checker("06.1")
def check_06_1(per_class_accuracy: Callable) -> None:
    generator = torch.Generator().manual_seed(0)
    unequal = random_classes(40, generator) + list(range(10))  # each class at least once
    cases = [  # each: what the case shows, the predicted classes, then the labels
        (
            "20 samples",
            [0, 0, 6, 1, 4, 0, 3, 3, 3, 5, 2, 5, 7, 6, 0, 2, 7, 8, 8, 1],
            [0, 0, 0, 1, 2, 2, 3, 3, 3, 3, 4, 5, 5, 6, 6, 6, 7, 8, 8, 9],
        ),
        (
            "14 samples, 4 of class 9",
            [9, 9, 1, 9, 1, 0, 0, 2, 3, 4, 5, 6, 7, 8],
            [9, 9, 9, 9, 1, 1, 0, 2, 3, 4, 5, 6, 7, 8],
        ),
        ("50 samples in classes of unequal size", random_classes(50, generator), unequal),
        (
            "12 samples where class 3 is never predicted",
            [0, 1, 2, 4, 4, 5, 6, 7, 8, 9, 9, 0],
            [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 3, 3],
        ),
    ]
    for text, predicted, labels in cases:
        for margin in (1.0, 1e-3):
            case = f"for {text}, logits from -100 to 100 (the top two {margin} apart)"
            logits = logits_for(predicted, margin, generator)
            given = (logits.clone(), torch.tensor(labels))
            result = call(per_class_accuracy, *given, case=case)
            unchanged(logits, given[0], "logits", case)
            unchanged(torch.tensor(labels), given[1], "labels", case)
            expected = [accuracy_of_class(k, predicted, labels) for k in range(10)]
            expect_close(result, torch.tensor(expected, dtype=torch.float64), case, rtol=1e-5)


def random_classes(count: int, generator: torch.Generator) -> list:
    """`count` classes from 0 to 9 drawn at random."""
    return torch.randint(0, 10, (count,), generator=generator).tolist()


def logits_for(predicted: list, margin: float, generator: torch.Generator) -> torch.Tensor:
    """(N, 10) logits from -100 to 100 whose largest in row n, at predicted[n], is `margin` above
    the next."""
    logits = torch.rand(len(predicted), 10, generator=generator) * 200 - 100
    for row, k in zip(logits, predicted, strict=True):
        row[k] = -math.inf
        row[k] = row.max() + margin
    return logits


def accuracy_of_class(k: int, predicted: list, labels: list) -> float:
    """Among the samples labelled k, the share predicted k: counted one by one."""
    hits = [guess == k for guess, label in zip(predicted, labels, strict=True) if label == k]
    return sum(hits) / len(hits)


class SmallBatchesOnly(nn.Linear):
    """A linear model that takes at most `most` samples at a time, and keeps one micro-batch's
    graph at a time: the memory that gradient accumulation saves."""

    def __init__(self, inputs: int, outputs: int, most: int) -> None:
        super().__init__(inputs, outputs)
        self.most = most
        self.graphs = []  # a weak reference to a tensor each graph holds until backward()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if len(x) > self.most:
            raise MemoryError(f"{len(x)} samples at once; this model takes at most {self.most}")
        waiting = [graph for graph in self.graphs if graph() is not None]
        if waiting and torch.is_grad_enabled():
            raise MemoryError(
                "the graph of a micro-batch before is still held: call backward() on each "
                "micro-batch's loss before the next one (a loss you only read: under no_grad())"
            )
        output = super().forward(x)
        if output.requires_grad:
            marker = torch.ones(())  # the graph keeps it until backward() or until it is freed
            self.graphs = [weakref.ref(marker)]
            output = output * marker
        return output


@checker("06.2")
def check_06_2(accumulated_step: Callable) -> None:
    generator = torch.Generator().manual_seed(0)
    classes = torch.tensor([0, 1, 2, 0, 0, 1, 2, 2, 1, 0, 2, 1])
    wave = torch.linspace(-2, 2, 48).sin().reshape(12, 4)
    X_large = torch.randn(12, 4, generator=generator) * 5
    X_nine = torch.randn(9, 4, generator=generator)
    X_regression = torch.randn(10, 4, generator=generator)
    y_regression = torch.randn(10, 3, generator=generator) * 10  # 3 values to predict a sample
    cases = [  # each: the loss function, the samples (X, y), micro_batches, the lr, the steps
        (nn.CrossEntropyLoss(), wave, classes, 4, 0.1, 2),
        (nn.CrossEntropyLoss(), X_large, classes, 1, 0.1, 1),
        (nn.CrossEntropyLoss(), X_nine, classes[:9], 9, 0.5, 1),
        (nn.MSELoss(), X_regression, y_regression, 5, 0.01, 2),  # an answer must use loss_fn
    ]
    for loss_fn, X, y, micro_batches, lr, steps in cases:
        model = SmallBatchesOnly(4, 3, most=len(X) // micro_batches)
        with torch.no_grad():
            model.weight.copy_(torch.randn(3, 4, generator=generator))
            model.bias.copy_(torch.randn(3, generator=generator))
        optimizer = torch.optim.SGD(model.parameters(), lr=lr)
        for step in range(1, steps + 1):
            case = f"for {type(loss_fn).__name__}(), {len(X)} samples, micro_batches="
            case += f"{micro_batches} (step {step} of {steps} on the same model)"
            arguments = (model, loss_fn, optimizer, X, y, micro_batches)
            expect_one_big_step(accumulated_step, arguments, case)


def expect_one_big_step(accumulated_step: Callable, arguments: tuple, case: str) -> None:
    """One call of the answer must move the weights as one SGD step on the whole batch would,
    and return the batch's mean loss before the step."""
    model, loss_fn, optimizer, X, y, micro_batches = arguments
    weights = [parameter.detach().clone() for parameter in model.parameters()]
    left = [torch.zeros_like(p) if p.grad is None else p.grad.clone() for p in model.parameters()]
    whole_loss, whole = loss_and_gradients(loss_fn, weights, X, y)
    before = [snapshot(argument) for argument in (loss_fn, optimizer, X, y)]
    steps = []
    hook = optimizer.register_step_post_hook(lambda *_: steps.append(1))
    model.graphs = []  # whatever an earlier call left
    try:
        loss = call(accumulated_step, *arguments, case=case)
    finally:
        hook.remove()
    after = (loss_fn, optimizer, X, y)
    for name, old, new in zip(["loss_fn", "optimizer", "X", "y"], before, after, strict=True):
        unchanged(old, new, name, case)
    if not steps:
        raise Wrong(f"{case}, it did not call optimizer.step()")
    if len(steps) > 1:
        raise Wrong(f"{case}, it called optimizer.step() {len(steps)} times; expected once")
    lr = optimizer.param_groups[0]["lr"]
    moved = [p.detach() - weight for p, weight in zip(model.parameters(), weights, strict=True)]
    if not moved_as(moved, lr, whole):
        size = len(X) // micro_batches
        _, last = loss_and_gradients(loss_fn, weights, X[-size:], y[-size:])
        too_big = f"the step is {micro_batches} times too big: each micro-batch's mean loss "
        too_big += "should count for its share of the batch"
        left_over = "the gradients left from the step before were added to this step's: clear "
        left_over += "them once per step"
        last_only = "only the last micro-batch's gradients made the step: clear the gradients "
        last_only += "once per step, not per micro-batch"
        mistakes = [  # each: the gradients a mistake would step with, then the mistake
            ([micro_batches * g for g in whole], too_big),
            ([g + old for g, old in zip(whole, left, strict=True)], left_over),
            ([g / micro_batches for g in last], last_only),  # the last part's share
            (last, last_only),  # the last part's mean loss
        ]
        for gradients, mistake in mistakes:
            if moved_as(moved, lr, gradients):
                raise Wrong(f"{case}, {mistake}")
        raise Wrong(f"{case}, the weights moved otherwise than one step on the whole batch would")
    if isinstance(loss, np.floating):
        loss = float(loss)
    if isinstance(loss, torch.Tensor):
        raise Wrong(f"{case}, it returned a tensor; expected a float (a tensor's .item() is one)")
    expect_type(loss, float, case, "what it returned", "a float")
    if not math.isclose(loss, whole_loss, rel_tol=1e-5):
        raise Wrong(
            f"{case}, it returned {loss!r}; the batch's mean loss before the step is {whole_loss!r}"
        )


def loss_and_gradients(
    loss_fn: nn.Module, weights: list, X: torch.Tensor, y: torch.Tensor
) -> tuple:
    """By hand: the loss of a linear model with these weights on (X, y), and its gradients."""
    leaves = [weight.clone().requires_grad_() for weight in weights]
    loss = loss_fn(nn.functional.linear(X, *leaves), y)
    return loss.item(), torch.autograd.grad(loss, leaves)


def moved_as(moved: list, lr: float, gradients: list) -> bool:
    """Whether the weights moved as one SGD step with these gradients would have moved them."""
    pairs = zip(moved, gradients, strict=True)
    return all(torch.allclose(m, -lr * g, rtol=1e-4, atol=1e-6) for m, g in pairs)


def new_run(kind: str, seed: int) -> tuple:
    """A model (weights drawn from `seed`), its optimizer and its learning-rate scheduler."""
    generator = torch.Generator().manual_seed(seed)
    model = nn.Linear(3, 2)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.copy_(torch.randn(parameter.shape, generator=generator))
    if kind == "SGD":
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=2, gamma=0.5)
    else:
        optimizer = torch.optim.Adam(model.parameters(), lr=0.1)
        scheduler = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=0.8)
    return model, optimizer, scheduler


def train_epoch(model: nn.Module, optimizer: Any, scheduler: Any, epoch: int) -> None:
    """One epoch of made-up training: a step on a batch of its own, then the scheduler's step."""
    X = torch.linspace(-1, 1, 12).reshape(4, 3) * (epoch + 1)
    optimizer.zero_grad()
    (model(X) - 1).square().mean().backward()
    optimizer.step()
    scheduler.step()


@checker("07.1")
def check_07_1(make_checkpoint: Callable) -> None:
    for kind, scheduler_name, epoch in [("SGD", "StepLR", 3), ("Adam", "ExponentialLR", 5)]:
        case = f"for {kind} and {scheduler_name} after {epoch} epochs"
        model, optimizer, scheduler = new_run(kind, seed=0)
        for done in range(epoch):
            train_epoch(model, optimizer, scheduler, done)
        parts = {"scheduler": scheduler, "model": model, "optimizer": optimizer}
        before = [snapshot(part.state_dict()) for part in parts.values()]
        checkpoint = call(make_checkpoint, model, optimizer, scheduler, epoch, case=case)
        states = [part.state_dict() for part in parts.values()]
        for name, old, new in zip(parts, before, states, strict=True):
            change = difference(old, snapshot(new))
            if change:
                raise Wrong(f"{case}, it changed the {name}: state_dict(){change}")
        loaded = saved_and_loaded(checkpoint, case)
        if not isinstance(loaded["epoch"], int) or loaded["epoch"] != epoch:
            raise Wrong(f'{case}, under "epoch" it holds {loaded["epoch"]!r}; expected {epoch!r}')
        resumed = new_run(kind, seed=1)
        for key, part in zip(["model", "optimizer", "scheduler"], resumed, strict=True):
            try:
                part.load_state_dict(loaded[key])
            except Exception as error:
                raise Wrong(
                    f'{case}, loading its "{key}" into a new {key} {reason(error)}'
                ) from None
        expect_same_run((model, optimizer, scheduler), resumed, f"{case}, right after loading")
        for more in range(1, 4):
            train_epoch(model, optimizer, scheduler, epoch + more)
            train_epoch(*resumed, epoch + more)
            expect_same_run((model, optimizer, scheduler), resumed, f"{case}, {more} epochs later")


def saved_and_loaded(checkpoint: Any, case: str) -> dict:
    """The checkpoint after torch.save and torch.load(..., weights_only=True)."""
    expect_type(checkpoint, dict, case, "what it returned", "a dict")
    missing = [key for key in ("model", "optimizer", "scheduler", "epoch") if key not in checkpoint]
    if missing:
        raise Wrong(f"{case}, its dict has the keys {list(checkpoint)}; missing: {missing}")
    for key, value in checkpoint.items():
        if hasattr(value, "state_dict"):
            raise Wrong(f'{case}, under "{key}" it holds the {key} itself, not its state_dict()')
    buffer = io.BytesIO()
    try:
        torch.save(checkpoint, buffer)
        return torch.load(io.BytesIO(buffer.getvalue()), weights_only=True)
    except Exception as error:
        raise Wrong(
            f"{case}, saving it, then loading it with weights_only=True, {reason(error)}"
        ) from None


def expect_same_run(run: tuple, resumed: tuple, case: str) -> None:
    """The resumed model, optimizer and scheduler must hold what the run they come from holds."""
    (model, optimizer, scheduler), (model2, optimizer2, scheduler2) = run, resumed
    if not torch.equal(model.weight, model2.weight) or not torch.equal(model.bias, model2.bias):
        raise Wrong(f"{case}, the resumed model's weights differ from the model's")
    change = difference(snapshot(optimizer.state_dict()), snapshot(optimizer2.state_dict()))
    if change:
        raise Wrong(f"{case}, the resumed optimizer's state differs: state_dict(){change}")
    if scheduler2.get_last_lr() != scheduler.get_last_lr():
        raise Wrong(
            f"{case}, the resumed scheduler's learning rate is {scheduler2.get_last_lr()}, "
            f"not {scheduler.get_last_lr()}"
        )


class WholeModel(nn.Linear):
    """A model saved whole. Loading its file with weights_only=False runs this class's code,
    which records that it ran: weights_only=True refuses the file before that."""

    unpickled = False

    def __setstate__(self, state: dict) -> None:
        WholeModel.unpickled = True
        super().__setstate__(state)


@checker("07.2")
def check_07_2(load_weights: Callable) -> None:
    WholeModel.unpickled = False
    linear, stack = nn.Linear(3, 2), nn.Sequential(nn.Linear(2, 4), nn.ReLU(), nn.Linear(4, 1))
    optimizer = torch.optim.SGD(linear.parameters(), lr=0.1)
    files = [  # each: what the file holds, then what torch.save saves in it
        ("a bare state_dict", linear.state_dict()),
        (
            "a checkpoint dict",
            {
                "epoch": 5,
                "model_state_dict": linear.state_dict(),
                "optimizer_state_dict": optimizer.state_dict(),
            },
        ),
        ("a whole model", WholeModel(3, 2)),
        ("a checkpoint without an epoch", {"model_state_dict": stack.state_dict(), "loss": 0.3}),
        ("a bare state_dict saved as a plain dict", dict(stack.state_dict())),
    ]
    with tempfile.TemporaryDirectory() as folder:
        for number, (holds, content) in enumerate(files, 1):
            path = Path(folder) / f"file_{number}.pth"
            torch.save(content, path)
            saved = path.read_bytes()
            case = f"for {path.name} ({holds})"
            if isinstance(content, WholeModel):
                expect_refused(load_weights, path, case)
                continue
            result = call(load_weights, path, case=case)
            if path.read_bytes() != saved:
                raise Wrong(f"{case}, it changed the file; leave it as it was")
            expected = content.get("model_state_dict", content)
            expect_type(result, dict, case, "what it returned", "a state_dict")
            if list(result) != list(expected):
                raise Wrong(
                    f"{case}, it returned a dict with the keys {list(result)}; expected "
                    f"{list(expected)}"
                )
            for key, tensor in expected.items():
                value = result[key]
                if not isinstance(value, torch.Tensor) or not torch.equal(value, tensor):
                    raise Wrong(f"{case}, under {key!r} it returned other values than the file's")


def expect_refused(load_weights: Callable, path: Path, case: str) -> None:
    """Loading a whole model with weights_only=True must raise pickle.UnpicklingError."""
    unsafe = (
        f"{case}, it loaded the file with weights_only=False, which runs code the file "
        "names: load with weights_only=True and let its UnpicklingError propagate"
    )
    try:
        result = load_weights(path)
    except Exception as error:
        if WholeModel.unpickled:
            raise Wrong(unsafe) from None
        if raised_from(error, pickle.UnpicklingError):
            return
        if error.__suppress_context__ and raised_from(error.__context__, pickle.UnpicklingError):
            hidden = f"it raised {type(error).__name__} from None, which hides the UnpicklingError"
            raise Wrong(f"{case}, {hidden}") from None
        raise Wrong(
            f"{case}, it should raise UnpicklingError; {where(error, load_weights)} {reason(error)}"
        ) from None
    if result is ...:
        raise NotTried
    if WholeModel.unpickled:
        raise Wrong(unsafe)
    if result is None:
        raise Wrong(f"{case}, it returned None: let the UnpicklingError of torch.load propagate")
    raise Wrong(
        f"{case}, it returned {type_name(result)}; expected the UnpicklingError of "
        "torch.load(path, weights_only=True)"
    )
