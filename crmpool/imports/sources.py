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
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from crmpool.choices import ENCODINGS
from crmpool.choices import INPUT_FORMATS as FORMATS
from crmpool.errors import InputError, UsageError
from crmpool.imports.fields import distinct_headers

_BY_SUFFIX = {".csv": "csv", ".tsv": "tsv", ".tab": "tsv", ".txt": "tsv", ".json": "json",
              ".jsonl": "jsonl", ".ndjson": "jsonl", ".xlsx": "xlsx", ".xlsm": "xlsx"}
SAMPLE_BYTES = 1 << 16
# Size limits, so that no file can exhaust memory (README, "Limits"): one line or record,
# one field, the number of columns.
MAX_RECORD = 1 << 20
MAX_COLUMNS = 1000
csv.field_size_limit(MAX_RECORD)


@dataclass
class Source:
    """An open import source: its name for messages, format, encoding, and byte stream."""

    name: str
    format: str
    encoding: str
    stream: IO[bytes]
    size: int | None  # bytes, when known, for progress
    path: Path | None = None  # None for stdin
    sheet: str | None = None  # a workbook's sheet (the first when None)

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


def _looks_big5(sample: bytes) -> bool:
    """Big5 (traditional Chinese) bytes also decode as GBK, into nonsense: tell them apart by
    the second byte of each pair, which in GB2312 text is always 0xA1 or more and in Big5
    is below that for about two characters in five."""
    try:
        sample.decode("big5", errors="strict")
    except UnicodeDecodeError as exc:
        if exc.start < len(sample) - 2:  # not just a character cut at the sample's end
            return False
    pairs = low = 0
    i = 0
    while i < len(sample) - 1:
        if sample[i] >= 0x81:
            pairs += 1
            low += sample[i + 1] < 0xA1
            i += 2
        else:
            i += 1
    return pairs >= 4 and low * 5 >= pairs


def detect_encoding(sample: bytes, name: str) -> str:
    """utf-8-sig, utf-16, utf-8 or gb18030 from the first bytes; InputError when none fits.

    A sample that is plain ASCII is read as `auto`: UTF-8 until a byte says GB18030 (both
    agree on ASCII, and Excel's GBK files often start with 64 KB of digits and letters).
    """
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"  # Excel's "Unicode text"
    if sample.isascii():
        return "auto"
    try:
        codecs.getincrementaldecoder("utf-8")().decode(sample, final=False)
        return "utf-8"
    except UnicodeDecodeError:
        pass
    if _looks_big5(sample):
        raise InputError(f"{name}: looks like Big5 (traditional Chinese), which crmpool does"
                         " not guess; pass --encoding big5 (or --encoding gb18030 if it is not)")
    try:
        codecs.getincrementaldecoder("gb18030")().decode(sample, final=False)
        return "gb18030"
    except UnicodeDecodeError:
        raise InputError(f"{name}: cannot tell the encoding (neither UTF-8 nor GB18030);"
                         " pass --encoding utf-8 or --encoding gb18030") from None


class _AutoDecoder(codecs.IncrementalDecoder):
    """UTF-8 until the first byte that is not, then GB18030 for the rest, if nothing
    non-ASCII came before it (after real UTF-8 text, a bad byte is an error)."""

    def __init__(self, errors: str = "strict") -> None:
        super().__init__(errors)
        self.current = codecs.getincrementaldecoder("utf-8")(errors)
        self.switched = False
        self.seen_non_ascii = False

    def decode(self, data: bytes, final: bool = False) -> str:  # type: ignore[override]
        if self.switched:
            return self.current.decode(data, final)
        try:
            text = self.current.decode(data, final)
        except UnicodeDecodeError:
            if self.seen_non_ascii:
                raise
            pending, _ = self.current.getstate()
            self.current = codecs.getincrementaldecoder("gb18030")(self.errors)
            self.switched = True
            return self.current.decode(pending + data, final)
        if not text.isascii():
            self.seen_non_ascii = True
        return text

    def reset(self) -> None:
        self.__init__(self.errors)


