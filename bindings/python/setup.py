"""Builds libsquall (the crate at the repository root) into the package as
``squall/libsquall.so`` and tags the wheel ``py3-none-<platform>``: it holds a
native library but no CPython extension, so one wheel serves every Python 3.
"""
import os

from setuptools import setup
from setuptools.command.bdist_wheel import bdist_wheel
from setuptools_rust import Binding, RustExtension
from setuptools_rust.build import build_rust

HERE = os.path.dirname(os.path.abspath(__file__))


class build_rust_plain_name(build_rust):
    """The loader looks for exactly ``libsquall.so`` in the package; the
    default name would carry a CPython tag that means nothing here."""

    def get_dylib_ext_path(self, ext, target_fname):
        build_ext = self.get_finalized_command("build_ext")
        return os.path.join(os.path.dirname(build_ext.get_ext_fullpath(target_fname)), "libsquall.so")


class bdist_wheel_any_python(bdist_wheel):
    def finalize_options(self):
        super().finalize_options()
        self.root_is_pure = False

    def get_tag(self):
        _, _, plat = super().get_tag()
        return "py3", "none", plat


setup(
    rust_extensions=[RustExtension("squall.libsquall", path=os.path.join(HERE, "..", "..", "Cargo.toml"),
                                   binding=Binding.NoBinding, debug=False)],
    cmdclass={"build_rust": build_rust_plain_name, "bdist_wheel": bdist_wheel_any_python},
    zip_safe=False,
)
