#!/usr/bin/env python3
# heif-nclx.py IN OUT PRIMARIES TRANSFER MATRIX: IN (a HEIF file) with an
# nclx 'colr' property (full range) added to its primary item, as OUT.
# heif-enc 1.15 writes none to a HEIC whatever its --colour_primaries say
# (to an AVIF it writes 2/2/6), so colour-nclx.sh makes its own. The new
# property goes at the end of 'ipco' (the others keep their indexes); the
# 'meta' box grows, so every 'iloc' file offset after it moves as much.
import struct
import sys


def boxes(data, pos, end):
    while pos < end:
        size, kind = struct.unpack(">I4s", data[pos:pos + 8])
        if size < 8 or pos + size > end:
            sys.exit("heif-nclx: box %r at %d: bad size %d" % (kind, pos, size))
        yield kind, pos, size
        pos += size


def box(kind, payload):
    return struct.pack(">I4s", 8 + len(payload), kind) + payload


def uint(data, pos, n):
    return int.from_bytes(data[pos:pos + n], "big") if n else 0


def shift_iloc(payload, delta):
    """payload: iloc's, from its version; construction method 0 offsets move by delta."""
    out = bytearray(payload)
    version = payload[0]
    offset_size, length_size = payload[4] >> 4, payload[4] & 15
    base_size, index_size = payload[5] >> 4, (payload[5] & 15) if version in (1, 2) else 0
    pos = 6
    count = uint(payload, pos, 2 if version < 2 else 4)
    pos += 2 if version < 2 else 4
    for _ in range(count):
        pos += 2 if version < 2 else 4                  # item_ID
        method = 0
        if version in (1, 2):
            method = payload[pos + 1] & 15
            pos += 2
        pos += 2                                        # data_reference_index
        base = uint(payload, pos, base_size)
        if method == 0 and base_size:
            out[pos:pos + base_size] = (base + delta).to_bytes(base_size, "big")
        pos += base_size
        extents = uint(payload, pos, 2)
        pos += 2
        for _ in range(extents):
            pos += index_size
            if method == 0 and not base_size:
                off = uint(payload, pos, offset_size)
                out[pos:pos + offset_size] = (off + delta).to_bytes(offset_size, "big")
            pos += offset_size + length_size
    return bytes(out)


def add_association(payload, item, index):
    """payload: ipma's, from its version; index (1-based) associated with item."""
    version, flags = payload[0], uint(payload, 1, 3)
    id_size, assoc_size = (2 if version < 1 else 4), (2 if flags & 1 else 1)
    out, pos = bytearray(payload[:8]), 8
    for _ in range(uint(payload, 4, 4)):
        entry_item = uint(payload, pos, id_size)
        n = payload[pos + id_size]
        assocs = payload[pos + id_size + 1:pos + id_size + 1 + n * assoc_size]
        pos += id_size + 1 + n * assoc_size
        if entry_item == item:
            n += 1
            assocs += index.to_bytes(assoc_size, "big")
        out += entry_item.to_bytes(id_size, "big") + bytes([n]) + assocs
    return bytes(out)


def main():
    src, dst, primaries, transfer, matrix = sys.argv[1], sys.argv[2], *map(int, sys.argv[3:6])
    data = open(src, "rb").read()
    top = {kind: (pos, size) for kind, pos, size in boxes(data, 0, len(data))}
    meta_pos, meta_size = top[b"meta"]
    children = list(boxes(data, meta_pos + 12, meta_pos + meta_size))
    payload = {kind: data[pos + 8:pos + size] for kind, pos, size in children}
    primary = uint(payload[b"pitm"], 4, 2 if payload[b"pitm"][0] == 0 else 4)
    iprp = payload[b"iprp"]
    props = {kind: iprp[pos + 8:pos + size] for kind, pos, size in boxes(iprp, 0, len(iprp))}
    n_props = sum(1 for _ in boxes(props[b"ipco"], 0, len(props[b"ipco"])))
    colr = box(b"colr", b"nclx" + struct.pack(">HHHB", primaries, transfer, matrix, 0x80))
    new_iprp = box(b"ipco", props[b"ipco"] + colr) + box(b"ipma", add_association(props[b"ipma"], primary, n_props + 1))
    delta = len(new_iprp) - len(iprp)
    new_meta = bytearray()
    for kind, pos, size in children:
        if kind == b"iprp":
            new_meta += box(b"iprp", new_iprp)
        elif kind == b"iloc":
            new_meta += box(b"iloc", shift_iloc(payload[kind], delta))
        else:
            new_meta += data[pos:pos + size]
    meta = box(b"meta", data[meta_pos + 8:meta_pos + 12] + bytes(new_meta))
    if any(pos > meta_pos and kind not in (b"mdat", b"free", b"skip") for kind, (pos, _) in top.items()):
        sys.exit("heif-nclx: a box other than mdat after meta")
    open(dst, "wb").write(data[:meta_pos] + meta + data[meta_pos + meta_size:])


main()
