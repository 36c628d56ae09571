"""Tests of the bytes on disk (amber._format): round trips of released formats, signatures, the
tagged encoding, and hostile or corrupt files."""
