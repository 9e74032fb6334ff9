"""07 · Save & load the model 保存与加载模型

A trained model is its learned parameters, kept in a state_dict. This lesson
loads the weights 06_train.py saved and checks they give the same accuracy,
saves and reloads a state_dict, saves a whole model (and why not to), and shows
the same pattern on torchvision's VGG16.

Run:  python 07_save_load.py [--weights outputs/model_weights.pth] [--pretrained]
                             [--data-dir data] [--subset N] [--device cpu] [--seed 0]
Writes outputs/07_predictions.png, outputs/07_state_dict.pth and outputs/07_whole_model.pth.
"""

import pickle
from pathlib import Path

import matplotlib.pyplot as plt
import torch
from torch.utils.data import DataLoader
from torchvision import models

from common import (
    CLASSES,
    OUTPUT_DIR,
    WEIGHTS_PATH,
    NeuralNetwork,
    fail,
    fashion_mnist_uint8,
    get_device,
    make_parser,
    reason,
    save_atomically,
    save_figure,
    seed_everything,
)

# The batch size 06_train.py evaluates with: the same batches give the same numbers.
test_batch_size = 1000
# How many test images the prediction figure shows.
num_shown = 12


def parse_args():
    parser = make_parser(__doc__, data=True)
    parser.add_argument(
        "--weights",
        type=Path,
        default=None,
        help=f"state_dict file to load (default: {WEIGHTS_PATH} if 06_train.py wrote it)",
    )
    parser.add_argument(
        "--pretrained",
        action="store_true",
        help="download VGG16's ImageNet weights (528 MB) instead of building it untrained (default: off)",
    )
    return parser.parse_args()


def load_weights(model, path, device):
    """model.load_state_dict(torch.load(path, weights_only=True)), with clear errors for bad files."""
    if not path.is_file():
        fail(
            f"--weights {path}: no such file. Train and save one with `python 06_train.py`, "
            f"or pass the path of a file it wrote."
        )
    try:
        # weights_only=True (the default since torch 2.6) unpickles only tensors and
        # plain containers, so a malicious file cannot run code on your machine.
        # map_location puts the tensors on our device, whatever device saved them.
        state_dict = torch.load(path, map_location=device, weights_only=True)
    except Exception as err:
        fail(
            f"{path} is not a readable PyTorch weights file ({reason(err)}). It may be truncated "
            f"or another kind of file: run `python 06_train.py` to write a fresh one."
        )
    try:
        model.load_state_dict(state_dict)
    except (RuntimeError, TypeError, AttributeError) as err:
        fail(
            f"{path} holds no weights for this lesson's NeuralNetwork ({reason(err)}). "
            f"Pass a file written by 06_train.py."
        )
    return model


def predict(model, dataloader, device):
    """Predicted class of every sample, in order, as one CPU tensor."""
    model.eval()
    predictions = []
    with torch.no_grad():
        for X, _ in dataloader:
            X = X.to(device).float().div_(255)  # uint8 -> 0..1 floats, as in 06_train.py
            predictions.append(model(X).argmax(1).cpu())
    return torch.cat(predictions)


def show_predictions(images, labels, predictions):
    """Test images titled `true / predicted`: green when right, red when wrong."""
    figure = plt.figure(figsize=(10, 8))
    for i in range(len(images)):
        figure.add_subplot(3, 4, i + 1)
        right = predictions[i] == labels[i]
        plt.title(f"{CLASSES[labels[i]]}\n/ {CLASSES[predictions[i]]}", color="green" if right else "red")
        plt.axis("off")
        plt.imshow(images[i].squeeze(), cmap="gray")
    figure.suptitle("true / predicted")
    return save_figure(figure, "07_predictions")


