"""02 · Datasets & DataLoaders 数据集与数据加载器

A Dataset hands out one (sample, label) pair per index; a DataLoader batches and
shuffles them, and can load them in worker processes. This lesson loads
Fashion-MNIST, plots samples, writes a small folder of PNG files and reads it back
through a custom Dataset, and iterates a DataLoader.

Run:  python 02_data.py [--data-dir data] [--subset N] [--num-workers 0] [--device cpu] [--seed 0]
Writes outputs/02_samples.png, outputs/02_first_image.png and outputs/02_custom_dataset/.
"""

# %% Imports
import csv
import multiprocessing
import os

import matplotlib.pyplot as plt
import torch
from torch.utils.data import DataLoader, Dataset
from torchvision import datasets
from torchvision.io import read_image, write_png
from torchvision.transforms import ToTensor, v2

from common import (
    CLASSES,
    check_output_dir,
    get_device,
    is_official_release,
    keep_first,
    parse_settings,
    prepare_data,
    save_figure,
    seed_everything,
)

# %% Settings 设置
# On the command line, flags override these (python 02_data.py --help).
# In a notebook no flags are read: edit the values here.
args = parse_settings(data_dir="data", subset=None, num_workers=0, device=None, seed=0)
seed_everything(args.seed)
device = get_device(args.device)
outputs = check_output_dir()  # outputs/, checked now rather than after the work

# %% Loading a Dataset 加载数据集
# Fashion-MNIST: Zalando's product images (the notes' 文章 is a mistranslation of
# "article", 商品), 28x28 grayscale, one of 10 classes each. root is where the files
# go, train picks the split, download=True fetches them if missing, transform and
# target_transform change each image and label (lesson 03). prepare_data makes sure
# the files are there and readable first, with a clear message if not.
data_dir = prepare_data(args.data_dir)
training_data = datasets.FashionMNIST(root=data_dir, train=True, download=True, transform=ToTensor())
test_data = datasets.FashionMNIST(root=data_dir, train=False, download=True, transform=ToTensor())
training_data = keep_first(training_data, args.subset)  # all of it unless subset is set
test_data = keep_first(test_data, args.subset)
print(f"Training samples: {len(training_data)}")
print(f"Test samples: {len(test_data)}")
if args.subset is None and is_official_release(data_dir):
    assert (len(training_data), len(test_data)) == (60_000, 10_000)  # the notes' numbers

# %% One sample: a (1, 28, 28) float image and an int label
img, label = training_data[0]
print(f"One sample: image {tuple(img.shape)} {img.dtype}, label {label} ({CLASSES[label]}) {type(label)}")
assert img.shape == (1, 28, 28) and img.dtype == torch.float32 and isinstance(label, int)

# %% Iterating and Visualizing the Dataset 迭代与可视化
# Index a Dataset like a list: training_data[i] -> (image, label). CLASSES is the
# notes' labels_map: label number -> class name.
figure = plt.figure(figsize=(8, 8))
cols, rows = 3, 3
for i in range(1, cols * rows + 1):
    sample_idx = torch.randint(len(training_data), size=(1,)).item()
    img, label = training_data[sample_idx]
    figure.add_subplot(rows, cols, i)
    plt.title(CLASSES[label])
    plt.axis("off")
    plt.imshow(img.squeeze(), cmap="gray")  # (1, 28, 28) -> (28, 28)
save_figure(figure, "02_samples")


# %% Creating a Custom Dataset for your files 自定义数据集
# Three methods: __init__ runs once (read the label table), __len__ gives the
# number of samples, __getitem__ loads sample idx from disk and transforms it.
# The notes read the CSV with pandas; for two columns the standard csv module does
# the same without a dependency (and pandas would need header=None here).
class CustomImageDataset(Dataset):
    def __init__(self, annotations_file, img_dir, transform=None, target_transform=None):
        with open(annotations_file, newline="") as f:
            self.img_labels = [(name, int(label)) for name, label in csv.reader(f)]
        self.img_dir = img_dir
        self.transform = transform
        self.target_transform = target_transform

    def __len__(self):
        return len(self.img_labels)

    def __getitem__(self, idx):
        name, label = self.img_labels[idx]
        img_path = os.path.join(self.img_dir, name)
        image = read_image(img_path)  # uint8 (C, H, W)
        if self.transform:
            image = self.transform(image)
        if self.target_transform:
            label = self.target_transform(label)
        return image, label


# %% Some files to read: PNG images plus a CSV of (file name, label) rows
count = min(16, len(training_data))
img_dir = outputs / "02_custom_dataset" / "images"
img_dir.mkdir(parents=True, exist_ok=True)
annotations_file = outputs / "02_custom_dataset" / "annotations.csv"
with open(annotations_file, "w", newline="") as f:
    writer = csv.writer(f)
    for i in range(count):
        img, label = training_data[i]
        write_png((img * 255).round().to(torch.uint8), str(img_dir / f"{i:05d}.png"))  # undo ToTensor: exact
        writer.writerow([f"{i:05d}.png", label])
