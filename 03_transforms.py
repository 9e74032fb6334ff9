# %% [markdown]
# # 03 · Transforms 数据变换
#
# Data rarely arrives in the form training needs. A dataset's `transform` changes each image
# and its `target_transform` each label. This lesson shows `ToTensor` (PIL image -> float
# tensor), a `Lambda` that one-hot encodes labels, the newer `transforms.v2` API, and which
# transforms can travel to worker processes.
#
# In a notebook or an editor, run the cells in order. As a script: `python 03_transforms.py`
# (flags: `--data-dir data`, `--subset N`, `--num-workers 0`, `--device cpu`, `--seed 0`).

# %%
import pickle

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Subset
from torchvision import datasets
from torchvision.transforms import Lambda, ToTensor, v2

from common import parse_settings
from exercises import check

# %% [markdown]
# ## Settings 设置
# On the command line, flags override these values (`python 03_transforms.py --subset 1000`).
# In a notebook no flags are read: edit them here, then run this cell and the ones below.

# %%
args = parse_settings(data_dir="data", subset=None, num_workers=0, device=None, seed=0)
torch.manual_seed(args.seed)
device = args.device

# %% [markdown]
# ## What the raw dataset gives
# Without a transform, Fashion-MNIST hands out a PIL image and an `int` label.

# %%
data_dir = args.data_dir  # the settings made sure it holds Fashion-MNIST (lesson 02)
raw = datasets.FashionMNIST(root=data_dir, train=True, download=True)
if args.subset:
    raw = Subset(raw, range(min(args.subset, len(raw))))
pil_image, label = raw[0]
pixels = np.array(pil_image)  # (28, 28) uint8
image_type = type(pil_image).__name__
print(f"Raw sample: {image_type} mode={pil_image.mode} size={pil_image.size}, label {label}")
low, high = pixels.min(), pixels.max()
print(f"  as an array: shape {pixels.shape}, dtype {pixels.dtype}, range {low}..{high}")

# %% [markdown]
# ## ToTensor() 转为张量
# A PIL image or NumPy array becomes a tensor, (H, W, C) -> (C, H, W). Values are scaled from
# 0..255 to 0..1 only for uint8 data and 8-bit PIL images; a float array keeps its values
# and its dtype.

# %%
tensor = ToTensor()(pil_image)
# Predict before you run: the shape, dtype and largest value.
largest = tensor.max().item()
print(f"\nToTensor: shape {tuple(tensor.shape)}, dtype {tensor.dtype}, max {largest:.3f}")
assert tensor.shape == (1, 28, 28) and tensor.dtype == torch.float32
assert torch.equal(tensor, torch.from_numpy(pixels).float().div(255).unsqueeze(0))
floats = ToTensor()(np.full((2, 2), 7.0))  # float64 (H, W)
print(f"ToTensor of a float64 array of 7s: dtype {floats.dtype}, values {floats.unique().tolist()}")
assert floats.dtype == torch.float64 and floats.max() == 7.0

# %% [markdown]
# ### ToTensor rescales; it does not standardize
# It only divides by 255, so every value stays in 0..1 (scaling, 归一化). Standardizing
# (标准化: mean 0, std 1) is a separate step, `v2.Normalize`, and gives mean 0 and std 1 only
# with the data's own mean and std.

# %%
images = torch.stack([ToTensor()(raw[i][0]) for i in range(min(1000, len(raw)))])
mean, std = images.mean().item(), images.std().item()
print(f"Over {len(images)} images: mean {mean:.3f}, std {std:.3f}, min {images.min().item():.1f}")
assert images.min() >= 0 and images.max() <= 1 and mean > 0.1  # standardized data would have mean 0
standardized = v2.Normalize(mean=[mean], std=[std])(images)
mean_after, std_after = standardized.mean().item(), standardized.std().item()
# Predict before you run: the mean and std after Normalize with the data's own statistics.
print(f"After v2.Normalize(mean, std): mean {mean_after:.3f}, std {std_after:.3f}")
torch.testing.assert_close(standardized.mean(), torch.tensor(0.0), atol=1e-4, rtol=0)

# %% [markdown]
# ## Lambda Transforms
# A zero vector of length 10, one slot per class; `scatter_(0, torch.tensor(y), value=1)`
# writes 1 at position y: a one-hot label. `Lambda` wraps any function as a transform.

# %%
target_transform = Lambda(
    lambda y: torch.zeros(10, dtype=torch.float).scatter_(0, torch.tensor(y), value=1)
)
encoded = target_transform(label)
# Predict before you run: where is the 1 in the one-hot vector of this label?
print(f"\nLabel {label} one-hot: {encoded}")
for y in range(10):
    assert torch.equal(target_transform(y), F.one_hot(torch.tensor(y), num_classes=10).float())

# %% [markdown]
# The tutorial's dataset: `ToTensor` for the images, the one-hot `Lambda` for the labels.

# %%
ds = datasets.FashionMNIST(
    root=data_dir,
    train=True,
    download=True,
    transform=ToTensor(),
    target_transform=target_transform,
)
image, target = ds[0]
print(f"Transformed sample: image {tuple(image.shape)} {image.dtype}, target {target}")
assert target.shape == (10,) and target.sum() == 1

