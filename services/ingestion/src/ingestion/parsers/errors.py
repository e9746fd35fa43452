"""Typed errors for input that cannot be parsed at all, each saying what, where and what to do."""

from __future__ import annotations

from pathlib import Path


class InputFileError(Exception):
    """A file that cannot be read as the format asked for; nothing from it should be published."""

    code = "bad_input"

    def __init__(self, path: Path | str, what: str, *, where: str | None = None, fix: str = ""):
        self.path = Path(path)
        self.what = what
        self.where = where
        self.fix = fix
        location = f"{self.path}" + (f" ({where})" if where else "")
        message = f"{location}: {what}"
        if fix:
            message += f". {fix}"
        super().__init__(message)


class EmptyFileError(InputFileError):
    code = "empty_file"


class UnknownFormatError(InputFileError):
    code = "unknown_format"


class MalformedXmlError(InputFileError):
    """Not XML, or XML cut short (a truncated download)."""

    code = "malformed_xml"


class FileChangedError(InputFileError):
    """The file was written to while it was being read."""

    code = "file_changed"


class WrongEncodingError(InputFileError):
    code = "wrong_encoding"


class ArchiveTooLargeError(InputFileError):
    """A zip whose content would expand past the configured size or ratio (a zip bomb)."""

    code = "archive_too_large"


class MissingColumnsError(InputFileError):
    code = "missing_columns"
