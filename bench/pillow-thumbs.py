#!/usr/bin/python3
"""What a Python user writes to thumbnail a tree: Pillow's Image.thumbnail
(draft mode, so libjpeg decodes at reduced scale, then Lanczos) in a process
pool, with the EXIF orientation applied, written next to the tree like
thumbwatch does. Usage: pillow-thumbs.py SRC OUT WORKERS [BOX]"""
import os
import sys
from concurrent.futures import ProcessPoolExecutor

from PIL import Image, ImageOps

BOX = 128


def one(job):
    src, dst = job
    with Image.open(src) as im:
        im.thumbnail((BOX, BOX))
        im = ImageOps.exif_transpose(im)
        if dst.endswith(".jpg") and im.mode not in ("RGB", "L"):
            im = im.convert("RGB")
        im.save(dst, quality=85)


def main():
    global BOX
    src, out, workers = sys.argv[1], sys.argv[2], int(sys.argv[3])
    if len(sys.argv) > 4:
        BOX = int(sys.argv[4])
    jobs = []
    for root, _, files in os.walk(src):
        rel = os.path.relpath(root, src)
        os.makedirs(os.path.join(out, rel), exist_ok=True)
        for f in files:
            stem, ext = os.path.splitext(f)
            if ext.lower() in (".jpg", ".jpeg", ".png"):
                jobs.append((os.path.join(root, f), os.path.join(out, rel, stem + "_thumbnail" + ext)))
    with ProcessPoolExecutor(workers) as pool:
        list(pool.map(one, jobs, chunksize=4))


if __name__ == "__main__":
    main()
