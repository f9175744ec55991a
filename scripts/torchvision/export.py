"""Exports torchvision classifiers to ONNX with seeded weights, beside PyTorch's logits and input
gradient (float32, and float64 to tell rounding from error), for check.ts. Debian's python3-torch,
python3-torchvision and python3-onnx; run `/usr/bin/python3 scripts/torchvision/export.py OUT [names] [opset]`.
BatchNorm statistics are drawn away from identity (so a wrong fold shows) and zero-initialised linear
heads (ViT, Swin) are drawn at random (so the logits are not all zero)."""
import json
import os
import sys
import warnings

import numpy as np
import torch
import torchvision

warnings.filterwarnings("ignore")
M = torchvision.models
CASES = {  # name: (constructor, input size)
    "resnet18": (M.resnet18, 64), "resnext50_32x4d": (M.resnext50_32x4d, 64), "wide_resnet50_2": (M.wide_resnet50_2, 64),
    "mobilenet_v3_small": (M.mobilenet_v3_small, 64), "mobilenet_v3_large": (M.mobilenet_v3_large, 64),
    "shufflenet_v2_x0_5": (M.shufflenet_v2_x0_5, 64), "mnasnet0_5": (M.mnasnet0_5, 64),
    "regnet_x_400mf": (M.regnet_x_400mf, 64), "regnet_y_400mf": (M.regnet_y_400mf, 64),
    "efficientnet_v2_s": (M.efficientnet_v2_s, 64), "densenet121": (M.densenet121, 64), "squeezenet1_0": (M.squeezenet1_0, 64),
    "googlenet": (lambda: M.googlenet(aux_logits=False, init_weights=True), 64),
    "inception_v3": (lambda: M.inception_v3(aux_logits=False, init_weights=True), 96),
    "convnext_tiny": (M.convnext_tiny, 64), "alexnet": (M.alexnet, 224), "vgg11_bn": (M.vgg11_bn, 224),
    "vit_b_16": (M.vit_b_16, 224), "swin_t": (M.swin_t, 224),
}


def build(name):
    torch.manual_seed(0)
    m = CASES[name][0]().eval()
    for mod in m.modules():
        if isinstance(mod, torch.nn.BatchNorm2d):
            mod.running_mean.uniform_(-0.2, 0.2)
            mod.running_var.uniform_(0.5, 2.0)
        if isinstance(mod, torch.nn.Linear) and not mod.weight.any():
            torch.nn.init.normal_(mod.weight, 0, 0.05)
    return m


def gradient(m, x, target):
    with torch.enable_grad():
        x = x.clone().requires_grad_(True)
        (g,) = torch.autograd.grad(m(x)[0, target], x)
    return g


def main():
    out = sys.argv[1]
    names = sys.argv[2].split(",") if len(sys.argv) > 2 and sys.argv[2] else list(CASES)
    opset = int(sys.argv[3]) if len(sys.argv) > 3 else 13
    os.makedirs(out, exist_ok=True)
    index_path = os.path.join(out, "index.json")
    index = json.load(open(index_path)) if os.path.exists(index_path) else {}
    for name in names:
        size = CASES[name][1]
        key = f"{name}_op{opset}"
        try:
            m = build(name)
            torch.manual_seed(1)
            x = torch.randn(1, 3, size, size)
            torch.onnx.export(m, x, os.path.join(out, key + ".onnx"), opset_version=opset, input_names=["input"], output_names=["logits"],
                              dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
                              training=torch.onnx.TrainingMode.PRESERVE, do_constant_folding=False)
            with torch.no_grad():
                y = m(x)
            target = int(y[0].argmax())
            g32 = gradient(m, x, target)
            g64 = gradient(m.double(), x.double(), target).float()
            for part, t in (("input", x), ("logits", y), ("grad", g32), ("grad64", g64)):
                t.numpy().astype(np.float32).tofile(os.path.join(out, f"{key}.{part}.bin"))
            index[key] = {"model": name, "opset": opset, "size": size, "target": target}
            print(key, "exported", flush=True)
        except Exception as e:  # an export PyTorch itself refuses is recorded, not fatal
            index[key] = {"model": name, "opset": opset, "error": str(e).splitlines()[0][:300]}
            print(key, "not exported:", index[key]["error"], flush=True)
        json.dump(index, open(index_path, "w"), indent=1)


main()
