from django.contrib import admin

from .models import Datanet, Snapshot


@admin.register(Datanet)
class DatanetAdmin(admin.ModelAdmin):
    list_display = ["name", "domain", "overlap", "gold_rate", "created_at"]
    prepopulated_fields = {"slug": ["name"]}
    filter_horizontal = ["members"]


@admin.register(Snapshot)
class SnapshotAdmin(admin.ModelAdmin):
    list_display = ["id", "datanet", "content_hash", "created_at"]

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
