"""Research queries over the warehouse: as-of joins, bars of any interval, information-driven bars, replay."""
