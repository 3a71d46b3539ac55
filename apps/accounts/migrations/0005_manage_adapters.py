"""Admins manage template adapters (catalog.manage_adapters): apply accounts/roles.py again."""

from importlib import import_module

from django.db import migrations

roles_0002 = import_module("apps.accounts.migrations.0002_roles")


class Migration(migrations.Migration):
    dependencies = [("accounts", "0004_merge_token_expiry_and_operations"), ("catalog", "0002_adapters")]

    operations = [migrations.RunPython(roles_0002.create_roles, migrations.RunPython.noop)]
