"""Customer self-service portal and partner extranet."""
