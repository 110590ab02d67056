#!/usr/bin/env python3
"""Writes photo_like_object.png: a 256x256 RGBA "product photo" of a shaded, textured
fruit-like object (body, stem, leaf) with a soft anti-aliased alpha edge, sensor-style
noise, a faint drop shadow (alpha below 50%, so not foreground) and three stray opaque
specks (dust the largest-component filter must drop). Background pixels are transparent
but carry noisy colours, as cut-outs from real photos do. Deterministic (fixed seed);
needs only the Python standard library. Run from this directory; the PNG is kept in the
repository, so this runs only when the fixture is to change.
"""
import math
import random
import struct
import zlib

W = H = 256
rng = random.Random(5)


def smoothstep(e0, e1, x):
    t = min(1.0, max(0.0, (x - e0) / (e1 - e0)))
    return t * t * (3 - 2 * t)


def body_sd(x, y):
    # A slightly squashed disc with a dent on top: negative inside, in pixels.
    dx, dy = (x - 128) / 1.05, (y - 140) / 0.95
    r = math.hypot(dx, dy)
    angle = math.atan2(dy, dx)
    dent = 9 * math.exp(-((angle + math.pi / 2) ** 2) / 0.08)
    return r - (82 - dent)


def stem_sd(x, y):
    # A slanted rounded bar from (128, 70) up to (138, 38).
    ax, ay, bx, by = 128, 70, 138, 38
    px, py = x - ax, y - ay
    vx, vy = bx - ax, by - ay
    t = max(0.0, min(1.0, (px * vx + py * vy) / (vx * vx + vy * vy)))
    return math.hypot(px - t * vx, py - t * vy) - 4.5


def leaf_sd(x, y):
    # An ellipse turned 30 degrees, right of the stem.
    c, s = math.cos(-0.5), math.sin(-0.5)
    dx, dy = x - 162, y - 46
    u, v = dx * c - dy * s, dx * s + dy * c
    return (math.hypot(u / 26, v / 11) - 1) * 11


rows = []
for y in range(H):
    row = bytearray()
    for x in range(W):
        px, py = x + 0.5, y + 0.5
        body, stem, leaf = body_sd(px, py), stem_sd(px, py), leaf_sd(px, py)
        sd = min(body, stem, leaf)
        # Soft edge: about 2 pixels of falloff, as a matting tool leaves.
        alpha = 1.0 - smoothstep(-1.0, 1.0, sd)
        if leaf <= min(body, stem):
            base = (70, 150, 50)
        elif stem <= body:
            base = (95, 65, 35)
        else:
            # Red with yellow streaks.
            streak = 0.5 + 0.5 * math.sin(px * 0.35 + 4 * math.sin(py * 0.05))
            base = (200 + 40 * streak, 40 + 90 * streak * streak, 35)
        # Lambert shading of a sphere-ish normal, light from the upper left.
        nx, ny = (px - 128) / 95, (py - 140) / 95
        nz = math.sqrt(max(0.0, 1 - min(1.0, nx * nx + ny * ny)))
        light = max(0.0, -0.5 * nx - 0.5 * ny + 0.7 * nz)
        shade = 0.35 + 0.75 * light
        # Specular highlight.
        spec = 90 * math.exp(-((nx + 0.35) ** 2 + (ny + 0.4) ** 2) / 0.01)
        color = [min(255.0, c * shade + spec + rng.gauss(0, 6)) for c in base]
        a = alpha
        if a < 0.5:
            # A faint drop shadow under the object: dark, alpha below one half.
            shadow = math.exp(-(((px - 140) / 80) ** 2 + ((py - 226) / 12) ** 2))
            if shadow * 0.35 > a:
                a = shadow * 0.35
                color = [20 + rng.gauss(0, 3)] * 3
            if a <= alpha:
                # Fully or mostly transparent: whatever colour the cut-out left behind.
                color = [c if alpha > 0.02 else 230 + rng.gauss(0, 12) for c in color]
        row += bytes(int(max(0, min(255, round(c)))) for c in color)
        row.append(int(round(255 * max(0.0, min(1.0, a)))))
    rows.append(row)

# Dust: three opaque 2x2 specks far from the object.
for sx, sy in ((12, 14), (240, 20), (20, 240)):
    for yy in (sy, sy + 1):
        for xx in (sx, sx + 1):
            rows[yy][4 * xx:4 * xx + 4] = bytes((60, 60, 60, 255))


def chunk(kind, data):
    out = struct.pack(">I", len(data)) + kind + data
    return out + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


raw = b"".join(b"\x00" + bytes(r) for r in rows)
png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", W, H, 8, 6, 0, 0, 0))
png += chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")
with open("photo_like_object.png", "wb") as f:
    f.write(png)
