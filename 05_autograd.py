"""05 · Automatic differentiation with torch.autograd 自动微分

Training needs the gradient of the loss with respect to every parameter.
autograd records the operations on tensors that require gradients and computes
those gradients with backward(). Every gradient printed here is also checked
against the value worked out by hand.

Run:  python 05_autograd.py [--device cpu] [--seed 0]
"""

import torch

from common import get_device, make_parser, seed_everything


def build_one_layer_net(device):
    """The notes' one-layer network: input x, parameters w and b, a binary cross-entropy loss."""
    x = torch.ones(5, device=device)  # input
    y = torch.zeros(3, device=device)  # expected output
    w = torch.randn(5, 3, device=device, requires_grad=True)
    b = torch.randn(3, device=device, requires_grad=True)
    z = torch.matmul(x, w) + b  # (5,) @ (5, 3) + (3,) -> (3,)
    loss = torch.nn.functional.binary_cross_entropy_with_logits(z, y)
    return x, w, b, z, loss


def pick_power(x):
    """Python control flow inside the graph: which operations run depends on the data."""
    return x**2 if x > 0 else x**3


def main():
    args = make_parser(__doc__).parse_args()
    seed_everything(args.seed)
    device = get_device(args.device)

    # %% A one-layer network 单层网络
    # w and b are the parameters to learn, so they require gradients; x and y are data.
    x, w, b, z, loss = build_one_layer_net(device)
    print(f"loss = {loss.item():.4f}")

    # %% Tensors, functions and the computational graph 计算图
    # Every result of a tracked operation points to the Function that made it
    # (grad_fn); backward() follows those pointers from the loss back to w and b.
    print(f"Gradient function for z = {type(z.grad_fn).__name__}")
    print(f"Gradient function for loss = {type(loss.grad_fn).__name__}")
    print(f"w.is_leaf = {w.is_leaf}, z.is_leaf = {z.is_leaf}")
    assert w.is_leaf and not z.is_leaf

    # %% A two-variable example: z = x^2 + y^3 at x=3, y=2
    # dz/dx = 2x = 6 and dz/dy = 3y^2 = 12.
    a = torch.tensor(3.0, requires_grad=True)
    c = torch.tensor(2.0, requires_grad=True)
    (a**2 + c**3).backward()
    print(f"\nd(x^2 + y^3)/dx = {a.grad}, d/dy = {c.grad}")
    assert a.grad.item() == 6.0 and c.grad.item() == 12.0

    # %% Computing gradients 计算梯度: loss.backward() fills w.grad and b.grad
    loss.backward()
    print(f"\nw.grad:\n{w.grad}\nb.grad:\n{b.grad}")
    # By hand: loss = mean over 3 outputs of BCE(z_j, 0), so dloss/dz_j = sigmoid(z_j) / 3;
    # z = x @ w + b with x all ones, so every row of w.grad equals b.grad.
    expected_b = torch.sigmoid(z.detach()) / 3
    torch.testing.assert_close(b.grad, expected_b)
    torch.testing.assert_close(w.grad, expected_b.expand(5, 3))
    # Only leaves that require grad get .grad; for an inner tensor such as z,
    # call z.retain_grad() before backward() if you need its gradient.

    # %% requires_grad can also be switched on later, in place
    v = torch.ones(2)
    v.requires_grad_(True)
    assert v.requires_grad

    # %% One backward per graph, unless retain_graph=True 保留计算图
    # backward() frees the graph's saved values, so a second pass through the same
    # part of the graph needs retain_graph=True on every backward except the last.
    x = torch.tensor(2.0, requires_grad=True)
    y = x**2
    z = y**2  # z = x^4
    z.backward(retain_graph=True)  # keep the graph: y.backward() goes through x**2 again
    first = x.grad.item()
    y.backward()  # the last pass may free the graph
    second = x.grad.item()
    print(f"\nx.grad after z.backward(): {first}")
    print(f"x.grad after y.backward() as well: {second}")
    # The notes say 64 and then 128. The right values: dz/dx = 4x^3 = 32 at x=2,
    # and y.backward() *adds* dy/dx = 2x = 4, because gradients accumulate: 36.
    assert first == 4 * 2.0**3 == 32.0
    assert second == 32.0 + 2 * 2.0 == 36.0
    print("(The notes print 64 and 128; that is wrong: 4x^3 = 32, then + 2x = 36.)")

    # %% Disabling gradient tracking 禁用梯度跟踪: torch.no_grad()
    # Use it for inference: no graph is recorded, which saves memory and time.
    x, w, b, z, loss = build_one_layer_net(device)
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
    w.requires_grad_(False)
    loss = torch.nn.functional.binary_cross_entropy_with_logits(
        torch.matmul(x, w) + b, torch.zeros(3, device=device)
    )
    loss.backward()
    print(f"frozen w.grad: {w.grad}, trainable b.grad is set: {b.grad is not None}")
    assert w.grad is None and b.grad is not None

    # %% More on computational graphs: the graph is rebuilt on every forward pass
    # So ordinary Python if/for can change it from one call to the next.
    for value, expected in [(3.0, 6.0), (-2.0, 12.0)]:  # 2x for x > 0, 3x^2 otherwise
        t = torch.tensor(value, requires_grad=True)
        pick_power(t).backward()
        print(f"pick_power({value}): gradient {t.grad.item()}")
        assert t.grad.item() == expected

    # %% Optional: tensor gradients and Jacobian products 雅可比积
    # For a tensor output, backward(v) computes v^T J, the vector-Jacobian product.
    # out = (inp + 1)^2, so with v all ones the gradient is 2 (inp + 1):
    # 4 on the diagonal of the 4x5 identity, 2 elsewhere.
    inp = torch.eye(4, 5, device=device, requires_grad=True)
    out = (inp + 1).pow(2).t()
    expected = 2 * (torch.eye(4, 5, device=device) + 1)
    out.backward(torch.ones_like(out), retain_graph=True)
    print(f"\nFirst call\n{inp.grad}")
    torch.testing.assert_close(inp.grad, expected)
    out.backward(torch.ones_like(out), retain_graph=True)
    print(f"\nSecond call (gradients accumulate: doubled)\n{inp.grad}")
    torch.testing.assert_close(inp.grad, 2 * expected)
    inp.grad.zero_()  # what optimizer.zero_grad() does for every parameter
    out.backward(torch.ones_like(out), retain_graph=True)
    print(f"\nCall after zeroing gradients\n{inp.grad}")
    torch.testing.assert_close(inp.grad, expected)

    # %% backward() on a scalar is backward(torch.tensor(1.0))
    s1 = torch.tensor(3.0, requires_grad=True)
    (s1**2).backward()
    s2 = torch.tensor(3.0, requires_grad=True)
    (s2**2).backward(torch.tensor(1.0))
    assert s1.grad == s2.grad == 6.0
    print("\nAll gradient checks passed.")


if __name__ == "__main__":
    main()
