"""Reading raw text files (delimited, JSON lines) with pyarrow, turning parser errors into one-line messages
that name the file and line. Error paths re-scan the file in Python to find the line; normal reads do not."""

from __future__ import annotations

import gzip
import io
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.json as pjson

from crossrec.errors import DataValidationError
from crossrec.utils.progress import Progress


def open_bytes(path: Path) -> bytes:
    """The file's bytes (gunzipped for ``*.gz``); missing or empty file -> DataValidationError."""
    path = Path(path)
    if not path.is_file():
        raise DataValidationError(f"{path}: file not found")
    data = path.read_bytes()
    if path.suffix == ".gz":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as err:
            raise DataValidationError(f"{path}: not a readable gzip file: {err}") from None
    if not data.strip():
        raise DataValidationError(f"{path}: empty file")
    return data


def check_utf8(data: bytes, source: Path) -> None:
    """Raise naming the line of the first byte that is not UTF-8 (only called on parser failure)."""
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise DataValidationError(
            f"{source}: line {line}: not valid UTF-8 (byte 0x{data[err.start]:02x}); re-encode the file as UTF-8"
        ) from None


def _bad_field_count(data: bytes, delimiter: str, skip: int, n_fields: int) -> int | None:
    for number, line in enumerate(data.decode("utf-8").splitlines(), start=1):
        if number > skip and line and len(line.split(delimiter)) != n_fields:
            return number
    return None


def read_delimited(
    data: bytes,
    source: Path,
    delimiter: str,
    column_names: list[str] | None = None,
    quoted: bool = False,
) -> pa.Table:
    """Parse delimited UTF-8 ``data`` into a table of string columns.

    Args:
        data: file bytes. source: the file, for messages.
        column_names: names for a header-less file; None = the first line is the header.
        quoted: honour ``"``-quoted fields (CSV); off for formats where quotes are plain text (RecBole).
    Returns:
        pa.Table with every column as string (empty fields are "").
    """
    read = pcsv.ReadOptions(column_names=column_names, block_size=1 << 24)
    parse = pcsv.ParseOptions(delimiter=delimiter, quote_char='"' if quoted else False)
    header = data.split(b"\n", 1)[0].decode("utf-8", "replace").rstrip("\r").split(delimiter)
    names = column_names or header
    convert = pcsv.ConvertOptions(column_types={n: pa.string() for n in names}, strings_can_be_null=False)
    try:
        if len(data) < BIG_FILE_BYTES:
            return pcsv.read_csv(io.BytesIO(data), read_options=read, parse_options=parse, convert_options=convert)
        return _read_with_progress(data, source, read, parse, convert)
    except pa.ArrowInvalid as err:
        check_utf8(data, source)
        line = _bad_field_count(data, delimiter, 0 if column_names else 1, len(names))
        if line is not None:
            raise DataValidationError(
                f"{source}: line {line}: expected {len(names)} {delimiter!r}-separated fields"
            ) from None
        raise DataValidationError(f"{source}: cannot parse: {str(err).splitlines()[0]}") from None


BIG_FILE_BYTES = 64 << 20  # files this large report progress while they are parsed


def _read_with_progress(data: bytes, source: Path, read, parse, convert) -> pa.Table:
    """Parse a big delimited file block by block, with a progress line (MB/s, ETA) every few seconds."""
    batches, offset = [], 0
    with Progress(f"reading {source.name}", len(data) >> 20, unit="MB", every_s=5.0) as bar:
        with pcsv.open_csv(io.BytesIO(data), read_options=read, parse_options=parse, convert_options=convert) as reader:
            for batch in reader:
                batches.append(batch)
                offset += read.block_size
                bar.update(min(offset, len(data)) >> 20)
    return pa.Table.from_batches(batches, schema=reader.schema)


def read_jsonl(data: bytes, source: Path, schema: pa.Schema) -> pa.Table:
    """Parse JSON lines, keeping only the fields of ``schema`` (missing fields are null)."""
    parse = pjson.ParseOptions(explicit_schema=schema, unexpected_field_behavior="ignore")
    try:
        return pjson.read_json(io.BytesIO(data), parse_options=parse, read_options=pjson.ReadOptions(block_size=1 << 24))
    except pa.ArrowInvalid as err:
        check_utf8(data, source)
        for number, line in enumerate(data.decode("utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            try:
                json.loads(line)
            except json.JSONDecodeError as bad:
                raise DataValidationError(f"{source}: line {number}: not valid JSON ({bad.msg})") from None
        raise DataValidationError(f"{source}: {str(err).splitlines()[0]}") from None
