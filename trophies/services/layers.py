"""Layer images of options: decode, normalise to RGBA PNG, fingerprint."""
import hashlib
import io

from django.core.files.base import ContentFile
from PIL import Image

MAX_LAYER_BYTES = 20 * 1024 * 1024
MAX_LAYER_PIXELS = 4000 * 4000


class LayerRejected(ValueError):
    """An upload that is not a usable layer image; the message says why."""


def pixel_digest(image):
    """sha256 of an RGBA image's size and pixels (not of the file's bytes,
    so re-encoding the same picture keeps its fingerprint)."""
    digest = hashlib.sha256(f"{image.mode}:{image.size}".encode())
    digest.update(image.tobytes())
    return digest.hexdigest()


def decode_layer(data):
    """Bytes of an uploaded picture -> RGBA image, refusing what is not an
    image, too large in bytes or in pixels (decompression bombs)."""
    if len(data) > MAX_LAYER_BYTES:
        raise LayerRejected(f"the file is {len(data):,} bytes; the limit is {MAX_LAYER_BYTES:,}")
    if not data:
        raise LayerRejected("the file is empty")
    try:
        with Image.open(io.BytesIO(data)) as probe:
            width, height = probe.size
            if width * height > MAX_LAYER_PIXELS:
                raise LayerRejected(
                    f"the image is {width}x{height} pixels; the limit is {MAX_LAYER_PIXELS:,} pixels"
                )
            probe.load()
            return probe.convert("RGBA")
    except LayerRejected:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise LayerRejected(f"the image is too large to decode safely ({error})") from None
    except Exception as error:  # Pillow raises many types for broken files
        raise LayerRejected(f"not an image Pillow can read ({type(error).__name__}: {error})") from None


def png_bytes(image):
    buffer = io.BytesIO()
    image.save(buffer, "PNG", optimize=False, compress_level=6)
    return buffer.getvalue()


def set_layer(option, data):
    """Store ``data`` (an uploaded picture) as the option's layer, as RGBA
    PNG under a content-addressed name. Does not save the option row."""
    image = decode_layer(data)
    option.layer_digest = pixel_digest(image)
    option.layer.save(f"{option.key}.png", ContentFile(png_bytes(image)), save=False)


def refresh_digest(option):
    """Recompute the digest from the stored layer file (admin edits)."""
    with option.layer.open("rb") as handle:
        image = decode_layer(handle.read())
    option.layer_digest = pixel_digest(image)


def asset_lock_name(component):
    """Lock guarding a component's layer files: renders hold it shared while
    reading layers, replacing a layer holds it exclusive."""
    return f"assets:{component.key}"
