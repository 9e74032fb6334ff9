# %% [markdown]
# # 01 · Tensors 张量
#
# Tensors are PyTorch's arrays: like NumPy's `ndarray`, but they can live on an accelerator,
# and autograd records the operations on those that require gradients (lesson 05). This lesson
# creates them, reads their attributes, moves them to a device, indexes, joins, computes, and
# shares memory with NumPy.
#
# In a notebook or an editor, run the cells in order. As a script: `python 01_tensors.py`
# (flags: `--device cpu`, `--seed 0`; `--help` lists them).

# %%
import inspect
import warnings

import numpy as np
import torch

from common import parse_settings
from exercises import check

# %% [markdown]
# ## Settings 设置
# On the command line, flags override these values (`python 01_tensors.py --device cpu`).
# In a notebook no flags are read: edit them here, then run this cell and the ones below.

# %%
args = parse_settings(device=None, seed=0)
torch.manual_seed(args.seed)  # the same seed gives the same random numbers
device = args.device  # the accelerator if there is one (CUDA, MPS, ...), else the CPU

# %% [markdown]
# ## Initializing a Tensor 创建张量
# Directly from data. The dtype is inferred from the Python values.

# %%
data = [[1, 2], [3, 4]]
x_data = torch.tensor(data)
# Predict before you run: which dtype do Python ints become?
print(f"From data:\n{x_data}\ndtype: {x_data.dtype}\n")
assert x_data.dtype == torch.int64

# %% [markdown]
# From a NumPy array: `torch.from_numpy` keeps NumPy's dtype and shares its memory (see the
# bridge at the end).

# %%
np_array = np.array(data)
x_np = torch.from_numpy(np_array)
print(f"From NumPy:\n{x_np}\n")
assert torch.equal(x_np, x_data)

# %% [markdown]
# From another tensor: the `*_like` functions copy the shape, dtype and device (and layout) of
# their argument unless told otherwise.

# %%
x_ones = torch.ones_like(x_data)  # int64, shape (2, 2), like x_data
x_rand = torch.rand_like(x_data, dtype=torch.float)  # dtype overridden: rand needs floats
print(f"torch.ones_like(x_data):\n{x_ones}\n")
print(f"torch.rand_like(x_data, dtype=torch.float):\n{x_rand}\n")
assert x_ones.shape == x_data.shape and x_ones.dtype == x_data.dtype
assert x_ones.device == x_data.device and x_rand.device == x_data.device
assert x_rand.dtype == torch.float32

# %% [markdown]
# With a shape: a tuple of dimension sizes, which the creation functions take.

# %%
shape = (2, 3)
rand_tensor = torch.rand(shape)
ones_tensor = torch.ones(shape)
zeros_tensor = torch.zeros(shape)
print(f"torch.rand({shape}):\n{rand_tensor}\n")
print(f"torch.ones({shape}):\n{ones_tensor}\n")
print(f"torch.zeros({shape}):\n{zeros_tensor}\n")
assert rand_tensor.shape == ones_tensor.shape == zeros_tensor.shape == shape

# %% [markdown]
# ## Attributes of a Tensor 张量的属性
# `shape`, `dtype` and `device`: the three things to check first when an operation fails.

# %%
tensor = torch.rand(3, 4)
print(f"Shape of tensor: {tensor.shape}")
print(f"Datatype of tensor: {tensor.dtype}")
print(f"Device tensor is stored on: {tensor.device}\n")
assert tensor.shape == (3, 4) and tensor.device.type == "cpu"

# %% [markdown]
# ## Operations on Tensors 张量运算
# The official tutorial counts over 1200 tensor operations (the
# [torch reference](https://pytorch.org/docs/stable/torch.html) lists them). A rough count of
# our own: the distinct public function and method names in `torch`, on `Tensor`, and in
# `linalg`, `fft`, `special` and `nn.functional`. It gives the order of magnitude, not the
# tutorial's number: it also counts in-place twins (`add_` beside `add`), kernels for one
# backend (`cudnn_*`, ...) and utilities such as `torch.save` or `Tensor.tolist`.

