# %% [markdown]
# # 02 · Datasets & DataLoaders 数据集与数据加载器
#
# A `Dataset` hands out one (sample, label) pair per index; a `DataLoader` batches and
# shuffles them, and can load them in worker processes. This lesson loads Fashion-MNIST,
# plots samples, writes a few PNG files and reads them back through a Dataset of our own,
# and iterates a DataLoader.
#
# In a notebook or an editor, run the cells in order. As a script: `python 02_data.py` (flags:
# `--data-dir data`, `--subset N`, `--num-workers 0`, `--output-dir outputs`, `--device cpu`,
# `--seed 0`). It writes PNG files to `outputs/`.

# %%
import csv
import multiprocessing
from pathlib import Path

import matplotlib.pyplot as plt
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset, Subset
from torchvision import datasets
from torchvision.transforms import ToTensor, v2

from common import parse_settings, save_figure
from exercises import check

# %% [markdown]
# ## Settings 设置
# On the command line, flags override these values (`python 02_data.py --subset 1000`).
# In a notebook no flags are read: edit them here, then run this cell and the ones below.
# Here the settings also make sure that `data_dir` holds Fashion-MNIST: they download it if it
# is missing, or stop with a message that says what to do.

# %%
args = parse_settings(
    data_dir="data", subset=None, num_workers=0, output_dir="outputs", device=None, seed=0
)
torch.manual_seed(args.seed)
device = args.device

# %% [markdown]
# ## Loading a Dataset 加载数据集
# Fashion-MNIST: Zalando's product images (商品图片), 28x28 grayscale, one of 10 classes each.
# `root` is where the files go, `train` picks the split, `download=True` fetches them if
# missing, and `transform` / `target_transform` change each image and label (lesson 03).

# %%
data_dir = args.data_dir
training_data = datasets.FashionMNIST(
    root=data_dir, train=True, download=True, transform=ToTensor()
)
test_data = datasets.FashionMNIST(root=data_dir, train=False, download=True, transform=ToTensor())
if args.subset:  # only the first N samples of each split, for a quick run
    training_data = Subset(training_data, range(min(args.subset, len(training_data))))
    test_data = Subset(test_data, range(min(args.subset, len(test_data))))
print(f"Training samples: {len(training_data)}")
print(f"Test samples: {len(test_data)}")
if len(training_data) == 60_000:  # the full release: 60,000 training and 10,000 test images
    assert len(test_data) == 10_000

# %% [markdown]
# One sample: a (1, 28, 28) float image and an `int` label. torchvision names the classes in
# `classes` (the tutorial writes them out by hand, as `labels_map`).

# %%
classes = datasets.FashionMNIST.classes
img, label = training_data[0]
print(f"One sample: image {tuple(img.shape)} {img.dtype}")
print(f"  label {label} ({classes[label]}), of type {type(label).__name__}")
assert img.shape == (1, 28, 28) and img.dtype == torch.float32 and isinstance(label, int)

# %% [markdown]
# ## Iterating and Visualizing the Dataset 迭代与可视化
# Index a Dataset like a list: `training_data[i]` gives `(image, label)`.

# %%
figure = plt.figure(figsize=(8, 8))
cols, rows = 3, 3
for i in range(1, cols * rows + 1):
    sample_idx = torch.randint(len(training_data), size=(1,)).item()
    img, label = training_data[sample_idx]
    figure.add_subplot(rows, cols, i)
    plt.title(classes[label])
    plt.axis("off")
    plt.imshow(img.squeeze().numpy(), cmap="gray")  # (1, 28, 28) -> (28, 28), as a NumPy array
save_figure(figure, args.output_dir / "02_samples.png")


# %% [markdown]
# ## Creating a Custom Dataset for your files 自定义数据集
# Three methods: `__init__` runs once (here: read the table of labels), `__len__` gives the
# number of samples, `__getitem__` loads sample `idx` from disk and transforms it. We read
# the CSV file with the standard `csv` module; the official tutorial uses pandas, whose
# `read_csv` would take the first row of a file like ours for a header (pass `header=None`).
# The tutorial reads images with `torchvision.io.read_image`, whose image decoding torchvision
# 0.29 deprecated in favour of TorchCodec; we use Pillow, which torchvision installs anyway.


