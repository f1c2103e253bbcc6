"""Case state machine, joint intake, safe discharge, durable timers and worker tasks."""
