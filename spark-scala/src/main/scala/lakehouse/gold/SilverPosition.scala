package lakehouse.gold

import io.delta.tables.DeltaTable
import org.apache.spark.sql.SparkSession
import org.apache.spark.sql.functions.{col, desc}

/** A silver table (its Delta id, so a replaced table is told apart) at one version. */
final case class SilverPosition(tableId: String, version: Long)

/** Where the PySpark gold job stands (its state table, spark/gold_state.py) and where this mart stands (the
  * userMetadata of its own last positioned commit), so the DAG's run reads silver at exactly the version the other
  * marts were built from, and recomputes only what changed since its own last build. */
object SilverPosition {
  val Marker = "lakehouse.fct_purchases_daily built from silver "
  private val Pattern = (java.util.regex.Pattern.quote(Marker) + """(\S+)@(\d+)""").r

  def metadata(position: SilverPosition): String = s"$Marker${position.tableId}@${position.version}"

  def parse(text: String): Option[SilverPosition] = text match {
    case Pattern(id, version) => Some(SilverPosition(id, version.toLong))
    case _ => None
  }

  /** The silver position gold's state table records; an error naming the table when gold has not finished a run. */
  def ofGoldState(spark: SparkSession, uri: String): SilverPosition = {
    val missing = s"gold's state table at $uri (--gold-state) records no finished gold run: run the gold job first"
    if (!DeltaTable.isDeltaTable(spark, uri)) throw new IllegalArgumentException(missing)
    val rows = spark.read.format("delta").load(uri).select("silver_table_id", "silver_version").collect()
    rows match {
      case Array(row) if !row.isNullAt(0) && !row.isNullAt(1) => SilverPosition(row.getString(0), row.getLong(1))
      case _ => throw new IllegalArgumentException(missing)
    }
  }

  /** Operations that leave a table's rows as they were (maintenance), so they do not move a mart's position. */
  val SameRows: Seq[String] =
    Seq("OPTIMIZE", "VACUUM START", "VACUUM END", "SET TBLPROPERTIES", "UNSET TBLPROPERTIES", "ADD CONSTRAINT")

  /** The position the mart's latest data-changing commit recorded, or None: no table, or that commit recorded none
    * (a ranged or full run without --gold-state, a RESTORE), so the rows' silver version is unknown. */
  def ofMart(spark: SparkSession, uri: String): Option[SilverPosition] =
    if (!DeltaTable.isDeltaTable(spark, uri)) None
    else
      DeltaTable.forPath(spark, uri).history()
        .where(!col("operation").isin(SameRows: _*) && col("operation") =!= "CREATE TABLE")
        .orderBy(desc("version"))
        .select("userMetadata")
        .limit(1)
        .collect()
        .headOption
        .filterNot(_.isNullAt(0))
        .flatMap(row => parse(row.getString(0)))
}
