"""03 · Transforms 数据变换

Data rarely arrives in the form training needs. A dataset's `transform` changes
each image and `target_transform` each label. This lesson shows ToTensor
(PIL image -> float tensor), a Lambda that one-hot encodes labels, the newer
transforms.v2 API, and why a named function beats a lambda with worker processes.

Run:  python 03_transforms.py [--data-dir data] [--subset N] [--num-workers 0] [--device cpu] [--seed 0]
"""

import pickle

import numpy as np
import torch
from torch.utils.data import DataLoader
from torchvision.transforms import Lambda, ToTensor, v2

from common import fashion_mnist, get_device, make_parser, seed_everything

# How many real images to compare ToTensor and transforms.v2 on.
num_compared = 100


def one_hot(y):
    """Label y -> a length-10 float vector: zeros with a 1 at index y (the notes' lambda, named)."""
    return torch.zeros(10, dtype=torch.float).scatter_(0, torch.tensor(y), value=1)


def main():
    args = make_parser(__doc__, data=True, workers=True).parse_args()
    seed_everything(args.seed)
    device = get_device(args.device)

    # %% What the raw dataset gives: a PIL image and an int label
    raw = fashion_mnist(args.data_dir, train=True, subset=args.subset)
    pil_image, label = raw[0]
    pixels = np.array(pil_image)  # (28, 28) uint8
    print(
        f"Raw sample: {type(pil_image).__name__} mode={pil_image.mode} size={pil_image.size}, label {label}"
    )
    print(f"  as an array: shape {pixels.shape}, dtype {pixels.dtype}, range {pixels.min()}..{pixels.max()}")

    # %% ToTensor(): PIL image / ndarray -> float tensor
    # uint8 -> float32, 0..255 -> 0..1 (divided by 255), (H, W) -> (C, H, W) with C=1.
    tensor = ToTensor()(pil_image)
    print(
        f"\nToTensor: shape {tuple(tensor.shape)}, dtype {tensor.dtype}, "
        f"range {tensor.min().item():.3f}..{tensor.max().item():.3f}"
    )
    assert tensor.shape == (1, 28, 28) and tensor.dtype == torch.float32
    assert 0.0 <= tensor.min() and tensor.max() <= 1.0
    assert torch.equal(tensor, torch.from_numpy(pixels).float().div(255).unsqueeze(0))

    # %% Lambda transforms: one-hot labels with scatter_
    # scatter_(dim=0, index=y, value=1) writes 1 at position y of a zero vector.
    target_transform = Lambda(one_hot)
    encoded = target_transform(label)
    print(f"\nLabel {label} one-hot: {encoded}")
    expected = torch.nn.functional.one_hot(torch.tensor(label), num_classes=10).float()
    assert torch.equal(encoded, expected)
    for y in range(10):
        assert torch.equal(one_hot(y), torch.nn.functional.one_hot(torch.tensor(y), 10).float())

    # %% The notes' dataset: ToTensor for images, the one-hot Lambda for labels
    ds = fashion_mnist(
        args.data_dir, train=True, transform=ToTensor(), target_transform=target_transform, subset=args.subset
    )
    image, target = ds[0]
    print(f"Transformed sample: image {tuple(image.shape)} {image.dtype}, target {target}")

    # %% A lambda cannot travel to worker processes; a named function can
    # With num_workers > 0 on macOS and Windows, the DataLoader pickles the dataset,
    # transforms included, into each worker. pickle stores a function by its name,
    # and a lambda has none; a module-level function like one_hot does.
    notes_version = Lambda(lambda y: torch.zeros(10, dtype=torch.float).scatter_(0, torch.tensor(y), value=1))
    try:
        pickle.dumps(notes_version)
    except (pickle.PicklingError, AttributeError) as err:
        print(f"\nPickling the notes' lambda fails: {type(err).__name__}")
    else:
        raise AssertionError("pickling a lambda should have failed")
    pickle.dumps(target_transform)
    print("Pickling Lambda(one_hot) works, so this loader works with --num-workers > 0 everywhere.")
    loader = DataLoader(ds, batch_size=64, shuffle=True, num_workers=args.num_workers)
    images, targets = next(iter(loader))
    images, targets = images.to(device), targets.to(device)
    print(f"Batch: images {images.shape}, one-hot targets {targets.shape}")
    assert targets.shape == (images.shape[0], 10) and (targets.sum(dim=1) == 1).all()

    # %% The current way: torchvision.transforms.v2
    # v2 works on tensors as well as PIL images and also transforms boxes and masks.
    # ToTensor is kept only for old code; in new code write ToImage + ToDtype(scale=True).
    to_tensor_v2 = v2.Compose([v2.ToImage(), v2.ToDtype(torch.float32, scale=True)])
    count = min(num_compared, len(raw))
    old = torch.stack([ToTensor()(raw[i][0]) for i in range(count)])
    new = torch.stack([to_tensor_v2(raw[i][0]) for i in range(count)])
    difference = (old - new).abs().max().item()
    print(
        f"\nToTensor vs v2 on {count} images: same shape {new.shape == old.shape}, "
        f"largest difference {difference:.1e}"
    )
    # v2 multiplies by 1/255 where ToTensor divides by 255: equal up to float rounding.
    torch.testing.assert_close(new, old)


if __name__ == "__main__":
    main()
