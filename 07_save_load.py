# %% [markdown]
# # 07 · Save & load the model 保存与加载模型
#
# A trained model is its learned parameters, kept in a `state_dict`. This lesson loads the
# weights that 06_train.py saved and checks they give the same accuracy, saves and reloads a
# state_dict, saves a checkpoint and resumes training from it, saves a whole model (and why
# not to), and looks at torchvision's VGG16, the tutorial's example.
#
# In a notebook or an editor, run the cells in order. As a script: `python 07_save_load.py`
# (flags: `--weights outputs/model_weights.pth`, `--pretrained`, `--data-dir data`,
# `--subset N`, `--output-dir outputs`, `--device cpu`, `--seed 0`). Writes
# `outputs/07_predictions.png` and a few small `.pth` files in `outputs/`; with `--pretrained`,
# also VGG16's weights, 528 MiB, and torchvision keeps its download (528 MiB more) in torch's
# hub cache (usually `~/.cache/torch/hub/checkpoints/`).

# %%
import copy
import pickle
import time

import matplotlib.pyplot as plt
import torch
from torch import nn
from torchvision import datasets, models
from torchvision.transforms.v2.functional import to_dtype

from common import NeuralNetwork, parse_settings, save_figure
from exercises import check

# %% [markdown]
# ## Settings 设置
# `weights=None` loads what 06_train.py saved in the output folder; `pretrained=True`
# downloads VGG16's ImageNet weights (528 MiB) and saves them, as the tutorial does. On the
# command line, flags override these values (`python 07_save_load.py --weights my.pth`). In a
# notebook no flags are read: edit them here, then run this cell and the ones below.

# %%
args = parse_settings(
    weights=None,
    pretrained=False,
    data_dir="data",
    subset=None,
    output_dir="outputs",
    device=None,
    seed=0,
)
torch.manual_seed(args.seed)
device = args.device
outputs = args.output_dir

# %% [markdown]
# ## Loading model weights 加载权重
# The class defines the network's shape, so make an instance first, then fill it.
# `weights_only=True` unpickles only tensors, numbers, strings and plain containers (dicts,
# lists, tuples): it is the default since torch 2.6, and before it a plain `torch.load` would
# run any code hidden in the file.
# `map_location` puts the tensors on our device, whatever device saved them.

# %%
model = NeuralNetwork().to(device)
weights = args.weights or outputs / "model_weights.pth"
if weights.is_file():
    model.load_state_dict(torch.load(weights, map_location=device, weights_only=True))
    saved = time.strftime("%Y-%m-%d %H:%M", time.localtime(weights.stat().st_mtime))
    print(f"Loaded weights from {weights} (saved {saved})")
else:
    print(f"No {weights} yet: run `python 06_train.py` to train and save one.")
    print("Continuing with an untrained network (expect about 10% accuracy).")

# %% [markdown]
# ## `model.eval()` before inference 推理前调用 eval()
# It switches dropout and batch normalization to their inference behaviour. This network has
# neither, but forgetting `eval()` on one that does changes the answers (see the end).

# %%
model.eval()

# %% [markdown]
# ## Check it: the accuracy that 06_train.py printed at its end
# The same test images (give 07 the `--subset` you gave 06, if any), batches of 1000 and
# uint8 -> float conversion as in 06.

# %%
test_data = datasets.FashionMNIST(root=args.data_dir, train=False, download=True)
classes = test_data.classes
images = test_data.data[: args.subset].unsqueeze(1)  # (N, 1, 28, 28) uint8
labels = test_data.targets[: args.subset]
batches = []
with torch.no_grad():
    for X in images.split(1000):
        X = to_dtype(X.to(device), torch.float32, scale=True)  # as in 06: uint8 -> float 0..1
        batches.append(model(X).argmax(1).cpu())
predictions = torch.cat(batches)
accuracy = (predictions == labels).sum().item() / len(labels)
print(f"Test accuracy of these weights: {100 * accuracy:.1f}%")

# %% [markdown]
# One prediction. A model takes a *batch*: `x.unsqueeze(0)` turns one (1, 28, 28) image into
# a batch of one, (1, 1, 28, 28). (The official quickstart passes the image itself; that
# works here only because `Flatten` reads its channel dimension as a batch of one: a colour
# image of (3, 28, 28) would be read as three one-channel images, and give three predictions.)
# A new image must go through the same transform as the training images: here 06's uint8 ->
# float 0..1 alone; had training also used `Normalize`, prediction would need it too, or the
# model gets inputs unlike any it learned from, and answers worse without an error.

