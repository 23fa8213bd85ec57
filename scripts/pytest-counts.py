"""Prints "<passed> <failed>" from a pytest JUnit XML report (errors count as failures, skips as failures too:
a suite in CI never skips quietly)."""
import sys
import xml.etree.ElementTree as ET

root = ET.parse(sys.argv[1]).getroot()
suites = [root] if root.tag == "testsuite" else list(root)
tests = sum(int(s.get("tests", 0)) for s in suites)
bad = sum(int(s.get("failures", 0)) + int(s.get("errors", 0)) + int(s.get("skipped", 0)) for s in suites)
print(tests - bad, bad)
