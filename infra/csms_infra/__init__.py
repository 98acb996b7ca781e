"""CDK infrastructure of the CSMS: one stack, refers to runtime handlers only by string."""
