"""A test-only app with a throwaway item kind: proves a kind works from its declaration alone."""
