"""Where credentials and the API URL come from, and how the CLI saves them.

Resolution order (the seed's promise):
  session id: $OBSERVABLE_CODE_API_KEY, then $OBSERVABLE_CODE_SESSION_ID,
              then the file's "session_id"
  API URL:    $OBSERVABLE_CODE_API_URL, then the file's "api_url", then
              http://localhost:3000

The file, the keys and the variables are those of the published
`observable-code` SDK on PyPI (0.1.x and 0.2.0), so a project can switch
between the two without touching its settings: a file either one writes,
the other reads. OBSERVABLE_CODE_API_KEY comes first because that is the
published 0.2.0's order; a process that has both variables then posts to
the same session whichever SDK it imports.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Dict, Mapping, NamedTuple, Optional

DEFAULT_API_URL = "http://localhost:3000"
SESSION_ENV = "OBSERVABLE_CODE_SESSION_ID"
# The published SDK's name for a credential; to this server it is a session key.
API_KEY_ENV = "OBSERVABLE_CODE_API_KEY"
SESSION_ENVS = (API_KEY_ENV, SESSION_ENV)
API_URL_ENV = "OBSERVABLE_CODE_API_URL"


class ConfigError(Exception):
    """The config file exists but cannot be read or parsed."""


class Settings(NamedTuple):
    session_id: Optional[str]
    api_url: str
    # Where each value came from: "env", "file" or "default"/"none".
    session_source: str
    api_url_source: str
    # Set when the config file exists but could not be used.
    config_error: Optional[str]
    # The variable the session id came from, when session_source is "env".
    session_env: Optional[str] = None


def config_dir() -> Path:
    return Path.home() / ".observable-code"


def config_path() -> Path:
    return config_dir() / "config.json"


def read_config(path: Optional[Path] = None) -> Dict[str, Any]:
    """Return the config file's object, {} when there is no file.

    Raises ConfigError when the file exists but is unreadable or malformed.
    """
    path = path or config_path()
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as e:
        raise ConfigError(f"cannot read {path}: {e}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path} does not hold a JSON object")
    return data


def write_private(path: Path, data: bytes) -> None:
    """Write a file readable by its owner only, atomically: a reader sees
    the old content or the new, never a part."""
    import tempfile  # only the CLI writes; the SDK's import stays light

    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}-", suffix=".tmp", dir=str(path.parent))
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def write_config(session_id: str, api_url: str, path: Optional[Path] = None) -> Path:
    """Save the session id and API URL atomically: directory 0700, file 0600.

    Other keys the file holds (the published SDK's, the user's) are kept, as
    the published SDK's own save() keeps ours."""
    path = path or config_path()
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)
    try:
        data = read_config(path)
    except ConfigError:
        data = {}  # setup has kept the unreadable file beside it
    data.update(session_id=session_id, api_url=api_url)
    body = json.dumps(data, indent=2) + "\n"
    write_private(path, body.encode("utf-8"))
    return path


def resolve(environ: Optional[Mapping[str, str]] = None) -> Settings:
    """Resolve the session id and API URL; never raises."""
    env = os.environ if environ is None else environ
    config_error = None
    try:
        data = read_config()
    except ConfigError as e:
        data, config_error = {}, str(e)
    except Exception as e:  # e.g. no home directory at all
        data, config_error = {}, f"cannot locate the config file: {e}"

    session_id, session_source, session_env = None, "none", None
    for name in SESSION_ENVS:
        if env.get(name, "").strip():
            session_id, session_source, session_env = env[name].strip(), "env", name
            break
    else:
        if isinstance(data.get("session_id"), str) and data["session_id"].strip():
            session_id, session_source = data["session_id"].strip(), "file"

    api_url, api_source = DEFAULT_API_URL, "default"
    if env.get(API_URL_ENV, "").strip():
        api_url, api_source = env[API_URL_ENV].strip(), "env"
    elif isinstance(data.get("api_url"), str) and data["api_url"].strip():
        api_url, api_source = data["api_url"].strip(), "file"
    return Settings(session_id, api_url.rstrip("/"), session_source, api_source, config_error,
                    session_env)
