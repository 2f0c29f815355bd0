"""Study logic: the spec, the design and its catch cells, study creation, the participation
state machine, trial scheduling, ASAP rounds, quality control and exports."""
