"""Create the editor, moderator and admin groups with the permissions in accounts/roles.py."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

from apps.accounts.roles import ROLE_PERMISSIONS



def create_roles(apps, schema_editor):
    # Permissions are normally created after all migrations; make sure they exist now.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, verbosity=0, apps=apps)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for role, perms in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=role)
        for perm in perms:
            app_label, codename = perm.split(".")
            permission = Permission.objects.filter(content_type__app_label=app_label, codename=codename).first()
            # A permission of a model that a later migration creates is added by a later
            # migration (e.g. 0003 for core.view_operations), which runs this again.
            if permission is not None:
                group.permissions.add(permission)


def drop_roles(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=ROLE_PERMISSIONS).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0001_initial"),
        ("renders", "0001_initial"),
        ("policy", "0001_initial"),
        ("moderation", "0001_initial"),
        ("engines", "0001_initial"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]

    operations = [migrations.RunPython(create_roles, drop_roles)]
