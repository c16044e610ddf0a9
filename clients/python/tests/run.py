"""Runs the Python client's tests (standard library unittest) and writes their counts for scripts/test.sh.

    python3 clients/python/tests/run.py [COUNTS_FILE]

Prints the unittest report and a last line "python: N passed, N failed, N skipped"; COUNTS_FILE gets "passed failed
skipped". Exit code 1 when a test failed or errored.
"""
import os
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)


def main():
    import support  # noqa: F401  (puts the client on the path, says whether torch is there)
    print(f"python tests: {sys.executable} {sys.version.split()[0]}; torch "
          f"{'importable' if support.HAVE_TORCH else 'NOT importable: the PyTorch tests are skipped'}; "
          f"kiln binary {'at ' + support.kiln_bin() if support.kiln_bin() else 'not set (KILN_BIN): the CLI tests are skipped'}",
          flush=True)
    suite = unittest.defaultTestLoader.discover(HERE, pattern="test_*.py", top_level_dir=HERE)
    result = unittest.TextTestRunner(verbosity=1).run(suite)
    failed = len(result.failures) + len(result.errors) + len(result.unexpectedSuccesses)
    skipped = len(result.skipped)
    passed = result.testsRun - failed - skipped
    print(f"python: {passed} passed, {failed} failed, {skipped} skipped")
    if len(sys.argv) > 1:
        with open(sys.argv[1], "w") as f:
            f.write(f"{passed} {failed} {skipped}\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
