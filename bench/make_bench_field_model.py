#!/usr/bin/env python3
"""Writes a field model for bench/field_decode_job_bench into a model repository:
<out>/bench-gyroid-mlp/1/{model.pt, manifest.json}, the issue's "4-layer, 256-wide MLP"
(Linear(3,256) ReLU, three Linear(256,256) ReLU, Linear(256,1)), fitted for a few seconds
on the GPU to the SDF-like gyroid sin(4pi x)cos(4pi y) + ... (scaled), so that the mesh it
decodes to is a real, dense surface (the gyroid of the marching cubes benchmark).
Runs on the GPU box (PyTorch). Usage: make_bench_field_model.py OUT_DIR [--steps N]"""
import argparse
import json
import math
import os
import time

import torch


def gyroid(p):
    q = p * (4 * math.pi)
    x, y, z = q[:, 0], q[:, 1], q[:, 2]
    return (torch.sin(x) * torch.cos(y) + torch.sin(y) * torch.cos(z) +
            torch.sin(z) * torch.cos(x)) / (4 * math.pi)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out_dir")
    ap.add_argument("--steps", type=int, default=1500)
    args = ap.parse_args()
    torch.manual_seed(1)
    dev = "cuda"
    mlp = torch.nn.Sequential(
        torch.nn.Linear(3, 256), torch.nn.ReLU(),
        torch.nn.Linear(256, 256), torch.nn.ReLU(),
        torch.nn.Linear(256, 256), torch.nn.ReLU(),
        torch.nn.Linear(256, 256), torch.nn.ReLU(),
        torch.nn.Linear(256, 1)).to(dev)
    opt = torch.optim.Adam(mlp.parameters(), lr=1e-3)
    start = time.time()
    for step in range(args.steps):
        p = torch.rand(65536, 3, device=dev) * 2 - 1
        loss = (mlp(p).squeeze(1) - gyroid(p)).abs().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        p = torch.rand(262144, 3, device=dev) * 2 - 1
        err = (mlp(p).squeeze(1) - gyroid(p)).abs().mean().item()

    class Field(torch.nn.Module):
        def __init__(self, net):
            super().__init__()
            self.net = net

        def forward(self, points):
            return self.net(points).squeeze(1)

    d = os.path.join(args.out_dir, "bench-gyroid-mlp", "1")
    os.makedirs(d, exist_ok=True)
    torch.jit.script(Field(mlp.cpu()).eval()).save(os.path.join(d, "model.pt"))
    manifest = {
        "name": "bench-gyroid-mlp", "version": "1", "runtime": "MODEL_RUNTIME_TORCHSCRIPT",
        "description": "4x256 ReLU MLP fitted to a gyroid (bench/make_bench_field_model.py)",
        "file": "model.pt", "tasks": ["field.decode"],
        "tiers": [
            {"name": "gpu-bf16", "requirements": {"accelerator": "ACCELERATOR_GPU",
                                                  "minComputeCapability": 80},
             "dtype": "bfloat16"},
            {"name": "gpu-fp16", "requirements": {"accelerator": "ACCELERATOR_GPU"},
             "dtype": "float16"},
            {"name": "cpu-fp32", "requirements": {"accelerator": "ACCELERATOR_CPU"},
             "dtype": "float32"}],
        "field": {"kind": "FIELD_KIND_SDF", "bounds": [-1, -1, -1, 1, 1, 1]},
    }
    with open(os.path.join(d, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
    print(f"bench-gyroid-mlp@1: {args.steps} Adam steps in {time.time() - start:.1f} s, "
          f"mean |error| {err:.5f} -> {d}")


if __name__ == "__main__":
    main()
