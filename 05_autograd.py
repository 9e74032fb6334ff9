# %% [markdown]
# # 05 · Automatic differentiation with `torch.autograd` 自动微分
#
# Training needs the gradient of the loss with respect to every parameter. autograd records
# the operations on tensors that require gradients and computes those gradients when you
# call `backward()`. Every gradient printed here is also checked against the value worked
# out by hand.
#
# In a notebook or an editor, run the cells in order. As a script: `python 05_autograd.py`
# (flags: `--device cpu`, `--seed 0`).

# %%
import torch

from common import parse_settings
from exercises import check

# %% [markdown]
# ## Settings 设置
# On the command line, flags override these values (`python 05_autograd.py --seed 1`).
# In a notebook no flags are read: edit them here, then run this cell and the ones below.

# %%
args = parse_settings(device=None, seed=0)
torch.manual_seed(args.seed)
device = args.device

# %% [markdown]
# ## A one-layer network 单层网络
# `w` and `b` are the parameters to learn, so they require gradients; `x` and `y` are data.

# %%
x = torch.ones(5, device=device)  # input
y = torch.zeros(3, device=device)  # expected output
w = torch.randn(5, 3, device=device, requires_grad=True)
b = torch.randn(3, device=device, requires_grad=True)
z = torch.matmul(x, w) + b  # (5,) @ (5, 3) + (3,) -> (3,)
loss = torch.nn.functional.binary_cross_entropy_with_logits(z, y)
print(f"loss = {loss.item():.4f}")
# Predict before you run: does computing the loss fill in w.grad?
print(f"w.grad after computing the loss: {w.grad}")
assert w.grad is None and b.grad is None  # computing the loss computes no gradient: backward() will

# %% [markdown]
# ## Tensors, Functions and Computational graph 计算图
# As operations run, autograd records a graph whose nodes are Function objects (one per
# operation: `MulBackward0`, `AddBackward0`, ...); the edges say which Function's output
# feeds which. A result's `grad_fn` is the node that made it. Every tensor has a `grad_fn`
# attribute, but for a *leaf* it is None: a leaf is a tensor that no recorded operation made,
# such as the parameters you created, and also any tensor that does not require grad.

# %%
print(f"Gradient function for z = {z.grad_fn}")
print(f"Gradient function for loss = {loss.grad_fn}")
inputs = [type(f).__name__ if f is not None else None for f, _ in loss.grad_fn.next_functions]
print(f"loss.grad_fn's inputs: {inputs} (None for the target y, which requires no gradient)")
print(f"w.grad_fn = {w.grad_fn}, x.grad_fn = {x.grad_fn} (leaves)")
assert w.is_leaf and w.grad_fn is None and not z.is_leaf and z.grad_fn is not None
assert x.is_leaf and not x.requires_grad and (x * 2).is_leaf  # no grad required: leaves too

# %% [markdown]
# ## A two-variable example: s = p^2 + q^3 at p=3, q=2
# ds/dp = 2p = 6 and ds/dq = 3q^2 = 12. (New names: `x` and `y` are the data above.)

# %%
p = torch.tensor(3.0, requires_grad=True)
q = torch.tensor(2.0, requires_grad=True)
s = p**2 + q**3
s.backward()
print(f"\nds/dp = {p.grad}, ds/dq = {q.grad}")
assert p.grad.item() == 6.0 and q.grad.item() == 12.0

# %% [markdown]
# ## Computing Gradients 计算梯度
# `loss.backward()` fills `w.grad` and `b.grad`.
# The forward pass is repeated here, so the cell can run again (see the next cells).

# %%
z = torch.matmul(x, w) + b
loss = torch.nn.functional.binary_cross_entropy_with_logits(z, y)
w.grad, b.grad = None, None  # start from no gradients: they accumulate (see below)
loss.backward()
print(f"\nw.grad:\n{w.grad}\nb.grad:\n{b.grad}")
# By hand: loss = mean over 3 outputs of BCE(z_j, 0), so dloss/dz_j = sigmoid(z_j) / 3;
# z = x @ w + b with x all ones, so every row of w.grad equals b.grad.
expected_b = torch.sigmoid(z.detach()) / 3
torch.testing.assert_close(b.grad, expected_b)
torch.testing.assert_close(w.grad, expected_b.expand(5, 3))
# Only leaves that require grad get .grad; for an inner tensor such as z, call
# z.retain_grad() before backward() if you need its gradient.

# %% [markdown]
# ### The graph is freed by `backward()`
# `backward()` frees the values the graph saved, so a second backward() through it fails.

# %%
try:
    loss.backward()
except RuntimeError as err:
    print(f"A second loss.backward(): {str(err).split('.')[0]}")
else:
    raise AssertionError("a second backward() through a freed graph should fail")

# %% [markdown]
# ### `requires_grad` can also be switched on later, in place

# %%
v = torch.ones(2)
v.requires_grad_(True)
assert v.requires_grad

