#!/usr/bin/env bash
# The device check of the torch population (docs/benchmarks.md, "0b. The torch population"):
# one command for a lent NVIDIA machine, from the repository root. It runs the torch tests
# (their CUDA cases run only where torch sees a device), then the GPU workload:
# 1e6 users x 1,000 items x d = 384, k = 10, slates given (torch_cuda) and the click oracle
# ranking every item on the device each request (torch_cuda_oracle). Results under $OUT.
#
# The machine's image has torch, numpy, numba, pytest and hypothesis but not gymnasium (which
# `import recsim_llm` needs): fetch its wheels here first, into an ignored folder, and carry it:
#   echo /.whl/ >> .git/info/exclude
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 \
#       --implementation cp --platform manylinux2014_x86_64 -d .whl \
#       gymnasium==1.4.0 farama-notifications==0.0.6 cloudpickle==3.1.3
# then: run(command="bash benchmarks/gpu_check.sh", carry=[".whl"], timeout_s=540)
set -uo pipefail
out=${OUT:-/tmp/gpu_check}
mkdir -p "$out"
if ls .whl/*.whl >/dev/null 2>&1; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/site .whl/*.whl || exit 1
    export PYTHONPATH=/tmp/site
fi
export PYTHONPATH=${PYTHONPATH:+$PYTHONPATH:}$PWD PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>&1 | tee "$out/gpu.txt"
python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())" \
    2>&1 | tee -a "$out/gpu.txt"
timeout 180 python3 -m pytest -q -p no:cacheprovider tests/kernels/test_torch_population.py \
    2>&1 | tee "$out/tests.log"
cd benchmarks || exit 1
timeout 300 python3 throughput.py --gpu --no-memory --n-users --slates --dims 384 \
    --sweep-users 1000000 --impls torch_cuda torch_cuda_oracle --reps 2 --seconds 3 --days 1 \
    --out "$out/throughput_gpu.json" 2>&1 | tee "$out/bench.log"
