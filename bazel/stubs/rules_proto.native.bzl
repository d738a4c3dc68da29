"""The built-in ProtoInfo under another name, for defs.bzl to re-export."""

NativeProtoInfo = ProtoInfo
