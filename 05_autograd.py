"""05 · Automatic differentiation with torch.autograd 自动微分

Training needs the gradient of the loss with respect to every parameter.
autograd records the operations on tensors that require gradients and computes
those gradients when you call backward(). Every gradient printed here is also
checked against the value worked out by hand.

Run:  python 05_autograd.py [--device cpu] [--seed 0]
"""

# %% Imports
import torch

from common import get_device, parse_settings, seed_everything

# %% Settings 设置
# On the command line, flags override these (python 05_autograd.py --help).
# In a notebook no flags are read: edit the values here.
args = parse_settings(device=None, seed=0)
seed_everything(args.seed)
device = get_device(args.device)

# %% A one-layer network 单层网络
# w and b are the parameters to learn, so they require gradients; x and y are data.
x = torch.ones(5, device=device)  # input
y = torch.zeros(3, device=device)  # expected output
w = torch.randn(5, 3, device=device, requires_grad=True)
b = torch.randn(3, device=device, requires_grad=True)
z = torch.matmul(x, w) + b  # (5,) @ (5, 3) + (3,) -> (3,)
loss = torch.nn.functional.binary_cross_entropy_with_logits(z, y)
print(f"loss = {loss.item():.4f}")
# Computing the loss computes no gradient (the notes say it does): backward() does.
assert w.grad is None and b.grad is None

# %% Tensors, Functions and Computational graph 计算图
# As operations run, autograd records a graph whose nodes are Function objects
# (one per operation: MulBackward0, AddBackward0 ...); the edges say which
# Function's output feeds which. (The notes have tensors as nodes and functions as
# edges.) A result's grad_fn is the node that made it.
print(f"Gradient function for z = {z.grad_fn}")
print(f"Gradient function for loss = {loss.grad_fn}")
print(f"loss.grad_fn's inputs: {[type(f).__name__ for f, _ in loss.grad_fn.next_functions]}")
# Leaves, the tensors you made yourself, have no grad_fn (the notes say every tensor has one).
print(f"w.grad_fn = {w.grad_fn}, x.grad_fn = {x.grad_fn} (leaves)")
assert w.is_leaf and w.grad_fn is None and not z.is_leaf and z.grad_fn is not None

# %% A two-variable example: z = x^2 + y^3 at x=3, y=2
# dz/dx = 2x = 6 and dz/dy = 3y^2 = 12.
a = torch.tensor(3.0, requires_grad=True)
c = torch.tensor(2.0, requires_grad=True)
(a**2 + c**3).backward()
print(f"\nd(x^2 + y^3)/dx = {a.grad}, d/dy = {c.grad}")
assert a.grad.item() == 6.0 and c.grad.item() == 12.0

# %% Computing Gradients 计算梯度: loss.backward() fills w.grad and b.grad
# The forward pass is repeated here, so the cell can run again (see the next cells).
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

# %% The graph is freed by backward()
# backward() frees the values the graph saved, so a second backward() through it fails.
try:
    loss.backward()
except RuntimeError as err:
    print(f"A second loss.backward(): {str(err).split('.')[0]}")
else:
    raise AssertionError("a second backward() through a freed graph should fail")

# %% requires_grad can also be switched on later, in place
v = torch.ones(2)
v.requires_grad_(True)
assert v.requires_grad

# %% One backward per graph, unless retain_graph=True 保留计算图
# A second pass through the same part of the graph needs retain_graph=True on
# every backward() except the last (the notes say only the first needs it).
x2 = torch.tensor(2.0, requires_grad=True)
y2 = x2**2
z2 = y2**2  # z2 = x2^4
z2.backward(retain_graph=True)  # keep the graph: y2.backward() goes through x2**2 again
first = x2.grad.item()
y2.backward()  # the last pass may free the graph
second = x2.grad.item()
print(f"\nx.grad after z.backward(): {first}")
print(f"x.grad after y.backward() as well: {second}")
# The notes say 64 and then 128. The right values: dz/dx = 4x^3 = 32 at x=2,
# and y.backward() *adds* dy/dx = 2x = 4, because gradients accumulate: 36.
assert first == 4 * 2.0**3 == 32.0
assert second == 32.0 + 2 * 2.0 == 36.0
print("(The notes print 64 and 128; that is wrong: 4x^3 = 32, then + 2x = 36.)")

