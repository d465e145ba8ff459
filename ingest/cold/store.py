"""Object stores behind the cold tier: S3 (any S3 API: AWS, SeaweedFS, MinIO) or a local directory.

The archive and the reader need only a handful of operations (put a file, head, fetch, list,
delete, small JSON objects), so both backends implement that narrow surface and nothing in
the cold tier knows which one it talks to. The local directory keeps the exact key layout of
the bucket, so a directory archive can be synced to S3 as is (`aws s3 sync`) and back.

Every error that concerns one object names it by URI (`s3://bucket/key`, `file:///path`),
because "checksum mismatch" without the key is useless to whoever has to repair it.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from ingest.names import InvalidNameError, validate_key

# Single-part uploads below this size: the ETag is then the MD5 of the body on S3 and SeaweedFS,
# which lets the archive verify an upload with a HEAD instead of a re-download.
MULTIPART_THRESHOLD = 64 * 1024 * 1024
MULTIPART_CHUNKSIZE = 64 * 1024 * 1024
_READ_CHUNK = 1024 * 1024


class ColdStoreError(RuntimeError):
    """The store itself failed or is misconfigured (bucket missing, credentials refused...)."""


class ColdObjectError(ColdStoreError):
    """One object is missing, truncated or corrupted. The message starts with the object's URI."""

    def __init__(self, uri: str, problem: str) -> None:
        super().__init__(f"{uri}: {problem}")
        self.uri = uri
        self.problem = problem


@dataclass(frozen=True)
class ObjectInfo:
    """What a HEAD tells: size, and the ETag where the backend has one (S3; None for a directory)."""

    key: str
    size: int
    etag: str | None


@dataclass(frozen=True)
class Digests:
    """Checksums of a local file computed in one pass: sha256 for the manifest, ETag for cheap checks."""

    size: int
    sha256: str
    md5: str
    multipart_etag: str | None  # the ETag S3 gives a multipart upload with MULTIPART_CHUNKSIZE parts

    def expected_etag(self) -> str:
        return self.multipart_etag if self.size >= MULTIPART_THRESHOLD and self.multipart_etag else self.md5


def file_digests(path: Path, part_size: int = MULTIPART_CHUNKSIZE) -> Digests:
    sha, md5, part = hashlib.sha256(), hashlib.md5(usedforsecurity=False), hashlib.md5(usedforsecurity=False)
    part_digests: list[bytes] = []
    in_part = size = 0
    with open(path, "rb") as fh:
        while chunk := fh.read(_READ_CHUNK):
            sha.update(chunk)
            md5.update(chunk)
            size += len(chunk)
            view = memoryview(chunk)
            while view:
                take = min(len(view), part_size - in_part)
                part.update(view[:take])
                in_part += take
                view = view[take:]
                if in_part == part_size:
                    part_digests.append(part.digest())
                    part, in_part = hashlib.md5(usedforsecurity=False), 0
    if in_part:
        part_digests.append(part.digest())
    multipart = None
    if len(part_digests) > 1:
        multipart = hashlib.md5(b"".join(part_digests), usedforsecurity=False).hexdigest() + f"-{len(part_digests)}"
    return Digests(size=size, sha256=sha.hexdigest(), md5=md5.hexdigest(), multipart_etag=multipart)


def sha256_of(path: Path) -> str:
    sha = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_READ_CHUNK):
            sha.update(chunk)
    return sha.hexdigest()


