"""03 · Transforms 数据变换

Data rarely arrives in the form training needs. A dataset's `transform` changes
each image and `target_transform` each label. This lesson shows ToTensor
(PIL image -> float tensor), a Lambda that one-hot encodes labels, the newer
transforms.v2 API, and which transforms can travel to worker processes.

Run:  python 03_transforms.py [--data-dir data] [--subset N] [--num-workers 0] [--device cpu] [--seed 0]
"""

# %% Imports
import pickle

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader
from torchvision import datasets
from torchvision.transforms import Lambda, ToTensor, v2

from common import get_device, keep_first, parse_settings, prepare_data, seed_everything

# %% Settings 设置
# On the command line, flags override these (python 03_transforms.py --help).
# In a notebook no flags are read: edit the values here.
args = parse_settings(data_dir="data", subset=None, num_workers=0, device=None, seed=0)
seed_everything(args.seed)
device = get_device(args.device)

# %% What the raw dataset gives: a PIL image and an int label
data_dir = prepare_data(args.data_dir)  # downloads Fashion-MNIST if missing, see lesson 02
raw = keep_first(datasets.FashionMNIST(root=data_dir, train=True, download=True), args.subset)
pil_image, label = raw[0]
pixels = np.array(pil_image)  # (28, 28) uint8
print(f"Raw sample: {type(pil_image).__name__} mode={pil_image.mode} size={pil_image.size}, label {label}")
print(f"  as an array: shape {pixels.shape}, dtype {pixels.dtype}, range {pixels.min()}..{pixels.max()}")

# %% ToTensor() 转为张量
# PIL image or ndarray -> float32 tensor: (H, W) -> (C, H, W), and 0..255 -> 0..1.
tensor = ToTensor()(pil_image)
print(
    f"\nToTensor: shape {tuple(tensor.shape)}, dtype {tensor.dtype}, "
    f"range {tensor.min().item():.3f}..{tensor.max().item():.3f}"
)
assert tensor.shape == (1, 28, 28) and tensor.dtype == torch.float32
assert torch.equal(tensor, torch.from_numpy(pixels).float().div(255).unsqueeze(0))

# %% ToTensor rescales; it does not standardize
# The notes call its output 标准化 (standardized: mean 0, std 1). It only divides by
# 255, so every value stays in 0..1. Standardizing is a separate step, v2.Normalize.
images = torch.stack([ToTensor()(raw[i][0]) for i in range(min(1000, len(raw)))])
mean, std = images.mean().item(), images.std().item()
print(f"Over {len(images)} images: mean {mean:.3f}, std {std:.3f}, min {images.min().item():.1f}")
assert images.min() >= 0 and images.max() <= 1 and mean > 0.1  # standardized data would have mean 0
standardized = v2.Normalize(mean=[mean], std=[std])(images)
mean_after, std_after = standardized.mean().item(), standardized.std().item()
print(f"After v2.Normalize(mean, std): mean {mean_after:.3f}, std {std_after:.3f}")
torch.testing.assert_close(standardized.mean(), torch.tensor(0.0), atol=1e-4, rtol=0)

# %% Lambda Transforms: one-hot labels with scatter_
# A zero vector of length 10 (one slot per class); scatter_(dim=0, index=y, value=1)
# writes 1 at position y. Lambda wraps any function as a transform.
target_transform = Lambda(lambda y: torch.zeros(10, dtype=torch.float).scatter_(0, torch.tensor(y), value=1))
encoded = target_transform(label)
print(f"\nLabel {label} one-hot: {encoded}")
for y in range(10):
    assert torch.equal(target_transform(y), F.one_hot(torch.tensor(y), num_classes=10).float())

# %% The notes' dataset: ToTensor for images, the one-hot Lambda for labels
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

# %% Transforms and worker processes
# With num_workers > 0 under spawn or forkserver (Windows, macOS, Linux from Python
# 3.14), the DataLoader pickles the dataset, transforms included, into each worker.
# A lambda cannot be pickled at all. A named function is pickled as "module.name",
# and the worker must import that module to find it: so keep the transforms your
# workers need in a .py file you import, not in a notebook or the main script.
try:
    pickle.dumps(target_transform)
except (pickle.PicklingError, AttributeError) as err:
    print(f"\nPickling the notes' Lambda(lambda ...) fails: {type(err).__name__}")
else:
    raise AssertionError("pickling a lambda should have failed")
to_tensor = pickle.loads(pickle.dumps(ToTensor()))  # torchvision's: importable everywhere
print(f"Pickling ToTensor() works: {type(to_tensor).__name__}")

# %% A DataLoader whose workers need nothing from this file
# ToTensor comes from torchvision, so this loader works with any num_workers under
# every start method. One-hot encoding a whole batch of labels is one call.
loader_data = keep_first(datasets.FashionMNIST(root=data_dir, train=True, transform=ToTensor()), args.subset)
loader = DataLoader(loader_data, batch_size=64, shuffle=True, num_workers=args.num_workers)
images, labels = next(iter(loader))
targets = F.one_hot(labels, num_classes=10).float()  # (64,) int64 -> (64, 10)
images, targets = images.to(device), targets.to(device)
print(f"Batch: images {images.shape}, one-hot targets {targets.shape}")
assert targets.shape == (images.shape[0], 10) and (targets.sum(dim=1) == 1).all()

# %% The current way: torchvision.transforms.v2
# v2 works on tensors as well as PIL images and also transforms boxes and masks.
# ToTensor is kept only for old code; in new code write ToImage + ToDtype(scale=True).
to_tensor_v2 = v2.Compose([v2.ToImage(), v2.ToDtype(torch.float32, scale=True)])
count = min(100, len(raw))
old = torch.stack([ToTensor()(raw[i][0]) for i in range(count)])
new = torch.stack([to_tensor_v2(raw[i][0]) for i in range(count)])
difference = (old - new).abs().max().item()
print(f"\nToTensor vs v2 on {count} images: same shape {new.shape == old.shape}, ", end="")
print(f"largest difference {difference:.1e}")
# v2 multiplies by 1/255 where ToTensor divides by 255: equal up to float rounding.
torch.testing.assert_close(new, old)

# %% Further reading 延伸阅读
# https://pytorch.org/tutorials/beginner/basics/transforms_tutorial.html
# https://pytorch.org/vision/stable/transforms.html (v1 and v2)
# https://pytorch.org/vision/stable/auto_examples/transforms/plot_transforms_getting_started.html
# https://docs.python.org/3/library/pickle.html#what-can-be-pickled-and-unpickled
