package lakehouse.gold

import java.nio.file.{Files, Path}

import org.apache.spark.sql.SparkSession
import org.scalatest.{BeforeAndAfterAll, Suite}

/** One local session for every suite in the test JVM, built with the job's own settings. */
object SharedSpark {
  lazy val warehouse: Path = Files.createTempDirectory("lakehouse-gold-warehouse")

  lazy val session: SparkSession =
    GoldSession
      .builder("lakehouse-gold-tests")
      .master("local[2]")
      .config("spark.ui.enabled", "false")
      .config("spark.ui.showConsoleProgress", "false")
      .config("spark.sql.shuffle.partitions", "2")
      .config("spark.databricks.delta.snapshotPartitions", "2")
      .config("spark.sql.warehouse.dir", warehouse.toString)
      .getOrCreate()
}

/** Mix in for `spark` and a scratch directory deleted after the suite. */
trait SparkSuite extends BeforeAndAfterAll { self: Suite =>
  lazy val spark: SparkSession = SharedSpark.session
  lazy val scratch: Path = Files.createTempDirectory("lakehouse-gold-test")

  override def afterAll(): Unit =
    try deleteTree(scratch.toFile)
    finally super.afterAll()

  private def deleteTree(file: java.io.File): Unit = {
    Option(file.listFiles()).foreach(_.foreach(deleteTree))
    file.delete()
  }
}
