import llmops_step


def main(step):
    raise llmops_step.StepError("failing as asked: " + step.param("code"), step.param("code"))


llmops_step.run(main)
