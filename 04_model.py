# %% [markdown]
# # 04 · Build the neural network 构建神经网络
#
# A network is an `nn.Module` made of other modules (layers). This lesson defines the
# Fashion-MNIST classifier, makes a prediction, walks one batch through each kind of layer
# printing shapes, and lists the parameters.
#
# In a notebook or an editor, run the cells in order. As a script: `python 04_model.py`
# (flags: `--device cpu`, `--seed 0`).

# %%
import torch
from torch import nn

from common import parse_settings
from exercises import check

# %% [markdown]
# ## Settings 设置
# On the command line, flags override these values (`python 04_model.py --device cpu`).
# In a notebook no flags are read: edit them here, then run this cell and the ones below.

# %%
args = parse_settings(device=None, seed=0)
torch.manual_seed(args.seed)

# %% [markdown]
# ## Get Device for Training 选择设备
# `torch.accelerator` (PyTorch 2.6 and newer) finds the accelerator this PyTorch build
# supports, if the machine has one: CUDA (NVIDIA GPUs, and AMD GPUs in ROCm builds), MPS
# (Apple's Metal Performance Shaders), XPU (Intel), ... Older code asks `torch.cuda` and
# `torch.backends.mps` one by one, which still works. `parse_settings` chose the same way,
# unless the `device` setting said otherwise.

# %%
accelerator = torch.accelerator.current_accelerator() if torch.accelerator.is_available() else None
print(f"Accelerator found: {accelerator}")
device = args.device
assert device.type in ("cpu", getattr(accelerator, "type", "cpu"))


# %% [markdown]
# ## Define the Class 定义网络
# `__init__` creates the layers; `forward` says how data flows through them. Lessons 06 and
# 07 import this same class from `common.py` (a test checks that the two agree).


# %%
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


# %% [markdown]
# An instance, moved to the device. `print(model)` shows each layer with its sizes, but not
# the number of parameters: neither the total nor the first layer's 401,920 appears. They are
# counted at the end of this lesson.

# %%
model = NeuralNetwork().to(device)
print(model)
shown = str(model).replace(",", "")
assert "669706" not in shown and "401920" not in shown

# %% [markdown]
# ## Make a prediction 预测
# Call `model(X)`, never `model.forward(X)`: the call also runs PyTorch's hooks. The output
# has one row per image (dim 0) and 10 raw scores, *logits*, per row (dim 1).

# %%
X = torch.rand(1, 28, 28, device=device)
logits = model(X)  # (1, 28, 28) -> (1, 10)
pred_probab = nn.Softmax(dim=1)(logits)  # logits -> probabilities summing to 1 per row
y_pred = pred_probab.argmax(1)  # index of the largest probability: the class
print(f"\nLogits shape: {logits.shape}")
print(f"Predicted class: {y_pred}")
assert logits.shape == (1, 10)
torch.testing.assert_close(pred_probab.sum(dim=1), torch.ones(1, device=device))
assert torch.equal(y_pred, logits.argmax(1))  # softmax keeps the order

# %% [markdown]
# ## Model Layers 模型的层
# A minibatch of 3 random "images", through each kind of layer in turn.

# %%
input_image = torch.rand(3, 28, 28)
print(f"\nInput: {input_image.size()}")

# %% [markdown]
# ### nn.Flatten
# Each 28x28 image becomes 784 values; the batch dimension stays.

# %%
flatten = nn.Flatten()
flat_image = flatten(input_image)
# Predict before you run: the shape after nn.Flatten.
print(f"After nn.Flatten: {flat_image.size()}")
assert flat_image.shape == (3, 784)

# %% [markdown]
# ### nn.Linear
# `y = x W^T + b`, with weights `W` and biases `b` learned in training.

# %%
layer1 = nn.Linear(in_features=28 * 28, out_features=20)
hidden1 = layer1(flat_image)  # (3, 784) -> (3, 20)
print(f"After nn.Linear(784, 20): {hidden1.size()}")
assert hidden1.shape == (3, 20)

# %% [markdown]
# ### nn.ReLU
# The non-linearity: negatives become 0, positives pass unchanged. Without it, stacked
# Linear layers would collapse into one linear map.

# %%
hidden1 = layer1(flat_image)  # computed again here, so the cell can run twice
print(f"\nBefore ReLU: {hidden1.detach()[0, :5]} ...")
hidden1 = nn.ReLU()(hidden1)
print(f"After ReLU:  {hidden1.detach()[0, :5]} ...")
assert (hidden1 >= 0).all()

