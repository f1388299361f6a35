"""Outputs and inputs on a local directory or a URI (``file://``, ``s3://`` and S3-compatible servers, ``gs://``)
through pyarrow filesystems, with one-line errors naming the URI.

Directories that readers must never see half-written (bundles, run directories) are published with the
*manifest last* rule (:func:`publish_dir`): every other file is uploaded first, ``manifest.json`` (the bundle's
checksum list) last, so a reader that finds the manifest finds every file it lists; :func:`stage` downloads into
a local cache directory, complete or not at all, and the bundle loader verifies the checksums before use.

S3 settings come from the usual AWS environment (``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``,
``AWS_REGION``) plus ``AWS_ENDPOINT_URL`` for an S3-compatible server (MinIO, moto, Ceph): pyarrow reads them.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from crossrec.errors import CrossrecError
from crossrec.utils.io import atomic_write_bytes


def is_uri(path: str) -> bool:
    return "://" in str(path)


def join(base: str, *parts: str) -> str:
    return "/".join([str(base).rstrip("/"), *parts]) if is_uri(base) else str(Path(base, *parts))


def write_bytes(dest: str, data: bytes) -> str:
    """Write atomically locally (temp + rename); to object storage (whose puts are atomic) via pyarrow."""
    if not is_uri(dest):
        atomic_write_bytes(Path(dest), data)
        return dest
    fs, path = filesystem(dest)

    def put() -> None:
        fs.create_dir(os.path.dirname(path), recursive=True)
        with fs.open_output_stream(path) as out:
            out.write(data)

    _call(dest, "write", put)
    return dest


def write_text(dest: str, text: str) -> str:
    return write_bytes(dest, text.encode("utf-8"))


def write_parquet(table: pa.Table, dest: str) -> str:
    if not is_uri(dest):
        final = Path(dest)
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = final.with_name(f".{final.name}.tmp")
        pq.write_table(table, tmp)
        os.replace(tmp, final)
        return dest
    fs, path = filesystem(dest)

    def put() -> None:
        fs.create_dir(os.path.dirname(path), recursive=True)
        pq.write_table(table, path, filesystem=fs)

    _call(dest, "write", put)
    return dest


SCHEMES = ("s3", "gs", "gcs", "file")
MANIFEST = "manifest.json"


class StorageError(CrossrecError):
    """A URI that cannot be used: bad scheme, missing credentials, unreachable server, missing object."""


def filesystem(uri: str) -> tuple[Any, str]:
    """(pyarrow FileSystem, path inside it) for ``uri``; StorageError (one line, naming the URI) when the URI
    is malformed or its scheme unsupported."""
    scheme = str(uri).split("://", 1)[0].lower()
    if scheme not in SCHEMES:
        raise StorageError(f"{uri}: unsupported storage scheme {scheme!r} (use a local path, file://, s3:// or gs://)")
    try:
        fs, path = pafs.FileSystem.from_uri(str(uri))
    except (ValueError, OSError) as err:  # pyarrow.ArrowInvalid is a ValueError
        raise StorageError(f"{uri}: {_first_line(err)}") from None
    return fs, path.rstrip("/")


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return text[0] if text else type(err).__name__


def _call(uri: str, what: str, fn, *args):
    """Run a pyarrow call; any failure (credentials, network, permissions) becomes one StorageError line."""
    try:
        return fn(*args)
    except FileNotFoundError:
        raise StorageError(f"{uri}: not found") from None
    except (OSError, ValueError) as err:
        raise StorageError(f"{uri}: cannot {what}: {_first_line(err)}") from None


def exists(uri: str) -> bool:
    fs, path = filesystem(uri)
    info = _call(uri, "read", fs.get_file_info, path)
    return info.type != pafs.FileType.NotFound


def publish_dir(local: str | Path, uri: str, last: str = MANIFEST) -> str:
    """Upload local directory ``local`` to ``uri``, its top-level file ``last`` (the one readers look for
    first: a bundle's manifest, a dataset's dataset.json) after every other file; returns ``uri``."""
    fs, root = filesystem(uri)
    local = Path(local)
    files = sorted((p for p in local.rglob("*") if p.is_file()), key=lambda p: (p == local / last, str(p)))
    _call(uri, "write", lambda: fs.create_dir(root, recursive=True))
    for f in files:
        rel = f.relative_to(local).as_posix()
        with open(f, "rb") as src:
            data = src.read()

        def put(path: str = f"{root}/{rel}", data: bytes = data) -> None:
            with fs.open_output_stream(path) as out:
                out.write(data)

        _call(f"{uri.rstrip('/')}/{rel}", "write", put)
    return uri


def local_cache(kind: str) -> Path:
    """``$CROSSREC_CACHE/<kind>`` (default ``~/.cache/crossrec/<kind>``): where URIs are staged (``staged``) and
    where runs and sweeps bound for a URI write before publishing (``runs``, ``sweeps``)."""
    return Path(os.environ.get("CROSSREC_CACHE") or Path.home() / ".cache" / "crossrec") / kind


def staging_dir(kind: str, name: str, uri: str) -> Path:
    """The local directory, under :func:`local_cache` ``(kind)``, of ``name`` bound for ``uri`` (one per URI)."""
    return local_cache(kind) / f"{name}-{hashlib.sha256(uri.encode()).hexdigest()[:12]}"


def stage(uri: str | Path, cache_dir: str | Path | None = None, require: str = MANIFEST) -> Path:
    """A local directory holding ``uri``'s files: ``uri`` itself when it is a local path, else a copy in
    ``cache_dir`` (default :func:`local_cache` ``("staged")``), downloaded into a temporary
    directory and renamed into place when complete. ``require`` must exist at ``uri`` (StorageError if not:
    an unfinished upload is not read)."""
    if not is_uri(uri):
        return Path(uri)
    uri = str(uri).rstrip("/")
    if uri.startswith("file://"):
        return Path(filesystem(uri)[1])
    fs, root = filesystem(uri)
    manifest = _call(uri, "read", fs.get_file_info, f"{root}/{require}")
    if manifest.type == pafs.FileType.NotFound:
        raise StorageError(f"{uri}: no {require} (not a complete upload)")
    with fs.open_input_stream(f"{root}/{require}") as src:
        key = hashlib.sha256(uri.encode() + src.read()).hexdigest()[:16]
    base = Path(cache_dir) if cache_dir else local_cache("staged")
    final = base / key
    if final.is_dir():
        return final
    base.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{key}.", dir=base))
    try:
        infos = _call(uri, "list", fs.get_file_info, pafs.FileSelector(root, recursive=True))
        for info in infos:
            if info.type != pafs.FileType.File:
                continue
            rel = info.path[len(root):].lstrip("/")
            target = tmp / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            with fs.open_input_stream(info.path) as src, open(target, "wb") as out:
                shutil.copyfileobj(src, out)
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final
