#!/usr/bin/env python3
"""Writes three_objects.png: a 240x120 opaque RGB image of three flat-coloured objects on
a plain off-white backdrop, for image.segment and the segment -> image.to3d ->
scene.compose pipeline: a red disc on the left, a green rectangle in the middle and a
blue triangle on the right, plus two dark 3x3 specks (dust below any sensible min_area)
in the top-left and bottom-right corners. Every pixel gets a little deterministic noise
(+-4 per channel), so keying needs its tolerance. Pixels belong to a shape by their
centre, hard-edged, so the bounding boxes are exact (printed when run). Deterministic;
needs only the Python standard library. Run from this directory; the PNG is kept in the
repository, so this runs only when the fixture is to change.
"""
import random
import struct
import zlib

W, H = 240, 120
BACKDROP = (236, 234, 228)
rng = random.Random(11)


def in_disc(x, y):
    return (x - 50) ** 2 + (y - 62) ** 2 <= 26 ** 2


def in_rect(x, y):
    return 96 <= x <= 144 and 34 <= y <= 90


def in_triangle(x, y):
    # Apex (190, 28), base from (158, 92) to (222, 92).
    if y < 28 or y > 92:
        return False
    half = (y - 28) / 64 * 32
    return abs(x - 190) <= half


def in_speck(x, y):
    return (8 <= x < 11 and 8 <= y < 11) or (228 <= x < 231 and 108 <= y < 111)


SHAPES = [("disc", in_disc, (200, 40, 40)), ("rect", in_rect, (40, 160, 60)),
          ("triangle", in_triangle, (40, 70, 200)), ("speck", in_speck, (60, 60, 60))]


def main():
    rows = []
    boxes = {name: [W, H, -1, -1, 0] for name, _, _ in SHAPES}
    for y in range(H):
        row = bytearray([0])  # filter type None
        for x in range(W):
            cx, cy = x + 0.5, y + 0.5
            color = BACKDROP
            for name, inside, c in SHAPES:
                if inside(cx, cy):
                    color = c
                    b = boxes[name]
                    b[0], b[1] = min(b[0], x), min(b[1], y)
                    b[2], b[3] = max(b[2], x), max(b[3], y)
                    b[4] += 1
                    break
            row += bytes(max(0, min(255, v + rng.randint(-4, 4))) for v in color)
        rows.append(bytes(row))

    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    png = (b"\x89PNG\r\n\x1a\n" +
           chunk(b"IHDR", struct.pack(">IIBBBBB", W, H, 8, 2, 0, 0, 0)) +
           chunk(b"IDAT", zlib.compress(b"".join(rows), 9)) + chunk(b"IEND", b""))
    with open("three_objects.png", "wb") as f:
        f.write(png)
    for name, b in boxes.items():
        print(f"{name}: bbox x={b[0]} y={b[1]} width={b[2] - b[0] + 1} "
              f"height={b[3] - b[1] + 1} area={b[4]}")


if __name__ == "__main__":
    main()
