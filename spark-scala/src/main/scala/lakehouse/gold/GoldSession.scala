package lakehouse.gold

import org.apache.spark.sql.SparkSession

/** The session settings every run needs, in one place for the job and its tests. */
object GoldSession {
  /** Delta, UTC days (as the PySpark jobs) and ANSI mode, so a money overflow fails instead of nulling. */
  val Settings: Seq[(String, String)] = Seq(
    "spark.sql.extensions" -> "io.delta.sql.DeltaSparkSessionExtension",
    "spark.sql.catalog.spark_catalog" -> "org.apache.spark.sql.delta.catalog.DeltaCatalog",
    "spark.sql.session.timeZone" -> "UTC",
    "spark.sql.ansi.enabled" -> "true"
  )

  /** A builder with Settings applied; master, memory and jars are left to spark-submit or the caller. */
  def builder(appName: String): SparkSession.Builder =
    Settings.foldLeft(SparkSession.builder().appName(appName)) { case (b, (key, value)) => b.config(key, value) }
}
