#!/bin/sh
# Offline stand-in for Bazel's coverage tools: coverage is not supported.
echo "coverage is not available in the offline build (bazel/deps.bzl)" >&2
exit 0
