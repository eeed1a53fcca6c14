"""The review's four tables regenerated from data, each row with its sources."""
