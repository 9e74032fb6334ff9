"""02 · Datasets & DataLoaders 数据集与数据加载器

A Dataset hands out one (sample, label) pair per index; a DataLoader batches,
shuffles and (optionally) loads them in worker processes. This lesson loads
Fashion-MNIST, plots samples, writes a small folder of PNG files and reads it
back through a custom Dataset, and iterates a DataLoader.

Run:  python 02_data.py [--data-dir data] [--subset N] [--num-workers 0] [--device cpu] [--seed 0]
Writes outputs/02_samples.png, outputs/02_first_image.png and outputs/02_custom_dataset/.
"""

import csv
import os

import matplotlib.pyplot as plt
import torch
from torch.utils.data import DataLoader, Dataset
from torchvision.io import read_image, write_png
from torchvision.transforms import ToTensor

from common import CLASSES, OUTPUT_DIR, fashion_mnist, get_device, make_parser, save_figure, seed_everything

# How many images the custom-Dataset demo writes as PNG files.
num_custom_images = 16


class CustomImageDataset(Dataset):
    """Images in a folder, labels in a CSV file of `file name,label` rows (no header)."""

    def __init__(self, annotations_file, img_dir, transform=None, target_transform=None):
        # Runs once: read the whole label table. The notes use pandas.read_csv; for
        # two columns the standard csv module does the same without a dependency
        # (and pandas would take the first row as a header unless told header=None).
        with open(annotations_file, newline="") as f:
            self.img_labels = [(name, int(label)) for name, label in csv.reader(f)]
        self.annotations_file = annotations_file
        self.img_dir = img_dir
        self.transform = transform
        self.target_transform = target_transform

    def __len__(self):
        return len(self.img_labels)

    def __getitem__(self, idx):
        # Runs for every sample: find the file, read it as a uint8 (C, H, W) tensor, transform.
        name, label = self.img_labels[idx]
        img_path = os.path.join(self.img_dir, name)
        if not os.path.isfile(img_path):
            raise FileNotFoundError(
                f"{self.annotations_file}, row {idx + 1}: image file {img_path} does not exist"
            )
        image = read_image(img_path)
        if self.transform:
            image = self.transform(image)
        if self.target_transform:
            label = self.target_transform(label)
        return image, label


def class_name(label):
    """A target_transform: label number -> class name."""
    return CLASSES[label]


def to_float_image(image):
    """uint8 (C, H, W) in 0..255 -> float32 in 0..1: what ToTensor does to a uint8 image."""
    return image.float().div(255)


def show_samples(dataset, rows=3, cols=3):
    """A grid of random samples titled with their class names."""
    figure = plt.figure(figsize=(8, 8))
    for i in range(1, rows * cols + 1):
        sample_idx = torch.randint(len(dataset), size=(1,)).item()
        img, label = dataset[sample_idx]
        figure.add_subplot(rows, cols, i)
        plt.title(CLASSES[label])
        plt.axis("off")
        plt.imshow(img.squeeze(), cmap="gray")  # (1, 28, 28) -> (28, 28)
    return save_figure(figure, "02_samples")


def write_image_folder(dataset, folder, count):
    """Save the first `count` samples as PNG files plus an annotations.csv naming them."""
    img_dir = folder / "images"
    img_dir.mkdir(parents=True, exist_ok=True)
    annotations_file = folder / "annotations.csv"
    with open(annotations_file, "w", newline="") as f:
        writer = csv.writer(f)
        for i in range(count):
            img, label = dataset[i]
            pixels = (img * 255).round().to(torch.uint8)  # undo ToTensor's scaling: exact
            write_png(pixels, str(img_dir / f"{i:05d}.png"))
            writer.writerow([f"{i:05d}.png", label])
    return annotations_file, img_dir


