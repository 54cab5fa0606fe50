import pytest
from django.core.management import CommandError, call_command
from PIL import Image

from bench.engine_bench import DEFAULT_LAYERS as REFERENCE_LAYERS
from trophies.models import Option, Trophy


def snapshot():
    return sorted(Option.objects.values_list("component__key", "key", "layer_digest", "layer"))


@pytest.mark.django_db
def test_demo_creates_both_trophies_and_is_idempotent(capsys):
    call_command("k2", "demo")
    first = snapshot()
    assert "classic: 3 x 30 x 5 x 15 x 19 = 128,250 combinations" in capsys.readouterr().out
    classic = Trophy.objects.get(slug="classic")
    assert (classic.width, classic.height, classic.combinations) == (400, 500, 128_250)
    assert Trophy.objects.get(slug="starter").combinations == 12
    call_command("k2", "demo")
    assert "0 layers drawn or replaced" in capsys.readouterr().out
    assert snapshot() == first


@pytest.mark.django_db
def test_demo_layers_are_rgba_pngs_with_content():
    call_command("k2", "demo")
    option = Option.objects.get(component__key="figure", key="07")
    with Image.open(option.layer.path) as image:
        assert image.format == "PNG" and image.mode == "RGBA" and image.size == (400, 500)
        alpha = image.getchannel("A")
        assert alpha.getbbox() is not None and alpha.getextrema()[0] == 0


@pytest.mark.django_db
def test_demo_layers_from_reference_folder(tmp_path, capsys):
    assert REFERENCE_LAYERS.is_dir(), f"reference layers missing at {REFERENCE_LAYERS}"
    call_command("k2", "demo")
    before = Option.objects.get(component__key="engraving", key="03").layer_digest
    call_command("k2", "demo", "--layers", str(REFERENCE_LAYERS))
    assert "72 layers drawn or replaced" in capsys.readouterr().out
    assert Option.objects.get(component__key="engraving", key="03").layer_digest != before
    assert Trophy.objects.get(slug="classic").combinations == 128_250
    call_command("k2", "demo", "--layers", str(REFERENCE_LAYERS))
    assert "0 layers drawn or replaced" in capsys.readouterr().out


@pytest.mark.django_db
def test_demo_layers_folder_errors_are_one_readable_line(tmp_path):
    call_command("k2", "demo")
    with pytest.raises(CommandError, match="is not a folder"):
        call_command("k2", "demo", "--layers", str(tmp_path / "missing"))
    with pytest.raises(CommandError, match="no SLOT_NN.png files"):
        call_command("k2", "demo", "--layers", str(tmp_path))
    Image.new("RGBA", (4, 4)).save(tmp_path / "hat_00.png")
    with pytest.raises(CommandError, match="has slots hat; classic has base, figure"):
        call_command("k2", "demo", "--layers", str(tmp_path))
