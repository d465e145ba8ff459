"""The fault and hostile-input matrix (docs/reliability.md): each module injects one kind of fault for real."""
