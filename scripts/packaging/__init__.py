"""What is deployed, built from the repository: the Spark archive and wheel, the local drivers' class archive, the
DAG bundle, and each folder's requirements.txt from the lockfile."""
