"""The threading set-up of the PyTorch references of `make bench` (lm_torch.py, tfm_torch.py, cifar_torch.py).

Debian's torch runs its matrix products in OpenBLAS (pthreads), which ignores torch.set_num_threads: it takes its
thread count from OPENBLAS_NUM_THREADS / OMP_NUM_THREADS when the library loads, so these must be set before
`import torch`. With several threads, idle OpenMP workers must sleep (PASSIVE), not spin on the cores OpenBLAS's
threads need. Values already in the environment (bench/run.sh sets them) win.
"""
import importlib
import os

ENV_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "OMP_WAIT_POLICY")


def add_arguments(ap):
    ap.add_argument("--threads", type=int, default=0, help="torch.set_num_threads (0: leave default)")
    ap.add_argument("--interop", type=int, default=0, help="torch.set_num_interop_threads (0: leave default)")


def import_torch(threads, interop):
    """Sets the environment for `threads` (0: leaves it), imports torch, sets its thread counts; returns torch."""
    if threads > 0:
        for var in ENV_VARS[:3]:
            os.environ.setdefault(var, str(threads))
        if threads > 1:
            os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    torch = importlib.import_module("torch")
    if interop > 0:
        torch.set_num_interop_threads(interop)  # only legal before any inter-op parallel work
    if threads > 0:
        torch.set_num_threads(threads)
    return torch


def env_text():
    """The variables as the process saw them, for the scripts' note lines."""
    return " ".join(v + "=" + os.environ.get(v, "-") for v in ENV_VARS)
