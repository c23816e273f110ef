"""Reading import files as a stream of (line number, record) pairs.

CSV, TSV, a JSON array or JSON lines, from a file or stdin; UTF-8 with or without BOM or
GB18030/GBK (what Excel and WPS write in China), detected from the first bytes. Nothing holds
the whole file: rows are yielded as they are read.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from crmpool.choices import ENCODINGS
from crmpool.choices import INPUT_FORMATS as FORMATS
from crmpool.errors import InputError, UsageError

_BY_SUFFIX = {".csv": "csv", ".tsv": "tsv", ".tab": "tsv", ".txt": "tsv", ".json": "json",
              ".jsonl": "jsonl", ".ndjson": "jsonl"}
SAMPLE_BYTES = 1 << 16


@dataclass
class Source:
    """An open import source: its name for messages, format, encoding, and byte stream."""

    name: str
    format: str
    encoding: str
    stream: IO[bytes]
    size: int | None  # bytes, when known, for progress
    path: Path | None = None  # None for stdin

    def bytes_read(self) -> int:
        try:
            return self.stream.tell()
        except (OSError, ValueError):
            return 0


class _Prefixed(io.RawIOBase):
    """A byte stream that replays a sample it already read, then continues."""

    def __init__(self, head: bytes, rest: IO[bytes]) -> None:
        self.head = head
        self.rest = rest
        self.offset = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[no-untyped-def]
        if self.head:
            n = min(len(buffer), len(self.head))
            buffer[:n] = self.head[:n]
            self.head = self.head[n:]
        else:
            data = self.rest.read(len(buffer))
            n = len(data)
            buffer[:n] = data
        self.offset += n
        return n

    def tell(self) -> int:
        return self.offset


def detect_encoding(sample: bytes, name: str) -> str:
    """utf-8-sig, utf-8 or gb18030 from the first bytes; InputError when neither fits."""
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    try:
        codecs.getincrementaldecoder("utf-8")().decode(sample, final=False)
        return "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        codecs.getincrementaldecoder("gb18030")().decode(sample, final=False)
        return "gb18030"
    except UnicodeDecodeError:
        raise InputError(f"{name}: cannot tell the encoding (neither UTF-8 nor GB18030);"
                         " pass --encoding utf-8 or --encoding gb18030") from None


def open_source(path: str, input_format: str | None = None, encoding: str = "auto") -> Source:
    """Open FILE or `-` for reading, deciding its format and encoding."""
    if encoding not in ENCODINGS:
        raise UsageError(f"--encoding must be one of {', '.join(ENCODINGS)}")
    if path == "-":
        raw: IO[bytes] = sys.stdin.buffer
        name, size, fmt = "<stdin>", None, input_format
        if fmt is None:
            raise UsageError("reading stdin: say which format with --input-format"
                             f" ({', '.join(FORMATS)})")
    else:
        file = Path(path)
        try:
            raw = file.open("rb")
            size = file.stat().st_size
        except OSError as exc:
            raise UsageError(f"cannot read {path}: {exc.strerror}") from None
        name = path
        fmt = input_format or _BY_SUFFIX.get(file.suffix.lower())
        if fmt is None:
            raise UsageError(f"{path}: cannot tell the format from the extension; pass"
                             f" --input-format ({', '.join(FORMATS)})")
    if fmt not in FORMATS:
        raise UsageError(f"--input-format must be one of {', '.join(FORMATS)}")
    sample = raw.read(SAMPLE_BYTES)
    chosen = detect_encoding(sample, name) if encoding == "auto" else encoding
    if chosen == "utf-8" and sample.startswith(codecs.BOM_UTF8):
        chosen = "utf-8-sig"
    stream = io.BufferedReader(_Prefixed(sample, raw), buffer_size=1 << 20)
    return Source(name, fmt, chosen, stream, size, None if path == "-" else Path(path))


def _text(source: Source) -> IO[str]:
    # newline="" lets csv see CRLF inside quoted fields; errors surface with a line number.
    return io.TextIOWrapper(source.stream, encoding=source.encoding, newline="")


def _bad_byte_line(path: Path, encoding: str) -> int | None:
    """The line of the first byte that does not decode (text layers decode ahead of csv)."""
    decoder = codecs.getincrementaldecoder(encoding)()
    lines = 1
    with path.open("rb") as raw:
        while chunk := raw.read(1 << 16):
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                return lines + chunk.count(b"\n", 0, max(exc.start, 0))
            lines += chunk.count(b"\n")
    return None


def _decode_error(source: Source, line: int) -> InputError:
    other = "gb18030" if source.encoding.startswith("utf-8") else "utf-8"
    where = f"line {line}"
    if source.path is not None:
        found = _bad_byte_line(source.path, source.encoding)
        where = f"line {found}" if found else where
    else:
        where = f"near line {line}"
    return InputError(f"{source.name} {where}: bytes that are not {source.encoding};"
                      f" pass --encoding {other} if the file is in that encoding")


def read_records(source: Source) -> tuple[list[str], Iterator[tuple[int, dict]]]:
    """The header names and a stream of (line number, {header: value}) records."""
    headers, rows = read_rows(source)
    if headers:
        return headers, ((line, dict(zip(headers, values, strict=False)))
                         for line, values in rows)
    return headers, rows


def read_rows(source: Source) -> tuple[list[str], Iterator[tuple[int, list | dict]]]:
    """Like read_records, but CSV and TSV rows stay lists in header order (no dict per row);
    JSON has no header (each object names its own keys) and yields its objects."""
    if source.format in ("csv", "tsv"):
        return _delimited(source)
    if source.format == "jsonl":
        return [], _json_lines(source)
    return [], _json_array(source)


def _delimited(source: Source) -> tuple[list[str], Iterator[tuple[int, list[str]]]]:
    text = _text(source)
    reader = csv.reader(text, delimiter="," if source.format == "csv" else "\t")
    try:
        header = next(reader, None)
    except UnicodeDecodeError:
        raise _decode_error(source, 1) from None
    except csv.Error as exc:
        raise InputError(f"{source.name} line 1: {exc}") from None
    if not header:
        raise InputError(f"{source.name}: the file is empty; it needs a header line")
    header = [h.strip() for h in header]
    width = len(header)

    def rows() -> Iterator[tuple[int, list[str]]]:
        line = 1
        try:
            for values in reader:
                line = reader.line_num
                if not values or (len(values) == 1 and not values[0].strip()):
                    continue  # blank line
                if len(values) != width:
                    if len(values) > width and not any(v.strip() for v in values[width:]):
                        values = values[:width]
                    else:
                        raise InputError(
                            f"{source.name} line {line}: {len(values)} fields where the header"
                            f" has {width}"
                        )
                yield line, values
        except UnicodeDecodeError:
            raise _decode_error(source, line + 1) from None
        except csv.Error as exc:
            raise InputError(f"{source.name} line {reader.line_num}: {exc}") from None

    return header, rows()


def _json_lines(source: Source) -> Iterator[tuple[int, dict]]:
    line = 0
    try:
        for line, text in enumerate(_text(source), start=1):
            if not text.strip():
                continue
            try:
                value = json.loads(text)
            except json.JSONDecodeError as exc:
                raise InputError(f"{source.name} line {line}, column {exc.colno}: not JSON"
                                 f" ({exc.msg})") from None
            if not isinstance(value, dict):
                raise InputError(f"{source.name} line {line}: expected a JSON object")
            yield line, value
    except UnicodeDecodeError:
        raise _decode_error(source, line + 1) from None


def _json_array(source: Source) -> Iterator[tuple[int, dict]]:
    """Objects of a top-level JSON array, decoded one at a time from a sliding buffer."""
    decoder = json.JSONDecoder()
    text = _text(source)
    buffer, line, started, eof = "", 1, False, False

    def fill() -> bool:
        nonlocal buffer, eof
        try:
            chunk = text.read(1 << 16)
        except UnicodeDecodeError:
            raise _decode_error(source, line) from None
        if not chunk:
            eof = True
            return False
        buffer += chunk
        return True

    def skip_space(pos: int) -> int:
        nonlocal line
        while pos < len(buffer) and buffer[pos] in " \t\r\n,":
            if buffer[pos] == "\n":
                line += 1
            pos += 1
        return pos

    pos = 0
    while True:
        pos = skip_space(pos)
        if pos >= len(buffer):
            buffer, pos = "", 0
            if not fill():
                break
            continue
        if not started:
            if buffer[pos] != "[":
                raise InputError(f"{source.name} line {line}: expected a JSON array of objects"
                                 " (or use --input-format jsonl)")
            started, pos = True, pos + 1
            continue
        if buffer[pos] == "]":
            return
        try:
            value, end = decoder.raw_decode(buffer, pos)
        except json.JSONDecodeError as exc:
            if not eof and fill():
                continue  # the object runs past the buffer: read more and retry
            raise InputError(f"{source.name} line {line + buffer.count(chr(10), pos, exc.pos)}:"
                             f" not JSON ({exc.msg})") from None
        if not isinstance(value, dict):
            raise InputError(f"{source.name} line {line}: expected a JSON object")
        yield line, value
        line += buffer.count("\n", pos, end)
        buffer, pos = buffer[end:], 0
    if not started:
        raise InputError(f"{source.name}: the file is empty")
    raise InputError(f"{source.name} line {line}: the JSON array is not closed with ]")
