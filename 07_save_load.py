"""07 · Save & load the model 保存与加载模型

A trained model is its learned parameters, kept in a state_dict. This lesson
loads the weights 06_train.py saved and checks they give the same accuracy,
saves and reloads a state_dict, saves a checkpoint and resumes training from it,
saves a whole model (and why not to), and does the same on torchvision's VGG16.

Run:  python 07_save_load.py [--weights outputs/model_weights.pth] [--pretrained]
                             [--data-dir data] [--subset N] [--device cpu] [--seed 0]
Writes outputs/07_predictions.png and, as the notes do, .pth files in outputs/
(07_vgg16_weights.pth is 528 MB).
"""

# %% Imports
import copy
import pickle

import matplotlib.pyplot as plt
import torch
from torch import nn
from torch.utils.data import TensorDataset
from torchvision import datasets, models
from torchvision.transforms.v2.functional import to_dtype

from common import (
    CLASSES,
    WEIGHTS_PATH,
    NeuralNetwork,
    check_output_dir,
    check_state_dict_file,
    fetch_pretrained_vgg16,
    get_device,
    keep_first,
    parse_settings,
    prepare_data,
    save_figure,
    seed_everything,
)

# %% Settings 设置
# weights=None loads what 06_train.py saved; pretrained=True downloads VGG16's weights.
# On the command line, flags override these (python 07_save_load.py --help).
# In a notebook no flags are read: edit the values here.
args = parse_settings(weights=None, pretrained=False, data_dir="data", subset=None, device=None, seed=0)
seed_everything(args.seed)
device = get_device(args.device)
outputs = check_output_dir()
if args.pretrained:
    fetch_pretrained_vgg16()  # 528 MB: fetched (or reported missing) now, not at the end

# %% Loading model weights 加载权重
# The class defines the network's shape, so make an instance first, then fill it.
# weights_only=True (the default since torch 2.6; the notes' plain torch.load then
# could run code hidden in the file) unpickles only tensors and plain containers.
# map_location puts the tensors on our device, whatever device saved them.
model = NeuralNetwork().to(device)
weights = args.weights or WEIGHTS_PATH
if args.weights is None and not WEIGHTS_PATH.is_file():
    print(f"No {WEIGHTS_PATH} yet: run `python 06_train.py` to train and save one.")
    print("Continuing with an untrained network (expect about 10% accuracy).")
else:
    check_state_dict_file(weights, model)  # a clear message for a missing or wrong file
    model.load_state_dict(torch.load(weights, map_location=device, weights_only=True))
    print(f"Loaded weights from {weights}")

# %% model.eval() before inference 推理前调用 eval()
# It switches dropout and batch normalization to inference behaviour. This network
# has neither, but forgetting eval() on one that does (VGG16 below) changes answers.
model.eval()

# %% Check it: the accuracy 06_train.py printed at the end
# The same test images, batches of 1000 and uint8 -> float conversion as in 06.
data_dir = prepare_data(args.data_dir)
test_data = datasets.FashionMNIST(root=data_dir, train=False, download=True)
test_set = keep_first(TensorDataset(test_data.data.unsqueeze(1), test_data.targets), args.subset)
images, labels = test_set.tensors  # (N, 1, 28, 28) uint8, (N,) int64
with torch.no_grad():
    batches = [to_dtype(X.to(device), torch.float32, scale=True) for X in images.split(1000)]
    predictions = torch.cat([model(X).argmax(1).cpu() for X in batches])
accuracy = (predictions == labels).sum().item() / len(labels)
print(f"Test accuracy of these weights: {100 * accuracy:.1f}%")

# %% One prediction, as in the official quickstart
x, y = images[0], labels[0]
with torch.no_grad():
    pred = model(to_dtype(x.to(device), torch.float32, scale=True))  # (1, 28, 28) -> (1, 10)
    predicted, actual = CLASSES[pred[0].argmax(0)], CLASSES[y]