def main():
    args = parse_args()
    seed_everything(args.seed)
    device = get_device(args.device)

    # %% Load the weights 06_train.py saved 加载权重
    # The class defines the network's shape, so make an instance first, then fill it.
    model = NeuralNetwork().to(device)
    path = args.weights or WEIGHTS_PATH
    if args.weights is None and not WEIGHTS_PATH.is_file():
        print(
            f"No {WEIGHTS_PATH} yet: run `python 06_train.py` to train and save one. "
            f"Continuing with an untrained network (expect about 10% accuracy)."
        )
    else:
        load_weights(model, path, device)
        print(f"Loaded weights from {path}")

    # %% model.eval() before inference 推理前调用 eval()
    # It switches dropout and batch normalization to inference behaviour. This
    # network has neither, but forgetting eval() on one that does (VGG16 below)
    # gives different answers on every call.
    model.eval()

    # %% Check it: the accuracy 06_train.py printed at the end
    test_data = fashion_mnist_uint8(args.data_dir, train=False, subset=args.subset)
    images, labels = test_data.tensors
    predictions = predict(model, DataLoader(test_data, batch_size=test_batch_size), device)
    accuracy = (predictions == labels).sum().item() / len(labels)
    print(f"Test accuracy of these weights: {100 * accuracy:.1f}%")
    shown = min(num_shown, len(labels))
    show_predictions(images[:shown], labels[:shown].tolist(), predictions[:shown].tolist())

    # %% Saving and loading model weights: state_dict 保存与加载 state_dict
    # A state_dict maps each parameter's name to its tensor. It holds no code.
    state_dict = model.state_dict()
    for name, tensor in state_dict.items():
        print(f"  {name}: {tuple(tensor.shape)}")
    state_path = OUTPUT_DIR / "07_state_dict.pth"
    save_atomically(state_dict, state_path)  # torch.save(state_dict, path), never half-written
    print(f"Saved state_dict: {state_path} ({state_path.stat().st_size / 1e6:.1f} MB)")
    fresh = NeuralNetwork().to(device)
    fresh.load_state_dict(torch.load(state_path, map_location=device, weights_only=True))
    fresh.eval()
    X = images[:64].to(device).float().div_(255)
    with torch.no_grad():
        assert torch.equal(fresh(X), model(X))
    print("A fresh NeuralNetwork with the loaded state_dict gives identical outputs.")

    # %% Saving and loading models with shapes: the whole model
    # torch.save(model) pickles the object: the weights plus a reference to the
    # class `common.NeuralNetwork`, which must still exist, unchanged, where loading happens.
    whole_path = OUTPUT_DIR / "07_whole_model.pth"
    save_atomically(model, whole_path)  # torch.save(model, path)
    try:
        torch.load(whole_path, weights_only=True)
    except pickle.UnpicklingError as err:
        print(f"\ntorch.load({whole_path}) refuses it: {type(err).__name__} (weights_only=True, the default)")
    else:
        raise AssertionError("weights_only=True should refuse a pickled model")
    # weights_only=False unpickles anything, and unpickling can run any code the
    # file's author chose: use it only for files you made yourself. The notes'
    # plain torch.load('model.pth') did this by default before torch 2.6.
    whole = torch.load(whole_path, map_location=device, weights_only=False)
    whole.eval()
    with torch.no_grad():
        assert torch.equal(whole(X), model(X))
    print("With weights_only=False it loads and gives identical outputs; prefer the state_dict way.")

    # %% The same pattern on VGG16 (as in the notes)
    # weights=None builds the network untrained: no 528 MB download (--pretrained downloads it).
    vgg_weights = "IMAGENET1K_V1" if args.pretrained else None
    try:
        vgg = models.vgg16(weights=vgg_weights).to(device)
    except Exception as err:  # offline, a proxy, a full disk ...
        fail(
            f"could not download VGG16's ImageNet weights ({reason(err)}). Run without "
            f"--pretrained to use an untrained VGG16, or run again with internet access."
        )
    print(
        f"\nVGG16 ({'ImageNet weights' if vgg_weights else 'untrained'}): "
        f"{sum(p.numel() for p in vgg.parameters()):,} parameters"
    )

    # %% Loading a VGG16 state_dict into a new instance
    # The notes write it to a file first; in memory it is the same call. The new
    # instance is built on the "meta" device (shapes only, no memory, no random
    # init) because load_state_dict(..., assign=True) replaces every tensor anyway.
    with torch.device("meta"):
        vgg_copy = models.vgg16()
    vgg_copy.load_state_dict(vgg.state_dict(), assign=True)

    # %% Why eval() matters: VGG16's dropout layers
    x = torch.rand(1, 3, 32, 32, device=device)  # small input to keep it quick; ImageNet uses 224x224
    with torch.no_grad():
        vgg_copy.train()
        differ = not torch.equal(vgg_copy(x), vgg_copy(x))
        vgg_copy.eval()
        same = torch.equal(vgg_copy(x), vgg_copy(x)) and torch.equal(vgg_copy(x), vgg.eval()(x))
    print(f"train mode: two calls differ: {differ}; eval mode: calls agree: {same}")
    assert differ and same


if __name__ == "__main__":
    main()