def _auto_codec(name: str) -> codecs.CodecInfo | None:
    if name != "crmpool_auto":
        return None
    utf8 = codecs.lookup("utf-8")
    return codecs.CodecInfo(utf8.encode, utf8.decode, name="crmpool_auto",
                            incrementaldecoder=_AutoDecoder)


codecs.register(_auto_codec)


def open_source(path: str, input_format: str | None = None, encoding: str = "auto",
                sheet: str | None = None) -> Source:
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
    if sheet is not None and fmt != "xlsx":
        raise UsageError("--sheet goes with an Excel workbook (.xlsx)")
    if fmt == "xlsx":
        if path == "-":
            raise UsageError("an Excel workbook is read from a file, not stdin")
        return Source(name, fmt, "xlsx", raw, size, Path(path), sheet)
    sample = raw.read(SAMPLE_BYTES)
    chosen = detect_encoding(sample, name) if encoding == "auto" else encoding
    if chosen == "utf-8" and sample.startswith(codecs.BOM_UTF8):
        chosen = "utf-8-sig"
    if fmt == "csv" and chosen != "utf-16" and _semicolons(sample, chosen):
        fmt = "csv;"  # what Excel writes where the decimal mark is a comma
    stream = io.BufferedReader(_Prefixed(sample, raw), buffer_size=1 << 20)
    return Source(name, fmt, chosen, stream, size, None if path == "-" else Path(path))


def _semicolons(sample: bytes, encoding: str) -> bool:
    """True when the header line is split by semicolons and holds no comma."""
    line = sample.split(b"\n", 1)[0]
    try:
        header = line.decode("utf-8" if encoding == "auto" else encoding, errors="replace")
    except LookupError:
        return False
    return ";" in header and "," not in header


def _text(source: Source) -> IO[str]:
    # newline="" lets csv see CRLF inside quoted fields; errors surface with a line number.
    encoding = "crmpool_auto" if source.encoding == "auto" else source.encoding
    return io.TextIOWrapper(source.stream, encoding=encoding, newline="")