# %% [markdown]
# ### One backward per graph, unless `retain_graph=True` 保留计算图
# A second pass through the same part of the graph needs retain_graph=True on every
# backward() through it except the last. Here z2.backward() and then y2.backward() both go
# through y2 = x2**2. (New names again: `x`, `y` and `z` belong to the network above.)

# %%
x2 = torch.tensor(2.0, requires_grad=True)
y2 = x2**2
z2 = y2**2  # z2 = x2^4
z2.backward(retain_graph=True)  # keep the graph: y2.backward() goes through x2**2 again
first = x2.grad.item()
y2.backward()  # the last pass may free the graph
second = x2.grad.item()
# Predict before you run: x2.grad after each call.
print(f"\nx2.grad after z2.backward(): {first}")
print(f"x2.grad after y2.backward() as well: {second}")
# dz2/dx2 = 4 x2^3 = 32 at x2 = 2; y2.backward() *adds* dy2/dx2 = 2 x2 = 4, as gradients
# accumulate: 36.
assert first == 4 * 2.0**3 == 32.0
assert second == 32.0 + 2 * 2.0 == 36.0

# %% [markdown]
# ## Disabling Gradient Tracking 禁用梯度跟踪
# `torch.no_grad()`: use it for inference: no graph is recorded, which saves memory and time.

# %%
z = torch.matmul(x, w) + b
print(f"\nz.requires_grad: {z.requires_grad}")
with torch.no_grad():
    z = torch.matmul(x, w) + b
print(f"inside torch.no_grad(): {z.requires_grad}")
assert not z.requires_grad

# %% [markdown]
# ### The same with `detach()`: cut from the graph, but not a copy
# `z.detach()` shares z's memory, so writing into it changes z too. `z.detach().clone()` is a
# copy.

# %%
z = torch.matmul(x, w) + b
z_det = z.detach()
print(f"z.detach().requires_grad: {z_det.requires_grad}")
assert z.requires_grad and not z_det.requires_grad
z_det[0] = 100.0  # writes into z's memory
z_copy = z.detach().clone()
z_copy[1] = 100.0  # writes into the copy only
print(f"After z_det[0] = 100 and z_copy[1] = 100: z[0] = {z[0].item()}, z[1] = {z[1].item():.4f}")
assert z[0].item() == 100.0 and z[1].item() != 100.0

# %% [markdown]
# ### Freezing parameters: `requires_grad=False` keeps a parameter out of training

# %%
frozen = torch.randn(5, 3, device=device, requires_grad=True)
frozen.requires_grad_(False)  # frozen: backward() leaves it alone
trainable = torch.randn(3, device=device, requires_grad=True)
loss = torch.nn.functional.binary_cross_entropy_with_logits(torch.matmul(x, frozen) + trainable, y)
loss.backward()
print(f"frozen.grad: {frozen.grad}, trainable.grad is set: {trainable.grad is not None}")
assert frozen.grad is None and trainable.grad is not None

# %% [markdown]
# ## More on Computational Graphs
# A new graph on every forward pass: the graph is recorded while the forward pass runs and
# freed by backward(); the next forward pass records a new one. So ordinary Python `if` and
# `for` can change the graph from one call to the next: here the graph's last node is
# `MulBackward0` for a positive input and `ExpBackward0` otherwise.

# %%
nodes = []
for value in [3.0, -2.0]:
    t = torch.tensor(value, requires_grad=True)
    out = t * t if t > 0 else t.exp()  # gradient 2t for t > 0, e^t otherwise
    out.backward()
    nodes.append(type(out.grad_fn).__name__)
    print(f"t = {value}: graph ends in {nodes[-1]}, gradient {t.grad.item():.4f}")
    torch.testing.assert_close(t.grad, 2 * t.detach() if value > 0 else t.detach().exp())
assert nodes == ["MulBackward0", "ExpBackward0"]

# %% [markdown]
# ## Optional Reading: Tensor Gradients and Jacobian Products 向量-雅可比积
# For y = f(x) with x of n values and y of m values, the Jacobian J is the m x n
# matrix of partial derivatives J[i, j] = dy_i / dx_j. For a tensor output,
# backward(v) computes the vector-Jacobian product v^T J, and v must have y's
# shape. Here out = (inp + 1)^2 transposed, so with v all ones the gradient is
# 2 (inp + 1): 4 on the diagonal of the 4x5 identity, 2 elsewhere.

# %%
inp = torch.eye(4, 5, device=device, requires_grad=True)
out = (inp + 1).pow(2).t()  # (4, 5) -> (5, 4)
v = torch.ones_like(out)  # the same shape as out
expected = 2 * (torch.eye(4, 5, device=device) + 1)
out.backward(v, retain_graph=True)
print(f"\nFirst call\n{inp.grad}")
torch.testing.assert_close(inp.grad, expected)
try:
    out.backward(torch.ones(4, 5, device=device), retain_graph=True)  # the input's shape, not out's
