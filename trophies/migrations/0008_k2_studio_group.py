"""The "K2 studio" group: every permission the studio, the JSON API and
imports check (catalog edits, builds, publishing). A group of that name
that already exists is staff's and is left as it is."""
from django.apps import apps as global_apps
from django.contrib.auth.management import create_permissions
from django.db import migrations

GROUP = "K2 studio"
CATALOG_MODELS = ("component", "option", "trophy", "tier", "slot")
CODENAMES = [f"{action}_{model}" for model in CATALOG_MODELS for action in ("add", "change", "delete", "view")] + [
    "view_build", "view_chunk", "publish_trophy", "start_build", "cancel_build", "retry_build",
]


def create_group(apps, schema_editor):
    using = schema_editor.connection.alias
    # Permissions are otherwise created after every migration has run (post_migrate).
    create_permissions(global_apps.get_app_config("trophies"), verbosity=0, apps=apps, using=using)
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group, created = Group.objects.using(using).get_or_create(name=GROUP)
    if created:
        group.permissions.set(Permission.objects.using(using).filter(
            content_type__app_label="trophies", codename__in=CODENAMES))


class Migration(migrations.Migration):

    dependencies = [
        ("trophies", "0007_existing_trophies_published"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [
        # Going back leaves the group: it may have members by then.
        migrations.RunPython(create_group, migrations.RunPython.noop),
    ]
