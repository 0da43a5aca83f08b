#!/usr/bin/env python3
"""The bad-input corpus, made at test time from gm and plain bytes (no
downloads), and the check of what thumbwatch made of it.

    bad-corpus.py make DIR MANIFEST      write the corpus into DIR
    bad-corpus.py check SRC OUT LOG MANIFEST [--wait]
        TAP lines, one or more per case; with --wait, print nothing and exit 0
        once every case has its outcome (for polling a running daemon).

Outcomes: "made" (a thumbnail exists, checks pass) or a failure class that
must appear in the log as "'PATH' failed (CLASS)" with no thumbnail made.
"""
import json
import os
import struct
import subprocess
import sys
import zlib


def gm(*args):
    subprocess.run(["gm", *args], check=True)


def exif_jpeg(data, orientation):
    """data with an EXIF APP1 segment carrying Orientation, after SOI."""
    ifd = struct.pack("<H", 1) + struct.pack("<HHIHH", 0x0112, 3, 1, orientation, 0) + struct.pack("<I", 0)
    body = b"Exif\x00\x00" + b"II*\x00" + struct.pack("<I", 8) + ifd
    return data[:2] + b"\xff\xe1" + struct.pack(">H", len(body) + 2) + body + data[2:]


def png_bomb(path, side):
    """A 1-bit PNG declaring side x side pixels, all zero: a few MB on disk."""
    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)
    c = zlib.compressobj(9)
    row = b"\x00" * (1 + (side + 7) // 8)
    idat = b"".join(c.compress(row) for _ in range(side)) + c.flush()
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0))
                + chunk(b"IDAT", idat) + chunk(b"IEND", b""))


def many_frames_gif(path, frames):
    """A 16x16 GIF with many frames, written by hand (gm is slow at this)."""
    w = h = 16
    out = bytearray(b"GIF89a" + struct.pack("<HHBBB", w, h, 0x80, 0, 0) + bytes([0, 0, 0, 255, 255, 255]))
    for i in range(frames):
        out += b"\x21\xf9\x04\x00\x01\x00\x00\x00" + b"\x2c" + struct.pack("<HHHHB", 0, 0, w, h, 0)
        codes = []
        for p in range(w * h):      # 3-bit codes, a clear code every other pixel keeps the width fixed
            if p % 2 == 0:
                codes.append(4)
            codes.append(i % 2)
        codes.append(5)
        bits = nb = 0
        data = bytearray()
        for code in codes:
            bits |= code << nb
            nb += 3
            while nb >= 8:
                data.append(bits & 255)
                bits >>= 8
                nb -= 8
        if nb:
            data.append(bits & 255)
        out += b"\x02"
        for k in range(0, len(data), 255):
            out += bytes([len(data[k:k + 255])]) + data[k:k + 255]
        out += b"\x00"
    out += b"\x3b"
    with open(path, "wb") as f:
        f.write(out)


# How each orientation's stored pixels are made from the upright picture:
# the inverse of what the EXIF tag tells a viewer to do.
ORIENT = {1: [], 2: ["-flop"], 3: ["-rotate", "180"], 4: ["-flip"], 5: ["-rotate", "90", "-flop"],
          6: ["-rotate", "270"], 7: ["-rotate", "90", "-flip"], 8: ["-rotate", "90"]}


