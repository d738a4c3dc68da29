#include "server/core/value_depth.h"

#include <string>
#include <utility>

#include "batchexec/v1/batch.pb.h"
#include "google/protobuf/struct.pb.h"
#include "gtest/gtest.h"
#include "server/core/limits.h"

namespace batchexec {
namespace {

using google::protobuf::Struct;
using google::protobuf::Value;

// {"a": {"a": ... {"leaf": 1}}} with `depth` objects: the shape that costs
// protobuf the most message levels per JSON level.
Struct NestedObjects(int depth) {
  Struct args;
  (*args.mutable_fields())["leaf"].set_number_value(1);
  for (int i = 1; i < depth; ++i) {
    Struct outer;
    *(*outer.mutable_fields())["a"].mutable_struct_value() = std::move(args);
    args = std::move(outer);
  }
  return args;
}

// [[...[1]...]] with `depth` lists.
Value NestedLists(int depth) {
  Value value;
  value.set_number_value(1);
  for (int i = 0; i < depth; ++i) {
    Value outer;
    *outer.mutable_list_value()->add_values() = std::move(value);
    value = std::move(outer);
  }
  return value;
}

TEST(ValueDepth, CountsEachObjectOrListAsALevel) {
  Value scalar;
  scalar.set_string_value("x");
  EXPECT_EQ(ValueDepth(scalar), 0);
  Value object;
  object.mutable_struct_value();
  EXPECT_EQ(ValueDepth(object), 1);
  EXPECT_EQ(ValueDepth(NestedLists(1)), 1);
  EXPECT_EQ(ValueDepth(NestedLists(7)), 7);

  Value mixed;  // {"a": 1, "b": [{"c": []}]}
  auto& fields = *mixed.mutable_struct_value()->mutable_fields();
  fields["a"].set_number_value(1);
  (*fields["b"]
        .mutable_list_value()
        ->add_values()
        ->mutable_struct_value()
        ->mutable_fields())["c"]
      .mutable_list_value();
  EXPECT_EQ(ValueDepth(mixed), 4);
}

TEST(StructDepth, CountsTheArgsThemselvesAsLevelOne) {
  EXPECT_EQ(StructDepth(Struct()), 1);
  EXPECT_EQ(StructDepth(NestedObjects(1)), 1);
  EXPECT_EQ(StructDepth(NestedObjects(12)), 12);
}

TEST(ValueDepth, WalksValuesDeeperThanAnyRecursionWouldAllow) {
  EXPECT_EQ(ValueDepth(NestedLists(3000)), 3000);
}

TEST(CheckArgsDepth, AcceptsTheLimitAndNamesArgsAndTheLimitPastIt) {
  EXPECT_TRUE(CheckArgsDepth(NestedObjects(kMaxArgsDepth)).ok());
  const absl::Status status = CheckArgsDepth(NestedObjects(kMaxArgsDepth + 1));
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("args"), absl::string_view::npos) << status;
  EXPECT_NE(
      status.message().find(std::to_string(kMaxArgsDepth + 1) + " levels"),
      absl::string_view::npos)
      << status;
  EXPECT_NE(status.message().find("limit of " + std::to_string(kMaxArgsDepth)),
            absl::string_view::npos)
      << status;
}

TEST(CheckOutputDepth, FailsAnOutputDeeperThanTheLimitAsInternal) {
  EXPECT_TRUE(CheckOutputDepth(NestedLists(kMaxArgsDepth)).ok());
  Value too_deep;
  *too_deep.mutable_struct_value() = NestedObjects(kMaxArgsDepth + 1);
  const absl::Status status = CheckOutputDepth(too_deep);
  EXPECT_EQ(status.code(), absl::StatusCode::kInternal);
  EXPECT_NE(status.message().find("output"), absl::string_view::npos) << status;
}

// The margin in limits.h: echo's output of the deepest args allowed, in the
// deepest response messages, is still readable by a default parser.
TEST(MaxArgsDepth, KeepsEchoResponsesParseableByDefaultParsers) {
  v1::ExecuteEvent event;
  *event.mutable_results()
       ->add_results()
       ->mutable_output()
       ->mutable_struct_value() = NestedObjects(kMaxArgsDepth);
  v1::ExecuteEvent event_back;
  EXPECT_TRUE(event_back.ParseFromString(event.SerializeAsString()));

  v1::GatherResponse gather;
  *gather.add_results()->mutable_output()->mutable_struct_value() =
      NestedObjects(kMaxArgsDepth);
  v1::GatherResponse gather_back;
  EXPECT_TRUE(gather_back.ParseFromString(gather.SerializeAsString()));
}

// Args one level too deep still parse on the server, so the caller gets the
// limit's error, not "not a valid request".
TEST(MaxArgsDepth, LeavesRequestsOneLevelDeeperParseable) {
  v1::ExecuteRequest request;
  *request.add_tasks()->mutable_args() = NestedObjects(kMaxArgsDepth + 1);
  v1::ExecuteRequest back;
  EXPECT_TRUE(back.ParseFromString(request.SerializeAsString()));
}

}  // namespace
}  // namespace batchexec
