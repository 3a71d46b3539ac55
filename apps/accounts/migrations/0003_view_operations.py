"""Admins see the queues and workers page (core.view_operations): apply accounts/roles.py again."""

from importlib import import_module

from django.db import migrations

roles_0002 = import_module("apps.accounts.migrations.0002_roles")


class Migration(migrations.Migration):
    dependencies = [("accounts", "0002_roles"), ("core", "0001_initial")]

    operations = [migrations.RunPython(roles_0002.create_roles, migrations.RunPython.noop)]
