"""The same numbers on every machine: the first cell's plumbing, which is not the lesson.

A training run adds up millions of products. How a sum is split over threads changes the order of
the additions, and so the last bits of the result; TensorFlow and OpenBLAS size their thread pools
by the machine's core count. `pin_thread_pools()` gives each pool one thread, so a laptop with 8
cores computes bit for bit what a 2-core CI runner computes, and the outputs stored in the
notebooks hold on both. (What it cannot fix, the CPU's own kernels, the chapters handle by stating
fragile results through robust quantities; see the README's contributing section.)
"""

from __future__ import annotations

import sys

THREADS = 1


def pin_thread_pools(threads: int = THREADS) -> None:
    """Fix the size of TensorFlow's (if it is imported) and the BLAS's thread pools.

    Call it in a notebook's first cell, after importing TensorFlow and before any model runs:
    TensorFlow fixes its pools when it runs its first operation.
    """
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=threads)  # numpy's OpenBLAS, for the rest of the process
    tf = sys.modules.get("tensorflow")
    if tf is not None:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)


__all__ = ["pin_thread_pools"]
