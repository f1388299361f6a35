"""Outputs to a local directory or a cloud URI (s3://, gs://, abfs://…) through pyarrow filesystems."""

from __future__ import annotations

import os
from pathlib import Path

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

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
    fs, path = pafs.FileSystem.from_uri(dest)
    fs.create_dir(os.path.dirname(path), recursive=True)
    with fs.open_output_stream(path) as out:
        out.write(data)
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
    fs, path = pafs.FileSystem.from_uri(dest)
    fs.create_dir(os.path.dirname(path), recursive=True)
    pq.write_table(table, path, filesystem=fs)
    return dest