def _bounded_lines(source: Source, text: IO[str]) -> Iterator[str]:
    """The text's lines, refusing one longer than MAX_RECORD (a file with no line breaks,
    /dev/zero) before it fills memory, and NUL characters (binary, or UTF-16 without BOM)."""
    number = 0
    while True:
        line = text.readline(MAX_RECORD + 1)
        if not line:
            return
        number += 1
        if len(line) > MAX_RECORD:
            raise InputError(f"{source.name} line {number}: longer than {MAX_RECORD:,}"
                             " characters (crmpool's limit for one record)")
        if "\0" in line:
            raise InputError(f"{source.name} line {number}: a NUL character; is this a binary"
                             " file, or UTF-16 without its byte order mark?")
        yield line


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
    other = "gb18030" if source.encoding.startswith(("utf-8", "auto")) else "utf-8"
    where = f"line {line}"
    if source.path is not None:
        found = _bad_byte_line(source.path, "crmpool_auto" if source.encoding == "auto"
                               else source.encoding)
        where = f"line {found}" if found else where
    else:
        where = f"near line {line}"
    named = "UTF-8 or GB18030" if source.encoding == "auto" else source.encoding
    return InputError(f"{source.name} {where}: bytes that are not {named};"
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
    if source.format == "xlsx":
        from crmpool.imports.excel import read_sheet

        return read_sheet(str(source.path), source.name, source.sheet, MAX_COLUMNS)
    if source.format in ("csv", "csv;") or (source.format == "tsv"
                                             and source.encoding == "utf-16"):
        return _delimited(source)
    if source.format == "tsv":
        return _tsv(source)
    if source.format == "jsonl":
        return [], _json_lines(source)
    return [], _json_array(source)


def _delimited(source: Source) -> tuple[list[str], Iterator[tuple[int, list[str]]]]:
    text = _bounded_lines(source, _text(source))
    delimiter = {"csv": ",", "csv;": ";"}.get(source.format, "\t")
    # strict: a stray quote inside a field ("Al"pha Co) is an error, not silently dropped.
    reader = csv.reader(text, delimiter=delimiter, strict=True)
    try:
        header = next(reader, None)
    except UnicodeDecodeError:
        raise _decode_error(source, 1) from None
    except csv.Error as exc:
        raise InputError(f"{source.name} line 1: {exc}") from None
    header = _header(source, header)
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


def _header(source: Source, header: list[str] | None) -> list[str]:
    if not header:
        raise InputError(f"{source.name}: the file is empty; it needs a header line")
    if len(header) > MAX_COLUMNS:
        raise InputError(f"{source.name} line 1: {len(header):,} columns; crmpool reads at"
                         f" most {MAX_COLUMNS:,}")
    return distinct_headers([h.strip() for h in header])



_TSV_ESCAPES = {"t": "\t", "n": "\n", "r": "\r", "\\": "\\"}
_TSV_ESCAPE = re.compile(r"\\([tnr\\])")


def _tsv_field(text: str) -> str:
    if "\\" not in text:
        return text
    return _TSV_ESCAPE.sub(lambda m: _TSV_ESCAPES[m.group(1)], text)


def _tsv(source: Source) -> tuple[list[str], Iterator[tuple[int, list[str]]]]:
    """TSV as `crmpool export -f tsv` (and PostgreSQL's text format) writes it: one record
    a line, fields split by TAB, with \\t \\n \\r and \\\\ inside a field; no quoting."""
    lines = _bounded_lines(source, _text(source))

    def fields(line: str) -> list[str]:
        if line.endswith("\n"):
            line = line[:-1]
        if line.endswith("\r"):  # a Windows line end; a CR inside a field is escaped
            line = line[:-1]
        return [_tsv_field(f) for f in line.split("\t")]

    number = 1
    try:
        first = next(lines, None)
        header = _header(source, fields(first) if first is not None else None)
    except UnicodeDecodeError:
        raise _decode_error(source, 1) from None
    width = len(header)

    def rows() -> Iterator[tuple[int, list[str]]]:
        nonlocal number
        try:
            for line in lines:
                number += 1
                if not line.strip():
                    continue
                values = fields(line)
                if len(values) != width:
                    if len(values) > width and not any(v.strip() for v in values[width:]):
                        values = values[:width]
                    else:
                        raise InputError(f"{source.name} line {number}: {len(values)} fields"
                                         f" where the header has {width}")
                yield number, values
        except UnicodeDecodeError:
            raise _decode_error(source, number + 1) from None

    return header, rows()


def _json_value(source: Source, line: int, text: str, start: int = 0):
    """One JSON value with its end; numbers keep their text (1e309 is not 'inf'), NaN and
    Infinity are refused, and nesting deeper than Python can follow is an input error."""
    def refuse_constant(name: str):
        raise InputError(f"{source.name} line {line}: {name} is not a value crmpool keeps")

    decoder = json.JSONDecoder(parse_float=str, parse_constant=refuse_constant)
    try:
        return decoder.raw_decode(text, start)
    except RecursionError:
        raise InputError(f"{source.name} line {line}: JSON nested too deeply") from None
    except json.JSONDecodeError:
        raise
    except ValueError as exc:  # an integer of thousands of digits
        raise InputError(f"{source.name} line {line}: {exc}") from None


def _json_lines(source: Source) -> Iterator[tuple[int, dict]]:
    line = 0
    try:
        for line, text in enumerate(_bounded_lines(source, _text(source)), start=1):
            if not text.strip():
                continue
            try:
                value, end = _json_value(source, line, text.strip())
                if end != len(text.strip()):
                    raise json.JSONDecodeError("extra data after the object", text, end)
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
        if len(buffer) > MAX_RECORD + (1 << 16):
            raise InputError(f"{source.name} line {line}: a JSON object longer than"
                             f" {MAX_RECORD:,} characters (crmpool's limit for one record)")
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
            rest = buffer[pos + 1:]
            while not rest.strip() and fill():
                rest = buffer[pos + 1:]
            if rest.strip():
                raise InputError(f"{source.name} line {line}: more after the JSON array's"
                                 " closing ]")
            return
        try:
            value, end = _json_value(source, line, buffer, pos)
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
