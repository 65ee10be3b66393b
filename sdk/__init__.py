"""swarmscope SDK: thin OpenTelemetry instrumentation for agent swarms."""
