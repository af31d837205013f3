"""Customer self-service: orders, products and warranty, repairs, tickets, billing."""
