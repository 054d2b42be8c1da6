"""annbench harness: configs, planning, isolated runs, measurement, results and reports.

Importing this package (or any module the CLI needs to list, plan or report) imports no
deep-learning framework; frameworks are imported only inside worker processes.
"""
__version__ = "0.1.0"
