"""DNS security: every lookup in the lake, DGA, tunnels, lookalikes, indicators."""