# %%
x, y = images[0], labels[0]
with torch.no_grad():
    x = to_dtype(x.unsqueeze(0).to(device), torch.float32, scale=True)  # (1, 1, 28, 28)
    pred = model(x)  # (1, 10)
    predicted, actual = classes[pred[0].argmax(0)], classes[y]
print(f'Predicted: "{predicted}", Actual: "{actual}"')

# %% [markdown]
# Some test images with their predictions: green when right, red when wrong.

# %%
figure = plt.figure(figsize=(10, 8))
for i in range(min(12, len(labels))):
    figure.add_subplot(3, 4, i + 1)
    right = predictions[i] == labels[i]
    color = "green" if right else "red"
    plt.title(f"{classes[labels[i]]}\n/ {classes[predictions[i]]}", color=color)
    plt.axis("off")
    plt.imshow(images[i].squeeze().numpy(), cmap="gray")
figure.suptitle(f"true / predicted, with {weights if weights.is_file() else 'untrained weights'}")
save_figure(figure, outputs / "07_predictions.png")

# %% [markdown]
# ## Saving and Loading Model Weights 保存与加载 state_dict
# A `state_dict` maps names to tensors: every parameter, and the *persistent buffers* a layer
# keeps (BatchNorm's running mean and variance, for instance). It holds no code.

# %%
for name, tensor in model.state_dict().items():
    print(f"  {name}: {tuple(tensor.shape)}")
batch_norm_keys = list(nn.BatchNorm1d(3).state_dict())
print(f"A BatchNorm1d layer's state_dict: {batch_norm_keys}")
assert "running_mean" in batch_norm_keys and "running_var" in batch_norm_keys
torch.save(model.state_dict(), outputs / "07_state_dict.pth")
fresh = NeuralNetwork().to(device)
state_dict = torch.load(outputs / "07_state_dict.pth", map_location=device, weights_only=True)
fresh.load_state_dict(state_dict)
fresh.eval()
X = to_dtype(images[:64].to(device), torch.float32, scale=True)  # 64 test images
with torch.no_grad():
    assert torch.equal(fresh(X), model(X))
# Predict before you run: does the fresh network give exactly the same outputs?
print("A fresh NeuralNetwork with the loaded state_dict gives identical outputs.")

# %% [markdown]
# For a big model, two options save time and memory. Built on the `"meta"` device, a new
# instance has shapes but no data (no memory, and no random initialization to pay for);
# `mmap=True` maps the file instead of reading it all at once; `assign=True` makes the loaded
# tensors the model's parameters, instead of copying them into the ones it has. On the CPU the
# parameters then stay backed by the file: do not overwrite it while the model is in use.

# %%
with torch.device("meta"):
    light = NeuralNetwork()
state_dict = torch.load(outputs / "07_state_dict.pth", mmap=True, weights_only=True)
light.load_state_dict(state_dict, assign=True)
light.to(device).eval()
with torch.no_grad():
    assert torch.equal(light(X), model(X))
first, original = light.linear_relu_stack[0].weight, model.linear_relu_stack[0].weight
# Not model's memory: the file's, or a copy on the device
assert first.data_ptr() != original.data_ptr()
print("Built on meta, loaded with mmap and assign: the same outputs, from the file's weights.")

# %% [markdown]
# ## Saving and loading a general checkpoint 检查点
# To go on training after a break, save more than the weights: the optimizer's state (Adam
# keeps running averages per parameter) and the epoch. First, a small training run: 640
# training images (whatever `subset` says) in a fixed order, batches of 64.
#
# A fixed order keeps this exact. With `shuffle=True` the order of each epoch comes from a
# random generator, and an exact resume needs its state too: give the `DataLoader` a
# `generator=torch.Generator()` and save `generator.get_state()` in the checkpoint
# (`your_images.py` does, and its test checks that 2 + 2 epochs equal 4, bit for bit).

# %%
training_data = datasets.FashionMNIST(root=args.data_dir, train=True, download=True)
X_train = to_dtype(training_data.data[:640].unsqueeze(1), torch.float32, scale=True).to(device)
y_train = training_data.targets[:640].clone().to(device)
del training_data  # 60,000 images, of which we keep 640: free the memory of the rest
loss_fn = nn.CrossEntropyLoss()


