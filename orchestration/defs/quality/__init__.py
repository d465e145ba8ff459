"""Quality: the Great Expectations suites as blocking asset checks, one per dataset."""
