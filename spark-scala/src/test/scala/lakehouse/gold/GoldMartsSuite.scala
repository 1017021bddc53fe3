package lakehouse.gold

import lakehouse.gold.SilverRows.{day, event, gbp}
import org.apache.spark.sql.{DataFrame, Row}
import org.scalatest.funsuite.AnyFunSuite

class GoldMartsSuite extends AnyFunSuite with SparkSuite {
  private val Columns =
    "event_date:date purchases:bigint units:bigint revenue_gbp:decimal(18,2) purchasing_users:bigint"

  // u1 buys 2 x p1 at 19.99 on 1 March; u2 buys after midnight on 2 March (3 x 0.10 and 1 x 19.99);
  // the views and carts around them never count.
  private val Silver = Seq(
    event(1, "2024-03-01 10:00:00", "u1", "page_view", "p1"),
    event(2, "2024-03-01 10:01:00", "u1", "add_to_cart", "p1", "19.99", 2),
    event(3, "2024-03-01 10:02:30", "u1", "purchase", "p1", "19.99", 2),
    event(4, "2024-03-01 23:59:30", "u2", "page_view"),
    event(5, "2024-03-02 00:00:10", "u2", "add_to_cart", "p2", "0.10", 3),
    event(6, "2024-03-02 00:01:00", "u2", "purchase", "p2", "0.10", 3),
    event(7, "2024-03-02 00:01:05", "u2", "purchase", "p1", "19.99", 1),
    event(8, "2024-03-02 09:00:00", "u1", "page_view", "p2")
  )

  private def columns(df: DataFrame): String =
    df.schema.fields.map(f => s"${f.name}:${f.dataType.simpleString}").mkString(" ")

  private def daily(rows: Seq[Row]): DataFrame = GoldMarts.purchasesDaily(SilverRows.frame(spark, rows))

  private def sorted(df: DataFrame): Seq[Row] = df.orderBy(PurchasesDailyJob.Key).collect().toSeq

  test("one row per UTC day with purchases, each purchase on its own day") {
    val actual = daily(Silver)
    assert(columns(actual) == Columns)
    assert(sorted(actual) == Seq(
      Row(day("2024-03-01"), 1L, 2L, gbp("39.98"), 1L),
      Row(day("2024-03-02"), 2L, 4L, gbp("20.29"), 1L)
    ))
  }

  test("purchasing_users counts distinct users of the day") {
    val actual = daily(Seq(
      event(1, "2024-03-05 08:00:00", "u1", "purchase", "p1", "1.00", 1),
      event(2, "2024-03-05 09:00:00", "u1", "purchase", "p2", "2.00", 1),
      event(3, "2024-03-05 10:00:00", "u2", "purchase", "p1", "1.00", 5)
    ))
    assert(sorted(actual) == Seq(Row(day("2024-03-05"), 3L, 7L, gbp("8.00"), 2L)))
  }

  test("revenue sums are exact pence, with no float rounding") {
    val pennies = (1 to 10).map(i => event(i, f"2024-03-03 12:00:$i%02d", "u1", "purchase", "p1", "0.10", 1))
    val actual = daily(pennies :+ event(11, "2024-03-03 12:00:11", "u1", "purchase", "p2", "99999999.99", 7))
    assert(sorted(actual) == Seq(Row(day("2024-03-03"), 11L, 17L, gbp("700000000.93"), 1L)))
  }

  test("a revenue beyond decimal(18,2) fails the query instead of being nulled or rounded") {
    val huge = daily(Seq(event(1, "2024-03-04 12:00:00", "u1", "purchase", "p1", "99999999.99", 200000000)))
    val failure = intercept[Exception](huge.collect())
    val messages = Iterator.iterate[Throwable](failure)(_.getCause).takeWhile(_ != null).map(_.getMessage)
    assert(messages.exists(m => m != null && m.contains("NUMERIC_VALUE_OUT_OF_RANGE")), failure.getMessage)
  }

  test("an empty silver gives an empty mart with its columns") {
    val actual = daily(Seq.empty)
    assert(columns(actual) == Columns)
    assert(actual.count() == 0)
  }

  test("days without purchases have no row") {
    assert(daily(Silver.filter(_.getString(6) != "purchase")).count() == 0)
  }
}
