#include "storage/data_dir.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <vector>

#include "storage/test_temp_dir.h"

namespace meshkv {
namespace {

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream content;
  content << in.rdbuf();
  return content.str();
}

void WriteFile(const std::string& path, const std::string& content) {
  std::ofstream(path, std::ios::trunc) << content;
}

TEST(DataDirTest, CreatesDirectoriesAndKeepsNodeIdAcrossReopen) {
  TempDir temp;
  std::string path = temp.path() + "/a/b/node";
  NodeId first;
  {
    auto dir = DataDir::Open(path);
    ASSERT_TRUE(dir.ok()) << dir.status().ToString();
    first = (*dir)->node_id();
    EXPECT_TRUE(first.valid());
    EXPECT_EQ((*dir)->path(), path);
    EXPECT_EQ((*dir)->db_path(), path + "/db");
  }
  struct stat st;
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  ASSERT_EQ(::stat((temp.path() + "/a").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  EXPECT_EQ(ReadFile(path + "/node_id"), first.ToString() + "\n");
  EXPECT_FALSE(std::filesystem::exists(path + "/node_id.tmp"));

  auto again = DataDir::Open(path);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ((*again)->node_id(), first);
}

TEST(DataDirTest, SecondOpenFailsWhileHeld) {
  TempDir temp;
  std::string path = temp.path() + "/node";
  auto held = DataDir::Open(path);
  ASSERT_TRUE(held.ok()) << held.status().ToString();

  // flock locks belong to the open file description, so a second open() in
  // this same process conflicts just like another process would.
  auto second = DataDir::Open(path);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), ErrorCode::kFailedPrecondition);
  EXPECT_NE(second.status().message().find(path), std::string::npos) << second.status().message();
  EXPECT_NE(second.status().message().find("pid " + std::to_string(::getpid())), std::string::npos)
      << second.status().message();
  EXPECT_NE(second.status().message().find("--data-dir"), std::string::npos);

  held->reset();  // releases the lock
  auto third = DataDir::Open(path);
  EXPECT_TRUE(third.ok()) << third.status().ToString();
}

TEST(DataDirTest, CorruptNodeIdIsDataLoss) {
  for (const std::string& content : std::vector<std::string>{
           "not hex at all\n", "", "0000000000000000\n", "12345\n", std::string(10000, 'a')}) {
    TempDir temp;
    std::string path = temp.path() + "/node";
    ASSERT_EQ(::mkdir(path.c_str(), 0700), 0);
    WriteFile(path + "/node_id", content);
    auto dir = DataDir::Open(path);
    ASSERT_FALSE(dir.ok()) << "content: " << content;
    EXPECT_EQ(dir.status().code(), ErrorCode::kDataLoss);
    EXPECT_NE(dir.status().message().find(path + "/node_id"), std::string::npos)
        << dir.status().message();
  }
}

TEST(DataDirTest, AcceptsNodeIdWrittenByHand) {
  TempDir temp;
  std::string path = temp.path() + "/node";
  ASSERT_EQ(::mkdir(path.c_str(), 0700), 0);
  WriteFile(path + "/node_id", "  00000000000000AB \n");
  auto dir = DataDir::Open(path);
  ASSERT_TRUE(dir.ok()) << dir.status().ToString();
  EXPECT_EQ((*dir)->node_id(), NodeId(0xab));
}

TEST(DataDirTest, PathThatIsAFileIsRefused) {
  TempDir temp;
  std::string path = temp.path() + "/file";
  WriteFile(path, "x");
  auto dir = DataDir::Open(path + "/node");
  ASSERT_FALSE(dir.ok());
  EXPECT_EQ(dir.status().code(), ErrorCode::kFailedPrecondition);
  EXPECT_NE(dir.status().message().find(path), std::string::npos) << dir.status().message();
}

TEST(DataDirTest, UnwritableParentNamesThePath) {
  if (::geteuid() == 0) GTEST_SKIP() << "root ignores directory permissions";
  TempDir temp;
  std::string parent = temp.path() + "/readonly";
  ASSERT_EQ(::mkdir(parent.c_str(), 0500), 0);
  auto dir = DataDir::Open(parent + "/node");
  ASSERT_FALSE(dir.ok());
  EXPECT_EQ(dir.status().code(), ErrorCode::kFailedPrecondition);
  EXPECT_NE(dir.status().message().find(parent + "/node"), std::string::npos)
      << dir.status().message();
}

TEST(DataDirTest, EmptyPathIsInvalid) {
  EXPECT_EQ(DataDir::Open("").status().code(), ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace meshkv
