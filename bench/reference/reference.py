"""Plain-PyTorch reference for `npm run bench`: the same computations as the engine's cases (IG,
Occlusion, Grad-CAM, Saliency on ResNet-18 and ResNet-50 at 224, and on MobileNetV2 at 224 with the
weights of ../shared/ref/models' ONNX file), written with torch.autograd.grad, no Captum. A long-lived worker so the bench can alternate engine and reference runs: each line on
stdin is a JSON request {"case": ..., "out": path or null}; each answer on stdout is one JSON line
{"ms": wall milliseconds, "shape": [...]} (the attributions written to `out` as raw float32) or
{"error": ...}. The first line it prints describes the setup. GLIMPSE_REF_DEVICE=cuda runs it on
the GPU (a real-GPU bench run compares with PyTorch on the same card); times then wait for the GPU.
"""
import json
import os
import struct
import sys
import time

import numpy as np
import torch
import torchvision

torch.set_num_threads(int(os.environ.get("GLIMPSE_REF_THREADS", os.cpu_count() or 1)))
torch.set_grad_enabled(False)
DEVICE = torch.device(os.environ.get("GLIMPSE_REF_DEVICE", "cpu"))
# Full float32 on a GPU, as the engine computes: PyTorch lets cuDNN's convolutions use TF32 by default,
# which put its IG 0.13 (relative max) from Captum's on an H200.
torch.backends.cudnn.allow_tf32 = False
torch.backends.cuda.matmul.allow_tf32 = False


def synchronize():
    if DEVICE.type == "cuda":
        torch.cuda.synchronize()


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for key, e in header.items():
        if key == "__metadata__":
            continue
        dtype = {"F32": np.float32, "I64": np.int64, "F64": np.float64}[e["dtype"]]
        a, b = e["data_offsets"]
        out[key] = torch.from_numpy(np.frombuffer(data[a:b], dtype=dtype).reshape(e["shape"]).copy())
    return out


def resnet18(ref_dir):
    m = torchvision.models.resnet18()
    m.load_state_dict(torch.load(os.path.join(ref_dir, "resnet18_seed0.pth")))
    return m.eval().to(DEVICE)


def resnet50_keras(weights):
    """Our converted Keras ResNet-50: torchvision names, stride 2 on the 1x1 conv (v1)."""
    m = torchvision.models.resnet50()
    m.load_state_dict(read_safetensors(weights))
    for layer in (m.layer2, m.layer3, m.layer4):
        layer[0].conv1.stride, layer[0].conv2.stride = (2, 2), (1, 1)
    return m.eval().to(DEVICE)


def mobilenet_v2(ref_dir):
    """torchvision's MobileNetV2 with the weights of the reference ONNX file (its initializers carry the module paths)."""
    import onnx
    from onnx import numpy_helper
    graph = onnx.load(os.path.join(ref_dir, "models", "mobilenet_v2_seed0.onnx")).graph
    m = torchvision.models.mobilenet_v2()
    state = {t.name: torch.from_numpy(numpy_helper.to_array(t).copy()) for t in graph.initializer}
    m.load_state_dict({k: state[k] for k in m.state_dict() if k in state}, strict=False)
    missing = [k for k in m.state_dict() if k not in state and not k.endswith("num_batches_tracked")]
    if missing:
        raise ValueError(f"mobilenet_v2_seed0.onnx lacks {missing[:3]}")
    return m.eval().to(DEVICE)


def integrated_gradients(model, x, target, n_steps=50, batch=16):
    """Gauss-Legendre IG from a zero baseline, `batch` steps per forward/backward (Captum's internal_batch_size)."""
    nodes, weights = np.polynomial.legendre.leggauss(n_steps)
    alphas, ws = (nodes + 1) / 2, weights / 2
    total = torch.zeros_like(x)
    for i in range(0, n_steps, batch):
        a = torch.tensor(alphas[i:i + batch], dtype=torch.float32, device=x.device).view(-1, 1, 1, 1)
        w = torch.tensor(ws[i:i + batch], dtype=torch.float32, device=x.device).view(-1, 1, 1, 1)
        with torch.enable_grad():
            xs = (a * x).requires_grad_(True)
            out = model(xs)[:, target].sum()
            (g,) = torch.autograd.grad(out, xs)
        total += (w * g).sum(0, keepdim=True)
    return total * x


