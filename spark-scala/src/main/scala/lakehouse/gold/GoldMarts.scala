package lakehouse.gold

import org.apache.spark.sql.{Column, DataFrame}
import org.apache.spark.sql.functions.{coalesce, col, count, countDistinct, lit, sum, when}
import org.apache.spark.sql.types.DecimalType

/** Gold marts as pure DataFrame => DataFrame functions over silver events; rules in docs/data_model.md. */
object GoldMarts {
  val Money: DecimalType = DecimalType(18, 2)
  val Purchase = "purchase"

  /** One row per event_date (UTC) with at least one purchase; each purchase counts on its own day. */
  def purchasesDaily(silver: DataFrame): DataFrame =
    silver
      .where(isPurchase)
      .groupBy("event_date")
      .agg(
        count(lit(1)).as("purchases"),
        unitsSum.as("units"),
        revenueSum.as("revenue_gbp"),
        countDistinct("user_id").as("purchasing_users")
      )

  private def isPurchase: Column = col("event_type") === lit(Purchase)

  /** Exact decimal(21,2) line revenue (unit price x quantity) of a purchase, null for other events. */
  private def purchaseRevenue: Column = when(isPurchase, col("price_gbp") * col("quantity"))

  /** Sum of purchase revenue as decimal(18,2), 0.00 without purchases; overflow fails under ANSI mode. */
  private def revenueSum: Column = coalesce(sum(purchaseRevenue), lit(0)).cast(Money)

  private def unitsSum: Column =
    coalesce(sum(when(isPurchase, col("quantity").cast("bigint"))), lit(0)).cast("bigint")
}
