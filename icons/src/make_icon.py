"""Draws the msgops icon (1024x1024 PNG) with the standard library only: a rounded navy tile
with a white speech bubble holding three dots — green, amber, red — the three breaker states.
`tauri icon icons/src/msgops.png -o icons` turns it into every size Tauri needs."""
import math, struct, sys, zlib

N = 1024

def clamp(x): return max(0.0, min(1.0, x))

def rounded_rect_sd(x, y, cx, cy, hw, hh, r):
    dx = abs(x - cx) - (hw - r); dy = abs(y - cy) - (hh - r)
    out = math.hypot(max(dx, 0), max(dy, 0))
    return out + min(max(dx, dy), 0) - r

def bubble_sd(x, y):
    body = rounded_rect_sd(x, y, 512, 470, 300, 215, 110)
    # tail: triangle below-left
    ax, ay, bx, by, cx_, cy_ = 330, 640, 470, 640, 300, 800
    def edge(px, py, qx, qy):
        ex, ey = qx - px, qy - py
        return ((x - px) * ey - (y - py) * ex) / math.hypot(ex, ey)
    t = max(-edge(ax, ay, cx_, cy_), -edge(cx_, cy_, bx, by), -edge(bx, by, ax, ay))
    return min(body, t)

dots = [(372, 470, (34, 197, 94)), (512, 470, (245, 158, 11)), (652, 470, (239, 68, 68))]

rows = []
for y in range(N):
    row = bytearray([0])
    for x in range(N):
        tile = rounded_rect_sd(x + .5, y + .5, 512, 512, 480, 480, 200)
        a = clamp(0.5 - tile)
        if a == 0:
            row += b"\0\0\0\0"; continue
        g = y / N
        r, gg, b = 15 + 20 * g, 23 + 30 * g, 42 + 70 * g
        bub = clamp(0.5 - bubble_sd(x + .5, y + .5))
        r, gg, b = r + (248 - r) * bub, gg + (250 - gg) * bub, b + (252 - b) * bub
        for dx, dy, col in dots:
            d = clamp(0.5 - (math.hypot(x + .5 - dx, y + .5 - dy) - 52))
            r, gg, b = r + (col[0] - r) * d, gg + (col[1] - gg) * d, b + (col[2] - b) * d
        row += bytes([int(r), int(gg), int(b), int(255 * a)])
    rows.append(bytes(row))

def chunk(t, d): return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)
png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", N, N, 8, 6, 0, 0, 0)) \
    + chunk(b"IDAT", zlib.compress(b"".join(rows), 9)) + chunk(b"IEND", b"")
open(sys.argv[1] if len(sys.argv) > 1 else "msgops.png", "wb").write(png)