def occlusion(model, x, target, window=(3, 15, 15), strides=(3, 8, 8), batch=16):
    """Occlusion with baseline 0: each window's score drop, averaged over the windows covering each element."""
    _, C, H, W = x.shape
    f0 = model(x)[0, target]
    # As Captum: ceil((size - window) / stride) + 1 windows per dimension, the last cropped at the border.
    def starts_along(size, win, stride):
        return range(0, -(-(size - win) // stride) * stride + 1, stride)
    starts = [(c, h, w) for c in starts_along(C, window[0], strides[0])
              for h in starts_along(H, window[1], strides[1]) for w in starts_along(W, window[2], strides[2])]
    attr, count = torch.zeros_like(x), torch.zeros_like(x)
    for i in range(0, len(starts), batch):
        group = starts[i:i + batch]
        xs = x.repeat(len(group), 1, 1, 1)
        for j, (c, h, w) in enumerate(group):
            xs[j, c:c + window[0], h:h + window[1], w:w + window[2]] = 0
        drops = f0 - model(xs)[:, target]
        for j, (c, h, w) in enumerate(group):
            attr[0, c:c + window[0], h:h + window[1], w:w + window[2]] += drops[j]
            count[0, c:c + window[0], h:h + window[1], w:w + window[2]] += 1
    return attr / count


def grad_cam(model, x, target, layer):
    module = dict(model.named_modules())[layer]
    saved = {}
    handle = module.register_forward_hook(lambda m, i, o: saved.__setitem__("a", o))
    try:
        with torch.enable_grad():
            out = model(x)[0, target]
            (g,) = torch.autograd.grad(out, saved["a"])
    finally:
        handle.remove()
    return (g.mean((2, 3), keepdim=True) * saved["a"]).sum(1, keepdim=True)


def saliency(model, x, target):
    with torch.enable_grad():
        xs = x.clone().requires_grad_(True)
        (g,) = torch.autograd.grad(model(xs)[0, target], xs)
    return g.abs()


def conv_kernels(kind, n, shapes, reps=3):
    """Total ms over ResNet-18's conv shapes of one kernel (median of reps per shape), as bench:kernels times ours."""
    import torch.nn.functional as F
    total = 0.0
    for c, h, k, ks, s, p in shapes:
        x, w = torch.full((n, c, h, h), 0.5, device=DEVICE), torch.full((k, c, ks, ks), 0.01, device=DEVICE)
        y = F.conv2d(x, w, stride=s, padding=p)
        gy = torch.full_like(y, 0.1)
        run = {
            "forward": lambda: F.conv2d(x, w, stride=s, padding=p),
            "grad_input": lambda: torch.nn.grad.conv2d_input(x.shape, w, gy, stride=s, padding=p),
            "grad_weight": lambda: torch.nn.grad.conv2d_weight(x, w.shape, gy, stride=s, padding=p),
        }[kind]
        run()
        synchronize()
        times = []
        for _ in range(reps):
            t0 = time.perf_counter()
            run()
            synchronize()
            times.append((time.perf_counter() - t0) * 1000)
        total += sorted(times)[len(times) // 2]
    return total


def main():
    ref_dir, weights50 = sys.argv[1], sys.argv[2]
    models = {}
    # A model whose files are missing is left out (a request for it answers an error), so that a run
    # with only ResNet-50's files (the real-GPU run) still has its reference.
    if os.path.exists(os.path.join(ref_dir, "resnet18_seed0.pth")):
        models["resnet18"] = (resnet18(ref_dir), "resnet18_chelsea_224.safetensors", 281, "layer3.1.conv2")
    if os.path.exists(weights50):
        models["resnet50"] = (resnet50_keras(weights50), "resnet50_keras_chelsea_224.safetensors", 285, "layer4.2.conv3")
    mobilenet = os.path.join(ref_dir, "models", "mobilenet_v2_chelsea_224.safetensors")
    if os.path.exists(mobilenet):
        with open(mobilenet, "rb") as f:
            meta = json.loads(f.read(struct.unpack("<Q", f.read(8))[0]))["__metadata__"]
        try:
            models["mobilenet_v2"] = (mobilenet_v2(ref_dir), "models/mobilenet_v2_chelsea_224.safetensors", int(meta["target"]), meta["gradcam_layer"])
        except ImportError:
            print("reference: no python3-onnx, so no MobileNetV2 reference (apt-get install python3-onnx)", file=sys.stderr)
    inputs = {name: read_safetensors(os.path.join(ref_dir, f))["input"].to(DEVICE) for name, (_, f, _, _) in models.items()}
    methods = {
        "ig": lambda m, x, t, l, steps: integrated_gradients(m, x, t, steps),
        "occlusion": lambda m, x, t, l, steps: occlusion(m, x, t),
        "gradcam": lambda m, x, t, l, steps: grad_cam(m, x, t, l),
        "saliency": lambda m, x, t, l, steps: saliency(m, x, t),
    }
    device = torch.cuda.get_device_name(DEVICE) if DEVICE.type == "cuda" else "cpu"
    print(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads(), "device": device, "models": list(models)}), flush=True)
    for line in sys.stdin:
        try:
            req = json.loads(line)
            if req["case"].startswith("conv."):
                ms = conv_kernels(req["case"][5:], req["batch"], req["shapes"], req.get("reps", 3))
                print(json.dumps({"ms": ms}), flush=True)
                continue
            name, method = req["case"].split(".")
            if name not in models:
                raise ValueError(f"no {name} here (its weights are missing)")
            model, _, target, layer = models[name]
            if req.get("dataset"):
                # A folder's worth of images, one at a time, as a user's loop would: the total time.
                xs = torch.from_numpy(np.fromfile(req["dataset"], dtype="<f4").reshape(req["count"], *inputs[name].shape[1:])).to(DEVICE)
                synchronize()
                t0 = time.perf_counter()
                outs = [methods[method](model, xs[i:i + 1], target, layer, req.get("steps", 50)) for i in range(req["count"])]
                synchronize()
                out = outs[0]
                ms = (time.perf_counter() - t0) * 1000
                if req.get("out"):
                    out.detach().cpu().contiguous().numpy().astype("<f4").tofile(req["out"])
                print(json.dumps({"ms": ms, "shape": list(out.shape)}), flush=True)
                continue
            synchronize()
            t0 = time.perf_counter()
            out = methods[method](model, inputs[name], target, layer, req.get("steps", 50))
            synchronize()
            ms = (time.perf_counter() - t0) * 1000
            if req.get("out"):
                out.detach().cpu().contiguous().numpy().astype("<f4").tofile(req["out"])
            print(json.dumps({"ms": ms, "shape": list(out.shape)}), flush=True)
        except Exception as e:  # one bad request must not end the worker
            print(json.dumps({"error": f"{type(e).__name__}: {e}"}), flush=True)


if __name__ == "__main__":
    main()
