#!/usr/bin/env python3
"""The scikit-image baseline for marching_cubes_bench: times
skimage.measure.marching_cubes on the same sphere and gyroid fields (the formulas of
worker/tasks/cuda/marching_cubes_test_fields.h, in float32, on [-1, 1]^3 with n cubes per
axis). One line per case, key=value pairs like marching_cubes_bench's:

  skimage_marching_cubes size=512 field=gyroid vertices=... faces=... median_s=... runs=3

Usage: python3 bench/skimage_marching_cubes.py [--sizes 256,512] [--fields sphere,gyroid]
                                               [--runs 3]
Exits 0 with a "# skipped" line when scikit-image is not importable.
"""
import argparse
import statistics
import sys
import time

try:
    import numpy as np
    import skimage
    from skimage import measure
except ImportError as error:  # The GPU box has it; other machines may not.
    print(f"# skipped: scikit-image is not importable ({error})")
    sys.exit(0)


def field(name, n):
    """(n+1)^3 samples, indexed [i, j, k] = (x, y, z); spacing 2/n from -1."""
    spacing = 2.0 / n
    axis = -1.0 + spacing * np.arange(n + 1, dtype=np.float64)
    values = np.empty((n + 1, n + 1, n + 1), dtype=np.float32)
    x = axis[:, None]
    y = axis[None, :]
    for k, z in enumerate(axis):  # A slice at a time: 512^3 in float64 would be 1 GiB.
        if name == "sphere":
            d = np.sqrt((x - 0.0123) ** 2 + (y + 0.0217) ** 2 + (z - 0.0071) ** 2) - 0.71
            values[:, :, k] = d.astype(np.float32)
        elif name == "gyroid":
            w = np.pi * 4
            fx = (w * x).astype(np.float32) + np.float32(0.1)
            fy = (w * y).astype(np.float32) + np.float32(0.2)
            fz = np.float32(w * z) + np.float32(0.3)
            values[:, :, k] = (np.sin(fx) * np.cos(fy) + np.sin(fy) * np.cos(fz)
                               + np.sin(fz) * np.cos(fx))
        else:
            raise SystemExit(f"unknown field {name!r} (sphere, gyroid)")
    return values, spacing


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="256,512")
    parser.add_argument("--fields", default="sphere,gyroid")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    print(f"# scikit-image {skimage.__version__}, numpy {np.__version__}, method lewiner")
    for n in [int(s) for s in args.sizes.split(",") if s]:
        for name in [s for s in args.fields.split(",") if s]:
            values, spacing = field(name, n)
            seconds = []
            for _ in range(max(1, args.runs)):
                start = time.perf_counter()
                verts, faces, _, _ = measure.marching_cubes(values, level=0.0,
                                                            spacing=(spacing,) * 3)
                seconds.append(time.perf_counter() - start)
            print(f"skimage_marching_cubes size={n} field={name} vertices={len(verts)} "
                  f"faces={len(faces)} median_s={statistics.median(seconds):.3f} "
                  f"runs={len(seconds)}", flush=True)


if __name__ == "__main__":
    main()
