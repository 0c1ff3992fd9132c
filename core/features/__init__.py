"""One module per feature (its rule, label vocabulary, fact sentence, reader and teacher phrasings); core.facts
lists them in its registry."""
