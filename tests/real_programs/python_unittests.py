"""CPython's own test modules (Debian's libpython3.11-testsuite), one result
line per test on stdout, nothing that depends on timing or scheduling.

Usage: python3 python_unittests.py test.test_json test.test_threading ...
"""
import os
import re
import sys
import unittest

import test.support

# Only this process announces the interposer: test_json and test_subprocess
# check that the Pythons they start write nothing on stderr. The children
# still inherit LD_PRELOAD, so they still run on the interposer.
os.environ.pop("SECBITS_VERBOSE", None)
# support.verbose makes test_threading print per-thread progress, whose order
# is the scheduler's.
test.support.verbose = False


class Stream:
    """stdout without the wall-clock time of "Ran N tests in 1.234s"."""

    def write(self, text):
        return sys.stdout.write(re.sub(r"^(Ran \d+ tests?) in [0-9.]+s$", r"\1", text, flags=re.M))

    def flush(self):
        sys.stdout.flush()


suite = unittest.defaultTestLoader.loadTestsFromNames(sys.argv[1:])
result = unittest.TextTestRunner(stream=Stream(), verbosity=2).run(suite)
sys.exit(0 if result.wasSuccessful() else 1)
