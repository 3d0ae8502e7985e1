"""The campaign: the campaign file, the loop's rules and ``ActiveLearningWorkChain`` (the only composer)."""
