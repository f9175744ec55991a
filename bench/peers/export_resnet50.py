"""The pretrained ResNet-50 Glimpse uses (its converted Keras weights, torchvision names, v1 strides)
as ONNX, for the peers that run ONNX (ONNX Runtime Web and Node) in npm run bench:peers.

/usr/bin/python3 bench/peers/export_resnet50.py WEIGHTS.safetensors OUT.onnx (bench/peers.ts runs it).
Opset 13, a dynamic batch axis, logits out (no softmax), constants folded as torch does by default.
"""
import os, sys
import torch
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'reference'))
from reference import resnet50_keras

weights, out = sys.argv[1], sys.argv[2]
model = resnet50_keras(weights).cpu().eval()
torch.onnx.export(model, torch.zeros(1, 3, 224, 224), out + '.part', opset_version=13, input_names=['input'],
                  output_names=['logits'], dynamic_axes={'input': {0: 'batch'}, 'logits': {0: 'batch'}})
os.replace(out + '.part', out)
print(out)
