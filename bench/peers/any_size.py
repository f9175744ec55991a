"""An ONNX image model with its input's height and width made symbolic, so that ONNX Runtime takes
the 224x224 photo the bench gives every engine (../shared/ref's MobileNetV2 was exported at 64x64).

/usr/bin/python3 bench/peers/any_size.py IN.onnx OUT.onnx (bench/peers/files.ts runs it).
"""
import os, sys
import onnx

src, out = sys.argv[1], sys.argv[2]
m = onnx.load(src)
dims = m.graph.input[0].type.tensor_type.shape.dim
dims[2].dim_param, dims[3].dim_param = 'height', 'width'
onnx.save(m, out + '.part')
os.replace(out + '.part', out)
print(out)
