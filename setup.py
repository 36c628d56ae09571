"""The one thing pyproject.toml cannot declare: the compiled kernels. ``optional=True``: where
no C compiler is found the install still succeeds, and amber._kernels uses its pure-Python
twins (of both modules: amber._kernels takes the compiled ones only when both import)."""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension("amber._kernels._compiled", ["src/amber/_kernels/_compiled.c"], optional=True),
        Extension("amber._kernels._compiled_identity", ["src/amber/_kernels/_identity.c"], optional=True),
    ],
)
