#!/usr/bin/env python3
"""Counts GoogleTest cases of one `bazel test` run from its build event file.

  count_tests.py BEP_JSON BAZEL_EXIT_CODE  ->  prints "PASSED FAILED"

Only this run's test.xml files count (the build event file names them, cache
hits included). A target without a report counts as one case; a target that
failed with every case passing (crash at exit, sanitizer report) counts as one
failure; a target that never ran (build failure) counts as one failure.
"""
import json, os, sys, urllib.parse
import xml.etree.ElementTree as ET

bep_path, test_rc = sys.argv[1], int(sys.argv[2])

def count_xml(path):
    """(passed, failed) test cases of one JUnit XML report."""
    passed = failed = 0
    for case in ET.parse(path).iter("testcase"):
        if case.get("result") == "skipped" or case.get("status") == "notrun":
            continue
        if case.find("failure") is not None or case.find("error") is not None:
            failed += 1
        else:
            passed += 1
    return passed, failed

tests = set()   # test targets analysed in this run
results = {}    # (label, run, shard) -> (attempt, status, test.xml path)
if os.path.exists(bep_path):
    with open(bep_path) as bep:
        for line in bep:
            event = json.loads(line)
            eid = event.get("id", {})
            if "targetConfigured" in eid and "testSize" in event.get("configured", {}):
                tests.add(eid["targetConfigured"]["label"])
            elif "testResult" in eid:
                tid = eid["testResult"]
                key = (tid["label"], tid.get("run", 1), tid.get("shard", 1))
                result = event.get("testResult", {})
                xml = None
                for out in result.get("testActionOutput", []):
                    if out.get("name") == "test.xml":
                        xml = urllib.parse.unquote(urllib.parse.urlparse(out["uri"]).path)
                attempt = tid.get("attempt", 1)
                if key not in results or attempt >= results[key][0]:
                    results[key] = (attempt, result.get("status", "NO_STATUS"), xml)

passed = failed = 0
for (label, _, _), (_, status, xml) in sorted(results.items()):
    p, f = count_xml(xml) if xml and os.path.exists(xml) else (0, 0)
    # A target can fail with every case passing (crash at exit, leak check).
    if status != "PASSED" and f == 0:
        f = 1
    if p + f == 0:
        p = 1
    passed, failed = passed + p, failed + f

# Test targets that never ran (they failed to build) are failures too.
failed += len(tests - {label for (label, _, _) in results})
# A failing bazel invocation must never read as all-green.
if test_rc not in (0, 4) and failed == 0:
    failed = 1
print(passed, failed)