print(f'Predicted: "{predicted}", Actual: "{actual}"')

# %% Some test images with their predictions: green when right, red when wrong
figure = plt.figure(figsize=(10, 8))
for i in range(min(12, len(labels))):
    figure.add_subplot(3, 4, i + 1)
    right = predictions[i] == labels[i]
    plt.title(f"{CLASSES[labels[i]]}\n/ {CLASSES[predictions[i]]}", color="green" if right else "red")
    plt.axis("off")
    plt.imshow(images[i].squeeze(), cmap="gray")
figure.suptitle("true / predicted")
save_figure(figure, "07_predictions")

# %% Saving and Loading Model Weights 保存与加载 state_dict
# A state_dict maps each parameter's name to its tensor. It holds no code.
for name, tensor in model.state_dict().items():
    print(f"  {name}: {tuple(tensor.shape)}")
torch.save(model.state_dict(), outputs / "07_state_dict.pth")
fresh = NeuralNetwork().to(device)
fresh.load_state_dict(torch.load(outputs / "07_state_dict.pth", map_location=device, weights_only=True))
fresh.eval()
X = batches[0][:64]
with torch.no_grad():
    assert torch.equal(fresh(X), model(X))
print("A fresh NeuralNetwork with the loaded state_dict gives identical outputs.")

# %% Saving and loading a general checkpoint 检查点: to resume training later
# To go on training after a break, save more than the weights: the optimizer's
# state (Adam keeps running averages per parameter) and the epoch. First, a small
# training run: 640 training images in a fixed order, batches of 64.
training_data = datasets.FashionMNIST(root=data_dir, train=True, download=True)
X_train = to_dtype(training_data.data[:640].unsqueeze(1), torch.float32, scale=True).to(device)
y_train = training_data.targets[:640].to(device)
loss_fn = nn.CrossEntropyLoss()