# %%
def train_one_epoch(model, loss_fn, optimizer, X, y, batch_size=64):
    """One pass over (X, y) in order, in batches; returns the last batch's loss."""
    model.train()
    for X_batch, y_batch in zip(X.split(batch_size), y.split(batch_size), strict=True):
        loss = loss_fn(model(X_batch), y_batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return loss.item()


# %% [markdown]
# Two epochs without a break, for comparison:

# %%
torch.manual_seed(args.seed)
initial = copy.deepcopy(NeuralNetwork().state_dict())  # every run below starts here
unbroken = NeuralNetwork().to(device)
unbroken.load_state_dict(initial)
optimizer = torch.optim.Adam(unbroken.parameters(), lr=1e-3)
for _ in range(2):  # epochs 1 and 2
    train_one_epoch(unbroken, loss_fn, optimizer, X_train, y_train)

# %% [markdown]
# One epoch, then save a checkpoint:

# %%
checkpointed = NeuralNetwork().to(device)
checkpointed.load_state_dict(initial)
optimizer = torch.optim.Adam(checkpointed.parameters(), lr=1e-3)
loss = train_one_epoch(checkpointed, loss_fn, optimizer, X_train, y_train)
checkpoint = {
    "epoch": 1,  # epochs done
    "model_state_dict": checkpointed.state_dict(),
    "optimizer_state_dict": optimizer.state_dict(),
    "loss": loss,
}
torch.save(checkpoint, outputs / "07_checkpoint.pth")
print(f"\nSaved a checkpoint after epoch 1 (loss {loss:.4f}): {outputs / '07_checkpoint.pth'}")

# %% [markdown]
# Later, perhaps in a new process: rebuild both, load both, train on.

# %%
resumed = NeuralNetwork().to(device)
optimizer = torch.optim.Adam(resumed.parameters(), lr=1e-3)
checkpoint = torch.load(outputs / "07_checkpoint.pth", map_location=device, weights_only=True)
resumed.load_state_dict(checkpoint["model_state_dict"])
optimizer.load_state_dict(checkpoint["optimizer_state_dict"])
for _ in range(checkpoint["epoch"], 2):  # epoch 2 only: epoch 1 is in the checkpoint
    train_one_epoch(resumed, loss_fn, optimizer, X_train, y_train)
pairs = list(zip(resumed.parameters(), unbroken.parameters(), strict=True))
if device.type == "cpu":  # the same operations in the same order: bit for bit
    same = all(torch.equal(p, q) for p, q in pairs)
else:  # accelerators may pick kernels that round differently from run to run
    same = all(torch.allclose(p, q, rtol=1e-4, atol=1e-6) for p, q in pairs)
# Predict before you run: do the resumed weights equal those of training without a break?
print(f"Resumed from the checkpoint, the weights equal training without a break: {same}")
assert same

# %% [markdown]
# Without the optimizer's state, the resumed run goes elsewhere:

# %%
model_only = NeuralNetwork().to(device)
model_only.load_state_dict(checkpoint["model_state_dict"])
fresh_optimizer = torch.optim.Adam(model_only.parameters(), lr=1e-3)
train_one_epoch(model_only, loss_fn, fresh_optimizer, X_train, y_train)
pairs = zip(model_only.parameters(), unbroken.parameters(), strict=True)
differs = not all(torch.allclose(p, q) for p, q in pairs)
print(f"Resumed with the weights only (a fresh optimizer): the weights differ: {differs}")
assert differs

# %% [markdown]
# ## Saving and Loading Models with Shapes 保存整个模型
# `torch.save(model)` pickles the object: the weights plus a *reference* to its class
# (`common.NeuralNetwork`), not the class's code. Loading needs that class importable under
# the same name, with the same attributes; if its `forward` was edited since, the loaded
# model silently runs the new code.

# %%
torch.save(model, outputs / "07_whole_model.pth")
try:
    torch.load(outputs / "07_whole_model.pth", weights_only=True)
except pickle.UnpicklingError as err:
    print(f"\ntorch.load(..., weights_only=True) refuses a whole model: {type(err).__name__}")
else:
    raise AssertionError("weights_only=True should refuse a pickled model")
# weights_only=False unpickles anything, and unpickling can run any code the file's author
# chose: use it only for files you made yourself. Prefer the state_dict.
whole = torch.load(outputs / "07_whole_model.pth", map_location=device, weights_only=False)
whole.eval()
model.eval()
with torch.no_grad():
    assert torch.equal(whole(X), model(X))
print("With weights_only=False it loads and gives identical outputs; prefer the state_dict way.")

# %% [markdown]
# ## VGG16, the tutorial's example
# The tutorial saves and loads torchvision's VGG16, an image classifier of 138 million parameters:
# 528 MiB of float32 weights. Built on the `"meta"` device, it costs no memory, enough to see
# its layers and count them.

# %%
with torch.device("meta"):
    vgg = models.vgg16()
count = sum(p.numel() for p in vgg.parameters())
print(f"\nVGG16: {count:,} parameters, {count * 4 / 2**20:,.0f} MiB as float32; its classifier:")
print(vgg.classifier)
assert count == 138_357_544

# %% [markdown]
# With `pretrained=True` (`--pretrained`), this cell does what the tutorial does: it downloads the
# ImageNet weights (528 MiB, which needs internet), saves their state_dict, and loads it into
# an untrained VGG16. When you are done, delete `outputs/07_vgg16_weights.pth` and torchvision's
# copy of the download, `vgg16-397923af.pth` in torch's hub cache (usually
# `~/.cache/torch/hub/checkpoints/`).

# %%
if args.pretrained:
    vgg = models.vgg16(weights="IMAGENET1K_V1").to(device)
    torch.save(vgg.state_dict(), outputs / "07_vgg16_weights.pth")
    vgg_copy = models.vgg16()  # untrained: no weights given
    vgg_copy.load_state_dict(torch.load(outputs / "07_vgg16_weights.pth", weights_only=True))
    vgg_copy.to(device).eval()
    vgg.eval()
    size = (outputs / "07_vgg16_weights.pth").stat().st_size / 2**20
    with torch.no_grad():
        x = torch.rand(1, 3, 224, 224, device=device)  # a batch of one 224x224 RGB image
        agree = torch.allclose(vgg_copy(x), vgg(x))
    print(f"Saved {outputs / '07_vgg16_weights.pth'} ({size:,.0f} MiB)")
    print(f"The copy's outputs agree: {agree}")

# %% [markdown]
# ## Why `eval()` matters 为什么要调用 eval()
# VGG16's classifier has `Dropout` layers, shown above: in training mode, each call zeroes
# each of their inputs with probability 0.5 and doubles the others; in eval mode they pass
# everything unchanged. A small network with one shows the difference.

# %%
torch.manual_seed(args.seed)
dropping = nn.Sequential(
    nn.Flatten(), nn.Linear(784, 64), nn.ReLU(), nn.Dropout(0.5), nn.Linear(64, 10)
)
with torch.no_grad():
    dropping.train()
    differ = not torch.equal(dropping(X), dropping(X))
    dropping.eval()
    agree = torch.equal(dropping(X), dropping(X))
# Predict before you run: in train mode, do two calls on the same input agree?
print(f"train mode: two calls differ: {differ}; eval mode: two calls agree: {agree}")
assert differ and agree

# %% [markdown]
# ## Exercises 练习
# Replace `return ...  # your code` with your code and run the cell: it prints `correct`, or
# what is not right yet. Stuck? [SOLUTIONS.md](SOLUTIONS.md) has a hint for each exercise,
# then its solution.


# %%
# Exercise 07.1: resuming with a scheduler
def make_checkpoint(model, optimizer, scheduler, epoch):
    """Return a dict from which training resumes exactly: the state of the model, of the
    optimizer and of the learning-rate scheduler, and the epoch (an int), under the keys
    "model", "optimizer", "scheduler" and "epoch". After torch.save and
    torch.load(..., weights_only=True), a new model, optimizer and scheduler that load it
    must hold what these hold, and train on as they would. Leave model, optimizer and
    scheduler as they are. Example: after 3 epochs, its "epoch" is 3."""
    return ...  # your code


check("07.1", make_checkpoint)


# %%
# Exercise 07.2: weights from either kind of file
def load_weights(path):
    """Return the state_dict in the file at path, whether the file holds a bare state_dict
    (as 06 saves) or a checkpoint dict with it under "model_state_dict" (as above), whatever
    the file's name or its other keys. Load it safely, with weights_only=True: torch.load then
    refuses a file that holds a whole model, with pickle.UnpicklingError, and that error must
    reach the caller (a clearer error raised from it will do). Leave the file as it is.
    Example: for a file holding {"epoch": 5, "model_state_dict": weights}, it returns weights."""
    return ...  # your code


check("07.2", load_weights)

# %% [markdown]
# ## Where the notes differ 与笔记的出入
# - They load with a plain `torch.load('model_weights.pth')`. Dated: before torch 2.6 that
#   unpickled anything; now `weights_only=True` is the default, and these lessons say it.
# - They pass the model straight to `torch.save(model, 'model.pth')` and load it back with a
#   plain `torch.load`. Since torch 2.6 that load fails: it needs `weights_only=False`, only
#   for files you trust (*Saving and Loading Models with Shapes*).

# %% [markdown]
# ## Further reading 延伸阅读
# - [Save and Load the Model tutorial](https://pytorch.org/tutorials/beginner/basics/saveloadrun_tutorial.html)
# - [Saving and loading models, checkpoints](https://pytorch.org/tutorials/beginner/saving_loading_models.html)
# - [torch.load](https://pytorch.org/docs/stable/generated/torch.load.html): `weights_only`, `mmap`
# - [torchvision models](https://pytorch.org/vision/stable/models.html)
