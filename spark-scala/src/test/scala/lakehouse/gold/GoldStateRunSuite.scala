package lakehouse.gold

import java.time.LocalDate

import io.delta.tables.DeltaTable
import lakehouse.gold.SilverRows.{day, event, gbp}
import org.apache.spark.sql.Row
import org.scalatest.funsuite.AnyFunSuite

/** The DAG's mode (--gold-state): silver read at the version gold's state records, and only the days with
  * purchases committed since the mart's own last build recomputed. */
class GoldStateRunSuite extends AnyFunSuite with SparkSuite {
  private lazy val silver = scratch.resolve("silver/events").toString
  private lazy val gold = scratch.resolve("gold/fct_purchases_daily").toString
  private lazy val state = scratch.resolve("gold/_state").toString

  private val Batch = Seq(
    event(1, "2024-03-01 10:02:30", "u1", "purchase", "p1", "19.99", 2),
    event(2, "2024-03-02 00:01:00", "u2", "purchase", "p2", "0.10", 3),
    event(3, "2024-03-03 12:00:00", "u3", "page_view")
  )
  private val Late = Seq(event(4, "2024-03-01 15:00:00", "u2", "purchase", "p1", "2.50", 4))
  private val Views = Seq(event(5, "2024-03-04 09:00:00", "u5", "page_view"))

  private def run(extra: String*): RunSummary =
    PurchasesDailyJob.run(
      spark,
      JobArgs.parse(Seq("--silver", silver, "--gold", gold) ++ extra).fold(e => fail(e), identity)
    )

  private def runFromState(): RunSummary = run("--gold-state", state)

  private def append(rows: Seq[Row]): Long = {
    SilverRows.frame(spark, rows).write.format("delta").mode("append").save(silver)
    DeltaTable.forPath(spark, silver).history(1).select("version").head().getLong(0)
  }

  private def silverId: String = DeltaTable.forPath(spark, silver).detail().select("id").head().getString(0)

  /** Gold's state row as spark/gold_state.py writes it, with the columns this job reads. */
  private def recordGold(version: Long): Unit =
    spark.createDataFrame(java.util.Collections.singletonList(Row(silverId, version)), StateSchema)
      .write.format("delta").mode("overwrite").save(state)

  private val StateSchema = org.apache.spark.sql.types.StructType.fromDDL("silver_table_id STRING, silver_version BIGINT")

  private def goldRows(): Seq[Row] =
    spark.read.format("delta").load(gold).orderBy(PurchasesDailyJob.Key).collect().toSeq

  test("without a finished gold run the error names the state table") {
    DeltaTable.create(spark).location(silver).addColumns(SilverRows.Schema).partitionedBy("event_date")
      .property("delta.enableChangeDataFeed", "true").execute()
    append(Batch)
    val failure = intercept[IllegalArgumentException](runFromState())
    assert(failure.getMessage.contains(s"gold's state table at $state (--gold-state) records no finished gold run"))
  }

  test("the first run builds every day at the state's version and records that position") {
    val first = DeltaTable.forPath(spark, silver).history(1).select("version").head().getLong(0)
    recordGold(first)
    append(Late) // committed after gold's recorded version: not read
    val summary = runFromState()
    assert(summary.scope == Scope.AllDays && summary.silverVersion == first)
    assert(goldRows() == Seq(
      Row(day("2024-03-01"), 1L, 2L, gbp("39.98"), 1L),
      Row(day("2024-03-02"), 1L, 3L, gbp("0.30"), 1L)
    ))
    assert(SilverPosition.ofMart(spark, gold).contains(SilverPosition(silverId, first)))
  }

  test("at the same position nothing is rewritten") {
    val before = DeltaTable.forPath(spark, gold).history(1).select("version").head().getLong(0)
    assert(runFromState().scope == Scope.NoDays)
    assert(DeltaTable.forPath(spark, gold).history(1).select("version").head().getLong(0) == before)
  }

  test("a later position recomputes only the days with new purchases, and views alone rewrite nothing") {
    val late = DeltaTable.forPath(spark, silver).history(1).select("version").head().getLong(0)
    recordGold(late)
    val summary = runFromState()
    assert(summary.scope == Scope.DayList(Seq(LocalDate.of(2024, 3, 1))) && summary.rows == 1)
    assert(goldRows().head == Row(day("2024-03-01"), 2L, 6L, gbp("49.98"), 2L))
    recordGold(append(Views))
    assert(runFromState().scope == Scope.NoDays)
    assert(goldRows().size == 2)
  }

  test("maintenance keeps the position; a write without one, or from another silver table, means a full build") {
    spark.sql(s"OPTIMIZE delta.`$gold`")
    assert(runFromState().scope == Scope.NoDays)
    run("--from-date", "2024-03-02", "--to-date", "2024-03-02")
    assert(SilverPosition.ofMart(spark, gold).isEmpty)
    assert(runFromState().scope == Scope.AllDays)
    val other = SilverPosition("another-silver", 0L)
    assert(SilverPosition.parse(SilverPosition.metadata(other)).contains(other))
    spark.read.format("delta").load(gold).write.format("delta").mode("overwrite")
      .option("userMetadata", SilverPosition.metadata(other)).save(gold)
    assert(runFromState().scope == Scope.AllDays)
    assert(goldRows().map(_.getLong(1)) == Seq(2L, 1L))
  }

  test("silver's change data vacuumed away since the position: the mart is rebuilt in full at the state's version") {
    val at = runFromState().silverVersion
    val extra = Seq(
      Seq(event(6, "2024-03-05 10:00:00", "u6", "purchase", "p2", "1.00", 1)),
      Seq(event(7, "2024-03-05 11:00:00", "u7", "purchase", "p2", "2.00", 1))
    )
    extra.foreach(append)
    spark.sql(s"OPTIMIZE delta.`$silver`") // the two files of 2024-03-05 become one; VACUUM deletes the originals
    spark.conf.set("spark.databricks.delta.retentionDurationCheck.enabled", "false")
    try spark.sql(s"VACUUM delta.`$silver` RETAIN 0 HOURS")
    finally spark.conf.unset("spark.databricks.delta.retentionDurationCheck.enabled")
    val target = DeltaTable.forPath(spark, silver).history(1).select("version").head().getLong(0)
    recordGold(target)
    val feed = spark.read.format("delta").option("readChangeFeed", "true")
      .option("startingVersion", at + 1).option("endingVersion", target).load(silver)
    intercept[Exception](feed.collect()) // the premise: the feed since the position names deleted files
    val summary = runFromState()
    assert(summary.scope == Scope.AllDays && summary.silverVersion == target)
    assert(goldRows().last == Row(day("2024-03-05"), 2L, 2L, gbp("3.00"), 2L))
    assert(SilverPosition.ofMart(spark, gold).contains(SilverPosition(silverId, target)))
  }

  test("--gold-state chooses its days: a date bound with it is refused") {
    val refused = JobArgs.parse(Seq("--silver", silver, "--gold", gold, "--gold-state", state, "--to-date", "2024-03-01"))
    assert(refused.left.exists(_.contains("--gold-state chooses the days itself")))
  }
}
