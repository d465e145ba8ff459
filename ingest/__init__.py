"""Landing-side code: everything that produces or reads the Tardis-layout landing files."""
