#!/usr/bin/env python3
"""PyTorch eager baseline for the field decode benchmark (bench/README.md).

Builds the benchmark MLP, Linear(3,256) ReLU [Linear(256,256) ReLU] x3 Linear(256,1)
(widths {3,256,256,256,256,1}: four hidden layers of 256, 395,264 FLOP per point), with a
fixed seed and PyTorch's default init; times its eager bf16 decode of a 512^3-sample grid
(x fastest, [-1,1]^3) in chunks, points generated on the GPU per chunk, under
torch.no_grad(), median of --runs timed runs after --warmup; and writes to --out-dir:
  mlp.kmlp       the weights (worker/fieldnet/mlp_weights.h format)
  reference.bin  the grid and float64 outputs of the model at --samples grid samples
  pytorch.txt    one line per chunk size: chunk N median_s S points_per_s P tflops T
field_decode_bench reads all three and runs the fused decoder on the same grid.
"""
import argparse
import os
import statistics
import struct
import sys
import time

import torch

WIDTHS = [3, 256, 256, 256, 256, 1]


def build_mlp(widths, seed):
    torch.manual_seed(seed)
    layers = []
    for i in range(len(widths) - 1):
        layers.append(torch.nn.Linear(widths[i], widths[i + 1]))
        if i + 2 < len(widths):
            layers.append(torch.nn.ReLU())
    return torch.nn.Sequential(*layers)


def flops_per_point(widths):
    return sum(2 * widths[i] * widths[i + 1] for i in range(len(widths) - 1))


def write_weights(path, model, widths):
    linears = [m for m in model if isinstance(m, torch.nn.Linear)]
    with open(path, "wb") as f:
        f.write(b"KILNMLP1")
        f.write(struct.pack("<I", len(widths)))
        f.write(struct.pack("<%di" % len(widths), *widths))
        for linear in linears:
            # nn.Linear.weight is [out][in], the file's row-major layout.
            f.write(struct.pack("<%df" % linear.weight.numel(),
                                *linear.weight.detach().float().cpu().flatten().tolist()))
            f.write(struct.pack("<%df" % linear.bias.numel(),
                                *linear.bias.detach().float().cpu().tolist()))


def sample_positions(indices, n, origin, spacing):
    """Positions as the CUDA kernels compute them: fmaf(spacing, i, origin) in float32
    (spacing * i and the sum are exact in float64, then one rounding to float32)."""
    i = indices % n
    j = (indices // n) % n
    k = indices // (n * n)
    ijk = torch.stack((i, j, k), dim=1).to(torch.float64)
    return (ijk * spacing + origin).to(torch.float32)


def grid_chunk(start, count, n, origin, spacing, dtype, device):
    idx = torch.arange(start, start + count, device=device, dtype=torch.int64)
    i = idx % n
    j = (idx // n) % n
    k = idx // (n * n)
    points = torch.stack((i, j, k), dim=1).to(torch.float32) * spacing + origin
    return points.to(dtype)


def decode(model, field, n, chunk, origin, spacing, dtype, device):
    total = n * n * n
    for start in range(0, total, chunk):
        count = min(chunk, total - start)
        points = grid_chunk(start, count, n, origin, spacing, dtype, device)
        field[start:start + count] = model(points).squeeze(1).float()


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out-dir", required=True)
    parser.add_argument("--samples-per-axis", type=int, default=512)
    parser.add_argument("--chunks", default="262144,1048576,4194304",
                        help="comma-separated chunk sizes (points per chunk)")
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--samples", type=int, default=4096,
                        help="grid samples with float64 reference values")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        sys.exit("field_decode_pytorch.py: no CUDA device")
    if args.runs < 5:
        sys.exit("field_decode_pytorch.py: --runs must be >= 5")
    os.makedirs(args.out_dir, exist_ok=True)
    device = torch.device("cuda")
    n = args.samples_per_axis
    total = n * n * n
    origin = -1.0
    spacing = torch.tensor(2.0 / (n - 1), dtype=torch.float32).item()  # float32 value
    chunks = [int(c) for c in args.chunks.split(",") if c]
    flops = flops_per_point(WIDTHS)

    model = build_mlp(WIDTHS, args.seed).to(device)
    write_weights(os.path.join(args.out_dir, "mlp.kmlp"), model, WIDTHS)

    # Reference: float64 on the GPU (no TF32) at seeded random samples plus the corners.
    generator = torch.Generator().manual_seed(args.seed + 1)
    indices = torch.randint(0, total, (args.samples,), generator=generator, dtype=torch.int64)
    indices[:2] = torch.tensor([0, total - 1])
    positions = sample_positions(indices, n, origin, spacing)
    with torch.no_grad():
        model64 = build_mlp(WIDTHS, args.seed).to(device).double()
        reference = model64(positions.to(device).double()).squeeze(1).cpu()
    with open(os.path.join(args.out_dir, "reference.bin"), "wb") as f:
        f.write(b"KILNREF1")
        f.write(struct.pack("<3q", n - 1, n - 1, n - 1))  # cells per axis
        f.write(struct.pack("<3f", origin, origin, origin))
        f.write(struct.pack("<3f", spacing, spacing, spacing))
        f.write(struct.pack("<q", args.samples))
        f.write(struct.pack("<%dq" % args.samples, *indices.tolist()))
        f.write(struct.pack("<%dd" % args.samples, *reference.tolist()))

    bf16 = build_mlp(WIDTHS, args.seed).to(device).to(torch.bfloat16).eval()
    field = torch.empty(total, dtype=torch.float32, device=device)
    name = torch.cuda.get_device_name(device)
    lines = ["# PyTorch %s eager bf16, %s, widths %s, %d^3 samples, %d FLOP/point"
             % (torch.__version__, name, WIDTHS, n, flops)]
    print(lines[0])
    with torch.no_grad():
        for chunk in chunks:
            for _ in range(args.warmup):
                decode(bf16, field, n, chunk, origin, spacing, torch.bfloat16, device)
            torch.cuda.synchronize()
            times = []
            for _ in range(args.runs):
                start = time.perf_counter()
                decode(bf16, field, n, chunk, origin, spacing, torch.bfloat16, device)
                torch.cuda.synchronize()
                times.append(time.perf_counter() - start)
            median = statistics.median(times)
            line = "chunk %d median_s %.6f points_per_s %.6e tflops %.2f" % (
                chunk, median, total / median, total / median * flops / 1e12)
            print(line, " (runs: %s)" % ", ".join("%.4f" % t for t in times))
            lines.append(line)
        # PyTorch's own bf16 accuracy on the same samples, for comparison with ours.
        got = field[indices.to(device)].double().cpu()
    error = (got - reference).abs()
    value_range = (reference.max() - reference.min()).item()
    accuracy = ("accuracy_pytorch_bf16 max_abs %.4e mean_abs %.4e range %.4e max_over_range %.4e"
                % (error.max().item(), error.mean().item(), value_range,
                   error.max().item() / value_range))
    print(accuracy)
    lines.append(accuracy)
    with open(os.path.join(args.out_dir, "pytorch.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