print(f"Wrote {count} PNG files to {img_dir} and their labels to {annotations_file}")

# %% __init__, __len__ and __getitem__ at work
# v2.ToDtype(scale=True) turns the uint8 image into floats in 0..1, as ToTensor did.
custom = CustomImageDataset(
    annotations_file,
    img_dir,
    transform=v2.ToDtype(torch.float32, scale=True),
    target_transform=lambda label: CLASSES[label],
)
image, label = custom[0]
print(f"CustomImageDataset: {len(custom)} samples; the first: image {tuple(image.shape)}, label {label!r}")
for i in range(len(custom)):
    image, label = custom[i]
    original, original_label = training_data[i]
    torch.testing.assert_close(image, original)  # v2 multiplies by 1/255: equal up to rounding
    assert label == CLASSES[original_label]
print(f"Read back through CustomImageDataset: all {len(custom)} images and labels equal the originals")

# %% Preparing your data for training with DataLoaders 数据加载器
# batch_size samples per step; shuffle=True draws a new order every epoch (轮; the
# notes' 时代 is a mistranslation), so the model does not learn the order.
# num_workers > 0 loads batches in worker *processes* (the notes say threads).
# The notes shuffle the test set too; its order cannot change a test score.
train_dataloader = DataLoader(training_data, batch_size=64, shuffle=True, num_workers=args.num_workers)
test_dataloader = DataLoader(test_data, batch_size=64, shuffle=False)
print(f"\nDataLoader: {len(train_dataloader)} training batches, {len(test_dataloader)} test batches")

# %% Worker processes and `if __name__ == "__main__":`
# Under the spawn and forkserver start methods (Windows, macOS, Linux from Python 3.14)
# each worker starts a fresh Python that imports your script again from the top, so
# every line outside `if __name__ == "__main__":` runs once more per worker: put your
# own training script's code in a main() called under that guard. These lessons stay
# top-level for stepping through cells, so parse_settings stops workers re-importing
# them (see common.py); that works because the dataset here comes from torchvision.

# %% Iterate through the DataLoader 遍历
# Each step gives a batch: images stacked to (64, 1, 28, 28), labels to (64,) int64.
# With num_workers > 0, starting an iteration starts the worker processes.
batches = iter(train_dataloader)
train_features, train_labels = next(batches)
workers = multiprocessing.active_children()
print(f"Worker processes loading batches: {len(workers)} (num_workers={args.num_workers})")
assert len(workers) >= args.num_workers
del batches  # done with this pass: its workers stop
print(f"Feature batch shape: {train_features.size()}")
print(f"Labels batch shape: {train_labels.size()}, dtype: {train_labels.dtype}")
batch = min(64, len(training_data))
assert train_features.shape == (batch, 1, 28, 28) and train_labels.shape == (batch,)
assert train_labels.dtype == torch.int64  # what nn.CrossEntropyLoss expects (lesson 06)
train_features = train_features.to(device)  # in training, each batch moves to the device
img = train_features[0].squeeze().cpu()  # (1, 28, 28) -> (28, 28); matplotlib wants CPU data
label = train_labels[0].item()
figure = plt.figure(figsize=(3, 3))
plt.imshow(img, cmap="gray")
plt.title(f"Label: {label} ({CLASSES[label]})")
plt.axis("off")
save_figure(figure, "02_first_image")
print(f"Label: {label} ({CLASSES[label]})")

# %% shuffle=True: every pass over the DataLoader draws a new order
# shuffle=True gives the DataLoader a RandomSampler; each pass over it (each epoch)
# draws a fresh permutation of the indices. (For other orders, pass your own sampler.)
first_epoch = list(train_dataloader.sampler)
second_epoch = list(train_dataloader.sampler)
print(f"\nFirst indices of epoch 1: {first_epoch[:8]}")
print(f"First indices of epoch 2: {second_epoch[:8]}")
assert sorted(first_epoch) == sorted(second_epoch) == list(range(len(training_data)))
if len(training_data) >= 10:  # with a handful of samples, two orders may happen to agree
    assert first_epoch != second_epoch

# %% Further reading 延伸阅读
# https://pytorch.org/tutorials/beginner/basics/data_tutorial.html
# https://pytorch.org/docs/stable/data.html (Dataset, DataLoader, samplers, workers)
# https://pytorch.org/docs/stable/data.html#platform-specific-behaviors
# https://pytorch.org/vision/stable/datasets.html
