"""Helpers of the studio form tests: a tiny parts catalog with generated
layers, trophy form controls in order, and request bodies of both encodings."""
import io
import secrets
from urllib.parse import urlencode

from PIL import Image

from trophies.models import Component, Option
from trophies.services.layers import replace_layer


def png_bytes(color=(200, 40, 40, 255), size=(12, 10), mode="RGBA"):
    buffer = io.BytesIO()
    Image.new(mode, size, color if mode == "RGBA" else color[:3]).save(buffer, "PNG")
    return buffer.getvalue()


def make_catalog(spec=(("base", 3), ("figure", 4), ("plate", 2))):
    """Components with N options each; returns {component key: [Option, ...]}."""
    catalog = {}
    for index, (key, count) in enumerate(spec):
        component = Component.objects.create(key=key, name=key.title())
        options = []
        for position in range(count):
            option = Option(component=component, key=f"{key}-{position}", label=f"{key.title()} {position}",
                            position=position)
            replace_layer(option, png_bytes((40 * position % 256, 60 * index % 256, 90, 255)))
            options.append(option)
        catalog[key] = options
    return catalog


def slot(component, options, key="", x=0, y=0):
    return {"component": component, "options": [str(o.pk) if hasattr(o, "pk") else str(o) for o in options],
            "key": key, "x": x, "y": y}


def trophy_controls(name="Cup", slug="cup", tiers=(), width=400, height=500, fmt="PNG", button="save"):
    """The controls a browser sends for the trophy form, in order."""
    controls = [("_charset_", "UTF-8"), ("__formid__", "deform"),
                ("name", name), ("slug", slug), ("width", str(width)), ("height", str(height)),
                ("format", fmt), ("__start__", "tiers:sequence")]
    for tier in tiers:
        tier_name, slots = tier if isinstance(tier, tuple) else ("", tier)
        controls += [("__start__", "tier:mapping"), ("name", tier_name), ("__start__", "slots:sequence")]
        for data in slots:
            controls += [("__start__", "slot:mapping"), ("component", data["component"]), ("key", data["key"]),
                         ("__start__", "options:sequence")]
            controls += [("checkbox", value) for value in data["options"]]
            controls += [("__end__", "options:sequence"), ("x", str(data["x"])), ("y", str(data["y"])),
                         ("__end__", "slot:mapping")]
        controls += [("__end__", "slots:sequence"), ("__end__", "tier:mapping")]
    controls += [("__end__", "tiers:sequence")]
    if button:
        controls.append((button, button))
    return controls


def option_controls(label="Gold", key="gold", position="0", upload=None, uid=None):
    """The controls a browser sends for the option form; ``upload`` is
    (filename, bytes, content type)."""
    controls = [("_charset_", "UTF-8"), ("__formid__", "deform"), ("label", label), ("key", key),
                ("position", position), ("__start__", "layer:mapping")]
    controls.append(("upload", upload if upload is not None else ("", b"", "application/octet-stream")))
    if uid:
        controls.append(("uid", uid))
    controls += [("__end__", "layer:mapping"), ("save", "save")]
    return controls


def urlencoded(controls):
    return urlencode(controls, encoding="utf-8")


def multipart(controls):
    """(body, content type) of ``controls``; a value (filename, bytes,
    content type) is a file part."""
    boundary = "----k2test" + secrets.token_hex(8)
    out = io.BytesIO()
    for name, value in controls:
        out.write(f"--{boundary}\r\n".encode())
        if isinstance(value, tuple):
            filename, data, content_type = value
            out.write(f'Content-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'.encode())
            out.write(f"Content-Type: {content_type}\r\n\r\n".encode())
            out.write(data)
        else:
            out.write(f'Content-Disposition: form-data; name="{name}"\r\n\r\n'.encode())
            out.write(value.encode("utf-8") if isinstance(value, str) else value)
        out.write(b"\r\n")
    out.write(f"--{boundary}--\r\n".encode())
    return out.getvalue(), f"multipart/form-data; boundary={boundary}"


def post_controls(client, url, controls, encoding="urlencoded", **extra):
    if encoding == "multipart":
        body, content_type = multipart(controls)
        return client.generic("POST", url, body, content_type=content_type, **extra)
    return client.generic("POST", url, urlencoded(controls).encode(), content_type="application/x-www-form-urlencoded",
                          **extra)

