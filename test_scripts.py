"""Runs every lesson the ways learners do: cell by cell (each cell twice, with a kernel's sys.argv)
and as a script with flags (in this process, with runpy: torch is imported once). No network, no
real data: a fixture writes a tiny Fashion-MNIST in its own IDX format, with a pattern per class to
learn. Every run happens in a temporary folder: nothing lands in the repository."""

import ast
import contextlib
import io
import linecache
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
# The tests' tensors are tiny: one thread each is faster than threads competing for the cores.
os.environ["OMP_NUM_THREADS"] = "1"  # for the processes the tests start
torch.set_num_threads(1)
import common  # noqa: E402  (after MPLBACKEND)

REPO = Path(__file__).resolve().parent
LESSONS = sorted(path.name for path in REPO.glob("0[1-7]_*.py"))
REPO_FILES = sorted(path.name for path in REPO.iterdir())
N_TRAIN, N_TEST = 1000, 200  # sizes of the synthetic splits
# What sys.argv holds in a Jupyter kernel: the kernel's own flags, not the lesson's.
KERNEL_ARGV = [
    "/usr/lib/python3/site-packages/ipykernel_launcher.py",
    "-f",
    "/tmp/kernel-1a2b.json",
]
# An unreachable proxy: any download fails at once, as it would offline.
OFFLINE = {
    name: "http://127.0.0.1:9"
    for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY")
}


@pytest.fixture(scope="session")
def synthetic_data(tmp_path_factory):
    """A folder holding FashionMNIST/raw/: noisy images in which class k has a bright bar at
    column 2 + 2k."""
    root = tmp_path_factory.mktemp("data")
    (root / "FashionMNIST" / "raw").mkdir(parents=True)
    rng = np.random.default_rng(0)
    for split, count in (("train", N_TRAIN), ("t10k", N_TEST)):
        labels = rng.permutation(np.arange(count) % 10)
        images = rng.integers(0, 90, size=(count, 28, 28))
        for image, label in zip(images, labels, strict=True):
            image[4:24, 2 + 2 * label : 5 + 2 * label] = 255
        for kind, array in (("images-idx3", images), ("labels-idx1", labels)):
            header = struct.pack(
                f">4B{array.ndim}I", 0, 0, 0x08, array.ndim, *array.shape
            )  # IDX, uint8
            path = root / "FashionMNIST" / "raw" / f"{split}-{kind}-ubyte"
            path.write_bytes(header + array.astype(np.uint8).tobytes())
    return root


@pytest.fixture
def workdir(tmp_path, monkeypatch, synthetic_data):
    """A folder to run lessons in, with the data in data/, offline, and HOME there."""
    shutil.copytree(synthetic_data, tmp_path / "data")
    monkeypatch.chdir(tmp_path)
    for name, value in OFFLINE.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("HOME", str(tmp_path))
    return tmp_path


def cells(lesson):
    """The lesson's `# %%` cells, in order, each padded so that tracebacks show the file's line
    numbers."""
    text = (REPO / lesson).read_text(encoding="utf-8")
    chunks = re.split(r"(?m)^(?=# %%)", text)
    starts = np.cumsum([0] + [chunk.count("\n") for chunk in chunks[:-1]])
    return ["\n" * start + chunk for start, chunk in zip(starts, chunks, strict=True)]


def pasted_imports(cell):
    """A lesson's imports cell as a learner pastes it into a project without common.py."""
    lines = cell.splitlines(keepends=True)
    kept = [line for line in lines if not line.startswith(("from common ", "from exercises "))]
    namespace = {"__name__": "__main__"}
    exec("".join(kept), namespace)
    return namespace


