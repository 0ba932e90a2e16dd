#!/usr/bin/env python3
"""Draws Galaxy's PNG icons (the star of public/icon.svg) with the standard library only, so
nothing is downloaded: public/icon-192.png, public/icon-512.png (rounded square, as the SVG)
and public/icon-maskable-512.png (full bleed, the star inside the maskable safe zone).
Run once after changing the icon; the PNGs are committed."""
import os
import struct
import zlib

BG = (0x0B, 0x10, 0x20)
STAR = (0x7C, 0x9C, 0xFF)
# The SVG's star on its 64-unit canvas.
POINTS = [(32, 10), (37.5, 26.5), (54, 32), (37.5, 37.5), (32, 54), (26.5, 37.5), (10, 32), (26.5, 26.5)]


def inside(poly, x, y):
    hit = False
    j = len(poly) - 1
    for i in range(len(poly)):
        xi, yi = poly[i]
        xj, yj = poly[j]
        if (yi > y) != (yj > y) and x < (xj - xi) * (y - yi) / (yj - yi) + xi:
            hit = not hit
        j = i
    return hit


def in_rounded(x, y, size, radius):
    cx = min(max(x, radius), size - radius)
    cy = min(max(y, radius), size - radius)
    return (x - cx) ** 2 + (y - cy) ** 2 <= radius ** 2


def draw(size, maskable):
    # Maskable: the star scaled into the central 80 % circle; the background fills the square.
    scale = size / 64 * (0.72 if maskable else 1.0)
    offset = size * (0.14 if maskable else 0.0)
    star = [(offset + x * scale, offset + y * scale) for x, y in POINTS]
    radius = 0 if maskable else size * 14 / 64
    samples = [(0.25, 0.25), (0.75, 0.25), (0.25, 0.75), (0.75, 0.75)]
    rows = []
    for py in range(size):
        row = bytearray([0])  # filter: none
        for px in range(size):
            bg = fg = 0
            for sx, sy in samples:
                x, y = px + sx, py + sy
                if maskable or in_rounded(x, y, size, radius):
                    if inside(star, x, y):
                        fg += 1
                    else:
                        bg += 1
            alpha = (bg + fg) / 4
            if alpha == 0:
                row += bytes(4)
                continue
            mix = [round((BG[c] * bg + STAR[c] * fg) / (bg + fg)) for c in range(3)]
            row += bytes(mix + [round(alpha * 255)])
        rows.append(bytes(row))
    raw = zlib.compress(b"".join(rows), 9)

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", size, size, 8, 6, 0, 0, 0))
            + chunk(b"IDAT", raw) + chunk(b"IEND", b""))


public = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "public")
for name, size, maskable in [("icon-192.png", 192, False), ("icon-512.png", 512, False),
                             ("icon-maskable-512.png", 512, True)]:
    with open(os.path.join(public, name), "wb") as f:
        f.write(draw(size, maskable))