# %% [markdown]
# ### nn.Sequential
# An ordered container: data goes through the modules in the order given.

# %%
seq_modules = nn.Sequential(flatten, layer1, nn.ReLU(), nn.Linear(20, 10))
input_image = torch.rand(3, 28, 28)
logits = seq_modules(input_image)  # (3, 28, 28) -> (3, 10)
print(f"\nAfter nn.Sequential: {logits.size()}")
assert logits.shape == (3, 10)

# %% [markdown]
# ### nn.Softmax
# Logits in (-inf, inf) become probabilities in [0, 1]. `dim=1` is the dimension that must
# sum to 1: the 10 classes of each image.

# %%
softmax = nn.Softmax(dim=1)
pred_probab = softmax(logits)
# Predict before you run: what does each row of probabilities sum to?
print(f"Softmax row sums: {pred_probab.sum(dim=1).detach()}")
torch.testing.assert_close(pred_probab.sum(dim=1), torch.ones(3))

# %% [markdown]
# ## Model Parameters 模型参数
# `nn.Module` tracks every layer's weights and biases; `named_parameters()` lists them.
# `param[:2]` is the first two *rows*: for the first layer's (512, 784) weight that is a
# (2, 784) tensor, so only its first 3 columns are printed.

# %%
for name, param in model.named_parameters():
    preview = param.detach()[:2]  # the first two rows; for a 1-D bias, its first two values
    print(f"Layer: {name} | Size: {param.size()} | param[:2]: {tuple(preview.shape)}")
    print(f"  its first values: {preview[..., :3]}")
assert model.linear_relu_stack[0].weight[:2].shape == (2, 784)

# %% [markdown]
# Counting parameters: each Linear layer has (inputs + 1 bias) x outputs.

# %%
total = sum(p.numel() for p in model.parameters())
expected = (784 + 1) * 512 + (512 + 1) * 512 + (512 + 1) * 10
# Predict before you run: about how many parameters? (Thousands? Millions?)
print(f"\nTotal parameters: {total:,}")
assert total == expected == 669_706

# %% [markdown]
# ## Exercises 练习
# Replace `return ...  # your code` with your code and run the cell: it prints `correct`, or
# what is not right yet. Stuck? [SOLUTIONS.md](SOLUTIONS.md) has a hint for each exercise,
# then its solution.


# %%
# Exercise 04.1: counting by formula
def count_parameters(sizes):
    """Given the sizes of a stack of nn.Linear layers, e.g. [784, 512, 512, 10] for this
    lesson's network, return the number of their parameters, an int (a 0-d integer tensor
    will do too). Count from the sizes alone: building the layers is not allowed here. Leave
    the list `sizes` as it is.
    Example: [3, 2] is one Linear(3, 2), with 3 * 2 weights and 2 biases: 8."""
    return ...  # your code


check("04.1", count_parameters)


# %%
# Exercise 04.2: a deeper network
def deeper_model():
    """Return an nn.Module (an nn.Sequential will do) that flattens a batch of images of shape
    (N, 1, 28, 28) and maps it 784 -> 256 -> 128 -> 64 -> 10 through nn.Linear layers
    (nn.LazyLinear will do), with a ReLU after each hidden layer and nothing after the last,
    and no other layer (no Dropout, no Softmax): it returns logits. Example: for a batch of 5
    images, its output has shape (5, 10). It is tried on values below 0 and above 1 too."""
    return ...  # your code


check("04.2", deeper_model)

# %% [markdown]
# ## Where the notes differ 与笔记的出入
# - They call MPS 多进程服务, the name of NVIDIA's Multi-Process Service. In PyTorch, MPS is
#   Apple's Metal Performance Shaders, the GPU backend of Apple silicon Macs.
# - They say `print(model)` prints each layer's 参数的数量 (number of parameters). It prints
#   only the layers and their sizes: the cell after *Define the Class* checks it.
# - They say `param[:2]` gives each parameter's 前两个值 (first two values). For a weight
#   matrix it is the first two rows (*Model Parameters*).

# %% [markdown]
# ## Further reading 延伸阅读
# - [Build the Neural Network tutorial](https://pytorch.org/tutorials/beginner/basics/buildmodel_tutorial.html)
# - [torch.nn](https://pytorch.org/docs/stable/nn.html) and [nn.Module](https://pytorch.org/docs/stable/generated/torch.nn.Module.html)
# - [torch.accelerator](https://pytorch.org/docs/stable/accelerator.html)
