#!/usr/bin/env python3
"""hues.py OUT.ppm - the colour tests' source image (512x384 PPM): saturated
hues across, dark to full above, full to pale below: what a wide gamut
changes most."""
import colorsys
import sys

w, h = 512, 384
px = bytearray()
for y in range(h):
    for x in range(w):
        s, v = (1.0, 0.35 + 0.65 * y / (h / 2)) if y < h // 2 else (1.0 - 0.8 * (y - h / 2) / (h / 2), 1.0)
        px += bytes(round(c * 255) for c in colorsys.hsv_to_rgb(x / w, s, v))
open(sys.argv[1], "wb").write(b"P6\n%d %d\n255\n" % (w, h) + px)
