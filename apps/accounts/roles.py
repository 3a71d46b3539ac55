"""The three roles and the permissions each one carries.

Groups are created by a data migration (accounts 0002) from this table, so a role's
permissions are reviewed in one place.
"""

EDITOR = "editor"
MODERATOR = "moderator"
ADMIN = "admin"

ROLE_PERMISSIONS: dict[str, list[str]] = {
    EDITOR: ["renders.submit_render"],
    MODERATOR: ["renders.submit_render", "renders.view_all_renders", "moderation.moderate"],
    ADMIN: [
        "renders.submit_render",
        "renders.view_all_renders",
        "moderation.moderate",
        "policy.manage_policy",
        "engines.manage_engines",
        "core.view_operations",
        "catalog.manage_adapters",
        "accounts.manage_tokens",
    ],
}
