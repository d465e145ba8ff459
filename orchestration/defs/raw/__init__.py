"""Raw loads: one UTC day of landing files into raw.trades and raw.book_snapshots."""
