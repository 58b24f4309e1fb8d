"""The platform's secrets, and demo mode: the one place that decides whether a public development value may be used.

Four settings are secrets (docs: Operations, Secrets): the pseudonym key, the API's token signing key, the API's
clients file and the web's session secret. Each can be given in its environment variable or, for a Docker or
Kubernetes secret, in a file named by `<VARIABLE>_FILE`. Outside demo mode a missing secret, an empty one, a
placeholder ("change-me", ...) or the public development value itself is refused by name, with how to provide one.
Demo mode (`DTSEN_DEMO=1`, which `make run`, `make ui`, `make serve`, `make web` and the tests set) allows the
public development values, and every server, page and run then says so.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

DEMO_ENV = "DTSEN_DEMO"
DEMO_NOTICE = "DEMO MODE (DTSEN_DEMO=1): public development keys and secrets are in use; never with real data"
# what a template or a careless copy leaves in a secret's place
PLACEHOLDER = re.compile(
    r"^\s*(change[-_ ]?me\b.*|changeit|replace[-_ ]?me\b.*|secret|password|passw0rd|todo|tbd|none|null|x+|\*+|<.*>|\$\{.*\})\s*$",
    re.IGNORECASE,
)


class SecretError(RuntimeError):
    """A secret the platform refuses to run without (its message names the setting and how to provide it)."""


@dataclass(frozen=True)
class Secret:
    env: str  # the environment variable; `<env>_FILE` names a file holding the value instead
    purpose: str  # what it protects, for the refusal
    how: str  # how to make one
    development: str  # the public development value (a path, for a file-valued secret)
    file_valued: bool = False  # the variable names the secret's file itself (a key or a clients file)

    @property
    def file_env(self) -> str:
        return f"{self.env}_FILE"


def demo_mode() -> bool:
    return os.environ.get(DEMO_ENV, "") == "1"


def _refuse(secret: Secret, problem: str) -> SecretError:
    where = (
        f"Set {secret.env} to the file (a Docker or Kubernetes secret can be mounted there)"
        if secret.file_valued
        else f"Set {secret.env}, or {secret.file_env} to a file holding it (a Docker or Kubernetes secret)"
    )
    return SecretError(
        f"{secret.env} {problem}: it {secret.purpose}. {where}; {secret.how}. Outside a demo the platform never "
        f"falls back to a public development value ({DEMO_ENV}=1 allows it, for demos and tests only)."
    )


def read(secret: Secret, value: str | None = None) -> tuple[str, bool]:
    """The secret's value (for a file-valued secret: its file's path) and whether it is the public development one
    (only ever in demo mode). `value` stands in for the environment's (a path a configuration file names)."""
    if secret.file_valued:
        return _read_file_valued(secret, value)
    value = os.environ.get(secret.env, "")
    source = secret.env
    path = os.environ.get(secret.file_env, "")
    if path:
        try:
            with open(path, encoding="utf-8") as f:
                value = f.read().strip()
        except OSError as e:
            raise SecretError(f"{secret.file_env}={path}: cannot read the secret ({e.strerror})") from None
        source = secret.file_env
    if not value.strip():
        if demo_mode():
            return secret.development, True
        raise _refuse(secret, "is not set" if not path else f"is empty (the file in {secret.file_env})")
    if PLACEHOLDER.match(value):
        raise _refuse(secret, f"holds a placeholder, not a secret (from {source})")
    if value == secret.development and not demo_mode():
        raise _refuse(secret, "is the public development value shipped in the repository")
    return value, value == secret.development


def _read_file_valued(secret: Secret, value: str | None) -> tuple[str, bool]:
    path = value or os.environ.get(secret.env, "")
    if not path.strip():
        if demo_mode():
            return secret.development, True
        raise _refuse(secret, "is not set")
    if PLACEHOLDER.match(path):
        raise _refuse(secret, f"holds a placeholder, not a file ({path!r})")
    development = os.path.realpath(path) == os.path.realpath(secret.development)
    if development and not demo_mode():
        raise _refuse(secret, "names the public development file shipped in the repository")
    if not os.path.isfile(path):
        raise _refuse(secret, f"names {path}, which is not a readable file")
    return path, development


def require(*secrets: Secret) -> list[str]:
    """Check every secret a process needs before it starts; returns the warnings of demo mode (none outside it).
    Raises SecretError naming every secret that is refused."""
    problems, notes = [], []
    for s in secrets:
        try:
            _, development = read(s)
        except SecretError as e:
            problems.append(str(e))
            continue
        if development:
            notes.append(f"{s.env}: the public development value is in use ({DEMO_ENV}=1)")
    if problems:
        raise SecretError("\n".join(problems))
    return notes


def all_of(*checks):
    """Run every check; when any refuses a secret, raise one SecretError naming every refusal (so a server that
    cannot start says everything it misses at once). Returns the checks' results."""
    results, problems = [], []
    for check in checks:
        try:
            results.append(check())
        except SecretError as e:
            problems.append(str(e))
    if problems:
        raise SecretError("\n".join(problems))
    return results