class ColdStore(Protocol):
    """The operations the cold tier needs from an object store. Keys use `/` and never start with one."""

    is_local: bool  # True for a directory on this machine's disk

    def uri(self, key: str) -> str: ...

    def ensure_ready(self) -> None:
        """Create the bucket/directory if missing (archivers only; readers never create)."""

    def put_file(self, key: str, path: Path, metadata: dict[str, str] | None = None) -> None: ...

    def put_bytes(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> None: ...

    def get_bytes(self, key: str) -> bytes | None:
        """The object's body, or None if it does not exist."""

    def head(self, key: str) -> ObjectInfo | None: ...

    def fetch(self, key: str, scratch_dir: Path) -> Path:
        """A local path holding the object's bytes (downloaded into scratch_dir, or the file itself)."""

    def list_keys(self, prefix: str) -> list[str]: ...

    def list_dirs(self, prefix: str) -> list[str]:
        """The immediate "sub-directories" under prefix (S3 common prefixes), without the trailing `/`."""

    def delete(self, keys: Sequence[str]) -> None: ...


def _is_not_found(exc: Exception) -> bool:
    response: dict[str, Any] = getattr(exc, "response", None) or {}
    code = str(response.get("Error", {}).get("Code", ""))
    status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return code in {"404", "NoSuchKey", "NotFound", "NoSuchBucket"} or status == 404


class S3ColdStore:
    """A bucket reached through boto3. Path-style addressing, because SeaweedFS and MinIO need it."""

    is_local = False

    def __init__(self, client: Any, bucket: str) -> None:
        self.client = client
        self.bucket = bucket

    @property
    def endpoint(self) -> str:
        return str(getattr(getattr(self.client, "meta", None), "endpoint_url", "") or "AWS S3")

    def _failed(self, key: str, action: str, exc: Exception) -> ColdStoreError:
        """One message shape for every failed call: the object, what was tried, and where (an outage
        must say which endpoint did not answer, not only that a connection failed)."""
        return ColdStoreError(f"{self.uri(key)}: {action} failed (endpoint {self.endpoint}): {exc}")

    @classmethod
    def connect(
        cls,
        bucket: str,
        *,
        endpoint_url: str | None = None,
        region: str | None = None,
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
    ) -> S3ColdStore:
        """A client from explicit credentials, or boto3's own chain (env, profile, instance role) if None."""
        import boto3
        from botocore.config import Config

        config = Config(
            s3={"addressing_style": "path"},
            retries={"max_attempts": 5, "mode": "standard"},
            connect_timeout=10,
            read_timeout=120,
        )
        client = boto3.session.Session().client(
            "s3",
            endpoint_url=endpoint_url or None,
            region_name=region or None,
            aws_access_key_id=access_key_id or None,
            aws_secret_access_key=secret_access_key or None,
            config=config,
        )
        return cls(client, bucket)

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    def ensure_ready(self) -> None:
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except Exception as exc:  # botocore raises ClientError; 404 means "create it"
            if not _is_not_found(exc):
                raise ColdStoreError(
                    f"s3://{self.bucket}: cannot reach bucket (endpoint {self.endpoint}): {exc}"
                ) from exc
            try:
                self.client.create_bucket(Bucket=self.bucket)
            except Exception as create_exc:
                raise self._failed("", "create bucket", create_exc) from create_exc

    def put_file(self, key: str, path: Path, metadata: dict[str, str] | None = None) -> None:
        from boto3.s3.transfer import TransferConfig

        transfer = TransferConfig(multipart_threshold=MULTIPART_THRESHOLD, multipart_chunksize=MULTIPART_CHUNKSIZE)
        extra = {"Metadata": metadata or {}, "ContentType": "application/vnd.apache.parquet"}
        try:
            self.client.upload_file(str(path), self.bucket, key, ExtraArgs=extra, Config=transfer)
        except Exception as exc:
            raise self._failed(key, "upload", exc) from exc

    def put_bytes(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> None:
        try:
            self.client.put_object(Bucket=self.bucket, Key=key, Body=data, ContentType=content_type)
        except Exception as exc:
            raise self._failed(key, "PUT", exc) from exc

    def get_bytes(self, key: str) -> bytes | None:
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=key)
        except Exception as exc:
            if _is_not_found(exc):
                return None
            raise self._failed(key, "GET", exc) from exc
        try:
            return response["Body"].read()
        except Exception as exc:
            raise self._failed(key, "GET", exc) from exc

    def head(self, key: str) -> ObjectInfo | None:
        try:
            response = self.client.head_object(Bucket=self.bucket, Key=key)
        except Exception as exc:
            if _is_not_found(exc):
                return None
            raise self._failed(key, "HEAD", exc) from exc
        return ObjectInfo(key=key, size=int(response["ContentLength"]), etag=str(response.get("ETag", "")).strip('"'))

    def fetch(self, key: str, scratch_dir: Path) -> Path:
        scratch_dir.mkdir(parents=True, exist_ok=True)
        target = scratch_dir / f"{uuid.uuid4().hex}.part"
        try:
            self.client.download_file(self.bucket, key, str(target))
        except Exception as exc:
            target.unlink(missing_ok=True)
            if _is_not_found(exc):
                raise ColdObjectError(self.uri(key), "missing (listed in the manifest, not in the bucket)") from exc
            raise self._failed(key, "download", exc) from exc
        return target

    def list_keys(self, prefix: str) -> list[str]:
        keys: list[str] = []
        try:
            for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
                keys += [item["Key"] for item in page.get("Contents", [])]
        except Exception as exc:
            raise self._failed(prefix, "LIST", exc) from exc
        return keys

    def list_dirs(self, prefix: str) -> list[str]:
        prefix = prefix if prefix.endswith("/") else prefix + "/"
        dirs: list[str] = []
        paginator = self.client.get_paginator("list_objects_v2")
        try:
            for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix, Delimiter="/"):
                dirs += [p["Prefix"].rstrip("/") for p in page.get("CommonPrefixes", [])]
        except Exception as exc:
            if _is_not_found(exc):  # no bucket yet: nothing archived
                return []
            raise self._failed(prefix, "LIST", exc) from exc
        return dirs

    def delete(self, keys: Sequence[str]) -> None:
        for i in range(0, len(keys), 1000):
            batch = [{"Key": k} for k in keys[i : i + 1000]]
            try:
                response = self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True})
            except Exception as exc:
                raise self._failed(batch[0]["Key"], f"DELETE of {len(batch)} objects", exc) from exc
            errors = response.get("Errors") or []
            if errors:
                first = errors[0]
                raise ColdStoreError(f"{self.uri(first['Key'])}: delete failed: {first.get('Message')}")


