"""01 · Tensors 张量

Tensors are PyTorch's arrays: like NumPy's ndarray, but they can live on an
accelerator and they remember how they were computed (for autograd, lesson 05).
This lesson creates them, reads their attributes, moves them to a device,
indexes, joins, does arithmetic, and shares memory with NumPy.

Run:  python 01_tensors.py [--device cpu] [--seed 0]
Step through the `# %%` cells in VS Code, PyCharm or Jupyter (see README.md).
"""

# %% Imports
import warnings

import numpy as np
import torch

from common import get_device, parse_settings, seed_everything

# %% Settings 设置
# On the command line, flags override these (python 01_tensors.py --help).
# In a notebook no flags are read: edit the values here.
args = parse_settings(device=None, seed=0)
seed_everything(args.seed)
device = get_device(args.device)

# %% Initializing a Tensor 创建张量: directly from data
# The dtype is inferred: Python ints become int64, floats become float32.
data = [[1, 2], [3, 4]]
x_data = torch.tensor(data)
print(f"From data:\n{x_data}\ndtype: {x_data.dtype}\n")
assert x_data.dtype == torch.int64

# %% From a NumPy array
# torch.from_numpy keeps NumPy's dtype and shares its memory (see the bridge below).
np_array = np.array(data)
x_np = torch.from_numpy(np_array)
print(f"From NumPy:\n{x_np}\n")
assert torch.equal(x_np, x_data)

# %% From another tensor
# *_like functions copy the shape and dtype of their argument unless told otherwise.
x_ones = torch.ones_like(x_data)  # int64, shape (2, 2), like x_data
x_rand = torch.rand_like(x_data, dtype=torch.float)  # dtype overridden: rand needs floats
print(f"torch.ones_like(x_data):\n{x_ones}\n")
print(f"torch.rand_like(x_data, dtype=torch.float):\n{x_rand}\n")
assert x_ones.shape == x_data.shape and x_ones.dtype == x_data.dtype
assert x_rand.dtype == torch.float32

# %% What is shape? 形状
# A tuple of dimension sizes; creation functions take it to size their output.
shape = (2, 3)
rand_tensor = torch.rand(shape)
ones_tensor = torch.ones(shape)
zeros_tensor = torch.zeros(shape)
print(f"torch.rand({shape}):\n{rand_tensor}\n")
print(f"torch.ones({shape}):\n{ones_tensor}\n")
print(f"torch.zeros({shape}):\n{zeros_tensor}\n")
assert rand_tensor.shape == ones_tensor.shape == zeros_tensor.shape == shape

# %% Attributes of a Tensor 张量的属性
# shape, dtype and device: the three things to check first when an operation fails.
tensor = torch.rand(3, 4)
print(f"Shape of tensor: {tensor.shape}")
print(f"Datatype of tensor: {tensor.dtype}")
print(f"Device tensor is stored on: {tensor.device}\n")
assert tensor.shape == (3, 4) and tensor.device.type == "cpu"

# %% Operations on Tensors 张量运算
# The notes say "over 100" operations; the current official tutorial says over 1200
# (https://pytorch.org/docs/stable/torch.html lists them). Count the public callables
# in torch, on tensors, and in the linalg, fft, special and nn.functional namespaces:
namespaces = [torch, torch.Tensor, torch.linalg, torch.fft, torch.special, torch.nn.functional]
count = sum(callable(getattr(space, name)) for space in namespaces for name in dir(space) if name[0] != "_")
print(f"Public operations counted: {count} (the notes' 'over 100' is long out of date)\n")
assert count > 1200

# %% Moving a tensor to the device
# Tensors are made on the CPU; .to(device) copies one to the accelerator (slow
# for big tensors: move data once, not in every step). The notes'
# `if torch.cuda.is_available(): tensor.to("cuda")` knows only NVIDIA GPUs;
# common.get_device asks torch.accelerator, which also finds Apple's MPS, Intel's XPU, ...
tensor = torch.rand(3, 4).to(device)
print(f"After .to(device), stored on: {tensor.device}\n")
assert tensor.device.type == device.type

# %% Indexing and slicing 索引和切片: just like NumPy
tensor = torch.ones(4, 4)
print(f"First row: {tensor[0]}")
print(f"First column: {tensor[:, 0]}")
print(f"Last column: {tensor[..., -1]}")  # ... means "all the dimensions before"
tensor[:, 1] = 0  # assigning to a slice writes into the tensor
print(f"After tensor[:, 1] = 0:\n{tensor}\n")
assert tensor[:, 1].sum() == 0 and tensor.sum() == 12

