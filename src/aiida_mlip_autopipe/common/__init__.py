"""The ground floor: helpers shared by the stages, the campaign and the benchmarks.

One home for each idea the stages share, so that no stage borrows from another:

- :mod:`.geometry`: shortest interatomic distance, atoms too close to label;
- :mod:`.duplicates`: structures equal up to symmetry, near-equal descriptor vectors;
- :mod:`.sampling`: farthest-point sampling of descriptor vectors;
- :mod:`.composition`: whole-atom counts of a composition on a number of sites;
- :mod:`.errors`: pydantic validation errors as messages that name the field;
- :mod:`.mappings`: ``deep_merge`` of nested dictionaries (protocols and their overrides);
- :mod:`.scoring`: errors of a potential against labelled frames;
- :mod:`.timing`: how busy the labelling kept its cores;
- :mod:`.engine`: work-chain helpers (``submit_once``, ``expose_top_level_inputs``).

Modules here import nothing of the package outside this folder (``tests/test_architecture.py``).
"""