# %% [markdown]
# ### Transforms and worker processes
# With `num_workers > 0` under *spawn* or *forkserver* (Windows, macOS, Linux from Python
# 3.14), the DataLoader pickles the dataset, transforms included, into each worker. To find what
# your script defined, the main script is imported again (as `__mp_main__`), in the worker or in
# the forkserver it was forked from (lesson 02). So a function or Dataset defined at the top
# level of your own script works, if its work sits under `if __name__ == "__main__":`. What
# fails is a `lambda`, which cannot be pickled at all, and anything defined in a notebook or in
# these lessons, which workers do not import again.

# %%
# Predict before you run: can the one-hot Lambda(lambda ...) be pickled?
try:
    pickle.dumps(target_transform)
except (pickle.PicklingError, AttributeError) as err:
    print(f"\nPickling the one-hot Lambda(lambda ...) fails: {type(err).__name__}")
else:
    raise AssertionError("pickling a lambda should have failed")
to_tensor = pickle.loads(pickle.dumps(ToTensor()))  # torchvision's: importable everywhere
print(f"Pickling ToTensor() works: {type(to_tensor).__name__}")

# %% [markdown]
# A DataLoader whose workers need nothing from this file: `ToTensor` comes from torchvision,
# so it works with any `num_workers` under every start method. One-hot encoding a whole batch
# of labels is then one call, in the main process.

# %%
loader_data = datasets.FashionMNIST(root=data_dir, train=True, transform=ToTensor())
if args.subset:
    loader_data = Subset(loader_data, range(min(args.subset, len(loader_data))))
loader = DataLoader(loader_data, batch_size=64, shuffle=True, num_workers=args.num_workers)
images, labels = next(iter(loader))
targets = F.one_hot(labels, num_classes=10).float()  # (64,) int64 -> (64, 10)
images, targets = images.to(device), targets.to(device)
print(f"Batch: images {images.shape}, one-hot targets {targets.shape}")
assert targets.shape == (images.shape[0], 10) and (targets.sum(dim=1) == 1).all()

# %% [markdown]
# ## The current way: `torchvision.transforms.v2`
# v1 and v2 both take PIL images and tensors; v2 also transforms bounding boxes, masks and
# videos together with their images. `ToTensor` is kept for old code; new code writes
# `ToImage()` followed by `ToDtype(torch.float32, scale=True)`.

# %%
to_tensor_v2 = v2.Compose([v2.ToImage(), v2.ToDtype(torch.float32, scale=True)])
count = min(100, len(raw))
old = torch.stack([ToTensor()(raw[i][0]) for i in range(count)])
new = torch.stack([to_tensor_v2(raw[i][0]) for i in range(count)])
difference = (old - new).abs().max().item()
print(f"\nToTensor vs v2 on {count} images: same shape {new.shape == old.shape}, ", end="")
print(f"largest difference {difference:.1e}")
# v2 multiplies by 1/255 where ToTensor divides by 255: equal up to float rounding.
torch.testing.assert_close(new, old)

# %% [markdown]
# ## Exercises 练习
# Replace `return ...  # your code` with your code and run the cell: it prints `correct`, or
# what is not right yet. Stuck? [SOLUTIONS.md](SOLUTIONS.md) has a hint for each exercise,
# then its solution.


# %%
# Exercise 03.1: standardizing each channel
def make_normalize(images):
    """Given float images of shape (N, 3, H, W), return a v2.Normalize that standardizes each
    colour channel with its own statistics: after it, every channel of these images has mean 0
    and std 1 over all the images and pixels (either std will do: with Bessel's correction or
    without). Leave images as they are.

    Example: if channel 0 of all the images together has mean 0.2 and std 0.1, the Normalize
    has mean[0] 0.2 and std[0] 0.1."""
    return ...  # your code


check("03.1", make_normalize)


# %%
# Exercise 03.2: one-hot, a whole batch
def one_hot_batch(labels):
    """Given labels of shape (N,), int64, from 0 to 9, return the (N, 10) float tensor whose
    row i is the one-hot vector of labels[i]: 1.0 in column labels[i], 0.0 elsewhere. Build it
    yourself: F.one_hot is not allowed here. Leave labels as they are.

    Example: labels [3, 0] give [[0, 0, 0, 1, 0, 0, 0, 0, 0, 0], [1, 0, 0, 0, 0, 0, 0, 0, 0, 0]]
    as floats. torch.zeros and scatter_ do it in one line."""
    return ...  # your code


check("03.2", one_hot_batch)

# %% [markdown]
# ## Where the notes differ 与笔记的出入
# - They say training needs the features as 标准化的张量 (standardized tensors) and that
#   `ToTensor` makes them so (the official tutorial's word is "normalized"). Their own ToTensor
#   section has it right: it only scales to 0..1 (*ToTensor rescales* shows what remains).

# %% [markdown]
# ## Further reading 延伸阅读
# - [Transforms tutorial](https://pytorch.org/tutorials/beginner/basics/transforms_tutorial.html)
# - [torchvision transforms, v1 and v2](https://pytorch.org/vision/stable/transforms.html)
# - [Getting started with transforms v2](https://pytorch.org/vision/stable/auto_examples/transforms/plot_transforms_getting_started.html)
# - [What can be pickled](https://docs.python.org/3/library/pickle.html#what-can-be-pickled-and-unpickled)
