"""Test kit of the monitors (importable by tests/monitors, tests/monitoring and bench/, never via a path).

* :mod:`~leadscore_monitors.testkit.synth`: synthetic lead records (clean, optionally drifted) and tiny real
  artifacts built with :func:`leadscore_core.testkit.build_artifact`;
* :mod:`~leadscore_monitors.testkit.servers`: a monitor component as a real process on 127.0.0.1;
* :mod:`~leadscore_monitors.testkit.events`: logger CloudEvents, and V2 request/response pairs scored for real;
* :mod:`~leadscore_monitors.testkit.logs`: a real Delta inference log written through the sink's own code.

Nothing here runs at import time; the submodules import what they need when they are imported.
"""