# %%
class CustomImageDataset(Dataset):
    def __init__(self, annotations_file, img_dir, transform=None, target_transform=None):
        with open(annotations_file, newline="") as f:
            self.img_labels = [(name, int(label)) for name, label in csv.reader(f)]
        self.img_dir = Path(img_dir)
        self.transform = transform
        self.target_transform = target_transform

    def __len__(self):
        return len(self.img_labels)

    def __getitem__(self, idx):
        name, label = self.img_labels[idx]
        with Image.open(self.img_dir / name) as img:
            image = v2.functional.pil_to_tensor(img)  # uint8 (C, H, W)
        if self.transform:
            image = self.transform(image)
        if self.target_transform:
            label = self.target_transform(label)
        return image, label


# %% [markdown]
# Some files for it to read: 16 training images as PNG files, and a CSV file of
# `file name, label` rows.

# %%
count = min(16, len(training_data))
img_dir = args.output_dir / "02_custom_dataset" / "images"
img_dir.mkdir(parents=True, exist_ok=True)
annotations_file = args.output_dir / "02_custom_dataset" / "annotations.csv"
with open(annotations_file, "w", newline="") as f:
    writer = csv.writer(f)
    for i in range(count):
        img, label = training_data[i]
        pixels = (img * 255).round().to(torch.uint8).squeeze(0)  # undo ToTensor, exactly
        Image.fromarray(pixels.numpy()).save(img_dir / f"{i:05d}.png")
        writer.writerow([f"{i:05d}.png", label])
print(f"Wrote {count} PNG files to {img_dir} and their labels to {annotations_file}")

# %% [markdown]
# `__init__`, `__len__` and `__getitem__` at work. `v2.ToDtype(scale=True)` turns the uint8
# image into floats in 0..1, as ToTensor did; the label becomes its class name.

# %%
custom = CustomImageDataset(
    annotations_file,
    img_dir,
    transform=v2.ToDtype(torch.float32, scale=True),
    target_transform=lambda label: classes[label],
)
image, label = custom[0]
print(f"CustomImageDataset: {len(custom)} samples")
print(f"  the first: image {tuple(image.shape)}, label {label!r}")
for i in range(len(custom)):
    image, label = custom[i]
    original, original_label = training_data[i]
    torch.testing.assert_close(image, original)  # equal up to float rounding
    assert label == classes[original_label]
print(f"Read back: all {len(custom)} images and labels equal the originals")

# %% [markdown]
# ## Preparing your data for training with DataLoaders 数据加载器
# `batch_size` samples per step; `shuffle=True` draws a new order every epoch (轮, one pass over
# the data), so that every epoch sees different mini-batches. `num_workers > 0` loads batches
# in worker *processes*. The test set needs no shuffling: the order cannot change the
# accuracy.

# %%
train_dataloader = DataLoader(
    training_data, batch_size=64, shuffle=True, num_workers=args.num_workers
)
test_dataloader = DataLoader(test_data, batch_size=64, shuffle=False)
# Predict before you run: how many batches of 64 do 60,000 samples make?
print(f"\nBatches of 64: {len(train_dataloader)} for training, {len(test_dataloader)} for testing")

# %% [markdown]
# ### Worker processes and `if __name__ == "__main__":`
# Under *spawn* (Windows, macOS) each worker is a fresh Python that imports your script again,
# so every line outside `if __name__ == "__main__":` runs once more per worker, and again on
# every pass, as each pass starts new workers (unless `persistent_workers=True`). Under
# *forkserver* (Linux from Python 3.14) the workers are forked from one server process; with
# CPython's fix for gh-126631 (3.13.8 and newer, 3.14.1 and newer) the server imports the
# script once, and on older Pythons, such as 3.11 or 3.14.0, every worker does. So put your own
# script's code in a `main()` called under that guard. These lessons stay
# top-level for stepping through, and `parse_settings` stops workers from importing them again.

# %% [markdown]
# ## Iterate through the DataLoader 遍历
# Each step gives a batch: images stacked to (64, 1, 28, 28), labels to (64,) int64.
# Starting an iteration starts the worker processes, if any.

