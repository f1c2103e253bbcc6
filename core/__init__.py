"""What every domain needs and no domain owns: settings, the runtime, request dependencies, the clock.

Imports no domain package (a test keeps it so); domains and the application shell import it.
"""