def run_cells(lesson, monkeypatch, cell_list=None, edits=(), times=2, namespace=None):
    """Run cells as a notebook would, each `times` times, after `edits`; return (namespace,
    output). A cell of functions and classes runs with the imports alone, without common.py, as
    pasted into a new project."""
    monkeypatch.setattr(sys, "argv", KERNEL_ARGV)
    namespace = (
        {"__name__": "__main__"} if namespace is None else namespace
    )  # a kernel has no __file__
    out, imports = io.StringIO(), None
    with contextlib.redirect_stdout(out):
        for index, cell in enumerate(cells(lesson) if cell_list is None else cell_list):
            for old, new in edits:
                cell = cell.replace(old, new)
            name = f"{lesson}, cell {index}"  # its text, for tracebacks, as IPython keeps a cell's
            linecache.cache[name] = (len(cell), None, cell.splitlines(True), name)
            body = ast.parse(cell).body
            alone = body and all(isinstance(node, ast.FunctionDef | ast.ClassDef) for node in body)
            for _ in range(times):
                pasted = dict(imports) if alone and "# Exercise" not in cell else namespace
                exec(compile(cell, name, "exec"), pasted)
                namespace.update(pasted)
            if "from common import" in cell:
                imports = pasted_imports(cell)
    return namespace, out.getvalue()


def run_script(lesson, *args, monkeypatch):
    """`python lesson args`, in this process; returns (exit status, stdout, stderr)."""
    path = REPO / lesson  # a lesson's name, or the absolute path of another script
    monkeypatch.setattr(sys, "argv", [str(path), *map(str, args)])
    out, err, status = io.StringIO(), io.StringIO(), 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            runpy.run_path(str(path), run_name="__main__")
        except SystemExit as exit:  # as Python reports it: a text goes to stderr, with status 1
            status = exit.code if isinstance(exit.code, int) else 1
            if isinstance(exit.code, str):
                print(exit.code, file=sys.stderr)
    return status, out.getvalue(), err.getvalue()


def one_paragraph(err):
    """The error text, on one line, after checking that it is one paragraph with no traceback."""
    assert (
        err.strip() and "Traceback" not in err and "\n\n" not in err.strip() and "\x1b[" not in err
    ), err
    return " ".join(err.split())


def assert_png(path):
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 2000, path