def train_epoch(model, optimizer):
    """One pass over X_train; returns the last batch's loss."""
    model.train()
    for X, y in zip(X_train.split(64), y_train.split(64), strict=True):
        loss = loss_fn(model(X), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return loss.item()


# %% Two epochs without a break, for comparison
torch.manual_seed(args.seed)
initial = copy.deepcopy(NeuralNetwork().state_dict())  # every run below starts here
unbroken = NeuralNetwork().to(device)
unbroken.load_state_dict(initial)
optimizer = torch.optim.Adam(unbroken.parameters(), lr=1e-3)
for _ in range(2):  # epochs 0 and 1
    train_epoch(unbroken, optimizer)

# %% One epoch, then save a checkpoint
model = NeuralNetwork().to(device)
model.load_state_dict(initial)
optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
loss = train_epoch(model, optimizer)
checkpoint = {
    "epoch": 1,
    "model_state_dict": model.state_dict(),
    "optimizer_state_dict": optimizer.state_dict(),
    "loss": loss,
}
torch.save(checkpoint, outputs / "07_checkpoint.pth")
print(f"\nSaved a checkpoint after epoch 1 (loss {loss:.4f}): {outputs / '07_checkpoint.pth'}")

# %% Later, perhaps in a new process: rebuild both, load both, train on
model = NeuralNetwork().to(device)
optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
checkpoint = torch.load(outputs / "07_checkpoint.pth", map_location=device, weights_only=True)
model.load_state_dict(checkpoint["model_state_dict"])
optimizer.load_state_dict(checkpoint["optimizer_state_dict"])
for _ in range(checkpoint["epoch"], 2):  # epoch 1 only: epoch 0 is in the checkpoint
    train_epoch(model, optimizer)
pairs = list(zip(model.parameters(), unbroken.parameters(), strict=True))
if device.type == "cpu":  # the same operations in the same order: bit for bit
    same = all(torch.equal(p, q) for p, q in pairs)
else:  # accelerators may pick kernels that round differently from run to run
    same = all(torch.allclose(p, q, rtol=1e-4, atol=1e-6) for p, q in pairs)
print(f"Resumed from the checkpoint, the weights equal training without a break: {same}")
assert same

# %% Without the optimizer's state, the resumed run goes elsewhere
model_only = NeuralNetwork().to(device)
model_only.load_state_dict(checkpoint["model_state_dict"])
train_epoch(model_only, torch.optim.Adam(model_only.parameters(), lr=1e-3))  # a fresh Adam
pairs = zip(model_only.parameters(), unbroken.parameters(), strict=True)
differs = not all(torch.allclose(p, q) for p, q in pairs)
print(f"Resumed with the weights only (a fresh optimizer): the weights differ: {differs}")
assert differs

# %% Saving and Loading Models with Shapes: the whole model
# torch.save(model) pickles the object: the weights plus a reference to the class
# (common.NeuralNetwork), which must still exist, unchanged, where loading happens.
torch.save(model, outputs / "07_whole_model.pth")
try:
    torch.load(outputs / "07_whole_model.pth", weights_only=True)
except pickle.UnpicklingError as err:
    print(f"\ntorch.load(..., weights_only=True) refuses a whole model: {type(err).__name__}")
else:
    raise AssertionError("weights_only=True should refuse a pickled model")
# weights_only=False unpickles anything, and unpickling can run any code the file's
# author chose: use it only for files you made yourself. Prefer the state_dict.
whole = torch.load(outputs / "07_whole_model.pth", map_location=device, weights_only=False)
whole.eval()
model.eval()
with torch.no_grad():
    assert torch.equal(whole(X), model(X))
print("With weights_only=False it loads and gives identical outputs; prefer the state_dict way.")

# %% The same pattern on VGG16, as in the notes
# weights=None builds it untrained (no 528 MB download; pretrained=True downloads it).
vgg = models.vgg16(weights="IMAGENET1K_V1" if args.pretrained else None).to(device)
kind = "ImageNet weights" if args.pretrained else "untrained"
print(f"\nVGG16 ({kind}): {sum(p.numel() for p in vgg.parameters()):,} parameters")
torch.save(vgg.state_dict(), outputs / "07_vgg16_weights.pth")

# %% Loading the VGG16 state_dict into a new instance
# Built on the "meta" device the new instance has shapes only (no memory, no random
# init, which takes seconds for 138 million parameters); mmap=True maps the file
# instead of reading it all, and assign=True uses the loaded tensors as they are.
with torch.device("meta"):
    vgg_copy = models.vgg16()
state_dict = torch.load(outputs / "07_vgg16_weights.pth", mmap=True, weights_only=True)
vgg_copy.load_state_dict(state_dict, assign=True)
vgg_copy.to(device)
first_copy, first_original = vgg_copy.features[0].weight, vgg.features[0].weight
assert torch.equal(first_copy, first_original) and first_copy.data_ptr() != first_original.data_ptr()
print("The copy loaded from the file holds equal weights in memory of its own.")

# %% Why eval() matters: VGG16's dropout layers
x = torch.rand(1, 3, 32, 32, device=device)  # small input to keep it quick; ImageNet uses 224x224
with torch.no_grad():
    vgg_copy.train()
    differ = not torch.equal(vgg_copy(x), vgg_copy(x))
    vgg_copy.eval()
    vgg.eval()
    same = torch.equal(vgg_copy(x), vgg_copy(x)) and torch.allclose(vgg_copy(x), vgg(x))
print(f"train mode: two calls differ: {differ}; eval mode: calls agree, and agree with the original: {same}")
assert differ and same

# %% Further reading 延伸阅读
# https://pytorch.org/tutorials/beginner/basics/saveloadrun_tutorial.html
# https://pytorch.org/tutorials/beginner/saving_loading_models.html (checkpoints)
# https://pytorch.org/docs/stable/generated/torch.load.html (weights_only, mmap)
# https://pytorch.org/vision/stable/models.html
