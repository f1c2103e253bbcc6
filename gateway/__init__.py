"""Gateway: FastAPI app, settings, CLI, process supervisor, web pages."""
