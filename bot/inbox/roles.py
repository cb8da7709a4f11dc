"""The roles of PRODUCT.md and their permission matrix, kept as data: role → resource → allowed actions (CRUD)."""

from __future__ import annotations

from typing import Literal

Action = Literal["create", "read", "update", "delete"]
_LETTERS: dict[str, Action] = {"c": "create", "r": "read", "u": "update", "d": "delete"}

# Resources an API route can ask for. `contacts` read means seeing buyers' full addresses (others see
# them masked); `assignments` update means giving a conversation to someone else or taking it from them.
RESOURCES = (
    "conversations", "messages", "notes", "assignments", "canned", "contacts", "tickets",
    "orders", "payments", "products", "users", "audit", "analytics",
)

# One row per role, as CRUD letters; a resource not listed is refused. super_admin and admin differ
# in scope, not in rights: a super_admin always works on every vendor.
MATRIX: dict[str, dict[str, str]] = {
    "super_admin": {resource: "crud" for resource in RESOURCES},
    "admin": {resource: "crud" for resource in RESOURCES},
    "manager": {
        "conversations": "ru", "messages": "cr", "notes": "cr", "assignments": "u", "canned": "crud",
        "contacts": "r", "tickets": "crud", "orders": "ru", "payments": "r", "products": "cru", "audit": "r",
        "analytics": "r",
    },
    "operator": {"conversations": "r", "orders": "cru", "products": "crud", "payments": "r", "analytics": "r"},
    "cashier": {"payments": "ru", "orders": "ru"},
    "support": {
        "conversations": "ru", "messages": "cr", "notes": "cr", "canned": "r", "tickets": "crud",
        "orders": "r", "payments": "r", "products": "r",
    },
    "logistics": {"orders": "ru", "products": "r"},
    "analyst": {"conversations": "r", "orders": "r", "payments": "r", "products": "r", "analytics": "r"},
}
ROLES = tuple(MATRIX)
# Roles that reply to buyers: the ones a conversation may be assigned to.
AGENT_ROLES = tuple(role for role, rights in MATRIX.items() if "c" in rights.get("messages", ""))


def allowed(role: str, resource: str, action: Action) -> bool:
    """Whether `role` may do `action` on `resource`; an unknown role or resource may do nothing."""
    letters = MATRIX.get(role, {}).get(resource, "")
    return any(_LETTERS[letter] == action for letter in letters)


def permissions(role: str) -> dict[str, list[str]]:
    """The role's rights as `{resource: [actions]}`, for the API and the page."""
    return {resource: [_LETTERS[letter] for letter in letters] for resource, letters in MATRIX.get(role, {}).items()}


def _check() -> None:
    for role, rights in MATRIX.items():
        for resource, letters in rights.items():
            if resource not in RESOURCES or set(letters) - set(_LETTERS):
                raise ValueError(f"permission matrix: bad entry {role}.{resource} = {letters!r}")


_check()
