package lakehouse.gold

import io.delta.tables.DeltaTable
import lakehouse.gold.SilverRows.{day, event, gbp}
import org.apache.spark.sql.Row
import org.scalatest.funsuite.AnyFunSuite

/** The job end to end on Delta tables under a scratch directory: full, ranged and default runs. */
class PurchasesDailyJobSuite extends AnyFunSuite with SparkSuite {
  private lazy val silver = scratch.resolve("silver/events").toString
  private lazy val gold = scratch.resolve("gold/fct_purchases_daily").toString

  private val Batch = Seq(
    event(1, "2024-03-01 10:02:30", "u1", "purchase", "p1", "19.99", 2),
    event(2, "2024-03-01 23:59:30", "u2", "page_view"),
    event(3, "2024-03-02 00:01:00", "u2", "purchase", "p2", "0.10", 3),
    event(4, "2024-03-03 12:00:00", "u4", "purchase", "p2", "5.00", 1)
  )
  // A purchase for 1 March that arrives after 1 March was already built.
  private val Late = Seq(event(5, "2024-03-01 15:00:00", "u2", "purchase", "p1", "2.50", 4))

  private def args(extra: String*): JobArgs =
    JobArgs.parse(Seq("--silver", silver, "--gold", gold) ++ extra).fold(e => fail(e), identity)

  private def append(rows: Seq[Row]): Unit =
    SilverRows.frame(spark, rows).write.format("delta").mode("append").save(silver)

  private def goldRows(): Seq[Row] =
    spark.read.format("delta").load(gold).orderBy(PurchasesDailyJob.Key).collect().toSeq

  private def lastOperation(): Row =
    DeltaTable.forPath(spark, gold).history(1).select("operation", "operationParameters").head()

  test("a missing silver table is an error naming the path") {
    val failure = intercept[IllegalArgumentException](PurchasesDailyJob.run(spark, args()))
    assert(failure.getMessage.contains(s"no silver Delta table at $silver"))
  }

  test("an empty silver creates the mart, keyed and with change data feed, and writes no rows") {
    DeltaTable.create(spark).location(silver).addColumns(SilverRows.Schema).partitionedBy("event_date")
      .property("delta.enableChangeDataFeed", "true").execute()
    val summary = PurchasesDailyJob.run(spark, args())
    assert(summary.scope == Scope.NoDays && summary.rows == 0)
    assert(goldRows().isEmpty)
    val table = spark.read.format("delta").load(gold)
    assert(!table.schema("event_date").nullable && table.schema("revenue_gbp").nullable)
    val properties = DeltaTable.forPath(spark, gold).detail().select("properties").head().getMap[String, String](0)
    DeltaMart.Properties.foreach { case (name, value) => assert(properties.get(name).contains(value), name) }
  }

  test("a full refresh writes one row per purchase day") {
    append(Batch)
    val summary = PurchasesDailyJob.run(spark, args("--full-refresh"))
    assert(summary.scope == Scope.AllDays && summary.rows == 3)
    assert(goldRows() == Seq(
      Row(day("2024-03-01"), 1L, 2L, gbp("39.98"), 1L),
      Row(day("2024-03-02"), 1L, 3L, gbp("0.30"), 1L),
      Row(day("2024-03-03"), 1L, 1L, gbp("5.00"), 1L)
    ))
  }

  test("a later run for an old day replaces only that day's row") {
    append(Late)
    PurchasesDailyJob.run(spark, args("--from-date", "2024-03-01", "--to-date", "2024-03-01"))
    assert(goldRows() == Seq(
      Row(day("2024-03-01"), 2L, 6L, gbp("49.98"), 2L),
      Row(day("2024-03-02"), 1L, 3L, gbp("0.30"), 1L),
      Row(day("2024-03-03"), 1L, 1L, gbp("5.00"), 1L)
    ))
    val operation = lastOperation()
    assert(operation.getString(0) == "WRITE")
    assert(operation.getMap[String, String](1).get("predicate").exists(_.contains("2024-03-01")))
  }

  test("a day whose purchases left silver loses its row; the default run covers every silver day") {
    DeltaTable.forPath(spark, silver).delete("event_date = DATE'2024-03-03'")
    val ranged = PurchasesDailyJob.run(spark, args("--from-date", "2024-03-03"))
    assert(ranged.rows == 0)
    assert(goldRows().map(_.getDate(0)) == Seq(day("2024-03-01"), day("2024-03-02")))
    val all = PurchasesDailyJob.run(spark, args())
    assert(all.scope == Scope.Days(Some(java.time.LocalDate.of(2024, 3, 1)), Some(java.time.LocalDate.of(2024, 3, 2))))
    assert(all.rows == 2)
  }

  test("re-running with no new silver data leaves identical rows") {
    val before = goldRows()
    PurchasesDailyJob.run(spark, args())
    PurchasesDailyJob.run(spark, args("--full-refresh"))
    assert(goldRows() == before)
  }
}
