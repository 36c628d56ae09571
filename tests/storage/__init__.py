"""Tests of the storage backends (amber.storage): the shared contract over memory, local and S3,
and S3 on a real server."""
