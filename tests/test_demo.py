import io
import subprocess
import sys

import pytest
from django.core.management import CommandError, call_command
from PIL import Image

from bench.engine_bench import DEFAULT_LAYERS as REFERENCE_LAYERS
from tests.conftest import ROOT, child_environment
from tests.forms_support import option_controls, post_controls
from trophies.models import Option, Trophy
from trophies.services import plans
from trophies.services.layers import pixel_digest


def snapshot():
    return sorted(Option.objects.values_list("component__key", "key", "layer_digest", "layer"))


def fingerprints():
    """Every image name of both demo trophies, as the storefront computes them."""
    return {trophy.slug: plans.capture(trophy).name_tokens for trophy in Trophy.objects.all()}


@pytest.mark.django_db
def test_demo_creates_both_trophies_once_and_then_changes_nothing(capsys):
    call_command("k2", "demo")
    first = snapshot()
    out = capsys.readouterr().out
    assert "classic: 3 x 30 x 5 x 15 x 19 = 128,250 combinations" in out
    assert "created 79: component base, base 00, base 01, base 02, component figure, figure 00" in out
    assert "trophy classic, trophy starter" in out
    classic = Trophy.objects.get(slug="classic")
    assert (classic.width, classic.height, plans.capture(classic).total) == (400, 500, 128_250)
    assert plans.capture(Trophy.objects.get(slug="starter")).total == 12
    call_command("k2", "demo")
    out = capsys.readouterr().out
    assert "created nothing: the demo catalog exists" in out
    assert "72 existing demo options left as they are (k2 demo --reset redraws them)" in out
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
def test_demo_layers_from_reference_folder_are_kept_until_reset(capsys):
    assert REFERENCE_LAYERS.is_dir(), f"reference layers missing at {REFERENCE_LAYERS}"
    call_command("k2", "demo", "--layers", str(REFERENCE_LAYERS))
    assert "created 79:" in capsys.readouterr().out
    from_folder = snapshot()
    assert plans.capture(Trophy.objects.get(slug="classic")).total == 128_250
    # A later start without the folder keeps the folder's pictures.
    call_command("k2", "demo")
    assert snapshot() == from_folder
    # --reset is the one way back to the drawn pictures, and it names what it replaced.
    call_command("k2", "demo", "--reset")
    out = capsys.readouterr().out
    assert "replaced 72: base 00, base 01, base 02, figure 00" in out and "engraving 18" in out
    drawn = snapshot()
    assert [row[2] for row in drawn] != [row[2] for row in from_folder]
    call_command("k2", "demo", "--reset")
    assert "replaced nothing: every demo layer already had the pictures asked for" in capsys.readouterr().out
    call_command("k2", "demo", "--reset", "--layers", str(REFERENCE_LAYERS))
    assert "replaced 72:" in capsys.readouterr().out
    assert [row[2] for row in snapshot()] == [row[2] for row in from_folder]


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


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_layer_changed_in_the_studio_survives_the_start_up_steps(staff_client, data_dir):
    call_command("k2", "demo")
    figure = Option.objects.get(component__key="figure", key="07")
    red = Image.new("RGBA", (400, 500), (0, 0, 0, 0))
    red.paste((220, 20, 20, 255), (150, 100, 250, 400))
    buffer = io.BytesIO()
    red.save(buffer, "PNG")
    response = post_controls(staff_client, "/studio/parts/figure/options/07/", option_controls(
        label=figure.label, key="07", position=str(figure.position), upload=("red.png", buffer.getvalue(), "image/png")),
        "multipart")
    assert response.status_code == 302
    figure.refresh_from_db()
    assert figure.layer_digest == pixel_digest(red)
    before, names_before, layer_bytes = snapshot(), fingerprints(), figure.layer.read()

    # make run's start-up steps, as make runs them, on this test's database and data dir.
    result = subprocess.run(["make", "-s", "-o", ".venv/.installed", "setup", f"PY={sys.executable}"],
                            cwd=ROOT, env=child_environment(data_dir), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "created nothing: the demo catalog exists" in result.stdout
    assert snapshot() == before
    assert fingerprints() == names_before
    figure.refresh_from_db()
    assert figure.layer_digest == pixel_digest(red) and figure.layer.read() == layer_bytes
