"""Build of porevae: pure Python, plus the optional CUDA extension ``porevae._cuda``.

The extension is built from ``csrc/`` when a CUDA toolkit (``nvcc``) is found.
``POREVAE_CUDA=0`` turns the build off, ``POREVAE_CUDA=1`` forces it (a failure is then an error);
otherwise a failed CUDA build prints a warning and porevae installs without it.
``POREVAE_CUDA_ARCHS`` (default ``"80;90"``) lists the SM architectures compiled.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

ROOT = Path(__file__).parent
CSRC = ROOT / "csrc"


def _find_nvcc():
    home = os.environ.get("CUDA_HOME") or os.environ.get("CUDA_PATH")
    if home and (Path(home) / "bin" / "nvcc").exists():
        return str(Path(home) / "bin" / "nvcc")
    found = shutil.which("nvcc")
    if found:
        return found
    default = Path("/usr/local/cuda/bin/nvcc")
    return str(default) if default.exists() else None


class CudaBuild(build_ext):
    """Compile ``.cu`` files with nvcc, the bindings with the host compiler, link with cudart."""

    def build_extension(self, ext):
        if ext.name != "porevae._cuda":
            return super().build_extension(ext)
        try:
            self._build_cuda(ext)
        except Exception as exc:  # noqa: BLE001 - reported, optional unless forced
            if os.environ.get("POREVAE_CUDA") == "1":
                raise
            print(f"warning: porevae._cuda not built ({exc}); the CUDA backend is unavailable",
                  file=sys.stderr)

    def _build_cuda(self, ext):
        import pybind11

        nvcc = _find_nvcc()
        cuda_home = Path(nvcc).resolve().parent.parent
        archs = os.environ.get("POREVAE_CUDA_ARCHS", "80;90").split(";")
        gencode = [f"-gencode=arch=compute_{a},code=sm_{a}" for a in archs if a]
        build_tmp = Path(self.build_temp) / "cuda"
        build_tmp.mkdir(parents=True, exist_ok=True)
        includes = [f"-I{pybind11.get_include()}", f"-I{CSRC}",
                    f"-I{sysconfig_include()}", f"-I{cuda_home / 'include'}"]
        objects = []
        for src in ext.sources:
            obj = build_tmp / (Path(src).name + ".o")
            cmd = [nvcc, "-c", src, "-o", str(obj), "-O3", "-std=c++17", "-Xcompiler", "-fPIC",
                   "--expt-relaxed-constexpr", *includes, *gencode]
            print(" ".join(cmd))
            subprocess.check_call(cmd)
            objects.append(str(obj))
        out = Path(self.get_ext_fullpath(ext.name))
        out.parent.mkdir(parents=True, exist_ok=True)
        lib_dirs = [cuda_home / "lib64", cuda_home / "lib", cuda_home / "targets/x86_64-linux/lib"]
        cmd = [nvcc, "-shared", "-o", str(out), *objects, *gencode,
               *[f"-L{d}" for d in lib_dirs if d.exists()], "-lcudart"]
        print(" ".join(cmd))
        subprocess.check_call(cmd)


def sysconfig_include():
    import sysconfig

    return sysconfig.get_paths()["include"]


def _extensions():
    mode = os.environ.get("POREVAE_CUDA", "auto")
    if mode == "0":
        return []
    if mode != "1" and _find_nvcc() is None:
        return []
    sources = sorted(str(p.relative_to(ROOT)) for p in CSRC.rglob("*.cu"))
    return [Extension("porevae._cuda", sources=sources)] if sources else []


setup(ext_modules=_extensions(), cmdclass={"build_ext": CudaBuild})
