"""The one thing pyproject.toml cannot declare: the compiled kernels. ``optional=True``: where
no C compiler is found the install still succeeds, and amber._kernels uses its pure-Python
twin."""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension("amber._kernels._compiled", ["src/amber/_kernels/_compiled.c"], optional=True),
    ],
)
