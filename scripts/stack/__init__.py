"""The local services the demo and the tests run against: Kafka in KRaft mode, PostgreSQL, and the local cluster
(three Kafka nodes, a Spark master and two workers). python -m scripts.stack.services up|down|status."""
