"""Provider adapters (one module each) and the HTTP layer they share."""
