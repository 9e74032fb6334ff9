"""Train a classifier on a folder of your own images, one sub-folder per class: photos/cat/1.jpg,
photos/dog/2.png, ... The lessons' pieces together: ImageFolder and transforms (02, 03), a network
sized from the data (04), train_loop and test_loop (06), a checkpoint every epoch (07).

    python your_images.py photos --epochs 10            # writes outputs/checkpoint.pth
    python your_images.py photos --epochs 20 --resume   # epochs 11 to 20, from that checkpoint
    python your_images.py --predict new.jpg             # one image, with the training transform
"""

import argparse
import sys
from pathlib import Path

import torch
from PIL import Image
from torch import nn
from torch.utils.data import DataLoader, Subset
from torchvision import datasets
from torchvision.transforms import v2


# Under spawn (Windows, macOS) each DataLoader worker imports this file again, on every pass
# over the data; under forkserver (Linux from Python 3.14) the server or each worker does. So
# the work sits in main(), under `if __name__ == "__main__":` at the end, and what a worker may
# need (a Dataset or transform of your own) at the top level.
def make_transform(image_size, mean, std):
    """Image -> float tensor (3, image_size, image_size), each colour channel standardized."""
    return v2.Compose(
        [
            v2.Resize((image_size, image_size)),  # all one size (squashed), to stack into batches
            v2.ToImage(),  # PIL image -> uint8 tensor (3, H, W)
            v2.ToDtype(torch.float32, scale=True),  # 0..255 -> 0..1
            v2.Normalize(mean, std),  # (x - mean) / std, per channel
        ]
    )


class NeuralNetwork(nn.Module):
    """Lesson 04's network, sized from the data: in_features inputs, one output per class."""

    def __init__(self, in_features, num_classes):
        super().__init__()
        self.flatten = nn.Flatten()
        self.linear_relu_stack = nn.Sequential(
            nn.Linear(in_features, 512),
            nn.ReLU(),
            nn.Linear(512, 512),
            nn.ReLU(),
            nn.Linear(512, num_classes),
        )

    def forward(self, x):
        x = self.flatten(x)  # (N, 3, H, W) -> (N, 3 * H * W)
        return self.linear_relu_stack(x)  # (N, num_classes) logits


