"""Projects: a repository registered on the server, the unit webhooks and runs belong to.

:class:`ProjectService` is published as ``ctx.services["projects"]``. A
:class:`Project` never carries its webhook secret, credentials or secret
values: those stay sealed in SQL and come out only through
:meth:`ProjectService.webhook_secret_of`, :meth:`~ProjectService.secrets_of`
and :meth:`~ProjectService.credentials_of` (for the webhook receiver and the
pipeline engine, never for API output).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import fnmatch
import json
import re
import secrets as pysecrets
from typing import Any, Iterable

from sqlalchemy import bindparam, select

from shipway.core.errors import Conflict, NotFound, ValidationFailed
from shipway.core.store import Store, utcnow
from shipway.pipelines.project_models import ProjectRow, Sealer

NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")
SECRET_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
CREDENTIAL_KEYS = frozenset({"username", "password", "token", "ssh_key"})
_SCP_RE = re.compile(r"^[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:[^\s]+$")
_URL_SCHEMES = ("http://", "https://", "ssh://", "git://", "file://")
UPDATABLE = frozenset({"repo_url", "branches", "pipeline_file", "default_pipeline", "notify_url",
                       "credentials", "secrets", "webhook_secret", "status_api"})
MAX_DEFAULT_PIPELINE = 256 * 1024


@dataclasses.dataclass(frozen=True)
class Project:
    """A registered project (no secret material: safe to log, print and serialise)."""

    name: str
    repo_url: str
    branches: tuple[str, ...]
    pipeline_file: str
    default_pipeline: str | None
    notify_url: str | None
    created_at: dt.datetime
    updated_at: dt.datetime | None = None
    secret_names: tuple[str, ...] = ()     # names usable with from_secret (values never here)
    has_credentials: bool = False
    status_api: str | None = None          # e.g. https://api.github.com/repos/team/app (commit statuses)

    def allows_branch(self, branch: str) -> bool:
        """Whether pushes to ``branch`` may start runs (``branches`` are fnmatch globs)."""
        return any(fnmatch.fnmatchcase(branch, pat) for pat in self.branches)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["branches"] = list(self.branches)
        d["secret_names"] = list(self.secret_names)
        d["created_at"] = self.created_at.isoformat() if self.created_at else None
        d["updated_at"] = self.updated_at.isoformat() if self.updated_at else None
        return d


def new_webhook_secret() -> str:
    """A fresh random webhook secret (256 bits, URL-safe)."""
    return pysecrets.token_urlsafe(32)


# -- validation (every error collected with its field path) -------------------
def _check_repo_url(v: Any, errors: list) -> None:
    if not isinstance(v, str) or not v.strip():
        errors.append({"path": "repo_url", "message": "repo_url is required"})
        return
    # A leading '-' would be read by git as an option; whitespace and control chars are never valid.
    if v.startswith("-") or any(c.isspace() or ord(c) < 32 for c in v) or len(v) > 2048:
        errors.append({"path": "repo_url", "message": "repo_url must be a URL without spaces or control "
                                                      "characters and must not start with '-'"})
        return
    if not (v.startswith(_URL_SCHEMES) or _SCP_RE.match(v) or v.startswith("/")):
        errors.append({"path": "repo_url", "message": "repo_url must be http(s)://, ssh://, git://, file://, "
                                                      "user@host:path or an absolute path"})


def _check_fields(fields: dict[str, Any], errors: list) -> None:
    if "repo_url" in fields:
        _check_repo_url(fields["repo_url"], errors)
    if "branches" in fields:
        b = fields["branches"]
        if isinstance(b, str) or not isinstance(b, (list, tuple)) or not b or \
                not all(isinstance(x, str) and x.strip() and len(x) <= 255 for x in b):
            errors.append({"path": "branches", "message": "branches must be a non-empty list of glob patterns "
                                                          "(e.g. [\"main\", \"release/*\"])"})
    if "pipeline_file" in fields:
        p = fields["pipeline_file"]
        parts = p.split("/") if isinstance(p, str) else []
        if not isinstance(p, str) or not p or p.startswith("/") or ".." in parts or "\\" in p or "\0" in p:
            errors.append({"path": "pipeline_file", "message": "pipeline_file must be a relative path inside "
                                                               "the repository (no '..', not absolute)"})
    dp = fields.get("default_pipeline")
    if dp is not None and (not isinstance(dp, str) or len(dp) > MAX_DEFAULT_PIPELINE):
        errors.append({"path": "default_pipeline", "message": "default_pipeline must be YAML text up to 256 KiB"})
    for key in ("notify_url", "status_api"):
        u = fields.get(key)
        if u is not None and u != "" and (not isinstance(u, str) or not u.startswith(("http://", "https://"))
                                          or any(c.isspace() for c in u)):
            errors.append({"path": key, "message": f"{key} must be an http:// or https:// URL"})
    ws = fields.get("webhook_secret")
    if ws is not None and (not isinstance(ws, str) or len(ws) < 16 or len(ws) > 256):
        errors.append({"path": "webhook_secret", "message": "webhook_secret must be 16 to 256 characters"})
    cred = fields.get("credentials")
    if cred is not None:
        if not isinstance(cred, dict):
            errors.append({"path": "credentials", "message": "credentials must be an object"})
        else:
            for k, val in cred.items():
                if k not in CREDENTIAL_KEYS:
                    errors.append({"path": f"credentials.{k}",
                                   "message": f"unknown key; use {', '.join(sorted(CREDENTIAL_KEYS))}"})
                elif not isinstance(val, str):
                    errors.append({"path": f"credentials.{k}", "message": "must be a string"})
    sec = fields.get("secrets")
    if sec is not None:
        if not isinstance(sec, dict):
            errors.append({"path": "secrets", "message": "secrets must be an object of NAME: value"})
        else:
            for k, val in sec.items():
                if not SECRET_NAME_RE.match(str(k)):
                    errors.append({"path": f"secrets.{k}", "message": "secret names are letters, digits and _ "
                                                                      "and do not start with a digit"})
                elif not isinstance(val, str):
                    errors.append({"path": f"secrets.{k}", "message": "must be a string"})


def validate(fields: dict[str, Any], *, name: str | None = None) -> None:
    """Raise :class:`ValidationFailed` listing every bad field."""
    errors: list[dict[str, Any]] = []
    if name is not None and (not isinstance(name, str) or not NAME_RE.match(name)):
        errors.append({"path": "name", "message": "name must be 1-63 of a-z, 0-9, '.', '_', '-' and start with "
                                                  "a letter or digit"})
    _check_fields(fields, errors)
    if errors:
        raise ValidationFailed(f"invalid project: {errors[0]['path']}: {errors[0]['message']}", errors)


# Built once (see statements.py). _BY_NAME reads the row without the ORM (a Core row has the same attribute
# names): the hot paths read a project for every run and every webhook delivery and never change it.
_EXISTS = select(ProjectRow.name).where(ProjectRow.name == bindparam("b_name"))
_BY_NAME = select(ProjectRow.__table__).where(ProjectRow.__table__.c.name == bindparam("b_name"))


class ProjectService:
    """Projects in the SQL store; ``ctx.services["projects"]``."""

    def __init__(self, store: Store, secret_key: str, notifier=None) -> None:
        self.store = store
        self.sealer = Sealer(secret_key)
        self.notifier = notifier

    # -- reading -----------------------------------------------------------
    def _row(self, s, name: str) -> ProjectRow:
        row = s.get(ProjectRow, name) if isinstance(name, str) else None
        if row is None:
            raise NotFound(f"project '{name}' does not exist; add it with `shipway project add`",
                           details={"project": name})
        return row

    def _read(self, s, name: str):
        """The project's row, read-only (:data:`_BY_NAME`); :class:`NotFound` if there is none."""
        row = s.connection().execute(_BY_NAME, {"b_name": name}).first() if isinstance(name, str) else None
        return row if row is not None else self._row(s, name)  # (raises the usual NotFound)

    def require(self, s, name: str) -> None:
        """Raise :class:`NotFound` unless project ``name`` exists (inside the caller's session ``s``)."""
        if s.execute(_EXISTS, {"b_name": name}).first() is None:
            self._row(s, name)  # raises the usual NotFound

    @staticmethod
    def _project(row: ProjectRow) -> Project:
        return Project(name=row.name, repo_url=row.repo_url, branches=tuple(json.loads(row.branches)),
                       pipeline_file=row.pipeline_file, default_pipeline=row.default_pipeline,
                       notify_url=row.notify_url, created_at=_aware(row.created_at),
                       updated_at=_aware(row.updated_at), secret_names=tuple(json.loads(row.secret_names)),
                       has_credentials=bool(row.credentials), status_api=row.status_api)

    def get(self, name: str) -> Project:
        """The project called ``name``; :class:`NotFound` if there is none."""
        with self.store.session() as s:
            return self._project(self._row(s, name))

    def list(self) -> list[Project]:
        """Every project, by name."""
        with self.store.session() as s:
            return [self._project(r) for r in s.scalars(select(ProjectRow).order_by(ProjectRow.name))]

    def webhook_secret_of(self, name: str) -> str:
        """The project's webhook secret (for signature checks; never log or return it from an API)."""
        with self.store.session() as s:
            return self.sealer.open(self._row(s, name).webhook_secret)

    def with_webhook_secret(self, name: str) -> tuple[Project, str]:
        """The project and its webhook secret in one read (the webhook receiver's hot path)."""
        with self.store.session() as s:
            row = self._read(s, name)
            return self._project(row), self.sealer.open(row.webhook_secret)

    def secrets_of(self, name: str) -> dict[str, str]:
        """``from_secret`` values of the project."""
        with self.store.session() as s:
            return self.sealer.open_json(self._row(s, name).secrets)

    def for_run(self, name: str) -> tuple[Project, dict[str, str], dict]:
        """The project, its secrets and its git credentials in one read (what a starting run needs)."""
        with self.store.session() as s:
            row = self._read(s, name)
            return (self._project(row), self.sealer.open_json(row.secrets),
                    self.sealer.open_json(row.credentials) if row.credentials else {})

    def credentials_of(self, name: str) -> dict:
        """Git credentials of the project (``username``/``password``/``token``/``ssh_key``), or ``{}``."""
        with self.store.session() as s:
            row = self._row(s, name)
            return self.sealer.open_json(row.credentials) if row.credentials else {}

    # -- writing -----------------------------------------------------------
    def add(self, name: str, repo_url: str, *, webhook_secret: str | None = None,
            branches: Iterable[str] = ("*",), pipeline_file: str = ".shipway.yml",
            default_pipeline: str | None = None, credentials: dict | None = None,
            secrets: dict | None = None, notify_url: str | None = None,
            status_api: str | None = None) -> Project:
        """Register a project; a webhook secret is generated when none is given.

        ``status_api`` (optional) is the forge's repository API URL
        (``https://api.github.com/repos/OWNER/REPO`` or ``https://gitea.host/api/v1/repos/OWNER/REPO``):
        when set, run results are reported as commit statuses with ``credentials["token"]``.
        """
        branches = list(branches) if not isinstance(branches, str) else branches
        fields = {"repo_url": repo_url, "branches": branches, "pipeline_file": pipeline_file,
                  "default_pipeline": default_pipeline, "notify_url": notify_url, "credentials": credentials,
                  "secrets": secrets, "webhook_secret": webhook_secret, "status_api": status_api}
        validate(fields, name=name)
        now = utcnow()
        row = ProjectRow(name=name, repo_url=repo_url, branches=json.dumps(list(branches)),
                         pipeline_file=pipeline_file, default_pipeline=default_pipeline,
                         notify_url=notify_url or None, status_api=status_api or None,
                         webhook_secret=self.sealer.seal(webhook_secret or new_webhook_secret()),
                         credentials=self.sealer.seal_json(credentials) if credentials else "",
                         secrets=self.sealer.seal_json(secrets), secret_names=json.dumps(sorted(secrets or {})),
                         created_at=now, updated_at=now)
        from sqlalchemy.exc import IntegrityError
        try:
            with self.store.session() as s:
                if s.get(ProjectRow, name) is not None:
                    raise Conflict(f"project '{name}' already exists", details={"project": name})
                s.add(row)
        except IntegrityError:
            raise Conflict(f"project '{name}' already exists", details={"project": name}) from None
        return self._project(row)

    def update(self, name: str, /, **fields: Any) -> Project:
        """Change some fields (see :data:`UPDATABLE`); ``credentials``/``secrets`` replace the whole set."""
        unknown = sorted(set(fields) - UPDATABLE)
        if unknown:
            raise ValidationFailed(f"cannot update {', '.join(unknown)}",
                                   [{"path": k, "message": "not an updatable field"} for k in unknown])
        validate(fields)
        with self.store.session() as s:
            row = self._row(s, name)
            for key, value in fields.items():
                if key == "branches":
                    row.branches = json.dumps(list(value))
                elif key == "webhook_secret":
                    row.webhook_secret = self.sealer.seal(value)
                elif key == "credentials":
                    row.credentials = self.sealer.seal_json(value) if value else ""
                elif key == "secrets":
                    row.secrets = self.sealer.seal_json(value)
                    row.secret_names = json.dumps(sorted(value or {}))
                elif key in ("notify_url", "status_api"):
                    setattr(row, key, value or None)
                else:
                    setattr(row, key, value)
            row.updated_at = utcnow()
            return self._project(row)

    def rotate_webhook_secret(self, name: str) -> str:
        """Replace the webhook secret with a new random one and return it (show it once)."""
        secret = new_webhook_secret()
        self.update(name, webhook_secret=secret)
        return secret

    def remove(self, name: str) -> None:
        """Delete the project (its runs' history stays with the pipelines part)."""
        with self.store.session() as s:
            s.delete(self._row(s, name))

    # -- outgoing notifications ---------------------------------------------
    def notify(self, name: str, event: str, payload: dict) -> None:
        """POST ``payload`` to the project's ``notify_url`` in the background (never raises)."""
        if self.notifier is not None:
            self.notifier.notify(self, name, event, payload)

    def report_status(self, name: str, *, commit: str, state: str, target_url: str = "",
                      description: str = "") -> None:
        """Report a run state (queued/running/succeeded/failed/...) as a commit status, in the background."""
        if self.notifier is not None:
            self.notifier.report_status(self, name, commit=commit, state=state, target_url=target_url,
                                        description=description)


def _aware(t: dt.datetime | None) -> dt.datetime | None:
    # SQLite hands back naive datetimes; they were stored in UTC.
    if t is not None and t.tzinfo is None:
        return t.replace(tzinfo=dt.timezone.utc)
    return t
