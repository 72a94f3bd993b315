"""Object storage: an ``s3://bucket/prefix`` data root, its settings, and its files.

A data root on object storage is an :class:`ObjectRoot`: the bucket, the prefix
and the settings to reach it (``[storage.options]`` in ``jobforge.toml``, or
the ``AWS_*`` environment variables for what the file does not give). The
settings hold credentials, so nothing here ever prints them: an
:class:`ObjectRoot`'s ``repr`` and every error name the URL and the key of a
setting, never its value.

:class:`ObjectFiles` is what a store needs of a folder of files, on a local
disk or in a bucket: read one (with the version tag a conditional write
names), write one whole, create one only if it is absent, replace one only
if it is still the version read, list, remove. On a local disk
(:class:`LocalFiles`) a write is a temporary and a rename, a create is an
exclusive link; on S3 (:class:`S3Files`, boto3) a write is one PUT (an object
is never seen half written), a create is a PUT with ``If-None-Match: *`` and a
replace a PUT with ``If-Match: <ETag>``: the server refuses either (412) if
another writer came first. Nothing is renamed on S3.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

from jobforge.errors import ConfigError, JobforgeError

SCHEMES: tuple[str, ...] = ("s3",)
"""URL schemes of a data root on object storage."""

OPTION_ENV: dict[str, str] = {
    "endpoint": "AWS_ENDPOINT_URL",
    "region": "AWS_REGION",
    "allow_http": "AWS_ALLOW_HTTP",
    "access_key_id": "AWS_ACCESS_KEY_ID",
    "secret_access_key": "AWS_SECRET_ACCESS_KEY",
    "session_token": "AWS_SESSION_TOKEN",
}
"""``[storage.options]`` keys and the environment variable each falls back to
(and the name delta-rs reads it under)."""

SECRET_OPTIONS: frozenset[str] = frozenset({"access_key_id", "secret_access_key", "session_token"})


class ObjectStoreError(JobforgeError):
    """Object storage could not be reached or refused a request (one line, no secret)."""


class PreconditionFailed(ObjectStoreError):
    """A conditional write lost: the object was created or changed by another writer."""


def is_object_url(value: str | os.PathLike[str]) -> bool:
    """Whether a data root names object storage (``s3://...``), not a folder."""
    return isinstance(value, str) and urlsplit(value).scheme in SCHEMES and "://" in value


def _as_bool(key: str, value: object) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1", "yes"):
        return True
    if text in ("false", "0", "no"):
        return False
    raise ConfigError(f"[storage.options] {key}: expected true or false")


@dataclass(frozen=True)
class ObjectRoot:
    """``s3://bucket/prefix`` and how to reach it. ``options`` are the
    ``[storage.options]`` keys (:data:`OPTION_ENV`) given in the project file;
    the environment fills in the rest when a client is made."""

    url: str
    bucket: str
    prefix: str
    options: Mapping[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def parse(cls, url: str, options: Mapping[str, Any] | None = None) -> ObjectRoot:
        """The root of ``url``; a URL with no bucket, or an unknown option, is a one-line error."""
        parts = urlsplit(url)
        if "@" in parts.netloc:  # never repeat what stands before the @: a credential
            shown = f"{parts.scheme}://...@{parts.netloc.rsplit('@', 1)[1]}{parts.path}"
            raise ConfigError(
                f"data_root {shown!r}: expected s3://bucket/prefix without credentials "
                "(they go in [storage.options] or the AWS_* variables)"
            )
        if parts.scheme not in SCHEMES or not parts.netloc:
            raise ConfigError(f"data_root {url!r}: expected s3://bucket/prefix")
        if parts.query or parts.fragment:
            raise ConfigError(
                f"data_root {url!r}: expected s3://bucket/prefix, without query or fragment"
            )
        given = dict(options or {})
        for key in given:
            if key not in OPTION_ENV:
                raise ConfigError(
                    f"[storage.options] {key}: unknown key; expected one of {', '.join(OPTION_ENV)}"
                )
        if "allow_http" in given:
            given["allow_http"] = _as_bool("allow_http", given["allow_http"])
        prefix = parts.path.strip("/")
        return cls(f"s3://{parts.netloc}/{prefix}".rstrip("/"), parts.netloc, prefix, given)

    def __repr__(self) -> str:  # never the options: they hold credentials
        return f"ObjectRoot({self.url!r})"

    def setting(self, key: str) -> str | None:
        """An option as given, else its environment variable, else ``None``."""
        if key in self.options:
            value = self.options[key]
            return ("true" if value else "false") if isinstance(value, bool) else str(value)
        return os.environ.get(OPTION_ENV[key]) or None

    def key_for(self, relative: str) -> str:
        """The object key of a path relative to the root (``/`` separated; ``""``: the prefix)."""
        relative = relative.strip("/")
        return "/".join(p for p in (self.prefix, relative) if p)

    def uri_for(self, relative: str) -> str:
        return f"s3://{self.bucket}/{self.key_for(relative)}".rstrip("/")

    def delta_options(self) -> dict[str, str]:
        """What delta-rs is given: every setting that is set, by its AWS name,
        and conditional puts for its commits (``_delta_log/<N>.json`` is
        created with ``If-None-Match: *``: no second writer can take version N,
        and no unsafe rename is needed)."""
        found = {OPTION_ENV[k]: v for k in OPTION_ENV if (v := self.setting(k)) is not None}
        found["conditional_put"] = "etag"
        return found


class ObjectFiles(Protocol):
    """Files addressed by ``/``-separated keys below one root (see the module docstring)."""

    def read(self, key: str) -> tuple[bytes, str] | None:
        """The object's bytes and its version tag, or ``None`` if there is none."""
        ...

    def write(self, key: str, data: bytes) -> str:
        """Write the whole object (a reader sees the old bytes or the new ones);
        return its new tag."""
        ...

    def create(self, key: str, data: bytes) -> str:
        """Write the object only if there is none (:class:`PreconditionFailed`
        otherwise); return its tag."""
        ...

    def replace(self, key: str, data: bytes, tag: str) -> str:
        """Write the object only if it is still version ``tag``
        (:class:`PreconditionFailed` otherwise); return its new tag."""
        ...

    def tags(self, prefix: str) -> dict[str, str]:
        """The tag of every object below ``prefix``, by key."""
        ...

    def keys(self, prefix: str) -> list[str]:
        """Every key below ``prefix`` (a folder: ``a/b/``), sorted."""
        ...

    def delete(self, key: str) -> None:
        """Remove the object (no error if there is none)."""
        ...


class LocalFiles:
    """:class:`ObjectFiles` in a folder (the tag is the file's size and mtime in ns)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        return self.root / key

    @staticmethod
    def _tag(path: Path) -> str:
        stat = path.stat()
        return f"{stat.st_size}-{stat.st_mtime_ns}-{stat.st_ino}"

    def read(self, key: str) -> tuple[bytes, str] | None:
        path = self._path(key)
        try:
            return path.read_bytes(), self._tag(path)
        except FileNotFoundError:
            return None

    def write(self, key: str, data: bytes) -> str:
        from jobforge.storage.atomic import atomic_write_bytes

        return self._tag(atomic_write_bytes(self._path(key), data))

    def create(self, key: str, data: bytes) -> str:
        from jobforge.storage.atomic import temporary_path_for

        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = temporary_path_for(path)
        tmp.write_bytes(data)
        try:
            os.link(tmp, path)  # fails if the name exists: never overwrites
        except FileExistsError:
            raise PreconditionFailed(f"{path}: already exists") from None
        finally:
            tmp.unlink()
        return self._tag(path)

    def replace(self, key: str, data: bytes, tag: str) -> str:
        path = self._path(key)
        try:
            current = self._tag(path)
        except FileNotFoundError:
            raise PreconditionFailed(f"{path}: no longer exists") from None
        if current != tag:
            raise PreconditionFailed(f"{path}: changed by another writer")
        return self.write(key, data)

    def keys(self, prefix: str) -> list[str]:
        folder = self._path(prefix)
        if not folder.is_dir():
            return []
        return sorted(p.relative_to(self.root).as_posix() for p in folder.rglob("*") if p.is_file())

    def tags(self, prefix: str) -> dict[str, str]:
        return {key: self._tag(self._path(key)) for key in self.keys(prefix)}

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)


class S3Files:
    """:class:`ObjectFiles` in a bucket (boto3; keys below the root's prefix).

    Every request that fails is an :class:`ObjectStoreError` naming the root's
    URL, the key and the reason the server or the connection gave (never a
    credential)."""

    def __init__(self, root: ObjectRoot) -> None:
        self.root = root
        self._client: Any = None

    def __repr__(self) -> str:
        return f"S3Files({self.root.url!r})"

    @property
    def client(self) -> Any:
        if self._client is None:
            try:
                import boto3
                from botocore.config import Config
            except ImportError as exc:
                raise ConfigError(
                    f"data_root {self.root.url!r} needs boto3 ({exc}); "
                    "install it with: pip install 'jobforge[s3]'"
                ) from None
            endpoint = self.root.setting("endpoint")
            self._client = boto3.session.Session().client(
                "s3",
                endpoint_url=endpoint,
                region_name=self.root.setting("region") or "us-east-1",
                aws_access_key_id=self.root.setting("access_key_id"),
                aws_secret_access_key=self.root.setting("secret_access_key"),
                aws_session_token=self.root.setting("session_token"),
                config=Config(
                    retries={"max_attempts": 2, "mode": "standard"},
                    connect_timeout=5,
                    read_timeout=30,
                ),
            )
        return self._client

    def _error(self, key: str, exc: Exception) -> ObjectStoreError:
        reason = _reason(exc)
        return ObjectStoreError(f"{self.root.uri_for(key)}: {reason}")

    def _call(self, key: str, method: str, **kwargs: Any) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return getattr(self.client, method)(Bucket=self.root.bucket, **kwargs)
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if code in ("PreconditionFailed", "ConditionalRequestConflict") or status == 412:
                raise PreconditionFailed(
                    f"{self.root.uri_for(key)}: created or changed by another writer"
                ) from None
            if code in ("NoSuchKey", "404", "NotFound"):
                raise FileNotFoundError(key) from None
            raise self._error(key, exc) from None
        except BotoCoreError as exc:
            raise self._error(key, exc) from None

    def read(self, key: str) -> tuple[bytes, str] | None:
        full = self.root.key_for(key)
        try:
            answer = self._call(key, "get_object", Key=full)
        except FileNotFoundError:
            return None
        return answer["Body"].read(), str(answer["ETag"])

    def write(self, key: str, data: bytes) -> str:
        answer = self._call(key, "put_object", Key=self.root.key_for(key), Body=data)
        return str(answer["ETag"])

    def create(self, key: str, data: bytes) -> str:
        full = self.root.key_for(key)
        answer = self._call(key, "put_object", Key=full, Body=data, IfNoneMatch="*")
        return str(answer["ETag"])

    def replace(self, key: str, data: bytes, tag: str) -> str:
        full = self.root.key_for(key)
        answer = self._call(key, "put_object", Key=full, Body=data, IfMatch=tag)
        return str(answer["ETag"])

    def upload(self, key: str, path: Path) -> None:
        """Put a local file under ``key``, only if there is none (a data file's
        name is fresh: an existing object is never overwritten)."""
        with path.open("rb") as handle:
            self._call(key, "put_object", Key=self.root.key_for(key), Body=handle, IfNoneMatch="*")

    def download(self, key: str, path: Path) -> None:
        """Copy the object to ``path`` (through a temporary: never a half file there)."""
        from jobforge.storage.atomic import temporary_path_for

        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = temporary_path_for(path)
        try:
            answer = self._call(key, "get_object", Key=self.root.key_for(key))
            with tmp.open("wb") as handle:
                for chunk in iter(lambda: answer["Body"].read(1 << 20), b""):
                    handle.write(chunk)
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)

    def _pages(self, prefix: str) -> Iterator[dict[str, Any]]:
        from botocore.exceptions import BotoCoreError, ClientError

        paginator = self.client.get_paginator("list_objects_v2")
        folder = self.root.key_for(prefix)
        try:
            yield from paginator.paginate(
                Bucket=self.root.bucket, Prefix=f"{folder}/" if folder else ""
            )
        except (ClientError, BotoCoreError) as exc:
            raise self._error(prefix, exc) from None

    def keys(self, prefix: str) -> list[str]:
        return sorted(self.tags(prefix))

    def tags(self, prefix: str) -> dict[str, str]:
        start = len(self.root.prefix) + 1 if self.root.prefix else 0
        return {
            o["Key"][start:]: str(o["ETag"])
            for page in self._pages(prefix)
            for o in page.get("Contents", [])
        }

    def sizes(self, prefix: str) -> dict[str, int]:
        """The size in bytes of every object below ``prefix``, by key."""
        start = len(self.root.prefix) + 1 if self.root.prefix else 0
        return {
            o["Key"][start:]: int(o["Size"])
            for page in self._pages(prefix)
            for o in page.get("Contents", [])
        }

    def delete(self, key: str) -> None:
        self._call(key, "delete_object", Key=self.root.key_for(key))

    def check(self) -> None:
        """Reach the bucket once (a bad endpoint or bucket is one line, early)."""
        self._call("", "head_bucket")


def _reason(exc: Exception) -> str:
    """One line of what went wrong, with nothing a request carried (no signature, no key)."""
    from botocore.exceptions import ClientError, EndpointConnectionError

    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        code = error.get("Code") or status
        return f"refused by the server ({code}: {error.get('Message') or 'no message'})"
    if isinstance(exc, EndpointConnectionError):
        where = urlsplit(str(exc.kwargs.get("endpoint_url", "")))
        return f"cannot reach the endpoint {where.scheme}://{where.netloc}"
    return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}".rstrip(": ")
