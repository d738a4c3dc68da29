"""cc_grpc_library with upstream gRPC's signature, over Debian's grpc_cpp_plugin.

Installed as @com_github_grpc_grpc//bazel:cc_grpc_library.bzl by
@batchexec//bazel:system_repos.bzl, so BUILD files load it exactly as they
would with upstream gRPC.

The generated X.grpc.pb.h / X.grpc.pb.cc are included by the proto's import
path (e.g. "batchexec/v1/batch.grpc.pb.h"), whatever package or repository
the proto_library lives in.
"""

_WELL_KNOWN_PROTOS = [
    "@com_google_protobuf//:%s_proto" % name
    for name in [
        "any",
        "api",
        "descriptor",
        "duration",
        "empty",
        "field_mask",
        "source_context",
        "struct",
        "timestamp",
        "type",
        "wrappers",
    ]
]

def _import_path(src, proto_source_root):
    """The path protoc knows `src` by, e.g. "batchexec/v1/batch.proto"."""
    path = src.path
    if proto_source_root not in ("", ".") and path.startswith(proto_source_root + "/"):
        return path[len(proto_source_root) + 1:]

    # No source root of its own: relative to its (bin or source) root and
    # repository.
    if src.root.path and path.startswith(src.root.path + "/"):
        path = path[len(src.root.path) + 1:]
    if src.owner.workspace_root and path.startswith(src.owner.workspace_root + "/"):
        path = path[len(src.owner.workspace_root) + 1:]
    return path

def _generate_grpc_cc_impl(ctx):
    # Outputs go to <package>/<this target's name>/<import path>, so that
    # stripping the target's name as include prefix gives the import path.
    outs = []
    imports = []
    out_dir = None
    for src in ctx.attr.srcs:
        info = src[ProtoInfo]
        for proto in info.direct_sources:
            import_path = _import_path(proto, info.proto_source_root)
            imports.append(import_path)
            stem = import_path[:-len(".proto")]
            suffixes = [".grpc.pb.h", ".grpc.pb.cc"]
            if ctx.attr.generate_mocks:
                suffixes.append("_mock.grpc.pb.h")
            for suffix in suffixes:
                out = ctx.actions.declare_file(ctx.label.name + "/" + stem + suffix)
                outs.append(out)
                if out_dir == None:
                    out_dir = out.path[:-len(stem + suffix) - 1]
    if not outs:
        fail("srcs declare no .proto file", "srcs")

    # Descriptor sets carry every import already: protoc needs no -I paths,
    # whichever package or repository each proto comes from.
    descriptor_sets = depset(transitive = [
        src[ProtoInfo].transitive_descriptor_sets
        for src in ctx.attr.srcs
    ])
    args = ctx.actions.args()
    args.add(ctx.executable.plugin, format = "--plugin=protoc-gen-grpc=%s")
    args.add(
        ("generate_mock_code=true:" if ctx.attr.generate_mocks else "") + out_dir,
        format = "--grpc_out=%s",
    )
    args.add_joined(
        descriptor_sets,
        join_with = ctx.configuration.host_path_separator,
        format_joined = "--descriptor_set_in=%s",
    )
    args.add_all(imports)
    ctx.actions.run(
        executable = ctx.executable._protoc,
        arguments = [args],
        inputs = descriptor_sets,
        tools = [ctx.executable.plugin],
        outputs = outs,
        mnemonic = "GrpcCppGen",
        progress_message = "Generating gRPC C++ code for %s" % ctx.label,
    )
    return [DefaultInfo(files = depset(outs))]

_generate_grpc_cc = rule(
    implementation = _generate_grpc_cc_impl,
    attrs = {
        "srcs": attr.label_list(mandatory = True, providers = [ProtoInfo]),
        "generate_mocks": attr.bool(default = False),
        "plugin": attr.label(
            default = Label("//:grpc_cpp_plugin"),
            executable = True,
            cfg = "host",
        ),
        "_protoc": attr.label(
            default = Label("@com_google_protobuf//:protoc"),
            executable = True,
            cfg = "host",
        ),
    },
)

def cc_grpc_library(
        name,
        srcs,
        deps,
        proto_only = False,
        well_known_protos = False,
        generate_mocks = False,
        use_external = False,
        grpc_only = False,
        **kwargs):
    """Generates C++ gRPC code, as upstream's macro of the same name.

    Args:
      name: name of the cc_library holding the generated code.
      srcs: with grpc_only, proto_library targets; otherwise one .proto file.
      deps: with grpc_only, the cc_proto_library of srcs; otherwise other
        cc_grpc_library targets whose protos srcs imports.
      proto_only: generate only the messages (name is the cc_proto_library).
      well_known_protos: let srcs import the well-known types (not grpc_only).
      generate_mocks: also declare and generate X_mock.grpc.pb.h.
      use_external: accepted for compatibility; has no effect.
      grpc_only: generate only the service code, from proto_library srcs.
      **kwargs: passed to every generated target (visibility, tags, ...).
    """
    if len(srcs) > 1:
        fail("Only one srcs value supported", "srcs")
    if grpc_only and proto_only:
        fail("A mutually exclusive configuration is specified: grpc_only = True and proto_only = True")

    extra_deps = []
    proto_targets = []
    if not grpc_only:
        proto_target = "_" + name + "_only"
        cc_proto_target = name if proto_only else "_" + name + "_cc_proto"

        # Same naming convention as upstream: dep "x" has proto "_x_only".
        proto_deps = []
        for dep in deps:
            if ":" in dep:
                package, dep_name = dep.rsplit(":", 1)
                proto_deps.append(package + ":_" + dep_name + "_only")
            else:
                proto_deps.append("_" + dep + "_only")
        if well_known_protos:
            proto_deps += _WELL_KNOWN_PROTOS
        native.proto_library(
            name = proto_target,
            srcs = srcs,
            deps = proto_deps,
            **kwargs
        )
        native.cc_proto_library(
            name = cc_proto_target,
            deps = [":" + proto_target],
            **kwargs
        )
        extra_deps.append(":" + cc_proto_target)
        proto_targets.append(":" + proto_target)
    else:
        if not srcs:
            fail("srcs cannot be empty", "srcs")
        proto_targets += srcs

    if proto_only:
        return

    codegen_target = "_" + name + "_grpc_codegen"
    _generate_grpc_cc(
        name = codegen_target,
        srcs = proto_targets,
        generate_mocks = generate_mocks,
        **kwargs
    )
    native.cc_library(
        name = name,
        srcs = [":" + codegen_target],
        hdrs = [":" + codegen_target],
        strip_include_prefix = codegen_target,
        deps = deps + extra_deps + [Label("//:grpc++_codegen_proto")],
        **kwargs
    )
