#!/usr/bin/python3
"""Renders text with Debian's DejaVu fonts (python3-pil, fonts-dejavu-core) into the
inputs of the PaddleOCR models, as .npy files in OUT_DIR:

  rec.npy   (N, 3, 48, W)     text lines, PaddleOCR recognizer normalization (x/255-0.5)/0.5,
                              each whole at 48 pixels high, padded with 0 (after
                              normalization, as PaddleOCR pads a batch) to W, the widest
                              line rounded up to a multiple of 32 (at least 320)
  rec_widths.npy (N,) int64   each line's own width, rounded up the same way: row i cut
                              to rec_widths[i] columns is the line alone, as PaddleOCR
                              recognizes a single line (or a batch of lines of one width)
  cls.npy   (2N, 3, 48, 192)  the lines again, upright then turned 180 degrees (cls labels 0, 1)
  det.npy   (P, 3, 640, 640)  pages of several lines, ImageNet normalization (detector)

usage: render_text_lines.py OUT_DIR [N=100] [PAGES=4] [SEED=1]
"""
import os
import random
import sys

import numpy as np
from PIL import Image, ImageDraw, ImageFont

FONTS = "/usr/share/fonts/truetype/dejavu"
FACES = ["DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSerif.ttf", "DejaVuSansMono.ttf",
         "DejaVuSerif-Bold.ttf", "DejaVuSansMono-Bold.ttf"]
WORDS = ("invoice total amount date order number price quantity customer address street city "
         "phone email account balance payment due receipt tax discount shipping item code "
         "model serial version report summary page section table figure note reference").split()


def text_line(rng):
    parts = []
    for _ in range(rng.randint(2, 4)):
        r = rng.random()
        if r < 0.6:
            w = rng.choice(WORDS)
            parts.append(w.capitalize() if rng.random() < 0.3 else w)
        elif r < 0.85:
            parts.append(str(rng.randint(0, 99999)))
        else:
            parts.append("%d.%02d" % (rng.randint(0, 999), rng.randint(0, 99)))
    return " ".join(parts)


def render_line(rng, text, height):
    font = ImageFont.truetype(os.path.join(FONTS, rng.choice(FACES)), rng.randint(26, 34))
    left, top, right, bottom = font.getbbox(text)
    w, h = right - left + 16, bottom - top + 12
    img = Image.new("L", (w, h), rng.randint(215, 255))
    ImageDraw.Draw(img).text((8 - left, 6 - top), text, fill=rng.randint(0, 60), font=font)
    # To the model's height, keeping the aspect ratio.
    return img.resize((max(1, round(w * height / h)), height), Image.BILINEAR)


def to_width(img, width, fill=255):
    out = Image.new("L", (width, img.height), fill)
    out.paste(img.crop((0, 0, min(width, img.width), img.height)), (0, 0))
    return out


def rec_width(img):
    return max(320, -(-img.width // 32) * 32)


def rec_batch(lines, height=48):
    """PaddleOCR's recognizer batching: every line whole (no crop, no squeeze), the batch
    as wide as its widest line, the rest of each row zeros after normalization."""
    width = max(rec_width(l) for l in lines)
    out = np.zeros((len(lines), 3, height, width), np.float32)
    for i, l in enumerate(lines):
        out[i, :, :, :l.width] = rec_tensor(l)
    return out


def rec_tensor(img):
    a = np.asarray(img.convert("RGB"), np.float32).transpose(2, 0, 1) / 255.0
    return (a - 0.5) / 0.5


def main():
    out = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 100
    pages = int(sys.argv[3]) if len(sys.argv) > 3 else 4
    rng = random.Random(int(sys.argv[4]) if len(sys.argv) > 4 else 1)
    os.makedirs(out, exist_ok=True)
    lines = [render_line(rng, text_line(rng), 48) for _ in range(n)]
    rec = rec_batch(lines)
    up = [rec_tensor(to_width(l, 192)) for l in lines]
    down = [rec_tensor(to_width(l, 192).rotate(180)) for l in lines]
    cls = np.stack(up + down)
    mean = np.array([0.485, 0.456, 0.406], np.float32)[:, None, None]
    std = np.array([0.229, 0.224, 0.225], np.float32)[:, None, None]
    det = []
    for _ in range(pages):
        page = Image.new("L", (640, 640), 255)
        y = rng.randint(10, 40)
        while y < 580:
            line = render_line(rng, text_line(rng), rng.randint(24, 40))
            page.paste(line.crop((0, 0, min(line.width, 600), line.height)), (rng.randint(5, 30), y))
            y += line.height + rng.randint(10, 40)
        a = np.asarray(page.convert("RGB"), np.float32).transpose(2, 0, 1) / 255.0
        det.append((a - mean) / std)
    np.save(os.path.join(out, "rec.npy"), rec.astype(np.float32))
    np.save(os.path.join(out, "rec_widths.npy"), np.array([rec_width(l) for l in lines], np.int64))
    np.save(os.path.join(out, "cls.npy"), cls.astype(np.float32))
    np.save(os.path.join(out, "det.npy"), np.stack(det).astype(np.float32))


if __name__ == "__main__":
    main()