except RuntimeError as err:
    print(f"A v of the wrong shape: {str(err).splitlines()[0]}")
else:
    raise AssertionError("backward(v) with v not shaped like the output should fail")

# %% [markdown]
# ### Gradients accumulate; zero them between steps

# %%
inp.grad = None
out.backward(v, retain_graph=True)
out.backward(v, retain_graph=True)
# Predict before you run: inp.grad after two backward calls.
print(f"\nSecond call (gradients accumulate: doubled)\n{inp.grad}")
torch.testing.assert_close(inp.grad, 2 * expected)
inp.grad.zero_()
out.backward(v, retain_graph=True)
print(f"\nCall after zeroing gradients\n{inp.grad}")
torch.testing.assert_close(inp.grad, expected)

# %% [markdown]
# ### What `optimizer.zero_grad()` does
# By default (set_to_none=True) it sets each .grad to None rather than filling it
# with zeros: less memory, and the next backward() writes instead of adds.

# %%
optimizer = torch.optim.SGD([inp], lr=0.1)
optimizer.zero_grad()
print(f"After optimizer.zero_grad(): inp.grad is {inp.grad}")
assert inp.grad is None

# %% [markdown]
# ### `backward()` on a scalar is `backward(torch.tensor(1.0))`

# %%
s1 = torch.tensor(3.0, requires_grad=True)
(s1**2).backward()
s2 = torch.tensor(3.0, requires_grad=True)
(s2**2).backward(torch.tensor(1.0))
assert s1.grad == s2.grad == 6.0
print("\nAll gradient checks passed.")

# %% [markdown]
# ## Exercises 练习
# Replace `return ...  # your code` with your code and run the cell: it prints `correct`, or
# what is not right yet. Stuck? [SOLUTIONS.md](SOLUTIONS.md) has a hint for each exercise,
# then its solution.


# %%
# Exercise 05.1: a gradient by hand
def grad_by_hand(x):
    """For f(x) = sum(x^2 * sin(x)) over the elements of the float tensor x, of any shape,
    return df/dx: a tensor of x's shape, worked out by hand. backward(), torch.autograd
    and torch.func are not allowed here (autograd checks your answer). Leave x as it is: its
    values, its requires_grad and its .grad. Example: for x = torch.tensor([0.0, 1.0]), it returns
    tensor([0.0000, 2.2232]), as 2 sin(1) + cos(1) = 2.2232."""
    return ...  # your code


check("05.1", grad_by_hand)


# %%
# Exercise 05.2: a loss gradient by hand
def mse_gradient(X, w, y):
    """For the loss mean((X @ w - y)^2) of a linear model, with X of shape (N, D), w of shape
    (D,) and y of shape (N,), return dloss/dw: a tensor of shape (D,), worked out by hand.
    backward(), torch.autograd and torch.func are not allowed here. Leave X, w and y as they are.
    Example: for X = torch.tensor([[1.0, 0.0], [0.0, 2.0]]), w = torch.ones(2) and
    y = torch.zeros(2), it returns tensor([1., 4.])."""
    return ...  # your code


check("05.2", mse_gradient)

# %% [markdown]
# ## Where the notes differ 与笔记的出入
# - They say computing the loss computes the gradients (当我们计算损失时…自动计算梯度). Only
#   `backward()` does: *A one-layer network* shows `w.grad` still None after the loss.
# - They have tensors as the graph's nodes and functions as its edges (张量…表示计算图中的
#   节点，而函数则表示计算图中的边). The nodes are Functions (`grad_fn`); an edge links a
#   Function to the one whose output it takes (*Tensors, Functions and Computational graph*).
# - They say their retain_graph example prints 64 and then 128, and that only the first
#   backward() needs `retain_graph=True`. Run, it prints 32 and then 36, and every backward()
#   through the shared part but the last needs it (*One backward per graph*).
# - They say `detach()` cuts a tensor from the graph, "使其成为一个独立的张量，不再与原始计算相关联"
#   (making it an independent tensor). Cut from the graph, yes; independent, no: PyTorch's
#   reference says the result "shares the same storage with the original one", so writing into
#   one changes both. `.detach().clone()` makes a copy (*The same with `detach()`*).
# - They say each `backward()` recreates the graph from scratch (每次调用.backward()时，都会从
#   头开始重新创建图). The forward pass records it; `backward()` frees it (*More on
#   Computational Graphs*).

# %% [markdown]
# ## Further reading 延伸阅读
# - [Automatic Differentiation tutorial](https://pytorch.org/tutorials/beginner/basics/autogradqs_tutorial.html)
# - [Autograd mechanics](https://pytorch.org/docs/stable/notes/autograd.html)
# - [torch.autograd reference](https://pytorch.org/docs/stable/autograd.html)
# - [A gentle introduction to torch.autograd](https://pytorch.org/tutorials/beginner/blitz/autograd_tutorial.html)
