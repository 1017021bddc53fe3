package lakehouse.gold

import io.delta.tables.DeltaTable
import org.apache.spark.sql.{DataFrame, SparkSession}
import org.apache.spark.sql.types.{StructField, StructType}

/** Gold's Delta writes, with the same table shape as spark/gold_refresh.py so either job can own a mart. */
object DeltaMart {
  /** Change data feed (the PostgreSQL loader reads it) and the small-file settings of every mart. */
  val Properties: Seq[(String, String)] = Seq(
    "delta.autoOptimize.optimizeWrite" -> "true",
    "delta.autoOptimize.autoCompact" -> "true",
    "delta.enableChangeDataFeed" -> "true"
  )

  /** Create the mart with its key NOT NULL and Properties, unless a Delta table is already there. */
  def createIfMissing(spark: SparkSession, uri: String, schema: StructType, key: String): Unit =
    if (!DeltaTable.isDeltaTable(spark, uri)) {
      val columns = StructType(schema.fields.map(f => StructField(f.name, f.dataType, nullable = f.name != key)))
      val builder = DeltaTable.createIfNotExists(spark).location(uri).addColumns(columns)
      Properties.foldLeft(builder) { case (b, (name, value)) => b.property(name, value) }.execute()
    }

  /** Replace the whole mart; `metadata` is recorded as the commit's userMetadata. */
  def overwrite(mart: DataFrame, uri: String, metadata: Option[String] = None): Unit =
    writer(mart, metadata).save(uri)

  /** Atomically replace the rows matching `predicate`; matching days with no new rows disappear. */
  def replaceWhere(mart: DataFrame, uri: String, predicate: String, metadata: Option[String] = None): Unit =
    writer(mart, metadata).option("replaceWhere", predicate).save(uri)

  private def writer(mart: DataFrame, metadata: Option[String]) = {
    val write = mart.write.format("delta").mode("overwrite")
    metadata.fold(write)(text => write.option("userMetadata", text))
  }
}