def main():
    args = make_parser(__doc__, data=True, workers=True).parse_args()
    seed_everything(args.seed)
    device = get_device(args.device)

    # %% Loading a dataset 加载数据集
    # common.fashion_mnist is the notes' datasets.FashionMNIST(root=..., train=...,
    # download=True, transform=ToTensor()), with a clear message if it cannot download.
    training_data = fashion_mnist(args.data_dir, train=True, transform=ToTensor(), subset=args.subset)
    test_data = fashion_mnist(args.data_dir, train=False, transform=ToTensor(), subset=args.subset)
    print(f"Training samples: {len(training_data)}")
    print(f"Test samples: {len(test_data)}")
    img, label = training_data[0]
    print(f"One sample: image {tuple(img.shape)} {img.dtype}, label {label} ({CLASSES[label]})")
    assert img.shape == (1, 28, 28) and img.dtype == torch.float32

    # %% Iterating and visualizing the dataset 迭代与可视化
    # Index a Dataset like a list: training_data[i] -> (image, label).
    show_samples(training_data)

    # %% Creating a custom Dataset for your files 自定义数据集
    # First make some files to read: PNG images plus a CSV of (file name, label) rows.
    count = min(num_custom_images, len(training_data))
    folder = OUTPUT_DIR / "02_custom_dataset"
    annotations_file, img_dir = write_image_folder(training_data, folder, count)
    print(f"\nWrote {count} PNG files to {img_dir} and their labels to {annotations_file}")

    # %% __init__, __len__, __getitem__ at work
    # transform and target_transform run on each sample as it is read.
    custom = CustomImageDataset(
        annotations_file, img_dir, transform=to_float_image, target_transform=class_name
    )
    image, label = custom[0]
    print(
        f"CustomImageDataset: {len(custom)} samples; the first: image {tuple(image.shape)}, label {label!r}"
    )
    for i in range(len(custom)):
        image, label = custom[i]
        original, original_label = training_data[i]
        assert torch.equal(image, original) and label == CLASSES[original_label]
    print(f"Read back through CustomImageDataset: all {len(custom)} images and labels equal the originals")

    # %% A row that names a missing file fails with a message naming that file
    bad_annotations = folder / "annotations_bad.csv"
    bad_annotations.write_text("missing.png,0\n")
    try:
        CustomImageDataset(bad_annotations, img_dir)[0]
    except FileNotFoundError as err:
        print(f"Missing file: {err}")
    else:
        raise AssertionError("reading a missing image should have failed")

    # %% Preparing your data for training with DataLoaders 数据加载器
    # batch_size samples per step; shuffle=True draws a new order every epoch
    # (less overfitting to the order); num_workers > 0 loads batches in worker
    # processes, which re-import this script on macOS/Windows: that is why every
    # lesson ends with `if __name__ == "__main__":`.
    train_dataloader = DataLoader(training_data, batch_size=64, shuffle=True, num_workers=args.num_workers)
    # The notes shuffle the test set too; its order cannot change a test score, so we don't.
    test_dataloader = DataLoader(test_data, batch_size=64, shuffle=False, num_workers=args.num_workers)
    print(f"\nDataLoader: {len(train_dataloader)} training batches, {len(test_dataloader)} test batches")

    # %% Iterate through the DataLoader 遍历
    # Each step gives a batch: images stacked to (64, 1, 28, 28), labels to (64,).
    train_features, train_labels = next(iter(train_dataloader))
    print(f"Feature batch shape: {train_features.size()}")
    print(f"Labels batch shape: {train_labels.size()}")
    batch = min(64, len(training_data))
    assert train_features.shape == (batch, 1, 28, 28) and train_labels.shape == (batch,)
    train_features = train_features.to(device)  # in training, each batch moves to the device
    img = train_features[0].squeeze().cpu()  # (1, 28, 28) -> (28, 28); matplotlib wants CPU data
    label = train_labels[0].item()
    figure = plt.figure(figsize=(3, 3))
    plt.imshow(img, cmap="gray")
    plt.title(f"Label: {label} ({CLASSES[label]})")
    plt.axis("off")
    save_figure(figure, "02_first_image")
    print(f"Label: {label} ({CLASSES[label]})")

    # %% shuffle=True: every pass over the DataLoader starts in a new order
    # (For finer control over the order, give the DataLoader a Sampler instead.)
    first_epoch = next(iter(train_dataloader))[1][:10].tolist()
    second_epoch = next(iter(train_dataloader))[1][:10].tolist()
    print(f"\nFirst labels of epoch 1: {first_epoch}")
    print(f"First labels of epoch 2: {second_epoch}")


if __name__ == "__main__":
    main()
