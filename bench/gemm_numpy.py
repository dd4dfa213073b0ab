"""NumPy's matrix product (its bundled OpenBLAS) on the shapes of `pairlab bench gemm`:
milliseconds per product (median of timed repeats) and GFLOP/s."""
import time

import numpy as np

cfg = np.show_config(mode="dicts")
blas = cfg.get("Build Dependencies", {}).get("blas", {})
print(f"numpy {np.__version__}, BLAS: {blas.get('name')} {blas.get('openblas configuration', blas.get('version', ''))}")
rng = np.random.default_rng(0)
for m, k, n in [(50, 768, 2304), (50, 3072, 768), (1600, 768, 3072), (1600, 3072, 768), (1600, 768, 2304)]:
    a = rng.standard_normal((m, k), dtype=np.float32)
    b = rng.standard_normal((k, n), dtype=np.float32)
    a @ b
    reps = 400 if m < 100 else 20
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - t)
    s = sorted(times)[reps // 2]
    print(f"numpy (OpenBLAS) {m}x{k}x{n}: {s * 1e3:.3f} ms, {2 * m * k * n / s / 1e9:.1f} GFLOP/s")
