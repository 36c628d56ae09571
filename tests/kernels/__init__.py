"""Tests of the writer's inner loops (amber._kernels): the compiled twin against the
pure-Python reference, and which of the two is used."""
