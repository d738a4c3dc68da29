"""Stand-in for @rules_proto//proto:defs.bzl that forwards to the native rules."""

load(":native.bzl", "NativeProtoInfo")

# Re-exported through a second file: a module cannot both read and define the
# global name ProtoInfo.
ProtoInfo = NativeProtoInfo

def proto_library(**kwargs):
    native.proto_library(**kwargs)

def proto_lang_toolchain(**kwargs):
    native.proto_lang_toolchain(**kwargs)
