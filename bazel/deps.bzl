"""batchexec_dependencies(): every external repository batchexec needs, made
from Debian packages so that the build works offline with Bazel 4.2.3.

The repositories carry the upstream names and labels (@com_google_protobuf,
@com_github_grpc_grpc, @com_google_absl, @com_google_googletest, ...), so
BUILD files are the same as with upstream. A workspace that already defines
one of them keeps its own: call this after your own definitions.
"""

load(
    ":system_repos.bzl",
    "stub_repository",
    "system_absl_repository",
    "system_grpc_repository",
    "system_library_repository",
    "system_pkg_config_library",
    "system_protobuf_repository",
)

# Label() resolves against this repository, so the files are found both here
# and when batchexec is an external repository of another workspace.
def _stub(name):
    return Label("//bazel/stubs:" + name)

def _maybe(repo_rule, name, **kwargs):
    if not native.existing_rule(name):
        repo_rule(name = name, **kwargs)

def batchexec_dependencies():
    """Defines the repositories that are not defined yet."""

    # Bazel's own tools load these three; the real ones would be downloaded.
    _maybe(
        stub_repository,
        name = "rules_cc",
        files = {
            _stub("rules_cc.defs.bzl"): "cc/defs.bzl",
            _stub("rules_cc.cc.BUILD"): "cc/BUILD",
        },
    )
    _maybe(
        stub_repository,
        name = "rules_java",
        files = {_stub("rules_java.defs.bzl"): "java/defs.bzl"},
    )
    _maybe(
        stub_repository,
        name = "rules_proto",
        files = {
            _stub("rules_proto.defs.bzl"): "proto/defs.bzl",
            _stub("rules_proto.native.bzl"): "proto/native.bzl",
        },
    )

    # Every cc_test depends on it, even when coverage is not collected.
    _maybe(
        stub_repository,
        name = "remote_coverage_tools",
        files = {
            _stub("remote_coverage_tools.BUILD"): "BUILD",
            _stub("coverage_stub.sh"): "coverage_stub.sh",
        },
    )

    _maybe(
        system_protobuf_repository,
        name = "com_google_protobuf",
        build_file = _stub("com_google_protobuf.BUILD.tpl"),
    )
    _maybe(
        system_grpc_repository,
        name = "com_github_grpc_grpc",
        build_file = _stub("com_github_grpc_grpc.BUILD.tpl"),
        files = {
            _stub("com_github_grpc_grpc.bazel.BUILD"): "bazel/BUILD",
            _stub("com_github_grpc_grpc.cc_grpc_library.bzl"): "bazel/cc_grpc_library.bzl",
            _stub("com_github_grpc_grpc.src_compiler.BUILD"): "src/compiler/BUILD",
        },
    )
    _maybe(system_absl_repository, name = "com_google_absl")
    _maybe(
        system_library_repository,
        name = "com_google_googletest",
        build_file = _stub("com_google_googletest.BUILD"),
        required_files = {
            "/usr/include/gtest/gtest.h": "libgtest-dev",
            "/usr/include/gmock/gmock.h": "libgmock-dev",
        },
        required_libs = {
            "libgtest.a": "libgtest-dev",
            "libgtest_main.a": "libgtest-dev",
            "libgmock.a": "libgmock-dev",
        },
    )
    _maybe(
        system_library_repository,
        name = "com_github_google_benchmark",
        build_file = _stub("com_github_google_benchmark.BUILD"),
        required_files = {"/usr/include/benchmark/benchmark.h": "libbenchmark-dev"},
        required_libs = {
            "libbenchmark.so": "libbenchmark-dev",
            "libbenchmark_main.a": "libbenchmark-dev",
        },
    )

    # RapidJSON (header-only): the CLI's JSON-lines input and output.
    _maybe(
        system_library_repository,
        name = "com_github_tencent_rapidjson",
        build_file = _stub("com_github_tencent_rapidjson.BUILD"),
        required_files = {"/usr/include/rapidjson/document.h": "rapidjson-dev"},
    )

    # GNU libmicrohttpd: the HTTP server behind GET /metrics.
    _maybe(
        system_pkg_config_library,
        name = "org_gnu_libmicrohttpd",
        module = "libmicrohttpd",
        package = "libmicrohttpd-dev",
        target = "libmicrohttpd",
        required_files = {"/usr/include/microhttpd.h": "libmicrohttpd-dev"},
    )

    # libcurl: the client behind the `http` task kind (its multi interface).
    _maybe(
        system_pkg_config_library,
        name = "se_haxx_curl",
        module = "libcurl",
        package = "libcurl4-openssl-dev",
        target = "libcurl",
        required_files = {"/usr/include/x86_64-linux-gnu/curl/curl.h": "libcurl4-openssl-dev"},
    )

    # c-ares: the asynchronous resolver behind the dns kind (Debian's gRPC
    # links the same library). Upstream gRPC's name and label.
    _maybe(
        system_pkg_config_library,
        name = "com_github_cares_cares",
        module = "libcares",
        package = "libc-ares-dev",
        target = "ares",
        required_files = {"/usr/include/ares.h": "libc-ares-dev"},
    )
