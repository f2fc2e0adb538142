"""Helpers the test suite and the benchmarks share: real processes on loopback ports, a real S3
endpoint (moto) with a proxy that can drop connections, a PostgreSQL cluster of their own.
Not shipped in the wheel (the tests' and benchmarks' `[test]` extras provide what it imports)."""
