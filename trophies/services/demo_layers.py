"""Procedurally drawn demo layers: deterministic, no binary files in the repo.

Each function draws one option of a part on a transparent canvas. Colours and
shapes come from the option's number, so the same call always gives the same
pixels.
"""
import colorsys

from PIL import Image, ImageDraw, ImageFont

METALS = [(212, 175, 55), (192, 192, 200), (176, 112, 62), (60, 60, 66), (235, 235, 228)]
WORDS = ["CHAMPION", "WINNER", "MVP", "BEST IN SHOW", "FIRST PLACE", "SECOND PLACE", "THIRD PLACE",
         "TEAM SPIRIT", "MOST IMPROVED", "COACH", "LEGEND", "ALL STAR", "RUNNER UP", "HALL OF FAME",
         "TOP SCORER", "GOLDEN BOOT", "FAIR PLAY", "ROOKIE", "CAPTAIN"]


def hue(number, count, saturation=0.55, value=0.85):
    r, g, b = colorsys.hsv_to_rgb((number / max(count, 1)) % 1.0, saturation, value)
    return int(r * 255), int(g * 255), int(b * 255)


def blank(size):
    return Image.new("RGBA", size, (0, 0, 0, 0))


def shaded(draw, box, colour, steps=12):
    """Fill a box with vertical bands from lighter to darker: a cheap bevel."""
    x0, y0, x1, y1 = box
    for step in range(steps):
        factor = 1.25 - step * 0.05
        shade = tuple(min(255, int(c * factor)) for c in colour) + (255,)
        top = y0 + (y1 - y0) * step // steps
        bottom = y0 + (y1 - y0) * (step + 1) // steps
        draw.rectangle([x0, top, x1, bottom], fill=shade)


def base(number, size):
    image = blank(size)
    draw = ImageDraw.Draw(image)
    w, h = size
    colour = METALS[number % len(METALS)] if number < len(METALS) else hue(number, 7, 0.4, 0.5)
    shaded(draw, (w * 0.15, h * 0.82, w * 0.85, h * 0.96), colour)
    shaded(draw, (w * 0.25, h * 0.74, w * 0.75, h * 0.82), tuple(int(c * 0.8) for c in colour))
    return image


def figure(number, size):
    image = blank(size)
    draw = ImageDraw.Draw(image)
    w, h = size
    colour = hue(number, 30, 0.25, 0.8)
    cx, top, bottom = w / 2, h * (0.12 + (number % 5) * 0.02), h * 0.74
    kind = number % 3
    if kind == 0:  # a cup
        draw.polygon([(cx - 80, top), (cx + 80, top), (cx + 30, bottom - 90), (cx - 30, bottom - 90)],
                     fill=colour + (255,))
        draw.rectangle([cx - 10, bottom - 90, cx + 10, bottom - 20], fill=colour + (255,))
        draw.ellipse([cx - 110, top + 20, cx - 60, top + 90], outline=colour + (255,), width=9)
        draw.ellipse([cx + 60, top + 20, cx + 110, top + 90], outline=colour + (255,), width=9)
    elif kind == 1:  # a star
        radius = 70 + number % 4 * 8
        points = []
        for corner in range(10):
            r = radius if corner % 2 == 0 else radius * 0.45
            angle = corner * 3.14159 / 5 - 3.14159 / 2
            from math import cos, sin
            points.append((cx + r * cos(angle), top + 90 + r * sin(angle)))
        draw.polygon(points, fill=colour + (255,))
        draw.rectangle([cx - 12, top + 150, cx + 12, bottom - 20], fill=colour + (255,))
    else:  # a standing figure
        draw.ellipse([cx - 28, top, cx + 28, top + 56], fill=colour + (255,))
        draw.polygon([(cx - 45, top + 60), (cx + 45, top + 60), (cx + 30, top + 200), (cx - 30, top + 200)],
                     fill=colour + (255,))
        arm = (number * 13) % 60 - 30
        draw.line([(cx + 40, top + 70), (cx + 90, top + 10 + arm)], fill=colour + (255,), width=14)
        draw.rectangle([cx - 25, top + 200, cx + 25, bottom - 20], fill=colour + (255,))
    draw.rectangle([cx - 40, bottom - 20, cx + 40, bottom], fill=tuple(int(c * 0.7) for c in colour) + (255,))
    return image


def color(number, size):
    """A soft translucent tint over the figure's area."""
    image = blank(size)
    draw = ImageDraw.Draw(image)
    w, h = size
    draw.ellipse([w * 0.2, h * 0.08, w * 0.8, h * 0.6], fill=hue(number, 5, 0.8, 0.9) + (70,))
    return image


def plate(number, size):
    image = blank(size)
    draw = ImageDraw.Draw(image)
    w, h = size
    colour = METALS[number % 3] if number < 3 else hue(number, 15, 0.35, 0.75)
    inset = 4 + number % 4 * 6
    draw.rounded_rectangle([w * 0.25 + inset, h * 0.835, w * 0.75 - inset, h * 0.945], radius=6 + number % 3 * 4,
                           fill=colour + (255,), outline=(40, 40, 40, 255), width=1 + number % 2)
    return image


def engraving(number, size):
    image = blank(size)
    draw = ImageDraw.Draw(image)
    w, h = size
    text = WORDS[number % len(WORDS)]
    font = ImageFont.load_default(size=max(8, int(h * 0.034)))
    draw.text((w / 2, h * 0.89), text, font=font, fill=(20, 20, 20, 235), anchor="mm")
    return image


DRAWERS = {"base": base, "figure": figure, "color": color, "plate": plate, "engraving": engraving}
