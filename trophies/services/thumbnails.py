"""Small pictures of options for the shop's configurator: each layer cropped
to its visible part and fitted in a square, made once per layer (named by
its pixel digest) and served from MEDIA_ROOT/thumbs/."""
from pathlib import Path

from django.conf import settings
from django.core.files.storage import default_storage
from PIL import Image

SIZE = 64
FOLDER = "thumbs"


def thumbnail_name(option):
    return f"{FOLDER}/{option.digest[:24]}.png"


def thumbnail_url(option):
    """URL of the option's thumbnail, made now if it is not there yet."""
    name = thumbnail_name(option)
    path = Path(settings.MEDIA_ROOT) / name
    if not path.exists():
        make_thumbnail(default_storage.path(option.layer), path)
    return settings.MEDIA_URL + name


def make_thumbnail(layer_path, path):
    with Image.open(layer_path) as layer:
        layer = layer.convert("RGBA")
    box = layer.getchannel("A").getbbox()
    picture = layer.crop(box) if box else layer
    picture.thumbnail((SIZE, SIZE), Image.LANCZOS)
    square = Image.new("RGBA", (SIZE, SIZE), (0, 0, 0, 0))
    square.paste(picture, ((SIZE - picture.width) // 2, (SIZE - picture.height) // 2))
    path.parent.mkdir(parents=True, exist_ok=True)
    draft = path.with_name(f".{path.name}.tmp")
    square.save(draft, "PNG")
    draft.replace(path)  # atomic: a concurrent request never serves half a file
