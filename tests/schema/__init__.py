"""Tests of declaring persisted types (amber._schema): names, versions, fields, refusals."""
