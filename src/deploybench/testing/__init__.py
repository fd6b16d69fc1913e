"""Servers for tests and benchmarks, a supported module for your own tests (docs/testing.md).

- :mod:`deploybench.testing.servers` / :mod:`deploybench.testing.scripted`: the scripted server, exact
  timing schedules and injected faults (also what ``deploybench doctor`` drives);
- :mod:`deploybench.testing.adapters`: local imitations of TGI and the SageMaker runtime in front of a real
  OpenAI-compatible server;
- :mod:`deploybench.testing.eventstream`: the AWS event-stream encoder those imitations send with.

They stand in for a real engine only where a real one can't do it on demand.
"""
