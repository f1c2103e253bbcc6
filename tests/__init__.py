"""Test suite: runs against real Redis, PostgreSQL, MLLP sockets, HTTP and Chromium."""