# %%
namespaces = [torch, torch.Tensor, torch.linalg, torch.fft, torch.special, torch.nn.functional]
names = set()
for space in namespaces:
    for name in dir(space):
        thing = getattr(space, name)
        if not name.startswith("_") and callable(thing) and not inspect.isclass(thing):
            names.add(name)
twins = [name for name in names if name.endswith("_") and name[:-1] in names]
backend = ("cudnn_", "miopen_", "mkldnn_", "fbgemm_")
kernels = [name for name in names if name.startswith(backend)]
print(f"Distinct public function names: {len(names)}")
print(f"  among them in-place twins: {len(twins)}, backend kernels: {len(kernels)}\n")
assert len(names) > 1000 and len(twins) > 100

# %% [markdown]
# ## Moving a tensor to the device
# Creation functions make tensors on the CPU by default; `device=` chooses another, and the
# `*_like` functions and operations keep their input's device. `.to(device)` returns a copy on
# that device (the tensor itself, if it is there already). Copies take time, so training moves
# the model once and each batch as it comes (lessons 02 and 06). The settings cell chose the
# device with `torch.accelerator` (PyTorch 2.6 and newer), which finds whichever accelerator
# this PyTorch build supports: CUDA (NVIDIA GPUs, and AMD GPUs in ROCm builds), Apple's MPS,
# Intel's XPU, ... Older code asks `torch.cuda.is_available()`, which knows only the CUDA
# device type.

# %%
tensor = torch.rand(3, 4).to(device)  # made on the CPU, then copied (unless device is the CPU)
print(f"After .to(device), stored on: {tensor.device}")
made_there = torch.rand(3, 4, device=device)  # made on the device: nothing to copy
print(f"Made with device=device, stored on: {made_there.device}\n")
assert tensor.device.type == made_there.device.type == device.type

# %% [markdown]
# ## Indexing and slicing 索引和切片
# Like NumPy, with one difference you will meet: no negative steps (`t[::-1]` raises;
# `torch.flip` reverses). `...` stands for as many `:` as needed, so `t[..., -1]` is the last
# column whatever the number of dimensions. Assigning to a slice writes into the tensor.

# %%
tensor = torch.ones(4, 4)
print(f"First row: {tensor[0]}")
print(f"First column: {tensor[:, 0]}")
print(f"Last column: {tensor[..., -1]}")
row = torch.arange(4)
try:
    backwards = row[::-1]
except ValueError as err:
    print(f"row[::-1] raises ValueError: {err}")
else:
    raise AssertionError("a negative step should raise")
backwards = torch.flip(row, dims=[0])
print(f"torch.flip(row, dims=[0]): {backwards}")
assert backwards.tolist() == [3, 2, 1, 0]
tensor[:, 1] = 0
print(f"After tensor[:, 1] = 0:\n{tensor}\n")
assert tensor[:, 1].sum() == 0 and tensor.sum() == 12

# %% [markdown]
# ## Joining tensors 拼接
# `torch.cat` glues along an existing dimension; `torch.stack` adds a new one (so its inputs
# must all have the same shape).

# %%
t_cat = torch.cat([tensor, tensor, tensor], dim=1)
t_stack = torch.stack([tensor, tensor, tensor], dim=0)
# Predict before you run: the two shapes, from three (4, 4) tensors.
print(f"torch.cat(dim=1) shape: {t_cat.shape}")
print(f"torch.stack(dim=0) shape: {t_stack.shape}\n")
assert t_cat.shape == (4, 12) and t_stack.shape == (3, 4, 4)

# %% [markdown]
# ## Arithmetic operations 算术运算
# Three spellings of the matrix product of `tensor` and its transpose, and three of the
# element-wise product. `out=` writes the result into a tensor that already exists.

# %%
y1 = tensor @ tensor.T
y2 = tensor.matmul(tensor.T)
y3 = torch.rand_like(y1)
torch.matmul(tensor, tensor.T, out=y3)
print(f"tensor @ tensor.T:\n{y1}\n")
assert torch.equal(y1, y2) and torch.equal(y1, y3)

