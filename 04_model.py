"""04 · Build the neural network 构建神经网络

A network is an nn.Module made of other modules (layers). This lesson defines the
Fashion-MNIST classifier, makes a prediction, walks one batch through each kind
of layer printing shapes, and lists the parameters.

Run:  python 04_model.py [--device cpu] [--seed 0]
"""

# %% Imports
import torch
from torch import nn

from common import get_device, parse_settings, seed_everything

# %% Settings 设置
# On the command line, flags override these (python 04_model.py --help).
# In a notebook no flags are read: edit the values here.
args = parse_settings(device=None, seed=0)
seed_everything(args.seed)

# %% Get Device for Training 选择设备
# torch.accelerator finds CUDA (NVIDIA), MPS (Apple's Metal Performance Shaders;
# the notes' 多进程服务 confuses it with NVIDIA's Multi-Process Service), XPU
# (Intel) ... by itself; the notes test torch.cuda and torch.backends.mps by hand.
device = get_device(args.device)


# %% Define the Class 定义网络
# __init__ creates the layers; forward says how data flows through them.
# Lessons 06 and 07 import this same class from common.py (a test checks they agree).
class NeuralNetwork(nn.Module):
    def __init__(self):
        super().__init__()
        self.flatten = nn.Flatten()
        self.linear_relu_stack = nn.Sequential(
            nn.Linear(28 * 28, 512),
            nn.ReLU(),
            nn.Linear(512, 512),
            nn.ReLU(),
            nn.Linear(512, 10),
        )

    def forward(self, x):
        x = self.flatten(x)  # (N, 28, 28) -> (N, 784)
        logits = self.linear_relu_stack(x)  # (N, 784) -> (N, 10)
        return logits


model = NeuralNetwork().to(device)
print(model)

# %% What print(model) shows
# Each layer with its sizes, not the number of parameters (the notes say it does);
# that is counted at the end of this lesson.
assert "669706" not in str(model) and "669,706" not in str(model)

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
assert torch.equal(y_pred, logits.argmax(1))  # softmax keeps the order

# %% Model Layers 模型的层: a minibatch of 3 random "images"
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
# (This cell computes its own input, so it can run again.)
hidden1 = layer1(flat_image)
print(f"\nBefore ReLU: {hidden1.detach()[0, :5]} ...")
hidden1 = nn.ReLU()(hidden1)
print(f"After ReLU:  {hidden1.detach()[0, :5]} ...")
assert (hidden1 >= 0).all()

# %% nn.Sequential: an ordered container; data goes through the modules in order
seq_modules = nn.Sequential(flatten, layer1, nn.ReLU(), nn.Linear(20, 10))
input_image = torch.rand(3, 28, 28)
logits = seq_modules(input_image)  # (3, 28, 28) -> (3, 10)
print(f"\nAfter nn.Sequential: {logits.size()}")
assert logits.shape == (3, 10)

# %% nn.Softmax: logits in (-inf, inf) -> probabilities in [0, 1]
# dim=1 is the dimension that must sum to 1: the 10 classes of each image.
softmax = nn.Softmax(dim=1)
pred_probab = softmax(logits)
print(f"Softmax row sums: {pred_probab.sum(dim=1).detach()}")
torch.testing.assert_close(pred_probab.sum(dim=1), torch.ones(3))

# %% Model Parameters 模型参数
# nn.Module tracks every layer's weights and biases; named_parameters() lists them.
# param[:2] is the first two *rows* (the notes say "values"): for the first layer's
# (512, 784) weight that is a (2, 784) tensor, so only its first 3 columns are printed.
print(f"\nModel structure: {model}\n")
for name, param in model.named_parameters():
    preview = param.detach()[:2]  # the first two rows; for a 1-D bias, its first two values
    print(f"Layer: {name} | Size: {param.size()} | param[:2]: {tuple(preview.shape)}")
    print(f"  its first values: {preview[..., :3]}")
first_weight = model.linear_relu_stack[0].weight
assert first_weight[:2].shape == (2, 784)

# %% Counting parameters: (inputs + 1 bias) x outputs, for each Linear layer
total = sum(p.numel() for p in model.parameters())
expected = (784 + 1) * 512 + (512 + 1) * 512 + (512 + 1) * 10
print(f"\nTotal parameters: {total:,}")
assert total == expected == 669_706

# %% Further reading 延伸阅读
# https://pytorch.org/tutorials/beginner/basics/buildmodel_tutorial.html
# https://pytorch.org/docs/stable/nn.html
# https://pytorch.org/docs/stable/generated/torch.nn.Module.html
# https://pytorch.org/docs/stable/accelerator.html (torch.accelerator)
