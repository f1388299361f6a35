"""Small shared helpers (filesystem, logging, progress) used across crossrec."""