z1 = tensor * tensor
z2 = tensor.mul(tensor)
z3 = torch.rand_like(tensor)
torch.mul(tensor, tensor, out=z3)
print(f"tensor * tensor:\n{z1}\n")
assert torch.equal(z1, z2) and torch.equal(z1, z3)

# %% [markdown]
# ### What `out=` does with the wrong dtype or shape
# Element-wise operations such as `mul` accept an `out=` of another dtype when `torch.can_cast`
# allows it and raise when not (float into int64). That rule checks the kind of number, not its
# precision: float32 goes into float64, and as silently into float16, losing digits. `matmul` is
# stricter: any dtype but the result's own raises. An empty `out=` is resized silently; a
# non-empty one of the wrong shape is resized with a warning that this is deprecated.

# %%
wide = torch.empty(4, 4, dtype=torch.float64)
torch.mul(tensor, tensor, out=wide)
print(f"mul, out= of dtype float64: accepted ({wide.dtype})")
fine = torch.tensor([1.0001])
narrow = torch.empty(1, dtype=torch.float16)
torch.mul(fine, fine, out=narrow)
print(f"mul, out= of dtype float16: accepted, {(fine * fine).item():.6f} stored as {narrow.item()}")
assert torch.can_cast(torch.float32, torch.float16) and narrow.item() == 1.0
for op, dtype in [(torch.mul, torch.int64), (torch.matmul, torch.float64)]:
    try:
        op(tensor, tensor, out=torch.empty(4, 4, dtype=dtype))
    except RuntimeError as err:
        print(f"{op.__name__}, out= of dtype {dtype}: raises {str(err).splitlines()[0]!r}")
    else:
        raise AssertionError(f"{op.__name__} into an out= of dtype {dtype} should raise")
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")  # record the warning here, on purpose
    empty, wrong = torch.empty(0), torch.empty(3)
    torch.mul(tensor, tensor, out=empty)
    silent = len(caught) == 0
    torch.mul(tensor, tensor, out=wrong)
print(f"empty out= resized to {tuple(empty.shape)}, silently: {silent}")
warning_text = str(caught[-1].message)
deprecated = [sentence for sentence in warning_text.split(". ") if "deprecated" in sentence]
print(f'out= of shape (3,) resized to {tuple(wrong.shape)}, with a warning: "{deprecated[0]}"\n')
assert silent and wrong.shape == (4, 4) and deprecated

# %% [markdown]
# ## Single-element tensors 单元素张量
# `.item()` turns a one-element tensor into a plain Python number (to print a loss, say).

# %%
agg = tensor.sum()
agg_item = agg.item()
print(f"Sum: {agg_item} {type(agg_item)}\n")
assert agg_item == 12.0 and isinstance(agg_item, float)

# %% [markdown]
# ## In-place operations 原地操作
# A trailing underscore means "change this tensor": `add_`, `copy_`, `t_`, `zero_`, ...
# (This cell makes its own tensor, so it can run again.)

# %%
t = torch.ones(4, 4)
print(f"Before add_(5):\n{t}")
t.add_(5)
print(f"After add_(5):\n{t}\n")
assert t.sum() == 6 * 16

# %% [markdown]
# The notes say "JUST IGNORE IT THE USE OF IT IS DISCOURAGED", and the discouraging is PyTorch's
# own advice: its tutorial says in-place operations "can be problematic when computing
# derivatives" (autograd, lesson 05), its autograd notes that they rarely save much memory.
# Discouraged, not forbidden: autograd refuses one that overwrote a value saved for the backward
# pass, or that changed a leaf that requires grad outside `torch.no_grad()`; others work, and
# inside `no_grad` they are how an optimizer updates the parameters.

# %%
a = torch.ones(3, requires_grad=True)
b = a * 2
b.add_(1)  # a * 2's gradient does not need b: fine
b.sum().backward()
print(f"b = a * 2; b.add_(1): backward works, a.grad = {a.grad}")
assert a.grad.tolist() == [2.0, 2.0, 2.0]
a = torch.ones(3, requires_grad=True)
b = a.sigmoid()  # sigmoid's gradient is computed from its output b ...
b.mul_(2)  # ... which this overwrites
try:
    b.sum().backward()
