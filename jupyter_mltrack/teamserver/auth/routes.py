"""REST routes for users, tokens and permissions (MLflow's basic-auth routes, and ours).

MLflow 2.x (``/api/2.0/mlflow/...``, also under ``/ajax-api``): ``users/create``,
``users/get``, ``users/current``, ``users/list``, ``users/update-password``,
``users/update-admin``, ``users/delete``, ``experiments/permissions/create|get|update|delete``.
MLflow 3 (``/api/3.0/mlflow/...``, what ``mlflow.server.get_app_client("basic-auth")``
of MLflow 3.17 calls): ``users/permissions/grant|revoke|get|list``. Ours:
``/api/2.0/mltrack/tokens/create|revoke|list``.

Who may call what: administrators everything; a user may read themself, change their
own password (with ``current_password``), create and revoke their own tokens, and manage
the permissions of an experiment they have MANAGE on. Errors use MLflow's JSON shape.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import asdict
from typing import Any

import tornado.web

from ...errors import InvalidParameter, MltrackError, NotFound
from .guard import PermissionDenied, Policy, Principal, current_principal, missing_experiment
from .store import AuthStore, User, permission

__all__ = ["auth_routes"]

log = logging.getLogger("jupyter_mltrack.teamserver.auth")


class AuthHandler(tornado.web.RequestHandler):
    store: AuthStore
    policy: Policy

    def initialize(self, store: AuthStore, policy: Policy) -> None:
        self.store = store
        self.policy = policy

    @property
    def who(self) -> Principal:
        who = current_principal.get()
        if who is None:  # the gate lets no request through without one
            raise tornado.web.HTTPError(401)
        return who

    def admin(self) -> None:
        if not self.who.is_admin:
            raise PermissionDenied("Only administrators may do this.")

    def admin_or_self(self, username: str) -> None:
        if not (self.who.is_admin or self.who.username == username):
            raise PermissionDenied("Only administrators may do this for another user.")

    def field(self, name: str, *, required: bool = True) -> Any:
        if self.request.method == "GET":
            value: Any = self.get_query_argument(name, None)
        else:
            try:
                body = json.loads(self.request.body or b"{}")
            except ValueError:
                raise InvalidParameter("The request body is not valid JSON.") from None
            if not isinstance(body, dict):
                raise InvalidParameter("The request body must be a JSON object.")
            value = body.get(name)
            if value is None:
                value = self.get_query_argument(name, None)
        if required and (value is None or value == ""):
            raise InvalidParameter(f"Missing value for required parameter '{name}'.")
        return value

    def reply(self, body: Any) -> None:
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(body))

    def user_json(self, user: User) -> dict[str, Any]:
        grants = self.store.list_permissions(user.username)
        return {
            "id": user.id,
            "username": user.username,
            "is_admin": user.is_admin,
            "experiment_permissions": [
                {
                    "experiment_id": g["resource_id"],
                    "user_id": user.id,
                    "permission": g["permission"],
                }
                for g in grants
                if g["resource_type"] == "experiment"
            ],
            "registered_model_permissions": [
                {"name": g["resource_id"], "user_id": user.id, "permission": g["permission"]}
                for g in grants
                if g["resource_type"] == "registered_model"
            ],
        }

    def manage_experiment(self, experiment_id: str) -> None:
        level = self.policy.level(self.who, experiment_id)
        if not level.can_read:
            raise missing_experiment(experiment_id)
        if not level.can_manage:
            raise PermissionDenied(
                f"User {self.who.username!r} may not manage permissions of experiment "
                f"{experiment_id!r} (permission {level.name})."
            )

    def manage_model(self, name: str) -> None:
        """MANAGE on the registered model ``name``; a model the caller may not read
        answers as a missing one would (the registry's own NotFound text is not known
        here, so the message names only the model)."""
        level = self.policy.model_level(self.who, name)
        if not level.can_read:
            raise NotFound(f"No registered model named {name!r}.")
        if not level.can_manage:
            raise PermissionDenied(
                f"User {self.who.username!r} may not manage permissions of registered model "
                f"{name!r} (permission {level.name})."
            )

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(exc, MltrackError):
            status = 404 if isinstance(exc, NotFound) else exc.http_status
            body = {"error_code": exc.code, "message": exc.message}
        else:
            status = status_code
            body = {
                "error_code": "INTERNAL_ERROR" if status >= 500 else "BAD_REQUEST",
                "message": self._reason,
            }
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(body))

    def log_exception(self, typ: Any, value: Any, tb: Any) -> None:
        if not isinstance(value, MltrackError | tornado.web.HTTPError):
            super().log_exception(typ, value, tb)


class CreateUser(AuthHandler):
    async def post(self) -> None:
        self.admin()
        username, password = self.field("username"), self.field("password")
        user = await asyncio.to_thread(self.store.create_user, username, password)
        log.info("auth: %r created user %r", self.who.username, user.username)
        self.reply({"user": self.user_json(user)})


class GetUser(AuthHandler):
    async def get(self) -> None:
        username = self.field("username")
        self.admin_or_self(username)
        user = self.store.get_user(username)
        if user is None:
            raise NotFound(f"No user named {username!r}.")
        self.reply({"user": self.user_json(user)})


class CurrentUser(AuthHandler):
    async def get(self) -> None:
        user = self.store.get_user_by_id(self.who.user_id)
        assert user is not None
        self.reply({"user": self.user_json(user)})


class ListUsers(AuthHandler):
    async def get(self) -> None:
        self.admin()
        self.reply({"users": [self.user_json(u) for u in self.store.list_users()]})


class UpdatePassword(AuthHandler):
    async def patch(self) -> None:
        username, password = self.field("username"), self.field("password")
        self.admin_or_self(username)
        if not self.who.is_admin:
            current = self.field("current_password", required=False)
            user = self.store.get_user(username)
            if (
                user is None
                or not isinstance(current, str)
                or not await asyncio.to_thread(self.store.verify_password, user, current)
            ):
                raise PermissionDenied("Changing your own password needs current_password.")
        await asyncio.to_thread(self.store.set_password, username, password)
        log.info("auth: %r set the password of %r", self.who.username, username)
        self.reply({})


class UpdateAdmin(AuthHandler):
    async def patch(self) -> None:
        self.admin()
        is_admin = self.field("is_admin")
        if not isinstance(is_admin, bool):
            is_admin = str(is_admin).lower() == "true"
        self.store.set_admin(self.field("username"), is_admin)
        self.reply({})


class DeleteUser(AuthHandler):
    async def delete(self) -> None:
        self.admin()
        username = self.field("username")
        if username == self.who.username:
            raise InvalidParameter("You cannot delete yourself; ask another administrator.")
        self.store.delete_user(username)
        log.info("auth: %r deleted user %r", self.who.username, username)
        self.reply({})


class ExperimentPermission(AuthHandler):
    """MLflow 2.x ``experiments/permissions/<create|get|update|delete>``."""

    def _target(self) -> tuple[str, str, User]:
        experiment_id = str(self.field("experiment_id"))
        username = self.field("username")
        self.manage_experiment(experiment_id)
        user = self.store.get_user(username)
        if user is None:
            raise NotFound(f"No user named {username!r}.")
        return experiment_id, username, user

    def _grant(self) -> None:
        experiment_id, username, user = self._target()
        level = permission(self.field("permission")).name
        self.store.grant(username, "experiment", experiment_id, level)
        log.info(
            "auth: %r granted %s on experiment %s to %r",
            self.who.username,
            level,
            experiment_id,
            username,
        )
        self.reply(
            {
                "experiment_permission": {
                    "experiment_id": experiment_id,
                    "user_id": user.id,
                    "permission": level,
                }
            }
        )

    async def post(self) -> None:
        self._grant()

    async def patch(self) -> None:
        self._grant()

    async def get(self) -> None:
        experiment_id, username, user = self._target()
        level = self.store.granted(user.id, "experiment", experiment_id)
        if level is None:
            raise NotFound(f"User {username!r} has no permission on experiment {experiment_id!r}.")
        self.reply(
            {
                "experiment_permission": {
                    "experiment_id": experiment_id,
                    "user_id": user.id,
                    "permission": level,
                }
            }
        )

    async def delete(self) -> None:
        experiment_id, username, _user = self._target()
        self.store.revoke(username, "experiment", experiment_id)
        log.info(
            "auth: %r revoked experiment %s from %r", self.who.username, experiment_id, username
        )
        self.reply({})


class RegisteredModelPermission(AuthHandler):
    """MLflow 2.x ``registered-models/permissions/<create|get|update|delete>`` (``name``,
    ``username``, ``permission``)."""

    def _target(self) -> tuple[str, str, User]:
        name = str(self.field("name"))
        username = self.field("username")
        self.manage_model(name)
        user = self.store.get_user(username)
        if user is None:
            raise NotFound(f"No user named {username!r}.")
        return name, username, user

    def _answer(self, name: str, user: User, level: str) -> None:
        self.reply(
            {
                "registered_model_permission": {
                    "name": name,
                    "user_id": user.id,
                    "permission": level,
                }
            }
        )

    async def post(self) -> None:
        name, username, user = self._target()
        level = permission(self.field("permission")).name
        self.store.grant(username, "registered_model", name, level)
        log.info("auth: %r granted %s on model %r to %r", self.who.username, level, name, username)
        self._answer(name, user, level)

    patch = post

    async def get(self) -> None:
        name, username, user = self._target()
        level = self.store.granted(user.id, "registered_model", name)
        if level is None:
            raise NotFound(f"User {username!r} has no permission on registered model {name!r}.")
        self._answer(name, user, level)

    async def delete(self) -> None:
        name, username, _user = self._target()
        self.store.revoke(username, "registered_model", name)
        log.info("auth: %r revoked model %r from %r", self.who.username, name, username)
        self.reply({})


class UserPermission(AuthHandler):
    """MLflow 3 ``users/permissions/<grant|revoke|get|list>`` (the ``action`` init kwarg)."""

    def initialize(self, store: AuthStore, policy: Policy, action: str = "get") -> None:
        super().initialize(store, policy)
        self.action = action

    def _resource(self) -> tuple[str, str, str]:
        username = self.field("username")
        resource_type = self.field("resource_type")
        resource_id = str(self.field("resource_id"))
        if resource_type == "experiment":
            self.manage_experiment(resource_id)
        elif resource_type == "registered_model":
            self.manage_model(resource_id)
        else:
            self.admin()
        return username, resource_type, resource_id

    async def post(self) -> None:
        username, resource_type, resource_id = self._resource()
        if self.action == "grant":
            level = permission(self.field("permission")).name
            self.store.grant(username, resource_type, resource_id, level)
            log.info(
                "auth: %r granted %s on %s %s to %r",
                self.who.username,
                level,
                resource_type,
                resource_id,
                username,
            )
        elif self.action == "revoke":
            self.store.revoke(username, resource_type, resource_id)
            log.info(
                "auth: %r revoked %s %s from %r",
                self.who.username,
                resource_type,
                resource_id,
                username,
            )
        else:
            raise tornado.web.HTTPError(405)
        self.reply({})

    async def get(self) -> None:
        if self.action == "list":
            username = self.field("username")
            self.admin_or_self(username)
            user = self.store.get_user(username)
            if user is None:
                raise NotFound(f"No user named {username!r}.")
            rows = [
                {
                    "resource_type": g["resource_type"],
                    "resource_id": g["resource_id"],
                    "permission": g["permission"],
                }
                for g in self.store.list_permissions(username)
            ]
            self.reply({"is_admin": user.is_admin, "permissions": rows})
            return
        if self.action != "get":
            raise tornado.web.HTTPError(405)
        username, resource_type, resource_id = self._resource()
        user = self.store.get_user(username)
        if user is None:
            raise NotFound(f"No user named {username!r}.")
        if resource_type in ("experiment", "registered_model"):
            who = Principal(user.id, user.username, user.is_admin)
            level = (
                self.policy.level(who, resource_id)
                if resource_type == "experiment"
                else self.policy.model_level(who, resource_id)
            )
            self.reply({"allowed": level.can_read, "permission": level.name})
        else:
            granted = self.store.granted(user.id, resource_type, resource_id) or "NO_PERMISSIONS"
            self.reply({"allowed": permission(granted).can_read, "permission": granted})


class Tokens(AuthHandler):
    """Ours: ``/api/2.0/mltrack/tokens/<create|revoke|list>``."""

    def initialize(self, store: AuthStore, policy: Policy, action: str = "list") -> None:
        super().initialize(store, policy)
        self.action = action

    async def post(self) -> None:
        if self.action == "create":
            username = self.field("username", required=False) or self.who.username
            self.admin_or_self(username)
            days = self.field("expires_in_days", required=False)
            if days is None:
                days = 90
            if not isinstance(days, int | float) or isinstance(days, bool) or days < 0:
                raise InvalidParameter("expires_in_days must be a number >= 0 (0: never expires).")
            expires = None if days == 0 else int((time.time() + days * 86400) * 1000)
            name = self.field("name", required=False) or ""
            token, info = self.store.create_token(username, name, expires)
            log.info("auth: %r created token %s for %r", self.who.username, info.id, username)
            self.reply({"token": token, "token_info": asdict(info)})
        elif self.action == "revoke":
            token_id = str(self.field("token_id"))
            found = self.store.get_token(token_id)
            if found is None or not (self.who.is_admin or found.username == self.who.username):
                raise NotFound(f"No token with id {token_id!r}.")
            info = self.store.revoke_token(token_id)
            log.info("auth: %r revoked token %s", self.who.username, token_id)
            self.reply({"token_info": asdict(info)})
        else:
            raise tornado.web.HTTPError(405)

    async def get(self) -> None:
        if self.action != "list":
            raise tornado.web.HTTPError(405)
        username = None if self.who.is_admin else self.who.username
        wanted = self.get_query_argument("username", None)
        if wanted is not None:
            self.admin_or_self(wanted)
            username = wanted
        self.reply({"tokens": [asdict(t) for t in self.store.list_tokens(username)]})


def auth_routes(
    store: AuthStore, policy: Policy
) -> list[tuple[str, type[tornado.web.RequestHandler], dict[str, Any]]]:
    """The routes above, under ``/api`` and ``/ajax-api``."""
    kw: dict[str, Any] = {"store": store, "policy": policy}
    routes: list[tuple[str, type[tornado.web.RequestHandler], dict[str, Any]]] = []
    for api in ("/api", "/ajax-api"):
        v2 = f"{api}/2.0/mlflow"
        routes += [
            (f"{v2}/users/create", CreateUser, kw),
            (f"{v2}/users/get", GetUser, kw),
            (f"{v2}/users/current", CurrentUser, kw),
            (f"{v2}/users/list", ListUsers, kw),
            (f"{v2}/users/update-password", UpdatePassword, kw),
            (f"{v2}/users/update-admin", UpdateAdmin, kw),
            (f"{v2}/users/delete", DeleteUser, kw),
            (
                f"{v2}/experiments/permissions/(?:create|get|update|delete)",
                ExperimentPermission,
                kw,
            ),
            (
                f"{v2}/registered-models/permissions/(?:create|get|update|delete)",
                RegisteredModelPermission,
                kw,
            ),
        ]
        for action in ("grant", "revoke", "get", "list"):
            routes.append(
                (
                    f"{api}/3.0/mlflow/users/permissions/{action}",
                    UserPermission,
                    {**kw, "action": action},
                )
            )
        for action in ("create", "revoke", "list"):
            routes.append((f"{api}/2.0/mltrack/tokens/{action}", Tokens, {**kw, "action": action}))
    return routes