# %% Disabling Gradient Tracking 禁用梯度跟踪: torch.no_grad()
# Use it for inference: no graph is recorded, which saves memory and time.
z = torch.matmul(x, w) + b
print(f"\nz.requires_grad: {z.requires_grad}")
with torch.no_grad():
    z = torch.matmul(x, w) + b
print(f"inside torch.no_grad(): {z.requires_grad}")
assert not z.requires_grad

# %% The same with detach(): a tensor with the same values, cut from the graph
z = torch.matmul(x, w) + b
z_det = z.detach()
print(f"z.detach().requires_grad: {z_det.requires_grad}")
assert z.requires_grad and not z_det.requires_grad
assert torch.equal(z, z_det)

# %% Freezing parameters: requires_grad=False keeps a parameter out of training
frozen = torch.randn(5, 3, device=device, requires_grad=True)
frozen.requires_grad_(False)  # frozen: backward() leaves it alone
trainable = torch.randn(3, device=device, requires_grad=True)
loss = torch.nn.functional.binary_cross_entropy_with_logits(torch.matmul(x, frozen) + trainable, y)
loss.backward()
print(f"frozen.grad: {frozen.grad}, trainable.grad is set: {trainable.grad is not None}")
assert frozen.grad is None and trainable.grad is not None

# %% More on Computational Graphs: a new graph on every forward pass
# The graph is recorded while the forward pass runs and freed by backward(); the
# next forward pass records a new one. (The notes say backward() recreates it.)
# So ordinary Python if/for can change the graph from one call to the next:
for value, expected in [(3.0, 6.0), (-2.0, 12.0)]:
    t = torch.tensor(value, requires_grad=True)
    out = t**2 if t > 0 else t**3  # 2t for t > 0, 3t^2 otherwise
    out.backward()
    print(f"t = {value}: graph {type(out.grad_fn).__name__}, gradient {t.grad.item()}")
    assert t.grad.item() == expected

# %% Optional Reading: Tensor Gradients and Jacobian Products 雅可比积
# For y = f(x) with x of n values and y of m values, the Jacobian J is the m x n
# matrix of partial derivatives J[i, j] = dy_i / dx_j. For a tensor output,
# backward(v) computes the vector-Jacobian product v^T J, and v must have y's
# shape. Here out = (inp + 1)^2 transposed, so with v all ones the gradient is
# 2 (inp + 1): 4 on the diagonal of the 4x5 identity, 2 elsewhere.
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
    print(f"A v of the wrong shape: {str(err).splitlines()[0][:90]}")
else:
    raise AssertionError("backward(v) with v not shaped like the output should fail")

# %% Gradients accumulate; zero them between steps
inp.grad = None
out.backward(v, retain_graph=True)
out.backward(v, retain_graph=True)
print(f"\nSecond call (gradients accumulate: doubled)\n{inp.grad}")
torch.testing.assert_close(inp.grad, 2 * expected)
inp.grad.zero_()
out.backward(v, retain_graph=True)
print(f"\nCall after zeroing gradients\n{inp.grad}")
torch.testing.assert_close(inp.grad, expected)

# %% What optimizer.zero_grad() does
# By default (set_to_none=True) it sets each .grad to None rather than filling it
# with zeros: less memory, and the next backward() writes instead of adds.
optimizer = torch.optim.SGD([inp], lr=0.1)
optimizer.zero_grad()
print(f"After optimizer.zero_grad(): inp.grad is {inp.grad}")
assert inp.grad is None

# %% backward() on a scalar is backward(torch.tensor(1.0))
s1 = torch.tensor(3.0, requires_grad=True)
(s1**2).backward()
s2 = torch.tensor(3.0, requires_grad=True)
(s2**2).backward(torch.tensor(1.0))
assert s1.grad == s2.grad == 6.0
print("\nAll gradient checks passed.")

# %% Further reading 延伸阅读
# https://pytorch.org/tutorials/beginner/basics/autogradqs_tutorial.html
# https://pytorch.org/docs/stable/notes/autograd.html
# https://pytorch.org/docs/stable/autograd.html
# https://pytorch.org/tutorials/beginner/blitz/autograd_tutorial.html
