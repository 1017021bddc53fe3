package lakehouse.gold

import org.apache.spark.sql.SparkSession

/** The session settings every run needs, in one place for the job and its tests. */
object GoldSession {
  /** Delta, UTC days (as the PySpark jobs), ANSI mode so a money overflow fails instead of nulling, and Parquet
    * timestamps every reader reads back from 0001-01-01 on (spark/session.py PARQUET_TIMESTAMPS says why). */
  val Settings: Seq[(String, String)] = Seq(
    "spark.sql.extensions" -> "io.delta.sql.DeltaSparkSessionExtension",
    "spark.sql.catalog.spark_catalog" -> "org.apache.spark.sql.delta.catalog.DeltaCatalog",
    "spark.sql.session.timeZone" -> "UTC",
    "spark.sql.ansi.enabled" -> "true",
    "spark.sql.parquet.outputTimestampType" -> "TIMESTAMP_MICROS",
    "spark.sql.parquet.datetimeRebaseModeInWrite" -> "CORRECTED",
    "spark.sql.parquet.datetimeRebaseModeInRead" -> "CORRECTED",
    "spark.sql.parquet.int96RebaseModeInWrite" -> "CORRECTED",
    "spark.sql.parquet.int96RebaseModeInRead" -> "CORRECTED"
  )

  /** A builder with Settings applied; master, memory and jars are left to spark-submit or the caller. */
  def builder(appName: String): SparkSession.Builder =
    Settings.foldLeft(SparkSession.builder().appName(appName)) { case (b, (key, value)) => b.config(key, value) }
}
