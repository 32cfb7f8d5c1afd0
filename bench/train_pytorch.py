#!/usr/bin/python3
"""The PyTorch side of pare's training benchmark: trains the same CIFAR-style
ResNet (or LeNet-5) pare's zoo builds, same batch size and thread count, on
Fashion-MNIST-shaped data, and prints images/s of the training loop.

usage: OPENBLAS_NUM_THREADS=1 /usr/bin/python3 bench/train_pytorch.py ARCH THREADS STEPS BATCH
ARCH: resnet20 | lenet5 | mobilenet_v2_025
"""
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class Block(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.a = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.abn = nn.BatchNorm2d(cout)
        self.b = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bbn = nn.BatchNorm2d(cout)
        self.down = None
        if stride != 1 or cin != cout:
            self.down = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = F.relu(self.abn(self.a(x)))
        y = self.bbn(self.b(y))
        return F.relu(y + (self.down(x) if self.down is not None else x))


class ResNet20(nn.Module):
    def __init__(self, classes=10, w=16, n=3):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(1, w, 3, 1, 1, bias=False), nn.BatchNorm2d(w), nn.ReLU())
        layers, cin = [], w
        for s in range(3):
            for i in range(n):
                layers.append(Block(cin, w << s, 2 if s > 0 and i == 0 else 1))
                cin = w << s
        self.body = nn.Sequential(*layers)
        self.fc = nn.Linear(cin, classes)

    def forward(self, x):
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(self.body(self.stem(x)), 1), 1))


class LeNet5(nn.Module):
    def __init__(self, classes=10):
        super().__init__()
        self.c1 = nn.Conv2d(1, 6, 5, padding=2)
        self.c2 = nn.Conv2d(6, 16, 5, padding=2)
        self.f1, self.f2, self.f3 = nn.Linear(784, 120), nn.Linear(120, 84), nn.Linear(84, classes)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.c1(x)), 2)
        x = F.max_pool2d(F.relu(self.c2(x)), 2)
        return self.f3(F.relu(self.f2(F.relu(self.f1(torch.flatten(x, 1))))))


def main():
    arch, threads, steps, batch = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    if arch == "resnet20":
        model = ResNet20()
    elif arch == "lenet5":
        model = LeNet5()
    elif arch == "mobilenet_v2_025":
        import torchvision
        model = torchvision.models.mobilenet_v2(width_mult=0.25, num_classes=10)
        model.features[0][0] = nn.Conv2d(1, 8, 3, 1, 1, bias=False)
    else:
        sys.exit("unknown arch " + arch)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=True, weight_decay=5e-4)
    x = torch.rand(batch, 1, 28, 28)
    y = torch.randint(0, 10, (batch,))
    model.train()
    for i in range(steps + 5):
        if i == 5:
            t0 = time.perf_counter()
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    dt = time.perf_counter() - t0
    print(f"pytorch {arch} threads {threads} batch {batch}: {steps * batch / dt:.0f} images/s")


if __name__ == "__main__":
    main()