def make(d, manifest):
    os.makedirs(d, exist_ok=True)
    cases = []

    def case(name, outcome, **checks):
        cases.append({"name": name.hex() if isinstance(name, bytes) else name.encode().hex(),
                      "outcome": outcome, **checks})

    def write(name, data):
        with open(os.path.join(os.fsencode(d), name if isinstance(name, bytes) else name.encode()), "wb") as f:
            f.write(data)

    p = lambda name: os.path.join(d, name)
    gm("convert", "-size", "640x480", "plasma:", p("real.jpg"))
    real = open(p("real.jpg"), "rb").read()
    case("real.jpg", "made", dims="128x96")

    write("zero-byte.jpg", b"")
    case("zero-byte.jpg", "truncated")
    write("truncated.jpg", real[: len(real) // 2])
    case("truncated.jpg", "truncated")
    write("random.jpg", os.urandom(4096))
    case("random.jpg", "unsupported")

    # Formats that GraphicsMagick reads as instructions, under image names.
    pwned = os.path.join(d, "..", "PWNED-by-a-payload.png")
    write("svg.jpg", b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">'
          b'<image href="file:///etc/passwd"/></svg>')
    write("mvg.jpg", b"push graphic-context\nviewbox 0 0 10 10\nimage over 0,0 10,10 'msl:/etc/passwd'\n"
          b"pop graphic-context\n")
    write("msl.png", ('<?xml version="1.0"?><image><read filename="%s"/><write filename="%s"/></image>'
                      % (p("real.jpg"), pwned)).encode())
    write("postscript.jpg", b"%!PS-Adobe-3.0\n(" + pwned.encode() + b") (w) file closefile\nshowpage\n")
    write("text.png", b"just some text\n")
    for n in ("svg.jpg", "mvg.jpg", "msl.png", "postscript.jpg", "text.png"):
        case(n, "unsupported", payload=pwned)

    png_bomb(p("bomb.png"), 60000)
    case("bomb.png", "too-large")
    many_frames_gif(p("frames.gif"), 3000)
    case("frames.gif", "made", dims="16x16")

    # Upright: 60x40, red, with a blue block at the top left.
    gm("convert", "-size", "60x40", "xc:red", "-fill", "blue", "-draw", "rectangle 0,0 19,13", p("upright.png"))
    for o, ops in ORIENT.items():
        gm("convert", p("upright.png"), *ops, "-quality", "95", p("stored.jpg"))
        write("orient-%d.jpg" % o, exif_jpeg(open(p("stored.jpg"), "rb").read(), o))
        case("orient-%d.jpg" % o, "made", dims="60x40", blue_at="3,3", red_at="56,36")
    os.unlink(p("stored.jpg"))
    os.unlink(p("upright.png"))

    gm("convert", "-size", "300x200", "xc:#ff8000", "-colorspace", "CMYK", p("cmyk.jpg"))
    case("cmyk.jpg", "made", dims="128x85", not_colorspace="CMYK")
    gm("convert", "-size", "400x300", "plasma:", "-interlace", "Line", p("progressive.jpg"))
    case("progressive.jpg", "made", dims="128x96")
    gm("convert", "-size", "300x300", "gradient:white-black", "-depth", "16", p("deep.png"))
    case("deep.png", "made", dims="128x128", depth="8")
    gm("convert", "-size", "300x150", "gradient:white-black", "-colorspace", "Gray", p("gray.jpg"))
    case("gray.jpg", "made", dims="128x64")
    gm("convert", "-size", "200x200", "xc:none", "-fill", "red", "-draw", "circle 100,100 100,50", p("alpha.png"))
    case("alpha.png", "made", dims="128x128")
    gm("convert", "-size", "1x1", "xc:white", p("one.png"))
    case("one.png", "made", dims="1x1")
    gm("convert", "-size", "1x20000", "xc:white", p("thin.png"))
    case("thin.png", "made", dims="1x128")

    # Names that a shell, GraphicsMagick or a careless parser would misread.
    for name in (b"a:b.jpg", b"msl:x.jpg", b"a|b.jpg", b"@list.jpg", b"-rf.jpg", b"sp ace.jpg",
                 b"new\nline.jpg", b"\xff\xfe-not-utf8.jpg", b"x[0].jpg", b"y" * 251 + b".jpg"):
        write(name, real)
        case(name, "made", dims="128x96")

    with open(manifest, "w") as f:
        json.dump(cases, f)
    print("%d cases in %s" % (len(cases), d))


def identify(path, fmt):
    r = subprocess.run(["gm", "identify", *(["-format", fmt] if fmt else []), path], capture_output=True)
    return r.stdout.decode(errors="replace").strip() if r.returncode == 0 else ""


def pixel(path, xy):
    r = subprocess.run(["gm", "convert", path, "-crop", "1x1+%s+%s" % tuple(xy.split(",")), "-depth", "8",
                        "txt:-"], capture_output=True)
    try:
        rgb = r.stdout.decode().split("(")[1].split(")")[0]
        return [int(v) for v in rgb.replace(" ", "").split(",")[:3]]
    except (IndexError, ValueError):
        return None


def thumbnails_of(out, name):
    """Thumbnails of a source name: the default template, or its shortened form."""
    stem, ext = os.path.splitext(name)
    want = stem + b"_thumbnail" + ext
    found = []
    for f in os.listdir(out):
        if f == want or (len(want) > 247 and f.startswith(want[:200]) and b"~" in f):
            found.append(os.path.join(out, f))
    return found


def check(src, out, log, manifest, wait):
    cases = json.load(open(manifest))
    logtext = open(log, "rb").read()
    n = 0
    failed = 0
    pending = 0

    def ok(cond, desc):
        nonlocal n, failed
        n += 1
        if not cond:
            failed += 1
        if not wait:
            print("%sok %d - %s" % ("" if cond else "not ", n, desc))

    srcb, outb = os.fsencode(os.path.abspath(src)), os.fsencode(out)
    for c in cases:
        name = bytes.fromhex(c["name"])
        shown = name.decode(errors="backslashreplace").replace("\n", "\\n")
        if len(shown) > 40:
            shown = shown[:20] + "..." + shown[-12:]
        thumbs = thumbnails_of(outb, name) if os.path.isdir(outb) else []
        path = os.path.join(srcb, name)
        if c["outcome"] == "made":
            if not thumbs:
                pending += 1
            if wait:
                continue
            ok(len(thumbs) == 1, "%s: one thumbnail" % shown)
            if not thumbs:
                continue
            t = thumbs[0].decode(errors="surrogateescape")
            if "dims" in c:
                got = identify(t, "%wx%h")
                ok(got == c["dims"], "%s: %s (got %s)" % (shown, c["dims"], got))
            if "blue_at" in c:
                b, r = pixel(t, c["blue_at"]), pixel(t, c["red_at"])
                ok(b is not None and b[2] > 180 and b[0] < 90, "%s: stands the right way up (blue at the top left: %s)" % (shown, b))
                ok(r is not None and r[0] > 180 and r[2] < 90, "%s: red at the bottom right (%s)" % (shown, r))
            if "not_colorspace" in c:
                got = identify(t, "%r")
                ok(c["not_colorspace"] not in got, "%s: not %s any more (%s)" % (shown, c["not_colorspace"], got))
            if "depth" in c:
                got = identify(t, "")
                ok(" %s-bit " % c["depth"] in got, "%s: %s bits a channel (%s)" % (shown, c["depth"], got[-40:]))
        else:
            logged = b"'" + path + b"' failed (" + c["outcome"].encode() + b")" in logtext
            if not logged:
                pending += 1
            if wait:
                continue
            ok(logged, "%s: failed as %s, logged with its path" % (shown, c["outcome"]))
            ok(not thumbs, "%s: no thumbnail" % shown)
            if "payload" in c:
                ok(not os.path.exists(c["payload"]), "%s: its payload never ran" % shown)
    if wait:
        sys.exit(0 if pending == 0 else 1)
    hidden = [f for r, ds, fs in os.walk(outb) for f in fs if f.startswith(b".") and b".thumbwatch" not in r]
    ok(not hidden, "no temporary file left in the output (%d)" % len(hidden))
    print("1..%d" % n)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "make":
        make(sys.argv[2], sys.argv[3])
    elif len(sys.argv) in (6, 7) and sys.argv[1] == "check":
        check(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5], len(sys.argv) == 7 and sys.argv[6] == "--wait")
    else:
        sys.exit(__doc__)
