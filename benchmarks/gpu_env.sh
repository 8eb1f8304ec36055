# Sourced by the GPU scripts on a lent device machine (no network): the Python packages the image lacks,
# carried as wheels in .whl/, and MNIST carried as the four .gz files in .gpudata/datasets/mnist/.
# On a machine of your own, `pip install -e .` and the usual data cache do the same; this file then does nothing.
if [ -d .whl ]; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
        && export PYTHONPATH="/tmp/site:$PWD${PYTHONPATH:+:$PYTHONPATH}"
fi
if [ -d .gpudata ]; then
    export MNIST_TUI_CACHE_DIR="$PWD/.gpudata" MNIST_TUI_OFFLINE=1
fi
export PYTHONUNBUFFERED=1
alias python=python3
