"""What the SDK hands to callbacks: :class:`ConfigValue`, and the rule deciding which value is newer."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ConfigValue:
    """One value of a config as a client sees it (``content`` None: the config was deleted)."""

    namespace: str
    group: str
    data_id: str
    content: str | None
    md5: str = ""
    version: int = 0
    type: str = "text"
    beta: bool = False

    def deleted(self) -> "ConfigValue":
        """The deletion of this value (keeps the version so that older values stay older)."""
        return dataclasses.replace(self, content=None, md5="", beta=False)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "ConfigValue":
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


def is_newer(new: ConfigValue, old: ConfigValue | None) -> bool:
    """Whether ``new`` should be delivered after ``old``.

    A higher version always wins; a lower one never does (no stale value after a newer one); at the
    same version a different MD5 or beta flag is a gray-release switch (or a deletion) and is delivered.
    """
    if old is None:
        return new.content is not None
    if new.version != old.version:
        return new.version > old.version
    return (new.md5, new.beta, new.content is None) != (old.md5, old.beta, old.content is None)