class LocalColdStore:
    """A directory with the bucket's key layout: the fallback when no S3 endpoint is configured.

    Writes go to a temporary name in the same directory and are renamed into place, so a
    reader sees a whole file or none, as with an S3 PUT.
    """

    # On the warehouse's own disk (var/cold by default, which `make clean` deletes): retention
    # refuses to drop warm rows into it unless explicitly allowed.
    is_local = True

    def __init__(self, root: str | Path) -> None:
        root = str(root)
        if root.startswith("file://"):
            root = root[len("file://") :]
        self.root = Path(root).resolve()

    def _path(self, key: str) -> Path:
        if key:
            try:
                validate_key(key, "cold key")
            except InvalidNameError as exc:
                raise ColdStoreError(f"{exc} (store root {self.root})") from None
        path = (self.root / key).resolve()
        if self.root != path and self.root not in path.parents:
            raise ColdStoreError(f"key {key!r} escapes the store root {self.root}")
        return path

    def uri(self, key: str) -> str:
        return self._path(key).as_uri()

    def ensure_ready(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)

    def _write_atomically(self, target: Path, write: Any) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-", suffix=target.suffix)
        try:
            with os.fdopen(fd, "wb") as fh:
                write(fh)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def put_file(self, key: str, path: Path, metadata: dict[str, str] | None = None) -> None:
        def copy(fh: Any) -> None:
            with open(path, "rb") as src:
                shutil.copyfileobj(src, fh, _READ_CHUNK)

        self._write_atomically(self._path(key), copy)

    def put_bytes(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> None:
        self._write_atomically(self._path(key), lambda fh: fh.write(data))

    def get_bytes(self, key: str) -> bytes | None:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            return None

    def head(self, key: str) -> ObjectInfo | None:
        try:
            return ObjectInfo(key=key, size=self._path(key).stat().st_size, etag=None)
        except FileNotFoundError:
            return None

    def fetch(self, key: str, scratch_dir: Path) -> Path:
        path = self._path(key)
        if not path.is_file():
            raise ColdObjectError(self.uri(key), "missing (listed in the manifest, not in the store)")
        return path

    def list_keys(self, prefix: str) -> list[str]:
        base = self._path(prefix.rstrip("/")) if prefix.strip("/") else self.root
        if not base.exists():
            return []
        files = [base] if base.is_file() else (p for p in base.rglob("*") if p.is_file())
        return sorted(
            p.relative_to(self.root).as_posix() for p in files if not p.name.startswith(".tmp-")
        )

    def list_dirs(self, prefix: str) -> list[str]:
        base = self._path(prefix.rstrip("/"))
        if not base.is_dir():
            return []
        return sorted(p.relative_to(self.root).as_posix() for p in base.iterdir() if p.is_dir())

    def delete(self, keys: Iterable[str]) -> None:
        for key in keys:
            path = self._path(key)
            path.unlink(missing_ok=True)
            # Drop directories the delete left empty (run=... folders), up to the root.
            parent = path.parent
            while parent != self.root and parent.is_dir() and not any(parent.iterdir()):
                parent.rmdir()
                parent = parent.parent
