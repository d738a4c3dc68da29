// Runs a fuzz target over its checked-in corpus as an ordinary test, so every
// `bazel test //...` exercises the fuzz entry points (built with the normal
// toolchain); tests/fuzz/run.sh does the actual fuzzing with libFuzzer.
//   corpus_replay_test <corpus dir>
#include <dirent.h>

#include <cstdint>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

std::string g_corpus_dir;

TEST(FuzzCorpus, EveryInputRunsCleanly) {
  DIR* dir = opendir(g_corpus_dir.c_str());
  ASSERT_NE(dir, nullptr) << g_corpus_dir;
  int inputs = 0;
  while (dirent* entry = readdir(dir)) {
    if (entry->d_name[0] == '.') continue;
    std::ifstream in(g_corpus_dir + "/" + entry->d_name, std::ios::binary);
    std::stringstream bytes;
    bytes << in.rdbuf();
    const std::string data = bytes.str();
    SCOPED_TRACE(entry->d_name);
    EXPECT_EQ(LLVMFuzzerTestOneInput(
                  reinterpret_cast<const uint8_t*>(data.data()), data.size()),
              0);
    ++inputs;
  }
  closedir(dir);
  EXPECT_GT(inputs, 0) << "empty corpus";
}

}  // namespace

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  if (argc > 1) g_corpus_dir = argv[1];
  return RUN_ALL_TESTS();
}
