"""Trophies that existed before drafts were shown to shoppers: they stay
published, so the migration hides nothing a shop already shows. Trophies
made from now on start as drafts (the field's default)."""
from django.db import migrations


def publish_existing(apps, schema_editor):
    Trophy = apps.get_model("trophies", "Trophy")
    Trophy.objects.using(schema_editor.connection.alias).update(published=True)


class Migration(migrations.Migration):

    dependencies = [
        ("trophies", "0006_trophy_published_and_permissions"),
    ]

    operations = [
        # Going back drops the column, so there is nothing to undo.
        migrations.RunPython(publish_existing, migrations.RunPython.noop),
    ]