# %% Joining tensors: torch.cat vs torch.stack 拼接
# torch.cat glues along an existing dimension; torch.stack adds a new one (inputs must be the same shape).
t_cat = torch.cat([tensor, tensor, tensor], dim=1)  # 3 x (4, 4) -> (4, 12)
t_stack = torch.stack([tensor, tensor, tensor], dim=0)  # 3 x (4, 4) -> (3, 4, 4)
print(f"torch.cat(dim=1) shape: {t_cat.shape}")
print(f"torch.stack(dim=0) shape: {t_stack.shape}\n")
assert t_cat.shape == (4, 12) and t_stack.shape == (3, 4, 4)

# %% Arithmetic operations 算术运算: matrix product
# Three spellings of tensor times its transpose; out= writes into an existing tensor.
y1 = tensor @ tensor.T
y2 = tensor.matmul(tensor.T)
y3 = torch.rand_like(y1)
torch.matmul(tensor, tensor.T, out=y3)
print(f"tensor @ tensor.T:\n{y1}\n")
assert torch.equal(y1, y2) and torch.equal(y1, y3)

# %% Arithmetic operations: element-wise product
z1 = tensor * tensor
z2 = tensor.mul(tensor)
z3 = torch.rand_like(tensor)
torch.mul(tensor, tensor, out=z3)
print(f"tensor * tensor:\n{z1}\n")
assert torch.equal(z1, z2) and torch.equal(z1, z3)

# %% What out= does with a tensor of the wrong shape or dtype
# The notes say a mismatched out= raises. A wrong *shape* is resized to fit, with a
# warning; a wrong *dtype* is what raises.
wrong_shape = torch.empty(3)
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    torch.mul(tensor, tensor, out=wrong_shape)
print(f"out= of shape (3,) was resized to {tuple(wrong_shape.shape)}, warning: {len(caught) == 1}")
assert wrong_shape.shape == (4, 4) and "resized" in str(caught[0].message)
try:
    torch.mul(tensor, tensor, out=torch.empty(4, 4, dtype=torch.int64))
except RuntimeError as err:
    print(f"out= of dtype int64 raises: {str(err).splitlines()[0]}\n")
else:
    raise AssertionError("a float result into an int64 out= should raise")

# %% Single-element tensors 单元素张量
# .item() turns a one-element tensor into a plain Python number (e.g. to print a loss).
agg = tensor.sum()
agg_item = agg.item()
print(f"Sum: {agg_item} {type(agg_item)}\n")
assert agg_item == 12.0 and isinstance(agg_item, float)

# %% In-place operations 原地操作
# A trailing underscore means "change this tensor": add_, copy_, t_, zero_ ...
# This cell makes its own tensor, so running it again gives the same result.
t = torch.ones(4, 4)
print(f"Before add_(5):\n{t}")
t.add_(5)
print(f"After add_(5):\n{t}\n")
assert t.sum() == 6 * 16

# %% In-place caveat: they can destroy what autograd needs
# They save memory, but overwrite values that backward() may still need, so
# PyTorch refuses to differentiate through them. Prefer the normal forms.
a = torch.ones(3, requires_grad=True)
b = a.sigmoid()  # sigmoid's gradient is computed from its output b
b.mul_(2)  # ... which this overwrites
try:
    b.sum().backward()
except RuntimeError as err:
    print(f"backward() after an in-place change fails:\n  {str(err).split(';')[0]}\n")
else:
    raise AssertionError("backward() should have refused the overwritten tensor")

# %% Bridge with NumPy 与 NumPy 的桥接: tensor -> NumPy array
# On the CPU, .numpy() shares memory: changing one changes the other.
t = torch.ones(5)
n = t.numpy()
t.add_(1)
print(f"t: {t}\nn: {n}")
assert n.tolist() == [2.0] * 5

# %% Bridge with NumPy: NumPy array -> tensor
n = np.ones(5)
t = torch.from_numpy(n)
np.add(n, 1, out=n)
print(f"t: {t}\nn: {n}")
assert t.tolist() == [2.0] * 5
# A tensor on an accelerator must come back first: t.cpu().numpy() (a copy).
print("\nAll tensor checks passed.")

# %% Further reading 延伸阅读
# https://pytorch.org/tutorials/beginner/basics/tensorqs_tutorial.html
# https://pytorch.org/docs/stable/tensors.html
# https://pytorch.org/docs/stable/torch.html
# https://numpy.org/doc/stable/user/basics.indexing.html