def train_loop(dataloader, model, loss_fn, optimizer, device):
    """One epoch of training, as in lesson 06; returns the mean training loss."""
    model.train()
    total_loss = torch.zeros((), device=device)
    for X, y in dataloader:
        X, y = X.to(device), y.to(device)
        loss = loss_fn(model(X), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        total_loss += loss.detach() * len(X)
    return total_loss.item() / len(dataloader.dataset)


def test_loop(dataloader, model, loss_fn, device):
    """Accuracy and mean loss, as in lesson 06 (here on the validation images); returns both."""
    model.eval()
    test_loss = torch.zeros((), device=device)
    correct = torch.zeros((), device=device)
    with torch.no_grad():
        for X, y in dataloader:
            X, y = X.to(device), y.to(device)
            pred = model(X)
            test_loss += loss_fn(pred, y) * len(X)
            correct += (pred.argmax(1) == y).sum()
    size = len(dataloader.dataset)
    return correct.item() / size, test_loss.item() / size


def channel_stats(dataloader):
    """The mean and std of each colour channel, over all the images and their pixels."""
    total = torch.zeros(3, dtype=torch.float64)
    total_of_squares = torch.zeros(3, dtype=torch.float64)
    count = 0
    for images, _ in dataloader:
        images = images.double()  # (N, 3, H, W); float64: sums of millions of pixels stay accurate
        total += images.sum(dim=(0, 2, 3))
        total_of_squares += images.square().sum(dim=(0, 2, 3))
        count += images.numel() // 3  # pixels per channel
    mean = total / count
    std = (total_of_squares / count - mean.square()).sqrt()
    return mean.tolist(), std.tolist()


def stop(message):
    sys.exit(f"error: {message}")  # Python prints the text on stderr, exits with status 1


def unreadable(folder, err):
    last = str(err).strip().splitlines()[-1]  # from a worker, the original error comes last
    if not last.startswith(type(err).__name__):
        last = f"{type(err).__name__}: {last}"
    stop(f"an image in {folder} cannot be read ({last}). Remove or replace it, then run again.")


def load_checkpoint(path):
    if not path.is_file():
        stop(f"no checkpoint at {path}: train first, or give the --output-dir of that run.")
    return torch.load(path, map_location="cpu", weights_only=True)  # tensors, numbers, strings


def predict(image_path, checkpoint_path, device):
    """Print the class of one image file, transformed exactly as the training images were."""
    try:
        with Image.open(image_path) as image:
            image = image.convert("RGB")  # as ImageFolder reads its images
    except OSError as err:
        stop(f"cannot read {image_path} as an image ({type(err).__name__}: {err}).")
    checkpoint = load_checkpoint(checkpoint_path)
    classes, image_size = checkpoint["classes"], checkpoint["flags"]["--image-size"]
    # The training transform, with the training images' statistics: anything else shifts every input
    transform = make_transform(image_size, checkpoint["mean"], checkpoint["std"])
    x = transform(image).unsqueeze(0).to(device)  # (3, H, W) -> a batch of one, (1, 3, H, W)
    model = NeuralNetwork(x[0].numel(), len(classes)).to(device)
    model.load_state_dict(checkpoint["model_state_dict"])
    model.eval()
    with torch.no_grad():
        probabilities = model(x).softmax(dim=1)[0]
    best = probabilities.argmax().item()
    print(f"{image_path}: {classes[best]} ({100 * probabilities[best].item():.1f}%)")


def parse_args():
    parser = argparse.ArgumentParser(formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument(
        "folder",
        type=Path,
        nargs="?",
        help="your images, one sub-folder per class (not read with --predict)",
    )
    parser.add_argument("--epochs", type=int, default=10, help="the total, resumed epochs included")
    parser.add_argument("--batch-size", type=int, default=64, help="images per training step")
    parser.add_argument("--lr", type=float, default=1e-3, help="Adam's learning rate")
    parser.add_argument(
        "--image-size", type=int, default=32, metavar="N", help="images resized to N x N pixels"
    )
    parser.add_argument("--subset", type=int, metavar="N", help="N images at random (None: all)")
    parser.add_argument("--val-fraction", type=float, default=0.2, help="share kept for validation")
    parser.add_argument("--num-workers", type=int, default=0, help="DataLoader worker processes")
    parser.add_argument("--seed", type=int, default=0, help="the same seed gives the same run")
    parser.add_argument("--device", help="cpu, cuda, mps, ... (None: the accelerator, or cpu)")
    parser.add_argument("--output-dir", type=Path, default="outputs", help="for the checkpoint")
    parser.add_argument(
        "--resume", action="store_true", help="go on from --output-dir's checkpoint"
    )
    parser.add_argument("--predict", type=Path, metavar="IMAGE", help="print its class, then exit")
    return parser.parse_args()


def main():
    args = parse_args()
    if args.device is None:  # the accelerator (CUDA, MPS, ...) if there is one, else the CPU
        found = torch.accelerator.is_available()
        args.device = torch.accelerator.current_accelerator() if found else "cpu"
    device = torch.device(args.device)
    print(f"Using {device} device")
    checkpoint_path = args.output_dir / "checkpoint.pth"
    if args.predict:
        predict(args.predict, checkpoint_path, device)
        return
    if args.folder is None:
        stop("give the folder of your images: python your_images.py photos")

    try:
        dataset = datasets.ImageFolder(args.folder)  # classes: the sub-folders' names, sorted
    except OSError as err:  # no such folder, no sub-folders, or no images in them
        stop(
            f"cannot read images from {args.folder} ({type(err).__name__}: {err}). It must "
            "hold one sub-folder per class, with that class's images in it: photos/cat/1.jpg, "
            "photos/dog/2.png, ..."
        )
    # ImageFolder lists the images class by class, so its first N would be one or two classes: a
    # random order instead, from a generator of our own (the same for the same seed), gives the
    # subset and the split into training and validation images.
    order = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(args.seed))
    order = order[: args.subset].tolist()  # [:None] keeps them all
    val_count = max(1, round(args.val_fraction * len(order)))
    train_set, val_set = Subset(dataset, order[val_count:]), Subset(dataset, order[:val_count])
    if not train_set:
        stop(
            f"too few images to train on: {len(order)}, of which validation keeps {val_count}. "
            "Use more of them (--subset) or a smaller --val-fraction."
        )
    classes = dataset.classes
    print(f"{len(order)} images of {len(classes)} classes ({', '.join(classes)}): ", end="")
    print(f"{len(train_set)} for training, {len(val_set)} for validation")
    # Only the validation images choose anything (epochs, lr, image size, network). Keep a test
    # folder apart and measure it once, at the end: it tells how well the final choice does.

    # The flags that shape the run (split, statistics, batches, steps): resuming needs the same
    flags = {
        "--image-size": args.image_size,
        "--subset": args.subset,
        "--val-fraction": args.val_fraction,
        "--seed": args.seed,
        "--batch-size": args.batch_size,
        "--lr": args.lr,
        "images": len(dataset),  # one image more or less would change the split
    }
    if args.resume:
        checkpoint = load_checkpoint(checkpoint_path)
        saved = checkpoint["flags"]
        changed = [f"{flag} {value}" for flag, value in saved.items() if value != flags[flag]]
        if changed or checkpoint["classes"] != classes:
            changed_text = " ".join(changed).replace("--subset None", "no --subset")
            changed_text = changed_text.replace("images ", "the number of images, ")
            stop(
                f"{checkpoint_path} is of another run: resume with its images (classes "
                f"{checkpoint['classes']}) and its settings: {changed_text or 'the same'}."
            )
        if checkpoint["epoch"] >= args.epochs:  # --epochs counts the epochs already done
            stop(f"{checkpoint_path} is after epoch {checkpoint['epoch']}: ask for more epochs.")
        mean, std = checkpoint["mean"], checkpoint["std"]
    else:  # the statistics of the training images alone: validation images stay unseen
        dataset.transform = make_transform(args.image_size, mean=[0, 0, 0], std=[1, 1, 1])
        loader = DataLoader(train_set, batch_size=args.batch_size, num_workers=args.num_workers)
        try:
            mean, std = channel_stats(loader)
        except OSError as err:  # a file ImageFolder listed, but Pillow cannot read
            unreadable(args.folder, err)
    dataset.transform = make_transform(args.image_size, mean, std)

    torch.manual_seed(args.seed)  # the network's first weights
    model = NeuralNetwork(train_set[0][0].numel(), len(classes)).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    # shuffle=True draws each epoch's order from this generator: its state goes in the checkpoint.
    # (With num_workers=0, a random transform such as v2.RandomHorizontalFlip draws from torch's
    # global generator: for an exact resume, save torch.get_rng_state() too.)
    shuffling = torch.Generator().manual_seed(args.seed)
    train_loader = DataLoader(
        train_set, args.batch_size, shuffle=True, generator=shuffling, num_workers=args.num_workers
    )
    val_loader = DataLoader(val_set, args.batch_size, num_workers=args.num_workers)
    start = 0
    if args.resume:
        model.load_state_dict(checkpoint["model_state_dict"])
        optimizer.load_state_dict(checkpoint["optimizer_state_dict"])
        shuffling.set_state(checkpoint["generator_state"])
        start = checkpoint["epoch"]
        print(f"Resumed from {checkpoint_path}, after epoch {start}")

    loss_fn = nn.CrossEntropyLoss()
    print(f"Guessing at random would be right {100 / len(classes):.1f}% of the time")
    for epoch in range(start, args.epochs):
        try:
            train_loss = train_loop(train_loader, model, loss_fn, optimizer, device)
            accuracy, val_loss = test_loop(val_loader, model, loss_fn, device)
        except OSError as err:
            unreadable(args.folder, err)
        print(f"Epoch {epoch + 1}: training loss {train_loss:.4f}, ", end="")
        print(f"validation accuracy {100 * accuracy:.1f}%, validation loss {val_loss:.4f}")
        checkpoint = {
            "epoch": epoch + 1,
            "model_state_dict": model.state_dict(),
            "optimizer_state_dict": optimizer.state_dict(),
            "generator_state": shuffling.get_state(),
            "mean": mean,
            "std": std,
            "classes": classes,
            "flags": flags,
        }
        args.output_dir.mkdir(parents=True, exist_ok=True)
        torch.save(checkpoint, checkpoint_path.with_suffix(".tmp"))  # a whole file first, then
        checkpoint_path.with_suffix(".tmp").replace(checkpoint_path)  # in place in one step
        print(f"Saved {checkpoint_path}")


if __name__ == "__main__":
    main()
