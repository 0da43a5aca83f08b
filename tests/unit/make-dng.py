#!/usr/bin/env python3
"""make-dng.py - writes a minimal DNG that libraw 0.20 opens: IFD0 is a JPEG
preview (NewSubfileType 1), its SubIFD a 64x64 16-bit CFA raw image.

Usage: make-dng.py OUT [--preview JPEG | --bitmap WxH] [--orientation N] [--make MAKE] [--raw WxH]
--bitmap makes the preview uncompressed 8-bit RGB, red at the top left and
blue at the bottom right. Without either, IFD0 is the raw image itself and
there is no preview. --raw sets the raw image's size (default 64x64; a
camera's, such as 4032x3024, for bench/sections/camera.sh's full decode)."""
import argparse
import struct

SHORT, LONG, ASCII, BYTE, RATIONAL = 3, 4, 2, 1, 5
SIZES = {BYTE: 1, ASCII: 1, SHORT: 2, LONG: 4, RATIONAL: 8}


def pack_value(typ, values):
    if typ == ASCII:
        return values.encode() + b'\0'
    if typ == BYTE:
        return bytes(values)
    if typ == RATIONAL:
        return b''.join(struct.pack('<II', n, d) for n, d in values)
    return b''.join(struct.pack('<H' if typ == SHORT else '<I', v) for v in values)


def ifd(entries, at, next_ifd=0):
    """An IFD at offset `at`: entries (tag, type, values), values that do not fit
    in 4 bytes right after it. Returns the bytes."""
    entries = sorted(entries)
    extra_at = at + 2 + 12 * len(entries) + 4
    head, extra = struct.pack('<H', len(entries)), b''
    for tag, typ, values in entries:
        data = pack_value(typ, values)
        count = len(data) // SIZES[typ]
        if len(data) <= 4:
            head += struct.pack('<HHI', tag, typ, count) + data.ljust(4, b'\0')
        else:
            head += struct.pack('<HHII', tag, typ, count, extra_at + len(extra))
            extra += data + (b'\0' if len(data) % 2 else b'')
    return head + struct.pack('<I', next_ifd) + extra


def raw_entries(width, height, data_at, sub):
    return [
        (254, LONG, [0]), (256, LONG, [width]), (257, LONG, [height]), (258, SHORT, [16]),
        (259, SHORT, [1]), (262, SHORT, [32803]), (273, LONG, [data_at]), (277, SHORT, [1]),
        (278, LONG, [height]), (279, LONG, [width * height * 2]),
        (33421, SHORT, [2, 2]), (33422, BYTE, [0, 1, 1, 2]), (50717, LONG, [4095]),
    ] + ([] if sub else [])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('out')
    ap.add_argument('--preview')
    ap.add_argument('--bitmap')
    ap.add_argument('--orientation', type=int, default=1)
    ap.add_argument('--make', default='Thumbwatch')
    ap.add_argument('--raw', default='64x64')
    a = ap.parse_args()
    width, height = (int(v) for v in a.raw.split('x'))
    if width == height == 64:
        raw = b''.join(struct.pack('<H', (x * 64 + y) & 0xfff) for y in range(height) for x in range(width))
    else:   # a gradient, row by row: large sizes in a moment
        raw = b''.join(struct.pack('<%dH' % width, *(((x + y) * 4095 // (width + height)) for x in range(width)))
                       for y in range(height))
    common = [(271, ASCII, a.make), (272, ASCII, 'Test DNG'), (274, SHORT, [a.orientation]),
              (50706, BYTE, [1, 4, 0, 0]), (50707, BYTE, [1, 1, 0, 0]), (50708, ASCII, a.make + ' Test DNG'),
              (50721, RATIONAL, [(1, 1), (0, 1), (0, 1), (0, 1), (1, 1), (0, 1), (0, 1), (0, 1), (1, 1)])]
    if a.preview or a.bitmap:
        if a.preview:
            jpeg = open(a.preview, 'rb').read()
            w, h = jpeg_size(jpeg)
            compression, photometric = 7, 6
        else:
            w, h = (int(v) for v in a.bitmap.split('x'))
            jpeg = b''.join(bytes((255 * (w - 1 - x) // max(w - 1, 1), 0, 255 * y // max(h - 1, 1)))
                            for y in range(h) for x in range(w))
            compression, photometric = 1, 2
        # Layout: header, IFD0, SubIFD, JPEG, raw. Sizes of the IFDs do not
        # depend on the offsets, so build twice: first to measure.
        def build(sub_at, jpeg_at, raw_at):
            ifd0 = ifd(common + [(254, LONG, [1]), (256, LONG, [w]), (257, LONG, [h]), (258, SHORT, [8, 8, 8]),
                                 (259, SHORT, [compression]), (262, SHORT, [photometric]), (273, LONG, [jpeg_at]), (277, SHORT, [3]),
                                 (278, LONG, [h]), (279, LONG, [len(jpeg)]), (330, LONG, [sub_at])], 8)
            sub = ifd(raw_entries(width, height, raw_at, True), sub_at)
            return ifd0, sub
        ifd0, sub = build(0, 0, 0)
        sub_at = 8 + len(ifd0)
        jpeg_at = sub_at + len(sub)
        raw_at = jpeg_at + len(jpeg) + (len(jpeg) & 1)
        ifd0, sub = build(sub_at, jpeg_at, raw_at)
        body = ifd0 + sub + jpeg + (b'\0' if len(jpeg) & 1 else b'') + raw
    else:
        ifd0 = ifd(common + raw_entries(width, height, 0, False), 8)
        raw_at = 8 + len(ifd0)
        body = ifd(common + raw_entries(width, height, raw_at, False), 8) + raw
    with open(a.out, 'wb') as f:
        f.write(b'II*\0' + struct.pack('<I', 8) + body)


def jpeg_size(jpeg):
    i = 2
    while i + 9 < len(jpeg):
        marker, length = jpeg[i + 1], struct.unpack('>H', jpeg[i + 2:i + 4])[0]
        if marker in (0xc0, 0xc1, 0xc2):
            h, w = struct.unpack('>HH', jpeg[i + 5:i + 9])
            return w, h
        i += 2 + length
    raise SystemExit('make-dng.py: no SOF in the preview')


if __name__ == '__main__':
    main()
