"""04 · Build the neural network 构建神经网络

A network is an nn.Module made of other modules (layers). This lesson builds the
Fashion-MNIST classifier (common.NeuralNetwork), makes a prediction, walks one
batch through each kind of layer printing shapes, and lists the parameters.

Run:  python 04_model.py [--device cpu] [--seed 0]
"""

import torch
from torch import nn

from common import NeuralNetwork, get_device, make_parser, seed_everything


def count_parameters(model):
    return sum(p.numel() for p in model.parameters())


def main():
    args = make_parser(__doc__).parse_args()
    seed_everything(args.seed)

    # %% Get device for training 选择设备
    # torch.accelerator finds CUDA, MPS, XPU ... by itself (the notes test
    # torch.cuda and torch.backends.mps by hand); --device overrides it.
    device = get_device(args.device)

    # %% Define the class 定义网络
    # __init__ creates the layers; forward says how data flows through them.
    # The class is in common.py because lessons 06 and 07 use it too: read it there.
    model = NeuralNetwork().to(device)
    print(model)

    # %% Make a prediction 预测
    # Call model(X), never model.forward(X): the call also runs PyTorch's hooks.
    # The output has one row per image (dim 0) and 10 raw scores, logits, per row (dim 1).
    X = torch.rand(1, 28, 28, device=device)
    logits = model(X)  # (1, 28, 28) -> (1, 10)
    pred_probab = nn.Softmax(dim=1)(logits)  # logits -> probabilities summing to 1 per row
    y_pred = pred_probab.argmax(1)  # index of the largest probability: the class
    print(f"\nLogits shape: {logits.shape}")
    print(f"Predicted class: {y_pred}")
    assert logits.shape == (1, 10)
    torch.testing.assert_close(pred_probab.sum(dim=1), torch.ones(1, device=device))
    # softmax keeps the order, so argmax of the logits gives the same class
    assert torch.equal(y_pred, logits.argmax(1))

    # %% Model layers 模型的层: a minibatch of 3 random "images"
    input_image = torch.rand(3, 28, 28)
    print(f"\nInput: {input_image.size()}")

    # %% nn.Flatten: each 28x28 image -> 784 values, keeping the batch dimension
    flatten = nn.Flatten()
    flat_image = flatten(input_image)  # (3, 28, 28) -> (3, 784)
    print(f"After nn.Flatten: {flat_image.size()}")
    assert flat_image.shape == (3, 784)

    # %% nn.Linear: y = x W^T + b, with weights W and biases b learned in training
    layer1 = nn.Linear(in_features=28 * 28, out_features=20)
    hidden1 = layer1(flat_image)  # (3, 784) -> (3, 20)
    print(f"After nn.Linear(784, 20): {hidden1.size()}")
    assert hidden1.shape == (3, 20)

    # %% nn.ReLU: the non-linearity; negatives become 0, positives pass unchanged
    # Without it, stacked Linear layers would collapse into one linear map.
    print(f"\nBefore ReLU: {hidden1.detach()[0, :5]} ...")
    hidden1 = nn.ReLU()(hidden1)
    print(f"After ReLU:  {hidden1.detach()[0, :5]} ...")
    assert (hidden1 >= 0).all()

    # %% nn.Sequential: an ordered container; data goes through the modules in order
    seq_modules = nn.Sequential(flatten, layer1, nn.ReLU(), nn.Linear(20, 10))
    logits = seq_modules(torch.rand(3, 28, 28))  # (3, 28, 28) -> (3, 10)
    print(f"\nAfter nn.Sequential: {logits.size()}")
    assert logits.shape == (3, 10)

    # %% nn.Softmax: logits in (-inf, inf) -> probabilities in [0, 1]
    # dim=1 is the dimension that must sum to 1: the 10 classes of each image.
    softmax = nn.Softmax(dim=1)
    pred_probab = softmax(logits)
    print(f"Softmax row sums: {pred_probab.sum(dim=1).detach()}")
    torch.testing.assert_close(pred_probab.sum(dim=1), torch.ones(3))

    # %% Model parameters 模型参数
    # nn.Module tracks every layer's weights and biases; named_parameters() lists them.
    print(f"\nModel structure: {model}\n")
    for name, param in model.named_parameters():
        print(f"Layer: {name} | Size: {param.size()} | Values: {param.detach()[:2].flatten()[:4]} ...")

    # %% Counting parameters: (inputs + 1 bias) x outputs, for each Linear layer
    total = count_parameters(model)
    expected = (784 + 1) * 512 + (512 + 1) * 512 + (512 + 1) * 10
    print(f"\nTotal parameters: {total:,}")
    assert total == expected == 669_706


if __name__ == "__main__":
    main()
