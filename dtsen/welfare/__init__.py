"""Welfare ranking: the proxy means test (PMT) and desil of every DTSEN family."""
