#!/usr/bin/python3
"""Exports torchvision models to ONNX (opset 13) as pare's reference models.

Run with Debian's interpreter (/usr/bin/python3, packages python3-torch and
python3-torchvision). Weights are random (weights=None: nothing is downloaded);
a few training-mode batches first give BatchNorm running statistics of a real
scale, so activations are not vanishingly small. Deterministic (seeded).

usage: /usr/bin/python3 tools/export_torchvision.py OUT_DIR
"""
import os
import sys

import torch
import torchvision

MODELS = ["mobilenet_v2", "mobilenet_v3_small", "squeezenet1_1", "shufflenet_v2_x0_5",
          "efficientnet_b0", "resnet18"]


def export(name, out_dir):
    path = os.path.join(out_dir, name + ".onnx")
    if os.path.exists(path):
        print(f"{path}: exists")
        return
    torch.manual_seed(0)
    model = getattr(torchvision.models, name)(weights=None)
    model.train()
    with torch.no_grad():
        for _ in range(3):
            model(torch.randn(8, 3, 224, 224))
    model.eval()
    tmp = path + ".tmp"
    torch.onnx.export(model, torch.randn(1, 3, 224, 224), tmp, opset_version=13,
                      input_names=["input"], output_names=["logits"], do_constant_folding=True)
    os.replace(tmp, path)
    print(f"{path}: exported")


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: export_torchvision.py OUT_DIR")
    os.makedirs(sys.argv[1], exist_ok=True)
    torch.set_num_threads(2)
    for name in MODELS:
        export(name, sys.argv[1])


if __name__ == "__main__":
    main()
