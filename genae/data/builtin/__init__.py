"""Data shipped inside the package: ``fashion_mnist_1000.npz`` (made by ``benchmarks/make_fashion_mnist_subset.py``)."""
