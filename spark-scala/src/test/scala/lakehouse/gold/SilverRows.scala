package lakehouse.gold

import java.math.BigDecimal
import java.sql.{Date, Timestamp}
import java.time.{LocalDateTime, ZoneOffset}

import org.apache.spark.sql.{DataFrame, Row, SparkSession}
import org.apache.spark.sql.types._

/** Silver-shaped rows (spark/silver_tables.py silver_schema) built from the few fields a test cares about. */
object SilverRows {
  val Schema: StructType = StructType(
    Seq(
      StructField("event_id", StringType, nullable = false),
      StructField("event_ts", TimestampType, nullable = false),
      StructField("event_date", DateType, nullable = false),
      StructField("schema_version", StringType, nullable = false),
      StructField("user_id", StringType, nullable = false),
      StructField("session_id", StringType, nullable = false),
      StructField("event_type", StringType, nullable = false),
      StructField("product_id", StringType, nullable = true),
      StructField("price_gbp", DecimalType(10, 2), nullable = true),
      StructField("quantity", IntegerType, nullable = true),
      StructField("device", StringType, nullable = false),
      StructField("country", StringType, nullable = false),
      StructField("kafka_topic", StringType, nullable = false),
      StructField("kafka_partition", IntegerType, nullable = false),
      StructField("kafka_offset", LongType, nullable = false),
      StructField("ingested_at", TimestampType, nullable = false),
      StructField("silver_batch_id", LongType, nullable = false),
      StructField("silver_app_id", StringType, nullable = false)
    )
  )

  /** One silver row; `at` is UTC 'YYYY-MM-DD HH:MM:SS' and fixes both event_ts and event_date. */
  def event(
      id: Int,
      at: String,
      user: String,
      eventType: String,
      product: String = null,
      price: String = null,
      quantity: Integer = null
  ): Row = {
    val moment = LocalDateTime.parse(at.replace(' ', 'T'))
    val ts = Timestamp.from(moment.toInstant(ZoneOffset.UTC))
    Row(
      f"00000000-0000-4000-8000-$id%012d", ts, Date.valueOf(moment.toLocalDate), "1.0", user, s"s-$user",
      eventType, product, Option(price).map(new BigDecimal(_)).orNull, quantity, "mobile", "GB",
      "events", 0, id.toLong, ts, 0L, "00000000-0000-4000-8000-000000000000"
    )
  }

  def frame(spark: SparkSession, rows: Seq[Row]): DataFrame =
    spark.createDataFrame(spark.sparkContext.parallelize(rows, 1), Schema)

  def day(text: String): Date = Date.valueOf(text)

  def gbp(text: String): BigDecimal = new BigDecimal(text)
}
