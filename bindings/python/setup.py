"""Builds libsquall (the crate at the repository root) into the package as
``squall/libsquall.so`` and tags the wheel ``py3-none-<platform>``: it holds a
native library but no CPython extension, so one wheel serves every Python 3.

The library is stripped of its debug information once built (the release
profile keeps line tables for the C and Go users' backtraces; a wheel has no
use for them): 30 MB become about 5.

The sdist is self-contained: it carries a copy of the crate under ``rust/``
(its manifest, lock file, build script, sources and header), which a build
from the sdist uses; a build from the checkout uses the crate at the
repository root. Cargo fetches the crate's dependencies from crates.io, as it
does for any Rust package.
"""
import os
import shutil
import subprocess

from setuptools import setup
from setuptools.command.bdist_wheel import bdist_wheel
from setuptools.command.sdist import sdist
from setuptools_rust import Binding, RustExtension
from setuptools_rust.build import build_rust

HERE = os.path.dirname(os.path.abspath(__file__))
CHECKOUT = os.path.normpath(os.path.join(HERE, "..", ".."))
VENDORED = os.path.join(HERE, "rust")
CRATE = VENDORED if os.path.exists(os.path.join(VENDORED, "Cargo.toml")) else CHECKOUT

# What of the crate the sdist carries: everything `cargo build --lib` reads.
# tests/panic_boundary.rs only because the manifest names it as a [[test]].
CRATE_FILES = ["Cargo.toml", "Cargo.lock", "build.rs", "cbindgen.toml", "include/squall.h",
               "tests/panic_boundary.rs"]
CRATE_DIRS = ["src"]


class build_rust_plain_name(build_rust):
    """The loader looks for exactly ``libsquall.so`` in the package; the
    default name would carry a CPython tag that means nothing here."""

    def get_dylib_ext_path(self, ext, target_fname):
        build_ext = self.get_finalized_command("build_ext")
        path = os.path.join(os.path.dirname(build_ext.get_ext_fullpath(target_fname)), "libsquall.so")
        self._squall_library = path
        return path

    def install_extension(self, ext, dylib_paths, *args):
        super().install_extension(ext, dylib_paths, *args)
        path = getattr(self, "_squall_library", None)
        strip = shutil.which("strip")
        if path and os.path.exists(path) and strip:
            # --strip-unneeded keeps the dynamic symbols (the sq_* ABI) and
            # drops DWARF and the static symbol table; without a `strip` the
            # library ships as built.
            subprocess.run([strip, "--strip-unneeded", path], check=True)


class bdist_wheel_any_python(bdist_wheel):
    def finalize_options(self):
        super().finalize_options()
        self.root_is_pure = False

    def get_tag(self):
        _, _, plat = super().get_tag()
        return "py3", "none", plat


class sdist_with_crate(sdist):
    """Copies the crate into the sdist's tree as ``rust/``."""

    def make_release_tree(self, base_dir, files):
        super().make_release_tree(base_dir, files)
        if CRATE == VENDORED:  # an sdist made from an sdist: rust/ is among `files` already
            return
        dest = os.path.join(base_dir, "rust")
        for name in CRATE_FILES:
            os.makedirs(os.path.dirname(os.path.join(dest, name)), exist_ok=True)
            shutil.copy2(os.path.join(CHECKOUT, name), os.path.join(dest, name))
        for name in CRATE_DIRS:
            shutil.copytree(os.path.join(CHECKOUT, name), os.path.join(dest, name))


setup(
    rust_extensions=[RustExtension("squall.libsquall", path=os.path.join(CRATE, "Cargo.toml"),
                                   binding=Binding.NoBinding, debug=False)],
    cmdclass={"build_rust": build_rust_plain_name, "bdist_wheel": bdist_wheel_any_python,
              "sdist": sdist_with_crate},
    zip_safe=False,
)
