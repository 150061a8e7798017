// SourcePos: a place in a pipeline file, shared by PipelineSpec and ScheduleSpec.
// Plain data.
#pragma once

namespace llmops::engine {

// 1-based line and column; 0 when unknown.
struct SourcePos {
  int line = 0;
  int col = 0;
};

}  // namespace llmops::engine