# %%
batches = iter(train_dataloader)
train_features, train_labels = next(batches)
workers = multiprocessing.active_children()
print(f"Worker processes loading batches: {len(workers)} (num_workers={args.num_workers})")
assert len(workers) == args.num_workers
del batches  # done with this pass: its workers stop
# Predict before you run: the two shapes, for batches of 64.
print(f"Feature batch shape: {train_features.size()}")
print(f"Labels batch shape: {train_labels.size()}, dtype: {train_labels.dtype}")
batch = min(64, len(training_data))
assert train_features.shape == (batch, 1, 28, 28) and train_labels.shape == (batch,)
assert train_labels.dtype == torch.int64  # what nn.CrossEntropyLoss expects (lesson 06)
train_features = train_features.to(device)  # in training, each batch moves to the device
img = train_features[0].squeeze().cpu().numpy()  # (1, 28, 28) -> (28, 28); matplotlib wants NumPy
label = train_labels[0].item()
figure = plt.figure(figsize=(3, 3))
plt.imshow(img, cmap="gray")
plt.title(f"Label: {label} ({classes[label]})")
plt.axis("off")
save_figure(figure, args.output_dir / "02_first_image.png")
print(f"Label: {label} ({classes[label]})")

# %% [markdown]
# `shuffle=True` gives the DataLoader a `RandomSampler`: each pass over it (each epoch) draws
# a fresh permutation of the indices.

# %%
first_epoch = list(train_dataloader.sampler)
second_epoch = list(train_dataloader.sampler)
# Predict before you run: do the two epochs start with the same indices?
print(f"\nFirst indices of epoch 1: {first_epoch[:8]}")
print(f"First indices of epoch 2: {second_epoch[:8]}")
assert sorted(first_epoch) == sorted(second_epoch) == list(range(len(training_data)))
if len(training_data) >= 10:  # with a handful of samples, two orders may happen to agree
    assert first_epoch != second_epoch

# %% [markdown]
# ## Exercises 练习
# Replace `return ...  # your code` with your code and run the cell: it prints `correct`, or
# what is not right yet. Stuck? [SOLUTIONS.md](SOLUTIONS.md) has a hint for each exercise,
# then its solution.


# %%
# Exercise 02.1: a Dataset over folders
class FolderDataset(Dataset):
    """Grayscale PNG images in one sub-folder per class, named after it: root/boot/0.png,
    root/coat/1.png, ... Every sub-folder is a class, even one without images."""

    def __init__(self, root):
        self.classes = sorted(folder.name for folder in Path(root).iterdir() if folder.is_dir())
        self.files = sorted(Path(root).glob("*/*.png"))

    def __len__(self):
        return len(self.files)

    def __getitem__(self, idx):
        """Return (image, label) for self.files[idx]: the image a uint8 tensor of shape
        (1, H, W) holding the PNG's pixels, the label an int, the index of its folder's name in
        self.classes. Leave self.files and self.classes as they are.

        Example: with the folders coat/ and boot/, self.classes is ['boot', 'coat'], so the
        image coat/7.png, 2 pixels high and 3 wide, gives (a (1, 2, 3) tensor, 1)."""
        return ...  # your code


check("02.1", FolderDataset)


# %%
# Exercise 02.2: batching
def make_loader(dataset):
    """Return a DataLoader over dataset (any map-style dataset: a TensorDataset, a list, ...)
    that gives batches of 10 samples, in a new random order on every pass, and leaves out the
    last, incomplete batch. Leave dataset as it is.

    Example: 95 samples give nine batches of 10 on every pass, and which 5 are left out
    changes from pass to pass."""
    return ...  # your code


check("02.2", make_loader)

# %% [markdown]
# ## Where the notes differ 与笔记的出入
# - They call Zalando's "article images" 文章图像; an article here is a product: 商品图片.
# - They translate "epoch" as 时代; in training it is 轮, one full pass over the training set.
# - They say the DataLoader loads data with 多线程 (threads). Its workers are processes, 多进程:
#   *Iterate through the DataLoader* counts them as child processes.
# - Their test DataLoader shuffles too (`shuffle=True`, as in the official tutorial). Harmless,
#   but not needed: the order of the test images cannot change the accuracy.

# %% [markdown]
# ## Further reading 延伸阅读
# - [Datasets & DataLoaders tutorial](https://pytorch.org/tutorials/beginner/basics/data_tutorial.html)
# - [torch.utils.data](https://pytorch.org/docs/stable/data.html): Dataset, DataLoader, samplers,
#   workers
# - [Platform-specific behaviours of workers](https://pytorch.org/docs/stable/data.html#platform-specific-behaviors)
# - [torchvision datasets](https://pytorch.org/vision/stable/datasets.html)
