"""The domain core shared by the service and training: series encoding, prompts, the output schema, feature rules."""