# What a learner should see in each lesson's output (cell by cell, so each line appears twice).
PRINTED = {
    "01_tensors.py": ["matmul, out= of dtype torch.float64: raises", "n: [2. 2. 2. 2. 2.]"],
    "02_data.py": [f"Training samples: {N_TRAIN}", "all 16 images and labels equal the originals"],
    "03_transforms.py": [
        "ToTensor: shape (1, 28, 28), dtype torch.float32, max 1.000",
        "values [7.0]",
    ],
    "04_model.py": ["After nn.Flatten: torch.Size([3, 784])", "Total parameters: 669,706"],
    "05_autograd.py": [
        "loss.grad_fn's inputs: ['AddBackward0', None]",
        "torch.Size([5, 4]).",
    ],  # not cut
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
        assert torch.equal(ours(x := torch.rand(2, 1, 28, 28)), theirs(x))


def printed_accuracy(text, label):
    return float(re.search(rf"{label}: ([\d.]+)%", text).group(1))


def test_06_then_07_cell_by_cell(workdir, monkeypatch):
    # A learner edits the settings cell: 3 epochs of adam, which learns the bars fast.
    edits = [("epochs=10", "epochs=3"), ('optimizer="sgd"', 'optimizer="adam"')]
    ns, out = run_cells("06_train.py", monkeypatch, edits=edits)
    trained = ns["accuracies"][-1]
    assert "epochs: 3, batch size: 64, optimizer: adam" in out and trained > 0.6, (
        out
    )  # chance is 10%
    assert out.count("Epoch 3\n") == 2 and "Epoch 4\n" not in out  # the loop cell ran twice
    assert "Saved weights: outputs/model_weights.pth (replacing those of an earlier run)" in out
    assert_png(workdir / "outputs" / "06_learning_curves.png")

    ns, out = run_cells("07_save_load.py", monkeypatch)
    assert printed_accuracy(out, "Test accuracy of these weights") == round(100 * trained, 1)
    for line in [
        "Loaded weights from outputs/model_weights.pth (saved ",
        "Built on meta, loaded with mmap and assign: the same outputs",
        "the weights equal training without a break: True",
        "refuses a whole model: UnpicklingError",
        "VGG16: 138,357,544 parameters, 528 MiB as float32",
        "train mode: two calls differ: True; eval mode: two calls agree: True",
    ]:
        assert line in out, f"{line!r} not in:\n{out}"
    assert re.search(r'Predicted: "[\w /-]+", Actual: "[\w /-]+"', out)
    assert_png(workdir / "outputs" / "07_predictions.png")
    assert (
        sum(path.stat().st_size for path in (workdir / "outputs").iterdir()) < 20e6
    )  # no VGG16 file


SCRIPT_FLAGS = {  # 06 and 07 run as scripts in test_06_then_07_as_scripts
    "01_tensors.py": ["--seed", "1", "--device", "cpu"],
    "02_data.py": ["--subset", "300", "--num-workers", "1", "--output-dir", "figures"],
    "03_transforms.py": ["--subset", "300", "--data-dir=~/data"],  # ~: the home folder
    "04_model.py": ["--seed", "3"],
    "05_autograd.py": ["--device", "cpu"],
}


@pytest.fixture(scope="session", autouse=True)
def start_method():
    """forkserver where there is one (Linux, macOS), else spawn (Windows): a worker imports the
    script."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return "spawn"
    from multiprocessing import forkserver

    multiprocessing.set_forkserver_preload(
        ["torch", "torchvision"]
    )  # for 02's worker, while tests run
    forkserver.ensure_running()
    return "forkserver"


@pytest.mark.parametrize("lesson", sorted(SCRIPT_FLAGS))
def test_lesson_as_a_script(lesson, workdir, monkeypatch, start_method):
    method = multiprocessing.get_start_method(allow_none=True)
    multiprocessing.set_start_method(start_method, force=True)  # 02's worker must not run 02 again
    try:
        status, out, err = run_script(lesson, *SCRIPT_FLAGS[lesson], monkeypatch=monkeypatch)
    finally:
        multiprocessing.set_start_method(method, force=True)
    assert status == 0 and not err, err
    assert "Using " in out and re.search(r"Exercise \d\d\.1: not tried yet", out)
    if lesson == "02_data.py":
        assert (
            "Training samples: 300" in out
            and "Worker processes loading batches: 1 (num_workers=1)" in out
        )
        assert_png(workdir / "figures" / "02_first_image.png")
        assert not (
            workdir / "outputs"
        ).exists()  # the default folder: a worker running 02 again makes it


def test_06_then_07_as_scripts(workdir, monkeypatch):
    flags = ["--optimizer", "adam", "--epochs", "1", "--subset", "500"]  # a quick run that learns
    status, out, err = run_script("06_train.py", *flags, monkeypatch=monkeypatch)
    assert status == 0 and not err, err
    assert "Training on 500 samples, testing on 200; epochs: 1" in out and "for 1 epoch(s)" in out
    trained = printed_accuracy(out, "Final test accuracy")
    shutil.move(workdir / "outputs" / "model_weights.pth", workdir / "mine.pth")
    status, out, err = run_script(
        "07_save_load.py", "--weights", "mine.pth", monkeypatch=monkeypatch
    )
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
    torch.save(
        {"epoch": 1, "model_state_dict": common.NeuralNetwork().state_dict()}, workdir / "saved.pth"
    )


BAD_INPUTS = [  # (lesson, flags, what the message says, exit status: argparse's 2 for a bad flag)
    (
        "06_train.py",
        ["--data-dir", "nothing/here"],
        "Without internet, download its four files (",
        1,
    ),
    (
        "03_transforms.py",
        ["--data-dir", "~/fashion"],
        "/data holds it. Run again with --data-dir data.",
        1,
    ),
    ("03_transforms.py", ["--data-dir", "data/FashionMNIST/raw"], "is inside the data set", 1),
    ("06_train.py", ["--epochs", "0"], "argument --epochs: must be at least 1, got '0'", 2),
    (
        "06_train.py",
        ["--epoch", "3"],
        "unrecognized arguments: --epoch 3; did you mean --epochs?",
        2,
    ),
    ("06_train.py", ["--lr", "-0.1"], "argument --lr: must be a finite number above 0", 2),
    ("06_train.py", ["--optimizer", "adamw"], "argument --optimizer: invalid choice: 'adamw'", 2),
    (
        "06_train.py",
        ["--device", "cuda:99"],
        "--device: 'cuda:99' is not a device of this machine: cpu",
        2,
    ),
    (
        "04_model.py",
        ["--device", "gpu"],
        "argument --device: 'gpu' is not a device of this machine",
        2,
    ),
    ("02_data.py", ["--num-workers", "99999"], "argument --num-workers: must be from 0 to", 2),
    (
        "06_train.py",
        ["--output-dir", "a_file"],
        "argument --output-dir: a_file cannot be written",
        2,
    ),
    (
        "06_train.py",
        ["--lr", "1e30", "--epochs", "2"],
        "after 1 epoch(s) the test loss went from",
        1,
    ),
    (
        "06_train.py",
        ["--optimizer", "adam", "--lr", "10", "--epochs", "1"],
        "did not learn enough",
        1,
    ),
    ("06_train.py", ["--lr", "1e-9", "--epochs", "1", "--subset", "100"], "if it barely moved", 1),
    (
        "06_train.py",
        ["--data-dir", "a_file/data"],
        "a_file is a file: name the folder that holds",
        2,
    ),
    ("07_save_load.py", ["--weights", "missing.pth"], "saved by torch.save (FileNotFoundError", 2),
    (
        "07_save_load.py",
        ["--weights", "text.pth"],
        "text.pth is not a state_dict of NeuralNetwork",
        2,
    ),
    ("07_save_load.py", ["--weights", "picture.png"], "picture.png is not a state_dict of", 2),
    (
        "07_save_load.py",
        ["--weights", "whole.pth"],
        "Unsupported global: GLOBAL common.NeuralNetwork",
        2,
    ),
    (
        "07_save_load.py",
        ["--weights", "other.pth"],
        'Missing key(s) in state_dict: "linear_relu_stack',
        2,
    ),
    (
        "07_save_load.py",
        ["--weights", "saved.pth"],
        'Unexpected key(s) in state_dict: "epoch", "model_',
        2,
    ),
]


@pytest.mark.parametrize("lesson, flags, message, status", BAD_INPUTS, ids=lambda v: str(v)[:24])
def test_bad_input_is_one_clear_paragraph(lesson, flags, message, status, workdir, monkeypatch):
    make_bad_files(workdir)
    if message.startswith("Without internet"):  # no data in the current folder either
        shutil.move(workdir / "data", workdir / "elsewhere")
    before = (workdir / "outputs" / "model_weights.pth").read_bytes()
    result = run_script(lesson, *flags, monkeypatch=monkeypatch)
    assert result[0] == status, result
    text = one_paragraph(result[2])
    assert message in text, text
    assert (
        workdir / "outputs" / "model_weights.pth"
    ).read_bytes() == before  # nothing saved is lost
    assert not any(
        (workdir / name).exists() for name in ("nothing", "fashion")
    )  # no folder left behind
    if status == 2:  # a bad flag is found before any work
        assert text.startswith("usage: ") and "Epoch" not in result[1]
    if "inside the data set" in message:
        assert text.endswith(f"Run again with --data-dir {(workdir / 'data').resolve()}.")
        assert not (
            workdir / "data" / "FashionMNIST" / "FashionMNIST"
        ).exists()  # nothing made there
    if message.startswith("Without internet"):  # where to get the files, and where to put them
        assert (
            common.DATA_SOURCE in text
            and f"{workdir.resolve()}/nothing/here/FashionMNIST/raw " in text
        )


def test_errors_in_a_notebook_are_one_clear_paragraph(workdir, monkeypatch):
    with pytest.raises(common.Stop) as stop:  # a setting edited to a bad value
        run_cells("06_train.py", monkeypatch, edits=[("epochs=10", "epochs=0")])
    assert one_paragraph(str(stop.value)).startswith("error: setting epochs=0: must be at least 1")
    assert stop.value._render_traceback_() == [str(stop.value)]  # what IPython shows: that alone
    code = [cell for cell in cells("06_train.py") if "# Exercise" not in cell]
    ns = {"__name__": "__main__"}
    edits = [("lr=1e-3", "lr=50"), ("epochs=10", "epochs=1")]
    with pytest.raises(common.Stop) as stop:  # lr 50 blows up: nothing is saved
        run_cells("06_train.py", monkeypatch, code, edits, times=1, namespace=ns)
    text = one_paragraph(str(stop.value))
    assert "did not learn enough to keep" in text and "try a smaller learning rate" in text
    assert "--" not in text and not (workdir / "outputs" / "model_weights.pth").exists()
    # The learner sets a good lr and runs the settings cell, the loop and the check only: the
    # loop cell builds a new model and optimizer from the settings, so the run learns.
    (settings,) = [cell for cell in code if "args = parse_settings" in cell]
    (loop,) = [cell for cell in code if "for t in range(args.epochs)" in cell]
    (learned,) = [cell for cell in code if "learned = " in cell]
    edits = [('optimizer="sgd"', 'optimizer="adam"'), ("epochs=10", "epochs=2")]
    _, out = run_cells("06_train.py", monkeypatch, [settings, loop, learned], edits, 1, ns)
    assert "optimizer: adam, lr: 0.001" in out and ns["accuracies"][-1] > 0.6, out


# Exercises: every answer in SOLUTIONS.md goes through its lesson's real exercise cell, run after
# the lesson's imports cell alone. A section of SOLUTIONS.md holds the solution, then under
# "#### Right answers" and "#### Wrong answers" one ```python block per answer; each wrong one is
# followed by the line "It gets: `fragment`", a part of the verdict it must get.
def read_solutions():
    """{exercise: (solution, [right answer], [(wrong answer, fragment)])} from SOLUTIONS.md."""
    text = (REPO / "SOLUTIONS.md").read_text(encoding="utf-8")
    found = {}
    for section in re.split(r"(?m)^### Exercise ", text)[1:]:
        solution_part, _, answers = section.partition("\n#### Right answers\n")
        right_part, _, wrong_part = answers.partition("\n#### Wrong answers\n")
        found[section[:4]] = (
            re.findall(r"```python\n(.*?)```", solution_part, re.S)[0],
            re.findall(r"```python\n(.*?)```", right_part, re.S),
            re.findall(r"```python\n(.*?)```\nIt gets: `([^`]+)`\n", wrong_part, re.S),
        )
    return found


SOLUTIONS = read_solutions()
EXERCISES = sorted(
    name
    for lesson in LESSONS
    for name in re.findall(r"(?m)^# Exercise (\d\d\.\d):", (REPO / lesson).read_text("utf-8"))
)


def with_answer(cell, answer):
    """The exercise cell with `answer` in place of its stub's `return ...  # your code`; an
    answer that starts with `def` or `class` replaces that whole definition, down to the stub."""
    stub = re.search(r"(?m)^( *)return \.\.\.  # your code\n", cell)
    start, indent = stub.start(), stub[1]
    if answer.startswith(("def ", "class ")):
        keyword = answer.split()[0]
        definition = list(re.finditer(rf"(?m)^( *){keyword} ", cell[:start]))[-1]
        start, indent = definition.start(), definition[1]
    lines = [f"{indent}{line}" if line else "" for line in answer.splitlines()]
    return cell[:start] + "\n".join(lines) + "\n" + cell[stub.end() :]


def verdicts(name, answer=None, times=2):
    """What the exercise cell prints, run `times` times after the imports cell, with `answer`
    in place of the stub (None: the stub itself)."""
    lesson = next(lesson for lesson in LESSONS if lesson.startswith(name[:2]))
    imports = next(cell for cell in cells(lesson) if "from exercises import check" in cell)
    (cell,) = [cell for cell in cells(lesson) if f"# Exercise {name}:" in cell]
    if answer is not None:
        cell = with_answer(cell, answer)
    namespace, out = {"__name__": "__main__"}, io.StringIO()
    with contextlib.redirect_stdout(out):
        for index, code in enumerate([imports] + [cell] * times):
            filename = f"{lesson}, cell {index}"  # its text, for tracebacks, as IPython keeps it
            linecache.cache[filename] = (len(code), None, code.splitlines(True), filename)
            exec(compile(code, filename, "exec"), namespace)
    return out.getvalue().splitlines()


@pytest.mark.parametrize("name", EXERCISES)
def test_exercise_judges_fairly(name):
    assert sorted(SOLUTIONS) == EXERCISES, "each exercise has one section in SOLUTIONS.md"
    solution, right, wrong = SOLUTIONS[name]
    assert len(right) >= 5 and len(wrong) >= 6, f"{name}: {len(right)} right, {len(wrong)} wrong"
    lesson = next(lesson for lesson in LESSONS if lesson.startswith(name[:2]))
    (cell,) = [cell for cell in cells(lesson) if f"# Exercise {name}:" in cell]
    line = cell[: cell.index("return ...  # your code")].count("\n") + 1  # the stub's, in the file
    raised = f"line {line}, `return [][0]`, raised IndexError: list index out of range"
    expected = [
        (None, "not tried yet"),
        (solution, "correct"),
        (solution.replace("return ", ""), "not yet: it returned None: did you forget `return`?"),
        ("return [][0]", f"not yet: ... {raised}"),
        *((answer, "correct") for answer in right),
        *((answer, f"not yet: ... {fragment}") for answer, fragment in wrong),
    ]
    for answer, verdict in expected:
        first, second = verdicts(name, answer)  # the cell, run twice: one line each, the same
        assert first == second and len(first) < 330, f"{answer}\n->\n{first}\n{second}"
        start, _, fragment = verdict.partition("... ")
        assert first.startswith(f"Exercise {name}: {start}") and fragment in first, (
            f"{answer}\n-> {first}\nexpected {verdict}"
        )
        if verdict in ("correct", "not tried yet"):
            assert first == f"Exercise {name}: {verdict}", f"{answer}\n-> {first}"


MY_SCRIPT = """
import torch
from torch.utils.data import DataLoader, Dataset
from common import parse_settings

class Squares(Dataset):  # defined in this script: workers must import it to unpickle it
    def __len__(self):
        return 4

    def __getitem__(self, index):
        return index * index

def main():
    args = parse_settings(num_workers=0, lr=1e-3)
    loader = DataLoader(Squares(), batch_size=2, num_workers=args.num_workers)
    print("lr", args.lr, "batches", [batch.tolist() for batch in loader])

if __name__ == "__main__":
    main()
"""


@pytest.mark.parametrize("beside_common", [True, False], ids=["beside-common", "elsewhere"])
def test_your_own_script_reads_flags_and_keeps_its_workers(beside_common, tmp_path, monkeypatch):
    # A learner's script: beside a copy of common.py, or in another folder importing ours.
    if beside_common:
        shutil.copy(REPO / "common.py", tmp_path)
        monkeypatch.delitem(sys.modules, "common")  # the script imports the copy
        monkeypatch.syspath_prepend(str(tmp_path))
    (tmp_path / "my_script.py").write_text(MY_SCRIPT)
    method = multiprocessing.get_start_method(allow_none=True)
    multiprocessing.set_start_method("forkserver", force=True)  # a worker imports the script
    try:
        result = run_script(
            tmp_path / "my_script.py", "--num-workers", "1", "--lr", "0.5", monkeypatch=monkeypatch
        )
    finally:
        multiprocessing.set_start_method(method, force=True)
    assert result[:2] == (0, "lr 0.5 batches [[0, 1], [4, 9]]\n"), result


def test_settings_in_a_kernel_and_unknown_names(monkeypatch):
    # An editor's console: __main__ is a lesson file, but sys.argv is the kernel's: no flags read
    kernel = type(sys)("__main__")
    kernel.__file__ = str(REPO / "06_train.py")
    monkeypatch.setitem(sys.modules, "__main__", kernel)
    monkeypatch.setattr(sys, "argv", [*KERNEL_ARGV, "--epochs", "3"])
    assert common.parse_settings(epochs=10).epochs == 10
    assert getattr(kernel, "__spec__", None) is None  # not run as a script: left alone
    with pytest.raises(common.Stop) as stop:
        common.parse_settings(epochs=10, resume=True)
    assert one_paragraph(str(stop.value)).startswith("error: no setting is called 'resume'; the")


def test_house_style():
    """Rules of style, not behaviour (../shared/STYLE.md): how the lessons read as notebooks."""
    for lesson in LESSONS:
        text = (REPO / lesson).read_text(encoding="utf-8")
        assert text.startswith(f"# %% [markdown]\n# # {lesson[:2]} · "), (
            lesson
        )  # the cover page, a title
        assert (
            re.search(r"(?m)^# ## Settings 设置", text)
            and "# ## Further reading 延伸阅读\n# - [" in text
        )
        assert not re.search(r"(?m)^(# %% [^\[]|[ \t]+# %%|def main\()", text), (
            lesson
        )  # no hidden titles
        names = re.search(r"(?m)^from common import (.*)$", text).group(1).split(", ")
        assert len(names) <= 5, f"{lesson} imports {len(names)} names from common.py"
        assert 2 <= len(re.findall(r"(?m)^# Exercise \d\d\.\d:", text)) <= 3, lesson
        assert 3 <= text.count("# Predict before you run:") <= 5, lesson
        # jupytext reads a comment that starts with a shell command (cat, ls, ...) as a magic
        assert not re.search(r"(?m)^# (cat|cd|cp|ls|mv|rm|mkdir|echo)( |$)", text), lesson


def test_nothing_left_in_the_repository():
    assert sorted(path.name for path in REPO.iterdir()) == REPO_FILES


# your_images.py, as a learner runs it: copied alone into an empty folder, run by a new Python
# there (no PYTHONPATH), on a generated folder of RGB images in four classes.
IMAGE_CLASSES = ["ant", "bee", "cat", "dog"]


@pytest.fixture(scope="session")
def image_folder(tmp_path_factory):
    """30 noisy RGB PNG images per class, of two sizes; class k has a light bar at column 2 + 5k."""
    from PIL import Image

    root = tmp_path_factory.mktemp("photos")
    rng = np.random.default_rng(0)
    for k, name in enumerate(IMAGE_CLASSES):
        (root / name).mkdir()
        for i in range(30):
            shape = (24, 20, 3) if i % 2 else (20, 24, 3)  # (H, W, C): two sizes, both resized
            pixels = rng.integers(0, 160, size=shape, dtype=np.uint8)
            pixels[:, 2 + 5 * k : 5 + 5 * k] += 90
            Image.fromarray(pixels).save(root / name / f"{i}.png")
    return root


def run_your_images(folder, *runs, start_method=None):
    """`python your_images.py args` for each list of args, one after the other in one new Python
    (it imports torch once), in `folder` beside a copy of the script; returns the ended process."""
    import subprocess

    shutil.copy(REPO / "your_images.py", folder)
    code = "import multiprocessing, runpy, sys"
    if start_method:
        code += f"; multiprocessing.set_start_method({start_method!r})"
    if start_method == "forkserver":  # workers fork from a server that imported torch once
        code += "; multiprocessing.set_forkserver_preload(['torch', 'torchvision'])"
    for args in runs:
        argv = ["your_images.py", *map(str, args)]
        code += f"; sys.argv = {argv!r}; runpy.run_path('your_images.py', run_name='__main__')"
    env = {name: value for name, value in os.environ.items() if name != "PYTHONPATH"}
    warnings = ["-W", "error::DeprecationWarning", "-W", "error::FutureWarning"]  # as in pytest
    return subprocess.run(
        [sys.executable, *warnings, "-c", code], cwd=folder, env=env, capture_output=True, text=True
    )


def test_your_images_trains_with_workers_under_spawn(image_folder, tmp_path):
    flags = ["--epochs", "1", "--image-size", "16", "--batch-size", "16", "--num-workers", "2"]
    image = image_folder / "bee" / "3.png"
    result = run_your_images(
        tmp_path, [image_folder, *flags], [image_folder, "--predict", image], start_method="spawn"
    )
    assert result.returncode == 0 and not result.stderr, result.stderr
    accuracy = float(re.search(r"validation accuracy ([\d.]+)%", result.stdout).group(1))
    assert accuracy >= 2 * 100 / len(IMAGE_CLASSES), result.stdout  # at least twice chance
    assert f"{image}: bee (" in result.stdout, result.stdout
    written = sorted(path.name for path in tmp_path.rglob("*"))
    assert written == ["checkpoint.pth", "outputs", "your_images.py"]  # no checkpoint.tmp left


def test_your_images_resumes_exactly(image_folder, tmp_path):
    flags = [image_folder, "--subset", "100", "--image-size", "16", "--batch-size", "16"]
    flags += ["--num-workers", "0", "--device", "cpu"]  # bit for bit: on a CPU
    result = run_your_images(
        tmp_path,
        [*flags, "--epochs", "2", "--output-dir", "resumed"],
        [*flags, "--epochs", "4", "--output-dir", "resumed", "--resume"],
        [*flags, "--epochs", "4", "--output-dir", "unbroken"],
    )
    assert result.returncode == 0 and not result.stderr, result.stderr
    assert f"Resumed from {Path('resumed', 'checkpoint.pth')}, after epoch 2" in result.stdout
    resumed, unbroken = (
        torch.load(tmp_path / folder / "checkpoint.pth", weights_only=True)
        for folder in ("resumed", "unbroken")
    )
    assert resumed["epoch"] == unbroken["epoch"] == 4
    for name, weights in unbroken["model_state_dict"].items():
        assert torch.equal(resumed["model_state_dict"][name], weights), name


YOUR_IMAGES_MISTAKES = [  # (flags, what the message says); "photos": the image folder
    (["empty"], "cannot read images from empty (FileNotFoundError: Found no valid file for the"),
    (["nothing/here"], "cannot read images from nothing/here (FileNotFoundError: [Errno 2]"),
    (["--predict", "notes.txt"], "cannot read notes.txt as an image (UnidentifiedImageError"),
    (["broken"], "an image in broken cannot be read (UnidentifiedImageError: cannot identify"),
    (["--epochs", "1"], "give the folder of your images: python your_images.py photos"),
    (["photos", "--resume"], f"no checkpoint at {Path('outputs', 'checkpoint.pth')}: train first"),
]


@pytest.mark.parametrize("flags, message", YOUR_IMAGES_MISTAKES, ids=lambda v: str(v)[:24])
def test_your_images_mistakes_are_one_clear_paragraph(
    flags, message, image_folder, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "empty" / "cats").mkdir(parents=True)  # a class folder without images
    (tmp_path / "notes.txt").write_text("not an image")
    shutil.copytree(image_folder, tmp_path / "broken")
    class_folder = next(path for path in (tmp_path / "broken").iterdir() if path.is_dir())
    (class_folder / "broken.png").write_text("not an image either")
    flags = [image_folder if flag == "photos" else flag for flag in flags]
    status, _, err = run_script("your_images.py", *flags, monkeypatch=monkeypatch)
    assert status == 1 and message in one_paragraph(err), err
    assert not (tmp_path / "outputs").exists()
