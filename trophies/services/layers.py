"""Layer images of options: decode, normalise to RGBA PNG, fingerprint, and
the one way an option's layer is replaced (:func:`replace_layer`)."""
import hashlib
import io
import os

from django.core.files.base import ContentFile
from django.db import transaction
from PIL import Image

from locks import exclusive

MAX_LAYER_BYTES = 20 * 1024 * 1024
MAX_LAYER_PIXELS = 4000 * 4000
ASSET_LOCK_TIMEOUT_S = 3.0


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
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise LayerRejected(f"the image has too many pixels to open safely; the limit is {MAX_LAYER_PIXELS:,} pixels") from None
    except Exception:  # Pillow raises many types for broken files; none means anything to staff
        raise LayerRejected("the file is not a picture this site can read, or it is damaged: "
                            "upload a PNG (or JPEG, GIF, WebP) image") from None


def png_bytes(image):
    buffer = io.BytesIO()
    image.save(buffer, "PNG", optimize=False, compress_level=6)
    return buffer.getvalue()


def asset_lock_name(component_key):
    """Lock guarding a component's layer files: renders hold it shared while
    reading layers, replacing or pruning a layer holds it exclusive."""
    return f"assets:{component_key}"


def replace_layer(option, source, owner=""):
    """Give ``option`` the layer ``source`` (an upload's bytes or an image)
    and save the option row; every face (studio, admin, demo, import) comes
    here. Returns True when the layer's pixels changed.

    The picture is decoded within the limits, normalised to RGBA PNG,
    fingerprinted by its pixels and stored under a new content-addressed
    name, and the row saved, under the component's exclusive asset lock. The
    old file stays where it is: a build that started before reads it from its
    plan; `k2 prune` removes layer files that nothing names any more.
    Raises LayerRejected for a bad picture, locks.LockTimeout when the asset
    lock stays busy (nothing is changed then)."""
    image = decode_layer(source) if isinstance(source, (bytes, bytearray)) else source.convert("RGBA")
    digest = pixel_digest(image)
    changed = not (option.pk and option.layer and option.layer_digest == digest)
    if not changed:
        option.save()
        return False
    old_name = option.layer.name if option.pk and option.layer else None
    with exclusive(asset_lock_name(option.component.key), timeout=ASSET_LOCK_TIMEOUT_S,
                   owner=owner or f"replace layer of {option.component.key}/{option.key}"):
        option.layer_digest = digest
        option.layer.save(f"{option.key}.png", ContentFile(png_bytes(image)), save=False)
        with transaction.atomic():
            option.save()
    if old_name and old_name != option.layer.name:
        mark_obsolete(option.layer.storage, old_name)
    return True


def mark_obsolete(storage, name):
    """Stamp a replaced layer file with the time it stopped being current:
    the prune's grace period counts from then."""
    try:
        os.utime(storage.path(name))
    except (OSError, NotImplementedError):
        pass