except RuntimeError as err:
    print(f"b = a.sigmoid(); b.mul_(2): backward fails:\n  {str(err).split(';')[0]}")
else:
    raise AssertionError("backward() should have refused the overwritten tensor")
try:
    a.add_(1)
except RuntimeError as err:
    print(f"a.add_(1) on a leaf that requires grad: {str(err).split(';')[0]}")
else:
    raise AssertionError("an in-place change of a leaf that requires grad should raise")
with torch.no_grad():
    a.add_(1)  # as optimizer.step() does
print(f"The same inside torch.no_grad(): allowed, a = {a.detach()}\n")
assert a.tolist() == [2.0, 2.0, 2.0]

# %% [markdown]
# ## Bridge with NumPy 与 NumPy 的桥接
# On the CPU, `.numpy()` and `torch.from_numpy()` share memory: changing one changes the other.

# %%
t = torch.ones(5)
n = t.numpy()
t.add_(1)
# Predict before you run: what does n hold now?
print(f"t: {t}\nn: {n}")
assert n.tolist() == [2.0] * 5

n = np.ones(5)
t = torch.from_numpy(n)
np.add(n, 1, out=n)
print(f"t: {t}\nn: {n}")
assert t.tolist() == [2.0] * 5
# A tensor on an accelerator must come back first: t.cpu().numpy() (a copy).
print("\nAll tensor checks passed.")

# %% [markdown]
# ## Exercises 练习
# Replace `return ...  # your code` with your code and run the cell: it prints `correct`, or
# what is not right yet. Stuck? [SOLUTIONS.md](SOLUTIONS.md) has a hint for each exercise,
# then its solution.


# %%
# Exercise 01.1: broadcasting
def outer_sum(col, row):
    """Given col of shape (n, 1) and row of shape (1, m), return the (n, m) float tensor whose
    [i, j] entry is col[i, 0] + row[0, j]. Leave col and row as they are.

    Example: col [[0.0], [10.0]] and row [[1.0, 2.0, 3.0]] give
    [[1.0, 2.0, 3.0], [11.0, 12.0, 13.0]]. Broadcasting does it in one operation, without a
    Python loop."""
    return ...  # your code


check("01.1", outer_sum)


# %%
# Exercise 01.2: the NumPy bridge
def numpy_copy(t):
    """Return a NumPy array (np.ndarray) with the shape and values of the CPU tensor t (a float
    array for a float tensor, the same dtype for any other) that does *not* change when t
    changes afterwards. Leave t as it is.

    Example: torch.tensor([1.5, -2.0]) gives array([ 1.5, -2. ], dtype=float32), which keeps
    these values after t.add_(1)."""
    return ...  # your code


check("01.2", numpy_copy)

# %% [markdown]
# ## Where the notes differ 与笔记的出入
# - The notes say "张量操作中包括100多种操作" (over 100 tensor operations), as the tutorial
#   once did. Dated: it now says over 1200. Our rough count above (over 1000 names) is the same
#   order of magnitude, not a check of that number.
# - They say an `out=` tensor whose shape "不匹配或不合适" (does not match or does not suit)
#   raises. A wrong shape is resized (with a deprecation warning, unless the tensor was empty);
#   a wrong dtype raises for `matmul` always, for `mul` only when `torch.can_cast` forbids it
#   (*What `out=` does*).
# - They move tensors with `if torch.cuda.is_available()`. That still works for CUDA devices;
#   `torch.accelerator` also finds the other accelerator kinds built into PyTorch, such as MPS
#   and XPU (*Moving a tensor to the device*).

# %% [markdown]
# ## Further reading 延伸阅读
# - [Tensors tutorial](https://pytorch.org/tutorials/beginner/basics/tensorqs_tutorial.html)
# - [torch.Tensor reference](https://pytorch.org/docs/stable/tensors.html)
# - [Broadcasting semantics](https://pytorch.org/docs/stable/notes/broadcasting.html)
# - [NumPy indexing](https://numpy.org/doc/stable/user/basics.indexing.html)
