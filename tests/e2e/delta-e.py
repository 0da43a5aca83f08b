#!/usr/bin/env python3
"""delta-e.py A.ppm B.ppm - the mean CIEDE2000 colour difference between two
images of one size, both binary PPM (P6, maxval 255) taken as sRGB.

Prints the mean, then the share of pixels over 2.0 (a difference most people
see side by side). Pure Python: the images are thumbnails. Exit 0, or 2 on
bad input (with a message)."""
import math
import sys


def read_ppm(path):
    with open(path, "rb") as f:
        data = f.read()
    fields, pos = [], 0
    while len(fields) < 4:
        while data[pos:pos + 1].isspace():
            pos += 1
        if data[pos:pos + 1] == b"#":
            pos = data.index(b"\n", pos) + 1
            continue
        end = pos
        while not data[end:end + 1].isspace():
            end += 1
        fields.append(data[pos:end])
        pos = end
    pos += 1  # the one whitespace before the pixels
    if fields[0] != b"P6" or int(fields[3]) != 255:
        raise ValueError(f"{path}: not a binary PPM of maxval 255")
    w, h = int(fields[1]), int(fields[2])
    pixels = data[pos:pos + 3 * w * h]
    if len(pixels) != 3 * w * h:
        raise ValueError(f"{path}: truncated")
    return w, h, pixels


def linear(c):
    c /= 255.0
    return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4


def lab(r, g, b):
    """sRGB (D65) to CIELAB (D65 white)."""
    r, g, b = linear(r), linear(g), linear(b)
    x = (0.4124564 * r + 0.3575761 * g + 0.1804375 * b) / 0.95047
    y = 0.2126729 * r + 0.7151522 * g + 0.0721750 * b
    z = (0.0193339 * r + 0.1191920 * g + 0.9503041 * b) / 1.08883

    def f(t):
        return t ** (1 / 3) if t > 216 / 24389 else (24389 / 27 * t + 16) / 116

    fx, fy, fz = f(x), f(y), f(z)
    return 116 * fy - 16, 500 * (fx - fy), 200 * (fy - fz)


def ciede2000(lab1, lab2):
    l1, a1, b1 = lab1
    l2, a2, b2 = lab2
    c1, c2 = math.hypot(a1, b1), math.hypot(a2, b2)
    cbar7 = ((c1 + c2) / 2) ** 7
    g = 0.5 * (1 - math.sqrt(cbar7 / (cbar7 + 25 ** 7)))
    a1p, a2p = (1 + g) * a1, (1 + g) * a2
    c1p, c2p = math.hypot(a1p, b1), math.hypot(a2p, b2)
    h1p = math.degrees(math.atan2(b1, a1p)) % 360 if c1p else 0.0
    h2p = math.degrees(math.atan2(b2, a2p)) % 360 if c2p else 0.0
    dlp, dcp = l2 - l1, c2p - c1p
    if c1p * c2p == 0:
        dhp = 0.0
    elif abs(h2p - h1p) <= 180:
        dhp = h2p - h1p
    elif h2p - h1p > 180:
        dhp = h2p - h1p - 360
    else:
        dhp = h2p - h1p + 360
    dhp_big = 2 * math.sqrt(c1p * c2p) * math.sin(math.radians(dhp / 2))
    lbarp, cbarp = (l1 + l2) / 2, (c1p + c2p) / 2
    if c1p * c2p == 0:
        hbarp = h1p + h2p
    elif abs(h1p - h2p) <= 180:
        hbarp = (h1p + h2p) / 2
    elif h1p + h2p < 360:
        hbarp = (h1p + h2p + 360) / 2
    else:
        hbarp = (h1p + h2p - 360) / 2
    t = (1 - 0.17 * math.cos(math.radians(hbarp - 30)) + 0.24 * math.cos(math.radians(2 * hbarp))
         + 0.32 * math.cos(math.radians(3 * hbarp + 6)) - 0.20 * math.cos(math.radians(4 * hbarp - 63)))
    dtheta = 30 * math.exp(-(((hbarp - 275) / 25) ** 2))
    cbarp7 = cbarp ** 7
    rc = 2 * math.sqrt(cbarp7 / (cbarp7 + 25 ** 7))
    sl = 1 + 0.015 * (lbarp - 50) ** 2 / math.sqrt(20 + (lbarp - 50) ** 2)
    sc = 1 + 0.045 * cbarp
    sh = 1 + 0.015 * cbarp * t
    rt = -math.sin(math.radians(2 * dtheta)) * rc
    return math.sqrt((dlp / sl) ** 2 + (dcp / sc) ** 2 + (dhp_big / sh) ** 2
                     + rt * (dcp / sc) * (dhp_big / sh))


def main():
    if len(sys.argv) != 3:
        print("usage: delta-e.py A.ppm B.ppm", file=sys.stderr)
        return 2
    try:
        wa, ha, pa = read_ppm(sys.argv[1])
        wb, hb, pb = read_ppm(sys.argv[2])
    except (OSError, ValueError) as e:
        print(f"delta-e.py: {e}", file=sys.stderr)
        return 2
    if (wa, ha) != (wb, hb):
        print(f"delta-e.py: sizes differ: {wa}x{ha} and {wb}x{hb}", file=sys.stderr)
        return 2
    total, over, cache = 0.0, 0, {}
    for i in range(0, len(pa), 3):
        ka, kb = pa[i:i + 3], pb[i:i + 3]
        if ka not in cache:
            cache[ka] = lab(*ka)
        if kb not in cache:
            cache[kb] = lab(*kb)
        d = ciede2000(cache[ka], cache[kb])
        total += d
        over += d > 2.0
    n = wa * ha
    print(f"{total / n:.3f} {over / n:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
