import llmops_step

llmops_step.run(lambda step: {})
