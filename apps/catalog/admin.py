from django.contrib import admin

from apps.catalog.models import Template

admin.site.register(Template)
