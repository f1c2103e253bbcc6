"""Database engine and migrations, inbox/outbox, field encryption, audit log."""
